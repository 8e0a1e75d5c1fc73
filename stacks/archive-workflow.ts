// The ArchiveRun workflow: its functions, its state machine and the archive-events topic it publishes outcomes to.
import * as kms from 'aws-cdk-lib/aws-kms';
import * as sns from 'aws-cdk-lib/aws-sns';
import type * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import type { ArchiveStorage } from './archive-storage';
import type { ArchiverConfig } from '../functions/lib/contract';
import { KMS_READ_ACTIONS, grantBucketListing, grantBucketObjects, grantKmsKeys, grantOmicsRunLogs, grantOmicsRuns } from './external-access';
import { ArchiverFunction, type FunctionEnvironment } from './lambda';
import type { RunIndexTable } from './run-index';
import { ENV } from '../functions/lib/contract';
import { LAMBDAS, STATE_MACHINES } from './wiring';
import { WorkflowStateMachine } from './workflow-state-machine';

type ArchiveFunctionKey = (typeof STATE_MACHINES.archiveRun.functions)[number];

export interface ArchiveWorkflowProps {
  readonly config: ArchiverConfig;
  readonly runIndex: RunIndexTable;
  readonly storage: ArchiveStorage;
  readonly environment: FunctionEnvironment;
}

export class ArchiveWorkflow extends Construct {
  /** Run outcomes (`event`, `tier`, `deleteRun` message attributes); run clean-up subscribes to it. */
  readonly archiveEventsTopic: sns.Topic;
  readonly functions: Record<ArchiveFunctionKey, ArchiverFunction>;
  readonly workflow: WorkflowStateMachine;

  constructor(scope: Construct, id: string, props: ArchiveWorkflowProps) {
    super(scope, id);
    const { config, runIndex, storage } = props;

    // Only IAM principals of this account publish (the state machine), so the AWS managed key suffices.
    this.archiveEventsTopic = new sns.Topic(this, 'ArchiveEventsTopic', {
      displayName: 'Omics run archive outcomes',
      masterKey: kms.Alias.fromAliasName(this, 'SnsManagedKey', 'alias/aws/sns'),
      enforceSSL: true,
    });

    const environment: FunctionEnvironment = { ...props.environment, [ENV.archiveEventsTopicArn]: this.archiveEventsTopic.topicArn };
    const make = (key: ArchiveFunctionKey, reservedConcurrency?: number) =>
      new ArchiverFunction(this, { spec: LAMBDAS[key], config, environment, reservedConcurrency });
    this.functions = {
      snapshotRun: make('snapshotRun'),
      planArchive: make('planArchive'),
      // The Distributed Map's items of every run in flight land here: a backfill of thousands of runs would otherwise
      // take the account's whole concurrency. Throttled items wait (the ASL's long Lambda.TooManyRequestsException retry).
      archiveFiles: make('archiveFiles', config.reservedConcurrency.archiveFiles),
      finalizeArchive: make('finalizeArchive'),
    };
    const { snapshotRun, planArchive, archiveFiles, finalizeArchive } = this.functions;

    grantOmicsRuns(snapshotRun.role, ['omics:GetRun', 'omics:ListRunTasks', 'omics:GetRunTask']);
    grantOmicsRunLogs(snapshotRun.role);
    storage.grantSnapshotWrite(snapshotRun.role);

    // GetRun: whether the run's id went to a newer run while the outputs aged (its objects are then left out).
    grantOmicsRuns(planArchive.role, ['omics:GetRun']);
    grantBucketListing(planArchive.role, config.outputBuckets);
    grantBucketObjects(planArchive.role, config.outputBuckets, ['s3:GetObject'], 'Run outputs sit under runs/<id>/ prefixes HealthOmics names at run time.');
    storage.grantPlans(planArchive.role);

    grantBucketObjects(
      archiveFiles.role,
      config.outputBuckets,
      // GetObjectTagging: CopyObject into the archive bucket copies the source's tags. DeleteObjectVersion: a versioned
      // bucket's archived version is deleted by id, so no hidden noncurrent copy keeps costing.
      ['s3:GetObject', 's3:GetObjectVersion', 's3:GetObjectTagging', 's3:DeleteObject', 's3:DeleteObjectVersion'],
      'Archived outputs are read (and, where a tier deletes sources, removed) under run prefixes named at run time.',
    );
    // SSE-KMS output buckets: reading a source (GetObject, or the server-side copy's read of it) decrypts with its key.
    for (const fn of [planArchive, archiveFiles]) grantKmsKeys(fn.role, config.kmsKeyArns, KMS_READ_ACTIONS);
    storage.grantVaultUpload(archiveFiles.role);
    storage.grantArchiveWrite(archiveFiles.role);
    // A bundle's manifest is read from beside the plan, and its members' SHA-256s are written there before it completes.
    storage.grantPlans(archiveFiles.role);

    for (const fn of [snapshotRun, planArchive, archiveFiles, finalizeArchive]) runIndex.grantRecords(fn.role);

    this.workflow = new WorkflowStateMachine(this, STATE_MACHINES.archiveRun.id, {
      key: 'archiveRun',
      config,
      functions: Object.fromEntries(Object.entries(this.functions).map(([key, fn]) => [key, fn.function])),
      runIndex,
      storage,
      archiveEventsTopic: this.archiveEventsTopic,
    });
    // DescribeExecution: whether the execution that owns a run's archive still runs (a new one stands down if so).
    this.workflow.grantDescribeExecutions(snapshotRun.role);
  }

  get stateMachine(): sfn.StateMachine {
    return this.workflow.stateMachine;
  }
}
