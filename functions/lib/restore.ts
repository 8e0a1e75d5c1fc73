// The restore workflow's domain: resolve a request against the index, retrieve each archive, copy it back verified, record it.
import {
  DescribeJobCommand,
  InitiateJobCommand,
  ResourceNotFoundException as GlacierNotFound,
  type GlacierClient,
} from '@aws-sdk/client-glacier';
import {
  CopyObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  PutObjectCommand,
  RestoreObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { SendTaskFailureCommand, SendTaskSuccessCommand, type SFNClient } from '@aws-sdk/client-sfn';
import { Upload } from '@aws-sdk/lib-storage';
import { createHash } from 'node:crypto';
import picomatch from 'picomatch';
import { z } from 'zod';
import { RESTORE_TIERS, type ArchiverConfig, type RestoreTier } from '../../stacks/config';
import { parseS3Uri } from './archive-plan';
import { copyJobOutputToS3, type CopyProgress } from './glacier-retrieval';
import { describeWorkflowError, type WorkflowError } from './workflow-error';
import { StateConflictError, restoreFileKeyOf, type FileRecord, type RestoreFileRecord, type RunIndex, type RunRecord } from './run-index';

/** A request the workflow cannot act on; the execution fails at once with this error's name and message. */
export class RestoreRequestError extends Error {
  constructor(name: 'RunNotFound' | 'AmbiguousRun' | 'NoMatchingFiles' | 'FileNotArchived' | 'BadDestination' | 'BadRestoreRequest', message: string) {
    super(message);
    this.name = name;
  }
}

/** What an operator asks for, from the console or `omics-archiver restore`. */
export const RestoreRequestSchema = z
  .object({
    /** Run id or uuid; `runId` and `runUuid` are accepted too. */
    run: z.string().min(1).optional(),
    runId: z.string().regex(/^\d+$/).optional(),
    runUuid: z.string().min(1).optional(),
    /** Globs over paths in the run's output folder, with or without the leading `out/`; absent: every archived file. */
    files: z.array(z.string().min(1)).min(1).optional(),
    tier: z.enum(RESTORE_TIERS).optional(),
    /** `s3://bucket/prefix/`; absent: each file's original location. */
    destination: z.string().optional(),
    /** How long to wait for the vault's job notification before polling (seconds); defaults by tier. */
    notificationWaitSeconds: z.number().int().min(1).max(86400 * 2).optional(),
    /** How often to poll once the notification wait is over (seconds); defaults by tier. */
    pollSeconds: z.number().int().min(1).max(86400).optional(),
  })
  .strict()
  .refine((r) => r.run ?? r.runId ?? r.runUuid, { message: 'name the run: "run" (its id or uuid), "runId" or "runUuid"' });
export type RestoreRequest = z.infer<typeof RestoreRequestSchema>;

/** Glacier's documented retrieval times, with margin: how long to wait for the notification, then how often to poll. */
export const TIER_TIMING: Record<RestoreTier, { notificationWaitSeconds: number; pollSeconds: number }> = {
  Expedited: { notificationWaitSeconds: 15 * 60, pollSeconds: 60 },
  Standard: { notificationWaitSeconds: 6 * 3600, pollSeconds: 15 * 60 },
  Bulk: { notificationWaitSeconds: 13 * 3600, pollSeconds: 30 * 60 },
};

/** How a file comes back: a vault job, an S3 restore of a Glacier-class object, or nothing to retrieve. */
export type Retrieval = 'vault-job' | 's3-restore' | 'none';

/** One Map item: everything needed to bring one file back, so no step has to read the run again. */
export const RestoreItemSchema = z.object({
  runUuid: z.string().min(1),
  restoreId: z.string().min(1),
  path: z.string().min(1),
  size: z.number().int().nonnegative(),
  retrieval: z.enum(['vault-job', 's3-restore', 'none']),
  tier: z.enum(RESTORE_TIERS),
  sha256: z.string().optional(),
  treeHash: z.string().optional(),
  vaultName: z.string().optional(),
  archiveId: z.string().optional(),
  archiveBucket: z.string().optional(),
  archiveKey: z.string().optional(),
  archiveVersionId: z.string().optional(),
  storageClass: z.string().optional(),
  destinationBucket: z.string().min(1),
  destinationKey: z.string().min(1),
  notificationWaitSeconds: z.number().int().positive(),
  pollSeconds: z.number().int().positive(),
});
export type RestoreItem = z.infer<typeof RestoreItemSchema>;

export interface RestorePlan {
  restoreId: string;
  runUuid: string;
  runId: string;
  tier: RestoreTier;
  destination: string;
  fileCount: number;
  itemsBucket: string;
  itemsKey: string;
  concurrency: number;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const ARCHIVED_STATES = ['ARCHIVED', 'PARTIAL', 'DELETING', 'RUN_DELETED'];

/** Finds the run a request names. A run id can name several runs (ids are reused); then the archived one, or ask for the uuid. */
export async function resolveRun(index: RunIndex, ref: string): Promise<RunRecord> {
  if (UUID.test(ref)) {
    const run = await index.getRun(ref);
    if (!run) throw new RestoreRequestError('RunNotFound', `no run with uuid ${ref} is in the archive index`);
    return run;
  }
  if (!/^\d+$/.test(ref)) throw new RestoreRequestError('BadRestoreRequest', `"${ref}" is neither a run id (digits) nor a run uuid`);
  const runs = await index.findRunsById(ref);
  if (!runs.length) throw new RestoreRequestError('RunNotFound', `no run with id ${ref} is in the archive index`);
  if (runs.length === 1) return runs[0];
  const archived = runs.filter((r) => ARCHIVED_STATES.includes(r.archiveState));
  if (archived.length === 1) return archived[0];
  throw new RestoreRequestError(
    'AmbiguousRun',
    `run id ${ref} has been used by ${runs.length} runs (HealthOmics reuses ids): ${runs.map((r) => `${r.runUuid} (${r.archiveState}, stopped ${r.stopTime})`).join(', ')}; give the uuid`,
  );
}

/** Matches globs against the index path (`out/...`) and the path inside the outputs folder, as users know it. */
function pathMatcher(globs: string[] | undefined): (path: string) => boolean {
  if (!globs) return () => true;
  const match = picomatch(globs, { dot: true });
  return (path) => match(path) || (path.startsWith('out/') && match(path.slice(4)));
}

function retrievalOf(file: FileRecord): Retrieval {
  if (file.size === 0) return 'none';
  if (file.target === 's3-glacier') return file.storageClass === 'GLACIER_IR' ? 'none' : 's3-restore';
  return 'vault-job';
}

export interface PlanRestoreArgs {
  index: RunIndex;
  s3: S3Client;
  config: Pick<ArchiverConfig, 'tiers' | 'outputBuckets' | 'restoreBuckets' | 'archiveConcurrency'>;
  request: unknown;
  restoreId: string;
  executionArn?: string;
  /** The stack's vault; absent when every tier targets s3-glacier. */
  vaultName?: string;
  itemsBucket: string;
}

/**
 * Checks the request against the index (run known, files matched and archived, destination writable and free) and
 * writes the Map items; any problem fails here, before anything is retrieved or paid for.
 */
export async function planRestore(args: PlanRestoreArgs): Promise<RestorePlan> {
  const parsed = RestoreRequestSchema.safeParse(args.request);
  if (!parsed.success) {
    throw new RestoreRequestError('BadRestoreRequest', parsed.error.issues.map((i) => `${i.path.join('.') || 'request'}: ${i.message}`).join('; '));
  }
  const request = parsed.data;
  const run = await resolveRun(args.index, request.runUuid ?? request.run ?? request.runId ?? '');
  const matches = pathMatcher(request.files);
  const files = (await args.index.listFiles(run.runUuid)).filter((f) => f.action === 'archive' && matches(f.path));
  if (!files.length) {
    throw new RestoreRequestError('NoMatchingFiles', `no archived file of run ${run.runId} (${run.runUuid}) matches ${request.files ? request.files.join(', ') : 'any path'}`);
  }
  const notArchived = files.filter((f) => f.state !== 'ARCHIVED');
  if (notArchived.length) {
    throw new RestoreRequestError(
      'FileNotArchived',
      `${notArchived.length} matching file(s) were never archived: ${notArchived.slice(0, 10).map((f) => `${f.path} (${f.state}${f.failureReason ? `: ${f.failureReason}` : ''})`).join(', ')}`,
    );
  }

  let destination: { bucket: string; prefix: string } | undefined;
  if (request.destination) {
    try {
      destination = parseS3Uri(request.destination);
    } catch {
      throw new RestoreRequestError('BadDestination', `destination "${request.destination}" is not an s3://bucket/prefix/ URI`);
    }
  }
  const allowed = new Set([...args.config.outputBuckets, ...args.config.restoreBuckets]);
  const targets = files.map((f) => ({
    file: f,
    bucket: destination?.bucket ?? f.sourceBucket,
    key: destination ? `${destination.prefix}${f.path}` : f.sourceKey,
  }));
  const forbidden = [...new Set(targets.map((t) => t.bucket).filter((b) => !allowed.has(b)))];
  if (forbidden.length) {
    throw new RestoreRequestError('BadDestination', `cannot restore into ${forbidden.join(', ')}: allowed buckets are ${[...allowed].join(', ')} (outputBuckets and restoreBuckets in the configuration)`);
  }
  const occupied: string[] = [];
  for (const t of targets) {
    try {
      await args.s3.send(new HeadObjectCommand({ Bucket: t.bucket, Key: t.key }));
      occupied.push(`s3://${t.bucket}/${t.key}`);
    } catch (error) {
      const name = (error as Error).name;
      if (name !== 'NotFound' && name !== 'NoSuchKey') throw error;
    }
  }
  if (occupied.length) {
    throw new RestoreRequestError('BadDestination', `restoring would overwrite ${occupied.length} existing object(s): ${occupied.slice(0, 10).join(', ')}; choose another destination`);
  }

  const tierName = request.tier ?? args.config.tiers.find((t) => t.name === run.tier)?.restoreTier ?? 'Standard';
  const timing = {
    notificationWaitSeconds: request.notificationWaitSeconds ?? TIER_TIMING[tierName].notificationWaitSeconds,
    pollSeconds: request.pollSeconds ?? TIER_TIMING[tierName].pollSeconds,
  };
  const items: RestoreItem[] = targets.map(({ file, bucket, key }) => ({
    runUuid: run.runUuid,
    restoreId: args.restoreId,
    path: file.path,
    size: file.size,
    retrieval: retrievalOf(file),
    tier: tierName,
    sha256: file.sha256,
    treeHash: file.treeHash,
    vaultName: file.vaultName ?? args.vaultName,
    archiveId: file.archiveId,
    archiveBucket: file.archiveBucket,
    archiveKey: file.archiveKey,
    archiveVersionId: file.archiveVersionId,
    storageClass: file.storageClass,
    destinationBucket: bucket,
    destinationKey: key,
    ...timing,
  }));
  const destinationText = request.destination ?? 'original location';
  try {
    await args.index.putRestoreRequest({
      runUuid: run.runUuid,
      restoreId: args.restoreId,
      state: 'REQUESTED',
      request: request as Record<string, unknown>,
      tier: tierName,
      destination: destinationText,
      executionArn: args.executionArn,
      fileCount: items.length,
    });
  } catch (error) {
    if (!(error instanceof StateConflictError)) throw error;
    // The workflow retries this step: an earlier attempt of the same execution may have written the request already.
    const earlier = (await args.index.listRestores(run.runUuid)).requests.find((r) => r.restoreId === args.restoreId);
    if (!earlier || earlier.executionArn !== args.executionArn || earlier.completedAt) {
      throw new RestoreRequestError('BadRestoreRequest', `restore id ${args.restoreId} is already used by another restore of run ${run.runUuid}; name the execution differently`);
    }
  }
  await args.index.putRestoreFiles(
    items.map((i) => ({ runUuid: i.runUuid, restoreId: i.restoreId, path: i.path, state: 'REQUESTED', destination: `s3://${i.destinationBucket}/${i.destinationKey}` })),
  );
  const itemsKey = `restores/${run.runUuid}/${args.restoreId}/items.json`;
  await new Upload({ client: args.s3, params: { Bucket: args.itemsBucket, Key: itemsKey, Body: JSON.stringify(items), ContentType: 'application/json' } }).done();
  return {
    restoreId: args.restoreId,
    runUuid: run.runUuid,
    runId: run.runId,
    tier: tierName,
    destination: destinationText,
    fileCount: items.length,
    itemsBucket: args.itemsBucket,
    itemsKey,
    concurrency: args.config.archiveConcurrency,
  };
}

/**
 * Glacier job descriptions must be printable ASCII; this one leads the notification back to the restore item. The
 * restore id is the execution name, which may hold any non-control character (`é`, `样`), so it is percent-encoded;
 * names cannot contain `%`, so ASCII names read the same either way.
 */
export function jobDescription(item: Pick<RestoreItem, 'runUuid' | 'restoreId' | 'path'>): string {
  return `omics-archiver restore ${item.runUuid} ${encodeURIComponent(item.restoreId)} ${restoreFileKeyOf(item.path)}`;
}

export function parseJobDescription(description: string | undefined): { runUuid: string; restoreId: string; fileKey: string } | undefined {
  const match = /^omics-archiver restore (\S+) (\S+) ([0-9a-f]+)$/.exec(description ?? '');
  if (!match) return undefined;
  try {
    return { runUuid: match[1], restoreId: decodeURIComponent(match[2]), fileKey: match[3] };
  } catch {
    return undefined; // malformed escapes: not a description this module wrote
  }
}

/** S3 keeps a restored copy of a Glacier-class object this many days; long enough to copy it out. */
const S3_RESTORE_DAYS = 3;

/**
 * Starts bringing one file back: a vault retrieval job (reusing one already started for this file, so a retried
 * step never pays twice) with the task token parked in the index, or an S3 RestoreObject.
 */
export async function requestRetrieval(args: {
  glacier: GlacierClient;
  s3: S3Client;
  index: RunIndex;
  item: RestoreItem;
  taskToken?: string;
  vaultJobsTopicArn: string;
  /** Resumes the waiting task at once when the reused job has already finished (its notification is long gone). */
  sfn?: SFNClient;
}): Promise<{ jobId?: string; reused: boolean }> {
  const { item, index } = args;
  if (item.retrieval === 'vault-job') {
    const existing = await index.getRestoreFile(item.runUuid, item.restoreId, item.path);
    let jobId = existing?.jobId;
    let reused = Boolean(jobId);
    let finished = false;
    if (jobId) {
      try {
        const job = await args.glacier.send(new DescribeJobCommand({ accountId: '-', vaultName: item.vaultName, jobId }));
        if (job.StatusCode === 'Failed') jobId = undefined;
        finished = job.StatusCode === 'Succeeded';
      } catch (error) {
        if (!(error instanceof GlacierNotFound)) throw error;
        jobId = undefined; // expired: jobs live about a day after they finish
      }
    }
    if (!jobId) {
      reused = false;
      const started = await args.glacier.send(
        new InitiateJobCommand({
          accountId: '-',
          vaultName: item.vaultName,
          jobParameters: { Type: 'archive-retrieval', ArchiveId: item.archiveId, Tier: item.tier, SNSTopic: args.vaultJobsTopicArn, Description: jobDescription(item) },
        }),
      );
      jobId = started.jobId;
    }
    await index.updateRestoreFile(item.runUuid, item.restoreId, item.path, { state: 'RETRIEVING', jobId, taskToken: args.taskToken });
    if (jobId && finished && args.taskToken && args.sfn) {
      await args.sfn.send(new SendTaskSuccessCommand({ taskToken: args.taskToken, output: JSON.stringify({ jobId, statusCode: 'Succeeded' }) }));
    }
    return { jobId, reused };
  }
  if (item.retrieval === 's3-restore') {
    try {
      await args.s3.send(
        new RestoreObjectCommand({
          Bucket: item.archiveBucket,
          Key: item.archiveKey,
          VersionId: item.archiveVersionId,
          // Deep Archive has no Expedited retrieval; Standard is the fastest it offers.
          RestoreRequest: { Days: S3_RESTORE_DAYS, GlacierJobParameters: { Tier: item.storageClass === 'DEEP_ARCHIVE' && item.tier === 'Expedited' ? 'Standard' : item.tier } },
        }),
      );
    } catch (error) {
      // Already under way or done: either way the object is coming back.
      if ((error as Error).name !== 'RestoreAlreadyInProgress') throw error;
    }
    await index.updateRestoreFile(item.runUuid, item.restoreId, item.path, { state: 'RETRIEVING' });
    return { reused: false };
  }
  return { reused: false };
}

/** Whether a retrieval is ready to copy; the poll that stands in for a notification that never came. */
export async function checkRetrieval(args: { glacier: GlacierClient; s3: S3Client; index: RunIndex; item: RestoreItem }): Promise<{ ready: boolean; jobId?: string; status: string }> {
  const { item } = args;
  if (item.retrieval === 'vault-job') {
    const record = await args.index.getRestoreFile(item.runUuid, item.restoreId, item.path);
    if (!record?.jobId) throw new Error(`no retrieval job recorded for ${item.path}`);
    const job = await args.glacier.send(new DescribeJobCommand({ accountId: '-', vaultName: item.vaultName, jobId: record.jobId }));
    if (job.StatusCode === 'Failed') {
      const error = new Error(`Glacier retrieval job ${record.jobId} failed: ${job.StatusMessage ?? 'no message'}`);
      error.name = 'RetrievalFailed';
      throw error;
    }
    return { ready: job.StatusCode === 'Succeeded', jobId: record.jobId, status: job.StatusCode ?? 'Unknown' };
  }
  if (item.retrieval === 's3-restore') {
    const head = await args.s3.send(new HeadObjectCommand({ Bucket: item.archiveBucket, Key: item.archiveKey, VersionId: item.archiveVersionId }));
    const ready = head.Restore?.includes('ongoing-request="false"') ?? false;
    return { ready, status: head.Restore ?? 'not restored' };
  }
  return { ready: true, status: 'nothing to retrieve' };
}

/** The vault's job-completion message (raw SNS delivery: the DescribeJob JSON). */
export const JobNotificationSchema = z.object({
  JobId: z.string(),
  JobDescription: z.string().nullish(),
  StatusCode: z.string(),
  StatusMessage: z.string().nullish(),
  Action: z.string().optional(),
});

/** Resumes the restore waiting on a finished job; a token that already timed out (poll took over) is fine. */
export async function resumeAfterJob(args: { sfn: SFNClient; index: RunIndex; message: z.infer<typeof JobNotificationSchema> }): Promise<'resumed' | 'failed' | 'not-ours' | 'no-waiter'> {
  const ref = parseJobDescription(args.message.JobDescription ?? undefined);
  if (!ref) return 'not-ours';
  const record = await args.index.getRestoreFileByKey(ref.runUuid, ref.restoreId, ref.fileKey);
  if (!record?.taskToken || record.jobId !== args.message.JobId) return 'no-waiter';
  try {
    if (args.message.StatusCode === 'Succeeded') {
      await args.sfn.send(new SendTaskSuccessCommand({ taskToken: record.taskToken, output: JSON.stringify({ jobId: args.message.JobId, statusCode: 'Succeeded' }) }));
      return 'resumed';
    }
    await args.sfn.send(
      new SendTaskFailureCommand({ taskToken: record.taskToken, error: 'RetrievalFailed', cause: `Glacier job ${args.message.JobId}: ${args.message.StatusMessage ?? args.message.StatusCode}` }),
    );
    return 'failed';
  } catch (error) {
    const name = (error as Error).name;
    if (name === 'TaskTimedOut' || name === 'TaskDoesNotExist' || name === 'InvalidToken') return 'no-waiter';
    throw error;
  }
}

export type CopyOutcome = { status: 'complete'; size: number; sha256: string } | { status: 'incomplete'; bytesDone: number };

async function sha256OfObject(s3: S3Client, bucket: string, key: string, versionId?: string): Promise<string> {
  const { Body } = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key, VersionId: versionId }));
  const hash = createHash('sha256');
  for await (const chunk of (Body as AsyncIterable<Uint8Array>) ?? []) hash.update(chunk);
  return hash.digest('hex');
}

/** The archived bytes are not the recorded ones; nothing is written to the destination. */
export class RestoredChecksumMismatch extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ChecksumMismatch';
  }
}

/**
 * Records a copy's progress with its checkpoint, in one write so they always belong together. A report without a
 * checkpoint removes the recorded one: it belonged to an earlier upload, or did not fit this one.
 */
async function recordCopyProgress(index: RunIndex, item: RestoreItem, progress: CopyProgress): Promise<void> {
  await index.updateRestoreFile(item.runUuid, item.restoreId, item.path, {
    uploadId: progress.uploadId,
    bytesDone: progress.bytesDone,
    sha256State: progress.sha256State ?? null,
    sha256Bytes: progress.sha256Bytes ?? null,
    treeHashState: progress.treeHashState ?? null,
  });
}

/** Copies one retrieved file to its destination, verified; resumable for vault jobs. Marks it RESTORED when done. */
export async function copyRestoredFile(args: { glacier: GlacierClient; s3: S3Client; index: RunIndex; item: RestoreItem; deadline: number }): Promise<CopyOutcome> {
  const { item, index } = args;
  const record = await index.getRestoreFile(item.runUuid, item.restoreId, item.path);
  if (record?.state === 'RESTORED') return { status: 'complete', size: item.size, sha256: item.sha256 ?? '' };
  await index.updateRestoreFile(item.runUuid, item.restoreId, item.path, { state: 'COPYING' });
  let size = item.size;
  let sha256 = item.sha256 ?? '';
  if (item.retrieval === 'vault-job') {
    if (!record?.jobId) throw new Error(`no retrieval job recorded for ${item.path}`);
    const result = await copyJobOutputToS3({
      glacier: args.glacier,
      vaultName: item.vaultName ?? '',
      jobId: record.jobId,
      archiveSize: item.size,
      expectedTreeHash: item.treeHash ?? '',
      expectedSha256: item.sha256,
      s3: args.s3,
      bucket: item.destinationBucket,
      key: item.destinationKey,
      resumeUploadId: record.uploadId,
      // The checkpoint belongs to the recorded upload: it goes back only with it.
      resumeSha256:
        record.uploadId && record.sha256State !== undefined && record.sha256Bytes !== undefined && record.treeHashState !== undefined
          ? { state: record.sha256State, bytes: record.sha256Bytes, treeHashState: record.treeHashState }
          : undefined,
      deadline: args.deadline,
      onProgress: (progress) => recordCopyProgress(index, item, progress),
    });
    if (result.status === 'incomplete') {
      // Progress reports come per range; a copy the deadline stopped before its first range is recorded here.
      await recordCopyProgress(index, item, result);
      return { status: 'incomplete', bytesDone: result.bytesDone };
    }
    size = result.size;
    sha256 = result.sha256;
  } else if (item.size === 0) {
    await args.s3.send(new PutObjectCommand({ Bucket: item.destinationBucket, Key: item.destinationKey, Body: new Uint8Array(0) }));
    sha256 = createHash('sha256').digest('hex');
  } else {
    // Verify first, then copy that very version server-side: the destination only ever receives the recorded bytes.
    sha256 = await sha256OfObject(args.s3, item.archiveBucket ?? '', item.archiveKey ?? '', item.archiveVersionId);
    if (item.sha256 && sha256 !== item.sha256) {
      throw new RestoredChecksumMismatch(`the archived copy of ${item.path} has SHA-256 ${sha256}, the index recorded ${item.sha256}; nothing was written`);
    }
    await args.s3.send(
      new CopyObjectCommand({
        Bucket: item.destinationBucket,
        Key: item.destinationKey,
        CopySource: `${item.archiveBucket}/${encodeURIComponent(item.archiveKey ?? '').replace(/%2F/g, '/')}${item.archiveVersionId ? `?versionId=${item.archiveVersionId}` : ''}`,
        StorageClass: 'STANDARD',
      }),
    );
  }
  await index.updateRestoreFile(item.runUuid, item.restoreId, item.path, {
    state: 'RESTORED',
    bytesDone: size,
    restoredAt: new Date().toISOString(),
    taskToken: null,
    // The checkpoint only ever served the copy.
    sha256State: null,
    sha256Bytes: null,
    treeHashState: null,
  });
  return { status: 'complete', size, sha256 };
}

/** Marks one file of a restore FAILED with the workflow's error. */
export async function recordRestoreFileFailure(index: RunIndex, item: Pick<RestoreItem, 'runUuid' | 'restoreId' | 'path'>, error: WorkflowError): Promise<void> {
  await index.updateRestoreFile(item.runUuid, item.restoreId, item.path, { state: 'FAILED', failureReason: describeWorkflowError(error, 1000) });
}

export interface RestoreOutcome {
  restoreId: string;
  runUuid: string;
  state: 'RESTORED' | 'FAILED';
  restored: number;
  failed: number;
  files: { path: string; state: string; destination: string; failureReason?: string }[];
}

/** Settles the restore request from its files: RESTORED only when every file is. */
export async function finalizeRestore(index: RunIndex, runUuid: string, restoreId: string): Promise<RestoreOutcome> {
  const { files } = await index.listRestores(runUuid);
  const mine = files.filter((f: RestoreFileRecord) => f.restoreId === restoreId);
  const restored = mine.filter((f) => f.state === 'RESTORED').length;
  const failed = mine.length - restored;
  const state = failed === 0 && mine.length > 0 ? 'RESTORED' : 'FAILED';
  await index.updateRestoreRequest(runUuid, restoreId, { state, restored, failed, completedAt: new Date().toISOString() });
  const MAX_LISTED = 100;
  return {
    restoreId,
    runUuid,
    state,
    restored,
    failed,
    files: mine.slice(0, MAX_LISTED).map((f) => ({ path: f.path, state: f.state, destination: f.destination, ...(f.failureReason ? { failureReason: f.failureReason } : {}) })),
  };
}
