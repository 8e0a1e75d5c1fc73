// Copies one S3 object server-side, any size S3 allows, verified by its CRC64NVME: archives into a Glacier class, restores out.
//
// At or below `multipartAbove` one CopyObject; above it a multipart copy (UploadPartCopy), several parts in flight,
// stopping before the deadline and resuming from the recorded upload id and ListParts. Either way S3 computes a
// full-object CRC64NVME of the copy, which must equal the source's: the one S3 reports for the source (HeadObject
// with ChecksumMode), or, where the source has none (composite checksums of multipart uploads, older objects), one
// computed here by streaming the source once. The bytes pass through Lambda only for that, or for the SHA-256.
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  HeadObjectCommand,
  UploadPartCopyCommand,
  type CompletedPart,
  type S3Client,
  type StorageClass,
} from '@aws-sdk/client-s3';
import { ERROR_NAMES, S3_LIMITS } from '../contract';
import { loadFileSha256, newFileSha256, type FileSha256 } from '../transfer/file-sha256';
import { checkpointProgress, type TransferProgress } from '../transfer/progress';
import { loadCrc64Nvme, newCrc64Nvme, type RunningCrc64Nvme } from '../transfer/crc64nvme';
import { coveredRanges, moveRanges, rangeCount, type RangeCheckpoint, type RangeProgress } from '../transfer/ranged-transfer';
import { s3ByteSource, type ByteSource } from './byte-source';
import { listUploadedParts, type StoredPart } from './multipart';
import { copySource } from './uri';

/** The checksum the archive is verified and recorded by. */
export const COPY_CHECKSUM_ALGORITHM = 'CRC64NVME';

/** A copy no retry can fix; the name is one the archive step treats as permanent. */
export class CopyRefusedError extends Error {
  constructor(name: typeof ERROR_NAMES.sourceTooLarge | typeof ERROR_NAMES.checksumMismatch, message: string) {
    super(message);
    this.name = name;
  }
}

export interface VerifiedCopyArgs {
  s3: S3Client;
  /** Pinned by ETag (CopySourceIfMatch) and, where given, by version. */
  source: { bucket: string; key: string; size: number; etag?: string; versionId?: string };
  destination: { bucket: string; key: string; storageClass: StorageClass; metadata?: Record<string, string> };
  /** Largest size copied with one CopyObject (at most 5 GiB). */
  multipartAbove: number;
  /** Part size of a multipart copy (5 MiB to 5 GiB). */
  partSize: number;
  /** Compute the whole file's SHA-256 (reading every byte once). */
  sha256: boolean;
  /** The CRC64NVME the file must have (a restore: the one the index recorded at archive time). */
  expectedCrc64nvme?: string;
  /**
   * Delete a copy whose checksum does not match (the archive bucket: nothing unverified may stay there). A restore
   * never deletes at its destination, so there the copy is left, and the error says where it is.
   */
  removeBadCopy: boolean;
  /** Parts copied at once (default 8): they move inside S3, so Lambda holds none of their bytes. */
  concurrency?: number;
  /** A multipart copy a previous call started, with the checkpoint it reported. */
  resume?: { uploadId: string; checkpoint?: RangeCheckpoint; completing?: CopyCompletionIntent };
  /**
   * Look for a copy an earlier attempt made but did not live to record (a crash after CopyObject or after
   * CompleteMultipartUpload): one at the destination with the expected checksum and metadata is taken as the copy.
   */
  adoptExisting?: boolean;
  /** Called before CompleteMultipartUpload with what identifies the copy it makes: record it, and resume can adopt it. */
  onCompleting?: (intent: CopyCompletionIntent) => Promise<void>;
  /** Epoch ms by which to return. */
  deadline?: number;
  onProgress?: (progress: TransferProgress) => Promise<void>;
  now?: () => number;
}

/** What a multipart copy about to complete will be: its checksum, and the SHA-256 read on the way (if any). */
export interface CopyCompletionIntent {
  crc64nvme: string;
  sha256?: string;
}

/**
 * The copy already at the destination, when it is this one: the expected full-object CRC64NVME, the metadata this copy
 * would carry, and the expected SHA-256 where one is recorded. Anything else (nothing there, or another object) is not.
 */
async function existingCopy(
  args: VerifiedCopyArgs,
  expected: string,
  sha256: string | undefined,
): Promise<{ versionId?: string; sha256?: string } | undefined> {
  let head;
  try {
    head = await args.s3.send(new HeadObjectCommand({ Bucket: args.destination.bucket, Key: args.destination.key, ChecksumMode: 'ENABLED' }));
  } catch (error) {
    if ((error as Error).name === 'NotFound' || (error as Error).name === 'NoSuchKey') return undefined;
    throw error;
  }
  if (head.ChecksumCRC64NVME !== expected || head.ChecksumType === 'COMPOSITE') return undefined;
  if (head.StorageClass !== undefined && head.StorageClass !== args.destination.storageClass) return undefined;
  for (const [name, value] of Object.entries(args.destination.metadata ?? {})) if (head.Metadata?.[name] !== value) return undefined;
  const recorded = head.Metadata?.sha256 ?? sha256;
  if (args.sha256 && (recorded === undefined || (sha256 !== undefined && recorded !== sha256))) return undefined;
  return { versionId: head.VersionId, sha256: args.sha256 ? recorded : undefined };
}

export type VerifiedCopyResult =
  | {
      status: 'complete';
      versionId?: string;
      /** Base64, as S3 reports it; equal on the source and the copy. */
      crc64nvme: string;
      /** Where the source's CRC64NVME came from: S3's own, or computed here by reading the source. */
      sourceChecksum: 's3' | 'computed';
      sha256?: string;
      method: 'single' | 'multipart';
      parts: number;
      /** The copy an earlier attempt made and did not record, found at the destination and taken as it is. */
      adopted?: boolean;
      /** Bytes of the file read through Lambda (0 when S3 had the checksum and no SHA-256 is asked for). */
      bytesRead: number;
    }
  | ({ status: 'incomplete' } & TransferProgress);

/** The source's full-object CRC64NVME as S3 reports it, pinned to the planned ETag; undefined when it has none. */
async function sourceChecksum(args: VerifiedCopyArgs): Promise<string | undefined> {
  const head = await args.s3.send(
    new HeadObjectCommand({
      Bucket: args.source.bucket,
      Key: args.source.key,
      VersionId: args.source.versionId,
      IfMatch: args.source.etag,
      ChecksumMode: 'ENABLED',
    }),
  );
  // CRC64NVME exists only as a full-object checksum; a COMPOSITE one (of parts) would not compare with the copy's.
  if (head.ChecksumCRC64NVME && head.ChecksumType !== 'COMPOSITE') return head.ChecksumCRC64NVME;
  return undefined;
}

/** The hashes a copy computes by reading the source, and whether their state can be saved between invocations. */
interface Reader {
  sha256?: FileSha256;
  crc64?: RunningCrc64Nvme;
  bytesRead: number;
}

const feed = async (reader: Reader, source: ByteSource, start: number, end: number) => {
  for await (const chunk of await source.read(start, end)) {
    reader.sha256?.update(chunk);
    reader.crc64?.update(chunk);
    reader.bytesRead += chunk.length;
  }
};

async function freshReader(args: VerifiedCopyArgs, needsCrc: boolean): Promise<Reader> {
  return {
    ...(args.sha256 && { sha256: await newFileSha256(args.source.size) }),
    ...(needsCrc && { crc64: await newCrc64Nvme() }),
    bytesRead: 0,
  };
}

/** The checksum the copy must have: the source's as S3 reports it or as read here, which must be the recorded one too. */
function expectedChecksum(args: VerifiedCopyArgs, fromS3: string | undefined, reader: Reader): string {
  const source = fromS3 ?? reader.crc64!.digestBase64();
  if (args.expectedCrc64nvme !== undefined && source !== args.expectedCrc64nvme) {
    throw new CopyRefusedError(
      ERROR_NAMES.checksumMismatch,
      `s3://${args.source.bucket}/${args.source.key} reads with CRC64NVME ${source}, ${args.expectedCrc64nvme} was recorded; the copy was abandoned`,
    );
  }
  return source;
}

function mismatch(args: VerifiedCopyArgs, copied: string | undefined, expected: string, versionId: string | undefined): CopyRefusedError {
  const copy = `s3://${args.destination.bucket}/${args.destination.key}${versionId ? ` (version ${versionId})` : ''}`;
  return new CopyRefusedError(
    ERROR_NAMES.checksumMismatch,
    `the copy of s3://${args.source.bucket}/${args.source.key} has CRC64NVME ${copied ?? '(none reported)'}, the source ${expected}; ` +
      (args.removeBadCopy ? 'the copy was removed' : `the copy at ${copy} is not the file: delete it`),
  );
}

async function copyWhole(args: VerifiedCopyArgs, fromS3: string | undefined): Promise<VerifiedCopyResult> {
  const reader = await freshReader(args, fromS3 === undefined);
  if ((reader.sha256 || reader.crc64) && args.source.size > 0) await feed(reader, pinned(args), 0, args.source.size - 1);
  const sha256 = reader.sha256?.digestHex();
  const expected = expectedChecksum(args, fromS3, reader);
  const adopted = args.adoptExisting ? await existingCopy(args, expected, sha256) : undefined;
  if (adopted) {
    return {
      status: 'complete',
      versionId: adopted.versionId,
      crc64nvme: expected,
      sourceChecksum: fromS3 ? 's3' : 'computed',
      ...(adopted.sha256 && { sha256: adopted.sha256 }),
      method: 'single',
      parts: 1,
      bytesRead: reader.bytesRead,
      adopted: true,
    };
  }
  const copied = await args.s3.send(
    new CopyObjectCommand({
      Bucket: args.destination.bucket,
      Key: args.destination.key,
      CopySource: copySource(args.source.bucket, args.source.key, args.source.versionId),
      CopySourceIfMatch: args.source.etag,
      StorageClass: args.destination.storageClass,
      MetadataDirective: 'REPLACE',
      Metadata: { ...args.destination.metadata, ...(sha256 && { sha256 }) },
      ChecksumAlgorithm: COPY_CHECKSUM_ALGORITHM,
    }),
  );
  const crc = copied.CopyObjectResult?.ChecksumCRC64NVME;
  if (crc !== expected) {
    await removeCopy(args, copied.VersionId);
    throw mismatch(args, crc, expected, copied.VersionId);
  }
  return {
    status: 'complete',
    versionId: copied.VersionId,
    crc64nvme: crc,
    sourceChecksum: fromS3 ? 's3' : 'computed',
    ...(sha256 && { sha256 }),
    method: 'single',
    parts: 1,
    bytesRead: reader.bytesRead,
  };
}

/** A copy that failed verification is deleted (that version only) where the caller allows it. */
async function removeCopy(args: VerifiedCopyArgs, versionId: string | undefined): Promise<void> {
  if (!args.removeBadCopy) return;
  await args.s3.send(new DeleteObjectCommand({ Bucket: args.destination.bucket, Key: args.destination.key, VersionId: versionId }));
}

const pinned = (args: VerifiedCopyArgs) =>
  s3ByteSource(args.s3, args.source.bucket, args.source.key, args.source.size, { etag: args.source.etag, versionId: args.source.versionId });

/**
 * Where a resumed copy's hashing picks up: after the parts its checkpoint covers, when every one of them is in the
 * upload at the part size and every state loads; otherwise from the start (parts already copied are not copied
 * again, only read again where a hash needs their bytes).
 */
async function resumeReader(
  args: VerifiedCopyArgs,
  needsCrc: boolean,
  stored: Map<number, StoredPart>,
): Promise<{ reader: Reader; ranges: number; checkpoint?: RangeCheckpoint }> {
  const fromStart = async () => ({ reader: await freshReader(args, needsCrc), ranges: 0 });
  if (!args.sha256 && !needsCrc) return fromStart();
  const saved = args.resume?.checkpoint;
  const ranges = coveredRanges(saved, args.source.size, args.partSize);
  if (!saved || ranges === undefined) return fromStart();
  for (let partNumber = 1; partNumber <= ranges; partNumber++) if (stored.get(partNumber)?.size !== args.partSize) return fromStart();
  const sha256 = args.sha256 && saved.sha256State !== undefined ? await loadFileSha256(saved.sha256State) : undefined;
  const crc64 = needsCrc && saved.crc64State !== undefined ? await loadCrc64Nvme(saved.crc64State) : undefined;
  if ((args.sha256 && !sha256) || (needsCrc && !crc64)) return fromStart();
  return { reader: { ...(sha256 && { sha256 }), ...(crc64 && { crc64 }), bytesRead: 0 }, ranges, checkpoint: saved };
}

async function copyInParts(args: VerifiedCopyArgs, fromS3: string | undefined): Promise<VerifiedCopyResult> {
  const { s3, source, destination, partSize } = args;
  const needsCrc = fromS3 === undefined;
  let uploadId = args.resume?.uploadId;
  let stored = new Map<number, StoredPart>();
  if (uploadId) {
    try {
      stored = await listUploadedParts(s3, { bucket: destination.bucket, key: destination.key, uploadId });
    } catch (error) {
      // The recorded upload is gone: completed by an attempt that crashed before recording it (adopt the copy it made),
      // or aborted, or cleaned up by the bucket's lifecycle (start afresh).
      if ((error as Error).name !== 'NoSuchUpload') throw error;
      const intent = args.resume?.completing;
      const adopted = intent && args.adoptExisting ? await existingCopy(args, intent.crc64nvme, intent.sha256) : undefined;
      if (adopted && intent) {
        return {
          status: 'complete',
          versionId: adopted.versionId,
          crc64nvme: intent.crc64nvme,
          sourceChecksum: fromS3 ? 's3' : 'computed',
          ...(adopted.sha256 && { sha256: adopted.sha256 }),
          method: 'multipart',
          parts: rangeCount(source.size, partSize),
          bytesRead: 0,
          adopted: true,
        };
      }
      uploadId = undefined;
    }
  }
  uploadId ??= (
    await s3.send(
      new CreateMultipartUploadCommand({
        Bucket: destination.bucket,
        Key: destination.key,
        StorageClass: destination.storageClass,
        Metadata: destination.metadata,
        ChecksumAlgorithm: COPY_CHECKSUM_ALGORITHM,
        ChecksumType: 'FULL_OBJECT',
      }),
    )
  ).UploadId!;
  const upload = { bucket: destination.bucket, key: destination.key, uploadId };
  let completed = false;
  try {
    const resumed = await resumeReader(args, needsCrc, args.resume?.uploadId === uploadId ? stored : new Map<number, StoredPart>());
    const { reader } = resumed;
    const hashing = Boolean(reader.sha256 || reader.crc64);
    const source_ = pinned(args);
    const parts: CompletedPart[] = new Array<CompletedPart>(rangeCount(source.size, partSize));
    for (const [partNumber, part] of stored) {
      if (partNumber <= parts.length) parts[partNumber - 1] = { PartNumber: partNumber, ETag: part.etag, ChecksumCRC64NVME: part.checksumCrc64Nvme };
    }
    const progressOf = (moved: RangeProgress): TransferProgress => ({
      uploadId: upload.uploadId,
      partsDone: moved.rangesDone,
      bytesDone: moved.bytesDone,
      ...checkpointProgress(moved.checkpoint),
    });
    const moved = await moveRanges({
      size: source.size,
      rangeSize: partSize,
      firstRange: resumed.ranges,
      checkpoint: resumed.checkpoint,
      concurrency: args.concurrency ?? 8,
      deadline: args.deadline,
      now: args.now,
      saveState: () => {
        if (!hashing) return undefined;
        const sha256State = reader.sha256?.save();
        if (reader.sha256 && sha256State === undefined) return undefined; // a SHA-256 that cannot be saved: no checkpoint
        return { ...(sha256State !== undefined && { sha256State }), ...(reader.crc64 && { crc64State: reader.crc64.save() }) };
      },
      read: async (index, start, end) => {
        if (hashing) await feed(reader, source_, start, end);
        const partNumber = index + 1;
        if (stored.get(partNumber)?.size === end - start + 1) return {}; // copied by an earlier call, from the same pinned source
        return {
          send: async () => {
            const copied = await s3.send(
              new UploadPartCopyCommand({
                Bucket: upload.bucket,
                Key: upload.key,
                UploadId: upload.uploadId,
                PartNumber: partNumber,
                CopySource: copySource(source.bucket, source.key, source.versionId),
                CopySourceIfMatch: source.etag,
                CopySourceRange: `bytes=${start}-${end}`,
              }),
            );
            parts[index] = { PartNumber: partNumber, ETag: copied.CopyPartResult?.ETag, ChecksumCRC64NVME: copied.CopyPartResult?.ChecksumCRC64NVME };
          },
        };
      },
      onProgress: args.onProgress && ((progress) => args.onProgress!(progressOf(progress))),
    });
    if (!moved.complete) return { status: 'incomplete', ...progressOf(moved) };
    const sha256 = reader.sha256?.digestHex();
    const expected = expectedChecksum(args, fromS3, reader);
    await args.onCompleting?.({ crc64nvme: expected, ...(sha256 && { sha256 }) });
    const done = await s3.send(
      new CompleteMultipartUploadCommand({
        Bucket: upload.bucket,
        Key: upload.key,
        UploadId: upload.uploadId,
        MultipartUpload: { Parts: parts },
        // Naming the expected full-object checksum lets S3 itself refuse a copy whose bytes differ.
        ChecksumType: 'FULL_OBJECT',
        ChecksumCRC64NVME: expected,
      }),
    );
    completed = true;
    if (done.ChecksumCRC64NVME !== expected) {
      await removeCopy(args, done.VersionId);
      throw mismatch(args, done.ChecksumCRC64NVME, expected, done.VersionId);
    }
    return {
      status: 'complete',
      versionId: done.VersionId,
      crc64nvme: expected,
      sourceChecksum: fromS3 ? 's3' : 'computed',
      ...(sha256 && { sha256 }),
      method: 'multipart',
      parts: parts.length,
      bytesRead: reader.bytesRead,
    };
  } catch (error) {
    // A failure no retry fixes leaves no incomplete upload behind (the bucket's lifecycle is only the backstop).
    if (!completed && isPermanentCopyError(error)) await abortQuietly(s3, upload);
    throw error;
  }
}

/** Aborts a multipart upload that can never complete; the failure that matters is the copy's, so this one's is not thrown. */
async function abortQuietly(s3: S3Client, upload: { bucket: string; key: string; uploadId: string }): Promise<void> {
  try {
    await s3.send(new AbortMultipartUploadCommand({ Bucket: upload.bucket, Key: upload.key, UploadId: upload.uploadId }));
  } catch {
    // The archive bucket's lifecycle removes incomplete uploads after a few days if this did not.
  }
}

/** Errors after which the multipart upload can never complete: the source changed or went, or the checksum disagreed. */
export const PERMANENT_COPY_ERRORS = new Set([
  'NoSuchKey',
  'NotFound',
  'PreconditionFailed',
  'AccessDenied',
  'InvalidObjectState',
  'InvalidRequest',
  'InvalidPart',
  'BadDigest',
  ERROR_NAMES.checksumMismatch,
]);
const isPermanentCopyError = (error: unknown) => PERMANENT_COPY_ERRORS.has((error as Error).name);

export async function verifiedCopy(args: VerifiedCopyArgs): Promise<VerifiedCopyResult> {
  const { size } = args.source;
  if (size > S3_LIMITS.maxObjectBytes) {
    throw new CopyRefusedError(
      ERROR_NAMES.sourceTooLarge,
      `file is ${size} bytes; S3 objects are at most ${S3_LIMITS.maxObjectBytes} bytes (10,000 parts of 5 GiB)`,
    );
  }
  if (args.multipartAbove > S3_LIMITS.maxSingleCopyBytes || args.multipartAbove < S3_LIMITS.minPartBytes) {
    throw new RangeError(`multipartAbove ${args.multipartAbove} is outside 5 MiB to 5 GiB`);
  }
  if (args.partSize < S3_LIMITS.minPartBytes || args.partSize > S3_LIMITS.maxPartBytes || rangeCount(size, args.partSize) > S3_LIMITS.maxParts) {
    throw new RangeError(`part size ${args.partSize} is outside 5 MiB to 5 GiB or needs more than 10,000 parts for ${size} bytes`);
  }
  if (args.concurrency !== undefined && !(Number.isInteger(args.concurrency) && args.concurrency >= 1)) {
    throw new RangeError(`Concurrency must be a positive integer (got ${args.concurrency})`);
  }
  let fromS3: string | undefined;
  try {
    fromS3 = await sourceChecksum(args);
    if (args.expectedCrc64nvme !== undefined && fromS3 !== undefined && fromS3 !== args.expectedCrc64nvme) {
      throw new CopyRefusedError(
        ERROR_NAMES.checksumMismatch,
        `s3://${args.source.bucket}/${args.source.key} has CRC64NVME ${fromS3}, ${args.expectedCrc64nvme} was recorded; ${args.resume ? 'the copy under way was abandoned' : 'nothing was copied'}`,
      );
    }
  } catch (error) {
    // A resumed copy whose source changed or went can never complete: its recorded upload goes too.
    if (args.resume && isPermanentCopyError(error))
      await abortQuietly(args.s3, { bucket: args.destination.bucket, key: args.destination.key, uploadId: args.resume.uploadId });
    throw error;
  }
  return size <= args.multipartAbove && !args.resume ? copyWhole(args, fromS3) : copyInParts(args, fromS3);
}
