// Benchmark: a run of 10,000 files of 10 KB archived with and without bundling: archives made, requests sent, per-object overhead.
//
// It calls the archive modules as the workflow's steps do (planArchive, then each plan item through archiveItem or
// archiveBundle until it reports complete), not the whole workflow: the requests and archives of a run are those of
// its plan and its items, and orchestration adds none to S3, Glacier or the index. Glacier, S3 and the run index are in-process fakes behind the real SDK clients (aws-sdk-client-mock: MemoryVault
// below, MemoryS3 and FakeRunIndexTable of test/support), each checking what the real service checks of these calls
// (tree hashes, CRC64NVME, ETag pins, conditional writes). Every request is counted by a recorder on each client's
// send, as the code makes it.
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  CompleteMultipartUploadCommand,
  GlacierClient,
  InitiateMultipartUploadCommand,
  ListMultipartUploadsCommand,
  UploadMultipartPartCommand,
  type CompleteMultipartUploadCommandInput,
  type InitiateMultipartUploadCommandInput,
  type UploadMultipartPartCommandInput,
} from '@aws-sdk/client-glacier';
import { S3Client } from '@aws-sdk/client-s3';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { mockClient, type AwsClientStub } from 'aws-sdk-client-mock';
import { archiveBundle } from '../functions/lib/archive/archive-bundle';
import { archiveItem } from '../functions/lib/archive/archive-files';
import { planArchive } from '../functions/lib/archive/plan-archive';
import { TierSchema, isBundleItem, type PlanItem, type Tier } from '../functions/lib/contract';
import { DEFAULT_PRICES, type ArchivePriceClass } from '../functions/lib/cost/prices';
import { combinePartTreeHashes, treeHashOf } from '../functions/lib/glacier/tree-hash';
import { RunIndex } from '../functions/lib/index/run-index';
import { newCrc64Nvme } from '../functions/lib/transfer/crc64nvme';
import { MemoryS3 } from '../test/support/memory-s3';
import { FakeRunIndexTable } from '../test/support/run-index-table';
import { fmt, MIB, randomData, type Benchmark, type BenchmarkOutcome, type BenchOptions } from './support';

const UUID = '5c3d2e1f-0a9b-4c8d-9e7f-6a5b4c3d2e1f';
const OUTPUTS = 'bench-outputs';
const PREFIX = 'runs/4281937/';
const SNAPSHOTS = 'bench-snapshots';
const ARCHIVE = 'bench-archive';
const VAULT = 'bench-vault';
const FILE_BYTES = 10 * 1000;
/** The Map runs this many items at once, as archiveConcurrency's default; the plan spreads files over them. */
const CONCURRENCY = 10;
const KB = 1024;

type Target = 's3-glacier' | 'glacier-vault';

/** Counts every request a client sends, by `Service Operation` (and `Bucket`, for S3). */
class RequestRecorder {
  readonly counts = new Map<string, number>();

  /** Records the client's requests until the returned function is called. */
  attach(service: string, client: { send: (...args: never[]) => unknown }): () => void {
    type Command = { constructor: { name: string }; input?: { Bucket?: string } };
    const holder = client as unknown as { send: (command: Command, ...rest: unknown[]) => unknown };
    const original = holder.send;
    holder.send = (command, ...rest) => {
      const bucket = service === 'S3' && command.input?.Bucket ? ` ${command.input.Bucket}` : '';
      const key = `${service} ${command.constructor.name.replace(/Command$/, '')}${bucket}`;
      this.counts.set(key, (this.counts.get(key) ?? 0) + 1);
      return original.call(client, command, ...rest);
    };
    return () => {
      holder.send = original;
    };
  }

  total(filter: (key: string) => boolean = () => true): number {
    return [...this.counts].filter(([key]) => filter(key)).reduce((sum, [, n]) => sum + n, 0);
  }
}

/**
 * An in-process Glacier vault that keeps what the archive step relies on: a multipart upload's parts, each answered
 * with its tree hash, and a CompleteMultipartUpload that must name the tree hash of the parts it joins. (The local
 * emulator checks the same, but it saves its whole state on every request, which 30,000 requests for 10,000
 * archives make minutes of JSON.)
 */
class MemoryVault {
  readonly archives = new Map<string, number>();
  private readonly uploads = new Map<string, { description?: string; parts: Map<number, Buffer> }>();

  attach(mock: AwsClientStub<GlacierClient>): this {
    mock.on(InitiateMultipartUploadCommand).callsFake((input: InitiateMultipartUploadCommandInput) => {
      const uploadId = `upload-${this.uploads.size + this.archives.size + 1}`;
      this.uploads.set(uploadId, { description: input.archiveDescription, parts: new Map() });
      return { uploadId };
    });
    mock.on(UploadMultipartPartCommand).callsFake((input: UploadMultipartPartCommandInput) => {
      const upload = this.uploads.get(input.uploadId!)!;
      const body = Buffer.from(input.body as Uint8Array);
      const start = Number(/^bytes (\d+)-/.exec(input.range ?? '')?.[1]);
      const treeHash = treeHashOf(body);
      if (input.checksum !== treeHash.toString('hex')) throw Object.assign(new Error('part tree hash mismatch'), { name: 'InvalidParameterValueException' });
      upload.parts.set(start, treeHash);
      return { checksum: input.checksum };
    });
    mock.on(CompleteMultipartUploadCommand).callsFake((input: CompleteMultipartUploadCommandInput) => {
      const upload = this.uploads.get(input.uploadId!)!;
      const hashes = [...upload.parts].sort(([a], [b]) => a - b).map(([, hash]) => hash);
      const treeHash = combinePartTreeHashes(hashes).toString('hex');
      if (input.checksum !== treeHash) throw Object.assign(new Error('archive tree hash mismatch'), { name: 'InvalidParameterValueException' });
      const archiveId = `archive-${this.archives.size + 1}`;
      this.archives.set(archiveId, Number(input.archiveSize));
      this.uploads.delete(input.uploadId!);
      return { archiveId, checksum: treeHash };
    });
    mock.on(ListMultipartUploadsCommand).resolves({ UploadsList: [] });
    return this;
  }
}

function tierFor(target: Target, bundling: boolean): Tier {
  return TierSchema.parse({
    name: 'bench',
    files: [{ globs: ['**'], action: 'archive' }],
    target: target === 's3-glacier' ? { type: 's3-glacier', storageClass: 'DEEP_ARCHIVE' } : { type: 'glacier-vault' },
    deleteSources: true,
    ...(bundling && { bundleFilesBelow: '1 MiB' }),
  });
}

interface Measured {
  target: Target;
  bundling: boolean;
  files: number;
  archives: number;
  requests: RequestRecorder;
  ms: number;
}

/** One run of `files` files through the plan and every item, on fresh fakes; checks every file ended ARCHIVED. */
/** The run's outputs, made once for every run of the benchmark: 10 KB each of random bytes, with their CRC64NVME. */
interface Sources {
  keys: string[];
  bodies: Buffer[];
  crc64nvme: string[];
}

async function makeSources(files: number): Promise<Sources> {
  const data = randomData(FILE_BYTES * files);
  const sources: Sources = { keys: [], bodies: [], crc64nvme: [] };
  for (let i = 0; i < files; i++) {
    const body = data.subarray(i * FILE_BYTES, (i + 1) * FILE_BYTES);
    const crc = await newCrc64Nvme();
    crc.update(body);
    sources.keys.push(`${PREFIX}out/qc/sample-${String(i).padStart(5, '0')}.json`);
    sources.bodies.push(body);
    sources.crc64nvme.push(crc.digestBase64());
  }
  return sources;
}

async function archiveRun(target: Target, bundling: boolean, sources: Sources): Promise<Measured> {
  const files = sources.keys.length;
  const credentials = { accessKeyId: 'bench', secretAccessKey: 'bench' };
  const s3 = new S3Client({ region: 'us-east-1', credentials });
  const s3Mock = mockClient(s3);
  const glacier = new GlacierClient({ region: 'us-east-1', credentials });
  const glacierMock = mockClient(glacier);
  const vault = new MemoryVault().attach(glacierMock);
  const memory = new MemoryS3().attach(s3Mock);
  const documents = DynamoDBDocumentClient.from(new DynamoDBClient({ region: 'us-east-1', credentials }));
  const ddbMock = mockClient(documents);
  new FakeRunIndexTable('bench-index').attach(ddbMock);
  try {
    // As S3 stores new objects: each with its full-object CRC64NVME.
    sources.keys.forEach((key, i) => memory.put(OUTPUTS, key, sources.bodies[i], { crc64nvme: sources.crc64nvme[i] }));
    const requests = new RequestRecorder();
    const detach = [requests.attach('S3', s3), requests.attach('DynamoDB', documents), requests.attach('Glacier', glacier)];
    const index = new RunIndex(documents, 'bench-index');
    const tier = tierFor(target, bundling);
    const started = performance.now();
    const planKey = `plans/${UUID}/bench/items.json`;
    await planArchive({
      s3,
      index,
      runUuid: UUID,
      runOutputUri: `s3://${OUTPUTS}/${PREFIX}`,
      tier,
      groupLimits: { maxFiles: 100, maxBytes: '256 MiB' },
      concurrency: CONCURRENCY,
      planBucket: SNAPSHOTS,
      planKey,
      now: new Date(),
    });
    const items = JSON.parse(memory.object(SNAPSHOTS, planKey)!.body.toString('utf8')) as PlanItem[];
    const common = { s3, glacier, index, vaultName: VAULT, archiveBucket: ARCHIVE, runUuid: UUID, tier };
    let next = 0;
    const worker = async () => {
      while (next < items.length) {
        const item = items[next++];
        for (;;) {
          const deadline = Date.now() + 15 * 60_000;
          const result = isBundleItem(item) ? await archiveBundle({ ...common, item, deadline }) : await archiveItem({ ...common, item, deadline });
          if (result.failed) throw new Error(`bench: ${result.failed} files of an item failed`);
          if (result.status === 'complete') break;
        }
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
    const ms = performance.now() - started;
    for (const off of detach) off();
    const archived = (await index.listFiles(UUID)).filter((f) => f.state === 'ARCHIVED' && f.sourceDeleted).length;
    if (archived !== files) throw new Error(`bench: ${archived} of ${files} files archived with their sources deleted`);
    const archives =
      target === 'glacier-vault'
        ? vault.archives.size
        : [...memory.versions.keys()].filter((key) => key.startsWith(`${ARCHIVE}/`)).reduce((n, key) => n + memory.versions.get(key)!.length, 0);
    return { target, bundling, files, archives, requests, ms };
  } finally {
    s3Mock.restore();
    ddbMock.restore();
    glacierMock.restore();
    s3.destroy();
    glacier.destroy();
  }
}

/** Glacier bills an archive's 32 KB of index at its own rate; the S3 classes add 8 KB at S3 Standard's for the object's name. */
function overheadOf(target: Target): { classKey: ArchivePriceClass; kb: number; perMonth: (objects: number) => number } {
  const classKey: ArchivePriceClass = target === 'glacier-vault' ? 'VAULT' : 'DEEP_ARCHIVE';
  const rates = DEFAULT_PRICES.classes[classKey];
  const gb = (kb: number) => (kb * KB) / 1024 ** 3;
  return {
    classKey,
    kb: rates.overheadKbAtClassRate + rates.overheadKbAtStandardRate,
    perMonth: (objects) =>
      objects * (gb(rates.overheadKbAtClassRate) * rates.storagePerGbMonth + gb(rates.overheadKbAtStandardRate) * DEFAULT_PRICES.standard.storagePerGbMonth),
  };
}

/** The requests the archive store bills (PUT class): uploads, parts, copies and completions into the vault or the archive bucket. */
const isArchiveRequest = (key: string) =>
  /^Glacier (UploadArchive|InitiateMultipartUpload|UploadMultipartPart|CompleteMultipartUpload)$/.test(key) ||
  new RegExp(`^S3 (CopyObject|PutObject|CreateMultipartUpload|UploadPart|UploadPartCopy|CompleteMultipartUpload) ${ARCHIVE}$`).test(key);

async function run(options: BenchOptions): Promise<BenchmarkOutcome> {
  const files = options.quick ? 1000 : 10_000;
  const sources = await makeSources(files);
  const results: Measured[] = [];
  for (const target of ['s3-glacier', 'glacier-vault'] as const) {
    for (const bundling of [false, true]) {
      options.log(`${target}, bundling ${bundling ? 'on' : 'off'}: ${fmt.count(files)} files of ${FILE_BYTES / 1000} KB`);
      const measured = await archiveRun(target, bundling, sources);
      options.log(`  ${fmt.count(measured.archives)} archives, ${fmt.count(measured.requests.total())} requests, ${fmt.seconds(measured.ms)} s`);
      results.push(measured);
    }
  }
  const dataBytes = files * FILE_BYTES;
  const archiveRequests = (m: Measured) => m.requests.total(isArchiveRequest);
  const rows = results.map((m) => {
    const overhead = overheadOf(m.target);
    const classRates = DEFAULT_PRICES.classes[overhead.classKey];
    const archiveCalls = archiveRequests(m);
    return [
      m.target === 's3-glacier' ? 's3-glacier (DEEP_ARCHIVE)' : 'glacier-vault',
      m.bundling ? 'on (bundleFilesBelow 1 MiB)' : 'off',
      fmt.count(m.archives),
      fmt.count(archiveCalls),
      fmt.count(m.requests.total((k) => k.startsWith('S3 ') || k.startsWith('Glacier '))),
      fmt.count(m.requests.total((k) => k.startsWith('DynamoDB '))),
      fmt.count(m.requests.total()),
      fmt.count((m.archives * overhead.kb * KB) / MIB),
      `${((100 * m.archives * overhead.kb * KB) / dataBytes).toFixed(2)}%`,
      `$${overhead.perMonth(m.archives).toFixed(5)}`,
      `$${((archiveCalls * classRates.requestsPer1000) / 1000).toFixed(4)}`,
      fmt.seconds(m.ms),
    ];
  });
  const byOperation = results.map((m) => [
    `${m.target}, bundling ${m.bundling ? 'on' : 'off'}`,
    [...m.requests.counts]
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([key, n]) => `${key.replace(/^(\w+) /, '$1:')} ${fmt.count(n)}`)
      .join(', '),
  ]);
  return {
    tables: [
      {
        title: `Bundling: one run of ${fmt.count(files)} files of ${FILE_BYTES / 1000} KB (${fmt.mib(dataBytes)} MiB), archived and sources deleted, with and without bundling`,
        columns: [
          'target',
          'bundling',
          'archives / objects',
          'archive requests',
          'S3 + Glacier requests',
          'index requests',
          'all requests',
          'overhead billed (MiB)',
          'overhead / data',
          'overhead per month',
          'archive requests cost',
          'seconds',
        ],
        rows,
        notes: [
          'Measured by calling the plan step and then each of its Map items as the workflow would (planArchive, then archiveItem or archiveBundle until complete, 10 items at a time), not the whole workflow: orchestration sends no request to S3, Glacier or the index. Glacier, S3 and the index are in-process fakes behind the real SDK clients, so "seconds" is the code\'s own time, not the services\'.',
          'Every request is counted as the code sends it, by a recorder on each client. "archive requests" are the ones the archive store bills as PUT-class (vault: initiate, parts, complete; S3: CopyObject, or PutObject / create + parts + complete of a bundle); "S3 + Glacier requests" add the source reads and deletes, the plan listing, manifests and digests.',
          `"overhead billed" is what AWS bills per archive or object beyond its bytes: ${overheadOf('glacier-vault').kb} KB per vault archive, ${overheadOf('s3-glacier').kb} KB (32 KB at the class's rate and 8 KB at S3 Standard's) per Glacier-class object (functions/lib/cost/prices.ts); the per-month and request costs are at those us-east-1 list prices.`,
          'Without bundling every file is an archive of its own (a vault multipart upload of one part, or a CopyObject); with it the 10,000 files are one tar bundle of about 107 MB (at most 10,000 members per bundle), which costs one upload of a few parts.',
        ],
      },
      { title: 'The same runs, requests by operation', columns: ['run', 'requests'], rows: byOperation },
    ],
  };
}

export const bundlingBenchmark: Benchmark = { id: 'bundling', title: 'Bundling small files', run };
