// Writes a stream of bytes Lambda makes (a bundle's tar) into one S3 object, in parts, verified by its full-object CRC64NVME, resumable.
//
// Up to one part: one PutObject naming the CRC64NVME computed on the way, so S3 refuses other bytes (BadDigest).
// Larger: a multipart upload asking for a FULL_OBJECT CRC64NVME, a few parts in flight (each holds its bytes until S3
// has them), completed with the CRC64NVME of every byte, which S3 checks against the object it assembles. A resumed
// upload reads the source from the start again (there is no checkpoint to skip it: a bundle's source is cheap to read
// and its members' SHA-256s need every byte), keeps each part S3 already holds whose ETag is the MD5 of the bytes, and
// sends the rest. An upload completed by an attempt that crashed before recording it is found and adopted.
import { createHash } from 'node:crypto';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  HeadObjectCommand,
  PutObjectCommand,
  UploadPartCommand,
  type CompletedPart,
  type S3Client,
  type StorageClass,
} from '@aws-sdk/client-s3';
import { ERROR_NAMES, S3_LIMITS } from '../contract';
import { newCrc64Nvme } from '../transfer/crc64nvme';
import { moveRanges, rangeCount, type RangeProgress } from '../transfer/ranged-transfer';
import type { ByteSource } from './byte-source';
import { listUploadedParts, type StoredPart } from './multipart';

export interface SourceUploadArgs {
  s3: S3Client;
  bucket: string;
  key: string;
  storageClass: StorageClass;
  metadata?: Record<string, string>;
  source: ByteSource;
  /** 5 MiB to 5 GiB; a source of at most this many bytes goes in one PutObject. */
  partSize: number;
  /** Parts read and sent at once (default 2). */
  concurrency?: number;
  /** The multipart upload a previous call started, and the checksum it was about to complete with (if it got that far). */
  resume?: { uploadId: string; completingCrc64nvme?: string };
  /** Look for the object a crashed attempt wrote but did not record (its CRC64NVME is this source's): taken as the upload. */
  adoptExisting?: boolean;
  /** Called with the object's CRC64NVME before the request that creates the object (PutObject or CompleteMultipartUpload). */
  onCompleting?: (intent: { uploadId?: string; crc64nvme: string }) => Promise<void>;
  onProgress?: (progress: SourceUploadProgress) => Promise<void>;
  deadline?: number;
  now?: () => number;
}

export interface SourceUploadProgress {
  uploadId: string;
  partsDone: number;
  bytesDone: number;
}

export type SourceUploadResult =
  | { status: 'complete'; versionId?: string; crc64nvme: string; method: 'single' | 'multipart'; parts: number; adopted?: boolean }
  | ({ status: 'incomplete' } & SourceUploadProgress);

/** S3 answered with another checksum than the bytes sent: nothing was (or, for a completed upload, should be) kept. */
export class UploadChecksumMismatch extends Error {
  constructor(message: string) {
    super(message);
    this.name = ERROR_NAMES.checksumMismatch;
  }
}

/** Errors after which the upload can never complete: its source is not what was planned, or S3 refused the bytes. */
const PERMANENT = new Set([
  'NoSuchKey',
  'NotFound',
  'PreconditionFailed',
  'AccessDenied',
  ERROR_NAMES.sourceChanged,
  'InvalidPart',
  'BadDigest',
  ERROR_NAMES.checksumMismatch,
]);

async function readAll(source: ByteSource, start: number, end: number): Promise<Buffer> {
  const bytes = Buffer.allocUnsafe(end - start + 1);
  let filled = 0;
  for await (const chunk of await source.read(start, end)) {
    if (filled + chunk.length > bytes.length) throw new Error(`the source gave more than the ${bytes.length} bytes asked for at ${start}`);
    bytes.set(chunk, filled);
    filled += chunk.length;
  }
  if (filled !== bytes.length) throw new Error(`the source gave ${filled} of the ${bytes.length} bytes asked for at ${start}`);
  return bytes;
}

/** The object at the key, when it is the one this upload makes: the expected full-object CRC64NVME and storage class. */
async function existingObject(args: SourceUploadArgs, crc64nvme: string): Promise<{ versionId?: string } | undefined> {
  let head;
  try {
    head = await args.s3.send(new HeadObjectCommand({ Bucket: args.bucket, Key: args.key, ChecksumMode: 'ENABLED' }));
  } catch (error) {
    if ((error as Error).name === 'NotFound' || (error as Error).name === 'NoSuchKey') return undefined;
    throw error;
  }
  if (head.ChecksumCRC64NVME !== crc64nvme || head.ChecksumType === 'COMPOSITE') return undefined;
  if (head.StorageClass !== undefined && head.StorageClass !== args.storageClass) return undefined;
  return { versionId: head.VersionId };
}

const partHolds = (part: StoredPart | undefined, bytes: Buffer) =>
  part !== undefined && part.size === bytes.length && part.etag.replace(/"/g, '') === createHash('md5').update(bytes).digest('hex');

async function uploadWhole(args: SourceUploadArgs): Promise<SourceUploadResult> {
  const bytes = args.source.size > 0 ? await readAll(args.source, 0, args.source.size - 1) : Buffer.alloc(0);
  const crc = await newCrc64Nvme();
  crc.update(bytes);
  const crc64nvme = crc.digestBase64();
  // Said before the object may exist, whether it is written now or was by an attempt that crashed before recording it.
  await args.onCompleting?.({ crc64nvme });
  const adopted = args.adoptExisting ? await existingObject(args, crc64nvme) : undefined;
  if (adopted) return { status: 'complete', versionId: adopted.versionId, crc64nvme, method: 'single', parts: 1, adopted: true };
  const put = await args.s3.send(
    new PutObjectCommand({
      Bucket: args.bucket,
      Key: args.key,
      Body: bytes,
      ContentLength: bytes.length,
      StorageClass: args.storageClass,
      Metadata: args.metadata,
      // Named, so S3 refuses the object if the bytes it received hash otherwise (BadDigest).
      ChecksumCRC64NVME: crc64nvme,
    }),
  );
  if (put.ChecksumCRC64NVME !== undefined && put.ChecksumCRC64NVME !== crc64nvme) {
    throw new UploadChecksumMismatch(`s3://${args.bucket}/${args.key} was stored with CRC64NVME ${put.ChecksumCRC64NVME}, the bytes sent have ${crc64nvme}`);
  }
  return { status: 'complete', versionId: put.VersionId, crc64nvme, method: 'single', parts: 1 };
}

async function abortQuietly(args: SourceUploadArgs, uploadId: string): Promise<void> {
  try {
    await args.s3.send(new AbortMultipartUploadCommand({ Bucket: args.bucket, Key: args.key, UploadId: uploadId }));
  } catch {
    // The bucket's lifecycle rule removes incomplete uploads after a few days if this did not.
  }
}

async function uploadInParts(args: SourceUploadArgs): Promise<SourceUploadResult> {
  const { s3, bucket, key, source, partSize } = args;
  const partCount = rangeCount(source.size, partSize);
  let uploadId = args.resume?.uploadId;
  let stored = new Map<number, StoredPart>();
  if (uploadId) {
    try {
      stored = await listUploadedParts(s3, { bucket, key, uploadId });
    } catch (error) {
      // Gone: completed by an attempt that crashed before recording it (adopt what it made), aborted or expired.
      if ((error as Error).name !== 'NoSuchUpload') throw error;
      const intended = args.resume?.completingCrc64nvme;
      const adopted = intended ? await existingObject(args, intended) : undefined;
      if (adopted && intended)
        return { status: 'complete', versionId: adopted.versionId, crc64nvme: intended, method: 'multipart', parts: partCount, adopted: true };
      uploadId = undefined;
      stored = new Map();
    }
  }
  uploadId ??= (
    await s3.send(
      new CreateMultipartUploadCommand({
        Bucket: bucket,
        Key: key,
        StorageClass: args.storageClass,
        Metadata: args.metadata,
        ChecksumAlgorithm: 'CRC64NVME',
        ChecksumType: 'FULL_OBJECT',
      }),
    )
  ).UploadId!;
  const upload = uploadId;
  const crc = await newCrc64Nvme();
  const parts: CompletedPart[] = new Array<CompletedPart>(partCount);
  const progressOf = (moved: RangeProgress): SourceUploadProgress => ({ uploadId: upload, partsDone: moved.rangesDone, bytesDone: moved.bytesDone });
  let completing = false;
  try {
    const moved = await moveRanges({
      size: source.size,
      rangeSize: partSize,
      concurrency: args.concurrency ?? 2,
      deadline: args.deadline,
      now: args.now,
      read: async (index, start, end) => {
        const bytes = await readAll(source, start, end);
        crc.update(bytes);
        const partNumber = index + 1;
        const previous = stored.get(partNumber);
        if (partHolds(previous, bytes)) {
          parts[index] = {
            PartNumber: partNumber,
            ETag: previous!.etag,
            ...(previous!.checksumCrc64Nvme && { ChecksumCRC64NVME: previous!.checksumCrc64Nvme }),
          };
          return {};
        }
        return {
          send: async () => {
            // The SDK computes the part's CRC64NVME (the upload's algorithm), which S3 checks on receipt.
            const sent = await s3.send(
              new UploadPartCommand({
                Bucket: bucket,
                Key: key,
                UploadId: upload,
                PartNumber: partNumber,
                Body: bytes,
                ContentLength: bytes.length,
                ChecksumAlgorithm: 'CRC64NVME',
              }),
            );
            parts[index] = { PartNumber: partNumber, ETag: sent.ETag!, ...(sent.ChecksumCRC64NVME && { ChecksumCRC64NVME: sent.ChecksumCRC64NVME }) };
          },
        };
      },
      onProgress: args.onProgress && ((progress) => args.onProgress!(progressOf(progress))),
    });
    if (!moved.complete) return { status: 'incomplete', ...progressOf(moved) };
    const crc64nvme = crc.digestBase64();
    await args.onCompleting?.({ uploadId: upload, crc64nvme });
    completing = true;
    const done = await s3.send(
      new CompleteMultipartUploadCommand({
        Bucket: bucket,
        Key: key,
        UploadId: upload,
        MultipartUpload: { Parts: parts },
        // Named, so S3 itself refuses to assemble an object whose bytes are not the ones read here.
        ChecksumType: 'FULL_OBJECT',
        ChecksumCRC64NVME: crc64nvme,
      }),
    );
    if (done.ChecksumCRC64NVME !== undefined && done.ChecksumCRC64NVME !== crc64nvme) {
      throw new UploadChecksumMismatch(`s3://${bucket}/${key} was completed with CRC64NVME ${done.ChecksumCRC64NVME}, the bytes sent have ${crc64nvme}`);
    }
    return { status: 'complete', versionId: done.VersionId, crc64nvme, method: 'multipart', parts: partCount };
  } catch (error) {
    // An upload that can never complete is not left behind (the bucket's lifecycle is only the backstop).
    if (!completing && PERMANENT.has((error as Error).name)) await abortQuietly(args, upload);
    throw error;
  }
}

export async function uploadSourceToS3(args: SourceUploadArgs): Promise<SourceUploadResult> {
  const { partSize, source } = args;
  if (partSize < S3_LIMITS.minPartBytes || partSize > S3_LIMITS.maxPartBytes || rangeCount(source.size, partSize) > S3_LIMITS.maxParts) {
    throw new RangeError(`part size ${partSize} is outside 5 MiB to 5 GiB or needs more than 10,000 parts for ${source.size} bytes`);
  }
  return source.size <= partSize && !args.resume ? uploadWhole(args) : uploadInParts(args);
}
