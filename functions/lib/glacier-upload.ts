// Streams one file into a Glacier vault (single request or resumable multipart upload), hashing it as it passes.
import { createHash, type Hash } from 'node:crypto';
import {
  CompleteMultipartUploadCommand,
  InitiateMultipartUploadCommand,
  ListPartsCommand,
  UploadArchiveCommand,
  UploadMultipartPartCommand,
  type GlacierClient,
} from '@aws-sdk/client-glacier';
import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
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

/** Reads exactly [start, end] from the source into one buffer, feeding the file's running SHA-256 on the way. */
async function readPart(source: ByteSource, start: number, end: number, fileSha256: Hash): Promise<{ bytes: Buffer; treeHash: string }> {
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
async function hashPart(source: ByteSource, start: number, end: number, fileSha256: Hash): Promise<string> {
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

export async function uploadToVault(args: UploadArgs): Promise<UploadResult> {
  validate(args);
  const { glacier, vaultName, source, partSize, description } = args;
  const size = source.size;
  if (size === 0) {
    const empty = hex(EMPTY_SHA256);
    return { status: 'complete', archiveId: null, treeHash: empty, sha256: empty, size, partSize };
  }

  const fileSha256 = createHash('sha256');
  if (size <= partSize && !args.resumeUploadId) {
    const { bytes, treeHash } = await readPart(source, 0, size - 1, fileSha256);
    const result = await glacier.send(
      new UploadArchiveCommand({ accountId: '-', vaultName, body: bytes, checksum: treeHash, archiveDescription: description }),
    );
    if (result.checksum !== treeHash) throw new TreeHashMismatchError(`Glacier computed tree hash ${result.checksum}, the file has ${treeHash}`);
    return { status: 'complete', archiveId: result.archiveId!, treeHash, sha256: fileSha256.digest('hex'), size, partSize };
  }

  const uploadId =
    args.resumeUploadId ??
    (await glacier.send(new InitiateMultipartUploadCommand({ accountId: '-', vaultName, partSize: String(partSize), archiveDescription: description })))
      .uploadId!;
  const stored = args.resumeUploadId ? await existingParts(args, uploadId) : new Map<number, string>();
  const partCount = Math.ceil(size / partSize);
  const treeHashes: Buffer[] = new Array(partCount);
  const concurrency = args.concurrency ?? 2;
  const now = args.now ?? Date.now;

  let partsDone = 0;
  let bytesDone = 0;
  let slowestPartMs = 0;
  let failure: unknown;
  let progressChain = Promise.resolve();
  const inFlight = new Set<Promise<void>>();
  const progress = (): UploadProgress => ({ uploadId, partSize, partsDone, bytesDone });
  const partDone = (length: number) => {
    partsDone += 1;
    bytesDone += length;
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

  let next = 0;
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
        partDone(end - start + 1);
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
    const task = glacier
      .send(new UploadMultipartPartCommand({ accountId: '-', vaultName, uploadId, range: `bytes ${start}-${end}/*`, body: bytes, checksum: treeHash }))
      .then((result) => {
        if (result.checksum !== treeHash) throw new TreeHashMismatchError(`Glacier computed ${result.checksum} for part ${start}-${end}, not ${treeHash}`);
        treeHashes[index] = Buffer.from(treeHash, 'hex');
        partDone(bytes.length);
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
  return { status: 'complete', archiveId: result.archiveId!, treeHash, sha256: fileSha256.digest('hex'), size, partSize };
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
