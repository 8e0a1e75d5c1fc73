// Archives one plan item's files: streams each into Glacier (or copies it into an S3 Glacier class), records it, then cleans up.
import type { GlacierClient } from '@aws-sdk/client-glacier';
import { DeleteObjectCommand, HeadObjectCommand, PutObjectRetentionCommand, type S3Client } from '@aws-sdk/client-s3';
import { createHash, randomUUID } from 'node:crypto';
import { addDuration, archiveObjectKey, partSizeFor, S3_LIMITS, s3PartSizeFor, sizeBytes, vaultPartsInFlight, type Tier } from '../contract';
import type { WorkItem } from './plan-archive';
import { uploadToVault, type UploadProgress, type UploadResult } from '../glacier/vault-upload';
import { pinnedSource } from '../s3/byte-source';
import { abortStrayS3Uploads, pickUpVaultUpload } from './stray-uploads';
import { COPY_CHECKSUM_ALGORITHM, PERMANENT_COPY_ERRORS, verifiedCopy } from '../s3/verified-copy';
import { checkpointCleared, progressChanges, recordedCheckpoint } from '../transfer/progress';
import { describeWorkflowError, type WorkflowError } from '../runtime/workflow-error';
import { CLAIM_SLACK_MS, FileClaimedError, StateConflictError, type FileRecord, type RunIndex } from '../index/run-index';

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
  /** Who claims the item's files (default: a fresh id for this call, so every invocation is its own worker). */
  claimOwner?: string;
  now?: () => Date;
}

export interface ItemResult {
  /** `incomplete`: the deadline came first; calling again with the same item resumes where this stopped. */
  status: 'complete' | 'incomplete';
  archived: number;
  failed: number;
}

/** Errors that retrying cannot fix: the file is marked FAILED with the reason and the item goes on. */
export const PERMANENT_ERRORS: ReadonlySet<string> = new Set([
  'NoSuchKey',
  'NotFound',
  'PreconditionFailed',
  'AccessDenied',
  'InvalidObjectState',
  'InvalidParameterValueException',
  // An account Glacier no longer serves (vaults closed to new customers): AWS's message says to use the storage classes.
  'NoLongerSupportedException',
  'TreeHashMismatch',
  'SourceChanged',
  'SourceTooLarge',
  'KeyTooLong',
  'KeyTooLongError',
  ...PERMANENT_COPY_ERRORS,
]);

type ClaimingArgs = ArchiveItemArgs & { claimOwner: string };

/**
 * Claims the file for this worker and marks it UPLOADING with `fields`, in one conditional write. Returns the record
 * as it now is (a previous worker may have got further than the record read before), or `archived` when another
 * worker finished it meanwhile.
 */
async function claimForTransfer(args: ClaimingArgs, path: string, fields: Parameters<RunIndex['claimFile']>[3]): Promise<FileRecord | 'archived'> {
  const claim = { owner: args.claimOwner, expiresAt: args.deadline + CLAIM_SLACK_MS, now: Date.now() };
  const outcome = await args.index.claimFile(args.runUuid, path, claim, fields);
  if ('claimed' in outcome) return outcome.claimed;
  if ('heldBy' in outcome) throw new FileClaimedError(`file ${path}`, outcome.heldBy);
  if (outcome.settled?.state === 'ARCHIVED') return 'archived';
  throw new StateConflictError(`file ${path} of run ${args.runUuid} is ${outcome.settled?.state ?? 'not in the index'}, not to be archived`);
}

/** The fields that end a claim, written with the file's outcome. */
export const CLAIM_ENDED = { claimOwner: null, claimExpiresAt: null } as const;

/** A file-level failure no retry can fix; its name is one of PERMANENT_ERRORS. */
class PermanentFileError extends Error {
  constructor(name: 'SourceChanged' | 'KeyTooLong', message: string) {
    super(message);
    this.name = name;
  }
}

/**
 * Parts held in memory at once: two overlap reading and uploading, but parts of 1 GiB and more go one at a time. The
 * contract says so, because the configuration's partSizeMiB is checked against the memory this takes.
 */
export function partConcurrency(partSize: number): number {
  return vaultPartsInFlight(partSize);
}

export const NO_VAULT = 'the tier archives to a Glacier vault, but the stack has none (VAULT_NAME is not set): redeploy, the stack creates one';

/** Records an upload's progress with its SHA-256 checkpoint (transfer/progress.ts says how). */
async function recordProgress(args: ArchiveItemArgs, path: string, progress: UploadProgress): Promise<void> {
  await args.index.updateFile(args.runUuid, path, ['UPLOADING'], progressChanges(progress, { treeHash: false }));
}

async function archiveToVault(args: ClaimingArgs, planned: FileRecord): Promise<'done' | 'incomplete'> {
  const vaultName = args.vaultName;
  if (!vaultName) throw new Error(NO_VAULT);
  const partSize = planned.partSize ?? partSizeFor(args.tier, planned.size);
  const record = await claimForTransfer(args, planned.path, {
    state: 'UPLOADING',
    target: 'glacier-vault',
    vaultName,
    partSize,
    failureReason: null,
  });
  if (record === 'archived') return 'done';
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
      singleRequest: false,
      // The intent is recorded before the archive exists, so a crash after it never leaves an archive nobody can name.
      onCompleting: async (intent) => {
        await args.index.updateFile(args.runUuid, record.path, ['UPLOADING'], {
          uploadId: intent.uploadId,
          completingTreeHash: intent.treeHash,
          completingSha256: intent.sha256,
        });
      },
    });
  const recorded = async (result: { archiveId: string | null; treeHash: string; sha256: string; size: number }) => {
    await args.index.updateFile(args.runUuid, record.path, ['UPLOADING'], {
      state: 'ARCHIVED',
      ...checkpointCleared({ treeHash: false }),
      ...CLAIM_ENDED,
      completingTreeHash: null,
      completingSha256: null,
      archiveId: result.archiveId ?? undefined,
      treeHash: result.treeHash,
      sha256: result.sha256,
      size: result.size,
      partSize,
      archivedAt: (args.now ?? (() => new Date()))().toISOString(),
    });
    return 'done' as const;
  };
  const prior = await pickUpVaultUpload(args.glacier, vaultName, archiveDescription(args.runUuid, record.path), record, record.size, partSize);
  if ('completed' in prior) return recorded(prior.completed);
  const { resumeUploadId } = prior;
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
  return recorded(result);
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
async function archiveToS3Glacier(args: ClaimingArgs, planned: FileRecord): Promise<'done' | 'incomplete'> {
  let record = planned;
  const target = args.tier.target;
  if (target.type !== 's3-glacier') throw new Error('not an s3-glacier tier');
  if (!args.archiveBucket) throw new Error('the tier targets s3-glacier but the stack has no archive bucket');
  const archiveKey = archiveObjectKey(args.runUuid, record.path);
  const keyBytes = Buffer.byteLength(archiveKey);
  if (keyBytes > S3_LIMITS.maxKeyBytes) {
    // Said before any copy starts; the source stays where it is and the run ends PARTIAL, naming the file.
    throw new PermanentFileError(
      'KeyTooLong',
      `its archive key in ${args.archiveBucket} (runs/${args.runUuid}/ and the path) would be ${keyBytes} bytes, and S3 keys are at most ` +
        `${S3_LIMITS.maxKeyBytes}: the source is kept where it is (a glacier-vault tier can take it)`,
    );
  }
  const partSize = record.uploadId && record.partSize ? record.partSize : s3PartSizeFor(target, record.size);
  const claimed = await claimForTransfer(args, record.path, {
    state: 'UPLOADING',
    target: 's3-glacier',
    partSize,
    failureReason: null,
  });
  if (claimed === 'archived') return 'done';
  record = claimed;
  if ((record.attempts ?? 0) > 1) await abortStrayS3Uploads(args.s3, args.archiveBucket, archiveKey, { keep: record.uploadId });
  const kept = { crc64: true };
  // Whatever hash states were saved go back with the upload; the copy checks they are the ones it needs.
  const checkpoint =
    record.sha256Bytes !== undefined ? { bytes: record.sha256Bytes, sha256State: record.sha256State, crc64State: record.crc64State } : undefined;
  const result = await verifiedCopy({
    s3: args.s3,
    source: { bucket: record.sourceBucket, key: record.sourceKey, size: record.size, etag: record.etag },
    destination: { bucket: args.archiveBucket, key: archiveKey, storageClass: target.storageClass, metadata: { 'run-uuid': args.runUuid } },
    multipartAbove: sizeBytes(target.multipartAbove),
    partSize,
    sha256: target.sha256,
    removeBadCopy: true,
    resume: record.uploadId
      ? {
          uploadId: record.uploadId,
          checkpoint,
          ...(record.completingCrc64nvme && { completing: { crc64nvme: record.completingCrc64nvme, sha256: record.completingSha256 } }),
        }
      : undefined,
    // A copy made by an attempt that crashed before recording it is found and recorded, not made twice.
    adoptExisting: true,
    onCompleting: async (intent) => {
      await args.index.updateFile(args.runUuid, record.path, ['UPLOADING'], { completingCrc64nvme: intent.crc64nvme, completingSha256: intent.sha256 });
    },
    deadline: args.deadline - DEADLINE_MARGIN_MS,
    onProgress: (progress) => args.index.updateFile(args.runUuid, record.path, ['UPLOADING'], progressChanges(progress, kept)).then(() => undefined),
  });
  if (result.status === 'incomplete') {
    await args.index.updateFile(args.runUuid, record.path, ['UPLOADING'], progressChanges(result, kept));
    return 'incomplete';
  }
  const archivedAt = (args.now ?? (() => new Date()))();
  const retention = await retainCopy({ ...args, archiveBucket: args.archiveBucket }, archiveKey, result.versionId, archivedAt);
  await args.index.updateFile(args.runUuid, record.path, ['UPLOADING'], {
    ...retention,
    state: 'ARCHIVED',
    ...checkpointCleared(kept),
    ...CLAIM_ENDED,
    completingCrc64nvme: null,
    completingSha256: null,
    uploadId: null,
    archiveBucket: args.archiveBucket,
    archiveKey,
    // An unversioned bucket answers "null"; it names no version, so none is recorded.
    archiveVersionId: result.versionId === 'null' ? undefined : result.versionId,
    storageClass: target.storageClass,
    checksumAlgorithm: COPY_CHECKSUM_ALGORITHM,
    checksum: result.crc64nvme,
    copyMethod: result.method,
    copyParts: result.parts,
    sha256: result.sha256,
    archivedAt: archivedAt.toISOString(),
  });
  return 'done';
}

/**
 * Puts the tier's Object Lock retention (`retainFor`) on the verified copy's version. Only after verification: a copy
 * that failed it must stay deletable (removeBadCopy), which a COMPLIANCE retention set with the copy would forbid.
 */
export async function retainCopy(
  args: Pick<ArchiveItemArgs, 's3' | 'tier'> & { archiveBucket: string },
  archiveKey: string,
  versionId: string | undefined,
  archivedAt: Date,
): Promise<{ retentionMode: 'GOVERNANCE' | 'COMPLIANCE'; retainUntil: string } | undefined> {
  const target = args.tier.target;
  if (target.type !== 's3-glacier' || target.retainFor === undefined) return undefined;
  const mode = target.retentionMode ?? 'GOVERNANCE';
  const until = addDuration(archivedAt, target.retainFor);
  await args.s3.send(
    new PutObjectRetentionCommand({
      Bucket: args.archiveBucket,
      Key: archiveKey,
      VersionId: versionId === 'null' ? undefined : versionId,
      Retention: { Mode: mode, RetainUntilDate: until },
    }),
  );
  return { retentionMode: mode, retainUntil: until.toISOString() };
}

/** Deletes the source of an archived file, unless it changed since it was archived. Idempotent. */
export async function removeSource(
  args: Pick<ArchiveItemArgs, 's3' | 'index' | 'runUuid'>,
  record: Pick<FileRecord, 'path' | 'sourceBucket' | 'sourceKey' | 'etag'>,
): Promise<void> {
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

export function reasonOf(error: unknown): string {
  const e = error as Error;
  return `${e.name}: ${e.message}`.slice(0, 1000);
}

/** Archives every file of the item that is not archived yet; per-file failures are recorded, not thrown. */
export async function archiveItem(itemArgs: ArchiveItemArgs): Promise<ItemResult> {
  const args: ClaimingArgs = { ...itemArgs, claimOwner: itemArgs.claimOwner ?? randomUUID() };
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
        if (outcome === 'incomplete') {
          // The next invocation is another worker: it must not wait for this claim to expire.
          await args.index.releaseFile(args.runUuid, record.path, args.claimOwner);
          return { ...result, status: 'incomplete' };
        }
        archived = await args.index.getFile(args.runUuid, planned.path);
      } catch (error) {
        if (!PERMANENT_ERRORS.has((error as Error).name)) {
          if (!(error instanceof FileClaimedError)) await args.index.releaseFile(args.runUuid, record.path, args.claimOwner).catch(() => undefined);
          throw error;
        }
        await args.index.updateFile(args.runUuid, record.path, ['PENDING', 'UPLOADING', 'FAILED'], {
          state: 'FAILED',
          failureReason: reasonOf(error),
          ...CLAIM_ENDED,
        });
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
export async function recordItemFailure(index: RunIndex, runUuid: string, item: WorkItem, error: WorkflowError, now = Date.now()): Promise<number> {
  const failureReason = describeWorkflowError(error, 1000);
  let marked = 0;
  // Archived or kept files stay as they are, and so do files a live worker still holds: it records their outcome.
  for (const file of item.files) if (await index.failUnclaimedFile(runUuid, file.path, failureReason, now)) marked++;
  return marked;
}
