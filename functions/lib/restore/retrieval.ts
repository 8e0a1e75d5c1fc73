// Bringing an archived file back within reach, one strategy per way it was archived: a vault job, an S3 restore, or nothing.
import { DescribeJobCommand, InitiateJobCommand, ResourceNotFoundException as GlacierNotFound, type GlacierClient } from '@aws-sdk/client-glacier';
import { HeadObjectCommand, RestoreObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { SendTaskSuccessCommand, type SFNClient } from '@aws-sdk/client-sfn';
import { ENV, ERROR_NAMES, bundleObjectRef, restoreFileKeyOf, type RestoreItem, type RestoreTier, type Retrieval } from '../contract';
import type { RunIndex } from '../index/run-index';

export interface RequestRetrievalArgs {
  /** Waits between attempts at an Expedited retrieval that found no capacity; tests pass one that returns at once. */
  sleep?: (ms: number) => Promise<void>;
  glacier: GlacierClient;
  s3: S3Client;
  index: RunIndex;
  item: RestoreItem;
  taskToken?: string;
  /** The vault's job-notification topic; absent when the stack has no vault (then no file has a vault archive). */
  vaultJobsTopicArn?: string;
  /**
   * Resumes the waiting task at once when the retrieval has already finished: a reused vault job (its notification is
   * long gone), or an S3 object whose restored copy is already there (S3 sends no second Object Restore Completed).
   */
  sfn?: SFNClient;
}

export interface CheckRetrievalArgs {
  glacier: GlacierClient;
  s3: S3Client;
  index: RunIndex;
  item: RestoreItem;
}

export interface RetrievalRequested {
  jobId?: string;
  reused: boolean;
  /** Present (true) when the retrieval was already done and the waiting task was resumed at once. */
  ready?: true;
}

export interface RetrievalStatus {
  ready: boolean;
  jobId?: string;
  status: string;
}

/** How one kind of archive is brought back: start the retrieval, and tell whether it is ready to copy. */
interface RetrievalStrategy {
  request(args: RequestRetrievalArgs): Promise<RetrievalRequested>;
  check(args: CheckRetrievalArgs): Promise<RetrievalStatus>;
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

/**
 * Expedited retrievals run on capacity AWS may not have at the moment: Glacier answers InitiateJob with
 * InsufficientCapacityException, S3 answers RestoreObject with GlacierExpeditedRetrievalNotAvailable (503). Each is
 * tried this many times in all (the SDK's own retries come on top), then the file is retrieved at Standard.
 */
export const EXPEDITED_ATTEMPTS = 3;
/** The wait before the second attempt; each further wait doubles. Small: the whole request step has 60 seconds. */
export const EXPEDITED_RETRY_BASE_MS = 2000;

/** The error each service answers an Expedited request with when it has no capacity for it. */
const NO_EXPEDITED_CAPACITY = new Set(['InsufficientCapacityException', 'GlacierExpeditedRetrievalNotAvailable']);

const realSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Starts a retrieval at the item's tier; an Expedited one without capacity is retried a few times with backoff, then
 * started at Standard, and `tierFallback` says why (as for a storage class that has no Expedited tier).
 */
async function withExpeditedFallback<T>(
  tier: RestoreTier,
  sleep: (ms: number) => Promise<void>,
  start: (tier: RestoreTier) => Promise<T>,
): Promise<{ result: T; tier: RestoreTier; tierFallback?: string }> {
  if (tier !== 'Expedited') return { result: await start(tier), tier };
  let lastError = '';
  for (let attempt = 1; attempt <= EXPEDITED_ATTEMPTS; attempt++) {
    try {
      return { result: await start(tier), tier };
    } catch (error) {
      if (!NO_EXPEDITED_CAPACITY.has((error as Error).name)) throw error;
      lastError = (error as Error).name;
      if (attempt < EXPEDITED_ATTEMPTS) await sleep(EXPEDITED_RETRY_BASE_MS * 2 ** (attempt - 1));
    }
  }
  return { result: await start('Standard'), tier: 'Standard', tierFallback: `no Expedited capacity (${lastError} ${EXPEDITED_ATTEMPTS} times)` };
}

/** A vault archive: an archive-retrieval job, whose completion the vault announces (the task token waits for it). */
const vaultJob: RetrievalStrategy = {
  /** Reuses a job already started for this file, so a retried step never pays twice. */
  async request(args) {
    const { item, index } = args;
    if (!args.vaultJobsTopicArn) {
      // Only a stack with a vault has the topic; a vault archive restored without it would never announce its job.
      throw new Error(`environment variable ${ENV.vaultJobsTopicArn} is not set; the stack sets it when it has a vault, and ${item.path} is in one`);
    }
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
    // A reused job keeps the tier (and any fallback) recorded when it was started.
    let tierRecord: { retrievalTier?: RestoreTier; tierFallback?: string } = {};
    if (!jobId) {
      reused = false;
      const started = await withExpeditedFallback(item.tier, args.sleep ?? realSleep, (tier) =>
        args.glacier.send(
          new InitiateJobCommand({
            accountId: '-',
            vaultName: item.vaultName,
            jobParameters: {
              Type: 'archive-retrieval',
              ArchiveId: item.archiveId,
              // A bundle's members: only the MiB-aligned range around them is retrieved (and paid for).
              ...(item.bundle?.range && { RetrievalByteRange: `${item.bundle.range.start}-${item.bundle.range.end}` }),
              Tier: tier,
              SNSTopic: args.vaultJobsTopicArn,
              Description: jobDescription(item),
            },
          }),
        ),
      );
      jobId = started.result.jobId;
      tierRecord = { retrievalTier: started.tier, ...(started.tierFallback ? { tierFallback: started.tierFallback } : {}) };
    }
    await index.updateRestoreFile(item.runUuid, item.restoreId, item.path, { state: 'RETRIEVING', jobId, taskToken: args.taskToken, ...tierRecord });
    if (jobId && finished && args.taskToken && args.sfn) {
      await args.sfn.send(new SendTaskSuccessCommand({ taskToken: args.taskToken, output: JSON.stringify({ jobId, statusCode: 'Succeeded' }) }));
    }
    return { jobId, reused };
  },
  async check(args) {
    const { item } = args;
    const record = await args.index.getRestoreFile(item.runUuid, item.restoreId, item.path);
    if (!record?.jobId) throw new Error(`no retrieval job recorded for ${item.path}`);
    const job = await args.glacier.send(new DescribeJobCommand({ accountId: '-', vaultName: item.vaultName, jobId: record.jobId }));
    if (job.StatusCode === 'Failed') {
      const error = new Error(`Glacier retrieval job ${record.jobId} failed: ${job.StatusMessage ?? 'no message'}`);
      error.name = ERROR_NAMES.retrievalFailed;
      throw error;
    }
    return { ready: job.StatusCode === 'Succeeded', jobId: record.jobId, status: job.StatusCode ?? 'Unknown' };
  },
};

/** S3 keeps a restored copy of a Glacier-class object this many days; long enough to copy it out. */
const S3_RESTORE_DAYS = 3;

/** The tier an S3 restore is asked for at, and why it is not the restore's own when the storage class lacks it. */
export function s3RestoreTier(item: Pick<RestoreItem, 'tier' | 'storageClass'>): { tier: RestoreTier; tierFallback?: string } {
  // Deep Archive has no Expedited retrieval; Standard is the fastest it offers.
  if (item.storageClass === 'DEEP_ARCHIVE' && item.tier === 'Expedited') return { tier: 'Standard', tierFallback: 'DEEP_ARCHIVE has no Expedited retrieval' };
  return { tier: item.tier };
}

/** What resumes a waiting S3 restore task; "Retrieval ready?" routes it to the copy, as it does a poll's answer. */
export const s3RestoreReady = (status: string): RetrievalStatus => ({ ready: true, status });

/** Errors SendTaskSuccess/Failure answer for a token nobody waits on any more (timed out into the poll, or done). */
export const isGoneTaskToken = (error: unknown) => ['TaskTimedOut', 'TaskDoesNotExist', 'InvalidToken'].includes((error as Error).name);

const isRestored = (restore: string | undefined) => restore?.includes('ongoing-request="false"') ?? false;

/** What an item's S3 restore waiter is keyed by: the archived object, a bundle's for its members. */
export const waiterRefOfItem = (item: Pick<RestoreItem, 'path' | 'bundle'>) => (item.bundle ? bundleObjectRef(item.bundle.id) : item.path);

/**
 * An object in an S3 Glacier storage class: RestoreObject, then a temporary copy S3 keeps for a few days. The task
 * token waits for the archive bucket's Object Restore Completed event (retrieval-notification.ts resolves it).
 */
const s3Restore: RetrievalStrategy = {
  async request(args) {
    const { item, index } = args;
    const { tier, tierFallback } = s3RestoreTier(item);
    // Parked before RestoreObject: an event that comes while S3 is still answering must find its waiter.
    await index.updateRestoreFile(item.runUuid, item.restoreId, item.path, {
      state: 'RETRIEVING',
      taskToken: args.taskToken,
      retrievalTier: tier,
      tierFallback,
    });
    if (args.taskToken) {
      await index.putRestoreWaiter({
        runUuid: item.runUuid,
        restoreId: item.restoreId,
        path: item.path,
        ...(item.bundle && { objectRef: waiterRefOfItem(item) }),
        archiveBucket: item.archiveBucket ?? '',
        archiveKey: item.archiveKey ?? '',
        archiveVersionId: item.archiveVersionId,
      });
    }
    let restored: boolean;
    try {
      const started = await withExpeditedFallback(tier, args.sleep ?? realSleep, (attemptTier) =>
        args.s3.send(
          new RestoreObjectCommand({
            Bucket: item.archiveBucket,
            Key: item.archiveKey,
            VersionId: item.archiveVersionId,
            RestoreRequest: { Days: S3_RESTORE_DAYS, GlacierJobParameters: { Tier: attemptTier } },
          }),
        ),
      );
      if (started.tierFallback) {
        await index.updateRestoreFile(item.runUuid, item.restoreId, item.path, { retrievalTier: started.tier, tierFallback: started.tierFallback });
      }
      // 202: the restore has begun. 200: a restored copy is already there (S3 only moved its expiry), and no event will come.
      restored = started.result.$metadata?.httpStatusCode === 200;
    } catch (error) {
      if ((error as Error).name !== 'RestoreAlreadyInProgress') throw error;
      // Under way already (an earlier attempt of this step, or another restore of the same object); it may just have finished.
      const head = await args.s3.send(new HeadObjectCommand({ Bucket: item.archiveBucket, Key: item.archiveKey, VersionId: item.archiveVersionId }));
      restored = isRestored(head.Restore);
    }
    if (!restored || !args.taskToken || !args.sfn) return { reused: false };
    try {
      await args.sfn.send(new SendTaskSuccessCommand({ taskToken: args.taskToken, output: JSON.stringify(s3RestoreReady('already restored')) }));
    } catch (error) {
      if (!isGoneTaskToken(error)) throw error; // the event got there first
    }
    await index.deleteRestoreWaiter(item.runUuid, waiterRefOfItem(item), item.restoreId);
    return { reused: false, ready: true };
  },
  async check(args) {
    const { item } = args;
    const head = await args.s3.send(new HeadObjectCommand({ Bucket: item.archiveBucket, Key: item.archiveKey, VersionId: item.archiveVersionId }));
    return { ready: isRestored(head.Restore), status: head.Restore ?? 'not restored' };
  },
};

/** An empty file, or an object readable at once (Glacier Instant Retrieval): nothing to wait for. */
const immediate: RetrievalStrategy = {
  request: () => Promise.resolve({ reused: false }),
  check: () => Promise.resolve({ ready: true, status: 'nothing to retrieve' }),
};

const STRATEGIES: Record<Retrieval, RetrievalStrategy> = { 'vault-job': vaultJob, 's3-restore': s3Restore, none: immediate };

/** Starts bringing one file back, the way its archive needs. */
export const requestRetrieval = (args: RequestRetrievalArgs): Promise<RetrievalRequested> => STRATEGIES[args.item.retrieval].request(args);

/** Whether a retrieval is ready to copy; the poll that stands in for a notification that never came. */
export const checkRetrieval = (args: CheckRetrievalArgs): Promise<RetrievalStatus> => STRATEGIES[args.item.retrieval].check(args);
