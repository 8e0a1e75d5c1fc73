// The run fixture schema (zod) and the shapes the HealthOmics emulator stores and serves.
import { OMICS_LOG_GROUP } from '../../functions/lib/contract';
import { z } from 'zod';

/** Run statuses, as the HealthOmics API reference lists them (GetRun, ListRuns filter). */
export const RUN_STATUSES = ['PENDING', 'STARTING', 'RUNNING', 'STOPPING', 'COMPLETED', 'DELETED', 'CANCELLED', 'FAILED'] as const;
export type RunStatus = (typeof RUN_STATUSES)[number];
/** Task statuses (ListRunTasks filter, GetRunTask). */
export const TASK_STATUSES = ['PENDING', 'STARTING', 'RUNNING', 'STOPPING', 'COMPLETED', 'CANCELLED', 'FAILED'] as const;
export type TaskStatus = (typeof TASK_STATUSES)[number];
/** DeleteRun is refused for a run in any other status. */
export const DELETABLE_RUN_STATUSES: readonly RunStatus[] = ['COMPLETED', 'FAILED', 'CANCELLED'];
/** CancelRun only applies to a run that has not finished. */
export const CANCELLABLE_RUN_STATUSES: readonly RunStatus[] = ['PENDING', 'STARTING', 'RUNNING'];

/** The CloudWatch Logs group HealthOmics writes every workflow log to. */
/** Where HealthOmics writes run logs: the archiver's contract names it. */
export const WORKFLOW_LOG_GROUP = OMICS_LOG_GROUP;

/** Run, task, workflow and run-group ids: `[0-9]+`, 1-18 characters. */
export const NUMERIC_ID = /^[0-9]{1,18}$/;

const SIZE_UNITS: Record<string, number> = { B: 1, KiB: 1024, MiB: 1024 ** 2, GiB: 1024 ** 3 };
function parseSize(value: number | string): number | undefined {
  if (typeof value === 'number') return value;
  const match = /^\s*(\d+(?:\.\d+)?)\s*(B|KiB|MiB|GiB)\s*$/.exec(value);
  return match ? Math.round(Number(match[1]) * SIZE_UNITS[match[2]]) : undefined;
}

const TIMESTAMP_MESSAGE = 'must be an ISO-8601 date-time such as 2024-05-01T12:00:00Z';
const numericId = z.string().regex(NUMERIC_ID, 'must be 1-18 digits');
const timestamp = z
  .union([z.date(), z.iso.datetime({ offset: true, error: TIMESTAMP_MESSAGE })], { error: TIMESTAMP_MESSAGE })
  .transform((value) => new Date(value));
const size = z.union([z.number().int().nonnegative(), z.string()]).transform((value, ctx) => {
  const bytes = parseSize(value);
  if (bytes === undefined) {
    ctx.addIssue({ code: 'custom', message: `must be a number of bytes or a size such as "512 KiB" (got ${JSON.stringify(value)})` });
    return z.NEVER;
  }
  return bytes;
});

/**
 * Log lines: written out, or generated lazily (`count` lines from `template`, where `{i}` is the line number from 0),
 * so a fixture can carry a log of millions of lines without holding them.
 */
export const LogLinesSchema = z.union([
  z.array(z.string()),
  z
    .object({
      count: z.number().int().nonnegative(),
      template: z.string().default('line {i}'),
    })
    .strict(),
]);
export type LogLines = z.output<typeof LogLinesSchema>;

export const TaskFixtureSchema = z
  .object({
    taskId: numericId.optional(),
    name: z.string().min(1).max(128),
    status: z.enum(TASK_STATUSES).optional(),
    cpus: z.number().int().min(1).default(2),
    memory: z.number().int().min(1).default(4),
    gpus: z.number().int().min(0).default(0),
    instanceType: z.string().min(1).default('omics.c.large'),
    cacheHit: z.boolean().optional(),
    cacheS3Uri: z
      .string()
      .regex(/^s3:\/\//, 'must be an s3:// URI')
      .optional(),
    creationTime: timestamp.optional(),
    startTime: timestamp.optional(),
    stopTime: timestamp.optional(),
    statusMessage: z.string().optional(),
    failureReason: z.string().optional(),
    imageDetails: z.object({ image: z.string(), imageDigest: z.string(), sourceImage: z.string().optional() }).strict().optional(),
    /** The task's log stream (`run/<id>/task/<taskId>`); absent: a few generated lines. */
    log: LogLinesSchema.optional(),
  })
  .strict();
export type TaskFixture = z.output<typeof TaskFixtureSchema>;

const relativePath = z
  .string()
  .min(1)
  .refine((p) => !p.startsWith('/') && !p.split('/').some((part) => part === '..' || part === ''), {
    message: 'must be a relative path without empty or ".." segments',
  });

export const OutputFileSchema = z
  .object({
    /** Path under the run's `out/` folder; spaces, unicode and deep folders are fine. */
    path: relativePath,
    /** Bytes; with no `content`, deterministic bytes of this size are generated as they are uploaded. */
    size: size.optional(),
    content: z.string().optional(),
    /** S3 cannot backdate an object: this is kept as user metadata (`fixture-last-modified`) only. */
    lastModified: timestamp.optional(),
  })
  .strict()
  .superRefine((file, ctx) => {
    if (file.size === undefined && file.content === undefined) {
      ctx.addIssue({ code: 'custom', path: ['size'], message: 'give size or content' });
    }
    if (file.size !== undefined && file.content !== undefined && Buffer.byteLength(file.content) !== file.size) {
      ctx.addIssue({ code: 'custom', path: ['size'], message: `is ${file.size} but content has ${Buffer.byteLength(file.content)} bytes` });
    }
  });
export type OutputFile = z.output<typeof OutputFileSchema>;

export const RunFixtureSchema = z
  .object({
    /** An explicit run id; absent: the emulator allocates one, reusing a deleted run's id first, as HealthOmics does. */
    id: numericId.optional(),
    uuid: z.guid().optional(),
    name: z.string().min(1).max(128),
    workflowId: numericId,
    /** Not a GetRun field: it goes into the `Run Status Change` event. */
    workflowName: z.string().min(1).optional(),
    workflowType: z.enum(['PRIVATE', 'READY2RUN']).default('PRIVATE'),
    workflowVersionName: z
      .string()
      .regex(/^[A-Za-z0-9][A-Za-z0-9\-._]*$/)
      .max(64)
      .optional(),
    workflowUuid: z.guid().optional(),
    workflowOwnerId: z
      .string()
      .regex(/^[0-9]{12}$/, 'must be a 12-digit account id')
      .optional(),
    status: z.enum(RUN_STATUSES).default('COMPLETED'),
    statusMessage: z.string().optional(),
    failureReason: z.string().max(64).optional(),
    runGroupId: numericId.optional(),
    batchId: numericId.optional(),
    cacheId: numericId.optional(),
    cacheBehavior: z.enum(['CACHE_ON_FAILURE', 'CACHE_ALWAYS']).optional(),
    priority: z.number().int().min(0).max(100000).optional(),
    parameters: z.record(z.string(), z.unknown()).default({}),
    storageType: z.enum(['STATIC', 'DYNAMIC']).default('DYNAMIC'),
    storageCapacity: z.number().int().min(0).max(100000).optional(),
    /** Where the run writes: `s3://bucket/prefix/`; the run's own folder is `<outputUri><runId>`. */
    outputUri: z.string().regex(/^s3:\/\/[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](\/.*)?$/, 'must be an s3://bucket/prefix/ URI'),
    logLevel: z.enum(['OFF', 'FATAL', 'ERROR', 'ALL']).default('ALL'),
    retentionMode: z.enum(['RETAIN', 'REMOVE']).default('RETAIN'),
    roleArn: z
      .string()
      .regex(/^arn:.+/)
      .optional(),
    startedBy: z.string().min(1).optional(),
    digest: z.string().max(64).optional(),
    resourceDigests: z.record(z.string(), z.string()).optional(),
    engineVersion: z.string().optional(),
    accelerators: z.enum(['GPU']).optional(),
    networkingMode: z.enum(['RESTRICTED', 'VPC']).optional(),
    tags: z.record(z.string().min(1).max(128), z.string().max(256)).default({}),
    creationTime: timestamp.optional(),
    startTime: timestamp.optional(),
    stopTime: timestamp.optional(),
    tasks: z.array(TaskFixtureSchema).default([]),
    /** Engine log (`run/<id>/engine`, and `logs/engine.log` under the run's output folder). */
    engineLog: LogLinesSchema.optional(),
    /** Run log (`run/<id>`). */
    runLog: LogLinesSchema.optional(),
    /** Run manifest log (`manifest/run/<id>/<uuid>`); absent: one JSON line for the run and one per task. */
    manifestLog: LogLinesSchema.optional(),
    outputs: z.array(OutputFileSchema).default([]),
    /** A local folder uploaded under `out/`, relative paths kept. */
    outputsFolder: z.string().min(1).optional(),
    /**
     * The workflow's engine. Not a GetRun field: it decides where outputs go. A CWL run writes them one folder deeper,
     * under `<runOutputUri>/<uuid>/out/` (WDL and Nextflow: `<runOutputUri>/out/`).
     */
    engine: z.enum(['WDL', 'NEXTFLOW', 'CWL']).default('WDL'),
  })
  .strict()
  .superRefine((run, ctx) => {
    const seen = new Set<string>();
    run.tasks.forEach((task, i) => {
      if (task.taskId === undefined) return;
      if (seen.has(task.taskId)) ctx.addIssue({ code: 'custom', path: ['tasks', i, 'taskId'], message: `duplicate task id ${task.taskId}` });
      seen.add(task.taskId);
    });
    const paths = new Set<string>();
    run.outputs.forEach((file, i) => {
      if (paths.has(file.path)) ctx.addIssue({ code: 'custom', path: ['outputs', i, 'path'], message: `duplicate output path "${file.path}"` });
      paths.add(file.path);
    });
  });

/** A fixture as written (defaults optional). */
export type RunFixtureInput = z.input<typeof RunFixtureSchema>;
/** A validated fixture (defaults filled in). */
export type RunFixture = z.output<typeof RunFixtureSchema>;

/** A fixture that does not validate; the message names every offending field. */
export class FixtureError extends Error {
  constructor(
    message: string,
    readonly issues: readonly { path: string; message: string }[],
  ) {
    super(message);
    this.name = 'FixtureError';
  }
}

function issuePath(path: readonly PropertyKey[]): string {
  return path.reduce<string>((text, part) => (typeof part === 'number' ? `${text}[${part}]` : text ? `${text}.${String(part)}` : String(part)), '');
}

/** Validates a run fixture, throwing one FixtureError that names each bad field (e.g. `tasks[3].name: ...`). */
export function parseRunFixture(input: unknown): RunFixture {
  const result = RunFixtureSchema.safeParse(input);
  if (result.success) return result.data;
  const issues = result.error.issues.map((issue) => ({ path: issuePath(issue.path) || '(fixture)', message: issue.message }));
  throw new FixtureError(`Invalid run fixture: ${issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`, issues);
}

/** GetRun's `logLocation`. */
export interface RunLogLocation {
  engineLogStream?: string;
  runLogStream?: string;
}

/** A run as GetRun serves it (dates as ISO strings, the wire form). */
export interface StoredRun {
  arn: string;
  id: string;
  runId: string;
  uuid: string;
  name: string;
  status: RunStatus;
  workflowId: string;
  workflowType: string;
  workflowVersionName?: string;
  workflowUuid?: string;
  workflowOwnerId?: string;
  runGroupId?: string;
  batchId?: string;
  cacheId?: string;
  cacheBehavior?: string;
  priority?: number;
  parameters: Record<string, unknown>;
  storageType: string;
  storageCapacity?: number;
  outputUri: string;
  runOutputUri: string;
  logLevel: string;
  logLocation: RunLogLocation;
  retentionMode: string;
  roleArn: string;
  startedBy: string;
  creationTime: string;
  startTime?: string;
  stopTime?: string;
  statusMessage?: string;
  failureReason?: string;
  tags: Record<string, string>;
  digest?: string;
  resourceDigests?: Record<string, string>;
  engineVersion?: string;
  accelerators?: string;
  networkingMode?: string;
}

/** A task as GetRunTask serves it. */
export interface StoredTask {
  taskId: string;
  status: TaskStatus;
  name: string;
  cpus: number;
  memory: number;
  gpus: number;
  instanceType: string;
  cacheHit?: boolean;
  cacheS3Uri?: string;
  creationTime: string;
  startTime?: string;
  stopTime?: string;
  statusMessage?: string;
  logStream: string;
  failureReason?: string;
  imageDetails?: { image: string; imageDigest: string; sourceImage?: string };
}

/** The fields of a task that ListRunTasks returns (TaskListItem). */
export const TASK_LIST_FIELDS = [
  'taskId',
  'status',
  'name',
  'cpus',
  'cacheHit',
  'cacheS3Uri',
  'memory',
  'creationTime',
  'startTime',
  'stopTime',
  'gpus',
  'instanceType',
] as const satisfies readonly (keyof StoredTask)[];
/** The fields of a run that ListRuns returns (RunListItem). */
export const RUN_LIST_FIELDS = [
  'arn',
  'id',
  'status',
  'workflowId',
  'batchId',
  'name',
  'priority',
  'storageCapacity',
  'creationTime',
  'startTime',
  'stopTime',
  'storageType',
  'workflowVersionName',
] as const satisfies readonly (keyof StoredRun)[];

/** Workflow statuses (WorkflowListItem.status). */
export const WORKFLOW_STATUSES = ['CREATING', 'ACTIVE', 'UPDATING', 'DELETED', 'FAILED', 'INACTIVE'] as const;

/** One input of a workflow's parameter template, as GetWorkflow describes it. */
export const WorkflowParameterSchema = z.object({ description: z.string().max(256).optional(), optional: z.boolean().default(true) }).strict();

/**
 * A workflow the emulator can run: what ListWorkflows lists, and what a started run of it does (its tasks, its
 * synthetic outputs; a run's `outputsFrom` parameter names a local folder to upload instead).
 */
export const WorkflowFixtureSchema = z
  .object({
    id: numericId.optional(),
    name: z.string().min(1).max(128),
    description: z.string().max(256).optional(),
    status: z.enum(WORKFLOW_STATUSES).default('ACTIVE'),
    engine: z.enum(['WDL', 'NEXTFLOW', 'CWL']).default('WDL'),
    /** The inputs StartRun accepts; others are a ValidationException, as the service refuses undeclared parameters. */
    parameterTemplate: z.record(z.string().min(1), WorkflowParameterSchema).default({}),
    tags: z.record(z.string().min(1).max(128), z.string().max(256)).default({}),
    creationTime: timestamp.optional(),
    /** The tasks each run of it has (all PENDING at start). */
    tasks: z.array(TaskFixtureSchema).default([]),
    /** What each run writes under `out/` unless its `outputsFrom` parameter names a folder. */
    outputs: z.array(OutputFileSchema).default([]),
    engineLog: LogLinesSchema.optional(),
  })
  .strict();
export type WorkflowFixtureInput = z.input<typeof WorkflowFixtureSchema>;
export type WorkflowFixture = z.output<typeof WorkflowFixtureSchema>;

/** Validates a workflow fixture, with the same FixtureError as a run fixture. */
export function parseWorkflowFixture(input: unknown): WorkflowFixture {
  const result = WorkflowFixtureSchema.safeParse(input);
  if (result.success) return result.data;
  const issues = result.error.issues.map((issue) => ({ path: issuePath(issue.path) || '(workflow)', message: issue.message }));
  throw new FixtureError(`Invalid workflow fixture: ${issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`, issues);
}

/** A registered workflow (dates as ISO strings). */
export interface StoredWorkflow {
  arn: string;
  id: string;
  name: string;
  description?: string;
  status: (typeof WORKFLOW_STATUSES)[number];
  type: 'PRIVATE';
  engine: string;
  digest: string;
  creationTime: string;
  parameterTemplate: Record<string, { description?: string; optional: boolean }>;
  tags: Record<string, string>;
}

/** The fields of a workflow that ListWorkflows returns (WorkflowListItem). */
export const WORKFLOW_LIST_FIELDS = ['arn', 'id', 'name', 'status', 'type', 'digest', 'creationTime'] as const satisfies readonly (keyof StoredWorkflow)[];
