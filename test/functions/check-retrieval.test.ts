// Unit tests for the check-retrieval handler: validated input, its environment, and the poll's answer for each kind.
import { DescribeJobCommand, GlacierClient } from '@aws-sdk/client-glacier';
import { HeadObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { ZodError } from 'zod';
import { handler } from '../../functions/check-retrieval';
import { restoreFileKey } from '../../functions/lib/index/run-index';
import { ENV } from '../../functions/lib/contract';
import { RUN_UUID as UUID, quietPowertools, restoreItem, useEnv } from '../support/handlers';
import { FakeRunIndexTable } from '../support/run-index-table';

const TABLE = 'run-index';
const ddbMock = mockClient(DynamoDBDocumentClient);
const glacierMock = mockClient(GlacierClient);
const s3Mock = mockClient(S3Client);
let table: FakeRunIndexTable;
quietPowertools();
useEnv({ [ENV.runIndexTable]: TABLE });

const item = restoreItem();

beforeEach(() => {
  ddbMock.reset();
  glacierMock.reset();
  s3Mock.reset();
  table = new FakeRunIndexTable(TABLE).attach(ddbMock);
  table.put({
    ...restoreFileKey(UUID, 'r-1', 'out/a.bam'),
    runUuid: UUID,
    restoreId: 'r-1',
    path: 'out/a.bam',
    state: 'RETRIEVING',
    jobId: 'job-1',
    destination: 'x',
  });
});

describe('check-retrieval handler', () => {
  it.each([
    ['no item', {}],
    ['an item without a destination', { item: { ...item, destinationBucket: '' } }],
    ['a zero poll interval', { item: { ...item, pollSeconds: 0 } }],
    ['nothing', undefined],
  ])('rejects %s with a ZodError before any AWS call', async (_name, event) => {
    await expect(handler(event)).rejects.toBeInstanceOf(ZodError);
    expect(ddbMock.calls()).toHaveLength(0);
    expect(glacierMock.calls()).toHaveLength(0);
  });

  it('reports the recorded vault job’s status', async () => {
    glacierMock.on(DescribeJobCommand).resolves({ JobId: 'job-1', StatusCode: 'Succeeded' });
    expect(await handler({ item })).toEqual({ ready: true, jobId: 'job-1', status: 'Succeeded' });
    expect(glacierMock).toHaveReceivedCommandWith(DescribeJobCommand, { vaultName: 'archive-vault', jobId: 'job-1' });
  });

  it('fails RetrievalFailed for a job Glacier failed', async () => {
    glacierMock.on(DescribeJobCommand).resolves({ JobId: 'job-1', StatusCode: 'Failed', StatusMessage: 'gone' });
    await expect(handler({ item })).rejects.toMatchObject({ name: 'RetrievalFailed' });
  });

  it('reports an S3 restore from the object’s Restore header', async () => {
    s3Mock.on(HeadObjectCommand).resolves({ Restore: 'ongoing-request="true"' });
    expect(await handler({ item: { ...item, retrieval: 's3-restore', archiveBucket: 'archive', archiveKey: 'k' } })).toEqual({
      ready: false,
      status: 'ongoing-request="true"',
    });
  });

  it('fails naming the table variable when it is not set', async () => {
    delete process.env[ENV.runIndexTable];
    await expect(handler({ item })).rejects.toThrow(`environment variable ${ENV.runIndexTable} is not set`);
    expect(glacierMock.calls()).toHaveLength(0);
  });
});
