// Bringing an archived file back within reach, one strategy per way it was archived: a vault job, an S3 restore, or nothing.
import { DescribeJobCommand, InitiateJobCommand, ResourceNotFoundException as GlacierNotFound, type GlacierClient } from '@aws-sdk/client-glacier';
import { HeadObjectCommand, RestoreObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { SendTaskSuccessCommand, type SFNClient } from '@aws-sdk/client-sfn';
import { ERROR_NAMES, restoreFileKeyOf, type RestoreItem, type Retrieval } from '../contract';
import type { RunIndex } from '../index/run-index';

export interface RequestRetrievalArgs {
  glacier: GlacierClient;
  s3: S3Client;
  index: RunIndex;
  item: RestoreItem;
  taskToken?: string;
  vaultJobsTopicArn: string;
  /** Resumes the waiting task at once when the reused job has already finished (its notification is long gone). */
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

/** A vault archive: an archive-retrieval job, whose completion the vault announces (the task token waits for it). */
const vaultJob: RetrievalStrategy = {
  /** Reuses a job already started for this file, so a retried step never pays twice. */
  async request(args) {
    const { item, index } = args;
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
          jobParameters: {
            Type: 'archive-retrieval',
            ArchiveId: item.archiveId,
            Tier: item.tier,
            SNSTopic: args.vaultJobsTopicArn,
            Description: jobDescription(item),
          },
        }),
      );
      jobId = started.jobId;
    }
    await index.updateRestoreFile(item.runUuid, item.restoreId, item.path, { state: 'RETRIEVING', jobId, taskToken: args.taskToken });
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

/** An object in an S3 Glacier storage class: RestoreObject, then a temporary copy S3 keeps for a few days. */
const s3Restore: RetrievalStrategy = {
  async request(args) {
    const { item, index } = args;
    try {
      await args.s3.send(
        new RestoreObjectCommand({
          Bucket: item.archiveBucket,
          Key: item.archiveKey,
          VersionId: item.archiveVersionId,
          // Deep Archive has no Expedited retrieval; Standard is the fastest it offers.
          RestoreRequest: {
            Days: S3_RESTORE_DAYS,
            GlacierJobParameters: { Tier: item.storageClass === 'DEEP_ARCHIVE' && item.tier === 'Expedited' ? 'Standard' : item.tier },
          },
        }),
      );
    } catch (error) {
      // Already under way or done: either way the object is coming back.
      if ((error as Error).name !== 'RestoreAlreadyInProgress') throw error;
    }
    await index.updateRestoreFile(item.runUuid, item.restoreId, item.path, { state: 'RETRIEVING' });
    return { reused: false };
  },
  async check(args) {
    const { item } = args;
    const head = await args.s3.send(new HeadObjectCommand({ Bucket: item.archiveBucket, Key: item.archiveKey, VersionId: item.archiveVersionId }));
    const ready = head.Restore?.includes('ongoing-request="false"') ?? false;
    return { ready, status: head.Restore ?? 'not restored' };
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
