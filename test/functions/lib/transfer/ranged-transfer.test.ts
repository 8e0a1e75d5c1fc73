// Unit tests for the resumable-transfer core: each property of moveRanges tested directly, with fake reads and sends
// the test resolves itself and an injected clock; plus a seeded randomized run where sends finish in random order.
import {
  coveredRanges,
  moveRanges,
  rangeBounds,
  rangeCount,
  type HashState,
  type RangeProgress,
  type RangeWork,
  type RangedTransferArgs,
} from '../../../../functions/lib/transfer/ranged-transfer';
import { mulberry32 } from '../../../support/random';

interface Deferred<T = void> {
  promise: Promise<T>;
  resolve: (value: T) => void;
  reject: (error: unknown) => void;
}

function deferred<T = void>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** Lets every pending promise callback run (a macrotask turn). */
const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

/** Waits until `condition` holds, turning the event loop; fails rather than hang. */
async function until(condition: () => boolean, what = 'the condition'): Promise<void> {
  for (let turn = 0; turn < 1000; turn++) {
    if (condition()) return;
    await settle();
  }
  throw new Error(`timed out waiting for ${what}`);
}

/**
 * A transfer whose sends wait until the test releases them: `sends[i]` is range i's, `inFlight` what is unsettled now,
 * `reads` the ranges read in order with their bounds, and every saved state names the range it was saved after.
 */
function controlled(extra: Partial<RangedTransferArgs> & Pick<RangedTransferArgs, 'size' | 'rangeSize'>) {
  const sends = new Map<number, Deferred>();
  const inFlight = new Set<number>();
  const reads: [number, number, number][] = [];
  const reports: RangeProgress[] = [];
  let maxInFlight = 0;
  let lastRead = -1;
  const args: RangedTransferArgs = {
    read: (index, start, end) => {
      reads.push([index, start, end]);
      lastRead = index;
      return Promise.resolve({
        send: () => {
          const d = deferred();
          sends.set(index, d);
          inFlight.add(index);
          maxInFlight = Math.max(maxInFlight, inFlight.size);
          return d.promise.finally(() => inFlight.delete(index));
        },
      });
    },
    saveState: () => ({ sha256State: `after-${lastRead}` }),
    onProgress: (progress) => {
      reports.push(progress);
      return Promise.resolve();
    },
    ...extra,
  };
  return {
    args,
    sends,
    inFlight,
    reads,
    reports,
    get maxInFlight() {
      return maxInFlight;
    },
    /** Resolves range `index`'s send once it has started, and lets the transfer react. */
    async finish(index: number) {
      await until(() => sends.has(index), `range ${index} to be sent`);
      sends.get(index)!.resolve();
      await settle();
    },
  };
}

describe('rangeCount and rangeBounds', () => {
  it('cuts a file into whole ranges and a short last one, with inclusive ends', () => {
    expect(rangeCount(0, 10)).toBe(0);
    expect(rangeCount(10, 10)).toBe(1);
    expect(rangeCount(25, 10)).toBe(3);
    expect(rangeBounds(0, 25, 10)).toEqual({ start: 0, end: 9 });
    expect(rangeBounds(1, 25, 10)).toEqual({ start: 10, end: 19 });
    expect(rangeBounds(2, 25, 10)).toEqual({ start: 20, end: 24 });
    expect(rangeBounds(2, 30, 10)).toEqual({ start: 20, end: 29 });
  });

  it('covers every byte exactly once', () => {
    for (const [size, rangeSize] of [
      [1, 1],
      [1, 7],
      [99, 7],
      [100, 10],
      [5 * 1024 ** 3 + 3, 64 * 1024 ** 2],
    ]) {
      let next = 0;
      for (let i = 0; i < rangeCount(size, rangeSize); i++) {
        const { start, end } = rangeBounds(i, size, rangeSize);
        expect(start).toBe(next);
        expect(end).toBeGreaterThanOrEqual(start);
        expect(end - start + 1).toBeLessThanOrEqual(rangeSize);
        next = end + 1;
      }
      expect(next).toBe(size);
    }
  });
});

describe('coveredRanges', () => {
  it('counts the whole ranges a checkpoint covers', () => {
    expect(coveredRanges({ bytes: 10 }, 25, 10)).toBe(1);
    expect(coveredRanges({ bytes: 20 }, 25, 10)).toBe(2);
    expect(coveredRanges({ bytes: 30 }, 30, 10)).toBe(3); // a file of whole ranges, all covered
  });

  it.each([
    ['no checkpoint', undefined, 25],
    ['no bytes at all', { bytes: 0 }, 25],
    ['a part of a range', { bytes: 15 }, 25],
    ['more than the file', { bytes: 30 }, 25],
    ['negative bytes', { bytes: -10 }, 25],
    ['not a number', { bytes: Number.NaN }, 25],
  ])('is undefined for %s', (_name, checkpoint, size) => {
    expect(coveredRanges(checkpoint, size, 10)).toBeUndefined();
  });
});

describe('moveRanges', () => {
  it('moves a whole file: every range read once, in order, with its bounds, and reports it complete', async () => {
    const t = controlled({ size: 25, rangeSize: 10, concurrency: 3 });
    const moving = moveRanges(t.args);
    for (const index of [0, 1, 2]) await t.finish(index);
    await expect(moving).resolves.toEqual({ complete: true, rangesDone: 3, bytesDone: 25, checkpoint: { sha256State: 'after-1', bytes: 20 } });
    expect(t.reads).toEqual([
      [0, 0, 9],
      [1, 10, 19],
      [2, 20, 24],
    ]);
  });

  it('has nothing to do for an empty file', async () => {
    const read = jest.fn<Promise<RangeWork>, [number, number, number]>();
    await expect(moveRanges({ size: 0, rangeSize: 10, read })).resolves.toEqual({ complete: true, rangesDone: 0, bytesDone: 0 });
    expect(read).not.toHaveBeenCalled();
  });

  it.each([0, -1, 1.5, Number.NaN])('refuses a concurrency of %p before reading anything', async (concurrency) => {
    const read = jest.fn<Promise<RangeWork>, [number, number, number]>();
    await expect(moveRanges({ size: 10, rangeSize: 5, concurrency, read })).rejects.toThrow(RangeError);
    expect(read).not.toHaveBeenCalled();
  });

  it('reads one range at a time, never overlapping, even while sends are in flight', async () => {
    let reading = 0;
    let overlapped = false;
    const order: number[] = [];
    const result = await moveRanges({
      size: 100,
      rangeSize: 10,
      concurrency: 4,
      read: async (index) => {
        reading += 1;
        overlapped ||= reading > 1;
        order.push(index);
        await settle();
        reading -= 1;
        return { send: () => settle() };
      },
    });
    expect(result.complete).toBe(true);
    expect(overlapped).toBe(false);
    expect(order).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });

  it('keeps at most `concurrency` sends in flight, and starts the next as soon as one finishes', async () => {
    const t = controlled({ size: 100, rangeSize: 10, concurrency: 3 });
    const moving = moveRanges(t.args);
    await until(() => t.inFlight.size === 3);
    await settle();
    expect(t.reads.map(([i]) => i)).toEqual([0, 1, 2]); // the fourth range is not even read while three are in flight
    await t.finish(1);
    await until(() => t.reads.length === 4);
    expect([...t.inFlight].sort()).toEqual([0, 2, 3]);
    for (let i = 0; i < 10; i++) if (i !== 1) await t.finish(i);
    expect((await moving).complete).toBe(true);
    expect(t.maxInFlight).toBe(3);
  });

  it('sends one range at a time by default', async () => {
    const t = controlled({ size: 40, rangeSize: 10 });
    const moving = moveRanges(t.args);
    for (let i = 0; i < 4; i++) await t.finish(i);
    await moving;
    expect(t.maxInFlight).toBe(1);
  });

  describe('the checkpoint', () => {
    it('covers only the longest run of finished ranges from the start, whatever order sends finish in', async () => {
      const t = controlled({ size: 40, rangeSize: 10, concurrency: 4 });
      const moving = moveRanges(t.args);
      await until(() => t.inFlight.size === 4);
      for (const index of [2, 1, 3, 0]) await t.finish(index);
      await moving;
      expect(t.reports).toEqual([
        { rangesDone: 1, bytesDone: 10 }, // range 2: nothing from the start yet
        { rangesDone: 2, bytesDone: 20 }, // range 1: still not range 0
        { rangesDone: 3, bytesDone: 30 },
        { rangesDone: 4, bytesDone: 40, checkpoint: { sha256State: 'after-3', bytes: 40 } }, // range 0: all four at once
      ]);
    });

    it('moves forward range by range when sends finish in order, carrying the state saved after each', async () => {
      const t = controlled({ size: 30, rangeSize: 10, concurrency: 2 });
      const moving = moveRanges(t.args);
      for (const index of [0, 1, 2]) await t.finish(index);
      await moving;
      expect(t.reports.map((r) => r.checkpoint)).toEqual([
        { sha256State: 'after-0', bytes: 10 },
        { sha256State: 'after-1', bytes: 20 },
        { sha256State: 'after-2', bytes: 30 },
      ]);
    });

    it('never covers a short last range: checkpoints stay whole ranges', async () => {
      const t = controlled({ size: 25, rangeSize: 10 });
      const saveState = jest.fn(() => t.args.saveState?.());
      const moving = moveRanges({ ...t.args, saveState });
      for (const index of [0, 1, 2]) await t.finish(index);
      const result = await moving;
      expect(result.checkpoint).toEqual({ sha256State: 'after-1', bytes: 20 });
      expect(t.reports.map((r) => r.checkpoint?.bytes)).toEqual([10, 20, 20]);
      expect(saveState).toHaveBeenCalledTimes(2); // not after the short last range
    });

    it('stays where it was while the hash states cannot be saved, and moves on once they can', async () => {
      const t = controlled({ size: 40, rangeSize: 10 });
      let lastRead = -1;
      const moving = moveRanges({
        ...t.args,
        read: (index, start, end) => {
          lastRead = index;
          return t.args.read(index, start, end);
        },
        saveState: (): HashState | undefined => (lastRead === 1 || lastRead === 2 ? undefined : { sha256State: `after-${lastRead}` }),
      });
      for (const index of [0, 1, 2, 3]) await t.finish(index);
      await moving;
      expect(t.reports.map((r) => r.checkpoint)).toEqual([
        { sha256State: 'after-0', bytes: 10 },
        { sha256State: 'after-0', bytes: 10 },
        { sha256State: 'after-0', bytes: 10 },
        { sha256State: 'after-3', bytes: 40 },
      ]);
    });

    it('is absent from every report when no state is ever saved', async () => {
      const t = controlled({ size: 30, rangeSize: 10, saveState: undefined });
      delete t.args.saveState;
      const moving = moveRanges(t.args);
      for (const index of [0, 1, 2]) await t.finish(index);
      expect(await moving).toEqual({ complete: true, rangesDone: 3, bytesDone: 30 });
      for (const report of t.reports) expect(report).not.toHaveProperty('checkpoint');
    });
  });

  describe('a resumed transfer', () => {
    it('starts after the ranges already there, counts them done, and reports their checkpoint until a later one replaces it', async () => {
      const carried = { sha256State: 'saved-by-the-last-call', bytes: 20 };
      const t = controlled({ size: 50, rangeSize: 10, concurrency: 2, firstRange: 2, checkpoint: carried });
      const moving = moveRanges(t.args);
      await until(() => t.inFlight.size === 2);
      await t.finish(3); // range 2 not yet: the carried checkpoint still stands
      await t.finish(2);
      await t.finish(4);
      const result = await moving;
      expect(t.reads.map(([i]) => i)).toEqual([2, 3, 4]);
      expect(t.reports).toEqual([
        { rangesDone: 3, bytesDone: 30, checkpoint: carried },
        { rangesDone: 4, bytesDone: 40, checkpoint: { sha256State: 'after-3', bytes: 40 } },
        { rangesDone: 5, bytesDone: 50, checkpoint: { sha256State: 'after-4', bytes: 50 } },
      ]);
      expect(result).toEqual({ complete: true, rangesDone: 5, bytesDone: 50, checkpoint: { sha256State: 'after-4', bytes: 50 } });
    });

    it('counts a range the destination already holds (no send) as done, in its place in the checkpoint', async () => {
      const sent: number[] = [];
      const reports: RangeProgress[] = [];
      let lastRead = -1;
      const result = await moveRanges({
        size: 40,
        rangeSize: 10,
        concurrency: 2,
        read: (index) => {
          lastRead = index;
          return Promise.resolve(index % 2 === 0 ? {} : { send: () => settle().then(() => void sent.push(index)) });
        },
        saveState: () => ({ crc64State: `after-${lastRead}` }),
        onProgress: (p) => Promise.resolve(void reports.push(p)),
      });
      expect(sent).toEqual([1, 3]);
      expect(result).toEqual({ complete: true, rangesDone: 4, bytesDone: 40, checkpoint: { crc64State: 'after-3', bytes: 40 } });
      expect(reports.map((r) => r.rangesDone)).toEqual([1, 2, 3, 4]);
      expect(reports[0].checkpoint).toEqual({ crc64State: 'after-0', bytes: 10 });
    });

    it('is complete at once when every range was already there', async () => {
      const read = jest.fn<Promise<RangeWork>, [number, number, number]>();
      const checkpoint = { sha256State: 's', bytes: 30 };
      await expect(moveRanges({ size: 30, rangeSize: 10, firstRange: 3, checkpoint, read })).resolves.toEqual({
        complete: true,
        rangesDone: 3,
        bytesDone: 30,
        checkpoint,
      });
      expect(read).not.toHaveBeenCalled();
    });
  });

  describe('the deadline', () => {
    /** A transfer whose sends each advance the clock by the given milliseconds, one range at a time. */
    function paced(durations: number[], deadline: number, concurrency = 1) {
      let clock = 0;
      const reads: number[] = [];
      const args: RangedTransferArgs = {
        size: durations.length * 10,
        rangeSize: 10,
        concurrency,
        deadline,
        now: () => clock,
        read: (index) => {
          reads.push(index);
          return Promise.resolve({
            send: async () => {
              await settle();
              clock += durations[index];
            },
          });
        },
      };
      return { args, reads, setClock: (ms: number) => (clock = ms) };
    }

    it('starts no range when the deadline has already passed', async () => {
      const p = paced([10, 10], 100);
      p.setClock(101);
      expect(await moveRanges(p.args)).toEqual({ complete: false, rangesDone: 0, bytesDone: 0 });
      expect(p.reads).toEqual([]);
    });

    it('starts no range that would, at the pace of the slowest so far, end after the deadline', async () => {
      // 0 → 10 ms (slowest 10): 10 + 10 ≤ 100, go on; 1 → 60 ms (slowest 50): 60 + 50 > 100, stop, although the
      // last range took 50 and range 0's pace (10) would have fitted.
      const p = paced([10, 50, 10, 10, 10], 100);
      const result = await moveRanges(p.args);
      expect(result).toEqual({ complete: false, rangesDone: 2, bytesDone: 20 });
      expect(p.reads).toEqual([0, 1]);
    });

    it('goes on while ranges fit, right up to the deadline', async () => {
      const p = paced([10, 10, 10, 10, 10], 40);
      // After range 2 the clock reads 30: 30 + 10 = 40 is not after the deadline, so range 3 starts; range 4 does not.
      expect(await moveRanges(p.args)).toEqual({ complete: false, rangesDone: 4, bytesDone: 40 });
    });

    it('finishes the ranges in flight when it stops, and counts them', async () => {
      let clock = 0;
      const t = controlled({ size: 100, rangeSize: 10, concurrency: 3, deadline: 100, now: () => clock });
      const moving = moveRanges(t.args);
      await until(() => t.inFlight.size === 3);
      clock = 80;
      await t.finish(0); // slowest is now 80 ms: 80 + 80 > 100, no range is started after this
      await settle();
      expect(t.reads).toHaveLength(3);
      await t.finish(2);
      await t.finish(1);
      const result = await moving;
      expect(result).toEqual({ complete: false, rangesDone: 3, bytesDone: 30, checkpoint: { sha256State: 'after-2', bytes: 30 } });
      expect(t.inFlight.size).toBe(0);
    });

    it('measures a range from the start of its read, so slow reads count against the deadline too', async () => {
      let clock = 0;
      const reads: number[] = [];
      const result = await moveRanges({
        size: 50,
        rangeSize: 10,
        deadline: 100,
        now: () => clock,
        read: (index) => {
          reads.push(index);
          clock += 40; // reading takes 40 ms, sending nothing
          return Promise.resolve({ send: () => Promise.resolve() });
        },
      });
      // 0: clock 40, slowest 40 → 80 ≤ 100; 1: clock 80 → 120 > 100.
      expect(reads).toEqual([0, 1]);
      expect(result).toMatchObject({ complete: false, rangesDone: 2 });
    });

    it('is complete when the last range is done before the deadline comes', async () => {
      const p = paced([30, 30, 30], 90);
      expect(await moveRanges(p.args)).toEqual({ complete: true, rangesDone: 3, bytesDone: 30 });
    });
  });

  describe('a failure', () => {
    it('lets the sends in flight settle before it is thrown, and starts nothing after it', async () => {
      const t = controlled({ size: 100, rangeSize: 10, concurrency: 3 });
      const moving = moveRanges(t.args);
      let outcome: string | undefined;
      moving.then(
        () => (outcome = 'resolved'),
        (error: Error) => (outcome = error.message),
      );
      await until(() => t.inFlight.size === 3);
      t.sends.get(1)!.reject(new Error('part 1 failed'));
      await settle();
      await settle();
      expect(outcome).toBeUndefined(); // ranges 0 and 2 are still in flight
      await t.finish(0);
      expect(outcome).toBeUndefined();
      await t.finish(2);
      await until(() => outcome !== undefined);
      expect(outcome).toBe('part 1 failed');
      expect(t.reads.map(([i]) => i)).toEqual([0, 1, 2]);
      expect(t.inFlight.size).toBe(0);
      // The ranges that did finish were still reported, the failed one never.
      expect(t.reports.map((r) => r.rangesDone)).toEqual([1, 2]);
    });

    it('from a read lets the sends in flight settle, and is thrown', async () => {
      const settled: number[] = [];
      const error = new Error('PreconditionFailed');
      await expect(
        moveRanges({
          size: 100,
          rangeSize: 10,
          concurrency: 4,
          read: (index) => {
            if (index === 2) return Promise.reject(error);
            return Promise.resolve({
              send: () =>
                settle()
                  .then(settle)
                  .then(() => void settled.push(index)),
            });
          },
        }),
      ).rejects.toBe(error);
      expect(settled.sort()).toEqual([0, 1]);
    });

    it('throws the first error when several sends fail', async () => {
      const t = controlled({ size: 30, rangeSize: 10, concurrency: 3 });
      const moving = moveRanges(t.args);
      await until(() => t.inFlight.size === 3);
      t.sends.get(2)!.reject(new Error('first'));
      await settle();
      t.sends.get(0)!.reject(new Error('second'));
      t.sends.get(1)!.resolve();
      await expect(moving).rejects.toThrow('first');
    });

    it('known after a read has begun sends nothing more: the range just read is not sent', async () => {
      // Range 1's send fails while range 2 is being read (concurrency 2): range 2 must not be sent after the failure.
      const readGate = deferred();
      const sent: number[] = [];
      let failSend!: (error: Error) => void;
      const moving = moveRanges({
        size: 50,
        rangeSize: 10,
        concurrency: 2,
        read: async (index) => {
          if (index === 2) await readGate.promise;
          return {
            send: () => {
              sent.push(index);
              if (index === 1) return new Promise<void>((_resolve, reject) => (failSend = reject));
              return index === 0 ? Promise.resolve() : settle();
            },
          };
        },
      });
      await until(() => failSend !== undefined);
      failSend(new Error('part 2 failed'));
      await settle();
      readGate.resolve();
      await expect(moving).rejects.toThrow('part 2 failed');
      expect(sent).toEqual([0, 1]);
    });
  });

  describe('progress reports', () => {
    it('are made one at a time, in order, and all are done before moveRanges returns', async () => {
      let reporting = 0;
      let overlapped = false;
      const seen: number[] = [];
      const gates: Deferred[] = [];
      const t = controlled({
        size: 50,
        rangeSize: 10,
        concurrency: 5,
        onProgress: async (progress) => {
          reporting += 1;
          overlapped ||= reporting > 1;
          const gate = deferred();
          gates.push(gate);
          await gate.promise;
          seen.push(progress.rangesDone);
          reporting -= 1;
        },
      });
      let returned = false;
      const moving = moveRanges(t.args).then((result) => {
        returned = true;
        return result;
      });
      await until(() => t.inFlight.size === 5);
      for (const index of [4, 3, 2, 1, 0]) await t.finish(index);
      // Five reports are due; only the first has started.
      expect(gates).toHaveLength(1);
      for (let i = 0; i < 5; i++) {
        await until(() => gates.length > i, `report ${i + 1}`);
        expect(returned).toBe(false);
        gates[i].resolve();
        await settle();
      }
      await moving;
      expect(returned).toBe(true);
      expect(overlapped).toBe(false);
      expect(seen).toEqual([1, 2, 3, 4, 5]);
    });

    it('carry a snapshot of the progress as it was when the range finished', async () => {
      const held: RangeProgress[] = [];
      const gate = deferred();
      const t = controlled({
        size: 30,
        rangeSize: 10,
        concurrency: 3,
        onProgress: async (progress) => {
          await gate.promise;
          held.push(progress);
        },
      });
      const moving = moveRanges(t.args);
      for (const index of [0, 1, 2]) await t.finish(index);
      gate.resolve();
      await moving;
      expect(held.map((p) => [p.rangesDone, p.checkpoint?.bytes])).toEqual([
        [1, 10],
        [2, 20],
        [3, 30],
      ]);
    });

    it('stop the transfer when one fails: nothing more is sent, and its error is thrown', async () => {
      const reads: number[] = [];
      const sent: number[] = [];
      const error = new Error('index write throttled');
      await expect(
        moveRanges({
          size: 100,
          rangeSize: 10,
          read: async (index) => {
            reads.push(index);
            await settle();
            return { send: () => settle().then(() => void sent.push(index)) };
          },
          onProgress: (progress) => (progress.rangesDone === 2 ? Promise.reject(error) : Promise.resolve()),
        }),
      ).rejects.toBe(error);
      expect(sent).toEqual([0, 1]);
      expect(reads.length).toBeLessThanOrEqual(3); // at most the range being read when the report failed
    });
  });

  const SEED = 0x5eed2025;
  it(`never checkpoints over an unfinished range when sends finish in random order (seed ${SEED})`, async () => {
    const random = mulberry32(SEED);
    const int = (lo: number, hi: number) => lo + Math.floor(random() * (hi - lo + 1));
    for (let round = 0; round < 60; round++) {
      const rangeSize = int(1, 8);
      const count = int(1, 40);
      const size = random() < 0.5 ? count * rangeSize : (count - 1) * rangeSize + int(1, rangeSize);
      const concurrency = int(1, 8);
      const firstRange = random() < 0.25 ? int(0, count - 1) : 0;
      const carried = firstRange > 0 ? { sha256State: `after-${firstRange - 1}`, bytes: firstRange * rangeSize } : undefined;
      const held = new Set<number>(); // ranges the destination holds already (resumed): found, not sent
      for (let i = firstRange; i < count; i++) if (random() < 0.15) held.add(i);
      const unsaveable = new Set<number>();
      for (let i = firstRange; i < count; i++) if (random() < 0.1) unsaveable.add(i);

      const finished = new Set<number>();
      for (let i = 0; i < firstRange; i++) finished.add(i);
      const pending: { index: number; resolve: () => void }[] = [];
      const reads: number[] = [];
      let lastRead = -1;
      let lastCheckpoint = carried?.bytes ?? 0;
      let lastRangesDone = firstRange;
      let inFlight = 0;
      const problems: string[] = [];
      let done = false;

      const moving = moveRanges({
        size,
        rangeSize,
        concurrency,
        firstRange,
        checkpoint: carried,
        read: async (index, start, end) => {
          reads.push(index);
          lastRead = index;
          const bounds = rangeBounds(index, size, rangeSize);
          if (start !== bounds.start || end !== bounds.end) problems.push(`range ${index} read as ${start}-${end}`);
          if (random() < 0.5) await settle();
          if (held.has(index)) {
            finished.add(index);
            return {};
          }
          return {
            send: () =>
              new Promise<void>((resolve) => {
                inFlight += 1;
                if (inFlight > concurrency) problems.push(`${inFlight} sends in flight, concurrency ${concurrency}`);
                pending.push({
                  index,
                  resolve: () => {
                    inFlight -= 1;
                    finished.add(index);
                    resolve();
                  },
                });
              }),
          };
        },
        saveState: () => (unsaveable.has(lastRead) ? undefined : { sha256State: `after-${lastRead}` }),
        onProgress: async (progress) => {
          if (random() < 0.3) await settle();
          if (progress.rangesDone !== lastRangesDone + 1) problems.push(`report of ${progress.rangesDone} ranges after ${lastRangesDone}`);
          lastRangesDone = progress.rangesDone;
          const bytes = progress.checkpoint?.bytes ?? 0;
          if (bytes < lastCheckpoint) problems.push(`checkpoint went back from ${lastCheckpoint} to ${bytes}`);
          lastCheckpoint = bytes;
          if (progress.checkpoint) {
            const covered = bytes / rangeSize;
            if (!Number.isInteger(covered)) problems.push(`checkpoint of ${bytes} bytes is not whole ranges of ${rangeSize}`);
            for (let i = 0; i < covered; i++) if (!finished.has(i)) problems.push(`checkpoint of ${covered} ranges covers unfinished range ${i}`);
            if (covered > firstRange && progress.checkpoint.sha256State !== `after-${covered - 1}`) {
              problems.push(`checkpoint of ${covered} ranges carries ${progress.checkpoint.sha256State}`);
            }
          }
        },
      }).finally(() => (done = true));

      // The sends finish one at a time, a random one of those pending each turn.
      while (!done) {
        await settle();
        if (pending.length > 0) pending.splice(int(0, pending.length - 1), 1)[0].resolve();
      }
      const result = await moving;

      const context = `round ${round}: size ${size}, ranges of ${rangeSize}, concurrency ${concurrency}, from ${firstRange}`;
      expect({ context, problems }).toEqual({ context, problems: [] });
      expect(reads).toEqual(Array.from({ length: count - firstRange }, (_, i) => firstRange + i));
      expect(result.complete).toBe(true);
      expect(result.rangesDone).toBe(count);
      expect(result.bytesDone).toBe(size);
      // In the end the checkpoint covers every whole range up to the last one whose state could be saved.
      let expectedCovered = firstRange;
      for (let i = firstRange; i < count; i++) if ((i + 1) * rangeSize <= size && !unsaveable.has(i)) expectedCovered = i + 1;
      expect(result.checkpoint?.bytes ?? 0).toBe(expectedCovered * rangeSize);
    }
  });
});
