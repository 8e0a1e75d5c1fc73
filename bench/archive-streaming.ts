// Benchmark: uploadToVault and copyJobOutputToS3 through the strict Glacier emulator, with the real Glacier client.
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, statfsSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CompleteMultipartUploadCommand as CompleteVaultUploadCommand,
  CreateVaultCommand,
  DeleteArchiveCommand,
  GlacierClient,
  InitiateJobCommand,
  InitiateMultipartUploadCommand,
  UploadMultipartPartCommand,
} from '@aws-sdk/client-glacier';
import { CompleteMultipartUploadCommand, CreateMultipartUploadCommand, PutObjectCommand, S3Client, UploadPartCommand } from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import { glacierBodyChecksums } from '../functions/lib/glacier/body-checksums';
import { copyJobOutputToS3 } from '../functions/lib/glacier/job-output-copy';
import { uploadToVault, type ByteSource, type UploadProgress } from '../functions/lib/glacier/vault-upload';
import { treeHashOf } from '../functions/lib/glacier/tree-hash';
import { GlacierEmulator } from '../local/glacier';
import { chunksOf, fmt, KIB, median, MIB, mibPerSecond, randomData, type Benchmark, type BenchmarkOutcome, type BenchOptions } from './support';
import { sha256Checkpoints } from '../functions/lib/transfer/file-sha256';

const VAULT = 'bench-vault';
const PART_SIZE = 8 * MIB;
/** S3 bodies arrive from the socket in chunks of about this size. */
const SOURCE_CHUNK = 64 * KIB;
const CONCURRENCIES = [1, 2, 4];
/** The simulated network: each part answered this much later, about what 8 MiB takes at 80 MiB/s. */
const NETWORK_DELAY_MS = 100;

/** What the instrumented server and source count during one upload. */
interface Counters {
  /** Bytes the source has handed to the streamer. */
  handedOut: number;
  /** Bytes of parts Glacier has answered for. */
  acknowledged: number;
  /** Most of handedOut − acknowledged at any moment: what the upload holds in memory. */
  peak: number;
  /** Time in the emulator's CompleteMultipartUpload (it reassembles and re-hashes the whole archive). */
  completeMs: number;
  /** Each UploadMultipartPart is handled this much later, as if it crossed a network. */
  partDelayMs: number;
}

interface BenchGlacier {
  /** Configured as functions/lib/runtime/clients.ts makes it: body checksums from what the upload computed. */
  glacier: GlacierClient;
  /** The same client with the SDK's default body-checksum generator, which hashes every request body twice. */
  sdkDefault: GlacierClient;
  emulator: GlacierEmulator;
  counters: Counters;
  /** Where the emulator keeps its bytes, for the report. */
  storage: string;
  stop(): Promise<void>;
}

/**
 * The emulator keeps archives on disk; on a machine with a roomy tmpfs it goes there, so the numbers measure the
 * streaming pipeline rather than this machine's disk.
 */
function emulatorDir(bytesNeeded: number): { dir: string; storage: string } {
  try {
    if (existsSync('/dev/shm')) {
      const fs = statfsSync('/dev/shm');
      if (fs.bavail * fs.bsize > 2 * bytesNeeded) return { dir: mkdtempSync('/dev/shm/bench-glacier-'), storage: 'tmpfs at /dev/shm' };
    }
  } catch {
    // No usable tmpfs: the ordinary temporary folder will do.
  }
  return { dir: mkdtempSync(join(tmpdir(), 'bench-glacier-')), storage: `disk at ${tmpdir()}` };
}

/** The emulator on a plain HTTP server, as test/local/glacier/helpers.ts runs it, instrumented for the counters. */
async function startGlacier(bytesNeeded: number): Promise<BenchGlacier> {
  const { dir, storage } = emulatorDir(bytesNeeded);
  const emulator = new GlacierEmulator({ dataDir: dir, publish: () => Promise.resolve() });
  const counters: Counters = { handedOut: 0, acknowledged: 0, peak: 0, completeMs: 0, partDelayMs: 0 };
  const handle = (req: IncomingMessage, res: ServerResponse) => {
    if (req.method === 'PUT') {
      // A part is acknowledged once Glacier has answered for it: only then may the streamer drop it.
      res.on('finish', () => (counters.acknowledged += Number(req.headers['content-length'] ?? 0)));
      if (counters.partDelayMs > 0) {
        setTimeout(() => void emulator.handle(req, res), counters.partDelayMs);
        return;
      }
    }
    if (req.method === 'POST' && req.headers['x-amz-archive-size'] !== undefined) {
      const started = performance.now();
      res.on('finish', () => (counters.completeMs += performance.now() - started));
    }
    void emulator.handle(req, res);
  };
  const server = createServer(handle);
  // Two clients take turns; Node's 5 s default would close one's idle sockets as it reuses them (ECONNRESET).
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  // A client of its own (not aws-clients.ts's cached one): it points at this server only and is destroyed with it;
  // one attempt, so a failing request shows instead of being retried into the timing.
  const config = {
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    region: 'us-east-1',
    credentials: { accessKeyId: 'bench', secretAccessKey: 'bench' },
    maxAttempts: 1,
  };
  const glacier = new GlacierClient({ ...config, bodyChecksumGenerator: glacierBodyChecksums });
  const sdkDefault = new GlacierClient(config);
  await glacier.send(new CreateVaultCommand({ accountId: '-', vaultName: VAULT }));
  return {
    glacier,
    sdkDefault,
    emulator,
    counters,
    storage,
    async stop() {
      glacier.destroy();
      sdkDefault.destroy();
      await emulator.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A ByteSource over a buffer that counts what it hands out against what Glacier has acknowledged. */
function countingSource(data: Buffer, counters: Counters): ByteSource {
  return {
    size: data.length,
    read(start, endInclusive) {
      const slice = data.subarray(start, endInclusive + 1);
      return Promise.resolve(
        // eslint-disable-next-line @typescript-eslint/require-await -- adapts an in-memory buffer to the AsyncIterable a ByteSource returns: nothing to await
        (async function* () {
          for (const chunk of chunksOf(slice, SOURCE_CHUNK)) {
            counters.handedOut += chunk.length;
            counters.peak = Math.max(counters.peak, counters.handedOut - counters.acknowledged);
            yield chunk;
          }
        })(),
      );
    },
  };
}

interface UploadRun {
  ms: number;
  /** CPU time of this process (every thread) meanwhile: the work, whatever else the machine is running. */
  cpuMs: number;
  /** The part of `ms` spent in the emulator's CompleteMultipartUpload. */
  completeMs: number;
  peakHeld: number;
  archiveId: string;
}

interface Expected {
  treeHash: string;
  sha256: string;
}

function cpuMsSince(start: NodeJS.CpuUsage): number {
  const used = process.cpuUsage(start);
  return (used.user + used.system) / 1000;
}

async function uploadOnce(g: BenchGlacier, data: Buffer, concurrency: number, expected: Expected, glacier = g.glacier): Promise<UploadRun> {
  Object.assign(g.counters, { handedOut: 0, acknowledged: 0, peak: 0, completeMs: 0 });
  const cpu = process.cpuUsage();
  const started = performance.now();
  const result = await uploadToVault({
    glacier,
    vaultName: VAULT,
    source: countingSource(data, g.counters),
    partSize: PART_SIZE,
    description: `bench concurrency ${concurrency}`,
    concurrency,
  });
  const ms = performance.now() - started;
  const cpuMs = cpuMsSince(cpu);
  if (result.status !== 'complete' || !result.archiveId) throw new Error(`upload at concurrency ${concurrency} did not complete: ${JSON.stringify(result)}`);
  if (result.treeHash !== expected.treeHash || result.sha256 !== expected.sha256) throw new Error(`upload at concurrency ${concurrency} hashed wrong`);
  return { ms, cpuMs, completeMs: g.counters.completeMs, peakHeld: g.counters.peak, archiveId: result.archiveId };
}

/**
 * Uploads at each concurrency, `rounds` times, alternating the order each round so drift (page cache, heap growth)
 * does not always land on the same setting. Keeps the last archive (for the retrieval copy) and deletes the others.
 */
async function uploadRounds(
  g: BenchGlacier,
  data: Buffer,
  expected: Expected,
  rounds: number,
  options: BenchOptions,
): Promise<{ runs: Map<number, UploadRun[]>; lastArchiveId: string }> {
  const runs = new Map<number, UploadRun[]>(CONCURRENCIES.map((c) => [c, []]));
  let kept: string | undefined;
  for (let round = 0; round < rounds; round++) {
    for (const concurrency of round % 2 ? [...CONCURRENCIES].reverse() : CONCURRENCIES) {
      const result = await uploadOnce(g, data, concurrency, expected);
      runs.get(concurrency)!.push(result);
      options.log(
        `  delay ${g.counters.partDelayMs} ms, concurrency ${concurrency}: ${fmt.mibs(mibPerSecond(data.length, result.ms))} MiB/s ` +
          `(complete ${fmt.seconds(result.completeMs)} s), peak held ${fmt.mib(result.peakHeld)} MiB`,
      );
      if (kept) await g.glacier.send(new DeleteArchiveCommand({ accountId: '-', vaultName: VAULT, archiveId: kept }));
      kept = result.archiveId;
    }
  }
  return { runs, lastArchiveId: kept! };
}

function uploadRows(runs: Map<number, UploadRun[]>, size: number, delayMs: number): string[][] {
  const speedOf = (results: UploadRun[]) => mibPerSecond(size, median(results.map((r) => r.ms)));
  const baseline = speedOf(runs.get(1)!);
  return CONCURRENCIES.map((concurrency) => {
    const results = runs.get(concurrency)!;
    const speed = speedOf(results);
    const peak = Math.max(...results.map((r) => r.peakHeld));
    return [
      `${delayMs} ms`,
      String(concurrency),
      fmt.mibs(speed),
      fmt.ratio(speed / baseline),
      fmt.mib(peak),
      (peak / PART_SIZE).toFixed(1),
      fmt.seconds(median(results.map((r) => r.completeMs))),
      results.map((r) => fmt.mibs(mibPerSecond(size, r.ms))).join(' / '),
    ];
  });
}

/** One part as the SDK-alone upload sends it: a view of the file, its range and its precomputed tree hash. */
interface PreparedPart {
  body: Buffer;
  range: string;
  treeHash: string;
}

function prepareParts(data: Buffer): PreparedPart[] {
  const parts: PreparedPart[] = [];
  for (let start = 0; start < data.length; start += PART_SIZE) {
    const body = data.subarray(start, start + PART_SIZE);
    parts.push({ body, range: `bytes ${start}-${start + body.length - 1}/*`, treeHash: treeHashOf(body).toString('hex') });
  }
  return parts;
}

/**
 * The Glacier SDK by itself, with its default body checksums: Initiate, the parts (already in memory, tree hashes
 * precomputed) `concurrency` at a time, Complete. Nothing is read or hashed on our side: the floor for uploadToVault.
 */
async function sdkAloneOnce(g: BenchGlacier, data: Buffer, parts: PreparedPart[], concurrency: number, expected: Expected): Promise<UploadRun> {
  const glacier = g.sdkDefault;
  Object.assign(g.counters, { completeMs: 0 });
  const cpu = process.cpuUsage();
  const started = performance.now();
  const { uploadId } = await glacier.send(
    new InitiateMultipartUploadCommand({ accountId: '-', vaultName: VAULT, partSize: String(PART_SIZE), archiveDescription: `bench SDK alone ${concurrency}` }),
  );
  let next = 0;
  const sender = async () => {
    while (next < parts.length) {
      const part = parts[next++];
      const sent = await glacier.send(
        new UploadMultipartPartCommand({ accountId: '-', vaultName: VAULT, uploadId, range: part.range, body: part.body, checksum: part.treeHash }),
      );
      if (sent.checksum !== part.treeHash) throw new Error(`SDK-alone part ${part.range} came back with tree hash ${sent.checksum}`);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, sender));
  const { archiveId } = await glacier.send(
    new CompleteVaultUploadCommand({ accountId: '-', vaultName: VAULT, uploadId, archiveSize: String(data.length), checksum: expected.treeHash }),
  );
  return { ms: performance.now() - started, cpuMs: cpuMsSince(cpu), completeMs: g.counters.completeMs, peakHeld: 0, archiveId: archiveId! };
}

const VERSUS_SDK = ['SDK alone', 'before', 'after'] as const;

/**
 * uploadToVault against the Glacier SDK alone sending the same parts through the same emulator, at each concurrency,
 * rounds alternating the order of the three. "before" is uploadToVault on a client with the SDK's default body
 * checksums (the SDK hashes each part twice more, and the upload records nothing for it: the code path before
 * glacierBodyChecksums); "after" is the client as deployed.
 */
async function versusSdkRows(g: BenchGlacier, data: Buffer, expected: Expected, rounds: number, options: BenchOptions): Promise<string[][]> {
  const parts = prepareParts(data);
  const runs = new Map<string, UploadRun[]>(CONCURRENCIES.flatMap((c) => VERSUS_SDK.map((v) => [`${c} ${v}`, []])));
  for (let round = 0; round < rounds; round++) {
    for (const concurrency of CONCURRENCIES) {
      for (const variant of round % 2 ? [...VERSUS_SDK].reverse() : VERSUS_SDK) {
        const result =
          variant === 'SDK alone'
            ? await sdkAloneOnce(g, data, parts, concurrency, expected)
            : await uploadOnce(g, data, concurrency, expected, variant === 'before' ? g.sdkDefault : g.glacier);
        runs.get(`${concurrency} ${variant}`)!.push(result);
        await g.glacier.send(new DeleteArchiveCommand({ accountId: '-', vaultName: VAULT, archiveId: result.archiveId }));
      }
      const last = (variant: string) => runs.get(`${concurrency} ${variant}`)!.at(-1)!;
      const ratios = (variant: string) =>
        `${fmt.ratio(last('SDK alone').ms / last(variant).ms)} (CPU ${fmt.ratio(last('SDK alone').cpuMs / last(variant).cpuMs)})`;
      options.log(`  vs the SDK alone, concurrency ${concurrency}: before ${ratios('before')}, after ${ratios('after')}`);
    }
  }
  return CONCURRENCIES.map((concurrency) => {
    const of = (variant: string) => runs.get(`${concurrency} ${variant}`)!;
    const speed = (variant: string) => mibPerSecond(data.length, median(of(variant).map((r) => r.ms)));
    // Each round's three runs are adjacent in time, so their ratios see the same machine.
    const roundRatios = (variant: string) => of(variant).map((r, i) => of('SDK alone')[i].ms / r.ms);
    const cpuRatio = (variant: string) => median(of('SDK alone').map((r) => r.cpuMs)) / median(of(variant).map((r) => r.cpuMs));
    return [
      String(concurrency),
      fmt.mibs(speed('SDK alone')),
      fmt.mibs(speed('before')),
      fmt.ratio(speed('before') / speed('SDK alone')),
      fmt.mibs(speed('after')),
      fmt.ratio(speed('after') / speed('SDK alone')),
      roundRatios('after').map(fmt.ratio).join(' / '),
      fmt.ratio(cpuRatio('before')),
      fmt.ratio(cpuRatio('after')),
      fmt.seconds(median(of('SDK alone').map((r) => r.completeMs))),
    ];
  });
}

/** An S3 client whose multipart upload only counts the bytes it is given, so the copy is timed on the Glacier side. */
function countingS3(): { s3: S3Client; received: () => number; restore: () => void } {
  const s3 = new S3Client({ region: 'us-east-1', credentials: { accessKeyId: 'bench', secretAccessKey: 'bench' } });
  const mock = mockClient(s3);
  let received = 0;
  // The copy sends whole buffers (never streams) as bodies, so the byte length is all there is to count.
  const lengthOf = (body: unknown) => (body as Uint8Array).length;
  mock.on(CreateMultipartUploadCommand).resolves({ UploadId: 'bench-upload' });
  mock.on(UploadPartCommand).callsFake((input: { Body?: unknown; PartNumber?: number }) => {
    received += lengthOf(input.Body);
    return Promise.resolve({ ETag: `"part-${input.PartNumber}"` });
  });
  mock.on(CompleteMultipartUploadCommand).resolves({ ETag: '"bench"' });
  mock.on(PutObjectCommand).callsFake((input: { Body?: unknown }) => {
    received += lengthOf(input.Body);
    return Promise.resolve({ ETag: '"bench"' });
  });
  return {
    s3,
    received: () => received,
    restore: () => {
      mock.restore();
      s3.destroy();
    },
  };
}

async function copyRows(g: BenchGlacier, archiveId: string, size: number, expected: Expected, rounds: number): Promise<string[][]> {
  const { jobId } = await g.glacier.send(
    new InitiateJobCommand({ accountId: '-', vaultName: VAULT, jobParameters: { Type: 'archive-retrieval', ArchiveId: archiveId, Tier: 'Expedited' } }),
  );
  await g.emulator.completeJobNow(jobId!);
  const rangeSizes = [8 * MIB, 64 * MIB];
  const times = new Map<number, number[]>(rangeSizes.map((r) => [r, []]));
  for (let round = 0; round < rounds; round++) {
    for (const rangeSize of round % 2 ? [...rangeSizes].reverse() : rangeSizes) {
      const target = countingS3();
      try {
        const started = performance.now();
        const copied = await copyJobOutputToS3({
          glacier: g.glacier,
          vaultName: VAULT,
          jobId: jobId!,
          archiveSize: size,
          expectedTreeHash: expected.treeHash,
          expectedSha256: expected.sha256,
          s3: target.s3,
          bucket: 'bench-restores',
          key: 'restored.bin',
          rangeSize,
        });
        times.get(rangeSize)!.push(performance.now() - started);
        if (copied.status !== 'complete' || target.received() !== size) throw new Error(`retrieval copy with ${rangeSize / MIB} MiB ranges did not complete`);
      } finally {
        target.restore();
      }
    }
  }
  return rangeSizes.map((rangeSize) => {
    const runs = times.get(rangeSize)!;
    return [
      `${rangeSize / MIB} MiB`,
      String(Math.ceil(size / rangeSize)),
      fmt.mibs(mibPerSecond(size, median(runs))),
      fmt.mib(Math.min(rangeSize, size)),
      runs.map((ms) => fmt.mibs(mibPerSecond(size, ms))).join(' / '),
    ];
  });
}

/** Uploads `data` until the deadline stops it with `parts` parts in the vault, one part at a time. */
async function stoppedUpload(g: BenchGlacier, data: Buffer, parts: number): Promise<UploadProgress> {
  let clock = 0;
  const stopped = await uploadToVault({
    glacier: g.glacier,
    vaultName: VAULT,
    source: countingSource(data, g.counters),
    partSize: PART_SIZE,
    description: 'bench resume',
    concurrency: 1,
    deadline: 1,
    now: () => clock,
    onProgress: (p) => {
      if (p.partsDone === parts) clock = 2;
      return Promise.resolve();
    },
  });
  if (stopped.status !== 'incomplete' || stopped.sha256Bytes !== parts * PART_SIZE) throw new Error(`the upload did not stop after ${parts} parts`);
  return stopped;
}

/**
 * A resumed upload with three quarters of the file already in the vault: with the SHA-256 checkpoint the resumed call
 * reads only the last quarter; without it, it reads the parts already there again to rebuild the SHA-256.
 */
async function resumeRows(g: BenchGlacier, data: Buffer, expected: Expected, rounds: number): Promise<string[][]> {
  // Checkpoints are kept only for files of 64 GiB and more; this benchmark's file stands in for one.
  const checkpointFrom = sha256Checkpoints.minBytes;
  sha256Checkpoints.minBytes = 0;
  try {
    return await measureResumes(g, data, expected, rounds);
  } finally {
    sha256Checkpoints.minBytes = checkpointFrom;
  }
}

async function measureResumes(g: BenchGlacier, data: Buffer, expected: Expected, rounds: number): Promise<string[][]> {
  const parts = Math.ceil(data.length / PART_SIZE);
  const done = Math.floor((parts * 3) / 4);
  const variants = ['with the checkpoint', 'without it (re-reads)'] as const;
  const runs = new Map<string, { ms: number; read: number }[]>(variants.map((v) => [v, []]));
  for (let round = 0; round < rounds; round++) {
    for (const variant of round % 2 ? [...variants].reverse() : variants) {
      const stopped = await stoppedUpload(g, data, done);
      g.counters.handedOut = 0;
      g.counters.acknowledged = 0;
      const started = performance.now();
      const result = await uploadToVault({
        glacier: g.glacier,
        vaultName: VAULT,
        source: countingSource(data, g.counters),
        partSize: PART_SIZE,
        description: 'bench resume',
        resumeUploadId: stopped.uploadId,
        resumeSha256: variant === 'with the checkpoint' ? { state: stopped.sha256State!, bytes: stopped.sha256Bytes! } : undefined,
      });
      const ms = performance.now() - started;
      if (result.status !== 'complete' || result.sha256 !== expected.sha256 || result.treeHash !== expected.treeHash)
        throw new Error(`resume ${variant} hashed wrong`);
      runs.get(variant)!.push({ ms, read: g.counters.handedOut });
      await g.glacier.send(new DeleteArchiveCommand({ accountId: '-', vaultName: VAULT, archiveId: result.archiveId! }));
    }
  }
  const baseline = median(runs.get('without it (re-reads)')!.map((r) => r.ms));
  return variants.map((variant) => {
    const results = runs.get(variant)!;
    const ms = median(results.map((r) => r.ms));
    return [
      variant,
      fmt.mib(done * PART_SIZE),
      fmt.mib(results[0].read),
      fmt.seconds(ms),
      fmt.ratio(ms / baseline),
      results.map((r) => fmt.seconds(r.ms)).join(' / '),
    ];
  });
}

async function run(options: BenchOptions): Promise<BenchmarkOutcome> {
  const size = (options.quick ? 64 : 256) * MIB;
  const rounds = options.quick ? 1 : 3;
  options.log(
    `archive streaming: ${size / MIB} MiB in ${PART_SIZE / MIB} MiB parts, concurrency ${CONCURRENCIES.join('/')}, ` +
      `${rounds} round(s) without and 1 with a ${NETWORK_DELAY_MS} ms network delay per part`,
  );
  const data = randomData(size);
  const expected: Expected = { treeHash: treeHashOf(data).toString('hex'), sha256: createHash('sha256').update(data).digest('hex') };

  // Parts and the assembled archive of one upload, one kept archive, and one retrieval's output at most.
  const g = await startGlacier(4 * size);
  try {
    // One small upload first, so sockets, the SDK and the emulator are warm before anything is timed.
    const warmUp = data.subarray(0, 3 * PART_SIZE);
    await uploadToVault({ glacier: g.glacier, vaultName: VAULT, source: countingSource(warmUp, g.counters), partSize: PART_SIZE, description: 'warm-up' });
    await uploadToVault({ glacier: g.sdkDefault, vaultName: VAULT, source: countingSource(warmUp, g.counters), partSize: PART_SIZE, description: 'warm-up' });

    const local = await uploadRounds(g, data, expected, rounds, options);
    // A ratio of adjacent runs: a few rounds even when quick, as each is one upload per variant.
    const versusRounds = Math.max(rounds, 3);
    const versusSdk = await versusSdkRows(g, data, expected, versusRounds, options);
    g.counters.partDelayMs = NETWORK_DELAY_MS;
    const delayed = await uploadRounds(g, data, expected, 1, options);
    g.counters.partDelayMs = 0;
    const copies = await copyRows(g, delayed.lastArchiveId, size, expected, rounds);
    const resumes = await resumeRows(g, data, expected, rounds);

    return {
      tables: [
        {
          title: `uploadToVault: ${size / MIB} MiB in ${PART_SIZE / MIB} MiB parts into the strict Glacier emulator (median of ${rounds} rounds without delay, 1 with)`,
          columns: ['delay per part', 'concurrency', 'MiB/s', 'vs concurrency 1', 'peak held (MiB)', 'peak held (parts)', 'complete (s)', 'each round (MiB/s)'],
          rows: [...uploadRows(local.runs, size, 0), ...uploadRows(delayed.runs, size, NETWORK_DELAY_MS)],
          notes: [
            '"Peak held" is the most bytes the source had handed to the streamer that Glacier had not yet acknowledged: the memory an upload needs, whatever the file size. It must not exceed concurrency × part size.',
            `With no delay, the emulator runs in this process (storing archives on ${g.storage}) and every byte is hashed on one JavaScript thread several times over: our tree hash, the file's SHA-256 and each part's own SHA-256 (which the Glacier client signs instead of hashing the part twice more: glacierBodyChecksums), and the emulator's tree hash on receipt and again on complete ("complete" is the emulator reassembling the archive). Parts in flight have nothing to overlap but each other's CPU work, so concurrency gains little here.`,
            `The ${NETWORK_DELAY_MS} ms rows hold each part's request that long before the emulator takes it, as a network would (8 MiB at about 80 MiB/s): this is what concurrency is for, and the ratio shows the parts in flight overlapping their network time.`,
          ],
        },
        {
          title: `uploadToVault against the Glacier SDK alone sending the same ${PART_SIZE / MIB} MiB parts through the same emulator (median of ${versusRounds}, no delay)`,
          columns: [
            'concurrency',
            'SDK alone (MiB/s)',
            'before (MiB/s)',
            'before vs SDK',
            'after (MiB/s)',
            'after vs SDK',
            'after vs SDK, each round',
            'CPU: before vs SDK',
            'CPU: after vs SDK',
            'complete (s)',
          ],
          rows: versusSdk,
          notes: [
            '"SDK alone" is the Glacier client with its default settings uploading parts already in memory with their tree hashes precomputed (Initiate, UploadMultipartPart at that concurrency, Complete): no reading, copying or hashing on our side. Its default body-checksum generator still hashes each part twice (its SHA-256 for SigV4, and its tree hash, thrown away when the command carries one), and the emulator hashes what it receives and again on complete ("complete", the same in all three).',
            "\"before\" is uploadToVault on a client with the SDK's default body checksums: each byte hashed four times on the sending side (our tree hash and file SHA-256, then the SDK's two). \"after\" is the client as functions/lib/runtime/clients.ts makes it, with glacierBodyChecksums: readPart computes each part's SHA-256 alongside its tree hash and the file's SHA-256, and the client sends those instead of hashing again, so three times; a file that fits in one request reuses the file's SHA-256, so twice.",
            'Ratios are of speeds, uploadToVault over the SDK alone; "each round" divides runs made one after another, which drift on a busy machine affects least. The CPU ratios divide the CPU time this process used (all of it on one thread here, emulator included) instead of the time taken: the work each needs, which other load on the machine hardly changes.',
          ],
        },
        {
          title: `uploadToVault resumed with three quarters of ${size / MIB} MiB already in the vault (median of ${rounds})`,
          columns: ['resumed call', 'already in the vault (MiB)', 'read from the source (MiB)', 'seconds', 'vs re-reading', 'each round (s)'],
          rows: resumes,
          notes: [
            'A Lambda invocation that runs out of time leaves its parts in the vault and returns; the next resumes the upload. The SHA-256 checkpoint it records with its progress (hash-wasm state after the parts from the start that are all in) lets the resumed call skip reading those parts: their tree hashes come from ListParts. Without it, every part already there is read again to rebuild the whole-file SHA-256, which for a file of hundreds of GiB costs each later invocation all the reading before it.',
            'Checkpoints need a SHA-256 whose state can be saved: hash-wasm, at several times the CPU cost of node:crypto, whose state cannot be. So only files of 64 GiB and more, which may need more than one invocation, are hashed with hash-wasm; smaller files, like the uploads in the table above, keep node:crypto. This benchmark lowers that size to time the resume.',
          ],
        },
        {
          title: `copyJobOutputToS3: the archive back out of a retrieval job into S3 (S3 mocked; median of ${rounds})`,
          columns: ['range size', 'ranges', 'MiB/s', 'held (MiB)', 'each round (MiB/s)'],
          rows: copies,
          notes: [
            "Each range is fetched with GetJobOutput, checked against the tree hash Glacier sends with it, and sent to S3 as one multipart part; the whole file's tree hash and SHA-256 are checked before the upload is completed. One range is held at a time; 64 MiB is the default range size.",
          ],
        },
      ],
    };
  } finally {
    await g.stop();
  }
}

export const archiveStreamingBenchmark: Benchmark = { id: 'archive-streaming', title: 'Archive streaming through the Glacier emulator', run };
