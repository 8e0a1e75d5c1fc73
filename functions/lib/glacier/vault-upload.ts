// Streams one file into a Glacier vault (single request or resumable multipart upload), hashing it as it passes.
import {
  CompleteMultipartUploadCommand,
  InitiateMultipartUploadCommand,
  ListPartsCommand,
  UploadArchiveCommand,
  UploadMultipartPartCommand,
  type GlacierClient,
} from '@aws-sdk/client-glacier';
import { GLACIER_LIMITS } from '../contract';
import type { ByteSource } from '../s3/byte-source';
import { loadFileSha256, newFileSha256, type FileSha256 } from '../transfer/file-sha256';
import { checkpointProgress } from '../transfer/progress';
import { coveredRanges, moveRanges, rangeCount, type RangeCheckpoint } from '../transfer/ranged-transfer';

export type { ByteSource } from '../s3/byte-source';
import { BodyHasher, rememberBodyChecksums, reusesBodyChecksums } from './body-checksums';
import { EMPTY_SHA256, MIB, TreeHash, TreeHashMismatchError, combinePartTreeHashes, isPowerOfTwoMiB } from './tree-hash';

/** Glacier's limits: parts of 1 MiB × 2^n up to 4 GiB, at most 10,000 of them. */
export const MAX_PART_SIZE = GLACIER_LIMITS.maxPartSizeMiB * MIB;
export const MAX_PARTS = GLACIER_LIMITS.maxParts;

export interface UploadProgress {
  uploadId: string;
  partSize: number;
  /** Parts now in the vault's multipart upload (uploaded by this call or found there on resume). */
  partsDone: number;
  bytesDone: number;
  /**
   * The whole-file SHA-256 after its first `sha256Bytes` bytes (base64 of hash-wasm's save()), all of which are
   * in the vault: handed back as `resumeSha256`, it spares the next call reading them again. Absent until the
   * first part is in.
   */
  sha256State?: string;
  /** A multiple of the part size: the parts from the start of the file that are all in the vault. */
  sha256Bytes?: number;
}

/** A saved whole-file SHA-256: its state after the first `bytes` bytes of the file. */
export interface Sha256Checkpoint {
  /** Base64 of hash-wasm's save(). */
  state: string;
  bytes: number;
}

export type UploadResult =
  | {
      status: 'complete';
      /**
       * The new archive's id; `null` for a zero-byte file, which Glacier refuses to store ("Invalid Content-Length:
       * 0"), so nothing was uploaded and restoring it means writing an empty file.
       */
      archiveId: string | null;
      /** Lowercase hex. */
      treeHash: string;
      sha256: string;
      size: number;
      partSize: number;
    }
  | ({ status: 'incomplete' } & UploadProgress);

export interface UploadArgs {
  glacier: GlacierClient;
  vaultName: string;
  source: ByteSource;
  /** 1 MiB × 2^n; also decides whether the file goes in one request (size ≤ partSize) or several. */
  partSize: number;
  /** Archive description: at most 1,024 printable ASCII characters. */
  description: string;
  /** An upload a previous call started: its parts are checked against the source instead of sent again. */
  resumeUploadId?: string;
  /**
   * With resumeUploadId, the SHA-256 checkpoint that call reported: the parts it covers are taken from ListParts
   * (their tree hashes) without reading the source. One that does not fit the upload is ignored, and every part
   * already there is read again, as without it.
   */
  resumeSha256?: Sha256Checkpoint;
  /** Parts held in memory and in flight at once (default 2), whatever the file size. */
  concurrency?: number;
  /**
   * Epoch ms by which the call should return. No part is started that would, at the pace of the slowest part so
   * far, end after it; parts in flight are finished. A file that fits in one request is sent regardless.
   */
  deadline?: number;
  onProgress?: (progress: UploadProgress) => Promise<void>;
  /**
   * Send files that fit one part in one UploadArchive (default). The archiver turns it off: an UploadArchive whose
   * answer is lost leaves an archive nobody can name, while a multipart upload recorded with `onCompleting` can be
   * completed again by its id and answers with the same archive.
   */
  singleRequest?: boolean;
  /** Called with everything CompleteMultipartUpload needs, before it is sent: record it, and `completeAgain` can finish the job. */
  onCompleting?: (intent: CompletionIntent) => Promise<void>;
  /** Clock, for tests. */
  now?: () => number;
}

/** A multipart upload about to complete: enough to complete it again, and to record the archive it makes. */
export interface CompletionIntent {
  uploadId: string;
  treeHash: string;
  sha256: string;
  size: number;
}

/**
 * Completes a recorded upload again, after a crash lost the answer to the first CompleteMultipartUpload (or it was
 * never sent). Glacier documents CompleteMultipartUpload as idempotent for a while after it succeeded: it answers
 * with the same archive id instead of making a second archive. ResourceNotFoundException: the upload is long gone.
 */
export async function completeAgain(glacier: GlacierClient, vaultName: string, intent: CompletionIntent): Promise<string> {
  const result = await glacier.send(
    new CompleteMultipartUploadCommand({ accountId: '-', vaultName, uploadId: intent.uploadId, archiveSize: String(intent.size), checksum: intent.treeHash }),
  );
  if (result.checksum !== undefined && result.checksum !== intent.treeHash) {
    throw new TreeHashMismatchError(`Glacier completed the archive with tree hash ${result.checksum}, the file has ${intent.treeHash}`);
  }
  return result.archiveId!;
}

const hex = (digest: Buffer) => digest.toString('hex');

/** Where the file's bytes are fed as they pass. */
type Sha256Sink = Pick<FileSha256, 'update'>;

/**
 * Reads exactly [start, end] from the source into one buffer, feeding the file's running SHA-256 and the part's tree
 * hash on the way; with `withContentSha256`, the part's own SHA-256 too (the payload hash the Glacier client signs),
 * each chunk through all three as it arrives.
 */
async function readPart(
  source: ByteSource,
  start: number,
  end: number,
  fileSha256: Sha256Sink,
  withContentSha256: boolean,
): Promise<{ bytes: Buffer; treeHash: string; contentSha256?: string }> {
  const bytes = Buffer.allocUnsafe(end - start + 1);
  const hasher = withContentSha256 ? new BodyHasher() : new TreeHash();
  let filled = 0;
  for await (const chunk of await source.read(start, end)) {
    if (filled + chunk.length > bytes.length) throw new Error(`Source returned more than the ${bytes.length} bytes asked for at ${start}`);
    bytes.set(chunk, filled);
    filled += chunk.length;
    fileSha256.update(chunk);
    hasher.update(chunk);
  }
  if (filled !== bytes.length) throw new Error(`Source returned ${filled} of the ${bytes.length} bytes asked for at ${start}`);
  return { bytes, ...(hasher instanceof BodyHasher ? hasher.digest() : { treeHash: hasher.digestHex() }) };
}

/** Streams [start, end] through the hashes without keeping it: for parts already in the vault. */
async function hashPart(source: ByteSource, start: number, end: number, fileSha256: Sha256Sink): Promise<string> {
  const treeHash = new TreeHash();
  for await (const chunk of await source.read(start, end)) {
    fileSha256.update(chunk);
    treeHash.update(chunk);
  }
  if (treeHash.size !== end - start + 1) throw new Error(`Source returned ${treeHash.size} of the ${end - start + 1} bytes asked for at ${start}`);
  return treeHash.digestHex();
}

function validate(args: UploadArgs): void {
  const { partSize, source, description } = args;
  if (!isPowerOfTwoMiB(partSize) || partSize > MAX_PART_SIZE) throw new RangeError(`Part size ${partSize} is not 1 MiB × 2^n up to 4 GiB`);
  if (Math.ceil(source.size / partSize) > MAX_PARTS) {
    throw new RangeError(`${source.size} bytes in parts of ${partSize} would need more than ${MAX_PARTS} parts`);
  }
  if (description.length > 1024 || !/^[\x20-\x7e]*$/.test(description)) {
    throw new RangeError('Archive descriptions are at most 1,024 printable ASCII characters');
  }
  if (args.concurrency !== undefined && !(Number.isInteger(args.concurrency) && args.concurrency >= 1)) {
    throw new RangeError(`Concurrency must be a positive integer (got ${args.concurrency})`);
  }
}

/** The tree hashes of the parts an upload already holds, by part index (ListParts, every page). */
async function existingParts(args: UploadArgs, uploadId: string): Promise<Map<number, string>> {
  const { glacier, vaultName, partSize, source } = args;
  const parts = new Map<number, string>();
  let marker: string | undefined;
  do {
    const page = await glacier.send(new ListPartsCommand({ accountId: '-', vaultName, uploadId, marker }));
    if (page.PartSizeInBytes !== partSize) {
      throw new Error(`Upload ${uploadId} has parts of ${page.PartSizeInBytes} bytes, not the ${partSize} asked for`);
    }
    for (const part of page.Parts ?? []) {
      const [start, end] = (part.RangeInBytes ?? '').split('-').map(Number);
      const index = start / partSize;
      const expectedEnd = Math.min(start + partSize, source.size) - 1;
      if (!Number.isInteger(index) || end !== expectedEnd) {
        throw new TreeHashMismatchError(`Upload ${uploadId} holds part ${part.RangeInBytes}, which does not fit a ${source.size}-byte file`);
      }
      parts.set(index, (part.SHA256TreeHash ?? '').toLowerCase());
    }
    marker = page.Marker ?? undefined;
  } while (marker);
  return parts;
}

/**
 * Where a resumed upload picks up the file's SHA-256: after the parts its checkpoint covers, when every one of them
 * is in the upload with a tree hash; otherwise from the start, reading again each part already there.
 */
async function resumePoint(args: UploadArgs, stored: Map<number, string>): Promise<{ sha256: FileSha256; parts: number; checkpoint?: RangeCheckpoint }> {
  const fromStart = async () => ({ sha256: await newFileSha256(args.source.size), parts: 0 });
  const saved = args.resumeSha256;
  const parts = args.resumeUploadId ? coveredRanges(saved, args.source.size, args.partSize) : undefined;
  if (!saved || parts === undefined) return fromStart();
  for (let index = 0; index < parts; index++) {
    if (!/^[0-9a-f]{64}$/.test(stored.get(index) ?? '')) return fromStart();
  }
  const sha256 = await loadFileSha256(saved.state);
  return sha256 ? { sha256, parts, checkpoint: { sha256State: saved.state, bytes: saved.bytes } } : fromStart();
}

export async function uploadToVault(args: UploadArgs): Promise<UploadResult> {
  validate(args);
  const { glacier, vaultName, source, partSize, description } = args;
  const size = source.size;
  // A client with glacierBodyChecksums takes each body's checksums from here instead of hashing the body twice more.
  const reuseChecksums = reusesBodyChecksums(glacier);
  if (size === 0) {
    const empty = hex(EMPTY_SHA256);
    return { status: 'complete', archiveId: null, treeHash: empty, sha256: empty, size, partSize };
  }

  if (size <= partSize && !args.resumeUploadId && args.singleRequest !== false) {
    const fileSha256 = await newFileSha256(size);
    const { bytes, treeHash } = await readPart(source, 0, size - 1, fileSha256, false);
    const sha256 = fileSha256.digestHex();
    // The body is the whole file, so its SHA-256 is the file's: nothing more to hash.
    if (reuseChecksums) rememberBodyChecksums(bytes, { treeHash, contentSha256: sha256 });
    const result = await glacier.send(
      new UploadArchiveCommand({ accountId: '-', vaultName, body: bytes, checksum: treeHash, archiveDescription: description }),
    );
    if (result.checksum !== treeHash) throw new TreeHashMismatchError(`Glacier computed tree hash ${result.checksum}, the file has ${treeHash}`);
    return { status: 'complete', archiveId: result.archiveId!, treeHash, sha256, size, partSize };
  }

  const uploadId =
    args.resumeUploadId ??
    (await glacier.send(new InitiateMultipartUploadCommand({ accountId: '-', vaultName, partSize: String(partSize), archiveDescription: description })))
      .uploadId!;
  const stored = args.resumeUploadId ? await existingParts(args, uploadId) : new Map<number, string>();
  const treeHashes: Buffer[] = new Array<Buffer>(rangeCount(size, partSize));
  const resumed = await resumePoint(args, stored);
  const fileSha256 = resumed.sha256;
  for (let index = 0; index < resumed.parts; index++) treeHashes[index] = Buffer.from(stored.get(index)!, 'hex');
  const progressOf = (moved: { rangesDone: number; bytesDone: number; checkpoint?: RangeCheckpoint }): UploadProgress => ({
    uploadId,
    partSize,
    partsDone: moved.rangesDone,
    bytesDone: moved.bytesDone,
    ...checkpointProgress(moved.checkpoint),
  });

  const moved = await moveRanges({
    size,
    rangeSize: partSize,
    firstRange: resumed.parts,
    checkpoint: resumed.checkpoint,
    concurrency: args.concurrency ?? 2,
    deadline: args.deadline,
    now: args.now,
    saveState: () => {
      const state = fileSha256.save();
      return state === undefined ? undefined : { sha256State: state };
    },
    read: async (index, start, end) => {
      const storedHash = stored.get(index);
      if (storedHash !== undefined) {
        // Already in the vault: read again only to feed the file's SHA-256 and to check the part is this file's.
        const treeHash = await hashPart(source, start, end, fileSha256);
        if (treeHash !== storedHash) {
          throw new TreeHashMismatchError(`Part ${start}-${end} of upload ${uploadId} has tree hash ${storedHash} in Glacier but ${treeHash} in the source`);
        }
        treeHashes[index] = Buffer.from(treeHash, 'hex');
        return {};
      }
      const { bytes, treeHash, contentSha256 } = await readPart(source, start, end, fileSha256, reuseChecksums);
      if (contentSha256) rememberBodyChecksums(bytes, { treeHash, contentSha256 });
      return {
        send: async () => {
          const result = await glacier.send(
            new UploadMultipartPartCommand({ accountId: '-', vaultName, uploadId, range: `bytes ${start}-${end}/*`, body: bytes, checksum: treeHash }),
          );
          if (result.checksum !== treeHash) throw new TreeHashMismatchError(`Glacier computed ${result.checksum} for part ${start}-${end}, not ${treeHash}`);
          treeHashes[index] = Buffer.from(treeHash, 'hex');
        },
      };
    },
    onProgress: args.onProgress && ((progress) => args.onProgress!(progressOf(progress))),
  });
  if (!moved.complete) return { status: 'incomplete', ...progressOf(moved) };

  const intent: CompletionIntent = { uploadId, treeHash: hex(combinePartTreeHashes(treeHashes)), sha256: fileSha256.digestHex(), size };
  await args.onCompleting?.(intent);
  const archiveId = await completeAgain(glacier, vaultName, intent);
  return { status: 'complete', archiveId, treeHash: intent.treeHash, sha256: intent.sha256, size, partSize };
}
