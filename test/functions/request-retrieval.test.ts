// Unit tests for the request-retrieval handler: validated input, its environment, and the job started with the token parked.
import { DescribeJobCommand, GlacierClient, InitiateJobCommand } from '@aws-sdk/client-glacier';
import { RestoreObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { ZodError } from 'zod';
import { handler } from '../../functions/request-retrieval';
import { jobDescription } from '../../functions/lib/restore/retrieval';
import { restoreFileKey, restoreFileKeyOf } from '../../functions/lib/index/run-index';
import { ENV } from '../../functions/lib/contract';
import { RUN_UUID as UUID, quietPowertools, restoreItem, useEnv } from '../support/handlers';
import { FakeRunIndexTable } from '../support/run-index-table';

const TABLE = 'run-index';
const TOPIC = 'arn:aws:sns:us-east-1:123456789012:vault-jobs';
const ddbMock = mockClient(DynamoDBDocumentClient);
const glacierMock = mockClient(GlacierClient);
const s3Mock = mockClient(S3Client);
let table: FakeRunIndexTable;
quietPowertools();
useEnv({ [ENV.runIndexTable]: TABLE, [ENV.vaultJobsTopicArn]: TOPIC });

const item = restoreItem({ tier: 'Standard', sha256: 's', treeHash: 't' });
const key = restoreFileKey(UUID, 'r-1', 'out/a.bam');

beforeEach(() => {
  ddbMock.reset();
  glacierMock.reset();
  s3Mock.reset();
  table = new FakeRunIndexTable(TABLE).attach(ddbMock);
  table.put({
    ...key,
    runUuid: UUID,
    restoreId: 'r-1',
    path: 'out/a.bam',
    fileKey: restoreFileKeyOf('out/a.bam'),
    state: 'REQUESTED',
    destination: 's3://restores/out/a.bam',
  });
  glacierMock.on(InitiateJobCommand).resolves({ jobId: 'job-1' });
});

describe('request-retrieval handler', () => {
  it.each([
    ['no item', { taskToken: 't' }],
    ['an unknown retrieval kind', { item: { ...item, retrieval: 'tape' } }],
    ['an unknown tier', { item: { ...item, tier: 'Slow' } }],
    ['a negative size', { item: { ...item, size: -1 } }],
    ['a token that is not a string', { item, taskToken: 42 }],
    ['nothing', undefined],
  ])('rejects %s with a ZodError before any AWS call', async (_name, event) => {
    await expect(handler(event)).rejects.toBeInstanceOf(ZodError);
    expect(ddbMock.calls()).toHaveLength(0);
    expect(glacierMock.calls()).toHaveLength(0);
  });

  it('starts the job with the vault jobs topic and parks the task token', async () => {
    expect(await handler({ item, taskToken: 'token-1' })).toEqual({ jobId: 'job-1', reused: false });
    expect(glacierMock).toHaveReceivedCommandWith(InitiateJobCommand, {
      vaultName: 'archive-vault',
      jobParameters: { Type: 'archive-retrieval', ArchiveId: 'archive-1', Tier: 'Standard', SNSTopic: TOPIC, Description: jobDescription(item) },
    });
    expect(table.get(key.pk, key.sk)).toMatchObject({ state: 'RETRIEVING', jobId: 'job-1', taskToken: 'token-1' });
  });

  it('reuses the job already recorded for the file', async () => {
    table.put({ ...table.get(key.pk, key.sk)!, jobId: 'job-0' });
    glacierMock.on(DescribeJobCommand).resolves({ JobId: 'job-0', StatusCode: 'InProgress' });
    expect(await handler({ item, taskToken: 'token-2' })).toEqual({ jobId: 'job-0', reused: true });
    expect(glacierMock.commandCalls(InitiateJobCommand)).toHaveLength(0);
  });

  it('asks S3 to restore an S3 Glacier object', async () => {
    s3Mock.on(RestoreObjectCommand).resolves({});
    const s3Item = { ...item, retrieval: 's3-restore', archiveBucket: 'archive', archiveKey: `runs/${UUID}/out/a.bam`, storageClass: 'GLACIER' };
    expect(await handler({ item: s3Item })).toEqual({ reused: false });
    expect(s3Mock).toHaveReceivedCommandWith(RestoreObjectCommand, { Bucket: 'archive', Key: `runs/${UUID}/out/a.bam` });
  });

  it.each([ENV.runIndexTable, ENV.vaultJobsTopicArn])('fails naming %s when it is not set', async (name) => {
    delete process.env[name];
    await expect(handler({ item, taskToken: 't' })).rejects.toThrow(`environment variable ${name} is not set`);
    expect(glacierMock.calls()).toHaveLength(0);
  });
});
