// Unit tests for the plan-restore handler: validated input, its environment (tier policy included), and the plan written.
import { HeadObjectCommand, NotFound, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { ZodError } from 'zod';
import { handler } from '../../functions/plan-restore';
import { SCHEMA_VERSION, fileKey, restoreKey, runKey } from '../../functions/lib/index/run-index';
import { ENV } from '../../functions/lib/contract';
import { RUN_UUID as UUID, quietPowertools, useEnv } from '../support/handlers';
import { FakeRunIndexTable } from '../support/run-index-table';

const TABLE = 'run-index';
const ddbMock = mockClient(DynamoDBDocumentClient);
const s3Mock = mockClient(S3Client);
let table: FakeRunIndexTable;

const POLICY = {
  outputBuckets: ['outputs'],
  restoreBuckets: ['restores'],
  archiveConcurrency: 3,
  restoreConcurrency: 300,
  tiers: [{ name: 'standard', restoreTier: 'Bulk' }],
};
const event = {
  request: { run: UUID, destination: 's3://restores/back/' },
  restoreId: 'r-1',
  executionArn: 'arn:aws:states:us-east-1:123456789012:execution:RestoreRun:r-1',
};
quietPowertools();
useEnv({ [ENV.runIndexTable]: TABLE, [ENV.tierPolicy]: JSON.stringify(POLICY), [ENV.snapshotBucket]: 'snapshots', [ENV.vaultName]: 'archive-vault' });

beforeEach(() => {
  ddbMock.reset();
  s3Mock.reset();
  table = new FakeRunIndexTable(TABLE).attach(ddbMock);
  table.put({ ...runKey(UUID), runUuid: UUID, runId: '7830534', tier: 'standard', archiveState: 'ARCHIVED', stopTime: '2025-05-30T12:05:00.000Z' });
  table.put({
    ...fileKey(UUID, 'out/a.bam'),
    schemaVersion: SCHEMA_VERSION,
    runUuid: UUID,
    path: 'out/a.bam',
    sourceBucket: 'outputs',
    sourceKey: 'runs/1/out/a.bam',
    size: 10,
    action: 'archive',
    state: 'ARCHIVED',
    target: 'glacier-vault',
    archiveId: 'archive-1',
    treeHash: 't',
    sha256: 's',
  });
  s3Mock.on(HeadObjectCommand).rejects(new NotFound({ message: 'Not Found', $metadata: { httpStatusCode: 404 } }));
  s3Mock.on(PutObjectCommand).resolves({});
});

describe('plan-restore handler', () => {
  it.each([
    ['no restore id', { request: { run: UUID } }],
    ['an empty restore id', { request: { run: UUID }, restoreId: '' }],
    ['an execution ARN that is not a string', { request: { run: UUID }, restoreId: 'r-1', executionArn: 7 }],
    ['nothing', undefined],
  ])('rejects %s with a ZodError before any AWS call', async (_name, input) => {
    await expect(handler(input)).rejects.toBeInstanceOf(ZodError);
    expect(ddbMock.calls()).toHaveLength(0);
    expect(s3Mock.calls()).toHaveLength(0);
  });

  it('fails a malformed restore request with BadRestoreRequest before any AWS call', async () => {
    await expect(handler({ ...event, request: { run: UUID, tier: 'Soon' } })).rejects.toMatchObject({
      name: 'BadRestoreRequest',
      message: expect.stringMatching(/^tier: /) as string,
    });
    expect(ddbMock.calls()).toHaveLength(0);
    expect(s3Mock.calls()).toHaveLength(0);
  });

  it('plans the restore with the deployed tier policy, vault and items bucket', async () => {
    const plan = await handler(event);
    expect(plan).toEqual({
      restoreId: 'r-1',
      runUuid: UUID,
      runId: '7830534',
      tier: 'Bulk',
      destination: 's3://restores/back/',
      fileCount: 1,
      itemsBucket: 'snapshots',
      itemsKey: `restores/${UUID}/r-1/items.json`,
      concurrency: 300, // the policy's restoreConcurrency, not its archiveConcurrency
    });
    const put = s3Mock.commandCalls(PutObjectCommand)[0].args[0].input;
    expect(put).toMatchObject({ Bucket: 'snapshots', Key: `restores/${UUID}/r-1/items.json` });
    expect(JSON.parse(Buffer.from(put.Body as Uint8Array).toString())).toEqual([
      expect.objectContaining({ vaultName: 'archive-vault', archiveId: 'archive-1', destinationKey: 'back/out/a.bam', tier: 'Bulk' }),
    ]);
    expect(table.get(restoreKey(UUID, 'r-1').pk, restoreKey(UUID, 'r-1').sk)).toMatchObject({ executionArn: event.executionArn, state: 'REQUESTED' });
  });

  it.each([ENV.runIndexTable, ENV.snapshotBucket])('fails naming %s when it is not set', async (name) => {
    delete process.env[name];
    await expect(handler(event)).rejects.toThrow(`environment variable ${name} is not set`);
    expect(s3Mock.calls()).toHaveLength(0);
  });

  it('fails naming the tier policy when it is not set', async () => {
    delete process.env[ENV.tierPolicy];
    await expect(handler(event)).rejects.toThrow(`the tier policy (${ENV.tierPolicy}) is not set`);
    expect(s3Mock.calls()).toHaveLength(0);
  });

  it('fails naming the variable when the tier policy is not valid', async () => {
    process.env[ENV.tierPolicy] = JSON.stringify({ ...POLICY, tiers: [] });
    await expect(handler(event)).rejects.toThrow(`environment variable ${ENV.tierPolicy}`);
    expect(ddbMock.calls()).toHaveLength(0);
  });
});
