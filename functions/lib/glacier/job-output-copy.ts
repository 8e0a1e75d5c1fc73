// Copies a finished Glacier retrieval job into S3 range by range, verifying every tree hash before the object exists.
import { createHash } from 'node:crypto';
import { GetJobOutputCommand, type GlacierClient } from '@aws-sdk/client-glacier';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  PutObjectCommand,
  UploadPartCommand,
  type CompletedPart,
  type S3Client,
} from '@aws-sdk/client-s3';
import { GLACIER_LIMITS, S3_LIMITS, jobOutputRangeSize } from '../contract';
import { listUploadedParts, type StoredPart } from '../s3/multipart';
import { loadFileSha256, newFileSha256, type FileSha256 } from '../transfer/file-sha256';
import { checkpointProgress } from '../transfer/progress';
import { coveredRanges, moveRanges, type RangeCheckpoint, type RangeProgress } from '../transfer/ranged-transfer';
import { ChecksumMismatchError, EMPTY_SHA256, MIB, SubtreeStack, TreeHash, TreeHashMismatchError, isPowerOfTwoMiB } from './tree-hash';

export { ChecksumMismatchError, TreeHashMismatchError } from './tree-hash';

/** Ranges double as S3 parts (at least 5 MiB) and must be powers of two MiB to stay tree-hash aligned. */
export const MIN_RANGE_SIZE = 8 * MIB;
/** 10,000 ranges of 4 GiB hold the largest archive a vault takes; S3 parts may be up to 5 GiB. */
export const MAX_RANGE_SIZE = GLACIER_LIMITS.maxPartSizeMiB * MIB;
/**
 * The full-object checksum the S3 upload asks for. Without one, the SDK would still add its default CRC32 to each
 * part of an upload created with no algorithm; S3 wants every part's algorithm to be the upload's.
 */
const UPLOAD_CHECKSUM = { ChecksumAlgorithm: 'CRC64NVME', ChecksumType: 'FULL_OBJECT' } as const;

export interface CopyProgress {
  uploadId: string;
  /** Bytes from the start of the file now in the S3 upload. */
  bytesDone: number;
  /**
   * The whole-file SHA-256 after its first `sha256Bytes` bytes (base64 of hash-wasm's save()), and the archive's
   * tree hash over the same bytes (`treeHashState`): handed back as `resumeSha256`, they spare the next call
   * fetching those ranges again. Absent until the first whole range is copied.
   */
  sha256State?: string;
  /** A multiple of the range size. */
  sha256Bytes?: number;
  /** The roots of the complete subtrees of the archive's tree hash that cover those bytes, left to right (hex). */
  treeHashState?: string;
}

/** What a resumed copy needs to skip the ranges already in S3: the hash states after its first `bytes` bytes. */
export interface CopyCheckpoint {
  /** Base64 of hash-wasm's save() of the whole-file SHA-256. */
  state: string;
  bytes: number;
  treeHashState: string;
}

export type CopyResult =
  { status: 'complete'; size: number; treeHash: string; sha256: string; versionId?: string; etag?: string } | ({ status: 'incomplete' } & CopyProgress);

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
  /**
   * Bytes per GetJobOutput call and S3 part: a power-of-two MiB from 8 MiB to 4 GiB that keeps the archive within
   * 10,000 parts (default jobOutputRangeSize: 64 MiB, doubled for archives over 625 GiB). A resumed copy must use
   * the size its upload started with.
   */
  rangeSize?: number;
  /** An S3 multipart upload a previous call started; its parts are checked and kept where they match. */
  resumeUploadId?: string;
  /**
   * With resumeUploadId, the checkpoint that call reported: the ranges it covers are not fetched again, only
   * confirmed in S3 (ListParts: every part there, of the range's size). One that does not fit is ignored, and every
   * range is fetched and checked again, as without it.
   */
  resumeSha256?: CopyCheckpoint;
  /** Epoch ms by which to return; no range is started that the slowest range so far says would end after it. */
  deadline?: number;
  onProgress?: (progress: CopyProgress) => Promise<void>;
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
    throw new TreeHashMismatchError(`Bytes ${start}-${end} of job ${jobId} hash to ${digest.toString('hex')}, but Glacier sent ${response.checksum}`);
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

/** An S3 part whose ETag is the MD5 of these bytes holds them (ETags of SSE-KMS parts are not MD5s: re-send those). */
const partHolds = (part: StoredPart | undefined, bytes: Buffer) =>
  part !== undefined && part.size === bytes.length && part.etag.replace(/"/g, '') === createHash('md5').update(bytes).digest('hex');

interface ResumePoint {
  sha256: FileSha256;
  treeHash: SubtreeStack;
  /** Ranges from the start already in S3 that are not fetched again. */
  ranges: number;
  checkpoint?: RangeCheckpoint;
}

/**
 * Where a resumed copy picks up: after the ranges its checkpoint covers, when S3 holds every one of them as a part
 * of the range's size; otherwise from the start, fetching every range again.
 */
async function resumePoint(args: CopyArgs, rangeSize: number, stored: Map<number, StoredPart>): Promise<ResumePoint> {
  const fromStart = async (): Promise<ResumePoint> => ({ sha256: await newFileSha256(args.archiveSize), treeHash: new SubtreeStack(), ranges: 0 });
  const saved = args.resumeSha256;
  const ranges = args.resumeUploadId ? coveredRanges(saved, args.archiveSize, rangeSize) : undefined;
  if (!saved || ranges === undefined) return fromStart();
  for (let partNumber = 1; partNumber <= ranges; partNumber++) {
    if (stored.get(partNumber)?.size !== rangeSize) return fromStart();
  }
  const treeHash = SubtreeStack.load(saved.treeHashState, saved.bytes / MIB);
  const sha256 = treeHash && (await loadFileSha256(saved.state));
  if (!treeHash || !sha256) return fromStart();
  return { sha256, treeHash, ranges, checkpoint: { sha256State: saved.state, bytes: saved.bytes, treeHashState: saved.treeHashState } };
}

export async function copyJobOutputToS3(args: CopyArgs): Promise<CopyResult> {
  const { s3, bucket, key, archiveSize: size } = args;
  const rangeSize = args.rangeSize ?? jobOutputRangeSize(size);
  if (!isPowerOfTwoMiB(rangeSize) || rangeSize < MIN_RANGE_SIZE || rangeSize > MAX_RANGE_SIZE) {
    throw new RangeError(`Range size ${rangeSize} is not a power-of-two MiB from 8 MiB to 4 GiB`);
  }
  if (Math.ceil(size / rangeSize) > S3_LIMITS.maxParts) {
    throw new RangeError(`${size} bytes in ranges of ${rangeSize} would need more than ${S3_LIMITS.maxParts} S3 parts`);
  }

  if (size <= rangeSize) {
    // One range: verify it all, then PutObject, so a bad byte never becomes an object.
    // Glacier stores no empty archives, so an empty file has no job to read: it is written from nothing.
    const { bytes, treeHash }: FetchedRange = size > 0 ? await fetchRange(args, 0, size - 1) : { bytes: Buffer.alloc(0), treeHash: EMPTY_SHA256 };
    // Nothing to resume from here, so node:crypto's faster SHA-256 will do.
    const sha256 = createHash('sha256').update(bytes).digest();
    checkWholeFile(args, treeHash.toString('hex'), sha256.toString('hex'));
    const put = await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: bytes, ContentLength: size, ChecksumSHA256: sha256.toString('base64') }));
    return { status: 'complete', size, treeHash: treeHash.toString('hex'), sha256: sha256.toString('hex'), versionId: put.VersionId, etag: put.ETag };
  }

  const uploadId = args.resumeUploadId ?? (await s3.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: key, ...UPLOAD_CHECKSUM }))).UploadId!;
  try {
    const stored = args.resumeUploadId ? await listUploadedParts(s3, { bucket, key, uploadId }) : new Map<number, StoredPart>();
    const rangeLevel = Math.log2(rangeSize / MIB);
    const resumed = await resumePoint(args, rangeSize, stored);
    const { sha256: fileSha256, treeHash: archiveTreeHash } = resumed;
    const parts: CompletedPart[] = [];
    const storedPart = (partNumber: number): CompletedPart => {
      const part = stored.get(partNumber)!;
      return { PartNumber: partNumber, ETag: part.etag, ...(part.checksumCrc64Nvme && { ChecksumCRC64NVME: part.checksumCrc64Nvme }) };
    };
    for (let partNumber = 1; partNumber <= resumed.ranges; partNumber++) parts.push(storedPart(partNumber));
    const progressOf = (moved: RangeProgress): CopyProgress => ({ uploadId, bytesDone: moved.bytesDone, ...checkpointProgress(moved.checkpoint) });
    const moved = await moveRanges({
      size,
      rangeSize,
      firstRange: resumed.ranges,
      checkpoint: resumed.checkpoint,
      deadline: args.deadline,
      now: args.now,
      saveState: () => {
        const state = fileSha256.save();
        return state === undefined ? undefined : { sha256State: state, treeHashState: archiveTreeHash.save() };
      },
      read: async (index, start, end) => {
        const { bytes, treeHash } = await fetchRange(args, start, end);
        fileSha256.update(bytes);
        archiveTreeHash.push(treeHash, rangeLevel);
        const partNumber = index + 1;
        const previous = stored.get(partNumber);
        if (partHolds(previous, bytes)) {
          parts[index] = storedPart(partNumber);
          return {};
        }
        return {
          send: async () => {
            // The SDK computes the part's CRC64NVME (the upload's algorithm) and S3 checks it on receipt.
            const sent = await s3.send(
              new UploadPartCommand({
                Bucket: bucket,
                Key: key,
                UploadId: uploadId,
                PartNumber: partNumber,
                Body: bytes,
                ContentLength: bytes.length,
                ChecksumAlgorithm: UPLOAD_CHECKSUM.ChecksumAlgorithm,
              }),
            );
            parts[index] = { PartNumber: partNumber, ETag: sent.ETag!, ...(sent.ChecksumCRC64NVME && { ChecksumCRC64NVME: sent.ChecksumCRC64NVME }) };
          },
        };
      },
      onProgress: args.onProgress && ((progress) => args.onProgress!(progressOf(progress))),
    });
    if (!moved.complete) return { status: 'incomplete', ...progressOf(moved) };
    const treeHash = archiveTreeHash.digest().toString('hex');
    const sha256 = fileSha256.digestHex();
    checkWholeFile(args, treeHash, sha256);
    const done = await s3.send(
      new CompleteMultipartUploadCommand({
        Bucket: bucket,
        Key: key,
        UploadId: uploadId,
        MultipartUpload: { Parts: parts },
        ChecksumType: UPLOAD_CHECKSUM.ChecksumType,
      }),
    );
    return { status: 'complete', size, treeHash, sha256, versionId: done.VersionId, etag: done.ETag };
  } catch (error) {
    // Bad bytes must never become an object: drop the upload. Other failures leave it for a resumed call.
    if (isIntegrityError(error)) await s3.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId: uploadId }));
    throw error;
  }
}
