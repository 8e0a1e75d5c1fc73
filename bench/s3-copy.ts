// Benchmark: the s3-glacier target's verifiedCopy against a mocked S3: parts copied in parallel vs one at a time, and
// the bytes each archive target reads through Lambda per archived GiB.
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import {
  CompleteMultipartUploadCommand as GlacierCompleteMultipartUploadCommand,
  GlacierClient,
  InitiateMultipartUploadCommand,
  UploadArchiveCommand,
  UploadMultipartPartCommand,
  type UploadMultipartPartCommandInput,
} from '@aws-sdk/client-glacier';
import {
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  GetObjectCommand,
  HeadObjectCommand,
  S3Client,
  UploadPartCopyCommand,
  type GetObjectCommandInput,
} from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import { uploadToVault } from '../functions/lib/glacier/vault-upload';
import { s3ByteSource } from '../functions/lib/s3/byte-source';
import { verifiedCopy, type VerifiedCopyArgs } from '../functions/lib/s3/verified-copy';
import { newCrc64Nvme } from '../functions/lib/transfer/crc64nvme';
import { fmt, median, MIB, randomData, sleep, type Benchmark, type BenchmarkOutcome, type BenchOptions } from './support';

const GIB = 1024 * MIB;
const BUCKET = 'bench-outputs';
const KEY = 'runs/1/out/sample.bam';
const ETAG = '"bench-etag"';
const destination = { bucket: 'bench-archive', key: 'runs/u/out/sample.bam', storageClass: 'DEEP_ARCHIVE' as const };

/** A fresh S3 client with its mock; destroyed by `done`. */
function mockedS3() {
  const s3 = new S3Client({ region: 'us-east-1', credentials: { accessKeyId: 'bench', secretAccessKey: 'bench' } });
  const mock = mockClient(s3);
  return {
    s3,
    mock,
    done: () => {
      mock.restore();
      s3.destroy();
    },
  };
}

// ---------------------------------------------------------------------------------------------------------------
// (a) Parts copied in parallel: each UploadPartCopy takes a simulated service time; nothing passes through Lambda.

/** S3 answers each UploadPartCopy this much later: the time S3 takes to copy a part inside itself. */
const PART_SERVICE_MS = 20;
const PARTS = 64;
const PART_SIZE = 64 * MIB;
const CONCURRENCIES = [1, 8, 16];
/** The speed-up per part in flight the copy should keep: parts overlap, the core adds little of its own. */
const EFFICIENCY_TARGET = 0.8;
const SOURCE_CRC = 'rosUhgp5mIg=';

interface ParallelRun {
  ms: number;
  mostInFlight: number;
}

async function parallelCopy(concurrency: number): Promise<ParallelRun> {
  const { s3, mock, done } = mockedS3();
  let inFlight = 0;
  let mostInFlight = 0;
  let copied = 0;
  // The source has a full-object CRC64NVME and no SHA-256 is asked for: no byte is read, the parts only move inside S3.
  mock.on(HeadObjectCommand).resolves({ ETag: ETAG, ContentLength: PARTS * PART_SIZE, ChecksumCRC64NVME: SOURCE_CRC, ChecksumType: 'FULL_OBJECT' });
  mock.on(CreateMultipartUploadCommand).resolves({ UploadId: 'bench-upload' });
  mock.on(UploadPartCopyCommand).callsFake(async (input: { PartNumber?: number }) => {
    inFlight += 1;
    mostInFlight = Math.max(mostInFlight, inFlight);
    await sleep(PART_SERVICE_MS);
    inFlight -= 1;
    copied += 1;
    return { CopyPartResult: { ETag: `"part-${input.PartNumber}"` } };
  });
  mock.on(CompleteMultipartUploadCommand).resolves({ VersionId: 'v1', ChecksumCRC64NVME: SOURCE_CRC, ChecksumType: 'FULL_OBJECT' });
  try {
    const started = performance.now();
    const result = await verifiedCopy({
      s3,
      source: { bucket: BUCKET, key: KEY, size: PARTS * PART_SIZE, etag: ETAG },
      destination,
      multipartAbove: GIB,
      partSize: PART_SIZE,
      sha256: false,
      removeBadCopy: true,
      concurrency,
    });
    const ms = performance.now() - started;
    if (result.status !== 'complete' || result.parts !== PARTS || copied !== PARTS || result.bytesRead !== 0) {
      throw new Error(`the parallel copy at concurrency ${concurrency} did not copy ${PARTS} parts without reading`);
    }
    return { ms, mostInFlight };
  } finally {
    done();
  }
}

async function parallelRows(rounds: number, options: BenchOptions): Promise<string[][]> {
  await parallelCopy(8); // warm-up: SDK, mock and JIT
  const runs = new Map<number, ParallelRun[]>(CONCURRENCIES.map((c) => [c, []]));
  for (let round = 0; round < rounds; round++) {
    for (const concurrency of round % 2 ? [...CONCURRENCIES].reverse() : CONCURRENCIES) {
      const run = await parallelCopy(concurrency);
      runs.get(concurrency)!.push(run);
      options.log(`parallel copy: concurrency ${concurrency}, ${fmt.seconds(run.ms)} s`);
    }
  }
  const baseline = median(runs.get(1)!.map((r) => r.ms));
  return CONCURRENCIES.map((concurrency) => {
    const results = runs.get(concurrency)!;
    const ms = median(results.map((r) => r.ms));
    const speedUp = baseline / ms;
    const efficiency = speedUp / concurrency;
    return [
      String(concurrency),
      String(Math.max(...results.map((r) => r.mostInFlight))),
      fmt.seconds(ms),
      fmt.ratio(speedUp),
      efficiency.toFixed(2),
      fmt.seconds(Math.ceil(PARTS / concurrency) * PART_SERVICE_MS),
      efficiency >= EFFICIENCY_TARGET ? 'yes' : 'NO',
      results.map((r) => fmt.seconds(r.ms)).join(' / '),
    ];
  });
}

// ---------------------------------------------------------------------------------------------------------------
// (b) Bytes read through Lambda per archived GiB, for each target: counted as the bytes the mocked GetObject serves.

interface Source {
  data: Buffer;
  crc64nvme: string;
  sha256: string;
}

/** An S3 whose GetObject serves `data` (ranged, in 64 KiB chunks) and counts the bytes; HeadObject reports the CRC64NVME or none. */
function servingS3(source: Source, reportsChecksum: boolean) {
  const s3 = mockedS3();
  let served = 0;
  s3.mock.on(HeadObjectCommand).resolves({
    ETag: ETAG,
    ContentLength: source.data.length,
    ...(reportsChecksum && { ChecksumCRC64NVME: source.crc64nvme, ChecksumType: 'FULL_OBJECT' }),
  });
  s3.mock.on(GetObjectCommand).callsFake((input: GetObjectCommandInput) => {
    const [, start, end] = /^bytes=(\d+)-(\d+)$/.exec(input.Range!)!.map(Number);
    const body = source.data.subarray(start, end + 1);
    served += body.length;
    const chunks = Array.from({ length: Math.ceil(body.length / (64 * 1024)) }, (_, i) => body.subarray(i * 64 * 1024, (i + 1) * 64 * 1024));
    return { Body: Readable.from(chunks), ContentLength: body.length, ETag: ETAG };
  });
  // The copies are of the source's bytes, so S3 reports the source's checksum for them.
  s3.mock.on(CopyObjectCommand).resolves({ VersionId: 'v1', CopyObjectResult: { ETag: ETAG, ChecksumCRC64NVME: source.crc64nvme } });
  s3.mock.on(CreateMultipartUploadCommand).resolves({ UploadId: 'bench-upload' });
  s3.mock.on(UploadPartCopyCommand).callsFake((input: { PartNumber?: number }) => ({ CopyPartResult: { ETag: `"part-${input.PartNumber}"` } }));
  s3.mock.on(CompleteMultipartUploadCommand).resolves({ VersionId: 'v1', ChecksumCRC64NVME: source.crc64nvme, ChecksumType: 'FULL_OBJECT' });
  return { ...s3, served: () => served };
}

/** A Glacier client that takes every part and archive as sent (answering with the tree hash it was given). */
function acceptingGlacier() {
  const glacier = new GlacierClient({ region: 'us-east-1', credentials: { accessKeyId: 'bench', secretAccessKey: 'bench' } });
  const mock = mockClient(glacier);
  mock.on(InitiateMultipartUploadCommand).resolves({ uploadId: 'bench-vault-upload' });
  mock.on(UploadMultipartPartCommand).callsFake((input: UploadMultipartPartCommandInput) => ({ checksum: input.checksum }));
  mock.on(GlacierCompleteMultipartUploadCommand).callsFake((input: { checksum?: string }) => ({ archiveId: 'bench-archive', checksum: input.checksum }));
  mock.on(UploadArchiveCommand).callsFake((input: { checksum?: string }) => ({ archiveId: 'bench-archive', checksum: input.checksum }));
  return {
    glacier,
    done: () => {
      mock.restore();
      glacier.destroy();
    },
  };
}

interface TargetCase {
  target: string;
  settings: string;
  /** Archives the source; returns how it went, for the table. */
  archive(source: Source): Promise<{ served: number; method: string; checksum: string }>;
}

const COPY_PART = 8 * MIB;

function s3GlacierCase(settings: string, sha256: boolean, reportsChecksum: boolean): TargetCase {
  return {
    target: 's3-glacier',
    settings,
    async archive(source) {
      const s3 = servingS3(source, reportsChecksum);
      try {
        const args: VerifiedCopyArgs = {
          s3: s3.s3,
          source: { bucket: BUCKET, key: KEY, size: source.data.length, etag: ETAG },
          destination,
          // Scaled down: multipart above 5 MiB in 8 MiB parts stands in for a large file's multipart copy above 1 GiB.
          multipartAbove: 5 * MIB,
          partSize: COPY_PART,
          sha256,
          removeBadCopy: true,
        };
        const result = await verifiedCopy(args);
        if (result.status !== 'complete' || result.crc64nvme !== source.crc64nvme || (sha256 && result.sha256 !== source.sha256)) {
          throw new Error(`the s3-glacier copy (${settings}) did not verify`);
        }
        if (result.bytesRead !== s3.served()) throw new Error(`verifiedCopy reports ${result.bytesRead} bytes read, S3 served ${s3.served()}`);
        return { served: s3.served(), method: `${result.method}, ${result.parts} parts`, checksum: result.sourceChecksum === 's3' ? "S3's" : 'computed' };
      } finally {
        s3.done();
      }
    },
  };
}

const TARGET_CASES: TargetCase[] = [
  {
    target: 'glacier-vault',
    settings: 'uploadToVault',
    async archive(source) {
      const s3 = servingS3(source, true);
      const g = acceptingGlacier();
      try {
        const result = await uploadToVault({
          glacier: g.glacier,
          vaultName: 'bench-vault',
          source: s3ByteSource(s3.s3, BUCKET, KEY, source.data.length, { etag: ETAG }),
          partSize: COPY_PART,
          description: 'bench',
        });
        if (result.status !== 'complete' || result.sha256 !== source.sha256) throw new Error('the vault upload did not complete');
        return { served: s3.served(), method: `multipart upload, ${Math.ceil(source.data.length / COPY_PART)} parts`, checksum: 'tree hash (computed)' };
      } finally {
        g.done();
        s3.done();
      }
    },
  },
  s3GlacierCase('sha256: true (default)', true, true),
  s3GlacierCase('sha256: false, source has a CRC64NVME', false, true),
  s3GlacierCase('sha256: false, no source checksum', false, false),
];

async function bytesReadRows(size: number, options: BenchOptions): Promise<string[][]> {
  const data = randomData(size);
  const crc = await newCrc64Nvme();
  crc.update(data);
  const source: Source = { data, crc64nvme: crc.digestBase64(), sha256: createHash('sha256').update(data).digest('hex') };
  const rows: string[][] = [];
  for (const c of TARGET_CASES) {
    const outcome = await c.archive(source);
    options.log(`bytes read: ${c.target} (${c.settings}): ${fmt.mib(outcome.served)} MiB of ${fmt.mib(size)} MiB`);
    rows.push([c.target, c.settings, outcome.method, outcome.checksum, fmt.mib(outcome.served), (outcome.served / size).toFixed(2)]);
  }
  return rows;
}

// ---------------------------------------------------------------------------------------------------------------

async function run(options: BenchOptions): Promise<BenchmarkOutcome> {
  const rounds = options.quick ? 1 : 5;
  const size = (options.quick ? 40 : 200) * MIB;
  options.log(
    `s3 copy: ${PARTS} parts at ${PART_SERVICE_MS} ms each, concurrency ${CONCURRENCIES.join('/')}, ${rounds} round(s); bytes read for a ${size / MIB} MiB file`,
  );
  const parallel = await parallelRows(rounds, options);
  const bytesRead = await bytesReadRows(size, options);
  return {
    tables: [
      {
        title: `verifiedCopy: ${PARTS} parts copied with UploadPartCopy, ${PART_SERVICE_MS} ms of S3 time each (S3 mocked; median of ${rounds})`,
        columns: [
          'concurrency',
          'most in flight',
          'seconds',
          'speed-up vs 1',
          'speed-up / parts in flight',
          'ideal (s)',
          `≥ ${EFFICIENCY_TARGET}`,
          'each round (s)',
        ],
        rows: parallel,
        notes: [
          `Each UploadPartCopy is answered ${PART_SERVICE_MS} ms later (setTimeout), standing in for the time S3 spends copying a part inside itself; the source reports a full-object CRC64NVME and no SHA-256 is asked for, so no byte passes through Lambda and the time is all waiting on S3. "Ideal" is ⌈parts / concurrency⌉ × ${PART_SERVICE_MS} ms.`,
          `"Speed-up / parts in flight" is how much of each extra part in flight turns into speed (1.00: perfect overlap); the copy should keep at least ${EFFICIENCY_TARGET}. "Most in flight" is the most UploadPartCopy requests the mock saw at once: never above the concurrency.`,
        ],
      },
      {
        title: `Bytes read through Lambda per archived GiB, by target (a ${size / MIB} MiB file, S3 and Glacier mocked)`,
        columns: ['target', 'settings', 'transfer', 'checksum of the source', `read (MiB of ${size / MIB})`, 'read per archived GiB (GiB)'],
        rows: bytesRead,
        notes: [
          'Counted as the bytes the mocked GetObject served. The vault upload streams every byte through Lambda (its tree hash and SHA-256, and the part bodies themselves); an s3-glacier copy moves the bytes inside S3 (CopyObject, UploadPartCopy) and reads them only to compute the SHA-256 or, for a source S3 has no full-object CRC64NVME for (composite checksums of multipart uploads, older objects), the CRC64NVME the copy is verified by.',
          `The file is scaled down (multipart above 5 MiB, ${COPY_PART / MIB} MiB parts, standing in for the defaults of 1 GiB and 64 MiB); the ratio is the same at any size.`,
        ],
      },
    ],
  };
}

export const s3CopyBenchmark: Benchmark = { id: 's3-copy', title: 'S3 Glacier copies: parallel part copies and bytes read through Lambda', run };
