// Deletes an archived run from HealthOmics, safely: only ARCHIVED runs with a snapshot, only the very run (uuid) archived.
import { DeleteRunCommand, GetRunCommand, ResourceNotFoundException, type OmicsClient } from '@aws-sdk/client-omics';
import { TERMINAL_RUN_STATUSES } from '../contract';
import { StateConflictError, type RunIndex } from '../index/run-index';

export type DeletionOutcome =
  | { outcome: 'deleted' }
  | { outcome: 'already-gone'; note: string }
  | { outcome: 'already-deleted' }
  | { outcome: 'in-progress' }
  | { outcome: 'not-deletable'; reason: string };

/**
 * How long one attempt has a DELETING run to itself: longer than the function's 60-second timeout, so a claim ends
 * only after its attempt has; a crashed attempt's message comes back after the queue's visibility timeout, later still.
 */
export const DELETION_CLAIM_MS = 2 * 60_000;

/** The run is not in a state HealthOmics lets us delete yet; the message goes back to the queue. */
export class RunNotDeletableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RunNotDeletable';
  }
}

export async function deleteArchivedRun(args: { omics: OmicsClient; index: RunIndex; runUuid: string; now?: () => Date }): Promise<DeletionOutcome> {
  const now = args.now ?? (() => new Date());
  const record = await args.index.getRun(args.runUuid);
  if (!record) return { outcome: 'not-deletable', reason: `run ${args.runUuid} is not in the index` };
  if (record.archiveState === 'RUN_DELETED') return { outcome: 'already-deleted' };
  if (record.archiveState !== 'ARCHIVED' && record.archiveState !== 'DELETING') {
    return { outcome: 'not-deletable', reason: `run ${args.runUuid} is ${record.archiveState}, not ARCHIVED` };
  }
  if (!record.snapshotLocation) return { outcome: 'not-deletable', reason: `run ${args.runUuid} has no snapshot recorded` };
  if (!record.deleteRun) return { outcome: 'not-deletable', reason: `tier ${record.tier} keeps its runs in HealthOmics` };

  const claimUntil = now().getTime() + DELETION_CLAIM_MS;
  if (record.archiveState === 'ARCHIVED') {
    try {
      await args.index.transitionRun(args.runUuid, ['ARCHIVED'], 'DELETING', { deletionClaimExpiresAt: claimUntil });
    } catch (error) {
      // A twin message got there first; it finishes the job.
      if (error instanceof StateConflictError) return { outcome: 'already-deleted' };
      throw error;
    }
  } else if (!(await args.index.claimDeletion(args.runUuid, { expiresAt: claimUntil, now: now().getTime() }))) {
    // Left DELETING, and another attempt is on it now (or finished it): that one calls DeleteRun, not this one.
    return { outcome: 'in-progress' };
  }
  try {
    return await deleteClaimed(args, record.runId, now);
  } catch (error) {
    // The message comes back for a retry, which must find the run free rather than wait out this claim.
    await args.index.claimDeletion(args.runUuid, { expiresAt: null, now: now().getTime() }).catch(() => undefined);
    throw error;
  }
}

/** The deletion itself, by the one attempt that holds the run DELETING: GetRun first, so DeleteRun is never misaimed. */
async function deleteClaimed(args: { omics: OmicsClient; index: RunIndex; runUuid: string }, runId: string, now: () => Date): Promise<DeletionOutcome> {
  const finish = async (note?: string) => {
    await args.index.transitionRun(args.runUuid, ['DELETING'], 'RUN_DELETED', {
      runDeletedAt: now().toISOString(),
      runDeletionNote: note,
      deletionClaimExpiresAt: null,
    });
  };
  let run;
  try {
    run = await args.omics.send(new GetRunCommand({ id: runId }));
  } catch (error) {
    if (!(error instanceof ResourceNotFoundException)) throw error;
    const note = `run ${runId} was already gone from HealthOmics`;
    await finish(note);
    return { outcome: 'already-gone', note };
  }
  if (run.uuid !== args.runUuid) {
    // HealthOmics reuses run ids: this id now names a different run, so ours is already deleted. Never touch theirs.
    const note = `run id ${runId} now belongs to run ${run.uuid}; the archived run is already gone`;
    await finish(note);
    return { outcome: 'already-gone', note };
  }
  if (run.status === 'DELETED') {
    // DeleteRun is asynchronous (202): a run being deleted, by an earlier attempt or by anyone, shows DELETED for a while.
    // It is not terminal, but waiting would never make it so; the run is as good as gone.
    const note = `run ${runId} is already DELETED in HealthOmics`;
    await finish(note);
    return { outcome: 'already-gone', note };
  }
  if (!(TERMINAL_RUN_STATUSES as readonly string[]).includes(run.status ?? '')) {
    throw new RunNotDeletableError(`run ${runId} is ${run.status}; only COMPLETED, FAILED or CANCELLED runs are deleted`);
  }
  try {
    await args.omics.send(new DeleteRunCommand({ id: runId }));
  } catch (error) {
    if (!(error instanceof ResourceNotFoundException)) throw error;
  }
  await finish();
  return { outcome: 'deleted' };
}
