// Snapshots a HealthOmics run to S3 (GetRun, every task, every log stream, streamed and gzipped) with a checksummed manifest.
import { OMICS_LOG_GROUP } from '../contract';
import { CloudWatchLogsClient, GetLogEventsCommand, type GetLogEventsCommandOutput } from '@aws-sdk/client-cloudwatch-logs';
import { GetRunCommand, GetRunTaskCommand, OmicsClient, paginateListRunTasks, type GetRunResponse, type TaskListItem } from '@aws-sdk/client-omics';
import { S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { createHash } from 'node:crypto';
import { PassThrough, Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';

/** Bumped when snapshot.json changes shape, so readers know what they hold. */
export const SNAPSHOT_SCHEMA_VERSION = 1;
/** Parts of 8 MiB, two in flight: a log of any size costs a few tens of MiB. */
const PART_SIZE = 8 * 1024 * 1024;
const QUEUE_SIZE = 2;

/** GetRun's uuid is not the one expected: the run id was reused after the expected run was deleted. */
export class RunUuidMismatch extends Error {
  override readonly name = 'RunUuidMismatch';
  constructor(
    readonly runId: string,
    readonly expectedUuid: string,
    readonly actualUuid: string | undefined,
  ) {
    super(`Run ${runId} has uuid ${actualUuid ?? '(none)'}, not ${expectedUuid}: the run id was reused`);
  }
}

/** Dates become ISO strings, as JSON.stringify writes them. */
export type Jsonified<T> = T extends Date ? string : T extends (infer U)[] ? Jsonified<U>[] : T extends object ? { [K in keyof T]: Jsonified<T[K]> } : T;

export interface SnapshotObject {
  key: string;
  size: number;
  sha256: string;
  contentType: string;
}

export type LogStreamKind = 'engine' | 'run' | 'manifest' | 'task';

/** One log stream the snapshot looked for: captured to `key`, or recorded as missing. */
export interface LogStreamCapture {
  kind: LogStreamKind;
  logGroup: string;
  logStream: string;
  taskId?: string;
  status: 'CAPTURED' | 'MISSING';
  key?: string;
  events: number;
  /** Bytes and SHA-256 of the JSON lines before gzip, to check a download against. */
  uncompressedBytes: number;
  uncompressedSha256?: string;
  missingReason?: string;
}

/** `snapshot.json`: what was captured and its checksums. */
export interface SnapshotManifest {
  schemaVersion: number;
  runId: string;
  runUuid: string;
  runArn?: string;
  runStatus?: string;
  runName?: string;
  capturedAt: string;
  location: string;
  counts: { objects: number; tasks: number; logStreams: number; missingLogStreams: number; logEvents: number };
  logStreams: LogStreamCapture[];
  /** Every object under the location except snapshot.json itself. */
  objects: SnapshotObject[];
}

export interface RunSnapshot {
  runId: string;
  runUuid: string;
  /** `s3://<bucket>/runs/<uuid>/` */
  location: string;
  capturedAt: string;
  /** Every object written, snapshot.json last. */
  objects: SnapshotObject[];
  /** Every GetRun field, dates as ISO strings. */
  run: Jsonified<GetRunResponse>;
  taskCount: number;
  /** Log streams captured. */
  logStreams: string[];
  /** Log streams looked for and not found (recorded, not fatal). */
  missingLogStreams: string[];
  logEvents: number;
  manifestKey: string;
  /** Run-cache locations the tasks used; the archive never touches them, even under the output folder. */
  cacheUris: string[];
}

export interface SnapshotRunArgs {
  omics: OmicsClient;
  logs: CloudWatchLogsClient;
  s3: S3Client;
  bucket: string;
  runId: string;
  /** The uuid the caller knows the run by; a different one from GetRun means the id was reused (RunUuidMismatch). */
  expectedUuid?: string;
  /** Log group for streams GetRun does not name by ARN (default /aws/omics/WorkflowLog). */
  logGroup?: string;
  /** GetRunTask calls and task log captures in flight at once (default 8). */
  taskConcurrency?: number;
  now?: () => Date;
}

/** Runs `fn` over `items` with at most `limit` calls in flight, results in input order. */
async function mapBounded<T, R>(items: readonly T[], limit: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await fn(items[index], index);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  return results;
}

/** Log group and stream from a log-stream ARN (`...:log-group:<group>:log-stream:<stream>`), or a bare stream name. */
export function parseLogStream(value: string, defaultGroup: string): { logGroup: string; logStream: string } {
  const match = /^arn:[^:]+:logs:[^:]*:[^:]*:log-group:(.+?):log-stream:(.+)$/.exec(value);
  return match ? { logGroup: match[1], logStream: match[2] } : { logGroup: defaultGroup, logStream: value };
}

function isNotFound(error: unknown): boolean {
  return (error as Error | undefined)?.name === 'ResourceNotFoundException';
}

const json = (value: unknown) => JSON.parse(JSON.stringify(value)) as unknown;

interface Uploaded {
  object: SnapshotObject;
}

/**
 * Streams `source` (optionally through gzip) into one S3 object with lib-storage's Upload, hashing the stored bytes
 * as they pass, so nothing larger than a couple of parts is ever held.
 */
async function uploadStream(
  s3: S3Client,
  bucket: string,
  key: string,
  source: AsyncIterable<string | Buffer> | Iterable<string | Buffer>,
  contentType: string,
  gzip: boolean,
): Promise<Uploaded> {
  const hash = createHash('sha256');
  let size = 0;
  const tap = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      hash.update(chunk);
      size += chunk.length;
      callback(null, chunk);
    },
  });
  const body = new PassThrough();
  const upload = new Upload({
    client: s3,
    params: { Bucket: bucket, Key: key, Body: body, ContentType: contentType },
    partSize: PART_SIZE,
    queueSize: QUEUE_SIZE,
  });
  // If S3 fails, stop the producer too; if the producer fails, the pipeline destroys `body` and the upload aborts.
  const uploaded = upload.done().catch((error: unknown) => {
    body.destroy(error as Error);
    throw error;
  });
  const input = Readable.from(source, { objectMode: false });
  await Promise.all([gzip ? pipeline(input, createGzip(), tap, body) : pipeline(input, tap, body), uploaded]);
  return { object: { key, size, sha256: hash.digest('hex'), contentType } };
}

/** The first page of a log stream, or undefined if the stream (or its group) does not exist. */
async function openLogStream(logs: CloudWatchLogsClient, logGroup: string, logStream: string) {
  const fetch = (nextToken?: string) =>
    logs.send(new GetLogEventsCommand({ logGroupName: logGroup, logStreamName: logStream, startFromHead: true, nextToken }));
  let first: GetLogEventsCommandOutput;
  try {
    first = await fetch();
  } catch (error) {
    if (isNotFound(error)) return { missing: (error as Error).message || 'ResourceNotFoundException' };
    throw error;
  }
  const stats = { events: 0, bytes: 0, hash: createHash('sha256') };
  // One chunk per page: a page is at most 10,000 events / 1 MB, so this is the most ever held of the log.
  async function* pages(): AsyncGenerator<string> {
    let page = first;
    let sent: string | undefined;
    for (;;) {
      let chunk = '';
      for (const event of page.events ?? []) {
        chunk += `${JSON.stringify({ timestamp: event.timestamp, ingestionTime: event.ingestionTime, message: event.message })}\n`;
      }
      if (chunk) {
        stats.events += page.events?.length ?? 0;
        stats.bytes += Buffer.byteLength(chunk);
        stats.hash.update(chunk);
        yield chunk;
      }
      // GetLogEvents signals the end by handing back the token it was given.
      const next = page.nextForwardToken;
      if (!next || next === sent) return;
      sent = next;
      page = await fetch(next);
    }
  }
  return { pages: pages(), stats };
}

async function captureLogStream(
  args: { logs: CloudWatchLogsClient; s3: S3Client; bucket: string },
  target: { kind: LogStreamKind; logGroup: string; logStream: string; taskId?: string; key: string },
): Promise<{ capture: LogStreamCapture; object?: SnapshotObject }> {
  const base = { kind: target.kind, logGroup: target.logGroup, logStream: target.logStream, ...(target.taskId ? { taskId: target.taskId } : {}) };
  const opened = await openLogStream(args.logs, target.logGroup, target.logStream);
  if ('missing' in opened) {
    return { capture: { ...base, status: 'MISSING', events: 0, uncompressedBytes: 0, missingReason: opened.missing } };
  }
  const { object } = await uploadStream(args.s3, args.bucket, target.key, opened.pages, 'application/gzip', true);
  return {
    object,
    capture: {
      ...base,
      status: 'CAPTURED',
      key: target.key,
      events: opened.stats.events,
      uncompressedBytes: opened.stats.bytes,
      uncompressedSha256: opened.stats.hash.digest('hex'),
    },
  };
}

/**
 * Snapshots run `runId` under `s3://<bucket>/runs/<uuid>/`: run.json (every GetRun field), tasks.jsonl.gz (every
 * task, ListRunTasks enriched with GetRunTask), logs/*.jsonl.gz (engine, run, manifest and task log streams, one JSON
 * line per event) and finally snapshot.json listing every object with its size and SHA-256. Running it again
 * overwrites the same keys. A log stream that does not exist is recorded as missing.
 */
export async function snapshotRun(args: SnapshotRunArgs): Promise<RunSnapshot> {
  const { omics, logs, s3, bucket, runId } = args;
  const defaultGroup = args.logGroup ?? OMICS_LOG_GROUP;
  const concurrency = args.taskConcurrency ?? 8;
  const capturedAt = (args.now ?? (() => new Date()))().toISOString();

  const { $metadata: _metadata, ...runResponse } = await omics.send(new GetRunCommand({ id: runId }));
  const runUuid = runResponse.uuid;
  if (args.expectedUuid !== undefined && runUuid !== args.expectedUuid) throw new RunUuidMismatch(runId, args.expectedUuid, runUuid);
  if (!runUuid) throw new Error(`GetRun for run ${runId} returned no uuid`);
  const prefix = `runs/${runUuid}/`;
  const location = `s3://${bucket}/${prefix}`;
  const run = json(runResponse) as Jsonified<GetRunResponse>;
  const objects: SnapshotObject[] = [];

  objects.push((await uploadStream(s3, bucket, `${prefix}run.json`, [JSON.stringify(run, null, 2)], 'application/json', false)).object);

  // Tasks: page by page, each page's GetRunTask calls bounded, written in ListRunTasks order as they come.
  const taskStreams: { taskId: string; logStream: string }[] = [];
  const cacheUris = new Set<string>();
  async function* taskLines(): AsyncGenerator<string> {
    for await (const page of paginateListRunTasks({ client: omics, pageSize: 100 }, { id: runId })) {
      const items: TaskListItem[] = page.items ?? [];
      const details = await mapBounded(items, concurrency, async (item) => {
        const { $metadata: _m, ...detail } = await omics.send(new GetRunTaskCommand({ id: runId, taskId: item.taskId }));
        return { ...item, ...detail };
      });
      let chunk = '';
      for (const task of details) {
        if (task.taskId) taskStreams.push({ taskId: task.taskId, logStream: task.logStream ?? `run/${runId}/task/${task.taskId}` });
        if (task.cacheS3Uri) cacheUris.add(task.cacheS3Uri);
        chunk += `${JSON.stringify(task)}\n`;
      }
      if (chunk) yield chunk;
    }
  }
  objects.push((await uploadStream(s3, bucket, `${prefix}tasks.jsonl.gz`, taskLines(), 'application/gzip', true)).object);

  const engine = parseLogStream(runResponse.logLocation?.engineLogStream ?? `run/${runId}/engine`, defaultGroup);
  const runLog = parseLogStream(runResponse.logLocation?.runLogStream ?? `run/${runId}`, defaultGroup);
  const targets = [
    { kind: 'engine' as const, ...engine, key: `${prefix}logs/engine.jsonl.gz` },
    { kind: 'run' as const, ...runLog, key: `${prefix}logs/run.jsonl.gz` },
    { kind: 'manifest' as const, logGroup: defaultGroup, logStream: `manifest/run/${runId}/${runUuid}`, key: `${prefix}logs/manifest.jsonl.gz` },
    ...taskStreams.map((t) => ({
      kind: 'task' as const,
      taskId: t.taskId,
      ...parseLogStream(t.logStream, defaultGroup),
      key: `${prefix}logs/tasks/${t.taskId}.jsonl.gz`,
    })),
  ];
  const captured = await mapBounded(targets, concurrency, (target) => captureLogStream({ logs, s3, bucket }, target));
  for (const c of captured) if (c.object) objects.push(c.object);
  const captures = captured.map((c) => c.capture);

  const manifest: SnapshotManifest = {
    schemaVersion: SNAPSHOT_SCHEMA_VERSION,
    runId,
    runUuid,
    runArn: runResponse.arn,
    runStatus: runResponse.status,
    runName: runResponse.name,
    capturedAt,
    location,
    counts: {
      objects: objects.length,
      tasks: taskStreams.length,
      logStreams: captures.filter((c) => c.status === 'CAPTURED').length,
      missingLogStreams: captures.filter((c) => c.status === 'MISSING').length,
      logEvents: captures.reduce((sum, c) => sum + c.events, 0),
    },
    logStreams: captures,
    objects,
  };
  const manifestKey = `${prefix}snapshot.json`;
  const manifestObject = (await uploadStream(s3, bucket, manifestKey, [JSON.stringify(manifest, null, 2)], 'application/json', false)).object;

  return {
    runId,
    runUuid,
    location,
    capturedAt,
    objects: [...objects, manifestObject],
    run,
    taskCount: taskStreams.length,
    logStreams: captures.filter((c) => c.status === 'CAPTURED').map((c) => c.logStream),
    missingLogStreams: captures.filter((c) => c.status === 'MISSING').map((c) => c.logStream),
    logEvents: manifest.counts.logEvents,
    manifestKey,
    cacheUris: [...cacheUris],
  };
}
