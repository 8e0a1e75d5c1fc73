// Unit tests for the delete-run handler: an SQS batch of RUN_ARCHIVED messages, partial batch failures, bad ones dropped.
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, GetCommand, UpdateCommand, type UpdateCommandInput } from '@aws-sdk/lib-dynamodb';
import { DeleteRunCommand, GetRunCommand, OmicsClient } from '@aws-sdk/client-omics';
import { mockClient } from 'aws-sdk-client-mock';
import { handler } from '../../functions/delete-run';
import { ENV } from '../../functions/lib/contract';
import { quietPowertools, sqsBatch, sqsRecordsFrom, useEnv } from '../support/handlers';

const TABLE = 'run-index';
const ddbMock = mockClient(DynamoDBDocumentClient);
const omicsMock = mockClient(OmicsClient);

const sqsRecord = sqsRecordsFrom('RunDeletion', {
  event: { stringValue: 'RUN_ARCHIVED', dataType: 'String', stringListValues: [], binaryListValues: [] },
  deleteRun: { stringValue: 'true', dataType: 'String', stringListValues: [], binaryListValues: [] },
});

/** The archive outcome the workflow publishes (raw SNS delivery: the SQS body is the message itself). */
const archived = (n: string) =>
  JSON.stringify({
    runUuid: `uuid-${n}`,
    runId: n,
    tier: 'standard',
    archiveState: 'ARCHIVED',
    event: 'RUN_ARCHIVED',
    deleteRun: 'true',
    snapshotLocation: `s3://snap/runs/uuid-${n}/`,
  });

/** Run records by uuid; conditional updates move them as DynamoDB would. */
let records: Map<string, Record<string, unknown>>;

const powertools = quietPowertools();
useEnv({ [ENV.runIndexTable]: TABLE });

beforeEach(() => {
  ddbMock.reset();
  omicsMock.reset();
  records = new Map(
    ['1', '2', '3'].map((n) => [
      `uuid-${n}`,
      {
        pk: `RUN#uuid-${n}`,
        sk: 'META',
        runUuid: `uuid-${n}`,
        runId: n,
        tier: 'standard',
        deleteRun: true,
        archiveState: 'ARCHIVED',
        snapshotLocation: `s3://snap/runs/uuid-${n}/`,
      },
    ]),
  );
  ddbMock.on(GetCommand).callsFake((input: { Key: { pk: string } }) => ({ Item: records.get(input.Key.pk.replace('RUN#', '')) }));
  ddbMock.on(UpdateCommand).callsFake((input: UpdateCommandInput) => {
    const record = records.get(String(input.Key!.pk).replace('RUN#', ''))!;
    const values = input.ExpressionAttributeValues!;
    const allowed = (/IN \(([^)]*)\)/.exec(input.ConditionExpression!)?.[1] ?? '').split(', ').map((p): unknown => values[p]);
    if (!allowed.includes(record.archiveState)) throw new ConditionalCheckFailedException({ message: 'The conditional request failed', $metadata: {} });
    for (const part of input.UpdateExpression!.replace(/^SET /, '').split(', ')) {
      const [name, value] = part.split(' = ');
      record[input.ExpressionAttributeNames![name]] = input.ExpressionAttributeValues![value];
    }
    return { Attributes: { ...record } };
  });
  omicsMock.on(GetRunCommand).callsFake((input: { id: string }) => ({ id: input.id, uuid: `uuid-${input.id}`, status: 'COMPLETED' }));
  omicsMock.on(DeleteRunCommand).resolves({});
});

describe('delete-run handler', () => {
  it('deletes the good run, drops the malformed message, and reports the run not yet deletable for retry', async () => {
    // GetRun shows run 3 (same uuid) RUNNING: HealthOmics would refuse DeleteRun, so the message waits for a retry.
    omicsMock.on(GetRunCommand, { id: '3' }).resolves({ id: '3', uuid: 'uuid-3', status: 'RUNNING' });

    const result = await handler(sqsBatch(sqsRecord('msg-1', archived('1')), sqsRecord('msg-2', '{"runId":"2"}'), sqsRecord('msg-3', archived('3'))));

    expect(result).toEqual({ batchItemFailures: [{ itemIdentifier: 'msg-3' }] });
    expect(omicsMock).toHaveReceivedCommandWith(DeleteRunCommand, { id: '1' });
    expect(omicsMock).toHaveReceivedCommandTimes(DeleteRunCommand, 1);
    expect(records.get('uuid-1')!.archiveState).toBe('RUN_DELETED');
    expect(records.get('uuid-2')!.archiveState).toBe('ARCHIVED');
    expect(records.get('uuid-3')!.archiveState).toBe('DELETING');
    expect(powertools.logs.error).toHaveBeenCalledWith('Malformed run-archived message dropped', expect.objectContaining({ messageId: 'msg-2' }));
    expect(powertools.addMetric).toHaveBeenCalledWith('MalformedDeletionMessages', 'Count', 1);
    expect(powertools.addMetric).toHaveBeenCalledWith('RunsDeleted', 'Count', 1);
  });

  it('drops a body that is not JSON', async () => {
    expect(await handler(sqsBatch(sqsRecord('bad', 'RUN_ARCHIVED')))).toEqual({ batchItemFailures: [] });
    expect(ddbMock.calls()).toHaveLength(0);
  });

  it('reports a throttled DeleteRun for retry and keeps the other records', async () => {
    omicsMock.on(DeleteRunCommand, { id: '2' }).rejects(Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException' }));
    const result = await handler(sqsBatch(sqsRecord('a', archived('1')), sqsRecord('b', archived('2'))));
    expect(result).toEqual({ batchItemFailures: [{ itemIdentifier: 'b' }] });
    expect(records.get('uuid-1')!.archiveState).toBe('RUN_DELETED');
  });

  it('lets refusals and finished deletions go, counting the refusals', async () => {
    records.get('uuid-1')!.archiveState = 'PARTIAL';
    records.get('uuid-2')!.archiveState = 'RUN_DELETED';
    const result = await handler(sqsBatch(sqsRecord('a', archived('1')), sqsRecord('b', archived('2'))));
    expect(result).toEqual({ batchItemFailures: [] });
    expect(omicsMock.calls()).toHaveLength(0);
    expect(powertools.addMetric).toHaveBeenCalledWith('RunDeletionsRefused', 'Count', 1);
  });
});
