// The notifications that end a retrieval: the vault's job-completion message, and S3's Object Restore Completed event
// for the archive bucket. Both arrive on the retrieval-notification queue and resume the restore steps waiting on them.
import { SendTaskFailureCommand, SendTaskSuccessCommand, type SFNClient } from '@aws-sdk/client-sfn';
import { z } from 'zod';
import { S3_RESTORE_COMPLETED, bundleObjectRef, parseArchiveObjectKey, parseBundleObjectKey } from '../contract';
import { waiterRefOf, type RestoreWaiterRecord, type RunIndex } from '../index/run-index';
import { isGoneTaskToken, parseJobDescription, s3RestoreReady } from './retrieval';

/** The vault's job-completion message (raw SNS delivery: the DescribeJob JSON). */
export const JobNotificationSchema = z.object({
  JobId: z.string(),
  JobDescription: z.string().nullish(),
  StatusCode: z.string(),
  StatusMessage: z.string().nullish(),
  Action: z.string().optional(),
});

/** Resumes the restore waiting on a finished job; a token that already timed out (poll took over) is fine. */
export async function resumeAfterJob(args: {
  sfn: SFNClient;
  index: RunIndex;
  message: z.infer<typeof JobNotificationSchema>;
}): Promise<'resumed' | 'failed' | 'not-ours' | 'no-waiter'> {
  const ref = parseJobDescription(args.message.JobDescription ?? undefined);
  if (!ref) return 'not-ours';
  const record = await args.index.getRestoreFileByKey(ref.runUuid, ref.restoreId, ref.fileKey);
  if (!record?.taskToken || record.jobId !== args.message.JobId) return 'no-waiter';
  try {
    if (args.message.StatusCode === 'Succeeded') {
      await args.sfn.send(
        new SendTaskSuccessCommand({ taskToken: record.taskToken, output: JSON.stringify({ jobId: args.message.JobId, statusCode: 'Succeeded' }) }),
      );
      return 'resumed';
    }
    await args.sfn.send(
      new SendTaskFailureCommand({
        taskToken: record.taskToken,
        error: 'RetrievalFailed',
        cause: `Glacier job ${args.message.JobId}: ${args.message.StatusMessage ?? args.message.StatusCode}`,
      }),
    );
    return 'failed';
  } catch (error) {
    if (isGoneTaskToken(error)) return 'no-waiter';
    throw error;
  }
}

/**
 * S3's event for a finished restore (EventBridge, delivered to SQS as the whole event). Only the fields the archiver
 * reads are checked; `time` is left alone (EventBridge writes an ISO string).
 */
export const S3RestoreCompletedEventSchema = z.object({
  source: z.literal(S3_RESTORE_COMPLETED.source),
  'detail-type': z.literal(S3_RESTORE_COMPLETED.detailType),
  detail: z.object({
    bucket: z.object({ name: z.string().min(1) }),
    object: z.object({ key: z.string().min(1), 'version-id': z.string().nullish() }),
    'restore-expiry-time': z.string().nullish(),
    'source-storage-class': z.string().nullish(),
  }),
});
export type S3RestoreCompletedEvent = z.infer<typeof S3RestoreCompletedEventSchema>;

export type RetrievalNotification =
  { kind: 'vault-job'; message: z.infer<typeof JobNotificationSchema> } | { kind: 's3-restore'; event: S3RestoreCompletedEvent };

/** Either message the queue carries: an EventBridge event has a `source`, Glacier's DescribeJob JSON does not. */
export function parseRetrievalNotification(body: unknown): RetrievalNotification {
  if (body !== null && typeof body === 'object' && 'source' in body) return { kind: 's3-restore', event: S3RestoreCompletedEventSchema.parse(body) };
  return { kind: 'vault-job', message: JobNotificationSchema.parse(body) };
}

/**
 * The keys an event's `object.key` may stand for. S3 URL-encodes keys in its notifications (a space as `+` in the SNS
 * and SQS ones); the key is matched against the one each waiter restored, so every reading is tried, the raw one first.
 */
export function objectKeyReadings(key: string): string[] {
  const readings = [key];
  for (const decode of [(k: string) => decodeURIComponent(k), (k: string) => decodeURIComponent(k.replace(/\+/g, ' '))]) {
    try {
      readings.push(decode(key));
    } catch {
      // not percent-encoded after all
    }
  }
  return [...new Set(readings)];
}

export interface S3RestoreResumption {
  /** `not-ours`: the key is not an archive object; `no-waiter`: nothing was waiting (any more). */
  outcome: 'resumed' | 'no-waiter' | 'not-ours';
  /** Tasks resumed, and waiters whose task had already given up waiting (the poll took over). */
  resumed: number;
  stale: number;
}

/**
 * Resumes every restore waiting on the object the event names (each a waiter item next to the run), then removes
 * those waiters. A token that no longer waits counts as stale; anything else (throttling) is thrown for the queue to
 * redeliver, and the waiters already resumed are gone by then, so no task is resumed twice.
 */
export async function resumeAfterS3Restore(args: { sfn: SFNClient; index: RunIndex; event: S3RestoreCompletedEvent }): Promise<S3RestoreResumption> {
  const { bucket, object } = args.event.detail;
  const versionId = object['version-id'] ?? undefined;
  const waiters: RestoreWaiterRecord[] = [];
  let ours = false;
  for (const key of objectKeyReadings(object.key)) {
    // A file's copy (runs/<uuid>/<path>) or a bundle (bundles/<uuid>/<id>.tar), whose members' restores wait on it.
    const file = parseArchiveObjectKey(key);
    const bundle = parseBundleObjectKey(key);
    const ref = file
      ? { runUuid: file.runUuid, objectRef: file.path }
      : bundle
        ? { runUuid: bundle.runUuid, objectRef: bundleObjectRef(bundle.bundleId) }
        : undefined;
    if (!ref) continue;
    ours = true;
    const found = await args.index.listRestoreWaiters(ref.runUuid, ref.objectRef);
    // The restore of this very object: a waiter on another version of the key waits for that version's own event.
    waiters.push(
      ...found.filter(
        (w) => w.archiveBucket === bucket.name && w.archiveKey === key && (!w.archiveVersionId || !versionId || w.archiveVersionId === versionId),
      ),
    );
  }
  if (!ours) return { outcome: 'not-ours', resumed: 0, stale: 0 };
  let resumed = 0;
  let stale = 0;
  const output = JSON.stringify({
    ...s3RestoreReady(S3_RESTORE_COMPLETED.detailType),
    ...(args.event.detail['restore-expiry-time'] ? { restoreExpiryTime: args.event.detail['restore-expiry-time'] } : {}),
  });
  for (const waiter of waiters) {
    const record = await args.index.getRestoreFile(waiter.runUuid, waiter.restoreId, waiter.path);
    if (record?.taskToken) {
      try {
        await args.sfn.send(new SendTaskSuccessCommand({ taskToken: record.taskToken, output }));
        resumed++;
      } catch (error) {
        if (!isGoneTaskToken(error)) throw error;
        stale++;
      }
    } else stale++;
    await args.index.deleteRestoreWaiter(waiter.runUuid, waiterRefOf(waiter), waiter.restoreId);
  }
  return { outcome: resumed ? 'resumed' : 'no-waiter', resumed, stale };
}
