// `omics-archiver local demo`: a synthetic (or given) run archived end to end on the local cloud, shown or as JSON.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Transform, Writable, type Readable } from 'node:stream';
import { createHash } from 'node:crypto';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { DescribeExecutionCommand, StartExecutionCommand, type DescribeExecutionCommandOutput, type SFNClient } from '@aws-sdk/client-sfn';
import type { ArchiverConfig } from '../../functions/lib/contract';
import { executionName } from '../../functions/lib/archive/trigger-archive';
import * as clients from '../../functions/lib/runtime/clients';
import { RunIndex, type FileRecord, type RunRecord } from '../../functions/lib/index/run-index';
import { fileClassifier, matchTier } from '../../functions/lib/archive/tier-policy';
import { startLocalCloud, type LocalCloud } from '../../local/local-cloud';
import { loadRunFixture, syntheticRun } from '../../local/omics';
import { executionArnOf, failureOf, followExecution, history, statesEntered } from './executions';
import { DEMO_OUTPUT_BUCKET, DEMO_RESTORE_BUCKET, loadPolicy } from './policy';

export interface DemoOptions {
  outputs?: string;
  policy?: string;
  /** Restore every archived file into this local folder afterwards (they are restored to S3 in any case). */
  restoreTo?: string;
  /** Archive only: skip the restore half. */
  noRestore?: boolean;
  json?: boolean;
  verbose?: boolean;
  /** Give up on each execution (archive, restore) after this long; default: demoTimeoutSeconds of the run's size. */
  timeoutSeconds?: number;
}

export interface DemoFile {
  /** Relative to the outputs folder. */
  path: string;
  size: number;
  action: 'archive' | 'keep' | 'skip';
  state: string;
  target: string | null;
  archiveId: string | null;
  treeHash: string | null;
  sha256: string | null;
  /** The s3-glacier target: where the copy is, in which class, and the CRC64NVME S3 verified it with (base64). */
  storageClass?: string | null;
  archiveKey?: string | null;
  archiveVersionId?: string | null;
  crc64nvme?: string | null;
  copy?: { method: 'single' | 'multipart'; parts: number } | null;
  /** A file the tier bundled (bundleFilesBelow): its bundle, and where its bytes are in the bundle's tar. */
  bundle?: { id: string; offset: number; length: number };
}

export interface DemoRestore {
  /** `status` is RUNNING when the demo gave up waiting (the report's `error` says so). */
  execution: { name: string; status: string; states: string[]; error?: string; cause?: string };
  /**
   * `restoredTo`: the local file with --restore-to, else the restored S3 object. `sha256Matches`: the restored bytes'
   * SHA-256 equals the one recorded when the original was archived (its source is gone by then).
   */
  files: { path: string; state: string; restoredTo: string | null; sha256Matches: boolean | null; failureReason?: string }[];
}

export interface DemoReport {
  run: { id: string; uuid: string; archiveState: string; deleted: boolean };
  execution: { name: string; status: string; states: string[]; error?: string; cause?: string };
  snapshot: { location: string | null; objects: { key: string; size: number; sha256: string }[] };
  files: DemoFile[];
  restore?: DemoRestore;
  /** How long each execution was given (seconds). */
  timeoutSeconds: number;
  /** Why the demo stopped short (a timeout, a failure); the rest of the report is the state it had reached. */
  error?: string;
}

/**
 * The default --timeout for each half of the demo: two minutes, plus time for each file and each byte, since the
 * archive and restore paths take per-file steps (index writes, copies, restore requests) and stream every byte.
 * Measured: 2,000 small files archive in about 2 minutes on a laptop; this gives them 7.
 */
export function demoTimeoutSeconds(fileCount: number, totalBytes: number): number {
  return Math.ceil(120 + 0.15 * fileCount + totalBytes / (8 * 1024 * 1024));
}

/** Follows an execution to its end, or until the timeout: then the execution as last described and why it gave up. */
async function followOrGiveUp(
  sfn: SFNClient,
  executionArn: string,
  options: { timeoutMs: number; onState: (state: string) => void },
): Promise<{ described: Pick<DescribeExecutionCommandOutput, 'status'>; gaveUp?: string }> {
  try {
    return { described: await followExecution(sfn, executionArn, options) };
  } catch (error) {
    const described = await sfn
      .send(new DescribeExecutionCommand({ executionArn }))
      .catch((): Pick<DescribeExecutionCommandOutput, 'status'> => ({ status: undefined }));
    return { described, gaveUp: (error as Error).message };
  }
}

/** Where the run's files live under its output folder, as HealthOmics lays it out. */
const OUT_PREFIX = 'out/';

/** The outputs the demo run will have: the given folder's files, or the synthetic run's. */
function outputFiles(options: DemoOptions, fixture: ReturnType<typeof syntheticRun>): { path: string; size: number }[] {
  if (options.outputs) {
    return fs
      .readdirSync(options.outputs, { recursive: true, withFileTypes: true })
      .filter((e) => e.isFile())
      .map((e) => {
        const full = path.join(e.parentPath, e.name);
        return {
          path: path
            .relative(options.outputs ?? '', full)
            .split(path.sep)
            .join('/'),
          size: fs.statSync(full).size,
        };
      })
      .sort((a, b) => a.path.localeCompare(b.path));
  }
  return (fixture.outputs ?? []).map((o) => ({ path: o.path, size: o.content !== undefined ? Buffer.byteLength(o.content) : Number(o.size ?? 0) }));
}

async function snapshotObjects(location: string | undefined): Promise<DemoReport['snapshot']['objects']> {
  if (!location) return [];
  const match = /^s3:\/\/([^/]+)\/(.*)$/.exec(location);
  if (!match) return [];
  try {
    const { Body } = await clients.s3Client().send(new GetObjectCommand({ Bucket: match[1], Key: `${match[2]}snapshot.json` }));
    const manifest = JSON.parse((await Body?.transformToString()) ?? '{}') as { objects?: { key: string; size: number; sha256: string }[] };
    return (manifest.objects ?? []).map(({ key, size, sha256 }) => ({ key, size, sha256 }));
  } catch {
    return [];
  }
}

function describeFile(file: { path: string; size: number }, record: FileRecord | undefined, fallbackAction: 'archive' | 'keep' | 'skip'): DemoFile {
  return {
    path: file.path,
    size: file.size,
    action: record?.action ?? fallbackAction,
    state: record?.state ?? (fallbackAction === 'skip' ? 'SKIPPED' : 'NOT_PLANNED'),
    target: record?.target ?? null,
    archiveId: record?.archiveId ?? null,
    treeHash: record?.treeHash ?? null,
    sha256: record?.sha256 ?? null,
    ...(record?.bundle && { bundle: { id: record.bundle.id, offset: record.bundle.offset, length: record.bundle.length } }),
    ...(record?.target === 's3-glacier' && {
      storageClass: record.storageClass ?? null,
      archiveKey: record.archiveKey ?? null,
      archiveVersionId: record.archiveVersionId ?? null,
      crc64nvme: record.checksumAlgorithm === 'CRC64NVME' ? (record.checksum ?? null) : null,
      copy: record.copyMethod ? { method: record.copyMethod, parts: record.copyParts ?? 1 } : null,
    }),
  };
}

async function waitForRunState(index: RunIndex, runUuid: string, states: string[], timeoutMs: number): Promise<RunRecord | undefined> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const record = await index.getRun(runUuid);
    if (!record || states.includes(record.archiveState) || Date.now() > deadline) return record;
    await new Promise((r) => setTimeout(r, 250));
  }
}

const log = (options: DemoOptions, line: string) => {
  if (!options.json) console.log(line);
};

/** A bad --outputs is an argument error: said before anything is started. */
function checkOutputsFolder(outputs: string | undefined): void {
  if (outputs && !fs.existsSync(outputs)) throw new Error(`--outputs ${outputs}: no such folder`);
  if (outputs && !fs.statSync(outputs).isDirectory()) throw new Error(`--outputs ${outputs}: not a folder`);
}

/** Archives one run on a running local cloud, following the real trigger path (EventBridge → SQS → Lambda). */
export async function archiveDemoRun(cloud: LocalCloud, config: ArchiverConfig, options: DemoOptions): Promise<DemoReport> {
  checkOutputsFolder(options.outputs);
  const fixture = syntheticRun({
    outputUri: `s3://${DEMO_OUTPUT_BUCKET}/runs/`,
    ...(options.outputs ? { overrides: { outputs: [], outputsFolder: path.resolve(options.outputs) } } : {}),
  });
  const files = outputFiles(options, fixture);
  const timeoutSeconds =
    options.timeoutSeconds ??
    demoTimeoutSeconds(
      files.length,
      files.reduce((sum, f) => sum + f.size, 0),
    );
  const timeoutMs = timeoutSeconds * 1000;

  log(options, `Loading a ${fixture.status} run with ${files.length} output files into the local HealthOmics...`);
  const run = await loadRunFixture(fixture, {
    emulator: cloud.omics,
    s3: clients.s3Client(),
    logs: clients.logsClient(),
    events: clients.eventsClient(),
  });
  log(options, `Run ${run.id} (uuid ${run.uuid}) finished; its Run Status Change event went to EventBridge.`);

  const name = executionName(run.id, run.uuid);
  const executionArn = executionArnOf(cloud.resources.stateMachines.archiveRun, name);
  log(options, `Archive execution ${name}:`);
  const sfn = clients.sfnClient();
  const { described, gaveUp } = await followOrGiveUp(sfn, executionArn, { timeoutMs, onState: (state) => log(options, `  → ${state}`) });
  const events = await history(sfn, executionArn).catch(() => []);
  const failure = failureOf(events);
  log(options, `Execution ${described.status}${failure ? `: ${failure.error} in "${failure.state}": ${failure.cause}` : ''}`);
  if (gaveUp) log(options, `Gave up waiting: ${gaveUp} (raise --timeout)`);

  const index = new RunIndex(clients.documentClient(), cloud.resources.runIndexTable);
  let record = await index.getRun(run.uuid);
  if (!gaveUp && record?.archiveState === 'ARCHIVED' && record.deleteRun) {
    log(options, 'Waiting for the run-deletion queue to delete the run from HealthOmics...');
    record = await waitForRunState(index, run.uuid, ['RUN_DELETED'], 30_000);
  }
  const records = new Map((await index.listFiles(run.uuid)).map((f) => [f.path, f]));
  const tier = matchTier(config, { workflowId: run.workflowId, runGroupId: run.runGroupId, status: run.status, tags: run.tags });
  const classify = tier ? fileClassifier(tier) : () => ({ action: 'skip' as const });
  const now = new Date();
  const report: DemoReport = {
    run: { id: run.id, uuid: run.uuid, archiveState: record?.archiveState ?? 'NOT_INDEXED', deleted: record?.archiveState === 'RUN_DELETED' },
    execution: {
      name,
      status: described.status ?? 'UNKNOWN',
      states: statesEntered(events),
      ...(failure ? { error: failure.error, cause: failure.cause } : {}),
    },
    snapshot: { location: record?.snapshotLocation ?? null, objects: await snapshotObjects(record?.snapshotLocation) },
    files: files.map((f) =>
      describeFile(f, records.get(`${OUT_PREFIX}${f.path}`), classify({ path: `${OUT_PREFIX}${f.path}`, size: f.size, lastModified: now }, now).action),
    ),
    timeoutSeconds,
    ...(gaveUp ? { error: `archive: ${gaveUp}` } : {}),
  };
  if (!options.json) printReport(report);
  return report;
}

/**
 * Restores every archived file of the demo run with the real restore workflow into the demo restore bucket, then
 * downloads each into `folder` under its path in the outputs folder.
 */
export async function restoreDemoRun(cloud: LocalCloud, report: DemoReport, folder: string | undefined, options: DemoOptions): Promise<DemoRestore> {
  const sfn = clients.sfnClient();
  const name = `restore-${report.run.id}-${Date.now()}`;
  const prefix = `restores/${report.run.uuid}/`;
  log(options, `\nRestore execution ${name} (every archived file, to s3://${DEMO_RESTORE_BUCKET}/${prefix}):`);
  const started = await sfn.send(
    new StartExecutionCommand({
      stateMachineArn: cloud.resources.stateMachines.restoreRun,
      name,
      input: JSON.stringify({ run: report.run.uuid, files: ['out/**'], destination: `s3://${DEMO_RESTORE_BUCKET}/${prefix}` }),
    }),
  );
  const executionArn = started.executionArn ?? executionArnOf(cloud.resources.stateMachines.restoreRun, name);
  const { described, gaveUp } = await followOrGiveUp(sfn, executionArn, {
    timeoutMs: (options.timeoutSeconds ?? report.timeoutSeconds) * 1000,
    onState: (state) => log(options, `  → ${state}`),
  });
  const events = await history(sfn, executionArn).catch(() => []);
  const failure = failureOf(events);
  log(options, `Restore ${described.status}${failure ? `: ${failure.error}: ${failure.cause}` : ''}`);
  if (gaveUp) {
    log(options, `Gave up waiting: ${gaveUp} (raise --timeout)`);
    report.error = `restore: ${gaveUp}`;
  }

  const index = new RunIndex(clients.documentClient(), cloud.resources.runIndexTable);
  const { files } = await index.listRestores(report.run.uuid);
  const mine = files.filter((f) => f.restoreId === name);
  if (folder) fs.mkdirSync(folder, { recursive: true });
  const recorded = new Map(report.files.map((f) => [f.path, f.sha256]));
  const restored: DemoRestore['files'] = [];
  for (const file of mine.sort((a, b) => a.path.localeCompare(b.path))) {
    const relative = file.path.startsWith(OUT_PREFIX) ? file.path.slice(OUT_PREFIX.length) : file.path;
    let restoredTo: string | null = null;
    let sha256Matches: boolean | null = null;
    if (file.state === 'RESTORED') {
      const key = `${prefix}${file.path}`;
      const { Body } = await clients.s3Client().send(new GetObjectCommand({ Bucket: DEMO_RESTORE_BUCKET, Key: key }));
      const hash = createHash('sha256');
      const hashing = new Transform({
        transform(chunk: Buffer, _encoding, done) {
          hash.update(chunk);
          done(null, chunk);
        },
      });
      if (folder) {
        restoredTo = path.join(folder, ...relative.split('/'));
        fs.mkdirSync(path.dirname(restoredTo), { recursive: true });
        await pipeline(Body as Readable, hashing, fs.createWriteStream(restoredTo));
      } else {
        restoredTo = `s3://${DEMO_RESTORE_BUCKET}/${key}`;
        await pipeline(Body as Readable, hashing, new Writable({ write: (_chunk, _encoding, done) => done() }));
      }
      sha256Matches = hash.digest('hex') === recorded.get(relative);
    }
    restored.push({ path: relative, state: file.state, restoredTo, sha256Matches, ...(file.failureReason ? { failureReason: file.failureReason } : {}) });
    const check = sha256Matches === null ? '' : sha256Matches ? '  (SHA-256 matches the archived original)' : '  (SHA-256 DIFFERS from the archived original)';
    // (A file still on its way when the demo gave up is listed in the state it had reached.)
    const where = folder && restoredTo ? ` → ${restoredTo}` : '';
    log(options, `  ${file.state.padEnd(9)} ${relative}${where}${check}${file.failureReason ? `: ${file.failureReason}` : ''}`);
  }
  return {
    execution: {
      name,
      status: described.status ?? 'UNKNOWN',
      states: statesEntered(events),
      ...(failure ? { error: failure.error, cause: failure.cause } : {}),
    },
    files: restored,
  };
}

function printReport(report: DemoReport): void {
  console.log('');
  console.log(`Snapshot: ${report.snapshot.location} (${report.snapshot.objects.length} objects)`);
  for (const o of report.snapshot.objects) console.log(`  ${o.key}  ${o.size} B  sha256 ${o.sha256.slice(0, 16)}…`);
  console.log('');
  console.log('Files:');
  for (const f of report.files) {
    const where = f.bundle
      ? `in bundle ${f.bundle.id} at byte ${f.bundle.offset}  sha256 ${f.sha256?.slice(0, 16)}…`
      : f.archiveId
        ? `archive ${f.archiveId.slice(0, 24)}…  tree hash ${f.treeHash?.slice(0, 16)}…`
        : f.archiveKey && f.state === 'ARCHIVED'
          ? `${f.storageClass} ${f.copy?.method === 'multipart' ? `multipart copy, ${f.copy.parts} parts` : 'copy'}  CRC64NVME ${f.crc64nvme}`
          : f.state === 'ARCHIVED'
            ? 'empty file: recorded, no archive needed'
            : '';
    console.log(`  ${f.state.padEnd(9)} ${f.action.padEnd(7)} ${String(f.size).padStart(9)} B  ${f.path}  ${where}`);
  }
  console.log('');
  console.log(`Run ${report.run.id}: ${report.run.archiveState}${report.run.deleted ? ', deleted from HealthOmics after its archive was recorded' : ''}`);
}

/** What the demo reports when it failed before it had a run to report on. */
function failedReport(error: Error, timeoutSeconds: number): DemoReport {
  return {
    run: { id: '', uuid: '', archiveState: 'NOT_STARTED', deleted: false },
    execution: { name: '', status: 'NOT_STARTED', states: [] },
    snapshot: { location: null, objects: [] },
    files: [],
    timeoutSeconds,
    error: error.message,
  };
}

/** Whether the CLI should exit non-zero: anything short of both executions succeeding and every restore matching. */
export function demoFailed(report: DemoReport): boolean {
  const restoreFailed = report.restore && (report.restore.execution.status !== 'SUCCEEDED' || report.restore.files.some((f) => f.sha256Matches === false));
  return Boolean(report.error) || report.execution.status !== 'SUCCEEDED' || Boolean(restoreFailed);
}

/**
 * Runs the demo. With `json`, never throws: a failure or a timeout is the report's `error`, beside the state reached,
 * so the caller always has its one document to print. Without, a failure before the archive is reported is thrown.
 */
export async function localDemo(options: DemoOptions): Promise<DemoReport> {
  const started = Date.now();
  let report: DemoReport | undefined;
  let cloud: LocalCloud | undefined;
  try {
    const config = loadPolicy(options.policy);
    checkOutputsFolder(options.outputs);
    log(options, 'Starting the local cloud (moto_server, strict HealthOmics and Glacier emulators, the real handlers)...');
    cloud = await startLocalCloud({ config, logLevel: options.verbose ? 'INFO' : 'SILENT' });
    report = await archiveDemoRun(cloud, config, options);
    if (!options.noRestore && !report.error) report.restore = await restoreDemoRun(cloud, report, options.restoreTo, options);
    log(options, `\nDone in ${((Date.now() - started) / 1000).toFixed(1)} s. Explore the same thing interactively with: npm run cli -- local up`);
    return report;
  } catch (error) {
    if (!options.json) throw error;
    if (report) {
      report.error = (error as Error).message;
      return report;
    }
    return failedReport(error as Error, options.timeoutSeconds ?? 0);
  } finally {
    await cloud?.stop();
  }
}
