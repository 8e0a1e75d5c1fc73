// A Date.now a test can move ahead, to make a deadline pass in the middle of a call.

export interface SkewedClock {
  /** How far ahead of the real clock Date.now reads, in milliseconds; set it from a hook inside the call. */
  skew: number;
  /** The real clock, unaffected by the skew. */
  readonly realNow: () => number;
}

/** Spies on Date.now so it reads the real clock plus `skew` (0 at first); jest.restoreAllMocks puts it back. */
export function skewedClock(): SkewedClock {
  const realNow = Date.now.bind(Date);
  const clock: SkewedClock = { skew: 0, realNow };
  jest.spyOn(Date, 'now').mockImplementation(() => realNow() + clock.skew);
  return clock;
}
