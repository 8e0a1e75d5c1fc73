// Restore outcomes: a file the workflow gave up on, and the request settled from its files and announced on the restore-events topic.
import { PublishCommand, type SNSClient } from '@aws-sdk/client-sns';
import { RESTORE_EVENT_MAX_BYTES, RESTORE_EVENTS, type RestoreEventName, type RestoreItem, type WorkflowError } from '../contract';
import { waiterRefOf, type RestoreFileRecord, type RunIndex } from '../index/run-index';
import { describeWorkflowError } from '../runtime/workflow-error';

/** Marks one file of a restore FAILED with the workflow's error. */
export async function recordRestoreFileFailure(
  index: RunIndex,
  item: Pick<RestoreItem, 'runUuid' | 'restoreId' | 'path'>,
  error: WorkflowError,
): Promise<void> {
  await index.updateRestoreFile(item.runUuid, item.restoreId, item.path, { state: 'FAILED', failureReason: describeWorkflowError(error, 1000) });
}

export interface RestoreOutcome {
  restoreId: string;
  runUuid: string;
  state: 'RESTORED' | 'FAILED';
  restored: number;
  failed: number;
  /** Each file (the first 100); `retrievalTier` and `tierFallback` when the storage class did not offer the tier asked for. */
  files: { path: string; state: string; destination: string; failureReason?: string; retrievalTier?: string; tierFallback?: string }[];
}

/** Where a settled restore is announced. */
export interface RestoreEventsTopic {
  sns: SNSClient;
  topicArn: string;
}

type OutcomeFile = RestoreOutcome['files'][number];

/** The message of a RESTORE_COMPLETED or RESTORE_FAILED event; `event`, `runId`, `runUuid`, `tier` and `retrievalTier` also travel as attributes. */
export interface RestoreEvent {
  event: RestoreEventName;
  restoreId: string;
  runUuid: string;
  runId: string;
  /** The run's archive tier (the policy's). */
  tier: string;
  /** The retrieval tier the restore asked for. */
  retrievalTier: string;
  state: 'RESTORED' | 'FAILED';
  /** `s3://bucket/prefix/`, or "original" for each file's own location. */
  destination: string;
  fileCount: number;
  restored: number;
  failed: number;
  executionArn?: string;
  completedAt: string;
  /** The failed files first, then the others, as many as the message holds. */
  files: OutcomeFile[];
  /** Present when `files` is not every file: how many were left out, and where every one of them is recorded. */
  filesOmitted?: { count: number; seeIndex: string };
}

/** Files listed in an event at most, before the byte bound cuts further. */
export const MAX_EVENT_FILES = 100;

/**
 * The event for a settled restore, kept under RESTORE_EVENT_MAX_BYTES: failed files first (they are what a subscriber
 * acts on), then the rest, cut to what fits; the index has every file's record.
 */
export function restoreEvent(
  outcome: Omit<RestoreOutcome, 'files'>,
  files: OutcomeFile[],
  context: { runId: string; tier: string; retrievalTier: string; destination: string; fileCount: number; executionArn?: string; completedAt: string },
): RestoreEvent {
  const ordered = [...files.filter((f) => f.state !== 'RESTORED'), ...files.filter((f) => f.state === 'RESTORED')];
  const base: RestoreEvent = {
    event: outcome.state === 'RESTORED' ? RESTORE_EVENTS.completed : RESTORE_EVENTS.failed,
    restoreId: outcome.restoreId,
    runUuid: outcome.runUuid,
    runId: context.runId,
    tier: context.tier,
    retrievalTier: context.retrievalTier,
    state: outcome.state,
    destination: context.destination,
    fileCount: context.fileCount,
    restored: outcome.restored,
    failed: outcome.failed,
    ...(context.executionArn ? { executionArn: context.executionArn } : {}),
    completedAt: context.completedAt,
    files: [],
  };
  const withFiles = (count: number): RestoreEvent => {
    const event = { ...base, files: ordered.slice(0, count) };
    if (count < ordered.length) {
      event.filesOmitted = {
        count: ordered.length - count,
        seeIndex: `every file's restore record is in the run index: omics-archiver runs show ${outcome.runUuid} --json (restore ${outcome.restoreId})`,
      };
    }
    return event;
  };
  let count = Math.min(ordered.length, MAX_EVENT_FILES);
  // Paths, destinations and reasons run to a few KB each, so a hundred files can pass SNS's limit: halve until it fits.
  while (count > 0 && Buffer.byteLength(JSON.stringify(withFiles(count))) > RESTORE_EVENT_MAX_BYTES) count = Math.floor(count / 2);
  return withFiles(count);
}

/** Publishes the event with its attributes, so subscriptions can filter by event, run or tier. */
export async function publishRestoreEvent(topic: RestoreEventsTopic, event: RestoreEvent): Promise<void> {
  const attribute = (value: string) => ({ DataType: 'String', StringValue: value });
  await topic.sns.send(
    new PublishCommand({
      TopicArn: topic.topicArn,
      Subject: `${event.event}: run ${event.runId}, ${event.restored} of ${event.fileCount} files restored`.slice(0, 100),
      Message: JSON.stringify(event),
      MessageAttributes: {
        event: attribute(event.event),
        runId: attribute(event.runId),
        runUuid: attribute(event.runUuid),
        tier: attribute(event.tier),
        retrievalTier: attribute(event.retrievalTier),
      },
    }),
  );
}

/**
 * Settles the restore request from its files: RESTORED only when every file is. Removes the restore's S3 waiters that
 * no event resolved (the poll finished those files, or they failed), so no event looks for them again. With a topic,
 * announces the outcome there (after the index has it, so a retried publish finds the same outcome).
 */
export async function finalizeRestore(index: RunIndex, runUuid: string, restoreId: string, topic?: RestoreEventsTopic): Promise<RestoreOutcome> {
  for (const waiter of (await index.listRunRestoreWaiters(runUuid)).filter((w) => w.restoreId === restoreId)) {
    await index.deleteRestoreWaiter(runUuid, waiterRefOf(waiter), restoreId);
  }
  const { requests, files: allFiles } = await index.listRestores(runUuid);
  const request = requests.find((r) => r.restoreId === restoreId);
  const mine = allFiles.filter((f: RestoreFileRecord) => f.restoreId === restoreId);
  const restored = mine.filter((f) => f.state === 'RESTORED').length;
  const failed = mine.length - restored;
  const state = failed === 0 && mine.length > 0 ? 'RESTORED' : 'FAILED';
  const completedAt = new Date().toISOString();
  await index.updateRestoreRequest(runUuid, restoreId, { state, restored, failed, completedAt });
  const MAX_LISTED = 100;
  const files = mine.map((f): OutcomeFile => ({
    path: f.path,
    state: f.state,
    destination: f.destination,
    ...(f.failureReason ? { failureReason: f.failureReason } : {}),
    ...(f.tierFallback ? { retrievalTier: f.retrievalTier, tierFallback: f.tierFallback } : {}),
  }));
  const outcome: RestoreOutcome = { restoreId, runUuid, state, restored, failed, files: files.slice(0, MAX_LISTED) };
  if (topic) {
    const run = await index.getRun(runUuid);
    const event = restoreEvent(outcome, files, {
      runId: run?.runId ?? 'unknown',
      tier: run?.tier ?? 'unknown',
      retrievalTier: request?.tier ?? 'unknown',
      destination: request?.destination ?? 'unknown',
      fileCount: request?.fileCount ?? mine.length,
      executionArn: request?.executionArn,
      completedAt,
    });
    await publishRestoreEvent(topic, event);
  }
  return outcome;
}
