// Run deletion and the queues in front of it, on the local cloud: only the archived run is deleted, failures end in the DLQ.
import { DeleteRunCommand, GetRunCommand } from '@aws-sdk/client-omics';
import { GetQueueAttributesCommand, ReceiveMessageCommand, SendMessageCommand } from '@aws-sdk/client-sqs';
import * as clients from '../../functions/lib/runtime/clients';
import { archiveExecution, eventually, executionsNamed, index, loadRun, runReaches, useLocalCloud } from '../support/local-cloud';
import { OUTPUT_BUCKET, WORKFLOW_POLICY } from '../support/policies';

jest.setTimeout(120_000);
const cloud = useLocalCloud(WORKFLOW_POLICY);

async function queueDepth(url: string): Promise<number> {
  const { Attributes } = await clients
    .sqsClient()
    .send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'] }));
  return Number(Attributes?.ApproximateNumberOfMessages ?? 0) + Number(Attributes?.ApproximateNumberOfMessagesNotVisible ?? 0);
}

describe('run deletion', () => {
  test('the run id was reused before deletion: the archived run counts as gone and the new run is never deleted', async () => {
    const release = cloud().lambdas.intercept('deleteRun', async () => {
      release();
      // Someone deleted the archived run by hand, and HealthOmics gave its id to a new run.
      const first = cloud()
        .omics.runs()
        .find((r) => r.id === archivedRunId);
      if (first) await clients.omicsClient().send(new DeleteRunCommand({ id: first.id }));
      await loadRun(cloud(), { tags: { policy: 'keep' } }, { outputBucket: OUTPUT_BUCKET, publishEvent: false }).then((r) => (newRun = r));
    });
    let newRun: Awaited<ReturnType<typeof loadRun>> | undefined;
    const run = await loadRun(cloud(), { outputs: [{ path: 'a.txt', content: 'a' }] }, { outputBucket: OUTPUT_BUCKET });
    const archivedRunId = run.id;
    expect((await archiveExecution(cloud(), run.id, run.uuid)).status).toBe('SUCCEEDED');
    const record = await runReaches(cloud(), run.uuid, ['RUN_DELETED']);
    expect(record?.archiveState).toBe('RUN_DELETED');
    expect(record?.runDeletionNote).toMatch(/now belongs to run/);
    expect(newRun?.id).toBe(run.id);
    expect(newRun?.uuid).not.toBe(run.uuid);
    expect((await clients.omicsClient().send(new GetRunCommand({ id: run.id }))).uuid).toBe(newRun?.uuid);
  });

  test('a deletion that keeps failing is retried, then parked in the DLQ; the run stays ARCHIVED and in HealthOmics', async () => {
    let attempts = 0;
    const release = cloud().lambdas.intercept('deleteRun', () => {
      attempts++;
      throw new Error('HealthOmics is throttling');
    });
    try {
      const run = await loadRun(cloud(), { outputs: [{ path: 'b.txt', content: 'b' }] }, { outputBucket: OUTPUT_BUCKET });
      expect((await archiveExecution(cloud(), run.id, run.uuid)).status).toBe('SUCCEEDED');
      const dlq = cloud().resources.queues.runDeletion.dlqUrl;
      expect(
        await eventually(
          () => queueDepth(dlq),
          (n) => n === 1,
          60_000,
        ),
      ).toBe(1);
      expect(attempts).toBe(5);
      const { Messages = [] } = await clients.sqsClient().send(new ReceiveMessageCommand({ QueueUrl: dlq, MaxNumberOfMessages: 1 }));
      expect(JSON.parse(Messages[0].Body ?? '{}')).toMatchObject({ runUuid: run.uuid, event: 'RUN_ARCHIVED' });
      expect(await index(cloud()).getRun(run.uuid)).toMatchObject({ archiveState: 'ARCHIVED' });
      expect((await clients.omicsClient().send(new GetRunCommand({ id: run.id }))).uuid).toBe(run.uuid);
    } finally {
      release();
    }
  });

  test('malformed run events are dropped with a log line, not retried into the DLQ', async () => {
    const { url, dlqUrl } = cloud().resources.queues.runCompletion;
    await clients.sqsClient().send(new SendMessageCommand({ QueueUrl: url, MessageBody: 'not json at all' }));
    await clients
      .sqsClient()
      .send(new SendMessageCommand({ QueueUrl: url, MessageBody: JSON.stringify({ source: 'aws.omics', 'detail-type': 'Run Status Change', detail: {} }) }));
    expect(
      await eventually(
        () => queueDepth(url),
        (n) => n === 0,
        20_000,
      ),
    ).toBe(0);
    await new Promise((r) => setTimeout(r, 1500));
    expect(await queueDepth(dlqUrl)).toBe(0);
  });

  test('events for runs that are not terminal never start an archive', async () => {
    const run = await loadRun(cloud(), { status: 'RUNNING', outputs: [] }, { outputBucket: OUTPUT_BUCKET, publishEvent: false });
    const { url } = cloud().resources.queues.runCompletion;
    // A COMPLETED event for a run HealthOmics says is still running (a stale or forged event).
    await clients.sqsClient().send(
      new SendMessageCommand({
        QueueUrl: url,
        MessageBody: JSON.stringify({ source: 'aws.omics', 'detail-type': 'Run Status Change', detail: { runId: run.id, status: 'COMPLETED' } }),
      }),
    );
    expect(
      await eventually(
        () => queueDepth(url),
        (n) => n === 0,
        20_000,
      ),
    ).toBe(0);
    await new Promise((r) => setTimeout(r, 1000));
    expect(await executionsNamed(cloud().resources.stateMachines.archiveRun, `run-${run.id}-`)).toEqual([]);
    expect(await index(cloud()).getRun(run.uuid)).toBeUndefined();
  });
});
