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

/**
 * Bytes of GetRun JSON the run's index item may hold. A DynamoDB item is at most 400 KB, and a run with a huge
 * parameter map (thousands of sample URIs) returns more than that from GetRun; the snapshot's run.json always has it all.
 */
export const INDEXED_RUN_BUDGET_BYTES = 64 * 1024;

/** GetRun fields kept in the index item whatever their size: what identifies and dates the run. */
const KEPT_RUN_FIELDS = new Set([
  'arn',
  'id',
  'uuid',
  'name',
  'status',
  'workflowId',
  'runGroupId',
  'creationTime',
  'startTime',
  'stopTime',
  'runOutputUri',
  'outputUri',
]);

/** What the index item says of the GetRun fields it leaves out. */
export interface OmittedRunFields {
  fields: string[];
  /** The whole GetRun JSON's size, in bytes. */
  bytes: number;
  /** Where every field is: the snapshot's run.json. */
  fullRun: string;
}

const jsonBytes = (value: unknown) => Buffer.byteLength(JSON.stringify(value));

/**
 * GetRun as the index item holds it: whole when it fits `budgetBytes`; otherwise without `parameters` and then its
 * largest other fields (never those identifying the run) until it fits, with `omittedFromIndex` saying which and
 * where the whole JSON is.
 */
export function indexedRun(run: Record<string, unknown>, runJsonUri: string, budgetBytes = INDEXED_RUN_BUDGET_BYTES): Record<string, unknown> {
  const bytes = jsonBytes(run);
  if (bytes <= budgetBytes) return run;
  const kept: Record<string, unknown> = { ...run };
  const omitted: string[] = [];
  const candidates = Object.keys(kept)
    .filter((key) => !KEPT_RUN_FIELDS.has(key))
    .sort((a, b) => (a === 'parameters' ? -1 : b === 'parameters' ? 1 : jsonBytes(kept[b]) - jsonBytes(kept[a])));
  const note = (): OmittedRunFields => ({ fields: omitted, bytes, fullRun: runJsonUri });
  for (const key of candidates) {
    if (jsonBytes({ ...kept, omittedFromIndex: note() }) <= budgetBytes) break;
    delete kept[key];
    omitted.push(key);
  }
  // The identifying fields alone are bounded by HealthOmics (ids, ARNs, times); a name or URI is at most a few KB.
  return { ...kept, omittedFromIndex: note() };
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
  options: {
    tier: Pick<Tier, 'name' | 'deleteRun'>;
    archiveAfterSeconds: number;
    executionArn?: string;
    /** The owner of an archive under way this execution found stopped (run-owner.ts). */
    takeOverFrom?: string | null;
    now?: Date;
  },
): Promise<SnapshotResult> {
  const run = snapshot.run;
  const runOutputUri = runOutputUriOf(run, snapshot.runId);
  const stopTime = run.stopTime ?? run.creationTime ?? snapshot.capturedAt;
  await index.indexRun(
    {
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
      run: indexedRun(run, `${snapshot.location}run.json`),
    },
    { takeOverFrom: options.takeOverFrom },
  );
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
