// Copies a finished Glacier retrieval job into S3 range by range, verifying every tree hash before the object exists.
import { createHash } from 'node:crypto';
import { GetJobOutputCommand, type GlacierClient } from '@aws-sdk/client-glacier';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  ListPartsCommand,
  PutObjectCommand,
  UploadPartCommand,
  type CompletedPart,
  type S3Client,
} from '@aws-sdk/client-s3';
import { ChecksumMismatchError, EMPTY_SHA256, MIB, TreeHash, TreeHashMismatchError, combinePartTreeHashes, isPowerOfTwoMiB } from './tree-hash';

export { ChecksumMismatchError, TreeHashMismatchError } from './tree-hash';

export const DEFAULT_RANGE_SIZE = 64 * MIB;
/** Ranges double as S3 parts (at least 5 MiB) and must be powers of two MiB to stay tree-hash aligned. */
export const MIN_RANGE_SIZE = 8 * MIB;

export type CopyResult =
  | { status: 'complete'; size: number; treeHash: string; sha256: string; versionId?: string; etag?: string }
  | { status: 'incomplete'; uploadId: string; bytesDone: number };

export interface CopyArgs {
  glacier: GlacierClient;
  vaultName: string;
  jobId: string;
  archiveSize: number;
  /** The archive's tree hash as recorded at upload (lowercase hex). */
  expectedTreeHash: string;
  /** The whole file's SHA-256 as recorded at upload, when known. */
  expectedSha256?: string;
  s3: S3Client;
  bucket: string;
  key: string;
  /** Bytes per GetJobOutput call and S3 part: a power-of-two MiB, at least 8 MiB (default 64 MiB). */
  rangeSize?: number;
  /** An S3 multipart upload a previous call started; its parts are checked and kept where they match. */
  resumeUploadId?: string;
  /** Epoch ms by which to return; no range is started that the slowest range so far says would end after it. */
  deadline?: number;
  onProgress?: (progress: { uploadId: string; bytesDone: number }) => Promise<void>;
  /** Clock, for tests. */
  now?: () => number;
}

interface FetchedRange {
  bytes: Buffer;
  treeHash: Buffer;
}

/** Fetches one range of the job output and checks its bytes against the tree hash Glacier sends with it. */
async function fetchRange(args: CopyArgs, start: number, end: number): Promise<FetchedRange> {
  const { glacier, vaultName, jobId } = args;
  const response = await glacier.send(new GetJobOutputCommand({ accountId: '-', vaultName, jobId, range: `bytes=${start}-${end}` }));
  if (response.contentRange !== undefined && !response.contentRange.startsWith(`bytes ${start}-${end}/`)) {
    throw new Error(`Glacier returned ${response.contentRange} for bytes ${start}-${end} of job ${jobId}`);
  }
  const bytes = Buffer.allocUnsafe(end - start + 1);
  const treeHash = new TreeHash();
  let filled = 0;
  for await (const chunk of response.body as AsyncIterable<Uint8Array>) {
    if (filled + chunk.length > bytes.length) throw new Error(`Glacier returned more than ${bytes.length} bytes for ${start}-${end} of job ${jobId}`);
    bytes.set(chunk, filled);
    filled += chunk.length;
    treeHash.update(chunk);
  }
  if (filled !== bytes.length) throw new Error(`Glacier returned ${filled} of ${bytes.length} bytes for ${start}-${end} of job ${jobId}`);
  const digest = treeHash.digest();
  // Aligned ranges always carry Glacier's checksum; were one missing, the whole-archive check below still applies.
  if (response.checksum !== undefined && response.checksum.toLowerCase() !== digest.toString('hex')) {
    throw new TreeHashMismatchError(
      `Bytes ${start}-${end} of job ${jobId} hash to ${digest.toString('hex')}, but Glacier sent ${response.checksum}`,
    );
  }
  return { bytes, treeHash: digest };
}

function checkWholeFile(args: CopyArgs, treeHash: string, sha256: string): void {
  if (treeHash !== args.expectedTreeHash.toLowerCase()) {
    throw new TreeHashMismatchError(`Job ${args.jobId} output has tree hash ${treeHash}; the archive was recorded with ${args.expectedTreeHash}`);
  }
  if (args.expectedSha256 !== undefined && sha256 !== args.expectedSha256.toLowerCase()) {
    throw new ChecksumMismatchError(`Job ${args.jobId} output has SHA-256 ${sha256}; the file was recorded with ${args.expectedSha256}`);
  }
}

const isIntegrityError = (error: unknown) => error instanceof TreeHashMismatchError || error instanceof ChecksumMismatchError;

/** Parts a previous call already put in the S3 upload, by part number (ListParts, every page). */
async function existingParts(args: CopyArgs, uploadId: string): Promise<Map<number, { etag: string; size: number }>> {
  const parts = new Map<number, { etag: string; size: number }>();
  let marker: string | undefined;
  for (;;) {
    const page = await args.s3.send(new ListPartsCommand({ Bucket: args.bucket, Key: args.key, UploadId: uploadId, PartNumberMarker: marker }));
    for (const part of page.Parts ?? []) {
      if (part.PartNumber !== undefined && part.ETag !== undefined) parts.set(part.PartNumber, { etag: part.ETag, size: part.Size ?? -1 });
    }
    if (!page.IsTruncated || !page.NextPartNumberMarker) return parts;
    marker = page.NextPartNumberMarker;
  }
}

/** An S3 part whose ETag is the MD5 of these bytes holds them (ETags of SSE-KMS parts are not MD5s: re-send those). */
const partHolds = (part: { etag: string; size: number } | undefined, bytes: Buffer) =>
  part !== undefined && part.size === bytes.length && part.etag.replace(/"/g, '') === createHash('md5').update(bytes).digest('hex');

export async function copyJobOutputToS3(args: CopyArgs): Promise<CopyResult> {
  const { s3, bucket, key, archiveSize: size } = args;
  const rangeSize = args.rangeSize ?? DEFAULT_RANGE_SIZE;
  if (!isPowerOfTwoMiB(rangeSize) || rangeSize < MIN_RANGE_SIZE) throw new RangeError(`Range size ${rangeSize} is not a power-of-two MiB of at least 8 MiB`);
  const now = args.now ?? Date.now;
  const fileSha256 = createHash('sha256');

  if (size <= rangeSize) {
    // One range: verify it all, then PutObject, so a bad byte never becomes an object.
    // Glacier stores no empty archives, so an empty file has no job to read: it is written from nothing.
    const { bytes, treeHash }: FetchedRange = size > 0 ? await fetchRange(args, 0, size - 1) : { bytes: Buffer.alloc(0), treeHash: EMPTY_SHA256 };
    const sha256 = fileSha256.update(bytes).digest();
    checkWholeFile(args, treeHash.toString('hex'), sha256.toString('hex'));
    const put = await s3.send(
      new PutObjectCommand({ Bucket: bucket, Key: key, Body: bytes, ContentLength: size, ChecksumSHA256: sha256.toString('base64') }),
    );
    return { status: 'complete', size, treeHash: treeHash.toString('hex'), sha256: sha256.toString('hex'), versionId: put.VersionId, etag: put.ETag };
  }

  const uploadId = args.resumeUploadId ?? (await s3.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: key }))).UploadId!;
  const abort = () => s3.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId: uploadId }));
  try {
    const stored = args.resumeUploadId ? await existingParts(args, uploadId) : new Map<number, { etag: string; size: number }>();
    const rangeCount = Math.ceil(size / rangeSize);
    const rangeHashes: Buffer[] = [];
    const parts: CompletedPart[] = [];
    let bytesDone = 0;
    let slowestRangeMs = 0;
    for (let index = 0; index < rangeCount; index++) {
      if (args.deadline !== undefined && now() + slowestRangeMs > args.deadline) return { status: 'incomplete', uploadId, bytesDone };
      const began = now();
      const start = index * rangeSize;
      const end = Math.min(start + rangeSize, size) - 1;
      const { bytes, treeHash } = await fetchRange(args, start, end);
      fileSha256.update(bytes);
      rangeHashes.push(treeHash);
      const partNumber = index + 1;
      const previous = stored.get(partNumber);
      const etag = partHolds(previous, bytes)
        ? previous!.etag
        : (await s3.send(new UploadPartCommand({ Bucket: bucket, Key: key, UploadId: uploadId, PartNumber: partNumber, Body: bytes, ContentLength: bytes.length })))
            .ETag!;
      parts.push({ PartNumber: partNumber, ETag: etag });
      bytesDone += bytes.length;
      slowestRangeMs = Math.max(slowestRangeMs, now() - began);
      await args.onProgress?.({ uploadId, bytesDone });
    }
    const treeHash = combinePartTreeHashes(rangeHashes).toString('hex');
    const sha256 = fileSha256.digest('hex');
    checkWholeFile(args, treeHash, sha256);
    const done = await s3.send(new CompleteMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId: uploadId, MultipartUpload: { Parts: parts } }));
    return { status: 'complete', size, treeHash, sha256, versionId: done.VersionId, etag: done.ETag };
  } catch (error) {
    // Bad bytes must never become an object: drop the upload. Other failures leave it for a resumed call.
    if (isIntegrityError(error)) await abort();
    throw error;
  }
}
