// The last step of a file's restore: its retrieved bytes copied to the destination, verified, and the file marked RESTORED.
import type { GlacierClient } from '@aws-sdk/client-glacier';
import { CopyObjectCommand, GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { createHash, randomUUID } from 'node:crypto';
import { ERROR_NAMES, s3PartSizeFor, type RestoreItem, type Retrieval } from '../contract';
import { copyJobOutputToS3 } from '../glacier/job-output-copy';
import { copyBundleMembers } from './bundle-restore';
import { CLAIM_SLACK_MS, FileClaimedError, type RestoreFileRecord, type RunIndex } from '../index/run-index';
import { copySource } from '../s3/uri';
import { verifiedCopy } from '../s3/verified-copy';
import { checkpointCleared, progressChanges, recordedCheckpoint } from '../transfer/progress';

/** `failureReason`: the copy finished but this file could not be restored (a bundle member that failed its check). */
export type CopyOutcome = { status: 'complete'; size: number; sha256: string; failureReason?: string } | { status: 'incomplete'; bytesDone: number };

export interface CopyRestoredFileArgs {
  glacier: GlacierClient;
  s3: S3Client;
  index: RunIndex;
  item: RestoreItem;
  deadline: number;
  /** Who claims the copy (default: a fresh id for this call). */
  claimOwner?: string;
}

/** The archived bytes are not the recorded ones; nothing is written to the destination. */
export class RestoredChecksumMismatch extends Error {
  constructor(message: string) {
    super(message);
    this.name = ERROR_NAMES.checksumMismatch;
  }
}

async function sha256OfObject(s3: S3Client, bucket: string, key: string, versionId?: string): Promise<string> {
  const { Body } = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key, VersionId: versionId }));
  const hash = createHash('sha256');
  for await (const chunk of (Body as AsyncIterable<Uint8Array>) ?? []) hash.update(chunk);
  return hash.digest('hex');
}

type Copier = (args: CopyRestoredFileArgs, record: RestoreFileRecord | undefined) => Promise<CopyOutcome>;

/** A vault job's output, range by range with every tree hash checked, resumable across invocations. */
const copyJobOutput: Copier = async ({ glacier, s3, index, item, deadline }, record) => {
  if (!record?.jobId) throw new Error(`no retrieval job recorded for ${item.path}`);
  const checkpoint = recordedCheckpoint(record, { treeHash: true });
  const result = await copyJobOutputToS3({
    glacier,
    vaultName: item.vaultName ?? '',
    jobId: record.jobId,
    archiveSize: item.size,
    expectedTreeHash: item.treeHash ?? '',
    expectedSha256: item.sha256,
    s3,
    bucket: item.destinationBucket,
    key: item.destinationKey,
    resumeUploadId: record.uploadId,
    // The checkpoint belongs to the recorded upload: it goes back only with it.
    resumeSha256:
      checkpoint?.sha256State !== undefined && checkpoint.treeHashState !== undefined
        ? { state: checkpoint.sha256State, bytes: checkpoint.bytes, treeHashState: checkpoint.treeHashState }
        : undefined,
    deadline,
    onProgress: async (progress) => {
      await index.updateRestoreFile(item.runUuid, item.restoreId, item.path, progressChanges(progress, { treeHash: true }));
    },
  }).catch((error: unknown) => expiredJob(error, index, item, record));
  if (result.status === 'incomplete') {
    // Progress reports come per range; a copy the deadline stopped before its first range is recorded here.
    await index.updateRestoreFile(item.runUuid, item.restoreId, item.path, progressChanges(result, { treeHash: true }));
    return { status: 'incomplete', bytesDone: result.bytesDone };
  }
  return { status: 'complete', size: result.size, sha256: result.sha256 };
};

/** New retrievals started for one file whose job output kept expiring before its copy finished; then it fails. */
export const MAX_EXPIRED_JOBS = 3;

/** A retrieval whose job output Glacier no longer has (it keeps it about 24 hours); the workflow starts another. */
export class RetrievalExpiredError extends Error {
  constructor(message: string) {
    super(message);
    this.name = ERROR_NAMES.retrievalExpired;
  }
}

/**
 * GetJobOutput answers ResourceNotFoundException once the job's output has expired (a copy that waited behind
 * throttling or a paused workflow for a day). The bytes are still in the vault: "Request archive retrieval" starts a
 * new job (DescribeJob no longer finds the old one) and the copy resumes its upload, the new output being the same
 * archive. A few times at most, then the file fails with the reason.
 */
async function expiredJob(error: unknown, index: RunIndex, item: RestoreItem, record: RestoreFileRecord): Promise<never> {
  if ((error as Error).name !== 'ResourceNotFoundException') throw error;
  const expired = (record.expiredJobs ?? 0) + 1;
  const what = `the output of Glacier job ${record.jobId} for ${item.path} expired before it was copied`;
  if (expired > MAX_EXPIRED_JOBS) {
    const failed = new Error(`${what}, the ${expired}th retrieval of it to expire: given up (Glacier keeps job output about 24 hours)`);
    failed.name = ERROR_NAMES.retrievalFailed;
    throw failed;
  }
  await index.updateRestoreFile(item.runUuid, item.restoreId, item.path, { expiredJobs: expired });
  throw new RetrievalExpiredError(`${what}: a new retrieval is started and the copy resumes where it stopped`);
}

/**
 * A restored (or instantly readable) object in the archive bucket, copied server-side (multipart above 1 GiB,
 * resumable), verified by the CRC64NVME recorded when it was archived; or an empty file. Objects archived before the
 * index recorded checksums are verified by reading their SHA-256 first.
 */
const copyArchivedObject: Copier = async ({ s3, index, item, deadline }, record) => {
  if (item.size === 0) {
    await s3.send(new PutObjectCommand({ Bucket: item.destinationBucket, Key: item.destinationKey, Body: new Uint8Array(0) }));
    return { status: 'complete', size: 0, sha256: createHash('sha256').digest('hex') };
  }
  // Every file archived with a CRC64NVME is copied and verified by S3's checksums, so no byte passes through Lambda.
  if (!item.crc64nvme) return copyBySha256(s3, item);
  const kept = { crc64: true };
  const result = await verifiedCopy({
    s3,
    source: {
      bucket: item.archiveBucket ?? '',
      key: item.archiveKey ?? '',
      size: item.size,
      versionId: item.archiveVersionId === 'null' ? undefined : item.archiveVersionId,
    },
    destination: { bucket: item.destinationBucket, key: item.destinationKey, storageClass: 'STANDARD' },
    multipartAbove: RESTORE_MULTIPART_ABOVE,
    partSize: s3PartSizeFor({}, item.size),
    sha256: false,
    expectedCrc64nvme: item.crc64nvme,
    removeBadCopy: false,
    resume: record?.uploadId ? { uploadId: record.uploadId } : undefined,
    deadline,
    onProgress: async (progress) => {
      await index.updateRestoreFile(item.runUuid, item.restoreId, item.path, progressChanges(progress, kept));
    },
  });
  if (result.status === 'incomplete') {
    await index.updateRestoreFile(item.runUuid, item.restoreId, item.path, progressChanges(result, kept));
    return { status: 'incomplete', bytesDone: result.bytesDone };
  }
  return { status: 'complete', size: item.size, sha256: item.sha256 ?? '' };
};

/** Restored copies up to this size are copied with one CopyObject; larger ones in parts, in parallel. */
const RESTORE_MULTIPART_ABOVE = 1024 ** 3;

async function copyBySha256(s3: S3Client, item: RestoreItem): Promise<CopyOutcome> {
  // Verify first, then copy that very version server-side: the destination only ever receives the recorded bytes.
  const sha256 = await sha256OfObject(s3, item.archiveBucket ?? '', item.archiveKey ?? '', item.archiveVersionId);
  if (item.sha256 && sha256 !== item.sha256) {
    throw new RestoredChecksumMismatch(`the archived copy of ${item.path} has SHA-256 ${sha256}, the index recorded ${item.sha256}; nothing was written`);
  }
  await s3.send(
    new CopyObjectCommand({
      Bucket: item.destinationBucket,
      Key: item.destinationKey,
      CopySource: copySource(item.archiveBucket ?? '', item.archiveKey ?? '', item.archiveVersionId),
      StorageClass: 'STANDARD',
    }),
  );
  return { status: 'complete', size: item.size, sha256 };
}

/** A bundle's members, from its vault job (whose output may have expired: retrieved again) or its restored object. */
const copyBundle: Copier = async (args, record) => {
  try {
    return await copyBundleMembers(args, record!);
  } catch (error) {
    if (args.item.retrieval !== 'vault-job') throw error;
    return expiredJob(error, args.index, args.item, record!);
  }
};

/** How each kind of retrieval is copied out; an empty file (no archive at all) is written from nothing. */
const COPIERS: Record<Retrieval, Copier> = { 'vault-job': copyJobOutput, 's3-restore': copyArchivedObject, none: copyArchivedObject };

/** Copies one retrieved file to its destination, verified; resumable for vault jobs. Marks it RESTORED when done. */
export async function copyRestoredFile(args: CopyRestoredFileArgs): Promise<CopyOutcome> {
  const { item, index } = args;
  const done: CopyOutcome = { status: 'complete', size: item.size, sha256: item.sha256 ?? '' };
  const found = await index.getRestoreFile(item.runUuid, item.restoreId, item.path);
  if (found?.state === 'RESTORED') return done;
  // One worker copies a file at a time (a retry may overlap an invocation still running): the claim lasts until this
  // invocation's deadline and a little, after which Lambda has ended it.
  const owner = args.claimOwner ?? randomUUID();
  const claim = await index.claimRestoreFile(item.runUuid, item.restoreId, item.path, { owner, expiresAt: args.deadline + CLAIM_SLACK_MS, now: Date.now() });
  if ('heldBy' in claim) throw new FileClaimedError(`the copy of ${item.path}`, claim.heldBy);
  if ('settled' in claim) {
    if (claim.settled?.state === 'RESTORED') return done;
    throw new Error(`restore file ${item.path} of ${item.restoreId} is not in the index`);
  }
  let outcome: CopyOutcome;
  try {
    // A bundle's members come back together, from the one retrieval this item made (bundle-restore.ts).
    const record = claim.claimed;
    outcome = item.bundle ? await copyBundle(args, record) : await COPIERS[item.retrieval](args, record);
  } catch (error) {
    await index.releaseRestoreFile(item.runUuid, item.restoreId, item.path, owner).catch(() => undefined);
    throw error;
  }
  if (outcome.status === 'incomplete') {
    await index.releaseRestoreFile(item.runUuid, item.restoreId, item.path, owner);
    return outcome;
  }
  await index.updateRestoreFile(item.runUuid, item.restoreId, item.path, {
    ...(outcome.failureReason
      ? { state: 'FAILED', failureReason: outcome.failureReason }
      : { state: 'RESTORED', bytesDone: outcome.size, restoredAt: new Date().toISOString() }),
    taskToken: null,
    claimOwner: null,
    claimExpiresAt: null,
    ...checkpointCleared({ treeHash: true, crc64: true }),
  });
  return outcome;
}
