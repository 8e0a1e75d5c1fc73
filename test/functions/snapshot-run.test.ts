// Unit tests for the snapshot-run handler: validated input, its environment, and the snapshot indexed with the tier's waits.
import { CloudWatchLogsClient } from '@aws-sdk/client-cloudwatch-logs';
import { OmicsClient } from '@aws-sdk/client-omics';
import { S3Client } from '@aws-sdk/client-s3';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { ZodError } from 'zod';
import { handler } from '../../functions/snapshot-run';
import { runKey } from '../../functions/lib/index/run-index';
import { snapshotRun, type RunSnapshot } from '../../functions/lib/archive/snapshot-run';
import { ENV } from '../../functions/lib/contract';
import { RUN_UUID as UUID, quietPowertools, useEnv } from '../support/handlers';
import { FakeRunIndexTable } from '../support/run-index-table';

// The snapshot itself has its own tests (test/functions/lib/run-snapshot.test.ts); here it is the handler's collaborator.
jest.mock('../../functions/lib/archive/snapshot-run', () => ({ snapshotRun: jest.fn() }));
const snapshotRunMock = jest.mocked(snapshotRun);

const TABLE = 'run-index';
const RUN_ID = '7830534';
const ddbMock = mockClient(DynamoDBDocumentClient);
const omicsMock = mockClient(OmicsClient);
const logsMock = mockClient(CloudWatchLogsClient);
const s3Mock = mockClient(S3Client);
let table: FakeRunIndexTable;
quietPowertools();
useEnv({ [ENV.runIndexTable]: TABLE, [ENV.snapshotBucket]: 'snapshots' });

const snapshot: RunSnapshot = {
  runId: RUN_ID,
  runUuid: UUID,
  location: `s3://snapshots/runs/${UUID}/`,
  capturedAt: '2025-06-01T08:00:00.000Z',
  objects: [{ key: `runs/${UUID}/snapshot.json`, size: 1, sha256: 'a', contentType: 'application/json' }],
  run: {
    id: RUN_ID,
    uuid: UUID,
    arn: `arn:aws:omics:us-east-1:123456789012:run/${RUN_ID}`,
    status: 'COMPLETED',
    stopTime: '2099-01-01T00:00:00.000Z',
    runOutputUri: 's3://outputs/1/',
  },
  taskCount: 0,
  logStreams: [],
  missingLogStreams: [],
  logEvents: 0,
  manifestKey: 'm',
  cacheUris: ['s3://outputs/cache/'],
};
const event = {
  runId: RUN_ID,
  runUuid: UUID,
  tier: { name: 'standard', deleteRun: true },
  waits: { settleSeconds: 300, archiveAfterSeconds: 86400 },
  executionArn: 'arn:aws:states:us-east-1:123456789012:execution:ArchiveRun:x',
};

beforeEach(() => {
  ddbMock.reset();
  snapshotRunMock.mockReset();
  snapshotRunMock.mockResolvedValue(snapshot);
  table = new FakeRunIndexTable(TABLE).attach(ddbMock);
});

describe('snapshot-run handler', () => {
  it.each([
    ['no run id', { ...event, runId: '' }],
    ['no waits', { ...event, waits: undefined }],
    ['a negative ageing wait', { ...event, waits: { settleSeconds: 0, archiveAfterSeconds: -1 } }],
    ['a tier the policy schema refuses', { ...event, tier: { name: 'Not Valid' } }],
    ['nothing', undefined],
  ])('rejects %s with a ZodError before any AWS call', async (_name, input) => {
    await expect(handler(input)).rejects.toBeInstanceOf(ZodError);
    expect(snapshotRunMock).not.toHaveBeenCalled();
    expect(ddbMock.calls()).toHaveLength(0);
  });

  it('snapshots the run into the snapshot bucket, indexes it with the tier and says when to archive', async () => {
    const result = await handler(event);

    expect(snapshotRunMock).toHaveBeenCalledWith({
      omics: expect.any(OmicsClient) as OmicsClient,
      logs: expect.any(CloudWatchLogsClient) as CloudWatchLogsClient,
      s3: expect.any(S3Client) as S3Client,
      bucket: 'snapshots',
      runId: RUN_ID,
      expectedUuid: UUID,
    });
    expect(result).toEqual({
      location: snapshot.location,
      objectCount: 1,
      runOutputUri: 's3://outputs/1/',
      excludeUris: ['s3://outputs/cache/'],
      archiveAt: '2099-01-02T00:00:00Z',
    });
    expect(table.get(runKey(UUID).pk, runKey(UUID).sk)).toMatchObject({
      archiveState: 'INDEXED',
      tier: 'standard',
      deleteRun: true,
      executionArn: event.executionArn,
    });
    // Only the mocked snapshot talked to these services.
    expect(omicsMock.calls()).toHaveLength(0);
    expect(logsMock.calls()).toHaveLength(0);
    expect(s3Mock.calls()).toHaveLength(0);
  });

  it('fails naming the snapshot bucket variable before snapshotting anything', async () => {
    delete process.env[ENV.snapshotBucket];
    await expect(handler(event)).rejects.toThrow(`environment variable ${ENV.snapshotBucket} is not set`);
    expect(snapshotRunMock).not.toHaveBeenCalled();
  });

  it('fails naming the table variable when it is not set', async () => {
    delete process.env[ENV.runIndexTable];
    await expect(handler(event)).rejects.toThrow(`environment variable ${ENV.runIndexTable} is not set`);
    expect(ddbMock.calls()).toHaveLength(0);
  });

  it('passes a snapshot failure through (a reused run id is RunUuidMismatch)', async () => {
    snapshotRunMock.mockRejectedValue(Object.assign(new Error('run 7830534 now has another uuid'), { name: 'RunUuidMismatch' }));
    await expect(handler(event)).rejects.toMatchObject({ name: 'RunUuidMismatch' });
    // Only the owner check read the index; nothing was written.
    expect(ddbMock.calls().filter((c) => c.args[0].constructor.name !== 'GetCommand')).toHaveLength(0);
  });
});
