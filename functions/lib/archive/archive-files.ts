// Archives one plan item's files: streams each into Glacier (or copies it into an S3 Glacier class), records it, then cleans up.
import type { GlacierClient } from '@aws-sdk/client-glacier';
import { DeleteObjectCommand, HeadObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { createHash } from 'node:crypto';
import { archiveObjectKey, partSizeFor, s3PartSizeFor, sizeBytes, type Tier } from '../contract';
import type { WorkItem } from './plan-archive';
import { uploadToVault, type UploadProgress, type UploadResult } from '../glacier/vault-upload';
import { pinnedSource } from '../s3/byte-source';
import { COPY_CHECKSUM_ALGORITHM, PERMANENT_COPY_ERRORS, verifiedCopy } from '../s3/verified-copy';
import { checkpointCleared, progressChanges, recordedCheckpoint } from '../transfer/progress';
import { describeWorkflowError, type WorkflowError } from '../runtime/workflow-error';
import { StateConflictError, type FileRecord, type RunIndex } from '../index/run-index';

/** Time kept back from the Lambda deadline to record progress and return. */
export const DEADLINE_MARGIN_MS = 30_000;

export interface ArchiveItemArgs {
  s3: S3Client;
  glacier: GlacierClient;
  index: RunIndex;
  /** Absent when the stack has no vault (every tier targets s3-glacier). */
  vaultName?: string;
  archiveBucket?: string;
  runUuid: string;
  item: WorkItem;
  tier: Pick<Tier, 'target' | 'deleteSources' | 'partSizeMiB'>;
  /** Epoch ms by which the invocation must have returned. */
  deadline: number;
  now?: () => Date;
}

export interface ItemResult {
  /** `incomplete`: the deadline came first; calling again with the same item resumes where this stopped. */
  status: 'complete' | 'incomplete';
  archived: number;
  failed: number;
}

/** Errors that retrying cannot fix: the file is marked FAILED with the reason and the item goes on. */
const PERMANENT_ERRORS = new Set([
  'NoSuchKey',
  'NotFound',
  'PreconditionFailed',
  'AccessDenied',
  'InvalidObjectState',
  'InvalidParameterValueException',
  'TreeHashMismatch',
  'SourceChanged',
  'SourceTooLarge',
  ...PERMANENT_COPY_ERRORS,
]);

/** A file-level failure no retry can fix; its name is one of PERMANENT_ERRORS. */
class PermanentFileError extends Error {
  constructor(name: 'SourceChanged', message: string) {
    super(message);
    this.name = name;
  }
}

/**
 * Parts held in memory at once: two overlap reading and uploading, but parts of 1 GiB and more (files over 10 TiB)
 * go one at a time, so the function's 1,769 MB always holds them.
 */
export function partConcurrency(partSize: number): number {
  return partSize >= 1024 * 1024 * 1024 ? 1 : 2;
}

const NO_VAULT = 'the tier archives to a Glacier vault, but the stack has none (VAULT_NAME is not set): redeploy, the stack creates one';

/** Records an upload's progress with its SHA-256 checkpoint (transfer/progress.ts says how). */
async function recordProgress(args: ArchiveItemArgs, path: string, progress: UploadProgress): Promise<void> {
  await args.index.updateFile(args.runUuid, path, ['UPLOADING'], progressChanges(progress, { treeHash: false }));
}

async function archiveToVault(args: ArchiveItemArgs, record: FileRecord): Promise<'done' | 'incomplete'> {
  const vaultName = args.vaultName;
  if (!vaultName) throw new Error(NO_VAULT);
  const partSize = record.partSize ?? partSizeFor(args.tier, record.size);
  await args.index.updateFile(args.runUuid, record.path, ['PENDING', 'UPLOADING', 'FAILED'], {
    state: 'UPLOADING',
    target: 'glacier-vault',
    vaultName,
    partSize,
    failureReason: null,
  });
  const upload = (resumeUploadId: string | undefined, resumeSha256: { state: string; bytes: number } | undefined) =>
    uploadToVault({
      glacier: args.glacier,
      vaultName,
      source: pinnedSource(args.s3, record),
      partSize,
      // Glacier keeps the description with the archive: enough to know what it is even without the index.
      description: archiveDescription(args.runUuid, record.path),
      resumeUploadId,
      resumeSha256,
      concurrency: partConcurrency(partSize),
      deadline: args.deadline - DEADLINE_MARGIN_MS,
      onProgress: (progress) => recordProgress(args, record.path, progress),
    });
  const resumeUploadId = record.partSize === partSize ? record.uploadId : undefined;
  // The checkpoint belongs to the recorded upload: it goes back only with it (so only with its part size).
  const checkpoint = resumeUploadId ? recordedCheckpoint(record, { treeHash: false }) : undefined;
  const resumeSha256 = checkpoint?.sha256State !== undefined ? { state: checkpoint.sha256State, bytes: checkpoint.bytes } : undefined;
  let result: UploadResult;
  try {
    result = await upload(resumeUploadId, resumeSha256);
  } catch (error) {
    // The recorded upload is gone (aborted, or expired while the item waited): resuming can never work, so start afresh.
    if (!resumeUploadId || (error as Error).name !== 'ResourceNotFoundException') throw error;
    result = await upload(undefined, undefined);
  }
  if (result.status === 'incomplete') {
    // Progress reports come per finished part; an upload the deadline stopped before its first part is recorded here.
    await recordProgress(args, record.path, result);
    return 'incomplete';
  }
  await args.index.updateFile(args.runUuid, record.path, ['UPLOADING'], {
    state: 'ARCHIVED',
    ...checkpointCleared({ treeHash: false }),
    archiveId: result.archiveId ?? undefined,
    treeHash: result.treeHash,
    sha256: result.sha256,
    size: result.size,
    partSize: result.partSize,
    archivedAt: (args.now ?? (() => new Date()))().toISOString(),
  });
  return 'done';
}

/** Glacier archive descriptions must be printable ASCII of at most 1,024 characters. */
export function archiveDescription(runUuid: string, path: string): string {
  const ascii = JSON.stringify({ runUuid, path }).replace(/[^\x20-\x7e]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  return ascii.length <= 1024 ? ascii : JSON.stringify({ runUuid, pathSha256: createHash('sha256').update(path).digest('hex') });
}

/**
 * Copies the file into the tier's storage class server-side (functions/lib/s3/verified-copy.ts): one CopyObject
 * up to `multipartAbove`, a resumable multipart copy above it; verified by S3's CRC64NVME before it counts.
 */
async function archiveToS3Glacier(args: ArchiveItemArgs, record: FileRecord): Promise<'done' | 'incomplete'> {
  const target = args.tier.target;
  if (target.type !== 's3-glacier') throw new Error('not an s3-glacier tier');
  if (!args.archiveBucket) throw new Error('the tier targets s3-glacier but the stack has no archive bucket');
  const partSize = record.uploadId && record.partSize ? record.partSize : s3PartSizeFor(target, record.size);
  await args.index.updateFile(args.runUuid, record.path, ['PENDING', 'UPLOADING', 'FAILED'], {
    state: 'UPLOADING',
    target: 's3-glacier',
    partSize,
    failureReason: null,
  });
  const kept = { crc64: true };
  // Whatever hash states were saved go back with the upload; the copy checks they are the ones it needs.
  const checkpoint =
    record.sha256Bytes !== undefined ? { bytes: record.sha256Bytes, sha256State: record.sha256State, crc64State: record.crc64State } : undefined;
  const archiveKey = archiveObjectKey(args.runUuid, record.path);
  const result = await verifiedCopy({
    s3: args.s3,
    source: { bucket: record.sourceBucket, key: record.sourceKey, size: record.size, etag: record.etag },
    destination: { bucket: args.archiveBucket, key: archiveKey, storageClass: target.storageClass, metadata: { 'run-uuid': args.runUuid } },
    multipartAbove: sizeBytes(target.multipartAbove),
    partSize,
    sha256: target.sha256,
    removeBadCopy: true,
    resume: record.uploadId ? { uploadId: record.uploadId, checkpoint } : undefined,
    deadline: args.deadline - DEADLINE_MARGIN_MS,
    onProgress: (progress) => args.index.updateFile(args.runUuid, record.path, ['UPLOADING'], progressChanges(progress, kept)).then(() => undefined),
  });
  if (result.status === 'incomplete') {
    await args.index.updateFile(args.runUuid, record.path, ['UPLOADING'], progressChanges(result, kept));
    return 'incomplete';
  }
  await args.index.updateFile(args.runUuid, record.path, ['UPLOADING'], {
    state: 'ARCHIVED',
    ...checkpointCleared(kept),
    uploadId: null,
    archiveBucket: args.archiveBucket,
    archiveKey,
    archiveVersionId: result.versionId,
    storageClass: target.storageClass,
    checksumAlgorithm: COPY_CHECKSUM_ALGORITHM,
    checksum: result.crc64nvme,
    copyMethod: result.method,
    copyParts: result.parts,
    sha256: result.sha256,
    archivedAt: (args.now ?? (() => new Date()))().toISOString(),
  });
  return 'done';
}

/** Deletes the source of an archived file, unless it changed since it was archived. Idempotent. */
async function removeSource(args: ArchiveItemArgs, record: FileRecord): Promise<void> {
  let head;
  try {
    head = await args.s3.send(new HeadObjectCommand({ Bucket: record.sourceBucket, Key: record.sourceKey }));
  } catch (error) {
    if ((error as Error).name !== 'NotFound' && (error as Error).name !== 'NoSuchKey') throw error;
  }
  if (head) {
    if (record.etag && head.ETag !== record.etag) {
      throw new PermanentFileError(
        'SourceChanged',
        `${record.sourceKey} changed after it was archived (ETag ${head.ETag}, archived ${record.etag}); it is kept`,
      );
    }
    // Delete the version that was archived, so a versioned bucket keeps no hidden copy to pay for.
    await args.s3.send(new DeleteObjectCommand({ Bucket: record.sourceBucket, Key: record.sourceKey, VersionId: head.VersionId }));
  }
  await args.index.markSourceDeleted(args.runUuid, record.path);
}

function reasonOf(error: unknown): string {
  const e = error as Error;
  return `${e.name}: ${e.message}`.slice(0, 1000);
}

/** Archives every file of the item that is not archived yet; per-file failures are recorded, not thrown. */
export async function archiveItem(args: ArchiveItemArgs): Promise<ItemResult> {
  const result: ItemResult = { status: 'complete', archived: 0, failed: 0 };
  if (args.tier.target.type === 'glacier-vault' && !args.vaultName) throw new Error(NO_VAULT);
  for (const planned of args.item.files) {
    const record = await args.index.getFile(args.runUuid, planned.path);
    if (!record) throw new Error(`file ${planned.path} of run ${args.runUuid} was planned but is not in the index`);
    if (record.action !== 'archive') continue;
    let archived = record.state === 'ARCHIVED' ? record : undefined;
    if (!archived) {
      if (Date.now() > args.deadline - DEADLINE_MARGIN_MS) return { ...result, status: 'incomplete' };
      try {
        const outcome = args.tier.target.type === 'glacier-vault' ? await archiveToVault(args, record) : await archiveToS3Glacier(args, record);
        if (outcome === 'incomplete') return { ...result, status: 'incomplete' };
        archived = await args.index.getFile(args.runUuid, planned.path);
      } catch (error) {
        if (!PERMANENT_ERRORS.has((error as Error).name)) throw error;
        await args.index.updateFile(args.runUuid, record.path, ['PENDING', 'UPLOADING', 'FAILED'], { state: 'FAILED', failureReason: reasonOf(error) });
        result.failed++;
        continue;
      }
    }
    result.archived++;
    if (args.tier.deleteSources && archived && !archived.sourceDeleted) {
      try {
        await removeSource(args, archived);
      } catch (error) {
        if (!PERMANENT_ERRORS.has((error as Error).name)) throw error;
        // The archive stands; the source stays and the record says why.
        await args.index.updateFile(args.runUuid, record.path, ['ARCHIVED'], { failureReason: `source not removed: ${reasonOf(error)}` });
      }
    }
  }
  return result;
}

/** After the workflow gave up on an item: its unfinished files become FAILED with the workflow's error. */
export async function recordItemFailure(index: RunIndex, runUuid: string, item: WorkItem, error: WorkflowError): Promise<number> {
  const failureReason = describeWorkflowError(error, 1000);
  let marked = 0;
  for (const file of item.files) {
    try {
      await index.updateFile(runUuid, file.path, ['PENDING', 'UPLOADING', 'FAILED'], {
        state: 'FAILED',
        failureReason,
      });
      marked++;
    } catch (e) {
      if (!(e instanceof StateConflictError)) throw e; // archived or kept files stay as they are
    }
  }
  return marked;
}
