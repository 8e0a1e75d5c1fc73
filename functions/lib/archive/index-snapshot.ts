// Records a snapshotted run in the index and works out what the archive step needs from the snapshot.
import type { Tier } from '../contract';
import type { RunIndex } from '../index/run-index';
import type { RunSnapshot } from './snapshot-run';

/** What the workflow carries from the snapshot to the plan. */
export interface SnapshotResult {
  location: string;
  objectCount: number;
  runOutputUri: string;
  /** s3:// prefixes never to archive: run caches. */
  excludeUris: string[];
  /** When the outputs are old enough (run stop time + the tier's archiveAfter), RFC 3339 without fractions. */
  archiveAt: string;
}

const rfc3339 = (date: Date) => date.toISOString().replace(/\.\d{3}Z$/, 'Z');

/** The run's output folder: GetRun's runOutputUri, or outputUri/<runId>/ for runs that predate it. */
export function runOutputUriOf(run: { runOutputUri?: string; outputUri?: string }, runId: string): string {
  if (run.runOutputUri) return run.runOutputUri;
  if (!run.outputUri) throw new Error(`run ${runId} has neither runOutputUri nor outputUri`);
  return `${run.outputUri.replace(/\/?$/, '/')}${runId}/`;
}

export async function indexSnapshot(
  index: RunIndex,
  snapshot: RunSnapshot,
  options: { tier: Pick<Tier, 'name' | 'deleteRun'>; archiveAfterSeconds: number; executionArn?: string; now?: Date },
): Promise<SnapshotResult> {
  const run = snapshot.run;
  const runOutputUri = runOutputUriOf(run, snapshot.runId);
  const stopTime = run.stopTime ?? run.creationTime ?? snapshot.capturedAt;
  await index.indexRun({
    runUuid: snapshot.runUuid,
    runId: snapshot.runId,
    runArn: run.arn ?? '',
    name: run.name,
    status: run.status ?? 'UNKNOWN',
    workflowId: run.workflowId,
    runGroupId: run.runGroupId,
    tier: options.tier.name,
    deleteRun: options.tier.deleteRun,
    stopTime,
    creationTime: run.creationTime,
    runOutputUri,
    snapshotLocation: snapshot.location,
    executionArn: options.executionArn,
    run,
  });
  const now = options.now ?? new Date();
  const ageFrom = new Date(stopTime).getTime();
  const archiveAt = new Date(Math.max(now.getTime(), ageFrom + options.archiveAfterSeconds * 1000));
  return {
    location: snapshot.location,
    objectCount: snapshot.objects.length,
    runOutputUri,
    excludeUris: snapshot.cacheUris,
    archiveAt: rfc3339(archiveAt),
  };
}
