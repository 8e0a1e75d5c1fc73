// Generated fixture content: log lines (lazily, any count) and deterministic output bytes (streamed, any size).
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import type { LogLines, StoredRun, StoredTask } from './model';

/** Number of lines a log spec yields. */
export function logLineCount(lines: LogLines | undefined): number {
  if (!lines) return 0;
  return Array.isArray(lines) ? lines.length : lines.count;
}

/** The lines of a log spec, one at a time, so a million-line log is never held. */
export function* logLines(lines: LogLines | undefined, vars: Record<string, string> = {}): Generator<string> {
  if (!lines) return;
  if (Array.isArray(lines)) {
    yield* lines;
    return;
  }
  const template = Object.entries(vars).reduce((t, [k, v]) => t.replaceAll(`{${k}}`, v), lines.template);
  for (let i = 0; i < lines.count; i++) yield template.replaceAll('{i}', String(i));
}

const BLOCK = 64 * 1024;

/**
 * Deterministic bytes for an output of a given size: a 64 KiB block derived from the path, each copy stamped with its
 * block number so no two blocks (and so no two Glacier parts) are alike. Fast enough for multi-GiB files.
 */
export function deterministicContent(seed: string, size: number): Readable {
  const base = Buffer.alloc(BLOCK);
  for (let offset = 0, i = 0; offset < BLOCK; i++, offset += 32) {
    createHash('sha256').update(`${seed}#${i}`).digest().copy(base, offset);
  }
  let emitted = 0;
  let block = 0;
  return new Readable({
    read() {
      if (emitted >= size) {
        this.push(null);
        return;
      }
      const chunk = Buffer.from(base);
      chunk.writeUInt32BE(block++ >>> 0, 0);
      const n = Math.min(BLOCK, size - emitted);
      emitted += n;
      this.push(n === BLOCK ? chunk : chunk.subarray(0, n));
    },
  });
}

/** Default engine log: what a workflow engine says while it runs the tasks. */
export function* defaultEngineLog(run: StoredRun, tasks: readonly StoredTask[]): Generator<string> {
  yield `Engine started for run ${run.id} (workflow ${run.workflowId})`;
  for (const task of tasks) yield `[${task.name}] submitted as task ${task.taskId} on ${task.instanceType}`;
  for (const task of tasks) yield `[${task.name}] ${task.status.toLowerCase()}`;
  yield `Workflow ${run.status === 'COMPLETED' ? 'completed' : `ended: ${run.status}`}`;
}

/** Default run log: JSON lines like HealthOmics writes to `run/<id>` ({runStatus, logMessage, message}). */
export function* defaultRunLog(run: StoredRun, tasks: readonly StoredTask[]): Generator<string> {
  const line = (runStatus: string, logMessage: string, message: string) => JSON.stringify({ runStatus, logMessage, message });
  yield line('STARTING', 'RUN_STARTING', `Run ${run.id} is starting.`);
  for (const task of tasks) yield line('RUNNING', 'TASK_STARTING', `Task ${task.name} (${task.taskId}) is starting.`);
  for (const task of tasks) yield line('RUNNING', `TASK_${task.status}`, `Task ${task.name} (${task.taskId}) is ${task.status}.`);
  yield line('STOPPING', 'ENGINE_LOG_GENERATED', `Engine log stream: ${run.logLocation.engineLogStream ?? ''}`);
  yield line(run.status, `RUN_${run.status}`, `Workflow run ${run.status.toLowerCase()}.`);
}

function seconds(start?: string, stop?: string): number | undefined {
  return start && stop ? (Date.parse(stop) - Date.parse(start)) / 1000 : undefined;
}

/**
 * Default run manifest log: one JSON line for the run, then one per task with the resource statistics HealthOmics
 * reports (cpusReserved, memoryReservedGiB, ..., runningSeconds), as the aws-healthomics-tools run analyzer reads them.
 */
export function* defaultManifestLog(run: StoredRun, tasks: readonly StoredTask[], region: string, accountId: string): Generator<string> {
  yield JSON.stringify({
    arn: run.arn,
    uuid: run.uuid,
    name: run.name,
    status: run.status,
    workflow: `arn:aws:omics:${region}:${accountId}:workflow/${run.workflowId}`,
    runOutputUri: run.runOutputUri,
    storageType: run.storageType,
    creationTime: run.creationTime,
    startTime: run.startTime,
    stopTime: run.stopTime,
    metrics: { runningSeconds: seconds(run.startTime, run.stopTime) },
  });
  for (const task of tasks) {
    yield JSON.stringify({
      arn: `arn:aws:omics:${region}:${accountId}:task/${task.taskId}`,
      taskId: task.taskId,
      name: task.name,
      status: task.status,
      instanceType: task.instanceType,
      cpus: task.cpus,
      memory: task.memory,
      gpus: task.gpus,
      creationTime: task.creationTime,
      startTime: task.startTime,
      stopTime: task.stopTime,
      metrics: {
        cpusReserved: task.cpus,
        cpusMaximum: task.cpus * 0.8,
        cpusAverage: task.cpus * 0.5,
        gpusReserved: task.gpus,
        memoryReservedGiB: task.memory,
        memoryMaximumGiB: task.memory * 0.7,
        memoryAverageGiB: task.memory * 0.4,
        runningSeconds: seconds(task.startTime, task.stopTime),
      },
    });
  }
}
