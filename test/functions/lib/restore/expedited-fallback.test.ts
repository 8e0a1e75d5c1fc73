// Unit tests for Expedited retrievals without capacity: Glacier's InsufficientCapacityException and S3's
// GlacierExpeditedRetrievalNotAvailable are retried a bounded number of times with backoff, then the file is retrieved
// at Standard, and the restore file record says so (retrievalTier, tierFallback), as for Deep Archive's missing tier;
// once against mocks, once against the Glacier emulator refusing Expedited the way Glacier does.
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  CreateVaultCommand,
  DescribeJobCommand,
  GlacierClient,
  InitiateJobCommand,
  InsufficientCapacityException,
  UploadArchiveCommand,
  type InitiateJobCommandInput,
} from '@aws-sdk/client-glacier';
import { RestoreObjectCommand, S3Client, S3ServiceException } from '@aws-sdk/client-s3';
import { SFNClient } from '@aws-sdk/client-sfn';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { archiveObjectKey, restoreFileKey, restoreFileKeyOf, type RestoreItem } from '../../../../functions/lib/contract';
import { RunIndex, SCHEMA_VERSION, type RestoreFileRecord } from '../../../../functions/lib/index/run-index';
import { EXPEDITED_ATTEMPTS, EXPEDITED_RETRY_BASE_MS, requestRetrieval } from '../../../../functions/lib/restore/retrieval';
import { FakeRunIndexTable } from '../../../support/run-index-table';
import { startLocalGlacier, testBytes, type LocalGlacier } from '../../../local/glacier/helpers';

const UUID = '96c57683-74bf-9d6d-ae7e-f09b097db14a';
const PATH = 'out/aligned/sample 1.bam';
const TOPIC = 'arn:aws:sns:us-east-1:123456789012:vault-jobs';

const ddbMock = mockClient(DynamoDBDocumentClient);
const s3 = new S3Client({ region: 'us-east-1' });
const s3Mock = mockClient(s3);
const glacier = new GlacierClient({ region: 'us-east-1' });
const glacierMock = mockClient(glacier);
const sfn = new SFNClient({ region: 'us-east-1' });
let table: FakeRunIndexTable;
let index: RunIndex;
let slept: number[];
const sleep = (ms: number) => {
  slept.push(ms);
  return Promise.resolve();
};

const noVaultCapacity = () => new InsufficientCapacityException({ message: 'There is insufficient capacity to process this expedited request', $metadata: {} });
const s3Error = (name: string, status: number) =>
  new S3ServiceException({ name, $fault: status >= 500 ? 'server' : 'client', $metadata: { httpStatusCode: status }, message: name });
const noS3Capacity = () => s3Error('GlacierExpeditedRetrievalNotAvailable', 503);

function vaultItem(overrides: Partial<RestoreItem> = {}): RestoreItem {
  return {
    runUuid: UUID,
    restoreId: 'r-1',
    path: PATH,
    size: 5000,
    retrieval: 'vault-job',
    tier: 'Expedited',
    sha256: 'bb'.repeat(32),
    treeHash: 'aa'.repeat(32),
    vaultName: 'archive-vault',
    archiveId: 'archive-1',
    destinationBucket: 'restores',
    destinationKey: PATH,
    notificationWaitSeconds: 600,
    pollSeconds: 60,
    ...overrides,
  };
}

function s3Item(overrides: Partial<RestoreItem> = {}): RestoreItem {
  return vaultItem({
    retrieval: 's3-restore',
    vaultName: undefined,
    archiveId: undefined,
    treeHash: undefined,
    archiveBucket: 'archive',
    archiveKey: archiveObjectKey(UUID, PATH),
    archiveVersionId: 'av-1',
    storageClass: 'GLACIER',
    ...overrides,
  });
}

function putRestoreFile(item: RestoreItem, record: Partial<RestoreFileRecord> = {}) {
  table.put({
    ...restoreFileKey(UUID, item.restoreId, item.path),
    schemaVersion: SCHEMA_VERSION,
    runUuid: UUID,
    restoreId: item.restoreId,
    fileKey: restoreFileKeyOf(item.path),
    path: item.path,
    state: 'REQUESTED',
    destination: `s3://restores/${item.path}`,
    ...record,
  });
}

const restoreFile = (item: RestoreItem) => {
  const key = restoreFileKey(UUID, item.restoreId, item.path);
  return table.get(key.pk, key.sk) as RestoreFileRecord | undefined;
};

const request = (item: RestoreItem) => requestRetrieval({ glacier, s3, sfn, index, item, taskToken: 'token-1', vaultJobsTopicArn: TOPIC, sleep });
const vaultTiers = () => glacierMock.commandCalls(InitiateJobCommand).map((call) => call.args[0].input.jobParameters?.Tier);
const s3Tiers = () => s3Mock.commandCalls(RestoreObjectCommand).map((call) => call.args[0].input.RestoreRequest?.GlacierJobParameters?.Tier);
/** The waits between the Expedited attempts: doubling from the base, one fewer than the attempts. */
const backoff = Array.from({ length: EXPEDITED_ATTEMPTS - 1 }, (_, i) => EXPEDITED_RETRY_BASE_MS * 2 ** i);

beforeEach(() => {
  ddbMock.reset();
  s3Mock.reset();
  glacierMock.reset();
  table = new FakeRunIndexTable().attach(ddbMock);
  index = new RunIndex(DynamoDBDocumentClient.from(new DynamoDBClient({ region: 'us-east-1' })), table.tableName);
  slept = [];
});

describe('a vault retrieval at Expedited that Glacier has no capacity for', () => {
  it('is retried with backoff, then started at Standard, and the record says why', async () => {
    const item = vaultItem();
    putRestoreFile(item);
    glacierMock.on(InitiateJobCommand).callsFake((input: InitiateJobCommandInput) => {
      if (input.jobParameters?.Tier === 'Expedited') throw noVaultCapacity();
      return { jobId: 'job-standard' };
    });

    expect(await request(item)).toEqual({ jobId: 'job-standard', reused: false });

    expect(vaultTiers()).toEqual([...Array<string>(EXPEDITED_ATTEMPTS).fill('Expedited'), 'Standard']);
    expect(slept).toEqual(backoff);
    expect(restoreFile(item)).toMatchObject({
      state: 'RETRIEVING',
      jobId: 'job-standard',
      taskToken: 'token-1',
      retrievalTier: 'Standard',
      tierFallback: expect.stringMatching(/no Expedited capacity \(InsufficientCapacityException/) as string,
    });
  });

  it('stays Expedited when capacity comes back within the attempts', async () => {
    const item = vaultItem();
    putRestoreFile(item);
    glacierMock.on(InitiateJobCommand).rejectsOnce(noVaultCapacity()).resolves({ jobId: 'job-fast' });

    expect(await request(item)).toEqual({ jobId: 'job-fast', reused: false });
    expect(vaultTiers()).toEqual(['Expedited', 'Expedited']);
    expect(slept).toEqual([EXPEDITED_RETRY_BASE_MS]);
    const record = restoreFile(item);
    expect(record).toMatchObject({ jobId: 'job-fast', retrievalTier: 'Expedited' });
    expect(record?.tierFallback).toBeUndefined();
  });

  it('throws any other error at once, and never retries a Standard or Bulk request', async () => {
    const item = vaultItem();
    putRestoreFile(item);
    glacierMock.on(InitiateJobCommand).rejects(Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException' }));
    await expect(request(item)).rejects.toMatchObject({ name: 'ThrottlingException' });
    expect(vaultTiers()).toEqual(['Expedited']);

    glacierMock.reset();
    glacierMock.on(InitiateJobCommand).rejects(noVaultCapacity());
    const standard = vaultItem({ tier: 'Standard' });
    await expect(request(standard)).rejects.toMatchObject({ name: 'InsufficientCapacityException' });
    expect(vaultTiers()).toEqual(['Standard']);
    expect(slept).toEqual([]);
  });
});

describe('an S3 restore at Expedited that S3 has no capacity for', () => {
  it('is retried with backoff, then restored at Standard, and the record says why', async () => {
    const item = s3Item();
    putRestoreFile(item);
    s3Mock
      .on(RestoreObjectCommand, { RestoreRequest: { Days: 3, GlacierJobParameters: { Tier: 'Expedited' } } })
      .rejects(noS3Capacity())
      .on(RestoreObjectCommand, { RestoreRequest: { Days: 3, GlacierJobParameters: { Tier: 'Standard' } } })
      .resolves({ $metadata: { httpStatusCode: 202 } });

    expect(await request(item)).toEqual({ reused: false });

    expect(s3Tiers()).toEqual([...Array<string>(EXPEDITED_ATTEMPTS).fill('Expedited'), 'Standard']);
    expect(slept).toEqual(backoff);
    expect(restoreFile(item)).toMatchObject({
      state: 'RETRIEVING',
      taskToken: 'token-1',
      retrievalTier: 'Standard',
      tierFallback: expect.stringMatching(/no Expedited capacity \(GlacierExpeditedRetrievalNotAvailable/) as string,
    });
  });

  it('keeps the Deep Archive fallback as it was: Standard at once, no Expedited attempt', async () => {
    const item = s3Item({ storageClass: 'DEEP_ARCHIVE' });
    putRestoreFile(item);
    s3Mock.on(RestoreObjectCommand).resolves({ $metadata: { httpStatusCode: 202 } });

    expect(await request(item)).toEqual({ reused: false });
    expect(s3Tiers()).toEqual(['Standard']);
    expect(slept).toEqual([]);
    expect(restoreFile(item)).toMatchObject({ retrievalTier: 'Standard', tierFallback: 'DEEP_ARCHIVE has no Expedited retrieval' });
  });

  it('throws any other S3 error without a fallback', async () => {
    const item = s3Item();
    putRestoreFile(item);
    s3Mock.on(RestoreObjectCommand).rejects(s3Error('InvalidObjectState', 403));
    await expect(request(item)).rejects.toMatchObject({ name: 'InvalidObjectState' });
    expect(s3Tiers()).toEqual(['Expedited']);
    expect(restoreFile(item)?.tierFallback).toBeUndefined();
  });
});

describe('against the Glacier emulator', () => {
  let local: LocalGlacier;
  beforeAll(async () => {
    local = await startLocalGlacier();
  });
  afterAll(() => local.stop());

  it('falls back to a Standard job when the vault keeps refusing Expedited, as Glacier answers it', async () => {
    const vaultName = 'expedited-fallback';
    await local.glacier.send(new CreateVaultCommand({ accountId: '-', vaultName }));
    const { archiveId } = await local.glacier.send(
      new UploadArchiveCommand({ accountId: '-', vaultName, body: testBytes(1024), archiveDescription: 'a file' }),
    );
    const item = vaultItem({ vaultName, archiveId });
    putRestoreFile(item);
    local.emulator.refuseExpedited(EXPEDITED_ATTEMPTS);

    const { jobId } = await requestRetrieval({ glacier: local.glacier, s3, sfn, index, item, taskToken: 'token-1', vaultJobsTopicArn: TOPIC, sleep });

    const job = await local.glacier.send(new DescribeJobCommand({ accountId: '-', vaultName, jobId }));
    expect(job).toMatchObject({ Tier: 'Standard', SNSTopic: TOPIC, StatusCode: 'InProgress' });
    expect(restoreFile(item)).toMatchObject({
      jobId,
      retrievalTier: 'Standard',
      tierFallback: expect.stringMatching(/InsufficientCapacityException/) as string,
    });
  });
});
