// Unit tests for archive planning: S3 URIs, work-item grouping, and planArchive over a mocked, paginated listing.
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
  type ListObjectsV2CommandInput,
  type _Object,
} from '@aws-sdk/client-s3';
import { BatchWriteCommand, DynamoDBDocumentClient, QueryCommand, type BatchWriteCommandInput, type QueryCommandInput } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { BundleManifestSchema, TierSchema, bundleIdOf, bundleManifestKey, type PlanItem } from '../../../../functions/lib/contract';
import { TAR_BLOCK } from '../../../../functions/lib/bundle/tar';
import { FakeRunIndexTable } from '../../../support/run-index-table';
import { groupWorkItems, planArchive, spreadLimits, type PlannedFile, type WorkItem } from '../../../../functions/lib/archive/plan-archive';
import { RunIndex, type FileRecord } from '../../../../functions/lib/index/run-index';

const MIB = 1024 * 1024;
const NOW = new Date('2025-06-01T12:00:00.000Z');
const OLD = new Date('2025-01-01T00:00:00.000Z');
const UUID = '96c57683-74bf-9d6d-ae7e-f09b097db14a';
const TABLE = 'run-index';

const s3 = new S3Client({ region: 'us-east-1' });
const s3Mock = mockClient(S3Client);
const ddbMock = mockClient(DynamoDBDocumentClient);
const index = new RunIndex(DynamoDBDocumentClient.from(new DynamoDBClient({ region: 'us-east-1' })), TABLE);

/** Objects written through the mocked S3 (PutObject or multipart), by key. Fakes are async: lib-storage chains `.then` on send. */
let written: Map<string, Buffer>;

function captureWrites() {
  written = new Map();
  const uploads = new Map<string, { key: string; parts: Map<number, Buffer> }>();
  let nextUpload = 0;
  const bytesOf = (body: unknown) => Buffer.from(typeof body === 'string' ? body : (body as Uint8Array));
  s3Mock.on(PutObjectCommand).callsFake((input: { Key: string; Body?: unknown }) => {
    written.set(input.Key, bytesOf(input.Body));
    return Promise.resolve({ ETag: '"put"' });
  });
  s3Mock.on(CreateMultipartUploadCommand).callsFake((input: { Bucket: string; Key: string }) => {
    const uploadId = `upload-${nextUpload++}`;
    uploads.set(uploadId, { key: input.Key, parts: new Map() });
    return Promise.resolve({ UploadId: uploadId, Bucket: input.Bucket, Key: input.Key });
  });
  s3Mock.on(UploadPartCommand).callsFake((input: { UploadId: string; PartNumber: number; Body?: unknown }) => {
    uploads.get(input.UploadId)!.parts.set(input.PartNumber, bytesOf(input.Body));
    return Promise.resolve({ ETag: `"part-${input.PartNumber}"` });
  });
  s3Mock.on(CompleteMultipartUploadCommand).callsFake((input: { Bucket: string; Key: string; UploadId: string }) => {
    const upload = uploads.get(input.UploadId)!;
    const numbers = [...upload.parts.keys()].sort((a, b) => a - b);
    written.set(upload.key, Buffer.concat(numbers.map((n) => upload.parts.get(n)!)));
    return Promise.resolve({ Bucket: input.Bucket, Key: input.Key, ETag: '"complete"' });
  });
}

/** Continuation tokens as each ListObjectsV2 call sent them (the paginator reuses one input object, so history cannot tell). */
let tokensSent: (string | undefined)[];

/** A listing served page by page, each page made only when asked for (so 100 pages never sit in memory at once). */
function serveListing(pageCount: number, page: (i: number) => _Object[], onPage?: () => void) {
  tokensSent = [];
  s3Mock.on(ListObjectsV2Command).callsFake((input: ListObjectsV2CommandInput) => {
    onPage?.();
    tokensSent.push(input.ContinuationToken);
    const i = input.ContinuationToken ? Number(input.ContinuationToken.replace('token-', '')) : 0;
    const contents = page(i);
    const more = i + 1 < pageCount;
    return { Contents: contents, KeyCount: contents.length, IsTruncated: more, ...(more ? { NextContinuationToken: `token-${i + 1}` } : {}) };
  });
}

function existingFiles(records: Partial<FileRecord>[]) {
  // The run's files answer the FILE# query; its bundles (none here) the BUNDLE# one.
  ddbMock.on(QueryCommand).callsFake((input: QueryCommandInput) => ({
    Items: input.ExpressionAttributeValues?.[':file'] ? records.map((r) => ({ pk: `RUN#${UUID}`, sk: `FILE#${r.path}`, runUuid: UUID, ...r })) : [],
  }));
}

/** Every item the BatchWrites put, in call order (retries included). */
function batchWrites(): { calls: BatchWriteCommandInput[]; items: Record<string, unknown>[] } {
  const calls = ddbMock.commandCalls(BatchWriteCommand).map((c) => c.args[0].input);
  const items = calls.flatMap((input) => (input.RequestItems?.[TABLE] ?? []).map((r) => r.PutRequest!.Item!));
  return { calls, items };
}

const planned = (path: string, size: number): PlannedFile => ({ path, bucket: 'b', key: `out/${path}`, size });
const paths = (items: WorkItem[]) => items.map((item) => item.files.map((f) => f.path));

beforeEach(() => {
  s3Mock.reset();
  ddbMock.reset();
  captureWrites();
  ddbMock.on(BatchWriteCommand).resolves({});
  existingFiles([]);
});

describe('groupWorkItems', () => {
  it('groups by file count', () => {
    const files = Array.from({ length: 7 }, (_, i) => planned(`f${i}`, 1));
    expect(paths(groupWorkItems(files, { maxFiles: 3, maxBytes: 1000 }))).toEqual([['f0', 'f1', 'f2'], ['f3', 'f4', 'f5'], ['f6']]);
  });

  it('groups by bytes, a group never going over the limit', () => {
    const files = [planned('a', 40), planned('b', 40), planned('c', 20), planned('d', 1), planned('e', 99)];
    const items = groupWorkItems(files, { maxFiles: 100, maxBytes: 100 });
    expect(paths(items)).toEqual([
      ['a', 'b', 'c'],
      ['d', 'e'],
    ]);
    expect(items.map((i) => i.bytes)).toEqual([100, 100]);
  });

  it('sends a file at or over the byte limit alone, keeping the order of the files', () => {
    const files = [planned('a', 10), planned('at', 100), planned('b', 10), planned('c', 10), planned('over', 5000), planned('d', 10)];
    const items = groupWorkItems(files, { maxFiles: 10, maxBytes: 100 });
    expect(paths(items)).toEqual([['a'], ['at'], ['b', 'c'], ['over'], ['d']]);
    expect(items.flatMap((i) => i.files.map((f) => f.path))).toEqual(files.map((f) => f.path));
    expect(items.map((i) => i.bytes)).toEqual([10, 100, 20, 5000, 10]);
  });

  it('is deterministic and accepts any iterable', () => {
    const files = Array.from({ length: 500 }, (_, i) => planned(`f${i}`, (i * 7919) % 300));
    const first = groupWorkItems(files, { maxFiles: 17, maxBytes: 1000 });
    const second = groupWorkItems(new Set(files), { maxFiles: 17, maxBytes: 1000 });
    expect(second).toEqual(first);
    expect(first.flatMap((i) => i.files)).toEqual(files);
    for (const item of first) {
      expect(item.files.length).toBeLessThanOrEqual(17);
      expect(item.files.length === 1 || item.bytes <= 1000).toBe(true);
      expect(item.bytes).toBe(item.files.reduce((s, f) => s + f.size, 0));
    }
  });

  it('keeps zero-byte files and gives no items for no files', () => {
    expect(paths(groupWorkItems([planned('empty', 0), planned('also', 0)], { maxFiles: 5, maxBytes: 10 }))).toEqual([['empty', 'also']]);
    expect(groupWorkItems([], { maxFiles: 5, maxBytes: 10 })).toEqual([]);
  });
});

describe('planArchive', () => {
  const tier = TierSchema.parse({
    name: 'standard',
    files: [
      { globs: ['**/*.log'], action: 'skip' },
      { globs: ['**/*.bam', '**/*.vcf.gz'], action: 'archive' },
    ],
    defaultAction: 'keep',
  });
  const object = (key: string, size: number, lastModified = OLD): _Object => ({
    Key: `out/123/${key}`,
    Size: size,
    ETag: `"etag-${key}"`,
    LastModified: lastModified,
  });
  const args = {
    s3,
    index,
    runUuid: UUID,
    runOutputUri: 's3://bucket/out/123',
    excludeUris: ['s3://bucket/out/123/cache', 's3://other-bucket/out/123/reads'],
    tier,
    groupLimits: { maxFiles: 2, maxBytes: '100 MiB' },
    planBucket: 'snapshots',
    planKey: `plans/${UUID}/exec/items.json`,
    now: NOW,
  };

  it('lists every page, applies the rules, registers new files and writes the plan', async () => {
    const pages: _Object[][] = [
      [object('', 0), object('reads/a.bam', 5 * MIB), object('reads/a.bam.bai', 1000), object('cache/x.bam', 7), object('logs/task.log', 300)],
      [object('sub/', 0), object('vcf/s 1.vcf.gz', 2 * MIB), object('done.bam', 11), object('partial.bam', 13), object('kept.txt', 17)],
      [object('cachefile.bam', 19), object('big.bam', 300 * MIB), object('ünï/côdé.vcf.gz', 23)],
    ];
    serveListing(pages.length, (i) => pages[i]);
    existingFiles([
      { path: 'done.bam', state: 'ARCHIVED', action: 'archive', size: 11, archiveId: 'arch-1' },
      { path: 'partial.bam', state: 'UPLOADING', action: 'archive', size: 13, uploadId: 'up-1', partsDone: 1 },
      { path: 'kept.txt', state: 'KEPT', action: 'keep', size: 17 },
    ]);

    const summary = await planArchive(args);

    const listed = s3Mock.commandCalls(ListObjectsV2Command).map((c) => c.args[0].input);
    expect(listed).toHaveLength(3);
    expect(listed[0]).toMatchObject({ Bucket: 'bucket', Prefix: 'out/123/' });
    expect(tokensSent).toEqual([undefined, 'token-1', 'token-2']);
    expect(ddbMock).toHaveReceivedCommandWith(QueryCommand, {
      TableName: TABLE,
      ExpressionAttributeValues: { ':pk': `RUN#${UUID}`, ':file': 'FILE#' },
    });

    // Folder markers and the excluded cache are not files of the run; the other bucket's exclusion does not apply here.
    expect(summary.counts).toEqual({ files: 10, archive: 7, keep: 2, skip: 1, archived: 1, failed: 0 });
    const archiveBytes = 5 * MIB + 2 * MIB + 11 + 13 + 19 + 300 * MIB + 23;
    expect(summary.bytes).toEqual({ total: archiveBytes + 1000 + 300 + 17, archive: archiveBytes });

    const plan = JSON.parse(written.get(args.planKey)!.toString('utf8')) as WorkItem[];
    expect(summary).toMatchObject({ bucket: 'snapshots', key: args.planKey, itemCount: plan.length });
    // ARCHIVED files are not planned again; the interrupted upload is.
    expect(paths(plan)).toEqual([['reads/a.bam', 'vcf/s 1.vcf.gz'], ['partial.bam', 'cachefile.bam'], ['big.bam'], ['ünï/côdé.vcf.gz']]);
    expect(plan[0].files[0]).toEqual({ path: 'reads/a.bam', bucket: 'bucket', key: 'out/123/reads/a.bam', size: 5 * MIB, etag: '"etag-reads/a.bam"' });
    expect(plan.map((i) => i.bytes)).toEqual([7 * MIB, 32, 300 * MIB, 23]);
    expect(s3Mock).toHaveReceivedCommandWith(PutObjectCommand, { Bucket: 'snapshots', Key: args.planKey, ContentType: 'application/json' });

    // Only files the index does not know yet are registered: archive files PENDING, keep files KEPT, skipped ones never.
    const { items } = batchWrites();
    const bySk = new Map(items.map((item) => [item.sk as string, item]));
    expect([...bySk.keys()].sort()).toEqual(
      ['reads/a.bam', 'reads/a.bam.bai', 'vcf/s 1.vcf.gz', 'cachefile.bam', 'big.bam', 'ünï/côdé.vcf.gz'].map((p) => `FILE#${p}`).sort(),
    );
    expect(bySk.get('FILE#reads/a.bam')).toEqual({
      pk: `RUN#${UUID}`,
      sk: 'FILE#reads/a.bam',
      schemaVersion: 1,
      runUuid: UUID,
      path: 'reads/a.bam',
      sourceBucket: 'bucket',
      sourceKey: 'out/123/reads/a.bam',
      size: 5 * MIB,
      etag: '"etag-reads/a.bam"',
      lastModified: OLD.toISOString(),
      action: 'archive',
      state: 'PENDING',
      target: 's3-glacier',
      updatedAt: expect.any(String) as string,
    });
    expect(bySk.get('FILE#reads/a.bam.bai')).toMatchObject({ action: 'keep', state: 'KEPT' });
    expect(bySk.get('FILE#reads/a.bam.bai')).not.toHaveProperty('target');
  });

  it('registers in batches of 25 and retries what DynamoDB leaves unprocessed', async () => {
    const objects = Array.from({ length: 60 }, (_, i) => object(`reads/${String(i).padStart(2, '0')}.bam`, 100 + i));
    serveListing(2, (i) => objects.slice(i * 30, i * 30 + 30));
    let first = true;
    ddbMock.on(BatchWriteCommand).callsFake((input: BatchWriteCommandInput) => {
      if (!first) return {};
      first = false;
      // DynamoDB throttled two of the first batch's writes.
      return { UnprocessedItems: { [TABLE]: input.RequestItems![TABLE].slice(0, 2) } };
    });

    const summary = await planArchive({ ...args, groupLimits: { maxFiles: 100, maxBytes: 256 * MIB } });

    const { calls, items } = batchWrites();
    expect(calls.map((c) => c.RequestItems![TABLE].length).sort((a, b) => a - b)).toEqual([2, 10, 25, 25]);
    expect(items).toHaveLength(62);
    expect(new Set(items.map((i) => i.sk)).size).toBe(60);
    expect(items.every((i) => i.state === 'PENDING')).toBe(true);
    expect(summary.itemCount).toBe(1);
    expect(summary.counts).toMatchObject({ files: 60, archive: 60 });
  });

  it('registers nothing again and plans nothing when every archive file is already ARCHIVED', async () => {
    serveListing(1, () => [object('a.bam', 10), object('b.txt', 20)]);
    existingFiles([
      { path: 'a.bam', state: 'ARCHIVED', action: 'archive', size: 10 },
      { path: 'b.txt', state: 'KEPT', action: 'keep', size: 20 },
    ]);
    const summary = await planArchive(args);
    expect(ddbMock).not.toHaveReceivedCommand(BatchWriteCommand);
    expect(JSON.parse(written.get(args.planKey)!.toString())).toEqual([]);
    expect(summary).toMatchObject({ itemCount: 0, counts: { files: 2, archive: 1, keep: 1, archived: 1 }, bytes: { total: 30, archive: 10 } });
  });

  it('plans an empty output folder as an empty array', async () => {
    serveListing(1, () => []);
    const summary = await planArchive({ ...args, runOutputUri: 's3://bucket/out/123/' });
    expect(written.get(args.planKey)!.toString()).toBe('[]');
    expect(summary.counts).toEqual({ files: 0, archive: 0, keep: 0, skip: 0, archived: 0, failed: 0 });
  });

  it('records the s3-glacier target on archive files', async () => {
    serveListing(1, () => [object('a.bam', 10)]);
    await planArchive({ ...args, tier: TierSchema.parse({ name: 't', defaultAction: 'archive', target: { type: 's3-glacier' } }) });
    expect(batchWrites().items[0]).toMatchObject({ path: 'a.bam', state: 'PENDING', target: 's3-glacier' });
  });

  it('applies minimum age against `now`, using the object time S3 reports', async () => {
    const aged = TierSchema.parse({ name: 't', files: [{ globs: ['**'], minAge: 'P30D', action: 'archive' }], defaultAction: 'keep' });
    serveListing(1, () => [object('old.bam', 1, OLD), object('new.bam', 1, new Date(NOW.getTime() - 86400_000))]);
    const summary = await planArchive({ ...args, tier: aged });
    expect(summary.counts).toMatchObject({ archive: 1, keep: 1 });
    expect(paths(JSON.parse(written.get(args.planKey)!.toString()) as WorkItem[])).toEqual([['old.bam']]);
  });
});

describe('planArchive with bundling', () => {
  const tier = TierSchema.parse({
    name: 'bundled',
    files: [{ globs: ['**'], action: 'archive' }],
    target: { type: 's3-glacier' },
    bundleFilesBelow: '1 KiB',
    bundleMaxBytes: '8 KiB',
  });
  const object = (key: string, size: number): _Object => ({ Key: `out/123/${key}`, Size: size, ETag: `"etag-${key}"`, LastModified: OLD });
  const args = {
    s3,
    index,
    runUuid: UUID,
    runOutputUri: 's3://bucket/out/123/',
    tier,
    groupLimits: { maxFiles: 100, maxBytes: '100 MiB' },
    planBucket: 'snapshots',
    planKey: `plans/${UUID}/exec/items.json`,
    now: NOW,
  };

  it('writes each bundle’s manifest, registers the bundle and its files, and lists the bundles first in the plan', async () => {
    const table = new FakeRunIndexTable(TABLE).attach(ddbMock);
    const small = Array.from({ length: 10 }, (_, i) => object(`qc/m${i}.json`, 300 + i));
    serveListing(1, () => [object('reads/a.bam', 5 * MIB), ...small]);

    const summary = await planArchive(args);

    // 300-odd bytes take 1,024 of tar each: seven fit 8 KiB with the end blocks, the other three make a second bundle.
    const ids = [bundleIdOf(UUID, 1), bundleIdOf(UUID, 2)];
    const manifests = ids.map((id) => BundleManifestSchema.parse(JSON.parse(written.get(bundleManifestKey(UUID, id))!.toString('utf8'))));
    expect(manifests.map((m) => m.members.length)).toEqual([7, 3]);
    expect(manifests[0].members[0]).toEqual({
      path: 'qc/m0.json',
      bucket: 'bucket',
      key: 'out/123/qc/m0.json',
      size: 300,
      etag: '"etag-qc/m0.json"',
      mtime: OLD.getTime() / 1000,
      offset: TAR_BLOCK,
    });
    const plan = JSON.parse(written.get(args.planKey)!.toString('utf8')) as PlanItem[];
    expect(plan).toEqual([
      {
        bundle: { id: ids[0], members: 7, size: manifests[0].size, manifest: { bucket: 'snapshots', key: bundleManifestKey(UUID, ids[0]) } },
        bytes: manifests[0].members.reduce((sum, m) => sum + m.size, 0),
      },
      {
        bundle: { id: ids[1], members: 3, size: manifests[1].size, manifest: { bucket: 'snapshots', key: bundleManifestKey(UUID, ids[1]) } },
        bytes: 307 + 308 + 309,
      },
      { files: [{ path: 'reads/a.bam', bucket: 'bucket', key: 'out/123/reads/a.bam', size: 5 * MIB, etag: '"etag-reads/a.bam"' }], bytes: 5 * MIB },
    ]);
    expect(summary).toMatchObject({ itemCount: 3, bundles: { items: 2, files: 10 } });
    expect(table.get(`RUN#${UUID}`, `BUNDLE#${ids[0]}`)).toMatchObject({
      state: 'PENDING',
      target: 's3-glacier',
      members: 7,
      size: manifests[0].size,
      manifestBucket: 'snapshots',
      manifestKey: bundleManifestKey(UUID, ids[0]),
    });
    expect(table.get(`RUN#${UUID}`, 'FILE#qc/m9.json')).toMatchObject({ state: 'PENDING', bundleId: ids[1] });
    expect(table.get(`RUN#${UUID}`, 'FILE#reads/a.bam')).not.toHaveProperty('bundleId');

    // A retried plan step makes the same bundles again, and changes nothing it already wrote.
    const withoutStamps = () => [...table.items.entries()].map(([key, item]) => [key, { ...item, updatedAt: undefined }]);
    const before = withoutStamps();
    await planArchive(args);
    expect(JSON.parse(written.get(args.planKey)!.toString('utf8'))).toEqual(plan);
    expect(withoutStamps()).toEqual(before);
  });
});

describe('planArchive at scale', () => {
  const PAGES = 100;
  const PER_PAGE = 1000;
  const LIMIT_MB = 400;

  /** Deterministic synthetic outputs: 10% logs (skip), 60% BAMs (archive, a few huge), 30% other files (keep). */
  function synthetic(page: number, i: number): { key: string; size: number; kind: 'skip' | 'archive' | 'keep' } {
    const n = page * PER_PAGE + i;
    const r = n % 10;
    if (r === 0) return { key: `out/run/sample-${page}/logs/task-${i}.log`, size: 1000 + (n % 97), kind: 'skip' };
    if (r <= 6) return { key: `out/run/sample-${page}/bam/reads-${i}.bam`, size: n % 1000 === 1 ? 300 * MIB : 512 * 1024 + (n % 4096), kind: 'archive' };
    return { key: `out/run/sample-${page}/qc/metrics-${i}.txt`, size: 2000 + (n % 113), kind: 'keep' };
  }

  it('plans 100,000 objects within one Lambda’s memory and time', async () => {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    let peak = 0;
    const sample = () => {
      peak = Math.max(peak, process.memoryUsage().heapUsed);
    };
    // Sampled while listing and while registering; the written plan stays referenced, so the last sample counts it.
    ddbMock.on(BatchWriteCommand).callsFake(() => {
      sample();
      return {};
    });
    serveListing(
      PAGES,
      (page) =>
        Array.from({ length: PER_PAGE }, (_, i) => {
          const f = synthetic(page, i);
          return { Key: f.key, Size: f.size, ETag: `"${page}-${i}"`, LastModified: OLD, StorageClass: 'STANDARD' };
        }),
      sample,
    );
    const tier = TierSchema.parse({
      name: 'scale',
      files: [
        { globs: ['**/*.log'], action: 'skip' },
        { globs: ['**/*.bam'], minAge: 'P7D', action: 'archive' },
      ],
    });

    gc();
    const baseline = process.memoryUsage().heapUsed;
    peak = baseline;
    const started = performance.now();
    const summary = await planArchive({
      ...{ s3, index, runUuid: UUID, planBucket: 'snapshots', planKey: 'plans/scale/items.json', now: NOW },
      runOutputUri: 's3://bucket/out/run/',
      tier,
      groupLimits: { maxFiles: 100, maxBytes: '256 MiB' },
    });
    const seconds = (performance.now() - started) / 1000;
    sample();
    const growthMB = (peak - baseline) / MIB;

    // Counted from the generator, not from the code under test.
    const expected = { files: 0, archive: 0, keep: 0, skip: 0, archived: 0, failed: 0 };
    const bytes = { total: 0, archive: 0 };
    const archiveKeys: string[] = [];
    for (let page = 0; page < PAGES; page++) {
      for (let i = 0; i < PER_PAGE; i++) {
        const f = synthetic(page, i);
        expected.files++;
        expected[f.kind]++;
        bytes.total += f.size;
        if (f.kind === 'archive') {
          bytes.archive += f.size;
          archiveKeys.push(f.key);
        }
      }
    }
    expect(summary.counts).toEqual(expected);
    expect(summary.bytes).toEqual(bytes);

    const plan = JSON.parse(written.get('plans/scale/items.json')!.toString('utf8')) as WorkItem[];
    expect(summary.itemCount).toBe(plan.length);
    expect(plan.flatMap((item) => item.files.map((f) => f.key))).toEqual(archiveKeys);
    for (const item of plan) {
      expect(item.files.length === 1 || (item.files.length <= 100 && item.bytes <= 256 * MIB)).toBe(true);
    }
    // A plan this size (about 8 MB of JSON) goes up as a multipart upload.
    expect(s3Mock).toHaveReceivedCommand(CompleteMultipartUploadCommand);
    const registered = batchWrites();
    expect(registered.items).toHaveLength(expected.archive + expected.keep);
    expect(registered.calls.every((c) => c.RequestItems![TABLE].length <= 25)).toBe(true);

    // A 1,769 MB Lambda has room to spare; the bound includes what the mocks themselves record.
    expect(seconds).toBeLessThan(30);
    expect(growthMB).toBeLessThan(LIMIT_MB);
    process.stdout.write(`planArchive 100,000 objects: ${seconds.toFixed(1)} s, heap growth ${growthMB.toFixed(0)} MB, ${plan.length} items\n`);
  }, 60_000);
});

describe('spreadLimits', () => {
  const file = (i: number, size = 1000): PlannedFile => ({ path: `out/f${i}`, bucket: 'b', key: `k${i}`, size });

  it('makes at least as many items as the Map runs at once, when there are enough files', () => {
    const files = Array.from({ length: 200 }, (_, i) => file(i));
    const limits = spreadLimits({ maxFiles: 100, maxBytes: 256 * 1024 * 1024 }, files, 4);
    expect(limits.maxFiles).toBe(50);
    expect(groupWorkItems(files, limits)).toHaveLength(4);
  });

  it('spreads bytes too, so a few large files do not share one item', () => {
    const files = [file(1, 40), file(2, 40), file(3, 40), file(4, 40)];
    const items = groupWorkItems(files, spreadLimits({ maxFiles: 100, maxBytes: 1000 }, files, 4));
    expect(items.map((i) => i.files.length)).toEqual([1, 1, 1, 1]);
  });

  it('never loosens the configured limits, and leaves them alone for a concurrency of one', () => {
    const files = Array.from({ length: 10 }, (_, i) => file(i));
    expect(spreadLimits({ maxFiles: 2, maxBytes: 500 }, files, 3)).toEqual({ maxFiles: 2, maxBytes: 500 });
    expect(spreadLimits({ maxFiles: 100, maxBytes: 1e9 }, files, 1)).toEqual({ maxFiles: 100, maxBytes: 1e9 });
    expect(spreadLimits({ maxFiles: 100, maxBytes: 1e9 }, [], 8)).toEqual({ maxFiles: 100, maxBytes: 1e9 });
  });
});
