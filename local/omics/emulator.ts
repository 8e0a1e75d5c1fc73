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
  WORKFLOW_LIST_FIELDS,
  WORKFLOW_LOG_GROUP,
  parseRunFixture,
  parseWorkflowFixture,
  type RunFixture,
  type RunFixtureInput,
  type RunStatus,
  type StoredRun,
  type StoredTask,
  type StoredWorkflow,
  type TaskStatus,
  type WorkflowFixture,
  type WorkflowFixtureInput,
} from './model';
import { TokenBook, readMaxResults, readStartingToken } from './pagination';
import { parseStartRun, type StartRunRequest } from './start-run';

export interface OmicsEmulatorOptions {
  accountId?: string;
  region?: string;
  now?: () => Date;
}

/** Run ids look like HealthOmics ones (seven digits); the first is arbitrary. */
const FIRST_RUN_ID = 1000001;
const FIRST_TASK_ID = 5000001;
const FIRST_WORKFLOW_ID = 4100001;
const TERMINAL: readonly RunStatus[] = ['COMPLETED', 'FAILED', 'CANCELLED', 'DELETED'];

interface RunRecord {
  run: StoredRun;
  tasks: StoredTask[];
  /** What the run was made from: a run that StartRun started writes its outputs and logs from it when it ends. */
  fixture: RunFixture;
}

interface WorkflowRecord {
  workflow: StoredWorkflow;
  fixture: WorkflowFixture;
}

/** A request body too large for any HealthOmics operation is refused before it is parsed. */
const MAX_BODY_BYTES = 1024 * 1024;

/**
 * A run moved to `status` at `at`: RUNNING sets startTime and starts the tasks; a terminal status sets stopTime and
 * ends the tasks still going, their times splitting the run's span evenly in order.
 */
function applyStatus(record: { run: StoredRun; tasks: StoredTask[] }, status: RunStatus, at: Date): void {
  const { run, tasks } = record;
  run.status = status;
  const iso = at.toISOString();
  if (status === 'RUNNING') {
    run.startTime ??= iso;
    for (const task of tasks) {
      if (task.status === 'PENDING' || task.status === 'STARTING') {
        task.status = 'RUNNING';
        task.startTime ??= iso;
      }
    }
  }
  if (TERMINAL.includes(status)) {
    run.stopTime ??= iso;
    const start = Date.parse(run.startTime ?? run.stopTime);
    const span = Math.max(0, Date.parse(run.stopTime) - start);
    const taskStatus: TaskStatus = status === 'FAILED' ? 'FAILED' : status === 'CANCELLED' ? 'CANCELLED' : 'COMPLETED';
    tasks.forEach((task, i) => {
      if (task.status === 'COMPLETED' || task.status === 'FAILED' || task.status === 'CANCELLED') return;
      if (run.startTime) {
        task.startTime = new Date(start + Math.floor((span * i) / tasks.length)).toISOString();
        task.stopTime = new Date(start + Math.floor((span * (i + 1)) / tasks.length)).toISOString();
      } else {
        task.stopTime = iso;
      }
      task.status = taskStatus;
    });
  }
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

/** The service refuses parameters the workflow does not declare and requires the ones it does not mark optional. */
function checkParameters(workflow: WorkflowFixture, parameters: Record<string, unknown>): void {
  const template = workflow.parameterTemplate;
  const unknown = Object.keys(parameters).filter((name) => !(name in template));
  if (unknown.length > 0) {
    throw new OmicsError(
      'ValidationException',
      `Parameters not in the workflow's parameter template: ${unknown.join(', ')} (it declares ${Object.keys(template).join(', ') || 'none'})`,
    );
  }
  const missing = Object.entries(template)
    .filter(([name, spec]) => !spec.optional && parameters[name] === undefined)
    .map(([name]) => name);
  if (missing.length > 0) throw new OmicsError('ValidationException', `Missing required parameters: ${missing.join(', ')}`);
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
  private nextWorkflowId = FIRST_WORKFLOW_ID;
  private readonly tokens = new TokenBook();
  private readonly workflowRecords = new Map<string, WorkflowRecord>();
  /** StartRun's idempotency: requestId → the run it started and the response it gave. */
  private readonly startedByRequest = new Map<string, { runId: string; response: Record<string, unknown> }>();
  private runStartedListener?: (runId: string) => void;

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
    this.records.set(id, { run, tasks, fixture });
    return structuredClone(run);
  }

  /** Registers a workflow that ListWorkflows lists and StartRun can run; returns it as stored. */
  addWorkflow(input: WorkflowFixtureInput): StoredWorkflow {
    const fixture = parseWorkflowFixture(input);
    let id = fixture.id;
    if (id !== undefined && this.workflowRecords.has(id)) throw new Error(`workflow id ${id} is already in use in the HealthOmics emulator`);
    if (id === undefined) {
      while (this.workflowRecords.has(String(this.nextWorkflowId))) this.nextWorkflowId++;
      id = String(this.nextWorkflowId++);
    }
    const workflow: StoredWorkflow = withoutUndefined({
      arn: `arn:aws:omics:${this.region}:${this.accountId}:workflow/${id}`,
      id,
      name: fixture.name,
      description: fixture.description,
      status: fixture.status,
      type: 'PRIVATE' as const,
      engine: fixture.engine,
      digest: `sha256:${id.padStart(64, '0')}`.slice(0, 64),
      creationTime: (fixture.creationTime ?? this.now()).toISOString(),
      parameterTemplate: fixture.parameterTemplate,
      tags: fixture.tags,
    });
    this.workflowRecords.set(id, { workflow, fixture });
    return structuredClone(workflow);
  }

  /** The registered workflows. */
  workflows(): StoredWorkflow[] {
    return [...this.workflowRecords.values()].map((w) => structuredClone(w.workflow));
  }

  /** Called with the id of each run StartRun creates (the local cloud's run driver takes it from there). */
  onRunStarted(listener: (runId: string) => void): void {
    this.runStartedListener = listener;
  }

  /** A run, its tasks and the fixture it came from, as they would be after moving to `status` at `at` (nothing changes). */
  previewStatus(runId: string, status: RunStatus, at: Date): { run: StoredRun; tasks: StoredTask[]; fixture: RunFixture } {
    const record = this.records.get(runId);
    if (!record) throw new Error(`no run ${runId} in the HealthOmics emulator`);
    const copy = structuredClone({ run: record.run, tasks: record.tasks });
    applyStatus(copy, status, at);
    return { ...copy, fixture: structuredClone(record.fixture) };
  }

  /** Moves a run along as the service would (times and tasks included); returns GetRun's view afterwards. */
  advanceRun(runId: string, status: RunStatus, at: Date, details: { statusMessage?: string; failureReason?: string } = {}): StoredRun {
    const record = this.records.get(runId);
    if (!record) throw new Error(`no run ${runId} in the HealthOmics emulator`);
    applyStatus(record, status, at);
    if (details.statusMessage !== undefined) record.run.statusMessage = details.statusMessage;
    if (details.failureReason !== undefined) record.run.failureReason = details.failureReason;
    return structuredClone(record.run);
  }

  /** The workflow a run was started from (undefined for fixture runs of unregistered workflows). */
  workflowOf(runId: string): StoredWorkflow | undefined {
    const record = this.records.get(runId);
    const workflow = record ? this.workflowRecords.get(record.run.workflowId) : undefined;
    return workflow ? structuredClone(workflow.workflow) : undefined;
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
      // Read the whole body (only StartRun has one) so the connection can be reused.
      const chunks: Buffer[] = [];
      let size = 0;
      for await (const chunk of req) {
        size += (chunk as Buffer).length;
        if (size <= MAX_BODY_BYTES) chunks.push(chunk as Buffer);
      }
      if (size > MAX_BODY_BYTES) throw new OmicsError('ValidationException', `The request body is larger than ${MAX_BODY_BYTES} bytes`);
      const url = new URL(req.url ?? '/', 'http://omics.local');
      const { status, body } = this.route(req.method ?? 'GET', url, Buffer.concat(chunks).toString('utf8'));
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

  private route(method: string, url: URL, text: string): { status: number; body?: unknown } {
    const segments = url.pathname.split('/').filter(Boolean).map(decodeURIComponent);
    const q = url.searchParams;
    if (segments[0] === 'workflow' && segments.length === 1 && method === 'GET') return { status: 200, body: this.listWorkflows(q) };
    if (segments[0] === 'run') {
      if (segments.length === 1 && method === 'GET') return { status: 200, body: this.listRuns(q) };
      if (segments.length === 1 && method === 'POST') return this.startRun(text);
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

  private listWorkflows(q: URLSearchParams) {
    const type = checkEnum('type', q.get('type'), ['PRIVATE', 'READY2RUN'] as const);
    const name = q.get('name');
    if (name !== null && (name.length < 1 || name.length > 128)) throw constraintError('name', name, 'Member must have length between 1 and 128');
    const maxResults = readMaxResults(q.get('maxResults'));
    const startingToken = readStartingToken(q.get('startingToken'));
    // The emulator has no Ready2Run workflows; DELETED workflows are not listed.
    const workflows = [...this.workflowRecords.values()]
      .map((w) => w.workflow)
      .filter((w) => w.status !== 'DELETED' && (type === undefined || w.type === type) && (name === null || w.name === name))
      .sort((a, b) => b.creationTime.localeCompare(a.creationTime) || Number(b.id) - Number(a.id));
    const page = this.tokens.page(`ListWorkflows|${type ?? ''}|${name ?? ''}`, workflows, startingToken, maxResults);
    return { items: page.items.map((w) => pick(w, WORKFLOW_LIST_FIELDS)), ...(page.nextToken ? { nextToken: page.nextToken } : {}) };
  }

  private startRun(text: string): { status: number; body: unknown } {
    let body: unknown;
    try {
      body = text === '' ? {} : JSON.parse(text);
    } catch {
      throw new OmicsError('ValidationException', 'The request body is not valid JSON');
    }
    const request = parseStartRun(body);
    // A retry with the same requestId gets the run the first request started, not a second run.
    const earlier = this.startedByRequest.get(request.requestId);
    if (earlier) return { status: 201, body: earlier.response };

    const source = request.runId !== undefined ? this.record(request.runId) : undefined;
    const workflowId = request.workflowId ?? source?.run.workflowId ?? '';
    if (request.workflowType === 'READY2RUN') throw notFound(`Ready2Run workflow ${workflowId}`);
    if (request.workflowOwnerId !== undefined && request.workflowOwnerId !== this.accountId) throw notFound(`Shared workflow ${workflowId}`);
    const workflow = this.workflowRecords.get(workflowId);
    if (!workflow || workflow.workflow.status === 'DELETED') throw notFound(`Workflow ${workflowId}`);
    if (workflow.workflow.status !== 'ACTIVE') {
      throw new OmicsError('ValidationException', `Workflow ${workflowId} is ${workflow.workflow.status}; only ACTIVE workflows can run`);
    }
    if (request.workflowVersionName !== undefined) throw notFound(`Version ${request.workflowVersionName} of workflow ${workflowId}`);
    // The emulator keeps no run groups, run caches or run configurations: naming one is naming what does not exist.
    if (request.runGroupId !== undefined) throw notFound(`Run group ${request.runGroupId}`);
    if (request.cacheId !== undefined) throw notFound(`Run cache ${request.cacheId}`);
    if (request.configurationName !== undefined) throw notFound(`Configuration ${request.configurationName}`);
    const parameters = request.parameters ?? (source ? source.run.parameters : {});
    checkParameters(workflow.fixture, parameters);

    const run = this.addRun({
      name: request.name ?? source?.run.name ?? workflow.workflow.name,
      workflowId,
      workflowName: workflow.workflow.name,
      workflowType: 'PRIVATE',
      status: 'PENDING',
      priority: request.priority ?? source?.run.priority,
      parameters,
      storageType: request.storageType ?? (source?.run.storageType as StartRunRequest['storageType']) ?? 'DYNAMIC',
      storageCapacity: request.storageCapacity ?? source?.run.storageCapacity ?? (request.storageType === 'STATIC' ? 1200 : undefined),
      outputUri: request.outputUri,
      logLevel: request.logLevel ?? (source?.run.logLevel as StartRunRequest['logLevel']) ?? 'ALL',
      retentionMode: request.retentionMode ?? 'RETAIN',
      roleArn: request.roleArn,
      startedBy: `arn:aws:iam::${this.accountId}:user/local`,
      networkingMode: request.networkingMode,
      cacheBehavior: request.cacheBehavior,
      tags: request.tags ?? {},
      tasks: workflow.fixture.tasks.map((task) => ({ ...task, taskId: undefined, status: 'PENDING' as const })),
      outputs: workflow.fixture.outputs,
      engineLog: workflow.fixture.engineLog,
      creationTime: this.now(),
    });
    const response = withoutUndefined({
      arn: run.arn,
      id: run.id,
      status: run.status,
      tags: run.tags,
      uuid: run.uuid,
      runOutputUri: run.runOutputUri,
      networkingMode: run.networkingMode,
    });
    this.startedByRequest.set(request.requestId, { runId: run.id, response });
    this.runStartedListener?.(run.id);
    return { status: 201, body: response };
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
