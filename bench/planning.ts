// Benchmark: planArchive over a generated 100,000-object listing (S3 and DynamoDB mocked), grouping 1 vs 100 files per item.
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
import { BatchWriteCommand, DynamoDBDocumentClient, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { planArchive, type PlanSummary } from '../functions/lib/archive/plan-archive';
import { RunIndex } from '../functions/lib/index/run-index';
import { TierSchema } from '../functions/lib/contract';
import { fmt, HeapPeak, median, MIB, type Benchmark, type BenchmarkOutcome, type BenchOptions } from './support';

const PER_PAGE = 1000;
const NOW = new Date('2025-06-01T12:00:00.000Z');
const OLD = new Date('2025-01-01T00:00:00.000Z');
const RUN_UUID = '96c57683-74bf-9d6d-ae7e-f09b097db14a';
const TABLE = 'run-index';
const GROUP_MAX_BYTES = '256 MiB';

/** The outputs of a big run, as the archive-plan scale test makes them: 10% logs (skip), 60% BAMs (archive, one in 1,000 huge), 30% QC files (keep). */
function syntheticObject(page: number, i: number): _Object {
  const n = page * PER_PAGE + i;
  const r = n % 10;
  const common = { ETag: `"${page}-${i}"`, LastModified: OLD, StorageClass: 'STANDARD' as const };
  if (r === 0) return { Key: `out/run/sample-${page}/logs/task-${i}.log`, Size: 1000 + (n % 97), ...common };
  if (r <= 6) return { Key: `out/run/sample-${page}/bam/reads-${i}.bam`, Size: n % 1000 === 1 ? 300 * MIB : 512 * 1024 + (n % 4096), ...common };
  return { Key: `out/run/sample-${page}/qc/metrics-${i}.txt`, Size: 2000 + (n % 113), ...common };
}

const TIER = TierSchema.parse({
  name: 'scale',
  files: [
    { globs: ['**/*.log'], action: 'skip' },
    { globs: ['**/*.bam'], minAge: 'P7D', action: 'archive' },
  ],
});

const byteLength = (body: unknown) => (typeof body === 'string' ? Buffer.byteLength(body) : (body as Uint8Array).length);

interface PlanRun {
  ms: number;
  heapGrowth: number;
  /** Live heap growth where the planner holds the most; only from a run with `probeLive` (it forces collections). */
  liveGrowth?: number;
  summary: PlanSummary;
  planBytes: number;
}

/**
 * One planArchive over `objects` objects served page by page (each page made only when asked for), with every
 * registration and the plan upload answered by the mocks. The mocks' call records are cleared as the run goes,
 * so the heap peak is the planner's and not the mocks' memory of 100 listing pages.
 */
async function planOnce(objects: number, groupMaxFiles: number, probeLive = false): Promise<PlanRun> {
  const s3 = new S3Client({ region: 'us-east-1', credentials: { accessKeyId: 'bench', secretAccessKey: 'bench' } });
  const db = DynamoDBDocumentClient.from(new DynamoDBClient({ region: 'us-east-1', credentials: { accessKeyId: 'bench', secretAccessKey: 'bench' } }));
  const s3Mock = mockClient(s3);
  const dbMock = mockClient(db);
  const pageCount = Math.ceil(objects / PER_PAGE);
  let heap: HeapPeak | undefined;
  let planBytes = 0;
  // The two moments the planner holds the most: the listing done (every file to register and to archive), and the
  // plan being uploaded (the work items and their JSON).
  const probed = new Set<string>();
  const probe = (moment: string) => {
    if (!probeLive || probed.has(moment)) return;
    probed.add(moment);
    heap?.sampleLive();
  };
  // sinon refuses to reset a stub from inside its own call, so the reset waits for the call to return.
  const forget = (mock: { resetHistory(): void }) => setImmediate(() => mock.resetHistory());

  s3Mock.on(ListObjectsV2Command).callsFake((input: ListObjectsV2CommandInput) => {
    heap?.sample();
    forget(s3Mock);
    const page = input.ContinuationToken ? Number(input.ContinuationToken) : 0;
    const count = Math.min(PER_PAGE, objects - page * PER_PAGE);
    const contents = Array.from({ length: count }, (_, i) => syntheticObject(page, i));
    const more = page + 1 < pageCount;
    return Promise.resolve({ Contents: contents, KeyCount: contents.length, IsTruncated: more, ...(more ? { NextContinuationToken: String(page + 1) } : {}) });
  });
  s3Mock.on(PutObjectCommand).callsFake((input: { Body?: unknown }) => {
    probe('plan');
    planBytes += byteLength(input.Body);
    return Promise.resolve({ ETag: '"plan"' });
  });
  s3Mock.on(CreateMultipartUploadCommand).resolves({ UploadId: 'plan-upload' });
  s3Mock.on(UploadPartCommand).callsFake((input: { Body?: unknown; PartNumber?: number }) => {
    heap?.sample();
    probe('plan');
    planBytes += byteLength(input.Body);
    forget(s3Mock);
    return Promise.resolve({ ETag: `"part-${input.PartNumber}"` });
  });
  s3Mock.on(CompleteMultipartUploadCommand).resolves({ ETag: '"plan"' });
  dbMock.on(QueryCommand).resolves({ Items: [] });
  let writes = 0;
  dbMock.on(BatchWriteCommand).callsFake(() => {
    probe('listed');
    if (++writes % 100 === 0) {
      heap?.sample();
      forget(dbMock);
    }
    return Promise.resolve({});
  });

  try {
    heap = new HeapPeak();
    const started = performance.now();
    const summary = await planArchive({
      s3,
      index: new RunIndex(db, TABLE),
      runUuid: RUN_UUID,
      runOutputUri: 's3://bucket/out/run/',
      tier: TIER,
      groupLimits: { maxFiles: groupMaxFiles, maxBytes: GROUP_MAX_BYTES },
      planBucket: 'snapshots',
      planKey: `plans/${RUN_UUID}/items.json`,
      now: NOW,
    });
    const ms = performance.now() - started;
    if (summary.counts.files !== objects) throw new Error(`planned ${summary.counts.files} of ${objects} objects`);
    return { ms, heapGrowth: heap.growth, ...(probeLive ? { liveGrowth: heap.liveGrowth } : {}), summary, planBytes };
  } finally {
    s3Mock.restore();
    dbMock.restore();
    s3.destroy();
    db.destroy();
  }
}

async function run(options: BenchOptions): Promise<BenchmarkOutcome> {
  const objects = options.quick ? 10_000 : 100_000;
  const rounds = options.quick ? 1 : 3;
  const groupings = [1, 100];
  options.log(`planning: planArchive over ${fmt.count(objects)} objects, groupMaxFiles ${groupings.join(' vs ')}, ${rounds} interleaved round(s)`);

  await planOnce(Math.min(objects, 5_000), 100); // warm-up: module loading and JIT, not timed
  const runs = new Map<number, PlanRun[]>(groupings.map((g) => [g, []]));
  for (let round = 0; round < rounds; round++) {
    for (const groupMaxFiles of groupings) {
      const result = await planOnce(objects, groupMaxFiles);
      runs.get(groupMaxFiles)!.push(result);
      options.log(`  groupMaxFiles ${groupMaxFiles}: ${fmt.seconds(result.ms)} s, ${fmt.count(result.summary.itemCount)} items`);
    }
  }

  // Untimed: forced collections at the peaks would distort the timing, so live memory gets a run of its own.
  const live = new Map<number, number>();
  for (const groupMaxFiles of groupings) live.set(groupMaxFiles, (await planOnce(objects, groupMaxFiles, true)).liveGrowth ?? 0);

  const rows = groupings.map((groupMaxFiles) => {
    const results = runs.get(groupMaxFiles)!;
    const ms = median(results.map((r) => r.ms));
    const { summary, planBytes } = results[0];
    const archiveFiles = summary.counts.archive - summary.counts.archived;
    return [
      String(groupMaxFiles),
      fmt.seconds(ms),
      fmt.count(objects / (ms / 1000)),
      fmt.mib(Math.max(...results.map((r) => r.heapGrowth))),
      fmt.mib(live.get(groupMaxFiles)!),
      fmt.count(summary.itemCount),
      (archiveFiles / summary.itemCount).toFixed(1),
      fmt.mib(planBytes),
    ];
  });
  const { counts } = runs.get(groupings[0])![0].summary;
  return {
    tables: [
      {
        title: `planArchive over ${fmt.count(objects)} listed objects (S3 and DynamoDB mocked; median time of ${rounds}, highest heap peak)`,
        columns: ['groupMaxFiles', 'seconds', 'objects/s', 'heap peak (MiB)', 'live peak (MiB)', 'Map items', 'files per item', 'plan JSON (MiB)'],
        rows,
        notes: [
          `The listing: ${fmt.count(counts.archive)} files to archive (BAMs, one in 1,000 of 300 MiB, the rest about 0.5 MiB), ${fmt.count(counts.keep)} to keep, ${fmt.count(counts.skip)} to skip; groupMaxBytes ${GROUP_MAX_BYTES}. Every archive and keep file is registered in the index (BatchWrite, 25 a call), and the plan is uploaded for the Distributed Map.`,
          '"Heap peak" is V8 heap growth over a baseline taken after a full collection, sampled on every listing page, registration batch and plan part: garbage included, as the process sees it. "Live peak" comes from one more, untimed run that forces a collection where the planner holds the most (listing done; plan uploading): what must fit. A PlanArchive Lambda has 1,769 MB.',
          'Map items is what the Distributed Map then runs: one child execution and one ArchiveFiles invocation per item, whatever its size. The workflow benchmark shows what each item costs.',
        ],
      },
    ],
  };
}

export const planningBenchmark: Benchmark = { id: 'planning', title: 'Planning at scale', run };
