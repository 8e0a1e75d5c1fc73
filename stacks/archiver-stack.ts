// The whole archiver as one stack: storage and index, the two workflows, the trigger, run clean-up, monitoring, outputs.
import { CfnOutput, Stack, type StackProps } from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import { ArchiveStorage } from './archive-storage';
import { ArchiveWorkflow } from './archive-workflow';
import { CompletionTrigger } from './completion-trigger';
import { acknowledgeDataKeyGrants, encryptionKeyOf } from './encryption-key';
import type { ArchiverConfig } from '../functions/lib/contract';
import type { FunctionEnvironment } from './lambda';
import { Monitoring } from './monitoring';
import { DLQ_URL_OUTPUTS, STACK_OUTPUTS } from './outputs';
import { RestoreWorkflow } from './restore-workflow';
import { RunCleanup } from './run-cleanup';
import { RunIndexTable } from './run-index';
import { ENV } from '../functions/lib/contract';
import { QUEUES } from './wiring';
import { stateMachineArn, stateMachineName } from './workflow-state-machine';

export type OmicsRunArchiverStackProps = { readonly config: ArchiverConfig } & StackProps;

export class OmicsRunArchiverStack extends Stack {
  readonly runIndex: RunIndexTable;
  readonly storage: ArchiveStorage;
  readonly archive: ArchiveWorkflow;
  readonly restore: RestoreWorkflow;
  readonly trigger: CompletionTrigger;
  readonly cleanup: RunCleanup;
  readonly monitoring: Monitoring;

  constructor(scope: Construct, id: string, props: OmicsRunArchiverStackProps) {
    super(scope, id, {
      description: 'omics-run-archiver: archives AWS HealthOmics runs to Glacier, indexes them, deletes them safely, restores on demand',
      ...props,
    });
    const { config } = props;

    // The id stays 'RunIndex' (the construct was renamed, its table's logical id must not change).
    const encryptionKey = encryptionKeyOf(this, config);
    this.runIndex = new RunIndexTable(this, 'RunIndex', { importTableName: config.imports.runIndexTableName, encryptionKey });
    this.storage = new ArchiveStorage(this, 'ArchiveStorage', { config, encryptionKey });

    // The workflows have fixed names, so every function can be told their ARNs before they exist.
    const environment: FunctionEnvironment = {
      [ENV.runIndexTable]: this.runIndex.table.tableName,
      [ENV.snapshotBucket]: this.storage.snapshotBucket.bucketName,
      ...(this.storage.vaultNotificationTopic ? { [ENV.vaultJobsTopicArn]: this.storage.vaultNotificationTopic.topicArn } : {}),
      [ENV.archiveStateMachineArn]: stateMachineArn(this, stateMachineName(this, 'archiveRun')),
      [ENV.restoreStateMachineArn]: stateMachineArn(this, stateMachineName(this, 'restoreRun')),
      ...(this.storage.vaultName ? { [ENV.vaultName]: this.storage.vaultName } : {}),
      ...(this.storage.archiveBucket ? { [ENV.archiveBucket]: this.storage.archiveBucket.bucketName } : {}),
      ...(config.logRunParameters ? { [ENV.logRunParameters]: 'true' } : {}),
    };

    this.archive = new ArchiveWorkflow(this, 'ArchiveWorkflow', { config, runIndex: this.runIndex, storage: this.storage, environment });
    this.storage.protectVaultArchives(this.archive.functions.archiveFiles.role);
    const withTopic: FunctionEnvironment = { ...environment, [ENV.archiveEventsTopicArn]: this.archive.archiveEventsTopic.topicArn };
    this.trigger = new CompletionTrigger(this, 'CompletionTrigger', {
      config,
      runIndex: this.runIndex,
      archiveWorkflow: this.archive.workflow,
      environment: withTopic,
    });
    this.cleanup = new RunCleanup(this, 'RunCleanup', {
      config,
      runIndex: this.runIndex,
      archiveEventsTopic: this.archive.archiveEventsTopic,
      environment: withTopic,
    });
    this.restore = new RestoreWorkflow(this, 'RestoreWorkflow', {
      config,
      runIndex: this.runIndex,
      storage: this.storage,
      archiveEventsTopic: this.archive.archiveEventsTopic,
      environment: withTopic,
    });

    const queues = { runCompletion: this.trigger.queue, runDeletion: this.cleanup.queue, retrievalNotifications: this.restore.notificationQueue };
    const functions = [
      ...Object.values(this.archive.functions),
      ...Object.values(this.restore.functions),
      this.trigger.triggerArchive,
      this.trigger.reconcileRuns,
      this.cleanup.deleteRun,
      this.restore.retrievalNotification,
    ];
    this.monitoring = new Monitoring(this, 'Monitoring', {
      alarmEmail: config.alarmEmail,
      deadLetterQueues: Object.fromEntries(Object.entries(queues).map(([key, queue]) => [QUEUES[key as keyof typeof QUEUES].id, queue.deadLetterQueue])),
      stateMachines: { ArchiveRun: this.archive.stateMachine, RestoreRun: this.restore.stateMachine },
      functions: Object.fromEntries(functions.map((fn) => [fn.node.id, fn.function])),
    });

    const output = (name: string, value: string, description: string) => new CfnOutput(this, name, { value, description }).overrideLogicalId(name);
    output(STACK_OUTPUTS.runIndexTableName, this.runIndex.table.tableName, 'DynamoDB run index');
    output(STACK_OUTPUTS.snapshotBucketName, this.storage.snapshotBucket.bucketName, 'Bucket of run snapshots and plans');
    if (this.storage.vaultName) output(STACK_OUTPUTS.vaultName, this.storage.vaultName, 'Glacier vault of archived files');
    if (this.storage.archiveBucket) {
      output(STACK_OUTPUTS.archiveBucketName, this.storage.archiveBucket.bucketName, 'Bucket of files archived to an S3 Glacier storage class');
    }
    output(STACK_OUTPUTS.archiveStateMachineArn, this.archive.stateMachine.stateMachineArn, 'ArchiveRun state machine');
    output(STACK_OUTPUTS.restoreStateMachineArn, this.restore.stateMachine.stateMachineArn, 'RestoreRun state machine');
    output(STACK_OUTPUTS.archiveEventsTopicArn, this.archive.archiveEventsTopic.topicArn, 'Topic of run archive outcomes');
    output(STACK_OUTPUTS.restoreEventsTopicArn, this.restore.restoreEventsTopic.topicArn, 'Topic of restore outcomes');
    if (this.storage.vaultNotificationTopic) {
      output(STACK_OUTPUTS.vaultNotificationTopicArn, this.storage.vaultNotificationTopic.topicArn, 'Topic of Glacier job completions');
    }
    output(STACK_OUTPUTS.alarmTopicArn, this.monitoring.alarmTopic.topicArn, 'Topic of alarms');
    for (const [key, queue] of Object.entries(queues)) {
      output(DLQ_URL_OUTPUTS[key as keyof typeof QUEUES], queue.deadLetterQueue.queueUrl, `Dead-letter queue of ${QUEUES[key as keyof typeof QUEUES].id}`);
    }
    acknowledgeDataKeyGrants(this, encryptionKey);
  }
}
