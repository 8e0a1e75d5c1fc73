// Unit tests for the restore domain: request validation, run resolution, the plan, retrieval requests and checks, the
// job notification, the verified copy back and the settled outcome; index writes go through real conditions on an
// in-memory table, and one end-to-end case runs the whole path against the strict Glacier emulator.
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { CreateVaultCommand, DescribeJobCommand, GlacierClient, InitiateJobCommand, ResourceNotFoundException } from '@aws-sdk/client-glacier';
import {
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListPartsCommand,
  NoSuchKey,
  NotFound,
  PutObjectCommand,
  RestoreObjectCommand,
  S3Client,
  S3ServiceException,
  UploadPartCommand,
  type CopyObjectCommandInput,
  type DeleteObjectCommandInput,
  type GetObjectCommandInput,
  type HeadObjectCommandInput,
  type PutObjectCommandInput,
} from '@aws-sdk/client-s3';
import { SFNClient, SFNServiceException, SendTaskFailureCommand, SendTaskSuccessCommand } from '@aws-sdk/client-sfn';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { uploadToVault } from '../../../../functions/lib/glacier/vault-upload';
import { RestoreItemSchema, RestoreRequestSchema, type RestoreItem } from '../../../../functions/lib/contract';
import { copyRestoredFile } from '../../../../functions/lib/restore/copy-restored-file';
import { finalizeRestore, recordRestoreFileFailure } from '../../../../functions/lib/restore/finalize-restore';
import { DESTINATION_CHECK_CONCURRENCY, RestoreRequestError, TIER_TIMING, planRestore, resolveRun } from '../../../../functions/lib/restore/plan-restore';
import { checkRetrieval, jobDescription, parseJobDescription, requestRetrieval } from '../../../../functions/lib/restore/retrieval';
import { JobNotificationSchema, resumeAfterJob } from '../../../../functions/lib/restore/retrieval-notification';
import {
  RunIndex,
  SCHEMA_VERSION,
  fileKey,
  restoreFileKey,
  restoreFileKeyOf,
  restoreKey,
  runKey,
  type ArchiveState,
  type FileRecord,
  type RestoreFileRecord,
} from '../../../../functions/lib/index/run-index';
import { treeHashOf } from '../../../../functions/lib/glacier/tree-hash';
import { parseConfig } from '../../../../functions/lib/contract';
import { FakeRunIndexTable } from '../../../support/run-index-table';
import { MIB, bodyBytes, sha256Hex, startLocalGlacier, testBytes, type LocalGlacier } from '../../../local/glacier/helpers';
import { skewedClock } from '../../../support/clock';
import { crc64nvmeOf } from '../../../support/crc64nvme';
import { useSha256Checkpoints } from '../../../support/sha256-checkpoints';

useSha256Checkpoints();

const UUID = '96c57683-74bf-9d6d-ae7e-f09b097db14a';
const OTHER_UUID = '1b1f1a0e-2c3d-4e5f-8a9b-0c1d2e3f4a5b';
const RUN_ID = '7830534';
const OUTPUTS = 'outputs';
const RESTORES = 'restores';
const ITEMS_BUCKET = 'snapshots';
const ARCHIVE_BUCKET = 'archive';
const VAULT = 'archive-vault';
const TOPIC = 'arn:aws:sns:us-east-1:123456789012:vault-jobs';
const PREFIX = `runs/${RUN_ID}/`;
const RESTORE_ID = 'restore-7830534-20250601T120000000Z';
const EXECUTION_ARN = `arn:aws:states:us-east-1:123456789012:execution:RestoreRun:${RESTORE_ID}`;
const EMPTY_SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';

const config = parseConfig({
  outputBuckets: [OUTPUTS],
  restoreBuckets: [RESTORES],
  archiveConcurrency: 7,
  restoreConcurrency: 250,
  tiers: [
    { name: 'cold', restoreTier: 'Bulk' },
    { name: 'fast', restoreTier: 'Expedited' },
  ],
});

const ddbMock = mockClient(DynamoDBDocumentClient);
const s3 = new S3Client({ region: 'us-east-1' });
const s3Mock = mockClient(s3);
const glacier = new GlacierClient({ region: 'us-east-1' });
const glacierMock = mockClient(glacier);
const sfn = new SFNClient({ region: 'us-east-1' });
const sfnMock = mockClient(sfn);
let table: FakeRunIndexTable;
let index: RunIndex;

// ---------------------------------------------------------------------------------------------------------------
// An in-memory S3: what the plan checks (HeadObject), the copy back writes (Put/Copy) and reads (Get), and deletes.

interface StoredObject {
  body: Buffer;
  versionId?: string;
  restore?: string;
}
let objects: Map<string, StoredObject>;
let versions = 0;
const s3Error = (name: string, status: number, message: string) =>
  new S3ServiceException({ name, $fault: status >= 500 ? 'server' : 'client', $metadata: { httpStatusCode: status }, message });

function serveS3(): void {
  s3Mock.on(HeadObjectCommand).callsFake((input: HeadObjectCommandInput) => {
    const object = objects.get(`${input.Bucket}/${input.Key}`);
    if (!object) throw new NotFound({ message: 'Not Found', $metadata: { httpStatusCode: 404 } });
    return { ContentLength: object.body.length, VersionId: object.versionId, Restore: object.restore };
  });
  s3Mock.on(GetObjectCommand).callsFake((input: GetObjectCommandInput) => {
    const object = objects.get(`${input.Bucket}/${input.Key}`);
    if (!object) throw new NoSuchKey({ message: 'The specified key does not exist.', $metadata: { httpStatusCode: 404 } });
    return { Body: Readable.from([object.body]), ContentLength: object.body.length };
  });
  s3Mock.on(PutObjectCommand).callsFake(async (input: PutObjectCommandInput) => {
    const body =
      input.Body === undefined
        ? Buffer.alloc(0)
        : typeof input.Body === 'string'
          ? Buffer.from(input.Body)
          : await bodyBytes(Readable.from([input.Body as Uint8Array]));
    const versionId = `v${++versions}`;
    objects.set(`${input.Bucket}/${input.Key}`, { body, versionId });
    return { VersionId: versionId, ETag: `"${createHash('md5').update(body).digest('hex')}"` };
  });
  s3Mock.on(CopyObjectCommand).callsFake((input: CopyObjectCommandInput) => {
    const [source, versionId] = input.CopySource!.split('?versionId=');
    const slash = source.indexOf('/');
    const object = objects.get(`${source.slice(0, slash)}/${decodeURIComponent(source.slice(slash + 1))}`);
    if (!object || (versionId !== undefined && object.versionId !== versionId)) {
      throw new NoSuchKey({ message: 'The specified key does not exist.', $metadata: { httpStatusCode: 404 } });
    }
    const copyVersion = `v${++versions}`;
    objects.set(`${input.Bucket}/${input.Key}`, { body: object.body, versionId: copyVersion });
    return { VersionId: copyVersion };
  });
  s3Mock.on(DeleteObjectCommand).callsFake((input: DeleteObjectCommandInput) => {
    objects.delete(`${input.Bucket}/${input.Key}`);
    return {};
  });
  s3Mock.on(RestoreObjectCommand).resolves({});
}

// ---------------------------------------------------------------------------------------------------------------

function putRun(runUuid: string, archiveState: ArchiveState, extra: Record<string, unknown> = {}) {
  table.put({
    ...runKey(runUuid),
    schemaVersion: SCHEMA_VERSION,
    runUuid,
    runId: RUN_ID,
    runArn: `arn:aws:omics:us-east-1:123456789012:run/${RUN_ID}`,
    status: 'COMPLETED',
    tier: 'cold',
    deleteRun: true,
    archiveState,
    stopTime: '2025-05-30T12:05:00.000Z',
    run: { id: RUN_ID },
    updatedAt: '2025-05-31T00:00:00.000Z',
    ...extra,
  });
}

function putFile(path: string, record: Partial<FileRecord> = {}) {
  table.put({
    ...fileKey(UUID, path),
    schemaVersion: SCHEMA_VERSION,
    runUuid: UUID,
    path,
    sourceBucket: OUTPUTS,
    sourceKey: `${PREFIX}${path}`,
    size: 1000,
    etag: '"etag"',
    action: 'archive',
    state: 'ARCHIVED',
    target: 'glacier-vault',
    vaultName: VAULT,
    archiveId: `archive-${path}`,
    treeHash: 'aa'.repeat(32),
    sha256: 'bb'.repeat(32),
    partSize: 8 * MIB,
    sourceDeleted: true,
    updatedAt: '2025-05-31T00:00:00.000Z',
    ...record,
  });
}

/** A run with a vault file, two s3-glacier files (Deep Archive, Instant Retrieval), an empty file and a kept file. */
function seedArchivedRun() {
  putRun(UUID, 'RUN_DELETED');
  putFile('out/aligned/sample 1.bam', { size: 5000 });
  putFile('out/aligned/sample 1.bam.bai', { size: 100 });
  putFile('out/variants/calls.vcf.gz', {
    target: 's3-glacier',
    archiveId: undefined,
    vaultName: undefined,
    treeHash: undefined,
    archiveBucket: ARCHIVE_BUCKET,
    archiveKey: `runs/${UUID}/out/variants/calls.vcf.gz`,
    archiveVersionId: 'av-1',
    storageClass: 'DEEP_ARCHIVE',
  });
  putFile('out/qc/summary.json', {
    target: 's3-glacier',
    archiveId: undefined,
    archiveBucket: ARCHIVE_BUCKET,
    archiveKey: `runs/${UUID}/out/qc/summary.json`,
    storageClass: 'GLACIER_IR',
  });
  putFile('out/empty.txt', { size: 0, archiveId: undefined, treeHash: EMPTY_SHA256, sha256: EMPTY_SHA256 });
  putFile('out/report.html', { action: 'keep', state: 'KEPT', archiveId: undefined });
}

const plan = (request: unknown, extra: Partial<Parameters<typeof planRestore>[0]> = {}) =>
  planRestore({ index, s3, config, request, restoreId: RESTORE_ID, executionArn: EXECUTION_ARN, vaultName: VAULT, itemsBucket: ITEMS_BUCKET, ...extra });

async function planError(request: unknown): Promise<RestoreRequestError> {
  const error = await plan(request).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(RestoreRequestError);
  return error as RestoreRequestError;
}

/** The items JSON the plan uploaded for the Map's ItemReader. */
function uploadedItems(): RestoreItem[] {
  const object = objects.get(`${ITEMS_BUCKET}/restores/${UUID}/${RESTORE_ID}/items.json`);
  expect(object).toBeDefined();
  return JSON.parse(object!.body.toString('utf8')) as RestoreItem[];
}

function restoreItem(overrides: Partial<RestoreItem> = {}): RestoreItem {
  return {
    runUuid: UUID,
    restoreId: RESTORE_ID,
    path: 'out/aligned/sample 1.bam',
    size: 5000,
    retrieval: 'vault-job',
    tier: 'Standard',
    sha256: 'bb'.repeat(32),
    treeHash: 'aa'.repeat(32),
    vaultName: VAULT,
    archiveId: 'archive-1',
    destinationBucket: RESTORES,
    destinationKey: 'back/out/aligned/sample 1.bam',
    notificationWaitSeconds: 600,
    pollSeconds: 60,
    ...overrides,
  };
}

/** Registers the restore file record the plan writes for an item. */
function putRestoreFile(item: RestoreItem, record: Partial<RestoreFileRecord> = {}) {
  table.put({
    ...restoreFileKey(item.runUuid, item.restoreId, item.path),
    schemaVersion: SCHEMA_VERSION,
    runUuid: item.runUuid,
    restoreId: item.restoreId,
    fileKey: restoreFileKeyOf(item.path),
    path: item.path,
    state: 'REQUESTED',
    destination: `s3://${item.destinationBucket}/${item.destinationKey}`,
    createdAt: '2025-06-01T12:00:00.000Z',
    updatedAt: '2025-06-01T12:00:00.000Z',
    ...record,
  });
}
const fileRecordOf = (path: string) => {
  const key = fileKey(UUID, path);
  return table.get(key.pk, key.sk) as FileRecord | undefined;
};
const restoreFile = (item: Pick<RestoreItem, 'runUuid' | 'restoreId' | 'path'>) => {
  const key = restoreFileKey(item.runUuid, item.restoreId, item.path);
  return table.get(key.pk, key.sk) as RestoreFileRecord | undefined;
};

beforeEach(() => {
  ddbMock.reset();
  s3Mock.reset();
  glacierMock.reset();
  sfnMock.reset();
  table = new FakeRunIndexTable().attach(ddbMock);
  index = new RunIndex(DynamoDBDocumentClient.from(new DynamoDBClient({ region: 'us-east-1' })), table.tableName);
  objects = new Map();
  serveS3();
});

describe('RestoreRequestSchema and bad requests', () => {
  it('accepts the documented forms', () => {
    expect(RestoreRequestSchema.parse({ run: RUN_ID })).toEqual({ run: RUN_ID });
    expect(RestoreRequestSchema.parse({ runUuid: UUID, files: ['out/**/*.bam'], tier: 'Bulk', destination: 's3://restores/x/' })).toMatchObject({
      tier: 'Bulk',
    });
    expect(RestoreRequestSchema.parse({ runId: RUN_ID, notificationWaitSeconds: 60, pollSeconds: 10 })).toMatchObject({ runId: RUN_ID });
  });

  it.each([
    ['a run that is not named', {}, /^request: name the run/],
    ['an unknown tier', { run: RUN_ID, tier: 'Fast' }, /^tier: /],
    ['an empty list of globs', { run: RUN_ID, files: [] }, /^files: /],
    ['an empty glob', { run: RUN_ID, files: ['out/a', ''] }, /^files\.1: /],
    ['a run id that is not digits', { runId: 'run-1' }, /^runId: /],
    ['a notification wait of zero', { run: RUN_ID, notificationWaitSeconds: 0 }, /^notificationWaitSeconds: /],
    ['a poll interval that is not a whole number', { run: RUN_ID, pollSeconds: 1.5 }, /^pollSeconds: /],
    ['an unknown field', { run: RUN_ID, destinaton: 's3://restores/' }, /^request: .*destinaton/],
    ['something that is not an object', 'restore 7830534', /^request: /],
  ])('fails %s with BadRestoreRequest naming the field, before any AWS call', async (_name, request, message) => {
    const error = await planError(request);
    expect(error.name).toBe('BadRestoreRequest');
    expect(error.message).toMatch(message);
    expect(ddbMock.calls()).toHaveLength(0);
    expect(s3Mock.calls()).toHaveLength(0);
  });
});

describe('resolveRun', () => {
  it('finds a run by uuid', async () => {
    putRun(UUID, 'ARCHIVED');
    expect(await resolveRun(index, UUID)).toMatchObject({ runUuid: UUID, runId: RUN_ID });
  });

  it('finds a run by id', async () => {
    putRun(UUID, 'ARCHIVED');
    expect(await resolveRun(index, RUN_ID)).toMatchObject({ runUuid: UUID });
  });

  it('takes the one archived run among several that reused an id', async () => {
    putRun(UUID, 'RUN_DELETED', { stopTime: '2025-01-01T00:00:00.000Z' });
    putRun(OTHER_UUID, 'INDEXED', { stopTime: '2025-06-01T00:00:00.000Z' });
    expect(await resolveRun(index, RUN_ID)).toMatchObject({ runUuid: UUID });
  });

  it('fails AmbiguousRun listing every uuid when the id names several archived runs', async () => {
    putRun(UUID, 'RUN_DELETED', { stopTime: '2025-01-01T00:00:00.000Z' });
    putRun(OTHER_UUID, 'ARCHIVED', { stopTime: '2025-06-01T00:00:00.000Z' });
    const error = await resolveRun(index, RUN_ID).catch((e: unknown) => e as Error);
    expect(error).toBeInstanceOf(RestoreRequestError);
    expect(error).toMatchObject({ name: 'AmbiguousRun' });
    expect((error as Error).message).toContain(UUID);
    expect((error as Error).message).toContain(OTHER_UUID);
    expect((error as Error).message).toMatch(/give the uuid/);
  });

  it.each([
    ['an unknown uuid', UUID, 'RunNotFound', `no run with uuid ${UUID}`],
    ['an unknown id', '999', 'RunNotFound', 'no run with id 999'],
    ['a reference that is neither', 'my-run', 'BadRestoreRequest', '"my-run" is neither a run id'],
  ])('fails for %s', async (_name, ref, name, message) => {
    await expect(resolveRun(index, ref)).rejects.toMatchObject({ name, message: expect.stringContaining(message) as string });
  });
});

describe('planRestore', () => {
  beforeEach(seedArchivedRun);

  it('writes one Map item per archived file, carrying everything the later steps need', async () => {
    const result = await plan({ run: RUN_ID, destination: `s3://${RESTORES}/back` });

    expect(result).toEqual({
      restoreId: RESTORE_ID,
      runUuid: UUID,
      runId: RUN_ID,
      tier: 'Bulk',
      destination: `s3://${RESTORES}/back`,
      fileCount: 5,
      itemsBucket: ITEMS_BUCKET,
      itemsKey: `restores/${UUID}/${RESTORE_ID}/items.json`,
      // restoreConcurrency, not archiveConcurrency (7): a restore's items mostly wait for their retrievals.
      concurrency: 250,
    });
    const items = uploadedItems();
    for (const item of items) expect(RestoreItemSchema.parse(item)).toEqual(item);
    const byPath = Object.fromEntries(items.map((i) => [i.path, i]));
    expect(Object.keys(byPath).sort()).toEqual([
      'out/aligned/sample 1.bam',
      'out/aligned/sample 1.bam.bai',
      'out/empty.txt',
      'out/qc/summary.json',
      'out/variants/calls.vcf.gz',
    ]);
    const timing = { notificationWaitSeconds: TIER_TIMING.Bulk.notificationWaitSeconds, pollSeconds: TIER_TIMING.Bulk.pollSeconds };
    expect(byPath['out/aligned/sample 1.bam']).toEqual({
      runUuid: UUID,
      restoreId: RESTORE_ID,
      path: 'out/aligned/sample 1.bam',
      size: 5000,
      retrieval: 'vault-job',
      tier: 'Bulk',
      sha256: 'bb'.repeat(32),
      treeHash: 'aa'.repeat(32),
      vaultName: VAULT,
      archiveId: 'archive-out/aligned/sample 1.bam',
      destinationBucket: RESTORES,
      destinationKey: 'back/out/aligned/sample 1.bam',
      ...timing,
    });
    expect(byPath['out/variants/calls.vcf.gz']).toMatchObject({
      retrieval: 's3-restore',
      archiveBucket: ARCHIVE_BUCKET,
      archiveKey: `runs/${UUID}/out/variants/calls.vcf.gz`,
      archiveVersionId: 'av-1',
      storageClass: 'DEEP_ARCHIVE',
    });
    expect(byPath['out/qc/summary.json']).toMatchObject({ retrieval: 'none', storageClass: 'GLACIER_IR' });
    expect(byPath['out/empty.txt']).toMatchObject({ retrieval: 'none', size: 0 });

    // The request and one record per file, in the index.
    expect(table.get(restoreKey(UUID, RESTORE_ID).pk, restoreKey(UUID, RESTORE_ID).sk)).toMatchObject({
      state: 'REQUESTED',
      tier: 'Bulk',
      destination: `s3://${RESTORES}/back`,
      executionArn: EXECUTION_ARN,
      fileCount: 5,
      request: { run: RUN_ID, destination: `s3://${RESTORES}/back` },
    });
    for (const item of items) {
      expect(restoreFile(item)).toMatchObject({
        state: 'REQUESTED',
        path: item.path,
        fileKey: restoreFileKeyOf(item.path),
        destination: `s3://${RESTORES}/back/${item.path}`,
      });
    }
    // Every destination was checked for an existing object.
    expect(
      s3Mock
        .commandCalls(HeadObjectCommand)
        .map((c) => c.args[0].input.Key)
        .sort(),
    ).toEqual(items.map((i) => `back/${i.path}`).sort());
  });

  it('restores to each file’s original location by default', async () => {
    const result = await plan({ run: UUID, files: ['out/aligned/*.bam'] });
    expect(result).toMatchObject({ destination: 'original location', fileCount: 1 });
    expect(uploadedItems()).toEqual([expect.objectContaining({ destinationBucket: OUTPUTS, destinationKey: `${PREFIX}out/aligned/sample 1.bam` })]);
  });

  it.each([
    ['with the out/ prefix', ['out/aligned/*.bam'], ['out/aligned/sample 1.bam']],
    ['without it', ['aligned/*.bam'], ['out/aligned/sample 1.bam']],
    ['with a globstar', ['**/*.bai', 'variants/**'], ['out/aligned/sample 1.bam.bai', 'out/variants/calls.vcf.gz']],
    [
      'absent (every archived file, never kept ones)',
      undefined,
      ['out/aligned/sample 1.bam', 'out/aligned/sample 1.bam.bai', 'out/empty.txt', 'out/qc/summary.json', 'out/variants/calls.vcf.gz'],
    ],
  ])('matches globs %s', async (_name, files, expected) => {
    await plan({ run: RUN_ID, files, destination: `s3://${RESTORES}/` });
    expect(
      uploadedItems()
        .map((i) => i.path)
        .sort(),
    ).toEqual(expected);
  });

  it("matches a CWL run's `<uuid>/out/…` files with globs written for `out/…` or the path inside it", async () => {
    const cwl = `${OTHER_UUID}/out/aligned/cwl.bam`;
    putFile(cwl);
    for (const files of [['out/aligned/cwl.bam'], ['aligned/cwl.bam'], [`${OTHER_UUID}/out/**/cwl.bam`]]) {
      objects.clear();
      await plan({ run: RUN_ID, files, destination: `s3://${RESTORES}/` });
      expect(uploadedItems().map((i) => i.path)).toEqual([cwl]);
    }
  });

  it('fails NoMatchingFiles naming the globs', async () => {
    const error = await planError({ run: RUN_ID, files: ['out/**/*.cram', 'report.html'] });
    expect(error.name).toBe('NoMatchingFiles');
    expect(error.message).toContain(`no archived file of run ${RUN_ID} (${UUID}) matches out/**/*.cram, report.html`);
  });

  it('fails FileNotArchived naming each file with its state and reason', async () => {
    putFile('out/aligned/sample 2.bam', { state: 'FAILED', failureReason: 'NoSuchKey: gone', archiveId: undefined });
    putFile('out/aligned/sample 3.bam', { state: 'PENDING', archiveId: undefined });
    const error = await planError({ run: RUN_ID, files: ['aligned/*.bam'] });
    expect(error.name).toBe('FileNotArchived');
    expect(error.message).toContain('2 matching file(s) were never archived');
    expect(error.message).toContain('out/aligned/sample 2.bam (FAILED: NoSuchKey: gone)');
    expect(error.message).toContain('out/aligned/sample 3.bam (PENDING)');
    expect(s3Mock.calls()).toHaveLength(0);
  });

  it.each([
    ['not an s3:// URI', 'https://restores.s3.amazonaws.com/x/', /is not an s3:\/\/bucket\/prefix\/ URI/],
    [
      'a bucket the configuration does not allow',
      's3://someone-elses-bucket/x/',
      /cannot restore into someone-elses-bucket: allowed buckets are outputs, restores/,
    ],
  ])('fails BadDestination for %s', async (_name, destination, message) => {
    const error = await planError({ run: RUN_ID, destination });
    expect(error.name).toBe('BadDestination');
    expect(error.message).toMatch(message);
    expect(table.get(restoreKey(UUID, RESTORE_ID).pk, restoreKey(UUID, RESTORE_ID).sk)).toBeUndefined();
  });

  it('fails BadDestination when an object is already where a file would go, writing nothing', async () => {
    objects.set(`${RESTORES}/back/out/aligned/sample 1.bam`, { body: Buffer.from('x') });
    const error = await planError({ run: RUN_ID, destination: `s3://${RESTORES}/back/` });
    expect(error.name).toBe('BadDestination');
    expect(error.message).toContain(`restoring would overwrite 1 existing object(s): s3://${RESTORES}/back/out/aligned/sample 1.bam`);
    expect(table.get(restoreKey(UUID, RESTORE_ID).pk, restoreKey(UUID, RESTORE_ID).sk)).toBeUndefined();
    expect(s3Mock.commandCalls(PutObjectCommand)).toHaveLength(0);
  });

  it('fails BadDestination when the original location still holds the source', async () => {
    objects.set(`${OUTPUTS}/${PREFIX}out/aligned/sample 1.bam`, { body: Buffer.from('still here') });
    const error = await planError({ run: RUN_ID, files: ['aligned/*.bam'] });
    expect(error.name).toBe('BadDestination');
  });

  it('throws an S3 error other than not-found while checking destinations', async () => {
    s3Mock.on(HeadObjectCommand).rejects(s3Error('Forbidden', 403, 'Forbidden'));
    await expect(plan({ run: RUN_ID, destination: `s3://${RESTORES}/` })).rejects.toMatchObject({ name: 'Forbidden' });
  });

  it.each([
    ['the run’s tier policy', { tier: undefined }, 'cold', 'Bulk'],
    ['the request, over the policy', { tier: 'Expedited' }, 'cold', 'Expedited'],
    ['Standard for a tier the policy no longer has', { tier: undefined }, 'retired', 'Standard'],
  ])('takes the retrieval tier from %s', async (_name, request, runTier, expected) => {
    putRun(UUID, 'RUN_DELETED', { tier: runTier });
    const result = await plan({ run: RUN_ID, files: ['aligned/*.bam'], destination: `s3://${RESTORES}/`, ...request });
    expect(result.tier).toBe(expected);
    expect(uploadedItems()[0]).toMatchObject({ tier: expected, notificationWaitSeconds: TIER_TIMING[expected as 'Bulk'].notificationWaitSeconds });
  });

  it('takes the notification wait and poll interval from the request when given', async () => {
    await plan({ run: RUN_ID, files: ['aligned/*.bam'], destination: `s3://${RESTORES}/`, notificationWaitSeconds: 30, pollSeconds: 5 });
    expect(uploadedItems()[0]).toMatchObject({ notificationWaitSeconds: 30, pollSeconds: 5 });
  });

  it('goes through when the workflow retries the step after an earlier attempt wrote the request', async () => {
    const request = { run: RUN_ID, files: ['aligned/*.bam'], destination: `s3://${RESTORES}/` };
    s3Mock.on(PutObjectCommand).rejectsOnce(s3Error('InternalError', 500, 'We encountered an internal error'));
    await expect(plan(request)).rejects.toMatchObject({ name: 'InternalError' });
    serveS3();
    await expect(plan(request)).resolves.toMatchObject({ fileCount: 1 });
    expect(uploadedItems()).toHaveLength(1);
  });

  it('refuses a restore id another execution already used', async () => {
    const request = { run: RUN_ID, files: ['aligned/*.bam'], destination: `s3://${RESTORES}/` };
    await plan(request);
    objects.clear();
    const error = await plan(request, { executionArn: `${EXECUTION_ARN}-other` }).catch((e: unknown) => e as Error);
    expect(error).toMatchObject({ name: 'BadRestoreRequest', message: expect.stringContaining(`restore id ${RESTORE_ID} is already used`) as string });
  });

  it('plans 10,000 files well inside the step timeout, checking destinations a bounded number at a time', async () => {
    const count = 10_000;
    for (let i = 0; i < count; i++) putFile(`out/shards/part-${String(i).padStart(5, '0')}.bam`);
    // Each HeadObject takes 5 ms, as S3 would take 10-30: one at a time the check alone would take 50 s or more.
    const latencyMs = 5;
    let inFlight = 0;
    let maxInFlight = 0;
    s3Mock.on(HeadObjectCommand).callsFake(async () => {
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      await new Promise((resolve) => setTimeout(resolve, latencyMs));
      inFlight--;
      throw new NotFound({ message: 'Not Found', $metadata: { httpStatusCode: 404 } });
    });
    // The items JSON (several MiB) goes up as a multipart upload.
    const parts = new Map<number, Buffer>();
    s3Mock.on(CreateMultipartUploadCommand).resolves({ UploadId: 'items-upload' });
    s3Mock.on(UploadPartCommand).callsFake(async (input: { PartNumber: number; Body: Uint8Array }) => {
      parts.set(input.PartNumber, await bodyBytes(Readable.from([input.Body])));
      return { ETag: `"part-${input.PartNumber}"` };
    });
    s3Mock.on(CompleteMultipartUploadCommand).callsFake((input: { Bucket: string; Key: string }) => {
      const body = Buffer.concat([...parts.entries()].sort(([a], [b]) => a - b).map(([, part]) => part));
      objects.set(`${input.Bucket}/${input.Key}`, { body });
      return {};
    });

    const started = performance.now();
    const result = await plan({ run: RUN_ID, files: ['shards/*.bam'], destination: `s3://${RESTORES}/back/` });
    const elapsedMs = performance.now() - started;

    expect(result).toMatchObject({ fileCount: count, concurrency: 250 });
    expect(uploadedItems()).toHaveLength(count);
    expect(s3Mock.commandCalls(HeadObjectCommand)).toHaveLength(count);
    expect(maxInFlight).toBeLessThanOrEqual(DESTINATION_CHECK_CONCURRENCY);
    expect(maxInFlight).toBe(DESTINATION_CHECK_CONCURRENCY);
    // The Lambda's timeout is 300 s; sequential checks alone would be count × latency = 50 s here.
    expect(elapsedMs).toBeLessThan(15_000);
  }, 60_000);
});

describe('jobDescription', () => {
  it('is printable ASCII that leads back to the restore file, for any path and execution name', () => {
    for (const item of [
      { runUuid: UUID, restoreId: RESTORE_ID, path: 'out/a.bam' },
      { runUuid: UUID, restoreId: 'restauración-样品-1', path: 'out/échantillon/样品 1.bam' },
      { runUuid: UUID, restoreId: 'r+1=2@x', path: `out/${'x'.repeat(3000)}` },
    ]) {
      const description = jobDescription(item);
      expect(description).toMatch(/^[\x20-\x7e]+$/);
      expect(description.length).toBeLessThanOrEqual(1024);
      expect(parseJobDescription(description)).toEqual({ runUuid: UUID, restoreId: item.restoreId, fileKey: restoreFileKeyOf(item.path) });
    }
  });

  it('recognises only its own descriptions', () => {
    expect(parseJobDescription(undefined)).toBeUndefined();
    expect(parseJobDescription('inventory for the auditors')).toBeUndefined();
    expect(parseJobDescription(`omics-archiver restore ${UUID} r-1 not-hex`)).toBeUndefined();
    expect(parseJobDescription(`omics-archiver restore ${UUID} bad%E0 abc123`)).toBeUndefined();
  });
});

describe('requestRetrieval', () => {
  const request = (item: RestoreItem, taskToken?: string) => requestRetrieval({ glacier, s3, index, item, taskToken, vaultJobsTopicArn: TOPIC });

  it('starts an archive-retrieval job with the vault’s topic and parks the task token', async () => {
    const item = restoreItem({ tier: 'Expedited' });
    putRestoreFile(item);
    glacierMock.on(InitiateJobCommand).resolves({ jobId: 'job-1' });

    expect(await request(item, 'token-1')).toEqual({ jobId: 'job-1', reused: false });

    const input = glacierMock.commandCalls(InitiateJobCommand)[0].args[0].input;
    expect(input).toEqual({
      accountId: '-',
      vaultName: VAULT,
      jobParameters: { Type: 'archive-retrieval', ArchiveId: 'archive-1', Tier: 'Expedited', SNSTopic: TOPIC, Description: jobDescription(item) },
    });
    expect(input.jobParameters!.Description).toMatch(/^[\x20-\x7e]+$/);
    expect(restoreFile(item)).toMatchObject({ state: 'RETRIEVING', jobId: 'job-1', taskToken: 'token-1' });
    expect(glacierMock.commandCalls(DescribeJobCommand)).toHaveLength(0);
  });

  it.each(['InProgress', 'Succeeded'] as const)('reuses the job a previous attempt started (%s) with the new token', async (status) => {
    const item = restoreItem();
    putRestoreFile(item, { state: 'RETRIEVING', jobId: 'job-1', taskToken: 'old-token' });
    glacierMock.on(DescribeJobCommand).resolves({ JobId: 'job-1', StatusCode: status });

    expect(await request(item, 'token-2')).toEqual({ jobId: 'job-1', reused: true });

    expect(glacierMock).toHaveReceivedCommandWith(DescribeJobCommand, { accountId: '-', vaultName: VAULT, jobId: 'job-1' });
    expect(glacierMock.commandCalls(InitiateJobCommand)).toHaveLength(0);
    expect(restoreFile(item)).toMatchObject({ jobId: 'job-1', taskToken: 'token-2' });
  });

  it.each([
    ['failed', () => glacierMock.on(DescribeJobCommand).resolves({ JobId: 'job-1', StatusCode: 'Failed' })],
    [
      'gone (expired)',
      () => glacierMock.on(DescribeJobCommand).rejects(new ResourceNotFoundException({ message: 'The job ID was not found: job-1', $metadata: {} })),
    ],
  ])('starts a new job when the recorded one %s', async (_name, setUp) => {
    const item = restoreItem();
    putRestoreFile(item, { state: 'RETRIEVING', jobId: 'job-1' });
    setUp();
    glacierMock.on(InitiateJobCommand).resolves({ jobId: 'job-2' });

    expect(await request(item, 'token-3')).toEqual({ jobId: 'job-2', reused: false });
    expect(restoreFile(item)).toMatchObject({ state: 'RETRIEVING', jobId: 'job-2', taskToken: 'token-3' });
  });

  it('throws any other error looking at the recorded job', async () => {
    const item = restoreItem();
    putRestoreFile(item, { jobId: 'job-1' });
    glacierMock.on(DescribeJobCommand).rejects(Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException' }));
    await expect(request(item, 't')).rejects.toMatchObject({ name: 'ThrottlingException' });
    expect(glacierMock.commandCalls(InitiateJobCommand)).toHaveLength(0);
  });

  const s3Item = (overrides: Partial<RestoreItem> = {}) =>
    restoreItem({
      path: 'out/variants/calls.vcf.gz',
      retrieval: 's3-restore',
      archiveId: undefined,
      vaultName: undefined,
      archiveBucket: ARCHIVE_BUCKET,
      archiveKey: `runs/${UUID}/out/variants/calls.vcf.gz`,
      archiveVersionId: 'av-1',
      storageClass: 'DEEP_ARCHIVE',
      ...overrides,
    });

  it.each([
    ['Deep Archive, Expedited asked (it offers Standard at best)', 'DEEP_ARCHIVE', 'Expedited', 'Standard'],
    ['Deep Archive, Bulk', 'DEEP_ARCHIVE', 'Bulk', 'Bulk'],
    ['Flexible Retrieval, Expedited', 'GLACIER', 'Expedited', 'Expedited'],
  ] as const)('restores an S3 Glacier object in place: %s', async (_name, storageClass, tier, expected) => {
    const item = s3Item({ storageClass, tier });
    putRestoreFile(item);
    expect(await request(item)).toEqual({ reused: false });
    expect(s3Mock.commandCalls(RestoreObjectCommand)[0].args[0].input).toEqual({
      Bucket: ARCHIVE_BUCKET,
      Key: `runs/${UUID}/out/variants/calls.vcf.gz`,
      VersionId: 'av-1',
      RestoreRequest: { Days: 3, GlacierJobParameters: { Tier: expected } },
    });
    expect(restoreFile(item)).toMatchObject({ state: 'RETRIEVING' });
    expect(glacierMock.calls()).toHaveLength(0);
  });

  it('tolerates a restore already in progress, and throws other S3 errors', async () => {
    const item = s3Item();
    putRestoreFile(item);
    objects.set(`${ARCHIVE_BUCKET}/${item.archiveKey}`, { body: Buffer.from('a'), versionId: 'av-1', restore: 'ongoing-request="true"' });
    s3Mock.on(RestoreObjectCommand).rejectsOnce(s3Error('RestoreAlreadyInProgress', 409, 'Object restore is already in progress'));
    await expect(request(item)).resolves.toEqual({ reused: false });
    expect(restoreFile(item)).toMatchObject({ state: 'RETRIEVING' });

    s3Mock.on(RestoreObjectCommand).rejects(s3Error('InvalidObjectState', 403, 'Object is not in a Glacier storage class'));
    await expect(request(item)).rejects.toMatchObject({ name: 'InvalidObjectState' });
  });

  it('does nothing for a file with nothing to retrieve', async () => {
    expect(await request(restoreItem({ retrieval: 'none', size: 0 }))).toEqual({ reused: false });
    expect(ddbMock.calls()).toHaveLength(0);
    expect(glacierMock.calls()).toHaveLength(0);
    expect(s3Mock.calls()).toHaveLength(0);
  });
});

describe('checkRetrieval', () => {
  const check = (item: RestoreItem) => checkRetrieval({ glacier, s3, index, item });

  it.each([
    ['Succeeded', true],
    ['InProgress', false],
  ] as const)('reports a vault job that is %s', async (status, ready) => {
    const item = restoreItem();
    putRestoreFile(item, { jobId: 'job-1' });
    glacierMock.on(DescribeJobCommand).resolves({ JobId: 'job-1', StatusCode: status });
    expect(await check(item)).toEqual({ ready, jobId: 'job-1', status });
  });

  it('fails RetrievalFailed when Glacier failed the job', async () => {
    const item = restoreItem();
    putRestoreFile(item, { jobId: 'job-1' });
    glacierMock.on(DescribeJobCommand).resolves({ JobId: 'job-1', StatusCode: 'Failed', StatusMessage: 'Archive is corrupt' });
    await expect(check(item)).rejects.toMatchObject({ name: 'RetrievalFailed', message: 'Glacier retrieval job job-1 failed: Archive is corrupt' });
  });

  it('fails when no job was recorded for the file', async () => {
    const item = restoreItem();
    putRestoreFile(item);
    await expect(check(item)).rejects.toThrow('no retrieval job recorded for out/aligned/sample 1.bam');
  });

  it.each([
    ['done', 'ongoing-request="false", expiry-date="Fri, 06 Jun 2025 00:00:00 GMT"', true],
    ['under way', 'ongoing-request="true"', false],
    ['not asked for', undefined, false],
  ])('reports an S3 restore that is %s', async (_name, restore, ready) => {
    const item = restoreItem({ retrieval: 's3-restore', archiveBucket: ARCHIVE_BUCKET, archiveKey: 'runs/x/out/a', archiveVersionId: 'av-1' });
    objects.set(`${ARCHIVE_BUCKET}/runs/x/out/a`, { body: Buffer.from('a'), versionId: 'av-1', restore });
    expect(await check(item)).toEqual({ ready, status: restore ?? 'not restored' });
    expect(s3Mock).toHaveReceivedCommandWith(HeadObjectCommand, { Bucket: ARCHIVE_BUCKET, Key: 'runs/x/out/a', VersionId: 'av-1' });
  });

  it('reports a file with nothing to retrieve as ready', async () => {
    expect(await check(restoreItem({ retrieval: 'none' }))).toEqual({ ready: true, status: 'nothing to retrieve' });
  });
});

describe('resumeAfterJob', () => {
  const item = restoreItem();
  const message = (overrides: Record<string, unknown> = {}) =>
    JobNotificationSchema.parse({
      Action: 'ArchiveRetrieval',
      JobId: 'job-1',
      JobDescription: jobDescription(item),
      StatusCode: 'Succeeded',
      StatusMessage: 'Succeeded',
      ...overrides,
    });
  const resume = (m: ReturnType<typeof message>) => resumeAfterJob({ sfn, index, message: m });

  beforeEach(() => putRestoreFile(item, { state: 'RETRIEVING', jobId: 'job-1', taskToken: 'token-1' }));

  it('sends the task success for a finished job', async () => {
    sfnMock.on(SendTaskSuccessCommand).resolves({});
    expect(await resume(message())).toBe('resumed');
    expect(sfnMock.commandCalls(SendTaskSuccessCommand)[0].args[0].input).toEqual({
      taskToken: 'token-1',
      output: JSON.stringify({ jobId: 'job-1', statusCode: 'Succeeded' }),
    });
  });

  it('sends the task failure for a failed job, with Glacier’s message', async () => {
    sfnMock.on(SendTaskFailureCommand).resolves({});
    expect(await resume(message({ StatusCode: 'Failed', StatusMessage: 'Archive not found' }))).toBe('failed');
    expect(sfnMock.commandCalls(SendTaskFailureCommand)[0].args[0].input).toEqual({
      taskToken: 'token-1',
      error: 'RetrievalFailed',
      cause: 'Glacier job job-1: Archive not found',
    });
    expect(sfnMock.commandCalls(SendTaskSuccessCommand)).toHaveLength(0);
  });

  it.each([
    ['someone else’s description', { JobDescription: 'inventory for the auditors' }],
    ['no description', { JobDescription: null }],
  ])('ignores a job with %s', async (_name, overrides) => {
    expect(await resume(message(overrides))).toBe('not-ours');
    expect(ddbMock.calls()).toHaveLength(0);
    expect(sfnMock.calls()).toHaveLength(0);
  });

  it('finds no waiter when no token is parked, or it waits for another job', async () => {
    expect(await resume(message({ JobId: 'job-0' }))).toBe('no-waiter');
    putRestoreFile(item, { state: 'RETRIEVING', jobId: 'job-1' });
    expect(await resume(message())).toBe('no-waiter');
    expect(await resume(message({ JobDescription: jobDescription({ ...item, path: 'out/unknown.bam' }) }))).toBe('no-waiter');
    expect(sfnMock.calls()).toHaveLength(0);
  });

  it.each(['TaskTimedOut', 'TaskDoesNotExist', 'InvalidToken'])('treats %s (the poll took over, or the token is gone) as no waiter', async (name) => {
    sfnMock.on(SendTaskSuccessCommand).rejects(new SFNServiceException({ name, $fault: 'client', $metadata: {}, message: name }));
    expect(await resume(message())).toBe('no-waiter');
  });

  it('throws a throttling error for the queue to redeliver', async () => {
    sfnMock
      .on(SendTaskSuccessCommand)
      .rejects(new SFNServiceException({ name: 'ThrottlingException', $fault: 'client', $metadata: {}, message: 'Rate exceeded' }));
    await expect(resume(message())).rejects.toMatchObject({ name: 'ThrottlingException' });
  });

  it('parses the DescribeJob JSON the vault publishes, tolerating null fields', () => {
    const parsed = JobNotificationSchema.parse({
      Action: 'ArchiveRetrieval',
      ArchiveId: 'a',
      Completed: true,
      JobDescription: null,
      JobId: 'job-9',
      StatusCode: 'Succeeded',
      StatusMessage: null,
      VaultARN: 'arn:aws:glacier:us-east-1:123456789012:vaults/v',
    });
    expect(parsed).toMatchObject({ JobId: 'job-9', StatusCode: 'Succeeded' });
    expect(JobNotificationSchema.safeParse({ JobId: 'x' }).success).toBe(false);
  });
});

describe('copyRestoredFile', () => {
  const copy = (item: RestoreItem, deadline = Date.now() + 60_000) => copyRestoredFile({ glacier, s3, index, item, deadline });

  it('does nothing for a file already RESTORED', async () => {
    const item = restoreItem();
    putRestoreFile(item, { state: 'RESTORED', jobId: 'job-1' });
    expect(await copy(item)).toEqual({ status: 'complete', size: 5000, sha256: 'bb'.repeat(32) });
    expect(s3Mock.calls()).toHaveLength(0);
    expect(glacierMock.calls()).toHaveLength(0);
    expect(ddbMock.calls().filter((c) => c.args[0].constructor.name !== 'GetCommand')).toHaveLength(0);
  });

  it('writes an empty object for a zero-byte file', async () => {
    const item = restoreItem({ retrieval: 'none', size: 0, sha256: EMPTY_SHA256, destinationKey: 'back/out/empty.txt' });
    putRestoreFile(item);
    expect(await copy(item)).toEqual({ status: 'complete', size: 0, sha256: EMPTY_SHA256 });
    expect(s3Mock.commandCalls(PutObjectCommand)[0].args[0].input).toMatchObject({ Bucket: RESTORES, Key: 'back/out/empty.txt' });
    expect(objects.get(`${RESTORES}/back/out/empty.txt`)?.body).toHaveLength(0);
    expect(restoreFile(item)).toMatchObject({ state: 'RESTORED', bytesDone: 0 });
  });

  const s3Restored = (data: Buffer, overrides: Partial<RestoreItem> = {}) => {
    const archiveKey = `runs/${UUID}/out/variants/my calls é.vcf.gz`;
    objects.set(`${ARCHIVE_BUCKET}/${archiveKey}`, { body: data, versionId: 'av-1', restore: 'ongoing-request="false"' });
    const item = restoreItem({
      path: 'out/variants/my calls é.vcf.gz',
      size: data.length,
      retrieval: 's3-restore',
      sha256: sha256Hex(data),
      archiveBucket: ARCHIVE_BUCKET,
      archiveKey,
      archiveVersionId: 'av-1',
      storageClass: 'DEEP_ARCHIVE',
      destinationKey: 'back/out/variants/my calls é.vcf.gz',
      ...overrides,
    });
    putRestoreFile(item, { state: 'RETRIEVING', taskToken: 'stale' });
    return item;
  };

  it('copies an S3 Glacier object indexed without a checksum to the destination in Standard, checks its SHA-256 first and marks it RESTORED', async () => {
    const data = testBytes(3000, 60);
    const item = s3Restored(data);

    expect(await copy(item)).toEqual({ status: 'complete', size: 3000, sha256: sha256Hex(data) });

    expect(s3Mock.commandCalls(CopyObjectCommand)[0].args[0].input).toEqual({
      Bucket: RESTORES,
      Key: 'back/out/variants/my calls é.vcf.gz',
      CopySource: `${ARCHIVE_BUCKET}/runs/${UUID}/out/variants/my%20calls%20%C3%A9.vcf.gz?versionId=av-1`,
      StorageClass: 'STANDARD',
    });
    // The archived version is read and checked before anything is written.
    expect(s3Mock).toHaveReceivedCommandWith(GetObjectCommand, {
      Bucket: ARCHIVE_BUCKET,
      Key: `runs/${UUID}/out/variants/my calls é.vcf.gz`,
      VersionId: 'av-1',
    });
    expect(objects.get(`${RESTORES}/back/out/variants/my calls é.vcf.gz`)?.body.equals(data)).toBe(true);
    const record = restoreFile(item)!;
    expect(record).toMatchObject({ state: 'RESTORED', bytesDone: 3000, restoredAt: expect.any(String) as string });
    expect(record.taskToken).toBeUndefined();
  });

  it('refuses an archived copy whose SHA-256 differs from the recorded one: ChecksumMismatch, nothing written', async () => {
    const item = s3Restored(testBytes(3000, 61), { sha256: 'ff'.repeat(32) });

    await expect(copy(item)).rejects.toMatchObject({
      name: 'ChecksumMismatch',
      message: expect.stringContaining(`the index recorded ${'ff'.repeat(32)}; nothing was written`) as string,
    });

    expect(s3Mock).not.toHaveReceivedCommand(CopyObjectCommand);
    expect(objects.has(`${RESTORES}/${item.destinationKey}`)).toBe(false);
    expect(restoreFile(item)).toMatchObject({ state: 'COPYING' });
  });

  it('copies a Glacier Instant Retrieval object without a restore', async () => {
    const data = testBytes(100, 62);
    const item = s3Restored(data, { retrieval: 'none', storageClass: 'GLACIER_IR' });
    expect(await copy(item)).toMatchObject({ status: 'complete', sha256: sha256Hex(data) });
    expect(restoreFile(item)).toMatchObject({ state: 'RESTORED' });
  });

  /** S3 answering with each object's full-object CRC64NVME, as it does for objects archived with one. */
  async function serveChecksums(): Promise<void> {
    const crcs = new Map<string, string>();
    for (const [at, object] of objects) crcs.set(at, await crc64nvmeOf(object.body));
    s3Mock.on(HeadObjectCommand).callsFake((input: HeadObjectCommandInput) => {
      const object = objects.get(`${input.Bucket}/${input.Key}`);
      if (!object) throw new NotFound({ message: 'Not Found', $metadata: { httpStatusCode: 404 } });
      const checksum =
        input.ChecksumMode === 'ENABLED' ? { ChecksumCRC64NVME: crcs.get(`${input.Bucket}/${input.Key}`), ChecksumType: 'FULL_OBJECT' as const } : {};
      return { ContentLength: object.body.length, VersionId: object.versionId, ETag: '"e"', Restore: object.restore, ...checksum };
    });
    s3Mock.on(CopyObjectCommand).callsFake((input: CopyObjectCommandInput) => {
      const [source] = input.CopySource!.split('?versionId=');
      const slash = source.indexOf('/');
      const at = `${source.slice(0, slash)}/${decodeURIComponent(source.slice(slash + 1))}`;
      objects.set(`${input.Bucket}/${input.Key}`, { body: objects.get(at)!.body, versionId: 'v-copy' });
      return { VersionId: 'v-copy', CopyObjectResult: { ChecksumCRC64NVME: crcs.get(at), ChecksumType: 'FULL_OBJECT' } };
    });
  }

  it('copies an S3 Glacier object archived with a CRC64NVME server-side, verified by S3 without reading a byte', async () => {
    const data = testBytes(3000, 63);
    const item = s3Restored(data, { crc64nvme: await crc64nvmeOf(data) });
    await serveChecksums();

    expect(await copy(item)).toEqual({ status: 'complete', size: 3000, sha256: sha256Hex(data) });

    expect(s3Mock).not.toHaveReceivedCommand(GetObjectCommand);
    expect(s3Mock).toHaveReceivedCommandWith(HeadObjectCommand, { Bucket: ARCHIVE_BUCKET, VersionId: 'av-1', ChecksumMode: 'ENABLED' });
    expect(s3Mock.commandCalls(CopyObjectCommand)[0].args[0].input).toMatchObject({
      Bucket: RESTORES,
      Key: 'back/out/variants/my calls é.vcf.gz',
      CopySource: `${ARCHIVE_BUCKET}/runs/${UUID}/out/variants/my%20calls%20%C3%A9.vcf.gz?versionId=av-1`,
      StorageClass: 'STANDARD',
      ChecksumAlgorithm: 'CRC64NVME',
    });
    expect(objects.get(`${RESTORES}/back/out/variants/my calls é.vcf.gz`)?.body.equals(data)).toBe(true);
    expect(restoreFile(item)).toMatchObject({ state: 'RESTORED', bytesDone: 3000 });
  });

  it('refuses an archived object whose CRC64NVME is not the recorded one: ChecksumMismatch, nothing written', async () => {
    const data = testBytes(3000, 64);
    const item = s3Restored(data, { crc64nvme: await crc64nvmeOf(testBytes(3000, 65)) });
    await serveChecksums();

    await expect(copy(item)).rejects.toMatchObject({ name: 'ChecksumMismatch', message: expect.stringContaining('nothing was copied') as string });

    expect(s3Mock).not.toHaveReceivedCommand(CopyObjectCommand);
    expect(objects.has(`${RESTORES}/${item.destinationKey}`)).toBe(false);
    expect(restoreFile(item)).toMatchObject({ state: 'COPYING' });
  });

  it('one worker copies a file at a time: a live claim makes another wait (FileClaimed), copying nothing; an expired one is taken over', async () => {
    const data = testBytes(3000, 66);
    const item = s3Restored(data, { crc64nvme: await crc64nvmeOf(data) });
    await serveChecksums();
    const key = restoreFileKey(UUID, item.restoreId, item.path);
    table.put({ ...table.get(key.pk, key.sk)!, claimOwner: 'other-worker', claimExpiresAt: Date.now() + 60_000 });

    await expect(copy(item)).rejects.toMatchObject({ name: 'FileClaimed', message: expect.stringContaining('other-worker') as string });
    expect(s3Mock).not.toHaveReceivedCommand(CopyObjectCommand);

    table.put({ ...table.get(key.pk, key.sk)!, claimExpiresAt: Date.now() - 1 });
    expect(await copy(item)).toMatchObject({ status: 'complete' });
    expect(s3Mock).toHaveReceivedCommandTimes(CopyObjectCommand, 1);
    expect(restoreFile(item)).toMatchObject({ state: 'RESTORED' });
    expect(restoreFile(item)!.claimOwner).toBeUndefined();
  });

  it('two copies of one file at once: one CopyObject, both end with the file RESTORED or waiting for it', async () => {
    const data = testBytes(3000, 67);
    const item = s3Restored(data, { crc64nvme: await crc64nvmeOf(data) });
    await serveChecksums();
    const outcomes = await Promise.allSettled([copy(item), copy(item)]);
    expect(s3Mock).toHaveReceivedCommandTimes(CopyObjectCommand, 1);
    for (const outcome of outcomes) if (outcome.status === 'rejected') expect(outcome.reason).toMatchObject({ name: 'FileClaimed' });
    expect(await copy(item)).toMatchObject({ status: 'complete' });
    expect(s3Mock).toHaveReceivedCommandTimes(CopyObjectCommand, 1);
  });

  it('fails for a vault file with no job recorded', async () => {
    const item = restoreItem();
    putRestoreFile(item);
    await expect(copy(item)).rejects.toThrow('no retrieval job recorded');
  });
});

describe('recordRestoreFileFailure', () => {
  it('marks the file FAILED with the error and the Lambda error message', async () => {
    const item = restoreItem();
    putRestoreFile(item, { state: 'COPYING' });
    await recordRestoreFileFailure(index, item, {
      Error: 'TreeHashMismatch',
      Cause: JSON.stringify({ errorType: 'TreeHashMismatch', errorMessage: 'Bytes 0-1 hash to x' }),
    });
    expect(restoreFile(item)).toMatchObject({ state: 'FAILED', failureReason: 'TreeHashMismatch: Bytes 0-1 hash to x' });
  });

  it('keeps a plain-text cause and bounds it', async () => {
    const item = restoreItem();
    putRestoreFile(item);
    await recordRestoreFileFailure(index, item, { Cause: 'y'.repeat(2000) });
    const reason = restoreFile(item)!.failureReason!;
    expect(reason.startsWith('Error: yyy')).toBe(true);
    expect(reason).toHaveLength(1000);
  });
});

describe('finalizeRestore', () => {
  function seedRestore(restoreId: string, states: Record<string, RestoreFileRecord['state']>) {
    table.put({
      ...restoreKey(UUID, restoreId),
      runUuid: UUID,
      restoreId,
      state: 'REQUESTED',
      request: {},
      tier: 'Bulk',
      destination: 'x',
      fileCount: Object.keys(states).length,
    });
    for (const [path, state] of Object.entries(states)) {
      putRestoreFile(restoreItem({ restoreId, path }), { state, ...(state === 'FAILED' ? { failureReason: 'ChecksumMismatch: bad' } : {}) });
    }
  }
  const request = (restoreId: string) => table.get(restoreKey(UUID, restoreId).pk, restoreKey(UUID, restoreId).sk);

  it('settles RESTORED when every file is, ignoring other restores of the run', async () => {
    seedRestore('r-1', { 'out/a': 'RESTORED', 'out/b': 'RESTORED' });
    seedRestore('r-10', { 'out/a': 'FAILED' });
    const outcome = await finalizeRestore(index, UUID, 'r-1');
    expect(outcome).toEqual({
      restoreId: 'r-1',
      runUuid: UUID,
      state: 'RESTORED',
      restored: 2,
      failed: 0,
      files: [
        { path: expect.any(String) as string, state: 'RESTORED', destination: expect.any(String) as string },
        { path: expect.any(String) as string, state: 'RESTORED', destination: expect.any(String) as string },
      ],
    });
    expect(request('r-1')).toMatchObject({ state: 'RESTORED', restored: 2, failed: 0, completedAt: expect.any(String) as string });
    expect(request('r-10')).toMatchObject({ state: 'REQUESTED' });
  });

  it('settles FAILED with counts and reasons when any file is not restored', async () => {
    seedRestore('r-2', { 'out/a': 'RESTORED', 'out/b': 'FAILED', 'out/c': 'RETRIEVING' });
    const outcome = await finalizeRestore(index, UUID, 'r-2');
    expect(outcome).toMatchObject({ state: 'FAILED', restored: 1, failed: 2 });
    expect(outcome.files).toContainEqual({ path: 'out/b', state: 'FAILED', destination: expect.any(String) as string, failureReason: 'ChecksumMismatch: bad' });
    expect(request('r-2')).toMatchObject({ state: 'FAILED', restored: 1, failed: 2 });
  });

  it('settles FAILED when the restore has no file records at all', async () => {
    seedRestore('r-3', {});
    expect(await finalizeRestore(index, UUID, 'r-3')).toMatchObject({ state: 'FAILED', restored: 0, failed: 0, files: [] });
  });
});

describe('a vault restore end to end, against the Glacier emulator', () => {
  let g: LocalGlacier;
  beforeAll(async () => {
    // Jobs finish only when a test says so (completeJobNow), never on a timer racing the test.
    g = await startLocalGlacier({ jobDelayMs: { Expedited: 3_600_000, Standard: 3_600_000, Bulk: 3_600_000 } });
    await g.glacier.send(new CreateVaultCommand({ accountId: '-', vaultName: VAULT }));
  });
  afterAll(() => g.stop());

  async function archived(path: string, data: Buffer) {
    const result = await uploadToVault({
      glacier: g.glacier,
      vaultName: VAULT,
      source: { size: data.length, read: (start, end) => Promise.resolve(Readable.from([data.subarray(start, end + 1)])) },
      partSize: MIB,
      description: 'test',
    });
    if (result.status !== 'complete') throw new Error('incomplete upload');
    putFile(path, { size: data.length, archiveId: result.archiveId ?? undefined, treeHash: result.treeHash, sha256: result.sha256 });
  }

  it('plans, retrieves, resumes on the notification, copies verified bytes back and settles RESTORED', async () => {
    putRun(UUID, 'RUN_DELETED', { tier: 'fast' });
    const data = testBytes(2 * MIB + 123, 70);
    await archived('out/échantillon 1.bam', data);
    // Step Functions allows non-ASCII execution names; Glacier job descriptions must still be ASCII.
    const restoreId = 'restauración-样品-1';

    const planned = await planRestore({
      index,
      s3,
      config,
      request: { run: RUN_ID, destination: `s3://${RESTORES}/back/` },
      restoreId,
      vaultName: VAULT,
      itemsBucket: ITEMS_BUCKET,
    });
    expect(planned).toMatchObject({ tier: 'Expedited', fileCount: 1 });
    const [item] = JSON.parse(objects.get(`${ITEMS_BUCKET}/${planned.itemsKey}`)!.body.toString('utf8')) as RestoreItem[];

    const { jobId } = await requestRetrieval({ glacier: g.glacier, s3, index, item, taskToken: 'token-e2e', vaultJobsTopicArn: TOPIC });
    expect(await checkRetrieval({ glacier: g.glacier, s3, index, item })).toEqual({ ready: false, jobId, status: 'InProgress' });

    await g.emulator.completeJobNow(jobId!);
    expect(g.publish).toHaveBeenCalledWith(TOPIC, expect.any(String));
    const published = g.publish.mock.calls.find(([topic, body]) => topic === TOPIC && body.includes(jobId!))!;
    sfnMock.on(SendTaskSuccessCommand).resolves({});
    expect(await resumeAfterJob({ sfn, index, message: JobNotificationSchema.parse(JSON.parse(published[1])) })).toBe('resumed');
    expect(sfnMock).toHaveReceivedCommandWith(SendTaskSuccessCommand, { taskToken: 'token-e2e' });

    const copied = await copyRestoredFile({ glacier: g.glacier, s3, index, item, deadline: Date.now() + 60_000 });
    expect(copied).toEqual({ status: 'complete', size: data.length, sha256: sha256Hex(data) });
    expect(objects.get(`${RESTORES}/back/out/échantillon 1.bam`)?.body.equals(data)).toBe(true);
    const record = restoreFile(item)!;
    expect(record).toMatchObject({ state: 'RESTORED', jobId, bytesDone: data.length });
    expect(record.taskToken).toBeUndefined();

    expect(await finalizeRestore(index, UUID, restoreId)).toMatchObject({ state: 'RESTORED', restored: 1, failed: 0 });
    expect(treeHashOf(data).toString('hex')).toBe(item.treeHash);
  });

  it('records the copy checkpoint with its progress, fetches none of the copied ranges on resume, and clears it when RESTORED', async () => {
    // Two 64 MiB ranges (the default): the deadline stops the copy after the first.
    const data = testBytes(64 * MIB + 1000, 72);
    await archived('out/big.bam', data);
    const item = restoreItem({
      path: 'out/big.bam',
      size: data.length,
      sha256: sha256Hex(data),
      treeHash: treeHashOf(data).toString('hex'),
      destinationKey: 'back/out/big.bam',
    });
    const { jobId } = await g.glacier.send(
      new InitiateJobCommand({
        accountId: '-',
        vaultName: VAULT,
        jobParameters: { Type: 'archive-retrieval', ArchiveId: fileRecordOf('out/big.bam')!.archiveId },
      }),
    );
    await g.emulator.completeJobNow(jobId!);
    putRestoreFile(item, { state: 'RETRIEVING', jobId });

    // An S3 multipart upload in memory, for the destination.
    const parts = new Map<number, Buffer>();
    s3Mock.on(CreateMultipartUploadCommand).resolves({ UploadId: 'mpu-1' });
    s3Mock.on(UploadPartCommand).callsFake((input: { PartNumber: number; Body: Buffer }) => {
      parts.set(input.PartNumber, Buffer.from(input.Body));
      return Promise.resolve({ ETag: `"${createHash('md5').update(input.Body).digest('hex')}"` });
    });
    s3Mock.on(ListPartsCommand).callsFake(() =>
      Promise.resolve({
        Parts: [...parts].map(([PartNumber, body]) => ({ PartNumber, Size: body.length, ETag: `"${createHash('md5').update(body).digest('hex')}"` })),
        IsTruncated: false,
      }),
    );
    s3Mock.on(CompleteMultipartUploadCommand).callsFake((input: { Bucket: string; Key: string; MultipartUpload: { Parts: { PartNumber: number }[] } }) => {
      objects.set(`${input.Bucket}/${input.Key}`, {
        body: Buffer.concat(input.MultipartUpload.Parts.map((p) => parts.get(p.PartNumber)!)),
        versionId: 'v-mpu',
      });
      return Promise.resolve({ VersionId: 'v-mpu' });
    });
    const fetched: string[] = [];
    const handle = g.emulator.handle.bind(g.emulator);
    g.emulator.handle = async (req, res) => {
      if (req.method === 'GET' && req.headers.range) fetched.push(String(req.headers.range));
      return handle(req, res);
    };
    const clock = skewedClock();
    table.onWrite = (_c, written) => {
      if (written.bytesDone === 64 * MIB) clock.skew = 10 * 60_000;
    };
    try {
      expect(await copyRestoredFile({ glacier: g.glacier, s3, index, item, deadline: clock.realNow() + 5 * 60_000 })).toEqual({
        status: 'incomplete',
        bytesDone: 64 * MIB,
      });
      expect(restoreFile(item)).toMatchObject({
        state: 'COPYING',
        uploadId: 'mpu-1',
        bytesDone: 64 * MIB,
        sha256Bytes: 64 * MIB,
        sha256State: expect.any(String) as string,
        treeHashState: treeHashOf(data.subarray(0, 64 * MIB)).toString('hex'),
      });

      clock.skew = 0;
      table.onWrite = undefined;
      fetched.length = 0;
      const copied = await copyRestoredFile({ glacier: g.glacier, s3, index, item, deadline: clock.realNow() + 5 * 60_000 });
      expect(copied).toEqual({ status: 'complete', size: data.length, sha256: sha256Hex(data) });
      expect(fetched).toEqual([`bytes=${64 * MIB}-${data.length - 1}`]);
      expect(objects.get(`${RESTORES}/back/out/big.bam`)?.body.equals(data)).toBe(true);
      const record = restoreFile(item)!;
      expect(record).toMatchObject({ state: 'RESTORED', bytesDone: data.length });
      expect(record.sha256State).toBeUndefined();
      expect(record.sha256Bytes).toBeUndefined();
      expect(record.treeHashState).toBeUndefined();
    } finally {
      g.emulator.handle = handle;
      jest.restoreAllMocks();
      table.onWrite = undefined;
    }
  });

  it('writes nothing when the job output does not match the recorded tree hash', async () => {
    putRun(UUID, 'ARCHIVED');
    const data = testBytes(5000, 71);
    await archived('out/damaged.bam', data);
    await planRestore({
      index,
      s3,
      config,
      request: { run: UUID, destination: `s3://${RESTORES}/` },
      restoreId: 'r-damaged',
      vaultName: VAULT,
      itemsBucket: ITEMS_BUCKET,
    });
    const [item] = JSON.parse(objects.get(`${ITEMS_BUCKET}/restores/${UUID}/r-damaged/items.json`)!.body.toString('utf8')) as RestoreItem[];
    const { jobId } = await requestRetrieval({ glacier: g.glacier, s3, index, item, vaultJobsTopicArn: TOPIC });
    await g.emulator.completeJobNow(jobId!);
    g.emulator.corruptJobOutput(jobId!, 10);

    await expect(copyRestoredFile({ glacier: g.glacier, s3, index, item, deadline: Date.now() + 60_000 })).rejects.toMatchObject({ name: 'TreeHashMismatch' });
    expect(objects.has(`${RESTORES}/out/damaged.bam`)).toBe(false);
    expect(restoreFile(item)).toMatchObject({ state: 'COPYING' });
  });
});
