// A strict HealthOmics emulator: the run operations the archiver uses, served over HTTP as @aws-sdk/client-omics expects.
import { randomUUID } from 'node:crypto';
import type * as http from 'node:http';
import { OmicsError, conflict, constraintError, notFound } from './errors';
import {
  CANCELLABLE_RUN_STATUSES,
  DELETABLE_RUN_STATUSES,
  NUMERIC_ID,
  RUN_LIST_FIELDS,
  RUN_STATUSES,
  TASK_LIST_FIELDS,
  TASK_STATUSES,
  WORKFLOW_LOG_GROUP,
  parseRunFixture,
  type RunFixtureInput,
  type RunStatus,
  type StoredRun,
  type StoredTask,
  type TaskStatus,
} from './model';
import { TokenBook, readMaxResults, readStartingToken } from './pagination';

export interface OmicsEmulatorOptions {
  accountId?: string;
  region?: string;
  now?: () => Date;
}

/** Run ids look like HealthOmics ones (seven digits); the first is arbitrary. */
const FIRST_RUN_ID = 1000001;
const FIRST_TASK_ID = 5000001;
const TERMINAL: readonly RunStatus[] = ['COMPLETED', 'FAILED', 'CANCELLED', 'DELETED'];

interface RunRecord {
  run: StoredRun;
  tasks: StoredTask[];
}

function pick<T extends object, K extends keyof T>(item: T, keys: readonly K[]): Pick<T, K> {
  const out = {} as Pick<T, K>;
  for (const key of keys) if (item[key] !== undefined) out[key] = item[key];
  return out;
}

function withoutUndefined<T extends object>(item: T): T {
  return Object.fromEntries(Object.entries(item).filter(([, v]) => v !== undefined)) as T;
}

/** `[0-9]+`, 1-18 characters, as every HealthOmics id; AWS checks it before looking anything up. */
function checkId(field: string, value: string): string {
  if (!NUMERIC_ID.test(value)) {
    throw constraintError(
      field,
      value,
      value.length > 18 ? 'Member must have length less than or equal to 18' : 'Member must satisfy regular expression pattern: [0-9]+',
    );
  }
  return value;
}

function checkEnum<T extends string>(field: string, raw: string | null, allowed: readonly T[]): T | undefined {
  if (raw === null) return undefined;
  if (!(allowed as readonly string[]).includes(raw)) {
    throw constraintError(field, raw, `Member must satisfy enum value set: [${allowed.join(', ')}]`);
  }
  return raw as T;
}

export class OmicsEmulator {
  readonly accountId: string;
  readonly region: string;
  private readonly now: () => Date;
  private readonly records = new Map<string, RunRecord>();
  /** Deleted runs' ids, handed out again first: HealthOmics reuses ids, so only the uuid identifies a run. */
  private readonly freedRunIds: string[] = [];
  private nextRunId = FIRST_RUN_ID;
  private nextTaskId = FIRST_TASK_ID;
  private readonly tokens = new TokenBook();

  constructor(options: OmicsEmulatorOptions = {}) {
    this.accountId = options.accountId ?? '123456789012';
    this.region = options.region ?? 'us-east-1';
    this.now = options.now ?? (() => new Date());
  }

  /** Registers a run from a fixture (validated here); returns what GetRun will return. */
  addRun(input: RunFixtureInput): StoredRun {
    const fixture = parseRunFixture(input);
    const id = this.allocateRunId(fixture.id);
    const now = this.now();
    const terminal = TERMINAL.includes(fixture.status);
    const started = fixture.status !== 'PENDING' && fixture.status !== 'STARTING';
    // Default times put a finished run a few minutes in the past, long enough to have run its tasks.
    const stopTime = fixture.stopTime ?? (terminal ? new Date(now.getTime() - 5 * 60_000) : undefined);
    const startTime = fixture.startTime ?? (started ? new Date((stopTime ?? now).getTime() - 2 * 3600_000) : undefined);
    const creationTime = fixture.creationTime ?? new Date((startTime ?? now).getTime() - 5 * 60_000);
    const logStreamArn = (stream: string) => `arn:aws:logs:${this.region}:${this.accountId}:log-group:${WORKFLOW_LOG_GROUP}:log-stream:${stream}`;
    const outputUri = fixture.outputUri;
    const run: StoredRun = withoutUndefined({
      arn: `arn:aws:omics:${this.region}:${this.accountId}:run/${id}`,
      id,
      runId: id,
      uuid: fixture.uuid ?? randomUUID(),
      name: fixture.name,
      status: fixture.status,
      workflowId: fixture.workflowId,
      workflowType: fixture.workflowType,
      workflowVersionName: fixture.workflowVersionName,
      workflowUuid: fixture.workflowUuid,
      workflowOwnerId: fixture.workflowOwnerId,
      runGroupId: fixture.runGroupId,
      batchId: fixture.batchId,
      cacheId: fixture.cacheId,
      cacheBehavior: fixture.cacheBehavior,
      priority: fixture.priority,
      parameters: fixture.parameters,
      storageType: fixture.storageType,
      storageCapacity: fixture.storageCapacity,
      outputUri,
      runOutputUri: `${outputUri.endsWith('/') ? outputUri : `${outputUri}/`}${id}`,
      logLevel: fixture.logLevel,
      logLocation: { engineLogStream: logStreamArn(`run/${id}/engine`), runLogStream: logStreamArn(`run/${id}`) },
      retentionMode: fixture.retentionMode,
      roleArn: fixture.roleArn ?? `arn:aws:iam::${this.accountId}:role/OmicsWorkflowRole`,
      startedBy: fixture.startedBy ?? `arn:aws:iam::${this.accountId}:user/omics-fixture`,
      creationTime: creationTime.toISOString(),
      startTime: startTime?.toISOString(),
      stopTime: stopTime?.toISOString(),
      statusMessage: fixture.statusMessage,
      failureReason: fixture.failureReason,
      tags: fixture.tags,
      digest: fixture.digest ?? `sha256:${fixture.workflowId.padStart(64, '0')}`,
      resourceDigests: fixture.resourceDigests,
      engineVersion: fixture.engineVersion,
      accelerators: fixture.accelerators,
      networkingMode: fixture.networkingMode,
    });

    const taskIds = new Set<string>();
    const span = startTime && (stopTime ?? now).getTime() > startTime.getTime() ? (stopTime ?? now).getTime() - startTime.getTime() : 0;
    const count = fixture.tasks.length;
    const tasks = fixture.tasks.map((task, i): StoredTask => {
      const taskId = task.taskId ?? this.allocateTaskId(taskIds);
      taskIds.add(taskId);
      // Default task times split the run's span evenly, in order, so logs and manifests line up with the run.
      const slotStart = startTime ? new Date(startTime.getTime() + Math.floor((span * i) / Math.max(count, 1))) : undefined;
      const slotStop = startTime ? new Date(startTime.getTime() + Math.floor((span * (i + 1)) / Math.max(count, 1))) : undefined;
      const status: TaskStatus = task.status ?? (fixture.status === 'DELETED' ? 'COMPLETED' : fixture.status);
      const taskTerminal = status === 'COMPLETED' || status === 'FAILED' || status === 'CANCELLED';
      return withoutUndefined({
        taskId,
        status,
        name: task.name,
        cpus: task.cpus,
        memory: task.memory,
        gpus: task.gpus,
        instanceType: task.instanceType,
        cacheHit: task.cacheHit,
        cacheS3Uri: task.cacheS3Uri,
        creationTime: (task.creationTime ?? slotStart ?? creationTime).toISOString(),
        startTime: (task.startTime ?? (status === 'PENDING' ? undefined : slotStart))?.toISOString(),
        stopTime: (task.stopTime ?? (taskTerminal ? slotStop : undefined))?.toISOString(),
        statusMessage: task.statusMessage,
        logStream: logStreamArn(`run/${id}/task/${taskId}`),
        failureReason: task.failureReason,
        imageDetails: task.imageDetails,
      });
    });
    this.records.set(id, { run, tasks });
    return structuredClone(run);
  }

  /** Moves a run to another status (a test's "the run finished"); a terminal status sets stopTime if unset. */
  setRunStatus(runId: string, status: RunStatus, statusMessage?: string): void {
    const record = this.records.get(runId);
    if (!record) throw new Error(`no run ${runId} in the HealthOmics emulator`);
    record.run.status = status;
    if (statusMessage !== undefined) record.run.statusMessage = statusMessage;
    if (TERMINAL.includes(status) && !record.run.stopTime) record.run.stopTime = this.now().toISOString();
  }

  /** The runs GetRun would find now (deleted ones are gone). */
  runs(): StoredRun[] {
    return [...this.records.values()].map((r) => structuredClone(r.run));
  }

  /** A run's tasks as GetRunTask serves them, in ListRunTasks order. */
  tasks(runId: string): StoredTask[] {
    return structuredClone(this.records.get(runId)?.tasks ?? []);
  }

  async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const requestId = randomUUID();
    try {
      // The operations served here have no request body; drain whatever came so the connection can be reused.
      for await (const chunk of req) void chunk;
      const url = new URL(req.url ?? '/', 'http://omics.local');
      const { status, body } = this.route(req.method ?? 'GET', url);
      const text = body === undefined ? '' : JSON.stringify(body);
      res.writeHead(status, {
        'content-type': 'application/json',
        'content-length': Buffer.byteLength(text),
        'x-amzn-requestid': requestId,
      });
      res.end(text);
    } catch (error) {
      const failure = error instanceof OmicsError ? error : new OmicsError('InternalServerException', (error as Error).message);
      const text = JSON.stringify({ message: failure.message });
      res.writeHead(failure.status, {
        'content-type': 'application/json',
        'content-length': Buffer.byteLength(text),
        'x-amzn-requestid': requestId,
        'x-amzn-errortype': failure.code,
      });
      res.end(text);
    }
  }

  private route(method: string, url: URL): { status: number; body?: unknown } {
    const segments = url.pathname.split('/').filter(Boolean).map(decodeURIComponent);
    const q = url.searchParams;
    if (segments[0] === 'run') {
      if (segments.length === 1 && method === 'GET') return { status: 200, body: this.listRuns(q) };
      if (segments.length === 2 && method === 'GET') return { status: 200, body: this.getRun(segments[1], q) };
      if (segments.length === 2 && method === 'DELETE') return this.deleteRun(segments[1]);
      if (segments.length === 3 && segments[2] === 'cancel' && method === 'POST') return this.cancelRun(segments[1]);
      if (segments.length === 3 && segments[2] === 'task' && method === 'GET') return { status: 200, body: this.listRunTasks(segments[1], q) };
      if (segments.length === 4 && segments[2] === 'task' && method === 'GET') return { status: 200, body: this.getRunTask(segments[1], segments[3]) };
    }
    throw new OmicsError('UnknownOperationException', `The HealthOmics emulator does not serve ${method} ${url.pathname}`);
  }

  private record(id: string): RunRecord {
    const record = this.records.get(checkId('id', id));
    if (!record) throw notFound(`Run ${id}`);
    return record;
  }

  private getRun(id: string, q: URLSearchParams): StoredRun {
    for (const value of q.getAll('export')) checkEnum('export', value, ['DEFINITION'] as const);
    return this.record(id).run;
  }

  private listRuns(q: URLSearchParams) {
    const name = q.get('name');
    if (name !== null && (name.length < 1 || name.length > 128)) throw constraintError('name', name, 'Member must have length between 1 and 128');
    const runGroupId = q.get('runGroupId');
    if (runGroupId !== null) checkId('runGroupId', runGroupId);
    const batchId = q.get('batchId');
    if (batchId !== null) checkId('batchId', batchId);
    const status = checkEnum('status', q.get('status'), RUN_STATUSES);
    const maxResults = readMaxResults(q.get('maxResults'));
    const startingToken = readStartingToken(q.get('startingToken'));
    // Newest first, a stable order so pages neither repeat nor skip while nothing changes.
    const runs = [...this.records.values()]
      .map((r) => r.run)
      .filter((r) => (name === null || r.name === name) && (runGroupId === null || r.runGroupId === runGroupId))
      .filter((r) => (batchId === null || r.batchId === batchId) && (status === undefined || r.status === status))
      .sort((a, b) => b.creationTime.localeCompare(a.creationTime) || Number(b.id) - Number(a.id));
    const scope = `ListRuns|${name ?? ''}|${runGroupId ?? ''}|${batchId ?? ''}|${status ?? ''}`;
    const page = this.tokens.page(scope, runs, startingToken, maxResults);
    return { items: page.items.map((r) => pick(r, RUN_LIST_FIELDS)), ...(page.nextToken ? { nextToken: page.nextToken } : {}) };
  }

  private listRunTasks(id: string, q: URLSearchParams) {
    const status = checkEnum('status', q.get('status'), TASK_STATUSES);
    const maxResults = readMaxResults(q.get('maxResults'));
    const startingToken = readStartingToken(q.get('startingToken'));
    const record = this.record(id);
    const tasks = record.tasks.filter((t) => status === undefined || t.status === status);
    const page = this.tokens.page(`ListRunTasks|${record.run.uuid}|${status ?? ''}`, tasks, startingToken, maxResults);
    return { items: page.items.map((t) => pick(t, TASK_LIST_FIELDS)), ...(page.nextToken ? { nextToken: page.nextToken } : {}) };
  }

  private getRunTask(id: string, taskId: string): StoredTask {
    checkId('taskId', taskId);
    const task = this.record(id).tasks.find((t) => t.taskId === taskId);
    if (!task) throw notFound(`Task ${taskId} of run ${id}`);
    return task;
  }

  private deleteRun(id: string): { status: number } {
    const { run } = this.record(id);
    if (!DELETABLE_RUN_STATUSES.includes(run.status)) {
      throw conflict(`Run ${id} is ${run.status}; only COMPLETED, FAILED or CANCELLED runs can be deleted`);
    }
    this.records.delete(id);
    this.freedRunIds.push(id);
    return { status: 202 };
  }

  private cancelRun(id: string): { status: number } {
    const { run } = this.record(id);
    if (!CANCELLABLE_RUN_STATUSES.includes(run.status)) throw conflict(`Run ${id} is ${run.status} and cannot be cancelled`);
    this.setRunStatus(id, 'CANCELLED');
    return { status: 202 };
  }

  private allocateRunId(explicit: string | undefined): string {
    if (explicit !== undefined) {
      if (this.records.has(explicit)) throw new Error(`run id ${explicit} is already in use in the HealthOmics emulator`);
      const freed = this.freedRunIds.indexOf(explicit);
      if (freed >= 0) this.freedRunIds.splice(freed, 1);
      if (Number(explicit) >= this.nextRunId && Number(explicit) < Number.MAX_SAFE_INTEGER) this.nextRunId = Number(explicit) + 1;
      return explicit;
    }
    const reused = this.freedRunIds.shift();
    if (reused !== undefined) return reused;
    while (this.records.has(String(this.nextRunId))) this.nextRunId++;
    return String(this.nextRunId++);
  }

  private allocateTaskId(taken: Set<string>): string {
    let id = String(this.nextTaskId++);
    while (taken.has(id)) id = String(this.nextTaskId++);
    return id;
  }
}
