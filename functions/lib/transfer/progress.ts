// How a resumable transfer's progress is kept in the index (file and restore items alike), and read back on resume.
import type { RangeCheckpoint } from './ranged-transfer';

/** What a transfer reports and the index keeps between invocations. */
export interface TransferProgress {
  uploadId: string;
  bytesDone: number;
  /** Parts at the destination; the vault upload counts them, the copies count bytes. */
  partsDone?: number;
  /** The whole-file SHA-256 after its first `sha256Bytes` bytes (base64 of hash-wasm's save()), all at the destination. */
  sha256State?: string;
  sha256Bytes?: number;
  /** The tree hash over the same bytes, for transfers that keep one (the roots of its complete subtrees, hex). */
  treeHashState?: string;
  /** A running CRC64NVME over the same bytes, for copies whose source S3 gave none. */
  crc64State?: string;
}

/** The fields a transfer's progress record holds in an index item. */
export interface RecordedTransfer {
  uploadId?: string;
  sha256State?: string;
  sha256Bytes?: number;
  treeHashState?: string;
  crc64State?: string;
}

/** Which hash states an item's transfer keeps besides the SHA-256. */
export interface KeptStates {
  treeHash?: boolean;
  crc64?: boolean;
}

/**
 * The index write for a progress report: the upload, how far it got and its checkpoint, in one write so they always
 * belong together. A report without a checkpoint removes the recorded one: it belonged to an earlier upload, or did
 * not fit this one. `treeHash` says whether the item keeps a tree-hash state.
 */
export function progressChanges(progress: TransferProgress, options: KeptStates) {
  return {
    uploadId: progress.uploadId,
    ...(progress.partsDone !== undefined && { partsDone: progress.partsDone }),
    bytesDone: progress.bytesDone,
    sha256State: progress.sha256State ?? null,
    sha256Bytes: progress.sha256Bytes ?? null,
    ...(options.treeHash && { treeHashState: progress.treeHashState ?? null }),
    ...(options.crc64 && { crc64State: progress.crc64State ?? null }),
  };
}

/** The index write that drops a finished transfer's checkpoint: it only ever served the transfer. */
export function checkpointCleared(options: KeptStates) {
  return { sha256State: null, sha256Bytes: null, ...(options.treeHash && { treeHashState: null }), ...(options.crc64 && { crc64State: null }) };
}

/**
 * The checkpoint recorded with an upload, to hand back on resume: it goes back only with its upload, and only with
 * every state the transfer keeps (`sha256Bytes` counts the bytes all the saved states cover). Each transfer still
 * checks it against what the destination holds before trusting it.
 */
export function recordedCheckpoint(record: RecordedTransfer | undefined, options: KeptStates & { sha256?: boolean }): RangeCheckpoint | undefined {
  if (!record?.uploadId || record.sha256Bytes === undefined) return undefined;
  const wantsSha256 = options.sha256 ?? true;
  if (wantsSha256 && record.sha256State === undefined) return undefined;
  if (options.treeHash && record.treeHashState === undefined) return undefined;
  if (options.crc64 && record.crc64State === undefined) return undefined;
  return {
    bytes: record.sha256Bytes,
    ...(wantsSha256 && { sha256State: record.sha256State }),
    ...(options.treeHash && { treeHashState: record.treeHashState }),
    ...(options.crc64 && { crc64State: record.crc64State }),
  };
}

/** A checkpoint as a progress report carries it. */
export function checkpointProgress(
  checkpoint: RangeCheckpoint | undefined,
): Pick<TransferProgress, 'sha256State' | 'sha256Bytes' | 'treeHashState' | 'crc64State'> {
  if (!checkpoint) return {};
  return {
    sha256Bytes: checkpoint.bytes,
    ...(checkpoint.sha256State !== undefined && { sha256State: checkpoint.sha256State }),
    ...(checkpoint.treeHashState !== undefined && { treeHashState: checkpoint.treeHashState }),
    ...(checkpoint.crc64State !== undefined && { crc64State: checkpoint.crc64State }),
  };
}
