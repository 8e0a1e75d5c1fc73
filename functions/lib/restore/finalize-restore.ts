// Restore outcomes: a file the workflow gave up on, and the request settled from its files.
import type { RestoreItem, WorkflowError } from '../contract';
import type { RestoreFileRecord, RunIndex } from '../index/run-index';
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

/**
 * Settles the restore request from its files: RESTORED only when every file is. Removes the restore's S3 waiters that
 * no event resolved (the poll finished those files, or they failed), so no event looks for them again.
 */
export async function finalizeRestore(index: RunIndex, runUuid: string, restoreId: string): Promise<RestoreOutcome> {
  for (const waiter of (await index.listRunRestoreWaiters(runUuid)).filter((w) => w.restoreId === restoreId)) {
    await index.deleteRestoreWaiter(runUuid, waiter.path, restoreId);
  }
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
    files: mine.slice(0, MAX_LISTED).map((f) => ({
      path: f.path,
      state: f.state,
      destination: f.destination,
      ...(f.failureReason ? { failureReason: f.failureReason } : {}),
      ...(f.tierFallback ? { retrievalTier: f.retrievalTier, tierFallback: f.tierFallback } : {}),
    })),
  };
}
