// Unit tests for the archive-files handler: validated input, its environment, the Lambda deadline, and both modes.
import { Readable } from 'node:stream';
import {
  CompleteMultipartUploadCommand,
  GlacierClient,
  InitiateMultipartUploadCommand,
  UploadMultipartPartCommand,
  type CompleteMultipartUploadCommandInput,
  type UploadMultipartPartCommandInput,
} from '@aws-sdk/client-glacier';
import { CopyObjectCommand, GetObjectCommand, HeadObjectCommand, S3Client, type GetObjectCommandInput } from '@aws-sdk/client-s3';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { ZodError } from 'zod';
import { handler } from '../../functions/archive-files';
import { SCHEMA_VERSION, bundleKey, fileKey, type FileRecord } from '../../functions/lib/index/run-index';
import { treeHashOf } from '../../functions/lib/glacier/tree-hash';
import { ENV, bundleIdOf } from '../../functions/lib/contract';
import { crc64nvmeOf } from '../support/crc64nvme';
import { RUN_UUID as UUID, quietPowertools, useEnv } from '../support/handlers';
import { FakeRunIndexTable } from '../support/run-index-table';

const TABLE = 'run-index';
const ddbMock = mockClient(DynamoDBDocumentClient);
const s3Mock = mockClient(S3Client);
const glacierMock = mockClient(GlacierClient);
let table: FakeRunIndexTable;
const powertools = quietPowertools();
useEnv({ [ENV.runIndexTable]: TABLE, [ENV.vaultName]: 'archive-vault', [ENV.archiveBucket]: 'archive-bucket' });

const DATA = Buffer.from('ACGT'.repeat(1000));
const file = { path: 'out/a.vcf', bucket: 'outputs', key: 'runs/1/out/a.vcf', size: DATA.length, etag: '"e1"' };
const work = { files: [file], bytes: DATA.length };
const vaultTier = { name: 'standard', target: { type: 'glacier-vault' }, deleteSources: false, partSizeMiB: 1 };
const s3Tier = { name: 'deep', target: { type: 's3-glacier', storageClass: 'GLACIER' }, deleteSources: false };

function register(path = file.path, record: Partial<FileRecord> = {}) {
  table.put({
    ...fileKey(UUID, path),
    schemaVersion: SCHEMA_VERSION,
    runUuid: UUID,
    path,
    sourceBucket: file.bucket,
    sourceKey: file.key,
    size: file.size,
    etag: file.etag,
    action: 'archive',
    state: 'PENDING',
    updatedAt: 'x',
    ...record,
  });
}
const record = (path = file.path) => table.get(`RUN#${UUID}`, `FILE#${path}`);

beforeEach(() => {
  ddbMock.reset();
  s3Mock.reset();
  glacierMock.reset();
  table = new FakeRunIndexTable(TABLE).attach(ddbMock);
  s3Mock.on(GetObjectCommand).callsFake((input: GetObjectCommandInput) => {
    const [, start, end] = /^bytes=(\d+)-(\d+)$/.exec(input.Range!)!.map(Number);
    return { Body: Readable.from([DATA.subarray(start, end + 1)]) };
  });
  // Every vault archive goes through a multipart upload (one part for a small file), so it can be completed again.
  glacierMock.on(InitiateMultipartUploadCommand).resolves({ uploadId: 'upload-1' });
  glacierMock.on(UploadMultipartPartCommand).callsFake((input: UploadMultipartPartCommandInput) => ({
    checksum: treeHashOf(Buffer.from(input.body as Uint8Array)).toString('hex'),
  }));
  glacierMock
    .on(CompleteMultipartUploadCommand)
    .callsFake((input: CompleteMultipartUploadCommandInput) => ({ archiveId: 'archive-1', checksum: input.checksum }));
  s3Mock.on(HeadObjectCommand).resolves({ ContentLength: DATA.length });
  // S3 reports the copy's CRC64NVME; the archive step compares it with the one it computed for the source.
  s3Mock.on(CopyObjectCommand).callsFake(async () => ({ VersionId: 'v1', CopyObjectResult: { ChecksumCRC64NVME: await crc64nvmeOf(DATA) } }));
});

describe('archive-files handler', () => {
  it.each([
    ['no mode', { runUuid: UUID, item: work, tier: vaultTier }],
    ['an archive without its tier', { mode: 'archive', runUuid: UUID, item: work }],
    ['a tier the policy schema refuses', { mode: 'archive', runUuid: UUID, item: work, tier: { ...vaultTier, partSizeMiB: 3 } }],
    ['an item without files', { mode: 'archive', runUuid: UUID, item: { files: [], bytes: 0 }, tier: vaultTier }],
    ['a negative file size', { mode: 'archive', runUuid: UUID, item: { files: [{ ...file, size: -1 }], bytes: 0 }, tier: vaultTier }],
    ['an empty run uuid', { mode: 'archive', runUuid: '', item: work, tier: vaultTier }],
    ['a failure without the error', { mode: 'record-failure', runUuid: UUID, item: work }],
    ['nothing', undefined],
  ])('rejects %s with a ZodError before any AWS call', async (_name, event) => {
    await expect(handler(event)).rejects.toBeInstanceOf(ZodError);
    expect(ddbMock.calls()).toHaveLength(0);
    expect(s3Mock.calls()).toHaveLength(0);
    expect(glacierMock.calls()).toHaveLength(0);
  });

  it('archives the item into the configured vault and reports the counts', async () => {
    register();
    const result = await handler({ mode: 'archive', runUuid: UUID, item: work, tier: vaultTier }, { getRemainingTimeInMillis: () => 600_000 });
    expect(result).toEqual({ status: 'complete', archived: 1, failed: 0 });
    expect(glacierMock).toHaveReceivedCommandWith(CompleteMultipartUploadCommand, { accountId: '-', vaultName: 'archive-vault', uploadId: 'upload-1' });
    expect(record()).toMatchObject({ state: 'ARCHIVED', archiveId: 'archive-1', vaultName: 'archive-vault', partSize: 1024 * 1024 });
    expect(powertools.addMetric).toHaveBeenCalledWith('FilesArchived', 'Count', 1);
    expect(powertools.addMetric).not.toHaveBeenCalledWith('FilesFailed', expect.anything(), expect.anything());
  });

  it('copies into the configured archive bucket for an s3-glacier tier', async () => {
    register();
    const result = await handler({ mode: 'archive', runUuid: UUID, item: work, tier: s3Tier });
    expect(result).toEqual({ status: 'complete', archived: 1, failed: 0 });
    expect(s3Mock).toHaveReceivedCommandWith(CopyObjectCommand, { Bucket: 'archive-bucket', Key: `runs/${UUID}/out/a.vcf`, StorageClass: 'GLACIER' });
    expect(record()).toMatchObject({ state: 'ARCHIVED', archiveBucket: 'archive-bucket', archiveVersionId: 'v1' });
  });

  it('returns incomplete without starting a file when the Lambda has too little time left', async () => {
    register();
    const result = await handler({ mode: 'archive', runUuid: UUID, item: work, tier: vaultTier }, { getRemainingTimeInMillis: () => 20_000 });
    expect(result).toEqual({ status: 'incomplete', archived: 0, failed: 0 });
    expect(s3Mock.calls()).toHaveLength(0);
    expect(glacierMock.calls()).toHaveLength(0);
    expect(record()).toMatchObject({ state: 'PENDING' });
  });

  it('counts failed files in a metric', async () => {
    register();
    s3Mock.on(GetObjectCommand).rejects(Object.assign(new Error('The specified key does not exist.'), { name: 'NoSuchKey' }));
    expect(await handler({ mode: 'archive', runUuid: UUID, item: work, tier: vaultTier })).toEqual({ status: 'complete', archived: 0, failed: 1 });
    expect(powertools.addMetric).toHaveBeenCalledWith('FilesFailed', 'Count', 1);
  });

  it('records the files of an item the workflow gave up on, without needing the vault', async () => {
    delete process.env[ENV.vaultName];
    register();
    register('out/done.vcf', { state: 'ARCHIVED', archiveId: 'a' });
    const item = { files: [file, { ...file, path: 'out/done.vcf' }], bytes: 2 * DATA.length };
    const result = await handler({ mode: 'record-failure', runUuid: UUID, item, error: { Error: 'States.Timeout', Cause: 'took too long' } });
    expect(result).toEqual({ status: 'complete', archived: 0, failed: 1 });
    expect(record()).toMatchObject({ state: 'FAILED', failureReason: 'States.Timeout: took too long' });
    expect(record('out/done.vcf')).toMatchObject({ state: 'ARCHIVED' });
    expect(powertools.addMetric).toHaveBeenCalledWith('FilesFailed', 'Count', 1);
  });

  it('takes a bundle item: one given up fails the bundle and its members, read from its manifest', async () => {
    const bundleId = bundleIdOf(UUID, 1);
    const members = ['out/qc/a.json', 'out/qc/b.json'];
    const manifest = {
      runUuid: UUID,
      bundleId,
      size: 3072,
      members: members.map((path, i) => ({ path, bucket: 'outputs', key: `runs/1/${path}`, size: 10, mtime: 0, offset: 512 + i * 1024 })),
    };
    s3Mock.on(GetObjectCommand, { Key: 'plans/m.json' }).resolves({ Body: Readable.from([Buffer.from(JSON.stringify(manifest))]) as never });
    for (const path of members) register(path, { bundleId });
    table.put({ ...bundleKey(UUID, bundleId), schemaVersion: SCHEMA_VERSION, runUuid: UUID, bundleId, state: 'PENDING', members: 2, updatedAt: 'x' });
    const item = { bundle: { id: bundleId, members: 2, size: 3072, manifest: { bucket: 'snapshots', key: 'plans/m.json' } }, bytes: 20 };
    const result = await handler({ mode: 'record-failure', runUuid: UUID, item, error: { Error: 'States.Timeout', Cause: 'took too long' } });
    expect(result).toEqual({ status: 'complete', archived: 0, failed: 2 });
    expect(table.get(`RUN#${UUID}`, `BUNDLE#${bundleId}`)).toMatchObject({ state: 'FAILED', failureReason: 'States.Timeout: took too long' });
    for (const path of members) expect(record(path)).toMatchObject({ state: 'FAILED', failureReason: `bundle ${bundleId}: States.Timeout: took too long` });
    expect(powertools.addMetric).toHaveBeenCalledWith('FilesFailed', 'Count', 2);
  });

  it('fails naming RUN_INDEX_TABLE when it is not set', async () => {
    delete process.env[ENV.runIndexTable];
    await expect(handler({ mode: 'archive', runUuid: UUID, item: work, tier: vaultTier })).rejects.toThrow(
      `environment variable ${ENV.runIndexTable} is not set`,
    );
    expect(s3Mock.calls()).toHaveLength(0);
  });

  it('fails naming VAULT_NAME when a vault tier meets a stack without a vault, before reading any source', async () => {
    delete process.env[ENV.vaultName];
    await expect(handler({ mode: 'archive', runUuid: UUID, item: work, tier: vaultTier })).rejects.toThrow(`${ENV.vaultName} is not set`);
    expect(s3Mock.calls()).toHaveLength(0);
  });
});
