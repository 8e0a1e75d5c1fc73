// Unit tests for the copy-restored-file handler: validated input, its environment, the deadline it gives the copy, and
// the copy's outcome passed back for the workflow's loop.
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { GlacierClient } from '@aws-sdk/client-glacier';
import { CopyObjectCommand, DeleteObjectCommand, GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { ZodError } from 'zod';
import { handler } from '../../functions/copy-restored-file';
import { copyJobOutputToS3 } from '../../functions/lib/glacier/job-output-copy';
import type { RestoreItem } from '../../functions/lib/contract';
import { restoreFileKey } from '../../functions/lib/index/run-index';
import { ENV } from '../../functions/lib/contract';
import { RUN_UUID as UUID, quietPowertools, restoreItem, useEnv } from '../support/handlers';
import { FakeRunIndexTable } from '../support/run-index-table';

// The verified range copy has its own tests against the Glacier emulator (test/functions/lib/glacier-retrieval.test.ts).
jest.mock('../../functions/lib/glacier/job-output-copy', () => ({ copyJobOutputToS3: jest.fn() }));
const copyJobOutputMock = jest.mocked(copyJobOutputToS3);

const TABLE = 'run-index';
const ddbMock = mockClient(DynamoDBDocumentClient);
const glacierMock = mockClient(GlacierClient);
const s3Mock = mockClient(S3Client);
let table: FakeRunIndexTable;
quietPowertools();
useEnv({ [ENV.runIndexTable]: TABLE });
const DATA = Buffer.from('restored bytes');
const SHA256 = createHash('sha256').update(DATA).digest('hex');

const item = restoreItem({ size: DATA.length, sha256: SHA256, treeHash: 't', destinationKey: 'back/out/a.bam' });
const key = restoreFileKey(UUID, 'r-1', 'out/a.bam');
const s3Item: RestoreItem = {
  ...item,
  retrieval: 's3-restore',
  archiveBucket: 'archive',
  archiveKey: `runs/${UUID}/out/a.bam`,
  archiveId: undefined,
  storageClass: 'GLACIER',
};

beforeEach(() => {
  ddbMock.reset();
  glacierMock.reset();
  s3Mock.reset();
  copyJobOutputMock.mockReset();
  table = new FakeRunIndexTable(TABLE).attach(ddbMock);
  table.put({
    ...key,
    runUuid: UUID,
    restoreId: 'r-1',
    path: 'out/a.bam',
    state: 'RETRIEVING',
    jobId: 'job-1',
    uploadId: 'upload-0',
    taskToken: 'token',
    destination: 's3://restores/back/out/a.bam',
  });
  s3Mock.on(CopyObjectCommand).resolves({ VersionId: 'dv-1' });
  s3Mock.on(GetObjectCommand).callsFake(() => ({ Body: Readable.from([DATA]) }));
  s3Mock.on(DeleteObjectCommand).resolves({});
});

describe('copy-restored-file handler', () => {
  it.each([
    ['no item', {}],
    ['an item without a path', { item: { ...item, path: '' } }],
    ['a size that is not a whole number', { item: { ...item, size: 1.5 } }],
    ['nothing', undefined],
  ])('rejects %s with a ZodError before any AWS call', async (_name, event) => {
    await expect(handler(event)).rejects.toBeInstanceOf(ZodError);
    expect(ddbMock.calls()).toHaveLength(0);
    expect(s3Mock.calls()).toHaveLength(0);
    expect(copyJobOutputMock).not.toHaveBeenCalled();
  });

  it('gives the vault copy the Lambda’s remaining time less a margin, and passes an unfinished copy back', async () => {
    copyJobOutputMock.mockResolvedValue({ status: 'incomplete', uploadId: 'upload-0', bytesDone: 8 });
    const before = Date.now();
    const result = await handler({ item }, { getRemainingTimeInMillis: () => 120_000 });
    const after = Date.now();

    expect(result).toEqual({ status: 'incomplete', bytesDone: 8 });
    const args = copyJobOutputMock.mock.calls[0][0];
    expect(args).toMatchObject({
      vaultName: 'archive-vault',
      jobId: 'job-1',
      archiveSize: DATA.length,
      expectedTreeHash: 't',
      expectedSha256: SHA256,
      bucket: 'restores',
      key: 'back/out/a.bam',
      resumeUploadId: 'upload-0',
    });
    expect(args.deadline).toBeGreaterThanOrEqual(before + 90_000);
    expect(args.deadline).toBeLessThanOrEqual(after + 90_000);
    expect(table.get(key.pk, key.sk)).toMatchObject({ state: 'COPYING' });
  });

  it('marks a finished vault copy RESTORED and clears the task token', async () => {
    copyJobOutputMock.mockResolvedValue({ status: 'complete', size: DATA.length, treeHash: 't', sha256: SHA256 });
    expect(await handler({ item })).toEqual({ status: 'complete', size: DATA.length, sha256: SHA256 });
    const record = table.get(key.pk, key.sk)!;
    expect(record).toMatchObject({ state: 'RESTORED', bytesDone: DATA.length });
    expect(record.taskToken).toBeUndefined();
  });

  it('copies an S3 Glacier object and verifies it', async () => {
    expect(await handler({ item: s3Item })).toEqual({ status: 'complete', size: DATA.length, sha256: SHA256 });
    expect(s3Mock).toHaveReceivedCommandWith(CopyObjectCommand, { Bucket: 'restores', Key: 'back/out/a.bam', CopySource: `archive/runs/${UUID}/out/a.bam` });
    expect(s3Mock.commandCalls(DeleteObjectCommand)).toHaveLength(0);
  });

  it('writes nothing and fails ChecksumMismatch when the archived copy does not verify', async () => {
    await expect(handler({ item: { ...s3Item, sha256: '0'.repeat(64) } })).rejects.toMatchObject({ name: 'ChecksumMismatch' });
    expect(s3Mock).not.toHaveReceivedCommand(CopyObjectCommand);
  });

  it('fails naming the table variable when it is not set', async () => {
    delete process.env[ENV.runIndexTable];
    await expect(handler({ item })).rejects.toThrow(`environment variable ${ENV.runIndexTable} is not set`);
    expect(copyJobOutputMock).not.toHaveBeenCalled();
  });
});
