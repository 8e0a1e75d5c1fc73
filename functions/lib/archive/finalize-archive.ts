// Settles a run's archive from its file records, and records failures, producing the event the workflow publishes.
import { ARCHIVE_EVENTS } from '../contract';
import type { ArchiveState, FileCounts, FileRecord, RunIndex, RunRecord } from '../index/run-index';
import { describeWorkflowError, type WorkflowError } from '../runtime/workflow-error';

export type { WorkflowError };

/** The message the workflow publishes to SNS; `event` and `deleteRun` also travel as message attributes. */
export interface ArchiveOutcome {
  runUuid: string;
  runId: string;
  tier: string;
  archiveState: ArchiveState;
  event: (typeof ARCHIVE_EVENTS)[keyof typeof ARCHIVE_EVENTS];
  /** A string, as SNS message attributes and filter policies compare strings. */
  deleteRun: 'true' | 'false';
  snapshotLocation?: string;
  counts?: FileCounts;
  failureReason?: string;
  failedFiles?: { path: string; reason: string }[];
}

const MAX_FAILED_LISTED = 50;
/**
 * The failed files listed on the run record and in the published message take at most this much JSON: a path can
 * be 1,024 bytes and every control character in it six once escaped, so 50 of them with their reasons could pass
 * SNS's 256 KiB message limit (and Step Functions' 256 KiB state). `counts.failed` still counts them all, and each
 * file's record in the index keeps its reason.
 */
export const MAX_FAILED_LISTED_BYTES = 32 * 1024;

/** The first failed files, at most MAX_FAILED_LISTED of them and MAX_FAILED_LISTED_BYTES of JSON. */
export function listedFailures(failedFiles: { path: string; reason: string }[]): { path: string; reason: string }[] {
  const listed: { path: string; reason: string }[] = [];
  let bytes = 2;
  for (const file of failedFiles.slice(0, MAX_FAILED_LISTED)) {
    bytes += Buffer.byteLength(JSON.stringify(file)) + 1;
    if (bytes > MAX_FAILED_LISTED_BYTES) break;
    listed.push(file);
  }
  return listed;
}

/** ARCHIVED when every file meant for the archive is archived; PARTIAL when some are; FAILED when none are. */
export function settleState(files: FileRecord[]): {
  state: ArchiveState;
  counts: FileCounts;
  archivedBytes: number;
  failedFiles: { path: string; reason: string }[];
} {
  const counts: FileCounts = { files: files.length, archive: 0, keep: 0, skip: 0, archived: 0, failed: 0 };
  let archivedBytes = 0;
  const failedFiles: { path: string; reason: string }[] = [];
  for (const file of files) {
    if (file.action === 'keep') {
      counts.keep++;
      continue;
    }
    counts.archive++;
    if (file.state === 'ARCHIVED') {
      counts.archived++;
      archivedBytes += file.size;
    } else {
      counts.failed++;
      failedFiles.push({ path: file.path, reason: file.failureReason ?? `left ${file.state}: the archive step did not finish it` });
    }
  }
  const state: ArchiveState = counts.failed === 0 ? 'ARCHIVED' : counts.archived > 0 ? 'PARTIAL' : 'FAILED';
  return { state, counts, archivedBytes, failedFiles };
}

const EVENT_FOR: Record<string, ArchiveOutcome['event']> = {
  ARCHIVED: ARCHIVE_EVENTS.archived,
  PARTIAL: ARCHIVE_EVENTS.partial,
  FAILED: ARCHIVE_EVENTS.failed,
};

function outcomeOf(run: RunRecord): ArchiveOutcome {
  return {
    runUuid: run.runUuid,
    runId: run.runId,
    tier: run.tier,
    archiveState: run.archiveState,
    event: EVENT_FOR[run.archiveState] ?? ARCHIVE_EVENTS.failed,
    // Only a complete archive with its snapshot lets the run go.
    deleteRun: run.archiveState === 'ARCHIVED' && run.deleteRun && Boolean(run.snapshotLocation) ? 'true' : 'false',
    snapshotLocation: run.snapshotLocation,
    counts: run.counts,
    failureReason: run.failureReason,
    failedFiles: run.failedFiles,
  };
}

/** Moves the run from ARCHIVING to ARCHIVED, PARTIAL or FAILED according to its files. */
export async function finalizeArchive(index: RunIndex, runUuid: string, now = new Date()): Promise<ArchiveOutcome> {
  const files = await index.listFiles(runUuid);
  const { state, counts, archivedBytes, failedFiles } = settleState(files);
  const run = await index.transitionRun(runUuid, ['ARCHIVING'], state, {
    counts,
    bytes: { total: files.reduce((sum, f) => sum + f.size, 0), archived: archivedBytes },
    failedFiles: listedFailures(failedFiles),
    ...(state === 'FAILED' ? { failureReason: `none of ${counts.archive} files could be archived` } : {}),
    ...(state === 'ARCHIVED' ? { archivedAt: now.toISOString() } : {}),
  });
  return outcomeOf(run);
}

/** Records an unrecoverable failure of the workflow; nothing is deleted on this path. */
export async function recordArchiveFailure(
  index: RunIndex,
  args: { runUuid: string; runId: string; tier?: string; error?: WorkflowError },
): Promise<ArchiveOutcome> {
  const reason = describeWorkflowError(args.error);
  const run = await index.recordFailure(args.runUuid, args.runId, reason, args.tier);
  return { ...outcomeOf(run), event: ARCHIVE_EVENTS.failed, deleteRun: 'false' };
}
