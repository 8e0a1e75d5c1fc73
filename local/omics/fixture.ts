// Loads a synthetic HealthOmics run into the local cloud: outputs to S3, logs to CloudWatch Logs, the status event, the emulator.
import {
  CloudWatchLogsClient,
  CreateLogGroupCommand,
  CreateLogStreamCommand,
  PutLogEventsCommand,
  ResourceAlreadyExistsException,
  type InputLogEvent,
} from '@aws-sdk/client-cloudwatch-logs';
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { createReadStream } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { defaultEngineLog, defaultManifestLog, defaultRunLog, deterministicContent, logLineCount, logLines } from './content';
import type { OmicsEmulator } from './emulator';
import {
  FixtureError,
  WORKFLOW_LOG_GROUP,
  parseRunFixture,
  type LogLines,
  type OutputFileSchema,
  type RunFixture,
  type RunFixtureInput,
  type StoredRun,
  type StoredTask,
  type TaskFixtureSchema,
} from './model';
import type { z } from 'zod';

export type TaskFixtureInput = z.input<typeof TaskFixtureSchema>;
export type OutputFileInput = z.input<typeof OutputFileSchema>;

/** PutLogEvents limits: 10,000 events and 1,048,576 bytes (each event's UTF-8 message plus 26 bytes) a call. */
const MAX_BATCH_EVENTS = 10_000;
const MAX_BATCH_BYTES = 1_048_576;
const EVENT_OVERHEAD = 26;
/** One event may be at most 256 KiB including its overhead. */
const MAX_EVENT_BYTES = 256 * 1024 - EVENT_OVERHEAD;
/** A batch may not span more than 24 hours. */
const MAX_BATCH_SPAN_MS = 24 * 3600_000 - 1;
/** CloudWatch Logs refuses events older than 14 days or more than 2 hours ahead; keep well inside that. */
const OLDEST_ACCEPTED_MS = 13 * 24 * 3600_000;

export interface LoadRunFixtureClients {
  emulator: OmicsEmulator;
  s3: S3Client;
  logs: CloudWatchLogsClient;
  events: EventBridgeClient;
  /** Send the `Run Status Change` event (default true). */
  publishEvent?: boolean;
  eventBusName?: string;
  /** Create the output bucket first (the local cloud may not have it yet). */
  createBucket?: boolean;
  /** How many outputs and log streams are written at once (default 8). */
  concurrency?: number;
  now?: () => Date;
}

/** Helpers that build large fixtures without writing them out by hand. */
export const generate = {
  /** `count` log lines from a template (`{i}` is the line number), produced only as they are written. */
  log(count: number, template = 'line {i}'): LogLines {
    return { count, template };
  },
  /** `count` tasks named `<prefix>-<i>`, each with `logLines` generated log lines. */
  tasks(
    count: number,
    options: { namePrefix?: string; logLines?: number } & Partial<Omit<TaskFixtureInput, 'name' | 'log' | 'taskId'>> = {},
  ): TaskFixtureInput[] {
    const { namePrefix = 'task', logLines: lines = 3, ...rest } = options;
    return Array.from({ length: count }, (_, i) => {
      const name = `${namePrefix}-${i}`;
      return { ...rest, name, log: { count: lines, template: `[${name}] {i}` } };
    });
  },
  /** `count` outputs `<prefix><i><extension>` of the given size (a number of bytes, "3 MiB", or a function of i). */
  outputs(count: number, options: { prefix?: string; extension?: string; size?: number | string | ((i: number) => number | string) } = {}): OutputFileInput[] {
    const { prefix = 'file-', extension = '.dat', size = 1024 } = options;
    return Array.from({ length: count }, (_, i) => ({
      path: `${prefix}${i}${extension}`,
      size: typeof size === 'function' ? size(i) : size,
    }));
  },
};

export interface SyntheticRunOptions {
  /** Default `s3://omics-run-outputs/output/`. */
  outputUri?: string;
  name?: string;
  workflowId?: string;
  workflowName?: string;
  status?: RunFixtureInput['status'];
  runGroupId?: string;
  tags?: Record<string, string>;
  stopTime?: Date | string;
  /** Number of tasks (default 4). */
  taskCount?: number;
  /** Engine log lines (default 200). */
  engineLogLines?: number;
  /** Anything else to set or override. */
  overrides?: Partial<RunFixtureInput>;
}

const KIB = 1024;
const MIB = 1024 * KIB;

/**
 * The demo's run: a finished run with a few tasks and logs, and outputs of mixed sizes that exercise the archiver's
 * edges: KiB files, MiB files (one over the 5 MiB multipart threshold), a zero-byte file, a name with spaces and
 * unicode, and a deep path.
 */
export function syntheticRun(options: SyntheticRunOptions = {}): RunFixtureInput {
  const taskCount = options.taskCount ?? 4;
  const stages = ['align', 'sort', 'call-variants', 'qc'];
  const tasks: TaskFixtureInput[] = Array.from({ length: taskCount }, (_, i) => {
    const name = `${stages[i % stages.length]}-${Math.floor(i / stages.length)}`;
    return {
      name,
      cpus: 2 ** (i % 4),
      memory: 4 * 2 ** (i % 3),
      imageDetails: {
        image: `123456789012.dkr.ecr.us-east-1.amazonaws.com/${stages[i % stages.length]}:1.0`,
        imageDigest: `sha256:${String(i).padStart(64, 'a')}`,
      },
      log: { count: 20, template: `[${name}] step {i}: processing shard {i}` },
    };
  });
  return {
    name: options.name ?? 'synthetic-germline-run',
    workflowId: options.workflowId ?? '4074992',
    workflowName: options.workflowName ?? 'germline-variant-calling',
    workflowVersionName: '1.2.0',
    status: options.status ?? 'COMPLETED',
    runGroupId: options.runGroupId,
    outputUri: options.outputUri ?? 's3://omics-run-outputs/output/',
    tags: options.tags ?? { project: 'demo', sample: 'NA12878' },
    parameters: { sample_name: 'NA12878', ref_fasta: 's3://omics-references/GRCh38.fasta', min_quality: 20 },
    stopTime: options.stopTime,
    priority: 10,
    storageType: 'DYNAMIC',
    tasks,
    engineLog: generate.log(options.engineLogLines ?? 200, 'engine: {i} scheduling and monitoring tasks'),
    outputs: [
      { path: 'reports/summary.txt', content: 'Synthetic run summary\nvariants: 4211\n' },
      ...generate.outputs(5, { prefix: 'qc/sample-', extension: '.json', size: (i) => (i + 1) * 3 * KIB }),
      { path: 'aligned/sample-1.bam', size: 3 * MIB },
      { path: 'aligned/sample-2.bam', size: 6 * MIB + 123 },
      { path: 'markers/empty.done', size: 0 },
      { path: 'results/résumé final — 測試 (v2).txt', content: 'Unicode and spaces survive the round trip ✓\n' },
      { path: 'deep/a/b/c/d/e/f/g/h/leaf.vcf.gz', size: 17 * KIB },
    ],
    ...options.overrides,
  };
}

/** Bucket and key prefix of an s3:// URI. */
export function parseS3Uri(uri: string): { bucket: string; key: string } {
  const match = /^s3:\/\/([^/]+)\/?(.*)$/.exec(uri);
  if (!match) throw new Error(`not an s3:// URI: ${uri}`);
  return { bucket: match[1], key: match[2] };
}

async function mapBounded<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await fn(items[next++]);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

interface OutputBody {
  path: string;
  body: () => Readable | Buffer;
  metadata?: Record<string, string>;
}

/** A fixture's outputsFolder must be a folder; checked before the emulator registers the run, so a bad one leaves nothing. */
async function checkOutputsFolder(folder: string | undefined): Promise<void> {
  if (folder === undefined) return;
  let problem: string | undefined;
  try {
    if (!(await stat(folder)).isDirectory()) problem = 'not a folder';
  } catch (error) {
    problem = (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such folder' : (error as Error).message;
  }
  if (problem) throw new FixtureError(`Invalid run fixture: outputsFolder: ${folder}: ${problem}`, [{ path: 'outputsFolder', message: problem }]);
}

async function folderOutputs(folder: string): Promise<OutputBody[]> {
  const entries = await readdir(folder, { recursive: true, withFileTypes: true });
  return entries
    .filter((e) => e.isFile())
    .map((e) => {
      const full = path.join(e.parentPath ?? e.path, e.name);
      return { path: path.relative(folder, full).split(path.sep).join('/'), body: () => createReadStream(full) };
    });
}

function outputBodies(fixture: RunFixture): OutputBody[] {
  return fixture.outputs.map((file) => ({
    path: file.path,
    body: () => (file.content !== undefined ? Buffer.from(file.content) : deterministicContent(file.path, file.size ?? 0)),
    metadata: file.lastModified ? { 'fixture-last-modified': file.lastModified.toISOString() } : undefined,
  }));
}

/** Timestamps for `count` events spread over [start, end], moved into the window CloudWatch Logs accepts. */
function timestamps(count: number, start: number, end: number, now: number): (i: number) => number {
  let from = Math.min(start, end);
  let to = Math.max(start, end);
  if (from < now - OLDEST_ACCEPTED_MS || to > now) {
    const span = Math.min(to - from, OLDEST_ACCEPTED_MS / 2);
    to = now - 60_000;
    from = to - span;
  }
  return (i) => from + Math.floor(((to - from) * i) / Math.max(count - 1, 1));
}

async function ensure(send: () => Promise<unknown>): Promise<void> {
  try {
    await send();
  } catch (error) {
    if (!(error instanceof ResourceAlreadyExistsException) && (error as Error).name !== 'ResourceAlreadyExistsException') throw error;
  }
}

async function writeLogStream(logs: CloudWatchLogsClient, stream: string, lines: Iterable<string>, time: (i: number) => number): Promise<void> {
  await ensure(() => logs.send(new CreateLogStreamCommand({ logGroupName: WORKFLOW_LOG_GROUP, logStreamName: stream })));
  let batch: InputLogEvent[] = [];
  let bytes = 0;
  const flush = async () => {
    if (batch.length === 0) return;
    const result = await logs.send(new PutLogEventsCommand({ logGroupName: WORKFLOW_LOG_GROUP, logStreamName: stream, logEvents: batch }));
    if (result?.rejectedLogEventsInfo) {
      throw new Error(`CloudWatch Logs rejected events of ${stream}: ${JSON.stringify(result.rejectedLogEventsInfo)}`);
    }
    batch = [];
    bytes = 0;
  };
  let i = 0;
  for (const message of lines) {
    const size = Buffer.byteLength(message) + EVENT_OVERHEAD;
    if (size - EVENT_OVERHEAD > MAX_EVENT_BYTES) {
      throw new FixtureError(
        `Invalid run fixture: log line ${i} of ${stream} has ${size - EVENT_OVERHEAD} bytes; CloudWatch Logs takes at most ${MAX_EVENT_BYTES}`,
        [{ path: stream, message: 'log line too long' }],
      );
    }
    // CloudWatch Logs refuses empty messages; a blank line is kept as a single space.
    const event = { timestamp: time(i++), message: message === '' ? ' ' : message };
    if (
      batch.length === MAX_BATCH_EVENTS ||
      bytes + size > MAX_BATCH_BYTES ||
      (batch.length > 0 && event.timestamp - (batch[0].timestamp ?? 0) > MAX_BATCH_SPAN_MS)
    ) {
      await flush();
    }
    batch.push(event);
    bytes += size;
  }
  await flush();
}

function* linesOf(lines: Iterable<string>): Generator<string> {
  for (const line of lines) yield `${line}\n`;
}

/**
 * Loads a run fixture: registers it with the emulator (which allocates its id, uuid and task ids), uploads its
 * outputs under `<runOutputUri>/out/` with `logs/engine.log` and `logs/outputs.json` beside them, writes its log
 * streams to `/aws/omics/WorkflowLog`, and sends the `Run Status Change` event. Returns what GetRun returns.
 */
export async function loadRunFixture(fixture: RunFixtureInput | RunFixture, clients: LoadRunFixtureClients): Promise<StoredRun> {
  const parsed = parseRunFixture(fixture);
  await checkOutputsFolder(parsed.outputsFolder);
  const run = clients.emulator.addRun(parsed);
  await writeRunArtifacts(parsed, run, clients.emulator.tasks(run.id), clients);
  if (clients.publishEvent ?? true) {
    await publishRunStatusEvent(
      clients.events,
      run,
      parsed.workflowName,
      new Date(run.stopTime ?? (clients.now ?? (() => new Date()))()),
      clients.eventBusName,
    );
  }
  return run;
}

/**
 * Writes what a run leaves behind: its outputs under `<runOutputUri>/out/` with `logs/engine.log` and
 * `logs/outputs.json` beside them, and its log streams in `/aws/omics/WorkflowLog` (none when its log level is OFF).
 * `run` and `tasks` are the run as GetRun and GetRunTask show it once these are written.
 */
export async function writeRunArtifacts(
  parsed: RunFixture,
  run: StoredRun,
  tasks: StoredTask[],
  clients: Omit<LoadRunFixtureClients, 'events' | 'publishEvent' | 'eventBusName'>,
): Promise<void> {
  const { emulator, s3, logs } = clients;
  const now = (clients.now ?? (() => new Date()))().getTime();
  const concurrency = clients.concurrency ?? 8;
  const { bucket, key: runPrefix } = parseS3Uri(run.runOutputUri);

  if (clients.createBucket) {
    try {
      await s3.send(new CreateBucketCommand({ Bucket: bucket }));
    } catch (error) {
      if ((error as Error).name !== 'BucketAlreadyOwnedByYou' && (error as Error).name !== 'BucketAlreadyExists') throw error;
    }
  }

  // Outputs: HealthOmics writes a run's files under <outputUri><runId>/out/ (a CWL run's under <outputUri><runId>/<uuid>/out/,
  // see docs.aws.amazon.com/omics/latest/dev/workflows-run-outputs.html) and its engine log and outputs.json under logs/.
  const outputs = [...outputBodies(parsed), ...(parsed.outputsFolder ? await folderOutputs(parsed.outputsFolder) : [])];
  const outPrefix = parsed.engine === 'CWL' ? `${runPrefix}/${run.uuid}/out` : `${runPrefix}/out`;
  const put = async (key: string, body: Readable | Buffer, metadata?: Record<string, string>) => {
    await new Upload({ client: s3, params: { Bucket: bucket, Key: key, Body: body, Metadata: metadata }, queueSize: 2 }).done();
  };
  await mapBounded(outputs, concurrency, (file) => put(`${outPrefix}/${file.path}`, file.body(), file.metadata));
  const engineLines = (): Iterable<string> => (parsed.engineLog ? logLines(parsed.engineLog) : defaultEngineLog(run, tasks));
  if (parsed.logLevel !== 'OFF') await put(`${runPrefix}/logs/engine.log`, Readable.from(linesOf(engineLines())));
  if (outputs.length > 0) {
    const outputsJson = { [`${parsed.workflowName ?? 'workflow'}.outputs`]: outputs.map((o) => `s3://${bucket}/${outPrefix}/${o.path}`) };
    await put(`${runPrefix}/logs/outputs.json`, Buffer.from(JSON.stringify(outputsJson, null, 2)));
  }

  // Logs: none at all when the run's log level is OFF, as with HealthOmics.
  if (parsed.logLevel !== 'OFF') {
    await ensure(() => logs.send(new CreateLogGroupCommand({ logGroupName: WORKFLOW_LOG_GROUP })));
    const runStart = Date.parse(run.startTime ?? run.creationTime);
    const runEnd = Date.parse(run.stopTime ?? new Date(now).toISOString());
    // Counting a default log means generating it once more; defaults are small, and a spec knows its own count.
    const countOf = (spec: LogLines | undefined, fallback: () => Iterable<string>) => (spec ? logLineCount(spec) : [...fallback()].length);
    const runLines = (): Iterable<string> => (parsed.runLog ? logLines(parsed.runLog) : defaultRunLog(run, tasks));
    const streams: { name: string; lines: () => Iterable<string>; count: number; start: number; end: number }[] = [
      { name: `run/${run.id}/engine`, lines: engineLines, count: countOf(parsed.engineLog, engineLines), start: runStart, end: runEnd },
      { name: `run/${run.id}`, lines: runLines, count: countOf(parsed.runLog, runLines), start: runStart, end: runEnd },
    ];
    parsed.tasks.forEach((taskFixture, i) => {
      const task: StoredTask = tasks[i];
      const spec: LogLines = taskFixture.log ?? [`[${task.name}] started`, `[${task.name}] working`, `[${task.name}] ${task.status.toLowerCase()}`];
      streams.push({
        name: `run/${run.id}/task/${task.taskId}`,
        lines: () => logLines(spec),
        count: logLineCount(spec),
        start: Date.parse(task.startTime ?? task.creationTime),
        end: Date.parse(task.stopTime ?? task.startTime ?? task.creationTime),
      });
    });
    // The manifest is written once the run has finished.
    if (parsed.manifestLog || run.stopTime) {
      const manifest = (): Iterable<string> =>
        parsed.manifestLog ? logLines(parsed.manifestLog) : defaultManifestLog(run, tasks, emulator.region, emulator.accountId);
      const stop = Date.parse(run.stopTime ?? new Date(now).toISOString());
      streams.push({ name: `manifest/run/${run.id}/${run.uuid}`, lines: manifest, count: countOf(parsed.manifestLog, manifest), start: stop, end: stop });
    }
    await mapBounded(streams, concurrency, (s) => writeLogStream(logs, s.name, s.lines(), timestamps(s.count, s.start, s.end, now)));
  }
}

/** Sends the `Run Status Change` event HealthOmics puts on the default bus for the run's current status. */
export async function publishRunStatusEvent(
  events: EventBridgeClient,
  run: StoredRun,
  workflowName: string | undefined,
  time: Date,
  eventBusName?: string,
): Promise<void> {
  const detail = {
    omicsVersion: '1.0.0',
    arn: run.arn,
    status: run.status,
    uuid: run.uuid,
    runId: run.id,
    runName: run.name,
    runOutputUri: run.runOutputUri,
    workflowId: run.workflowId,
    workflowName: workflowName ?? `workflow-${run.workflowId}`,
  };
  const result = await events.send(
    new PutEventsCommand({
      Entries: [
        {
          Source: 'aws.omics',
          DetailType: 'Run Status Change',
          Detail: JSON.stringify(detail),
          Resources: [run.arn],
          Time: time,
          ...(eventBusName ? { EventBusName: eventBusName } : {}),
        },
      ],
    }),
  );
  if (result?.FailedEntryCount) {
    throw new Error(`EventBridge refused the Run Status Change event: ${JSON.stringify(result.Entries)}`);
  }
}
