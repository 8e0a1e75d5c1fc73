// Bad input the archiver must meet with a clear error and no loss: hostile keys, undecodable listings, oversized messages, a bad fixture.
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { GlacierClient } from '@aws-sdk/client-glacier';
import {
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  NotFound,
  PutObjectCommand,
  S3Client,
  type ListObjectsV2CommandInput,
  type PutObjectCommandInput,
} from '@aws-sdk/client-s3';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import * as os from 'node:os';
import * as path from 'node:path';
import { archiveItem } from '../../functions/lib/archive/archive-files';
import { classifyOutputs } from '../../functions/lib/archive/classify-outputs';
import { finalizeArchive, listedFailures, MAX_FAILED_LISTED_BYTES } from '../../functions/lib/archive/finalize-archive';
import { planArchive } from '../../functions/lib/archive/plan-archive';
import {
  archiveObjectKey,
  ENV,
  fileKey,
  fileSortKey,
  MAX_SORT_KEY_BYTES,
  parseArchiveObjectKey,
  parseConfig,
  runKey,
  SCHEMA_VERSION,
  TierSchema,
  utf8Prefix,
} from '../../functions/lib/contract';
import { RunIndex, type FileRecord } from '../../functions/lib/index/run-index';
import { planRestore, RestoreRequestError } from '../../functions/lib/restore/plan-restore';
import { decodeListedKey, UndecodableKeyError } from '../../functions/lib/s3/listing';
import { handler as deleteRunHandler } from '../../functions/delete-run';
import { handler as triggerArchiveHandler } from '../../functions/trigger-archive';
import { loadRunFixture, type LoadRunFixtureClients } from '../../local/omics/fixture';
import { FixtureError } from '../../local/omics/model';
import { FakeRunIndexTable } from '../support/run-index-table';
import { quietPowertools, sqsBatch, sqsRecordsFrom, useEnv } from '../support/handlers';

const UUID = '96c57683-74bf-9d6d-ae7e-f09b097db14a';
const RUN_ID = '7830534';
const OUTPUTS = 'outputs';
const PREFIX = `out/${RUN_ID}/`;

const ddbMock = mockClient(DynamoDBDocumentClient);
const s3 = new S3Client({ region: 'us-east-1' });
const s3Mock = mockClient(s3);
let table: FakeRunIndexTable;
let index: RunIndex;

const powertools = quietPowertools();
useEnv({ [ENV.archiveStateMachineArn]: 'arn:aws:states:us-east-1:123456789012:stateMachine:ArchiveRun', [ENV.runIndexTable]: 'run-index' });

beforeEach(() => {
  ddbMock.reset();
  s3Mock.reset();
  table = new FakeRunIndexTable().attach(ddbMock);
  index = new RunIndex(DynamoDBDocumentClient.from(new DynamoDBClient({ region: 'us-east-1' })), table.tableName);
});

/** The error a promise rejects with; a promise that resolves fails the test. */
async function failure(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected a failure');
}

/** What S3 sends for `encoding-type=url`: the key form-encoded, as botocore's unquote_plus undoes it. */
const urlEncoded = (key: string) => encodeURIComponent(key).replace(/%2F/g, '/').replace(/%20/g, '+');

/** Serves ListObjectsV2 from these keys (one page), URL-encoded when asked, and records the plan's PutObject. */
function serveListing(keys: string[], options: { encode?: (key: string) => string } = {}): { requests: ListObjectsV2CommandInput[]; plans: string[] } {
  const requests: ListObjectsV2CommandInput[] = [];
  const plans: string[] = [];
  s3Mock.on(ListObjectsV2Command).callsFake((input: ListObjectsV2CommandInput) => {
    requests.push(input);
    const encode = input.EncodingType === 'url' ? (options.encode ?? urlEncoded) : (k: string) => k;
    return {
      ...(input.EncodingType ? { EncodingType: input.EncodingType } : {}),
      Contents: keys.map((key) => ({ Key: encode(key), Size: 10, ETag: `"etag"`, LastModified: new Date('2025-01-01T00:00:00Z') })),
      IsTruncated: false,
    };
  });
  s3Mock.on(PutObjectCommand).callsFake((input: PutObjectCommandInput) => {
    plans.push(typeof input.Body === 'string' ? input.Body : Buffer.from(input.Body as Uint8Array).toString('utf8'));
    return {};
  });
  return { requests, plans };
}

const archiveTier = TierSchema.parse({ name: 't', defaultAction: 'archive', target: { type: 's3-glacier' } });
const plan = () =>
  planArchive({
    s3,
    index,
    runUuid: UUID,
    runOutputUri: `s3://${OUTPUTS}/${PREFIX}`,
    tier: archiveTier,
    groupLimits: { maxFiles: 100, maxBytes: '1 GiB' },
    planBucket: 'snapshots',
    planKey: `plans/${UUID}/exec/items.json`,
    now: new Date('2025-06-01T00:00:00Z'),
  });

describe('hostile object keys', () => {
  it('lists with encoding-type=url and decodes control characters, spaces, plus signs and non-ASCII keys exactly', async () => {
    const paths = ['a\u0001b\u0007c.txt', 'line\r\nbreak.txt', 'tab\there.txt', 'sample 1+2%.bam', '样本/ü.vcf', 'nul\u0000.txt'];
    const { requests } = serveListing(paths.map((p) => `${PREFIX}${p}`));
    const summary = await plan();
    expect(requests[0]).toMatchObject({ Bucket: OUTPUTS, Prefix: PREFIX, EncodingType: 'url' });
    expect(summary.counts.files).toBe(paths.length);
    const files = await index.listFiles(UUID);
    expect(files.map((f) => f.path).sort()).toEqual([...paths].sort());
    expect(files.map((f) => f.sourceKey).sort()).toEqual(paths.map((p) => `${PREFIX}${p}`).sort());
  });

  it('takes the keys as they are when the server ignores encoding-type (no EncodingType in the answer)', async () => {
    s3Mock.on(ListObjectsV2Command).resolves({ Contents: [{ Key: `${PREFIX}100%25 literal.txt`, Size: 1 }], IsTruncated: false });
    s3Mock.on(PutObjectCommand).resolves({});
    await plan();
    expect((await index.listFiles(UUID)).map((f) => f.path)).toEqual(['100%25 literal.txt']);
  });

  it('fails a listing with a key that is not URL-encoded UTF-8 naming the key as listed and where, registering nothing', async () => {
    const { plans } = serveListing([`${PREFIX}good.txt`, `${PREFIX}bad`], { encode: (k) => (k.endsWith('bad') ? `${PREFIX}bad%FF%FE` : urlEncoded(k)) });
    const error = await failure(plan());
    expect(error).toBeInstanceOf(UndecodableKeyError);
    expect(error).toMatchObject({ name: 'UndecodableKey' });
    expect(error.message).toBe(`the listing of s3://${OUTPUTS}/${PREFIX} has a key that is not URL-encoded UTF-8: "${PREFIX}bad%FF%FE" (as listed)`);
    expect(await index.listFiles(UUID)).toEqual([]);
    expect(plans).toEqual([]);
  });

  it.each([
    ['a truncated escape', 'a%2'],
    ['a lone continuation byte', 'a%80b'],
    ['an overlong encoding', '%C0%AF'],
  ])('refuses %s with UndecodableKey', (_name, encoded) => {
    expect(() => decodeListedKey(encoded, 's3://b/p/')).toThrow(UndecodableKeyError);
  });

  it('keeps `..` and `.` segments literal: the archive key stays under the run, parses back, and goes on the wire unnormalised', async () => {
    const key = `${PREFIX}../../${RUN_ID}-other/./x.bam`;
    const classified = classifyOutputs({
      runUuid: UUID,
      runOutputUri: `s3://${OUTPUTS}/${PREFIX}`,
      objects: [{ key, size: 1 }],
      tier: archiveTier,
      groupLimits: { maxFiles: 10, maxBytes: 100 },
      now: new Date(),
    });
    const filePath = classified.toRegister[0].path;
    expect(filePath).toBe(`../../${RUN_ID}-other/./x.bam`);
    const archiveKey = archiveObjectKey(UUID, filePath);
    expect(archiveKey.startsWith(`runs/${UUID}/`)).toBe(true);
    expect(parseArchiveObjectKey(archiveKey)).toEqual({ runUuid: UUID, path: filePath });

    // The SDK sends the key's dots as they are (no RFC 3986 dot-segment removal), so S3 stores exactly this key.
    const sent: string[] = [];
    const wire = new S3Client({
      region: 'us-east-1',
      endpoint: 'http://127.0.0.1:9',
      forcePathStyle: true,
      credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
      requestHandler: {
        handle: (request: { path: string }) => {
          sent.push(request.path);
          return Promise.resolve({ response: { statusCode: 200, headers: {}, body: undefined } });
        },
      } as never,
    });
    await wire.send(new PutObjectCommand({ Bucket: 'archive', Key: archiveKey, Body: 'x' }));
    expect(sent).toEqual([`/archive/runs/${UUID}/../../${RUN_ID}-other/./x.bam`]);
  });

  it('restores a `..` path under the destination prefix, joined literally', async () => {
    const filePath = '../../../etc/passwd';
    putArchivedRun([filePath]);
    s3Mock.on(HeadObjectCommand).rejects(new NotFound({ message: 'Not Found', $metadata: { httpStatusCode: 404 } }));
    const { plans } = serveListing([]);
    await planRestore({ ...restoreArgs(), request: { run: UUID, destination: 's3://restores/back/' } });
    expect(JSON.parse(plans[0])).toEqual([expect.objectContaining({ destinationBucket: 'restores', destinationKey: `back/${filePath}` })]);
  });

  it('bounds a file sort key that would pass DynamoDB’s 1,024 bytes, on a character boundary, keeping files apart', () => {
    const shortPath = 'out/a.bam';
    expect(fileSortKey(shortPath)).toBe(`FILE#${shortPath}`);
    const exact = 'x'.repeat(MAX_SORT_KEY_BYTES - 5);
    expect(fileSortKey(exact)).toBe(`FILE#${exact}`);
    const long = `${'é'.repeat(600)}/a.bam`; // 1,206 bytes
    const other = `${'é'.repeat(600)}/b.bam`;
    for (const p of [long, other, `${exact}y`]) {
      const sk = fileSortKey(p);
      expect(Buffer.byteLength(sk)).toBeLessThanOrEqual(MAX_SORT_KEY_BYTES);
      expect(sk).not.toContain('\ufffd');
      expect(sk).toMatch(/^FILE#.*#~[0-9a-f]{64}$/s);
    }
    expect(fileSortKey(long)).not.toBe(fileSortKey(other));
    expect(fileSortKey(long)).toBe(fileSortKey(long));
    expect(utf8Prefix('aé', 2)).toBe('a');
  });

  it('registers and finds a file whose FILE#<path> passes 1,024 bytes (the fake table refuses longer keys, as DynamoDB does)', async () => {
    const longPath = `${'d'.repeat(200)}/${'f'.repeat(900)}.bam`;
    serveListing([`${PREFIX}${longPath}`, `${PREFIX}short.bam`]);
    const summary = await plan();
    expect(summary.counts).toMatchObject({ files: 2, archive: 2 });
    const record = await index.getFile(UUID, longPath);
    expect(record).toMatchObject({ path: longPath, sourceKey: `${PREFIX}${longPath}`, state: 'PENDING' });
    expect(Buffer.byteLength(record!.sk)).toBeLessThanOrEqual(MAX_SORT_KEY_BYTES);
    expect((await index.listFiles(UUID)).map((f) => f.path).sort()).toEqual([longPath, 'short.bam'].sort());
    await index.updateFile(UUID, longPath, ['PENDING'], { state: 'FAILED', failureReason: 'test' });
    expect(await index.getFile(UUID, longPath)).toMatchObject({ state: 'FAILED' });
  });

  it('fails a file whose archive key would pass S3’s 1,024 bytes as KeyTooLong before copying, keeping its source', async () => {
    // A 1,024-byte source key: its path is 1,012 bytes, and runs/<uuid>/ adds 42.
    const longPath = `${'p'.repeat(1008)}.bam`;
    await index.putFiles([
      { runUuid: UUID, path: longPath, sourceBucket: OUTPUTS, sourceKey: `${PREFIX}${longPath}`, size: 10, etag: '"e"', action: 'archive', state: 'PENDING' },
    ]);
    expect(Buffer.byteLength(`${PREFIX}${longPath}`)).toBe(1024);
    const result = await archiveItem({
      s3,
      glacier: new GlacierClient({ region: 'us-east-1' }),
      index,
      archiveBucket: 'archive',
      runUuid: UUID,
      item: { files: [{ path: longPath, bucket: OUTPUTS, key: `${PREFIX}${longPath}`, size: 10 }], bytes: 10 },
      tier: { ...archiveTier, deleteSources: true },
      deadline: Date.now() + 600_000,
    });
    expect(result).toEqual({ status: 'complete', archived: 0, failed: 1 });
    const record = await index.getFile(UUID, longPath);
    expect(record?.state).toBe('FAILED');
    expect(record?.failureReason).toMatch(
      /^KeyTooLong: its archive key in archive \(runs\/96c57683-[^)]+ and the path\) would be 1054 bytes, and S3 keys are at most 1024/,
    );
    expect(record?.failureReason).toContain('the source is kept where it is');
    expect(s3Mock.commandCalls(CopyObjectCommand)).toHaveLength(0);
    expect(s3Mock.commandCalls(CreateMultipartUploadCommand)).toHaveLength(0);
    expect(s3Mock.commandCalls(DeleteObjectCommand)).toHaveLength(0);
  });

  it('refuses a restore whose destination keys would pass 1,024 bytes as BadDestination, before any retrieval', async () => {
    const longPath = `${'q'.repeat(1000)}.bam`;
    putArchivedRun([longPath]);
    s3Mock.on(HeadObjectCommand).rejects(new NotFound({ message: 'Not Found', $metadata: { httpStatusCode: 404 } }));
    const { plans } = serveListing([]);
    const destination = `s3://restores/${'r'.repeat(40)}/`;
    const error = await failure(planRestore({ ...restoreArgs(), request: { run: UUID, destination } }));
    expect(error).toBeInstanceOf(RestoreRequestError);
    expect(error).toMatchObject({ name: 'BadDestination' });
    expect(error.message).toContain(`1 file(s) would get keys over S3's 1024 bytes under ${destination}`);
    expect(error.message).toContain('(1045 bytes); choose a shorter destination prefix');
    expect(plans).toEqual([]);
  });
});

const restoreConfig = parseConfig({ outputBuckets: [OUTPUTS], restoreBuckets: ['restores'], tiers: [{ name: 'cold' }] });
const restoreArgs = () => ({
  index,
  s3,
  config: restoreConfig,
  restoreId: 'restore-1',
  executionArn: 'arn:aws:states:us-east-1:123456789012:execution:RestoreRun:restore-1',
  vaultName: 'archive-vault',
  itemsBucket: 'snapshots',
});

function putArchivedRun(paths: string[]): void {
  table.put({
    ...runKey(UUID),
    schemaVersion: SCHEMA_VERSION,
    runUuid: UUID,
    runId: RUN_ID,
    status: 'COMPLETED',
    tier: 'cold',
    deleteRun: true,
    archiveState: 'ARCHIVED',
    stopTime: '2025-05-30T12:05:00.000Z',
    updatedAt: '2025-05-31T00:00:00.000Z',
  });
  for (const filePath of paths) {
    table.put({
      ...fileKey(UUID, filePath),
      schemaVersion: SCHEMA_VERSION,
      runUuid: UUID,
      path: filePath,
      sourceBucket: OUTPUTS,
      sourceKey: `${PREFIX}${filePath}`,
      size: 10,
      action: 'archive',
      state: 'ARCHIVED',
      target: 'glacier-vault',
      vaultName: 'archive-vault',
      archiveId: 'archive-1',
      treeHash: 'aa'.repeat(32),
      sha256: 'bb'.repeat(32),
      sourceDeleted: true,
      updatedAt: '2025-05-31T00:00:00.000Z',
    } satisfies Partial<FileRecord> & Record<string, unknown>);
  }
}

describe('oversized messages', () => {
  const sqsRecord = sqsRecordsFrom('queue');
  const oversized = 'x'.repeat(300 * 1024); // over SQS's old 256 KiB and SNS's default 256 KiB

  it.each([
    ['trigger-archive', triggerArchiveHandler, 'MalformedRunEvents', 'Malformed run event dropped'],
    ['delete-run', deleteRunHandler, 'MalformedDeletionMessages', 'Malformed run-archived message dropped'],
  ])('%s drops a 300 KiB garbage body, logging its id and counting it, and handles the rest of the batch', async (_name, handler, metric, log) => {
    const result = await handler(sqsBatch(sqsRecord('huge', oversized), sqsRecord('also-bad', '{"runUuid": 7}')));
    expect(result).toEqual({ batchItemFailures: [] });
    expect(powertools.logs.error).toHaveBeenCalledWith(log, expect.objectContaining({ messageId: 'huge', reason: expect.any(String) as string }));
    expect(powertools.logs.error).toHaveBeenCalledWith(log, expect.objectContaining({ messageId: 'also-bad' }));
    expect(powertools.addMetric).toHaveBeenCalledWith(metric, 'Count', 1);
    // The reason stays short even though the body was not; the body itself is logged once as the record of it.
    const reason = (powertools.logs.error.mock.calls[0][1] as { reason: string }).reason;
    expect(reason.length).toBeLessThan(1000);
  });

  it('keeps the listed failures of the published outcome within 32 KiB however long and escaped the paths, counting them all', async () => {
    table.put({ ...runKey(UUID), schemaVersion: SCHEMA_VERSION, runUuid: UUID, runId: RUN_ID, tier: 'cold', deleteRun: true, archiveState: 'ARCHIVING' });
    // 60 files of 1,000 control characters (6 bytes each once JSON-escaped) with 1,000-character reasons.
    for (let i = 0; i < 60; i++) {
      const filePath = `${String(i).padStart(2, '0')}${'\u0001'.repeat(998)}`;
      table.put({
        ...fileKey(UUID, filePath),
        runUuid: UUID,
        path: filePath,
        size: 1,
        action: 'archive',
        state: 'FAILED',
        failureReason: `NoSuchKey: ${'\u0002'.repeat(989)}`,
      });
    }
    const outcome = await finalizeArchive(index, UUID);
    expect(outcome).toMatchObject({ archiveState: 'FAILED', counts: { archive: 60, failed: 60 } });
    expect(Buffer.byteLength(JSON.stringify(outcome.failedFiles))).toBeLessThanOrEqual(MAX_FAILED_LISTED_BYTES);
    expect(outcome.failedFiles!.length).toBeGreaterThan(0);
    expect(Buffer.byteLength(JSON.stringify(outcome))).toBeLessThan(256 * 1024);
    expect(listedFailures([{ path: 'a', reason: 'b' }])).toEqual([{ path: 'a', reason: 'b' }]);
    // Every file keeps its own record and reason in the index.
    expect((await index.listFiles(UUID)).filter((f) => f.failureReason?.startsWith('NoSuchKey'))).toHaveLength(60);
  });
});

describe('a bad local fixture', () => {
  it('names outputsFolder when the folder does not exist, before the emulator registers the run', async () => {
    const addRun = jest.fn();
    const folder = path.join(os.tmpdir(), `no-such-folder-${process.pid}`);
    const error = await failure(
      loadRunFixture({ name: 'r', workflowId: '1', outputUri: 's3://bucket/prefix/', outputsFolder: folder }, {
        emulator: { addRun },
      } as unknown as LoadRunFixtureClients),
    );
    expect(error).toBeInstanceOf(FixtureError);
    expect(error.message).toBe(`Invalid run fixture: outputsFolder: ${folder}: no such folder`);
    expect(addRun).not.toHaveBeenCalled();
  });

  it('names outputsFolder when it is a file, not a folder', async () => {
    const addRun = jest.fn();
    const error = await failure(
      loadRunFixture({ name: 'r', workflowId: '1', outputUri: 's3://bucket/prefix/', outputsFolder: __filename }, {
        emulator: { addRun },
      } as unknown as LoadRunFixtureClients),
    );
    expect(error).toBeInstanceOf(FixtureError);
    expect(error.message).toBe(`Invalid run fixture: outputsFolder: ${__filename}: not a folder`);
    expect(addRun).not.toHaveBeenCalled();
  });
});
