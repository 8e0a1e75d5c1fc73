// mapBounded: results in input order, never more calls in flight than the limit, no new calls after a failure.
import { mapBounded } from '../../../../functions/lib/runtime/bounded';

describe('mapBounded', () => {
  it('keeps input order and at most `limit` calls in flight', async () => {
    let inFlight = 0;
    let most = 0;
    const results = await mapBounded(
      Array.from({ length: 50 }, (_, i) => i),
      4,
      async (n) => {
        inFlight++;
        most = Math.max(most, inFlight);
        // Later items finish first, so order comes from the index, not from completion.
        await new Promise((resolve) => setTimeout(resolve, 50 - n));
        inFlight--;
        return n * 2;
      },
    );
    expect(results).toEqual(Array.from({ length: 50 }, (_, i) => i * 2));
    expect(most).toBe(4);
  });

  it('rejects with the first failure and starts no further calls', async () => {
    const started: number[] = [];
    await expect(
      mapBounded([0, 1, 2, 3, 4, 5, 6, 7], 2, async (n) => {
        started.push(n);
        await Promise.resolve();
        if (n === 1) throw new Error('boom');
        return n;
      }),
    ).rejects.toThrow('boom');
    expect(started.length).toBeLessThan(8);
  });

  it('refuses a limit that is not a positive integer', async () => {
    await expect(mapBounded([1], 0, (n) => Promise.resolve(n))).rejects.toThrow(RangeError);
  });
});
