// The restore-events topic on the local cloud: a queue subscribed to it hears RESTORE_COMPLETED for a full restore and RESTORE_FAILED for one that lost a file.
import { DeleteObjectCommand } from '@aws-sdk/client-s3';
import { StartExecutionCommand } from '@aws-sdk/client-sfn';
import * as clients from '../../functions/lib/runtime/clients';
import { RESTORE_EVENTS } from '../../functions/lib/contract';
import type { RestoreEvent } from '../../functions/lib/restore/finalize-restore';
import { archiveExecution, eventually, finished, index, loadRun, observeRestoreEvents, useLocalCloud, type PublishedEvent } from '../support/local-cloud';
import { OUTPUT_BUCKET, RESTORE_BUCKET, WORKFLOW_POLICY } from '../support/policies';

jest.setTimeout(120_000);
const cloud = useLocalCloud(WORKFLOW_POLICY);

let names = 0;
async function restore(label: string, request: Record<string, unknown>) {
  const restoreId = `restore-${label}-${Date.now()}-${names++}`;
  const machine = cloud().resources.stateMachines.restoreRun;
  await clients.sfnClient().send(new StartExecutionCommand({ stateMachineArn: machine, name: restoreId, input: JSON.stringify(request) }));
  return { ...(await finished(machine, restoreId)), restoreId };
}

describe('restore events', () => {
  test('a full restore is announced as RESTORE_COMPLETED with the run, the files and where they went; a lost file as RESTORE_FAILED with its reason', async () => {
    const run = await loadRun(cloud(), { tags: { policy: 's3' } }, { outputBucket: OUTPUT_BUCKET });
    expect((await archiveExecution(cloud(), run.id, run.uuid)).status).toBe('SUCCEEDED');
    const archived = (await index(cloud()).listFiles(run.uuid)).filter((f) => f.state === 'ARCHIVED');
    expect(archived.length).toBeGreaterThan(1);
    const events = await observeRestoreEvents(cloud());
    const heard = (restoreId: string) => async () => (await events()).filter((e) => e.body.restoreId === restoreId);

    const prefix = `events-${run.id}/`;
    const completed = await restore('events', { run: run.id, tier: 'Standard', destination: `s3://${RESTORE_BUCKET}/${prefix}` });
    expect(completed.status).toBe('SUCCEEDED');
    const [announced, ...more] = await eventually(heard(completed.restoreId), (e: PublishedEvent[]) => e.length > 0);
    expect(more).toEqual([]);
    expect(announced.attributes).toEqual({
      event: RESTORE_EVENTS.completed,
      runId: run.id,
      runUuid: run.uuid,
      tier: 's3-deep-archive',
      retrievalTier: 'Standard',
    });
    const body = announced.body as unknown as RestoreEvent;
    expect(body).toMatchObject({
      event: 'RESTORE_COMPLETED',
      runId: run.id,
      runUuid: run.uuid,
      state: 'RESTORED',
      fileCount: archived.length,
      restored: archived.length,
      failed: 0,
      destination: `s3://${RESTORE_BUCKET}/${prefix}`,
    });
    expect(body.executionArn).toContain(completed.restoreId);
    expect(body.files.map((f) => [f.path, f.state, f.destination]).sort()).toEqual(
      archived.map((f) => [f.path, 'RESTORED', `s3://${RESTORE_BUCKET}/${prefix}${f.path}`]).sort(),
    );
    expect(body.filesOmitted).toBeUndefined();

    // One archived object gone from the archive bucket: its file fails, the others come back, and the event says which.
    const [lost] = archived;
    await clients
      .s3Client()
      .send(
        new DeleteObjectCommand({ Bucket: lost.archiveBucket, Key: lost.archiveKey, ...(lost.archiveVersionId ? { VersionId: lost.archiveVersionId } : {}) }),
      );
    const failedPrefix = `events-failed-${run.id}/`;
    const failed = await restore('events-failed', { run: run.id, tier: 'Standard', destination: `s3://${RESTORE_BUCKET}/${failedPrefix}` });
    expect(failed.status).toBe('FAILED');
    const [failure] = await eventually(heard(failed.restoreId), (e: PublishedEvent[]) => e.length > 0);
    expect(failure.attributes.event).toBe(RESTORE_EVENTS.failed);
    const failedBody = failure.body as unknown as RestoreEvent;
    expect(failedBody).toMatchObject({ event: 'RESTORE_FAILED', state: 'FAILED', restored: archived.length - 1, failed: 1 });
    expect(failedBody.files[0]).toMatchObject({ path: lost.path, state: 'FAILED', failureReason: expect.any(String) as string });
  });
});
