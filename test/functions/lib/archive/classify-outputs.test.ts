// Unit tests for the one output classification the plan step and `omics-archiver plan` share: no clients, no network.
import { TierSchema, bundleIdOf } from '../../../../functions/lib/contract';
import { classifyOutputs, type ClassifyOutputsInput, type ListedObject } from '../../../../functions/lib/archive/classify-outputs';
import { newerRunOf } from '../../../../functions/lib/archive/plan-archive';
import { TAR_BLOCK, TAR_END_BYTES, tarLayout } from '../../../../functions/lib/bundle/tar';
import type { BundleRecord, FileRecord } from '../../../../functions/lib/index/run-index';

const UUID = '96c57683-74bf-9d6d-ae7e-f09b097db14a';
const NEWER = '11111111-2222-4333-8444-555555555555';
const NOW = new Date('2025-06-01T12:00:00.000Z');
const OLD = new Date('2025-01-01T00:00:00.000Z');

const tier = TierSchema.parse({
  name: 'standard',
  files: [
    { globs: ['**/*.log'], action: 'skip' },
    { globs: ['**/*.bam'], action: 'archive' },
    { globs: ['**/*.vcf.gz'], minAge: 'P30D', action: 'archive' },
  ],
  defaultAction: 'keep',
  target: { type: 'glacier-vault' },
});

/** An object of the listing; `null`: S3 gave no time. */
const object = (path: string, size: number, lastModified: Date | null = OLD): ListedObject => ({
  key: `out/123/${path}`,
  size,
  etag: `"${path}"`,
  ...(lastModified ? { lastModified } : {}),
});

const record = (path: string, fields: Partial<FileRecord>): FileRecord => ({
  pk: `RUN#${UUID}`,
  sk: `FILE#${path}`,
  schemaVersion: 1,
  runUuid: UUID,
  path,
  sourceBucket: 'bucket',
  sourceKey: `out/123/${path}`,
  size: 1,
  action: 'archive',
  state: 'PENDING',
  updatedAt: OLD.toISOString(),
  ...fields,
});

const classify = (objects: ListedObject[], overrides: Partial<ClassifyOutputsInput> = {}) =>
  classifyOutputs({
    runUuid: UUID,
    runOutputUri: 's3://bucket/out/123/',
    objects,
    tier,
    groupLimits: { maxFiles: 100, maxBytes: 1000 },
    now: NOW,
    ...overrides,
  });

describe('classifyOutputs', () => {
  it("decides each file by the tier's rules, counts and sizes them, and registers archive and keep files", () => {
    const result = classify([object('', 0), object('a.bam', 100), object('qc/', 0), object('qc/m.txt', 10), object('task.log', 5)]);
    expect(result.decisions).toEqual([
      { path: 'a.bam', size: 100, lastModified: OLD, action: 'archive', rule: 1, source: 's3' },
      { path: 'qc/m.txt', size: 10, lastModified: OLD, action: 'keep', rule: -1, source: 's3' },
      { path: 'task.log', size: 5, lastModified: OLD, action: 'skip', rule: 0, source: 's3' },
    ]);
    expect(result.counts).toEqual({ files: 3, archive: 1, keep: 1, skip: 1, archived: 0, failed: 0 });
    expect(result.bytes).toEqual({ total: 115, archive: 100 });
    expect(result.toArchive).toEqual([{ path: 'a.bam', bucket: 'bucket', key: 'out/123/a.bam', size: 100, etag: '"a.bam"' }]);
    expect(result.toRegister).toEqual([
      {
        runUuid: UUID,
        path: 'a.bam',
        sourceBucket: 'bucket',
        sourceKey: 'out/123/a.bam',
        size: 100,
        etag: '"a.bam"',
        lastModified: OLD.toISOString(),
        action: 'archive',
        state: 'PENDING',
        target: 'glacier-vault',
      },
      {
        runUuid: UUID,
        path: 'qc/m.txt',
        sourceBucket: 'bucket',
        sourceKey: 'out/123/qc/m.txt',
        size: 10,
        etag: '"qc/m.txt"',
        lastModified: OLD.toISOString(),
        action: 'keep',
        state: 'KEPT',
      },
    ]);
    expect(result.workItems).toEqual([{ files: result.toArchive, bytes: 100 }]);
    expect(result.runCacheObjects).toEqual({ files: 0, bytes: 0 });
    expect(result).not.toHaveProperty('newerRunObjects');
  });

  it("leaves out the run caches under the output folder, only in the output's bucket, and counts them", () => {
    const result = classify([object('cache/x.bam', 7), object('cachefile.bam', 9), object('reads/r.bam', 11)], {
      excludeUris: ['s3://bucket/out/123/cache', 's3://other/out/123/reads/'],
    });
    expect(result.decisions.map((d) => d.path)).toEqual(['cachefile.bam', 'reads/r.bam']);
    expect(result.runCacheObjects).toEqual({ files: 1, bytes: 7 });
    expect(result.counts.files).toBe(2);
  });

  it('leaves out what a newer run wrote from its creation on, under the reused id', () => {
    const since = '2025-03-01T00:00:00.000Z';
    const result = classify(
      [object('a.bam', 100), object('b.bam', 200, new Date(since)), object('c.txt', 300, new Date('2025-04-01')), object('d.bam', 400, null)],
      { newerRun: { uuid: NEWER, creationTime: since } },
    );
    // An object without a time cannot be told apart: it stays the run's own, as it always was.
    expect(result.decisions.map((d) => d.path)).toEqual(['a.bam', 'd.bam']);
    expect(result.newerRunObjects).toEqual({ runUuid: NEWER, since, files: 2, bytes: 500 });
    expect(result.toRegister.map((r) => r.path)).toEqual(['a.bam', 'd.bam']);
    expect(result.bytes.total).toBe(500);
    // A newer run that wrote nothing here is not reported.
    expect(classify([object('a.bam', 1)], { newerRun: { uuid: NEWER, creationTime: since } })).not.toHaveProperty('newerRunObjects');
  });

  it('takes caches out before the newer run, so an object is left out once', () => {
    const since = '2025-03-01T00:00:00.000Z';
    const result = classify([object('cache/late.bam', 5, new Date('2025-05-01'))], {
      excludeUris: ['s3://bucket/out/123/cache/'],
      newerRun: { uuid: NEWER, creationTime: since },
    });
    expect(result.runCacheObjects).toEqual({ files: 1, bytes: 5 });
    expect(result).not.toHaveProperty('newerRunObjects');
  });

  it('keeps what the index knows: ARCHIVED files are not archived again, known files not registered again', () => {
    const result = classify([object('done.bam', 10), object('partial.bam', 20), object('kept.txt', 30), object('new.bam', 40)], {
      indexed: [
        record('done.bam', { state: 'ARCHIVED', size: 10 }),
        record('partial.bam', { state: 'UPLOADING', size: 20, uploadId: 'up-1' }),
        record('kept.txt', { state: 'KEPT', action: 'keep', size: 30 }),
      ],
    });
    expect(result.toArchive.map((f) => f.path)).toEqual(['partial.bam', 'new.bam']);
    expect(result.toRegister.map((r) => r.path)).toEqual(['new.bam']);
    expect(result.counts).toMatchObject({ files: 4, archive: 3, keep: 1, archived: 1 });
    expect(result.bytes).toEqual({ total: 100, archive: 70 });
    expect(result.decisions.map((d) => [d.path, d.indexState])).toEqual([
      ['done.bam', 'ARCHIVED'],
      ['partial.bam', 'UPLOADING'],
      ['kept.txt', 'KEPT'],
      ['new.bam', undefined],
    ]);
  });

  it('decides files only the index knows (sources deleted after archiving) without counting them as listed', () => {
    const result = classify([object('a.bam', 10)], {
      indexed: [record('gone.bam', { state: 'ARCHIVED', size: 99, lastModified: OLD.toISOString() }), record('gone.txt', { state: 'KEPT', size: 5 })],
    });
    expect(result.decisions.slice(1)).toEqual([
      { path: 'gone.bam', size: 99, lastModified: OLD, action: 'archive', rule: 1, source: 'index', indexState: 'ARCHIVED' },
      { path: 'gone.txt', size: 5, lastModified: NOW, action: 'keep', rule: -1, source: 'index', indexState: 'KEPT' },
    ]);
    expect(result.counts.files).toBe(1);
    expect(result.toArchive.map((f) => f.path)).toEqual(['a.bam']);
    expect(result.toRegister.map((r) => r.path)).toEqual(['a.bam']);
  });

  it('measures minimum ages against now, a missing time counting as now', () => {
    const result = classify([object('old.vcf.gz', 1, OLD), object('young.vcf.gz', 1, new Date(NOW.getTime() - 86400_000)), object('timeless.vcf.gz', 1, null)]);
    expect(result.decisions.map((d) => [d.path, d.action])).toEqual([
      ['old.vcf.gz', 'archive'],
      ['young.vcf.gz', 'keep'],
      ['timeless.vcf.gz', 'keep'],
    ]);
    expect(result.toRegister.find((r) => r.path === 'timeless.vcf.gz')?.lastModified).toBeUndefined();
  });

  it("groups the archive files into work items, spread over the Map's concurrency", () => {
    const objects = Array.from({ length: 8 }, (_, i) => object(`f${i}.bam`, 10));
    expect(classify(objects, { groupLimits: { maxFiles: 3, maxBytes: 1000 } }).workItems.map((i) => i.files.length)).toEqual([3, 3, 2]);
    expect(classify(objects, { concurrency: 4 }).workItems.map((i) => i.files.length)).toEqual([2, 2, 2, 2]);
    expect(classify([object('big.bam', 5000), object('s.bam', 1)]).workItems.map((i) => i.bytes)).toEqual([5000, 1]);
  });

  it('ignores objects outside the output folder', () => {
    expect(
      classify([
        { key: 'out/1234/a.bam', size: 1 },
        { key: 'elsewhere.bam', size: 1 },
      ]).decisions,
    ).toEqual([]);
  });
});

describe('classifyOutputs with bundling', () => {
  // Files below 100 bytes go into bundles of at most 4 KiB of tar: a 10-byte member takes two blocks (header and data).
  const bundling = TierSchema.parse({
    name: 'bundled',
    files: [{ globs: ['**'], action: 'archive' }],
    target: { type: 'glacier-vault' },
    bundleFilesBelow: 100,
    bundleMaxBytes: '4 KiB',
  });
  const bundled = (objects: ListedObject[], overrides: Partial<ClassifyOutputsInput> = {}) => classify(objects, { tier: bundling, ...overrides });
  const bundle = (sequence: number, state: BundleRecord['state'], fields: Partial<BundleRecord> = {}): BundleRecord => ({
    pk: `RUN#${UUID}`,
    sk: `BUNDLE#${bundleIdOf(UUID, sequence)}`,
    schemaVersion: 1,
    runUuid: UUID,
    bundleId: bundleIdOf(UUID, sequence),
    state,
    target: 'glacier-vault',
    members: 2,
    bytes: 20,
    size: 3 * TAR_BLOCK * 2,
    manifestBucket: 'snapshots',
    manifestKey: `plans/${UUID}/bundles/${bundleIdOf(UUID, sequence)}.json`,
    updatedAt: OLD.toISOString(),
    ...fields,
  });

  it('packs the small files in listing order into bundles within bundleMaxBytes, laid out as tar, and leaves the rest to the groups', () => {
    const small = Array.from({ length: 5 }, (_, i) => object(`qc/s${i}.txt`, 10));
    const result = bundled([object('a.bam', 500), ...small, object('empty.done', 0), object('edge.txt', 100)]);
    // (4096 - 1024 end blocks) / 1024 per member: three members in the first bundle, two in the second.
    expect(result.bundles.map((b) => b.manifest.members.map((m) => m.path))).toEqual([
      ['qc/s0.txt', 'qc/s1.txt', 'qc/s2.txt'],
      ['qc/s3.txt', 'qc/s4.txt'],
    ]);
    expect(result.bundles.map((b) => b.id)).toEqual([bundleIdOf(UUID, 1), bundleIdOf(UUID, 2)]);
    const [first] = result.bundles;
    expect(first.manifest).toEqual({
      runUuid: UUID,
      bundleId: bundleIdOf(UUID, 1),
      size: 3 * 2 * TAR_BLOCK + TAR_END_BYTES,
      members: ['qc/s0.txt', 'qc/s1.txt', 'qc/s2.txt'].map((path, i) => ({
        path,
        bucket: 'bucket',
        key: `out/123/${path}`,
        size: 10,
        etag: `"${path}"`,
        mtime: OLD.getTime() / 1000,
        offset: tarLayout(first.manifest.members).offsets[i],
      })),
    });
    expect(first.bytes).toBe(30);
    // The empty file needs no archive and the one at the threshold is not below it: both go with the large file.
    expect(result.workItems.flatMap((item) => item.files.map((f) => f.path))).toEqual(['a.bam', 'empty.done', 'edge.txt']);
    expect(Object.fromEntries(result.toRegister.map((r) => [r.path, r.bundleId]))).toEqual({
      'a.bam': undefined,
      'qc/s0.txt': bundleIdOf(UUID, 1),
      'qc/s1.txt': bundleIdOf(UUID, 1),
      'qc/s2.txt': bundleIdOf(UUID, 1),
      'qc/s3.txt': bundleIdOf(UUID, 2),
      'qc/s4.txt': bundleIdOf(UUID, 2),
      'empty.done': undefined,
      'edge.txt': undefined,
    });
    expect(result.toArchive).toHaveLength(8);
  });

  it('archives a lone small file on its own: a bundle of one would cost what the file does', () => {
    const result = bundled([object('a.bam', 500), object('only.txt', 10)]);
    expect(result.bundles).toEqual([]);
    expect(result.workItems.flatMap((item) => item.files.map((f) => f.path))).toEqual(['a.bam', 'only.txt']);
    expect(result.toRegister.every((r) => r.bundleId === undefined)).toBe(true);
  });

  it('is the same plan twice over the same listing (a retried plan step writes the same bundles)', () => {
    const objects = Array.from({ length: 7 }, (_, i) => object(`s${i}.txt`, 1 + i));
    expect(bundled(objects).bundles).toEqual(bundled(objects).bundles);
    // A retry finds its first attempt's bundles PENDING and its files registered: it makes them again, id for id.
    const first = bundled(objects);
    const again = bundled(objects, {
      indexedBundles: first.bundles.map((b) => bundle(b.sequence, 'PENDING')),
      indexed: first.toRegister.map((r) => record(r.path, r)),
    });
    expect(again.bundles).toEqual(first.bundles);
    expect(again.toReassign).toEqual([]);
    expect(again.supersededBundles).toEqual([]);
  });

  it('re-plans around the bundles an earlier plan made: started ones keep their files, failed ones give theirs to new bundles', () => {
    const objects = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'].map((name) => object(`${name}.txt`, 10));
    const indexed = [
      record('a.txt', { state: 'ARCHIVED', bundleId: bundleIdOf(UUID, 1), bundle: { id: bundleIdOf(UUID, 1), offset: 512, length: 10 } }),
      record('b.txt', { state: 'ARCHIVED', bundleId: bundleIdOf(UUID, 1), bundle: { id: bundleIdOf(UUID, 1), offset: 1536, length: 10 } }),
      record('c.txt', { state: 'PENDING', bundleId: bundleIdOf(UUID, 2) }),
      record('d.txt', { state: 'PENDING', bundleId: bundleIdOf(UUID, 2) }),
      record('e.txt', { state: 'FAILED', bundleId: bundleIdOf(UUID, 3), failureReason: 'bundle failed' }),
      record('f.txt', { state: 'FAILED', bundleId: bundleIdOf(UUID, 3), failureReason: 'bundle failed' }),
      record('g.txt', { state: 'PENDING', bundleId: bundleIdOf(UUID, 7) }),
    ];
    const result = bundled(objects, {
      indexed,
      indexedBundles: [
        bundle(1, 'ARCHIVED', { membersRecorded: true }),
        bundle(2, 'UPLOADING', { uploadId: 'u-1' }),
        bundle(3, 'FAILED'),
        bundle(7, 'PENDING'),
      ],
    });
    expect(result.counts).toMatchObject({ archive: 8, archived: 2 });
    expect(result.continuedBundles.map((b) => b.bundleId)).toEqual([bundleIdOf(UUID, 2)]);
    // e, f (their bundle failed) and g (its bundle was never started) are bundled again, numbered after the failed
    // bundle; the new h would be alone in the next bundle, so it goes on its own.
    expect(result.bundles.map((b) => [b.id, b.manifest.members.map((m) => m.path)])).toEqual([[bundleIdOf(UUID, 4), ['e.txt', 'f.txt', 'g.txt']]]);
    expect(result.workItems.flatMap((item) => item.files.map((f) => f.path))).toEqual(['h.txt']);
    expect(result.supersededBundles).toEqual([bundleIdOf(UUID, 7)]);
    expect(result.toReassign).toEqual([
      { path: 'e.txt', bundleId: bundleIdOf(UUID, 4) },
      { path: 'f.txt', bundleId: bundleIdOf(UUID, 4) },
      { path: 'g.txt', bundleId: bundleIdOf(UUID, 4) },
    ]);
  });

  it('gives an archived bundle whose members are not all recorded a Map item again, and plans nothing for those members', () => {
    const indexed = [
      record('a.txt', { state: 'PENDING', bundleId: bundleIdOf(UUID, 1) }),
      record('b.txt', { state: 'PENDING', bundleId: bundleIdOf(UUID, 1) }),
    ];
    const result = bundled([object('a.txt', 10), object('b.txt', 10)], { indexed, indexedBundles: [bundle(1, 'ARCHIVED', { archiveId: 'x' })] });
    expect(result.continuedBundles.map((b) => b.bundleId)).toEqual([bundleIdOf(UUID, 1)]);
    expect(result.bundles).toEqual([]);
    expect(result.workItems).toEqual([]);
    expect(result.toReassign).toEqual([]);
  });
});

describe('newerRunOf', () => {
  it('names the run GetRun answers with when its uuid is not this run’s', () => {
    const created = new Date('2025-03-01T00:00:00Z');
    expect(newerRunOf({ uuid: NEWER, creationTime: created }, UUID)).toEqual({ uuid: NEWER, creationTime: created.toISOString() });
    expect(newerRunOf({ uuid: UUID, creationTime: created }, UUID)).toBeUndefined();
    expect(newerRunOf(undefined, UUID)).toBeUndefined();
    // Without a creation time there is no line to draw.
    expect(newerRunOf({ uuid: NEWER }, UUID)).toBeUndefined();
  });
});
