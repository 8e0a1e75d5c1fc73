// One execution archives a run at a time: who owns a run's archive, and whether a new execution may take it over.
import { DescribeExecutionCommand, ExecutionDoesNotExist, type SFNClient } from '@aws-sdk/client-sfn';
import { ArchiveInProgressError, IN_PROGRESS_STATES, type RunIndex } from '../index/run-index';

/**
 * What `RunIndex.indexRun` may take over for this execution: nothing to take over (a new run, this execution's own,
 * or one whose archive ended), or the owner of an archive under way that is no longer running. Throws
 * ArchiveInProgress when the owner still runs, so this execution stands down before it snapshots anything.
 *
 * Step Functions keeps execution history for 90 days; an owner it no longer knows has long stopped.
 */
export async function archiveTakeOver(args: {
  sfn: SFNClient;
  index: RunIndex;
  runUuid: string;
  executionArn: string;
}): Promise<{ takeOverFrom?: string | null }> {
  const current = await args.index.getRun(args.runUuid);
  if (!current || !(IN_PROGRESS_STATES as readonly string[]).includes(current.archiveState)) return {};
  const owner = current.executionArn;
  if (owner === args.executionArn) return {};
  if (!owner) return { takeOverFrom: null };
  try {
    const described = await args.sfn.send(new DescribeExecutionCommand({ executionArn: owner }));
    if (described.status === 'RUNNING' || described.status === 'PENDING_REDRIVE') throw new ArchiveInProgressError(args.runUuid, owner);
  } catch (error) {
    if (!(error instanceof ExecutionDoesNotExist || (error as Error).name === 'ExecutionDoesNotExist')) throw error;
  }
  return { takeOverFrom: owner };
}
