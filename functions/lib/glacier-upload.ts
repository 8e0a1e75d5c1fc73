// Streams one file into a Glacier vault (single request or resumable multipart upload), hashing it as it passes.
import {
  CompleteMultipartUploadCommand,
  InitiateMultipartUploadCommand,
  ListPartsCommand,
  UploadArchiveCommand,
  UploadMultipartPartCommand,
  type GlacierClient,
} from '@aws-sdk/client-glacier';
import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { loadFileSha256, newFileSha256, type FileSha256 } from './file-sha256';
import { EMPTY_SHA256, MIB, TreeHash, TreeHashMismatchError, combinePartTreeHashes, isPowerOfTwoMiB } from './tree-hash';

/** Glacier's limits: parts of 1 MiB × 2^n up to 4 GiB, at most 10,000 of them. */
export const MAX_PART_SIZE = 4096 * MIB;
export const MAX_PARTS = 10_000;

/** Where the bytes come from: any source that can stream an inclusive byte range. */
export interface ByteSource {
  size: number;
  read(start: number, endInclusive: number): Promise<AsyncIterable<Uint8Array>>;
}

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
  /** Clock, for tests. */
  now?: () => number;
}

const hex = (digest: Buffer) => digest.toString('hex');

/** Where the file's bytes are fed as they pass. */
type Sha256Sink = Pick<FileSha256, 'update'>;

/** Reads exactly [start, end] from the source into one buffer, feeding the file's running SHA-256 on the way. */
async function readPart(source: ByteSource, start: number, end: number, fileSha256: Sha256Sink): Promise<{ bytes: Buffer; treeHash: string }> {
  const bytes = Buffer.allocUnsafe(end - start + 1);
  const treeHash = new TreeHash();
  let filled = 0;
  for await (const chunk of await source.read(start, end)) {
    if (filled + chunk.length > bytes.length) throw new Error(`Source returned more than the ${bytes.length} bytes asked for at ${start}`);
    bytes.set(chunk, filled);
    filled += chunk.length;
    fileSha256.update(chunk);
    treeHash.update(chunk);
  }
  if (filled !== bytes.length) throw new Error(`Source returned ${filled} of the ${bytes.length} bytes asked for at ${start}`);
  return { bytes, treeHash: treeHash.digestHex() };
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
async function resumePoint(args: UploadArgs, stored: Map<number, string>): Promise<{ sha256: FileSha256; parts: number; checkpoint?: Sha256Checkpoint }> {
  const fromStart = async () => ({ sha256: await newFileSha256(args.source.size), parts: 0 });
  const saved = args.resumeSha256;
  if (!args.resumeUploadId || !saved) return fromStart();
  const parts = saved.bytes / args.partSize;
  if (!Number.isSafeInteger(parts) || parts < 1 || saved.bytes > args.source.size) return fromStart();
  for (let index = 0; index < parts; index++) {
    if (!/^[0-9a-f]{64}$/.test(stored.get(index) ?? '')) return fromStart();
  }
  const sha256 = await loadFileSha256(saved.state);
  return sha256 ? { sha256, parts, checkpoint: { state: saved.state, bytes: saved.bytes } } : fromStart();
}

export async function uploadToVault(args: UploadArgs): Promise<UploadResult> {
  validate(args);
  const { glacier, vaultName, source, partSize, description } = args;
  const size = source.size;
  if (size === 0) {
    const empty = hex(EMPTY_SHA256);
    return { status: 'complete', archiveId: null, treeHash: empty, sha256: empty, size, partSize };
  }

  if (size <= partSize && !args.resumeUploadId) {
    const fileSha256 = await newFileSha256(size);
    const { bytes, treeHash } = await readPart(source, 0, size - 1, fileSha256);
    const result = await glacier.send(
      new UploadArchiveCommand({ accountId: '-', vaultName, body: bytes, checksum: treeHash, archiveDescription: description }),
    );
    if (result.checksum !== treeHash) throw new TreeHashMismatchError(`Glacier computed tree hash ${result.checksum}, the file has ${treeHash}`);
    return { status: 'complete', archiveId: result.archiveId!, treeHash, sha256: fileSha256.digestHex(), size, partSize };
  }

  const uploadId =
    args.resumeUploadId ??
    (await glacier.send(new InitiateMultipartUploadCommand({ accountId: '-', vaultName, partSize: String(partSize), archiveDescription: description })))
      .uploadId!;
  const stored = args.resumeUploadId ? await existingParts(args, uploadId) : new Map<number, string>();
  const partCount = Math.ceil(size / partSize);
  const treeHashes: Buffer[] = new Array(partCount);
  const resumed = await resumePoint(args, stored);
  const fileSha256 = resumed.sha256;
  for (let index = 0; index < resumed.parts; index++) treeHashes[index] = Buffer.from(stored.get(index)!, 'hex');
  const concurrency = args.concurrency ?? 2;
  const now = args.now ?? Date.now;

  let partsDone = resumed.parts;
  let bytesDone = resumed.parts * partSize;
  // The checkpoint is the SHA-256 after the longest run of parts from the start that are all in the vault. Parts are
  // read in order but their uploads finish in any order, so the state after each part read waits here until every
  // part before it is in too. A short last part is never covered: checkpoints stay whole parts.
  let checkpoint = resumed.checkpoint;
  let covered = resumed.parts;
  const stateAfter = new Map<number, string>();
  const finished = new Set<number>();
  let slowestPartMs = 0;
  let failure: unknown;
  let progressChain = Promise.resolve();
  const inFlight = new Set<Promise<void>>();
  const progress = (): UploadProgress => ({
    uploadId,
    partSize,
    partsDone,
    bytesDone,
    ...(checkpoint && { sha256State: checkpoint.state, sha256Bytes: checkpoint.bytes }),
  });
  const partRead = (index: number, length: number) => {
    const state = length === partSize ? fileSha256.save() : undefined;
    if (state !== undefined) stateAfter.set(index, state);
  };
  const partDone = (index: number, length: number) => {
    partsDone += 1;
    bytesDone += length;
    finished.add(index);
    while (finished.delete(covered)) {
      const state = stateAfter.get(covered);
      stateAfter.delete(covered);
      covered += 1;
      if (state !== undefined) checkpoint = { state, bytes: covered * partSize };
    }
    const snapshot = progress();
    // Reports run one at a time, in order; a failing report stops the upload like a failing part.
    if (args.onProgress) {
      progressChain = progressChain
        .then(() => args.onProgress!(snapshot))
        .catch((error: unknown) => {
          failure ??= error;
        });
    }
  };
  const pastDeadline = () => args.deadline !== undefined && now() + slowestPartMs > args.deadline;

  let next = resumed.parts;
  for (; next < partCount && failure === undefined; next++) {
    while (inFlight.size >= concurrency) await Promise.race(inFlight);
    if (failure !== undefined || pastDeadline()) break;
    const start = next * partSize;
    const end = Math.min(start + partSize, size) - 1;
    const began = now();
    const storedHash = stored.get(next);
    let read: Awaited<ReturnType<typeof readPart>>;
    try {
      if (storedHash !== undefined) {
        const treeHash = await hashPart(source, start, end, fileSha256);
        if (treeHash !== storedHash) {
          throw new TreeHashMismatchError(
            `Part ${start}-${end} of upload ${uploadId} has tree hash ${storedHash} in Glacier but ${treeHash} in the source`,
          );
        }
        treeHashes[next] = Buffer.from(treeHash, 'hex');
        partRead(next, end - start + 1);
        partDone(next, end - start + 1);
        slowestPartMs = Math.max(slowestPartMs, now() - began);
        continue;
      }
      read = await readPart(source, start, end, fileSha256);
    } catch (error) {
      // Let the parts in flight settle before reporting, so nothing is left running behind the error.
      failure ??= error;
      break;
    }
    const { bytes, treeHash } = read;
    const index = next;
    partRead(index, bytes.length);
    const task = glacier
      .send(new UploadMultipartPartCommand({ accountId: '-', vaultName, uploadId, range: `bytes ${start}-${end}/*`, body: bytes, checksum: treeHash }))
      .then((result) => {
        if (result.checksum !== treeHash) throw new TreeHashMismatchError(`Glacier computed ${result.checksum} for part ${start}-${end}, not ${treeHash}`);
        treeHashes[index] = Buffer.from(treeHash, 'hex');
        partDone(index, bytes.length);
        slowestPartMs = Math.max(slowestPartMs, now() - began);
      })
      .catch((error: unknown) => {
        failure ??= error;
      })
      .finally(() => inFlight.delete(task));
    inFlight.add(task);
  }
  await Promise.all(inFlight);
  await progressChain;
  if (failure !== undefined) throw failure;
  if (next < partCount) return { status: 'incomplete', ...progress() };

  const treeHash = hex(combinePartTreeHashes(treeHashes));
  const result = await glacier.send(
    new CompleteMultipartUploadCommand({ accountId: '-', vaultName, uploadId, archiveSize: String(size), checksum: treeHash }),
  );
  if (result.checksum !== undefined && result.checksum !== treeHash) {
    throw new TreeHashMismatchError(`Glacier completed the archive with tree hash ${result.checksum}, the file has ${treeHash}`);
  }
  return { status: 'complete', archiveId: result.archiveId!, treeHash, sha256: fileSha256.digestHex(), size, partSize };
}

/** A ByteSource over one S3 object (pinned to a version when given), read with ranged GetObject calls. */
export function s3ByteSource(s3: S3Client, bucket: string, key: string, size: number, pin: { versionId?: string; etag?: string } = {}): ByteSource {
  return {
    size,
    async read(start, endInclusive) {
      // IfMatch pins the reads to one version of the object: a change mid-stream fails (PreconditionFailed)
      // instead of mixing two versions' bytes into one archive.
      const response = await s3.send(
        new GetObjectCommand({ Bucket: bucket, Key: key, VersionId: pin.versionId, IfMatch: pin.etag, Range: `bytes=${start}-${endInclusive}` }),
      );
      if (!response.Body) throw new Error(`s3://${bucket}/${key} returned no body for bytes ${start}-${endInclusive}`);
      if (response.ContentLength !== undefined && response.ContentLength !== endInclusive - start + 1) {
        throw new Error(`s3://${bucket}/${key} returned ${response.ContentLength} bytes for ${start}-${endInclusive}; the object changed?`);
      }
      return response.Body as AsyncIterable<Uint8Array>;
    },
  };
}
