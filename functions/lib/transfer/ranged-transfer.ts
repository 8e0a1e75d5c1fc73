// The resumable-transfer core: move a file's byte ranges in order, a few in flight, checkpointing, and stop before the deadline.
//
// Every transfer here (a vault multipart upload, a job output copied into S3, a multipart S3 copy) moves a file as
// consecutive ranges of one size. What differs is how a range is read, sent and verified; that is the transfer's to
// say. What is the same lives here: reads happen one after another, in order, so running hashes see the bytes in
// order; sends overlap up to a bound; the checkpoint only ever covers the longest run of ranges from the start that
// are all at the destination (sends finish in any order); no range is started that would, at the pace of the slowest
// range so far, end after the deadline; and a failure lets the ranges in flight settle before it is thrown.

/** The saved hash states after a whole number of ranges from the start: opaque to the core. */
export interface HashState {
  /** Base64 of the whole-file SHA-256's saved state, for transfers that compute one. */
  sha256State?: string;
  /** The roots of a tree hash's complete subtrees over the same bytes (hex), for transfers that keep one. */
  treeHashState?: string;
  /** Base64 of a running CRC64NVME's saved state, for transfers that compute one. */
  crc64State?: string;
}

/** A checkpoint: the hash states after the first `bytes` bytes, all of them at the destination. */
export type RangeCheckpoint = HashState & { bytes: number };

/** What a read leaves to do: send it (a function that resolves once the range is at the destination), or nothing. */
export interface RangeWork {
  /** Absent when the destination already holds the range (a resumed transfer that found it there and checked it). */
  send?: () => Promise<void>;
}

export interface RangedTransferArgs {
  size: number;
  rangeSize: number;
  /** Ranges from the start already at the destination and covered by `checkpoint` (a resume); they are not read. */
  firstRange?: number;
  /** The checkpoint those ranges carry, reported again until a later one replaces it. */
  checkpoint?: RangeCheckpoint;
  /** Ranges held and sent at once (default 1). */
  concurrency?: number;
  /** Epoch ms by which to return; ranges in flight are finished. */
  deadline?: number;
  /** Reads range `index` ([start, end], inclusive), feeding any running hashes; called in order, one at a time. */
  read(index: number, start: number, end: number): Promise<RangeWork>;
  /** The hash states after the range just read; called after each whole range, undefined when they cannot be saved. */
  saveState?(): HashState | undefined;
  /** Called after each range reaches the destination, one report at a time and in order; a failing report stops the transfer. */
  onProgress?(progress: RangeProgress): Promise<void>;
  /** Clock, for tests. */
  now?: () => number;
}

export interface RangeProgress {
  /** Ranges at the destination (moved by this call or found there). */
  rangesDone: number;
  bytesDone: number;
  checkpoint?: RangeCheckpoint;
}

export interface RangedTransferResult extends RangeProgress {
  /** False when the deadline came first: calling again with the progress resumes where this stopped. */
  complete: boolean;
}

export const rangeCount = (size: number, rangeSize: number) => Math.ceil(size / rangeSize);

/** The byte range of range `index`: whole ranges, and a short last one. */
export function rangeBounds(index: number, size: number, rangeSize: number): { start: number; end: number } {
  const start = index * rangeSize;
  return { start, end: Math.min(start + rangeSize, size) - 1 };
}

/**
 * How many whole ranges a saved checkpoint covers, or undefined when it cannot belong to this file in these ranges
 * (not a whole number of ranges, none at all, or more than the file).
 */
export function coveredRanges(checkpoint: { bytes: number } | undefined, size: number, rangeSize: number): number | undefined {
  if (!checkpoint) return undefined;
  const ranges = checkpoint.bytes / rangeSize;
  if (!Number.isSafeInteger(ranges) || ranges < 1 || checkpoint.bytes > size) return undefined;
  return ranges;
}

export async function moveRanges(args: RangedTransferArgs): Promise<RangedTransferResult> {
  const { size, rangeSize } = args;
  const count = rangeCount(size, rangeSize);
  const concurrency = args.concurrency ?? 1;
  if (!(Number.isInteger(concurrency) && concurrency >= 1)) throw new RangeError(`Concurrency must be a positive integer (got ${concurrency})`);
  const now = args.now ?? Date.now;
  const first = args.firstRange ?? 0;

  let rangesDone = first;
  let bytesDone = Math.min(first * rangeSize, size);
  let checkpoint = args.checkpoint;
  let covered = first;
  const stateAfter = new Map<number, HashState>();
  const finished = new Set<number>();
  let slowestRangeMs = 0;
  let failure: unknown;
  let reports = Promise.resolve();
  const inFlight = new Set<Promise<void>>();
  const progress = (): RangeProgress => ({ rangesDone, bytesDone, ...(checkpoint && { checkpoint }) });

  const rangeDone = (index: number, length: number, began: number) => {
    rangesDone += 1;
    bytesDone += length;
    slowestRangeMs = Math.max(slowestRangeMs, now() - began);
    finished.add(index);
    while (finished.delete(covered)) {
      const state = stateAfter.get(covered);
      stateAfter.delete(covered);
      covered += 1;
      // A short last range is never covered: checkpoints stay whole ranges, which is how hash states read back.
      if (state) checkpoint = { ...state, bytes: covered * rangeSize };
    }
    const snapshot = progress();
    if (args.onProgress) {
      reports = reports
        .then(() => args.onProgress!(snapshot))
        .catch((error: unknown) => {
          failure ??= error;
        });
    }
  };
  const pastDeadline = () => args.deadline !== undefined && now() + slowestRangeMs > args.deadline;

  let next = first;
  for (; next < count && failure === undefined; next++) {
    while (inFlight.size >= concurrency) await Promise.race(inFlight);
    if (failure !== undefined || pastDeadline()) break;
    const { start, end } = rangeBounds(next, size, rangeSize);
    const index = next;
    const length = end - start + 1;
    const began = now();
    let work: RangeWork;
    try {
      work = await args.read(index, start, end);
    } catch (error) {
      // Let the ranges in flight settle before reporting, so nothing is left running behind the error.
      failure ??= error;
      break;
    }
    // A send or a report that failed while this range was read: start nothing more.
    if (failure !== undefined) break;
    const state = length === rangeSize ? args.saveState?.() : undefined;
    if (state) stateAfter.set(index, state);
    if (!work.send) {
      rangeDone(index, length, began);
      continue;
    }
    const task = work
      .send()
      .then(() => rangeDone(index, length, began))
      .catch((error: unknown) => {
        failure ??= error;
      })
      .finally(() => inFlight.delete(task));
    inFlight.add(task);
  }
  await Promise.all(inFlight);
  await reports;
  // eslint-disable-next-line @typescript-eslint/only-throw-error -- rethrows the first error a range raised, as it was raised (callers match it by identity)
  if (failure !== undefined) throw failure;
  return { complete: next >= count, ...progress() };
}
