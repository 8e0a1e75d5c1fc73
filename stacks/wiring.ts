// The stack's wiring as plain data, shared by the CDK constructs and the local cloud so both build the same thing.
// Nothing here imports aws-cdk-lib: local/ reads it without loading the CDK. The names both sides share (environment,
// events, index keys) are the runtime's contract, in functions/lib/contract.
import { ARCHIVE_FILES_MEMORY_MIB, COPY_RESTORED_FILE_MEMORY_MIB, ENV, type EnvName } from '../functions/lib/contract';

/** One Lambda function: where its code is, what it needs, and the ASL substitution that names it (if a state calls it). */
export interface LambdaSpec {
  /** Construct id and local function name. */
  readonly id: string;
  /** Handler file, relative to the repository root; it exports `handler`. */
  readonly entry: string;
  readonly description: string;
  readonly memoryMiB: number;
  readonly timeoutSeconds: number;
  /** ASL `${...}` key holding this function's ARN, for functions a state machine invokes. */
  readonly substitution?: string;
  readonly env: readonly EnvName[];
}

const spec = (s: LambdaSpec) => s;

export const LAMBDAS = {
  triggerArchive: spec({
    id: 'TriggerArchive',
    entry: 'functions/trigger-archive.ts',
    description: 'Starts the archive workflow for a run that reached a terminal status',
    memoryMiB: 256,
    timeoutSeconds: 60,
    env: [ENV.archiveStateMachineArn, ENV.tierPolicy, ENV.runIndexTable],
  }),
  snapshotRun: spec({
    id: 'SnapshotRun',
    entry: 'functions/snapshot-run.ts',
    description: 'Snapshots a run: every GetRun field, its tasks and its logs, to the snapshot bucket',
    memoryMiB: 1024,
    timeoutSeconds: 900,
    substitution: 'SnapshotRunFunctionArn',
    env: [ENV.snapshotBucket, ENV.runIndexTable],
  }),
  planArchive: spec({
    id: 'PlanArchive',
    entry: 'functions/plan-archive.ts',
    description: "Lists a run's outputs, applies the tier's file rules and writes the archive plan",
    memoryMiB: 1769,
    timeoutSeconds: 900,
    substitution: 'PlanArchiveFunctionArn',
    env: [ENV.snapshotBucket, ENV.runIndexTable],
  }),
  archiveFiles: spec({
    id: 'ArchiveFiles',
    entry: 'functions/archive-files.ts',
    description: 'Streams one plan item (a file or a group of small files) into Glacier and records each archive',
    // A vault upload holds its parts in flight; the configuration's partSizeMiB is checked against this.
    memoryMiB: ARCHIVE_FILES_MEMORY_MIB,
    timeoutSeconds: 900,
    substitution: 'ArchiveFilesFunctionArn',
    env: [ENV.runIndexTable, ENV.vaultName, ENV.archiveBucket],
  }),
  finalizeArchive: spec({
    id: 'FinalizeArchive',
    entry: 'functions/finalize-archive.ts',
    description: "Settles a run's archive state (ARCHIVED, PARTIAL or FAILED) from its file records",
    memoryMiB: 512,
    timeoutSeconds: 300,
    substitution: 'FinalizeArchiveFunctionArn',
    env: [ENV.runIndexTable],
  }),
  deleteRun: spec({
    id: 'DeleteRun',
    entry: 'functions/delete-run.ts',
    description: 'Deletes an archived run from HealthOmics once the index shows it safely archived',
    memoryMiB: 256,
    timeoutSeconds: 60,
    env: [ENV.runIndexTable],
  }),
  planRestore: spec({
    id: 'PlanRestore',
    entry: 'functions/plan-restore.ts',
    description: 'Resolves a restore request against the index: run, files, tier and destination',
    memoryMiB: 512,
    timeoutSeconds: 300,
    substitution: 'PlanRestoreFunctionArn',
    env: [ENV.runIndexTable, ENV.tierPolicy, ENV.snapshotBucket, ENV.vaultName],
  }),
  requestRetrieval: spec({
    id: 'RequestRetrieval',
    entry: 'functions/request-retrieval.ts',
    description: 'Starts the Glacier retrieval (or S3 restore) of one file and parks its task token',
    memoryMiB: 256,
    timeoutSeconds: 60,
    substitution: 'RequestRetrievalFunctionArn',
    env: [ENV.runIndexTable, ENV.vaultName, ENV.vaultJobsTopicArn],
  }),
  checkRetrieval: spec({
    id: 'CheckRetrieval',
    entry: 'functions/check-retrieval.ts',
    description: 'Polls a retrieval that sent no notification (the fallback to the task token)',
    memoryMiB: 256,
    timeoutSeconds: 60,
    substitution: 'CheckRetrievalFunctionArn',
    env: [ENV.runIndexTable, ENV.vaultName],
  }),
  retrievalNotification: spec({
    id: 'RetrievalNotification',
    entry: 'functions/retrieval-notification.ts',
    description: 'Resumes the restores waiting on a Glacier job or an S3 restore when the vault or S3 announces it is done',
    memoryMiB: 256,
    timeoutSeconds: 60,
    env: [ENV.runIndexTable],
  }),
  copyRestoredFile: spec({
    id: 'CopyRestoredFile',
    entry: 'functions/copy-restored-file.ts',
    description: 'Copies a retrieved archive to its destination in verified, MiB-aligned ranges',
    // One range in memory, and ranges grow with the archive (jobOutputRangeSize): 4 GiB ones for the largest.
    memoryMiB: COPY_RESTORED_FILE_MEMORY_MIB,
    timeoutSeconds: 900,
    substitution: 'CopyRestoredFileFunctionArn',
    env: [ENV.runIndexTable, ENV.vaultName],
  }),
  finalizeRestore: spec({
    id: 'FinalizeRestore',
    entry: 'functions/finalize-restore.ts',
    description: 'Records the outcome of a restore request and announces it on the restore-events topic',
    memoryMiB: 256,
    timeoutSeconds: 60,
    substitution: 'FinalizeRestoreFunctionArn',
    env: [ENV.runIndexTable, ENV.restoreEventsTopicArn],
  }),
  reconcileRuns: spec({
    id: 'ReconcileRuns',
    entry: 'functions/reconcile-runs.ts',
    description: 'Daily: starts the archive of terminal runs that no Run Status Change event announced',
    memoryMiB: 512,
    timeoutSeconds: 900,
    env: [ENV.archiveStateMachineArn, ENV.tierPolicy, ENV.runIndexTable],
  }),
} as const;
export type LambdaKey = keyof typeof LAMBDAS;

/** When the reconciliation sweep runs (an EventBridge Scheduler expression). */
export const RECONCILE_SCHEDULE = 'rate(1 day)';

/** SQS queues that feed a Lambda, with the event source mapping settings the local poller emulates. */
export interface QueueSpec {
  readonly id: string;
  readonly consumer: LambdaKey;
  readonly batchSize: number;
  readonly maxReceiveCount: number;
  readonly visibilityTimeoutSeconds: number;
}

export const QUEUES = {
  runCompletion: {
    id: 'RunCompletion',
    consumer: 'triggerArchive',
    batchSize: 10,
    maxReceiveCount: 5,
    visibilityTimeoutSeconds: 6 * LAMBDAS.triggerArchive.timeoutSeconds,
  },
  runDeletion: {
    id: 'RunDeletion',
    consumer: 'deleteRun',
    batchSize: 10,
    maxReceiveCount: 5,
    visibilityTimeoutSeconds: 6 * LAMBDAS.deleteRun.timeoutSeconds,
  },
  retrievalNotifications: {
    id: 'RetrievalNotifications',
    consumer: 'retrievalNotification',
    batchSize: 10,
    maxReceiveCount: 5,
    visibilityTimeoutSeconds: 6 * LAMBDAS.retrievalNotification.timeoutSeconds,
  },
} as const satisfies Record<string, QueueSpec>;

/** Step Functions state machines and the file each is defined in. */
export const STATE_MACHINES = {
  archiveRun: {
    id: 'ArchiveRun',
    definitionFile: 'statemachines/archive-run.asl.json',
    /** The functions the workflow's states invoke (the stack creates them with the workflow and lets it invoke them). */
    functions: ['snapshotRun', 'planArchive', 'archiveFiles', 'finalizeArchive'],
  },
  restoreRun: {
    id: 'RestoreRun',
    definitionFile: 'statemachines/restore-run.asl.json',
    functions: ['planRestore', 'requestRetrieval', 'checkRetrieval', 'copyRestoredFile', 'finalizeRestore'],
  },
} as const satisfies Record<string, { id: string; definitionFile: string; functions: readonly LambdaKey[] }>;
export type StateMachineKey = keyof typeof STATE_MACHINES;

/**
 * What a state machine's `${...}` placeholders are filled with; the CDK passes tokens, the local cloud plain strings.
 * Numbers (Map concurrency) travel in the execution input instead, so the ASL files stay valid JSON.
 */
export interface WorkflowRefs {
  functionArns: Partial<Record<LambdaKey, string>>;
  snapshotBucket: string;
  runIndexTable: string;
  archiveEventsTopicArn: string;
}

/** The one source of definitionSubstitutions for both workflows. */
export function definitionSubstitutions(refs: WorkflowRefs): Record<string, string> {
  const substitutions: Record<string, string> = {
    SnapshotBucket: refs.snapshotBucket,
    RunIndexTable: refs.runIndexTable,
    ArchiveEventsTopicArn: refs.archiveEventsTopicArn,
  };
  for (const [key, lambda] of Object.entries(LAMBDAS) as [LambdaKey, LambdaSpec][]) {
    if (!lambda.substitution) continue;
    const arn = refs.functionArns[key];
    if (arn) substitutions[lambda.substitution] = arn;
  }
  return substitutions;
}

/** Fills `${Key}` placeholders the way CloudFormation's DefinitionSubstitutions does; unknown keys are an error. */
export function substitute(definition: string, substitutions: Record<string, string>): string {
  return definition.replace(/\$\{([A-Za-z0-9_]+)\}/g, (_, key: string) => {
    const value = substitutions[key];
    if (value === undefined) throw new Error(`definition uses \${${key}} but no substitution provides it`);
    return value;
  });
}
