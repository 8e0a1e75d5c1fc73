// Unit tests for the run snapshot: every GetRun field, paginated tasks, streamed logs, missing streams, reused ids.
import { CloudWatchLogsClient, GetLogEventsCommand, ResourceNotFoundException as LogsNotFound, type OutputLogEvent } from '@aws-sdk/client-cloudwatch-logs';
import {
  GetRunCommand,
  GetRunTaskCommand,
  ListRunTasksCommand,
  OmicsClient,
  ResourceNotFoundException as OmicsNotFound,
  type GetRunTaskResponse,
  type TaskListItem,
} from '@aws-sdk/client-omics';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import { createHash } from 'node:crypto';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { createGunzip, gunzipSync } from 'node:zlib';
import { RunUuidMismatch, snapshotRun, type SnapshotManifest } from '../../../../functions/lib/archive/snapshot-run';

const RUN_ID = '7830534';
const UUID = '96c57683-74bf-9d6d-ae7e-f09b097db14a';
const NOW = new Date('2025-06-01T12:00:00.000Z');
const GROUP = '/aws/omics/WorkflowLog';
const streamArn = (stream: string) => `arn:aws:logs:us-west-2:123456789012:log-group:${GROUP}:log-stream:${stream}`;

const omics = new OmicsClient({ region: 'us-east-1' });
const logs = new CloudWatchLogsClient({ region: 'us-east-1' });
const s3 = new S3Client({ region: 'us-east-1' });
const omicsMock = mockClient(omics);
const logsMock = mockClient(logs);
const s3Mock = mockClient(s3);

const sha256 = (data: Buffer | string) => createHash('sha256').update(data).digest('hex');

/** Objects that landed in the mocked S3, by key; `partSink` may take a key's parts instead (for the 200 MB log). */
let objects: Map<string, Buffer>;
let parts: Map<string, Buffer[]>;
let partSink: ((key: string, partNumber: number, body: Buffer) => boolean) | undefined;

function getRunResponse(overrides: Record<string, unknown> = {}) {
  return {
    $metadata: {},
    arn: `arn:aws:omics:us-west-2:123456789012:run/${RUN_ID}`,
    id: RUN_ID,
    runId: RUN_ID,
    uuid: UUID,
    status: 'COMPLETED' as const,
    name: 'RunGroupMaxGpuTest',
    workflowId: '4074992',
    workflowType: 'PRIVATE' as const,
    workflowVersionName: '3.0.0',
    runGroupId: '9938959',
    priority: 1,
    parameters: { sample: 'NA12878', nested: { depth: 30 } },
    storageType: 'DYNAMIC' as const,
    storageCapacity: 1200,
    outputUri: 's3://amzn-s3-demo-bucket/output',
    runOutputUri: `s3://amzn-s3-demo-bucket/output/${RUN_ID}`,
    logLevel: 'ALL' as const,
    logLocation: { engineLogStream: streamArn(`run/${RUN_ID}/engine`), runLogStream: streamArn(`run/${RUN_ID}`) },
    retentionMode: 'RETAIN' as const,
    roleArn: 'arn:aws:iam::123456789012:role/OmicsRole',
    startedBy: 'arn:aws:iam::123456789012:user/lab',
    creationTime: new Date('2025-05-30T10:00:00.000Z'),
    startTime: new Date('2025-05-30T10:05:00.000Z'),
    stopTime: new Date('2025-05-30T12:05:00.000Z'),
    tags: { project: 'p1' },
    digest: 'sha256:a23a6fc5',
    resourceDigests: { 'image:1': 'sha256:1' },
    engineVersion: '24.10.4',
    accelerators: 'GPU' as const,
    workflowOwnerId: '123456789012',
    ...overrides,
  };
}

function taskItem(i: number): TaskListItem & GetRunTaskResponse {
  const taskId = String(5000000 + i);
  return {
    taskId,
    status: 'COMPLETED',
    name: `task-${i}`,
    cpus: 2,
    memory: 8,
    gpus: 0,
    instanceType: 'omics.c.large',
    cacheHit: false,
    creationTime: new Date(Date.UTC(2025, 4, 30, 10, 6, i % 60)),
    startTime: new Date(Date.UTC(2025, 4, 30, 10, 7, i % 60)),
    stopTime: new Date(Date.UTC(2025, 4, 30, 10, 8, i % 60)),
  };
}

/** Serves `count` tasks through ListRunTasks pages (tokens "p<offset>") and GetRunTask, tracking GetRunTask concurrency. */
function serveTasks(count: number, options: { delayMs?: number } = {}) {
  const seen = { inFlight: 0, maxInFlight: 0 };
  omicsMock.on(ListRunTasksCommand).callsFake((input: { id: string; startingToken?: string; maxResults?: number }) => {
    expect(input.id).toBe(RUN_ID);
    const offset = input.startingToken ? Number(input.startingToken.slice(1)) : 0;
    const size = input.maxResults ?? 100;
    const items = Array.from({ length: Math.max(0, Math.min(size, count - offset)) }, (_, i) => {
      const { taskId, status, name, cpus, memory, creationTime, startTime, stopTime, gpus, instanceType, cacheHit } = taskItem(offset + i);
      return { taskId, status, name, cpus, memory, creationTime, startTime, stopTime, gpus, instanceType, cacheHit };
    });
    return Promise.resolve({ items, ...(offset + size < count ? { nextToken: `p${offset + size}` } : {}) });
  });
  omicsMock.on(GetRunTaskCommand).callsFake(async (input: { id: string; taskId: string }) => {
    seen.inFlight++;
    seen.maxInFlight = Math.max(seen.maxInFlight, seen.inFlight);
    if (options.delayMs) await new Promise((r) => setTimeout(r, options.delayMs));
    seen.inFlight--;
    const i = Number(input.taskId) - 5000000;
    return {
      ...taskItem(i),
      statusMessage: 'done',
      logStream: streamArn(`run/${RUN_ID}/task/${input.taskId}`),
      imageDetails: { image: 'repo/img:1', imageDigest: 'sha256:feed', sourceImage: 'docker.io/img:1' },
    };
  });
  return seen;
}

/** Serves log streams from in-memory event lists, `pageSize` events a page, ending by repeating the token. */
function serveLogs(streams: Record<string, OutputLogEvent[]>, pageSize = 2) {
  logsMock.on(GetLogEventsCommand).callsFake((input: { logGroupName: string; logStreamName: string; nextToken?: string; startFromHead?: boolean }) => {
    expect(input.logGroupName).toBe(GROUP);
    expect(input.startFromHead).toBe(true);
    const events = streams[input.logStreamName];
    if (!events) throw new LogsNotFound({ message: 'The specified log stream does not exist.', $metadata: {} });
    const offset = input.nextToken ? Number(input.nextToken.slice(2)) : 0;
    const page = events.slice(offset, offset + pageSize);
    return Promise.resolve({ events: page, nextForwardToken: `f/${offset + page.length}`, nextBackwardToken: `b/${offset}` });
  });
}

const logEvents = (count: number, label: string): OutputLogEvent[] =>
  Array.from({ length: count }, (_, i) => ({ timestamp: 1748599200000 + i, ingestionTime: 1748599201000 + i, message: `${label} ${i}` }));

const lines = (gz: Buffer) => gunzipSync(gz).toString().split('\n').filter(Boolean);
const manifestOf = () => JSON.parse(objects.get(`runs/${UUID}/snapshot.json`)!.toString()) as SnapshotManifest;

beforeEach(() => {
  objects = new Map();
  parts = new Map();
  partSink = undefined;
  omicsMock.reset();
  logsMock.reset();
  s3Mock.reset();
  s3Mock.on(PutObjectCommand).callsFake((input: { Key: string; Body?: unknown }) => {
    objects.set(input.Key, Buffer.from(input.Body as Uint8Array));
    return Promise.resolve({ ETag: '"e"' });
  });
  s3Mock.on(CreateMultipartUploadCommand).callsFake((input: { Key: string }) => Promise.resolve({ UploadId: `u:${input.Key}` }));
  s3Mock.on(UploadPartCommand).callsFake((input: { Key: string; PartNumber: number; Body?: unknown }) => {
    const body = Buffer.from(input.Body as Uint8Array);
    if (!partSink?.(input.Key, input.PartNumber, body)) {
      const list = parts.get(input.Key) ?? [];
      list[input.PartNumber - 1] = body;
      parts.set(input.Key, list);
    }
    return Promise.resolve({ ETag: `"${input.PartNumber}"` });
  });
  s3Mock.on(CompleteMultipartUploadCommand).callsFake((input: { Key: string }) => {
    if (parts.has(input.Key)) objects.set(input.Key, Buffer.concat(parts.get(input.Key)!));
    return Promise.resolve({});
  });
  s3Mock.on(AbortMultipartUploadCommand).resolves({});
});

const snapshot = (extra: Partial<Parameters<typeof snapshotRun>[0]> = {}) =>
  snapshotRun({ omics, logs, s3, bucket: 'snapshots', runId: RUN_ID, now: () => NOW, ...extra });

describe('snapshotRun', () => {
  it('writes run.json, tasks, every log stream and a checksummed snapshot.json under runs/<uuid>/', async () => {
    omicsMock.on(GetRunCommand, { id: RUN_ID }).resolves(getRunResponse());
    serveTasks(3);
    serveLogs({
      [`run/${RUN_ID}/engine`]: logEvents(5, 'engine'),
      [`run/${RUN_ID}`]: logEvents(3, '{"runStatus":"RUNNING"}'),
      [`manifest/run/${RUN_ID}/${UUID}`]: logEvents(4, '{"arn":"x"}'),
      [`run/${RUN_ID}/task/5000000`]: logEvents(1, 'task0'),
      [`run/${RUN_ID}/task/5000001`]: [],
      [`run/${RUN_ID}/task/5000002`]: logEvents(7, 'task2 with "quotes" and\nnewline'),
    });

    const result = await snapshot({ expectedUuid: UUID });

    expect(result).toMatchObject({
      runId: RUN_ID,
      runUuid: UUID,
      location: `s3://snapshots/runs/${UUID}/`,
      capturedAt: NOW.toISOString(),
      taskCount: 3,
      missingLogStreams: [],
      logEvents: 20,
      manifestKey: `runs/${UUID}/snapshot.json`,
    });
    expect(result.logStreams).toEqual([
      `run/${RUN_ID}/engine`,
      `run/${RUN_ID}`,
      `manifest/run/${RUN_ID}/${UUID}`,
      `run/${RUN_ID}/task/5000000`,
      `run/${RUN_ID}/task/5000001`,
      `run/${RUN_ID}/task/5000002`,
    ]);

    // run.json: every GetRun field, dates as ISO strings.
    const { $metadata: _m, ...expected } = getRunResponse();
    const runJson = JSON.parse(objects.get(`runs/${UUID}/run.json`)!.toString()) as Record<string, unknown>;
    expect(runJson).toEqual(JSON.parse(JSON.stringify(expected)));
    expect(runJson.stopTime).toBe('2025-05-30T12:05:00.000Z');
    expect(result.run.creationTime).toBe('2025-05-30T10:00:00.000Z');

    // tasks.jsonl.gz: ListRunTasks items enriched with GetRunTask.
    const tasks = lines(objects.get(`runs/${UUID}/tasks.jsonl.gz`)!).map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(tasks.map((t) => t.taskId)).toEqual(['5000000', '5000001', '5000002']);
    expect(tasks[2]).toMatchObject({
      name: 'task-2',
      statusMessage: 'done',
      logStream: streamArn(`run/${RUN_ID}/task/5000002`),
      imageDetails: { image: 'repo/img:1' },
    });
    expect(tasks[2].startTime).toBe('2025-05-30T10:07:02.000Z');

    // Logs: one JSON line per event, lossless (quotes, embedded newlines).
    const engine = lines(objects.get(`runs/${UUID}/logs/engine.jsonl.gz`)!).map((l) => JSON.parse(l) as OutputLogEvent);
    expect(engine).toEqual(logEvents(5, 'engine'));
    const task2 = lines(objects.get(`runs/${UUID}/logs/tasks/5000002.jsonl.gz`)!).map((l) => JSON.parse(l) as OutputLogEvent);
    expect(task2.map((e) => e.message)).toEqual(logEvents(7, 'task2 with "quotes" and\nnewline').map((e) => e.message));
    expect(lines(objects.get(`runs/${UUID}/logs/tasks/5000001.jsonl.gz`)!)).toEqual([]);

    // snapshot.json lists every other object with the size and SHA-256 of the bytes stored.
    const manifest = manifestOf();
    expect(manifest).toMatchObject({ schemaVersion: 1, runId: RUN_ID, runUuid: UUID, runStatus: 'COMPLETED', capturedAt: NOW.toISOString() });
    expect(manifest.counts).toEqual({ objects: 8, tasks: 3, logStreams: 6, missingLogStreams: 0, logEvents: 20 });
    expect(new Set(manifest.objects.map((o) => o.key))).toEqual(new Set([...objects.keys()].filter((k) => !k.endsWith('snapshot.json'))));
    for (const object of manifest.objects) {
      expect(object.size).toBe(objects.get(object.key)!.length);
      expect(object.sha256).toBe(sha256(objects.get(object.key)!));
    }
    const engineCapture = manifest.logStreams.find((l) => l.kind === 'engine')!;
    expect(engineCapture).toMatchObject({ status: 'CAPTURED', events: 5, key: `runs/${UUID}/logs/engine.jsonl.gz` });
    expect(engineCapture.uncompressedSha256).toBe(sha256(gunzipSync(objects.get(`runs/${UUID}/logs/engine.jsonl.gz`)!)));
    expect(result.objects.at(-1)).toMatchObject({ key: `runs/${UUID}/snapshot.json`, sha256: sha256(objects.get(`runs/${UUID}/snapshot.json`)!) });
  });

  it('pages 1,000 tasks through ListRunTasks and enriches each with GetRunTask, bounded', async () => {
    omicsMock.on(GetRunCommand).resolves(getRunResponse());
    const seen = serveTasks(1000, { delayMs: 1 });
    serveLogs({}, 100);

    const result = await snapshot({ taskConcurrency: 6 });

    expect(omicsMock).toHaveReceivedCommandTimes(ListRunTasksCommand, 10);
    expect(omicsMock).toHaveReceivedCommandTimes(GetRunTaskCommand, 1000);
    expect(seen.maxInFlight).toBeLessThanOrEqual(6);
    expect(seen.maxInFlight).toBeGreaterThan(1);
    const tasks = lines(objects.get(`runs/${UUID}/tasks.jsonl.gz`)!).map((l) => JSON.parse(l) as { taskId: string; logStream: string });
    expect(tasks.map((t) => t.taskId)).toEqual(Array.from({ length: 1000 }, (_, i) => String(5000000 + i)));
    expect(result.taskCount).toBe(1000);
    // Every stream is missing here: recorded (1,000 task streams + engine, run, manifest), not fatal.
    expect(result.missingLogStreams).toHaveLength(1003);
    expect(manifestOf().counts).toMatchObject({ tasks: 1000, missingLogStreams: 1003, logStreams: 0, objects: 2 });
  });

  it('records missing log streams as missing and carries on', async () => {
    omicsMock.on(GetRunCommand).resolves(getRunResponse({ logLocation: undefined }));
    serveTasks(2);
    serveLogs({ [`run/${RUN_ID}`]: logEvents(2, 'run'), [`run/${RUN_ID}/task/5000001`]: logEvents(2, 'task1') });

    const result = await snapshot();

    expect(result.missingLogStreams).toEqual([`run/${RUN_ID}/engine`, `manifest/run/${RUN_ID}/${UUID}`, `run/${RUN_ID}/task/5000000`]);
    expect(result.logStreams).toEqual([`run/${RUN_ID}`, `run/${RUN_ID}/task/5000001`]);
    const missing = manifestOf().logStreams.filter((l) => l.status === 'MISSING');
    expect(missing[0]).toMatchObject({ kind: 'engine', events: 0, missingReason: 'The specified log stream does not exist.' });
    expect(missing.every((l) => l.key === undefined)).toBe(true);
    expect(objects.has(`runs/${UUID}/logs/engine.jsonl.gz`)).toBe(false);
  });

  it('fails on log errors other than a missing stream', async () => {
    omicsMock.on(GetRunCommand).resolves(getRunResponse());
    serveTasks(0);
    logsMock.on(GetLogEventsCommand).rejects(Object.assign(new Error('User is not authorized'), { name: 'AccessDeniedException' }));
    await expect(snapshot()).rejects.toThrow('User is not authorized');
    expect(objects.has(`runs/${UUID}/snapshot.json`)).toBe(false);
  });

  it('throws RunUuidMismatch when the run id now belongs to another run, writing nothing', async () => {
    omicsMock.on(GetRunCommand).resolves(getRunResponse({ uuid: '11111111-2222-3333-4444-555555555555' }));
    const attempt = snapshot({ expectedUuid: UUID });
    await expect(attempt).rejects.toBeInstanceOf(RunUuidMismatch);
    await expect(attempt).rejects.toMatchObject({ name: 'RunUuidMismatch', runId: RUN_ID, expectedUuid: UUID });
    expect(s3Mock.calls()).toHaveLength(0);
  });

  it('lets GetRun ResourceNotFoundException through (the run is gone)', async () => {
    omicsMock.on(GetRunCommand).rejects(new OmicsNotFound({ message: 'Run 7830534 not found', $metadata: {} }));
    await expect(snapshot()).rejects.toBeInstanceOf(OmicsNotFound);
  });

  it('is idempotent: a second run writes the same keys with the same bytes', async () => {
    omicsMock.on(GetRunCommand).resolves(getRunResponse());
    serveTasks(2);
    serveLogs({ [`run/${RUN_ID}/engine`]: logEvents(3, 'e'), [`run/${RUN_ID}/task/5000000`]: logEvents(3, 't') });
    const first = await snapshot();
    const firstObjects = new Map(objects);
    objects.clear();
    const second = await snapshot();
    expect(second.objects).toEqual(first.objects);
    expect([...objects.keys()].sort()).toEqual([...firstObjects.keys()].sort());
    for (const [key, body] of objects) expect(body.equals(firstObjects.get(key)!)).toBe(true);
  });

  it('reads a log stream until GetLogEvents hands back the same token', async () => {
    omicsMock.on(GetRunCommand).resolves(getRunResponse());
    serveTasks(0);
    serveLogs({ [`run/${RUN_ID}/engine`]: logEvents(7, 'e') }, 3);
    await snapshot();
    const engineCalls = logsMock.commandCalls(GetLogEventsCommand).filter((c) => c.args[0].input.logStreamName === `run/${RUN_ID}/engine`);
    // Pages of 3, 3, 1, then an empty page whose token equals the one sent.
    expect(engineCalls.map((c) => c.args[0].input.nextToken)).toEqual([undefined, 'f/3', 'f/6', 'f/7']);
  });

  it('streams a 200 MB engine log through gzip into S3 without holding it in memory', async () => {
    const PAGES = 100;
    const PER_PAGE = 10_000;
    const MESSAGE_BYTES = 200;
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const measure = () => {
      gc();
      const m = process.memoryUsage();
      return m.heapUsed + m.arrayBuffers;
    };

    // Lazily generated pages: the mock builds each page when asked and hashes the JSON lines the snapshot should write.
    const pool = createHash('sha512').update('pool').digest('hex').repeat(64); // 8 KiB of hex
    const expected = createHash('sha256');
    let expectedLines = 0;
    let peak = 0;
    omicsMock.on(GetRunCommand).resolves(getRunResponse());
    serveTasks(0);
    logsMock.on(GetLogEventsCommand).callsFake(async (input: { logStreamName: string; nextToken?: string }) => {
      if (input.logStreamName !== `run/${RUN_ID}/engine`) throw new LogsNotFound({ message: 'The specified log stream does not exist.', $metadata: {} });
      const page = input.nextToken ? Number(input.nextToken.slice(2)) : 0;
      // The mocks remember every call's arguments and results (whole pages and parts): forget them, they are the test's.
      // (Sinon refuses a reset while the stub is being invoked, hence the tick first.)
      await new Promise(setImmediate);
      logsMock.resetHistory();
      s3Mock.resetHistory();
      if (page % 4 === 0) peak = Math.max(peak, measure() - baseline); // a forced GC costs; every fourth page is plenty
      if (page >= PAGES) return { events: [], nextForwardToken: input.nextToken };
      const events: OutputLogEvent[] = [];
      for (let i = 0; i < PER_PAGE; i++) {
        const n = page * PER_PAGE + i;
        const head = `2025-05-30T10:00:00Z INFO [task-${n % 97}] record ${n} `;
        const message = head + pool.substr((n * 7919) % 7000, MESSAGE_BYTES - head.length);
        const event = { timestamp: 1748599200000 + n, ingestionTime: 1748599200500 + n, message };
        events.push(event);
        // The messages need no JSON escaping, so this is JSON.stringify's output, built more cheaply.
        expected.update(`{"timestamp":${event.timestamp},"ingestionTime":${event.ingestionTime},"message":"${message}"}\n`);
        expectedLines++;
      }
      return { events, nextForwardToken: `f/${page + 1}` };
    });

    // The engine log's parts are checked as they arrive (in part order), not kept.
    const key = `runs/${UUID}/logs/engine.jsonl.gz`;
    const stored = createHash('sha256');
    const gunzip = createGunzip();
    const decompressed = createHash('sha256');
    let storedBytes = 0;
    let newlines = 0;
    gunzip.on('data', (chunk: Buffer) => {
      decompressed.update(chunk);
      for (let i = chunk.indexOf(10); i !== -1; i = chunk.indexOf(10, i + 1)) newlines++;
    });
    const gunzipped = new Promise((resolve, reject) => gunzip.on('end', resolve).on('error', reject));
    const pending = new Map<number, Buffer>();
    let nextPart = 1;
    let partCount = 0;
    partSink = (partKey, partNumber, body) => {
      if (partKey !== key) return false;
      partCount++;
      pending.set(partNumber, body);
      while (pending.has(nextPart)) {
        const part = pending.get(nextPart)!;
        pending.delete(nextPart++);
        stored.update(part);
        storedBytes += part.length;
        gunzip.write(part);
      }
      return true;
    };

    const baseline = measure();
    const result = await snapshot();
    gunzip.end();
    await gunzipped;

    expect(expectedLines).toBe(PAGES * PER_PAGE);
    expect(partCount).toBeGreaterThan(1); // multipart, not one buffered PutObject
    expect(newlines).toBe(PAGES * PER_PAGE);
    const digest = expected.digest('hex');
    expect(decompressed.digest('hex')).toBe(digest);
    const capture = manifestOf().logStreams.find((l) => l.kind === 'engine')!;
    expect(capture).toMatchObject({ status: 'CAPTURED', events: PAGES * PER_PAGE, uncompressedSha256: digest });
    expect(capture.uncompressedBytes).toBeGreaterThan(PAGES * PER_PAGE * MESSAGE_BYTES);
    const object = result.objects.find((o) => o.key === key)!;
    expect(object).toMatchObject({ size: storedBytes, sha256: stored.digest('hex') });
    expect(peak).toBeLessThan(64 * 1024 * 1024);
  }, 30_000);
});
