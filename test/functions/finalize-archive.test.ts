// Unit tests for the finalize-archive handler: validated input, and both modes calling through to the index.
import { DynamoDBDocumentClient, QueryCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { ZodError } from 'zod';
import { handler } from '../../functions/finalize-archive';
import { ENV } from '../../functions/lib/contract';
import { RUN_UUID as UUID, quietPowertools, useEnv } from '../support/handlers';

const TABLE = 'run-index';
const ddbMock = mockClient(DynamoDBDocumentClient);
const powertools = quietPowertools();
useEnv({ [ENV.runIndexTable]: TABLE });

const run = { pk: `RUN#${UUID}`, sk: 'META', runUuid: UUID, runId: '7830534', tier: 'standard', deleteRun: true, snapshotLocation: 's3://snap/x/' };

beforeEach(() => {
  ddbMock.reset();
});

describe('finalize-archive handler', () => {
  it.each([
    ['no mode', { runUuid: UUID }],
    ['an unknown mode', { mode: 'done', runUuid: UUID }],
    ['an empty run uuid', { mode: 'complete', runUuid: '' }],
    ['a failure without its run id', { mode: 'failed', runUuid: UUID }],
    ['an error that is not an object', { mode: 'failed', runUuid: UUID, runId: '1', error: 'boom' }],
    ['nothing', undefined],
  ])('rejects %s with a ZodError, touching nothing', async (_, event) => {
    await expect(handler(event)).rejects.toBeInstanceOf(ZodError);
    expect(ddbMock.calls()).toHaveLength(0);
  });

  it('settles a complete archive from the file records', async () => {
    ddbMock.on(QueryCommand).resolves({
      Items: [
        { path: 'a.bam', action: 'archive', state: 'ARCHIVED', size: 10 },
        { path: 'b.txt', action: 'keep', state: 'KEPT', size: 1 },
      ],
    });
    ddbMock
      .on(UpdateCommand)
      .resolves({ Attributes: { ...run, archiveState: 'ARCHIVED', counts: { files: 2, archive: 1, keep: 1, skip: 0, archived: 1, failed: 0 } } });

    const outcome = await handler({ mode: 'complete', runUuid: UUID }, { awsRequestId: 'req-1' });

    expect(outcome).toMatchObject({ runUuid: UUID, archiveState: 'ARCHIVED', event: 'RUN_ARCHIVED', deleteRun: 'true' });
    const update = ddbMock.commandCalls(UpdateCommand)[0].args[0].input;
    expect(update).toMatchObject({
      TableName: TABLE,
      Key: { pk: `RUN#${UUID}`, sk: 'META' },
      ExpressionAttributeValues: expect.objectContaining({ ':from0': 'ARCHIVING' }) as Record<string, unknown>,
    });
    expect(powertools.addMetric).toHaveBeenCalledWith('RunsArchived', 'Count', 1);
  });

  it('records a workflow failure with the cause’s message, never deleting the run', async () => {
    ddbMock.on(UpdateCommand).resolves({ Attributes: { ...run, archiveState: 'FAILED', failureReason: 'x' } });
    const outcome = await handler({
      mode: 'failed',
      runUuid: UUID,
      runId: '7830534',
      tier: 'standard',
      error: { Error: 'Lambda.Unknown', Cause: JSON.stringify({ errorMessage: 'out of memory' }) },
    });
    expect(outcome).toMatchObject({ archiveState: 'FAILED', event: 'RUN_ARCHIVE_FAILED', deleteRun: 'false' });
    expect(ddbMock.commandCalls(UpdateCommand)[0].args[0].input.ExpressionAttributeValues).toMatchObject({
      ':reason': 'Lambda.Unknown: out of memory',
      ':tier': 'standard',
      ':runId': '7830534',
    });
    expect(ddbMock).not.toHaveReceivedCommand(QueryCommand);
    expect(powertools.addMetric).toHaveBeenCalledWith('RunsArchiveFailed', 'Count', 1);
  });

  it('fails naming the variable when the table is not configured', async () => {
    delete process.env[ENV.runIndexTable];
    await expect(handler({ mode: 'complete', runUuid: UUID })).rejects.toThrow(`environment variable ${ENV.runIndexTable} is not set`);
  });
});
