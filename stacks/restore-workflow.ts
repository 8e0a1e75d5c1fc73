// The RestoreRun workflow: its functions, its state machine, the vault notifications and S3 restore events that
// resume waiting retrievals, and the restore-events topic it announces outcomes on.
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import type * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import type { ArchiveStorage } from './archive-storage';
import { ENV, s3RestoreCompletedPattern, type ArchiverConfig } from '../functions/lib/contract';
import { toEventPattern } from './completion-trigger';
import { ConsumerQueue } from './consumer-queue';
import { KMS_WRITE_ACTIONS, grantBucketListing, grantBucketObjects, grantKmsKeys } from './external-access';
import { ArchiverFunction, type FunctionEnvironment } from './lambda';
import type { RunIndexTable } from './run-index';
import { LAMBDAS, QUEUES, STATE_MACHINES } from './wiring';
import { WorkflowStateMachine } from './workflow-state-machine';

type RestoreFunctionKey = (typeof STATE_MACHINES.restoreRun.functions)[number];

export interface RestoreWorkflowProps {
  readonly config: ArchiverConfig;
  readonly runIndex: RunIndexTable;
  readonly storage: ArchiveStorage;
  readonly archiveEventsTopic: sns.ITopic;
  readonly environment: FunctionEnvironment;
}

export class RestoreWorkflow extends Construct {
  readonly functions: Record<RestoreFunctionKey, ArchiverFunction>;
  readonly workflow: WorkflowStateMachine;
  /** Restore outcomes (RESTORE_COMPLETED / RESTORE_FAILED, with `event`, `runId`, `runUuid`, `tier`, `retrievalTier` attributes). */
  readonly restoreEventsTopic: sns.Topic;
  readonly notificationQueue: ConsumerQueue;
  readonly retrievalNotification: ArchiverFunction;
  /** The archive bucket's Object Restore Completed events → the notification queue; absent without an archive bucket. */
  readonly restoreCompletedRule?: events.Rule;

  constructor(scope: Construct, id: string, props: RestoreWorkflowProps) {
    super(scope, id);
    const { config, runIndex, storage } = props;
    // Only the finalize function (an IAM principal of this account) publishes, so the AWS managed key suffices, as
    // for the archive-events topic.
    this.restoreEventsTopic = new sns.Topic(this, 'RestoreEventsTopic', {
      displayName: 'Omics run restore outcomes',
      masterKey: kms.Alias.fromAliasName(this, 'SnsManagedKey', 'alias/aws/sns'),
      enforceSSL: true,
    });
    for (const email of config.restoreNotificationEmails) this.restoreEventsTopic.addSubscription(new subscriptions.EmailSubscription(email));
    const environment: FunctionEnvironment = { ...props.environment, [ENV.restoreEventsTopicArn]: this.restoreEventsTopic.topicArn };
    // A restore writes back to where the files came from, or to a bucket named for restores.
    const destinationBuckets = [...new Set([...config.outputBuckets, ...config.restoreBuckets])];

    const make = (key: RestoreFunctionKey, reservedConcurrency?: number) =>
      new ArchiverFunction(this, { spec: LAMBDAS[key], config, environment, reservedConcurrency });
    this.functions = {
      planRestore: make('planRestore'),
      requestRetrieval: make('requestRetrieval'),
      checkRetrieval: make('checkRetrieval'),
      // Every restore's copies land here once their retrievals finish, possibly thousands at once; see archiveFiles.
      copyRestoredFile: make('copyRestoredFile', config.reservedConcurrency.copyRestoredFile),
      finalizeRestore: make('finalizeRestore'),
    };
    const { planRestore, requestRetrieval, checkRetrieval, copyRestoredFile, finalizeRestore } = this.functions;

    // ListBucket makes HeadObject answer 404 rather than 403 for a free destination key.
    grantBucketListing(planRestore.role, destinationBuckets);
    grantBucketObjects(
      planRestore.role,
      destinationBuckets,
      ['s3:GetObject'],
      'A restore first checks that none of its destination keys (named at run time) exists.',
    );
    // A restore of many files runs as a Distributed Map over an item list in the snapshot bucket.
    storage.grantRestoreItems(planRestore.role);

    storage.grantVaultRetrieval(requestRetrieval.role);
    // DescribeJob: a retried request reuses the job it already started instead of paying for a second one.
    storage.grantVaultJobStatus(requestRetrieval.role);
    storage.grantArchiveRestore(requestRetrieval.role);
    // HeadObject: a restore already under way may have finished, and then no event is coming for this request.
    storage.grantArchiveStatus(requestRetrieval.role);

    storage.grantVaultJobStatus(checkRetrieval.role);
    storage.grantArchiveStatus(checkRetrieval.role);

    storage.grantVaultJobOutput(copyRestoredFile.role);
    storage.grantArchiveCopySource(copyRestoredFile.role);
    // A bundle's item names the list of its members to bring back; a given-up item fails each of them by that list.
    storage.grantRestoreItemsRead(copyRestoredFile.role);
    storage.grantRestoreItemsRead(finalizeRestore.role);
    grantBucketObjects(
      copyRestoredFile.role,
      destinationBuckets,
      // PutObjectTagging: CopyObject copies the archive's tags.
      ['s3:PutObject', 's3:PutObjectTagging', 's3:AbortMultipartUpload', 's3:ListMultipartUploadParts'],
      'A restore writes each file back under its original key, or under the prefix the operator chose, both named at run time.',
    );
    // SSE-KMS destinations: each new object (PutObject, CopyObject, a multipart upload or copy) needs the bucket's key.
    grantKmsKeys(copyRestoredFile.role, config.kmsKeyArns, KMS_WRITE_ACTIONS);

    for (const fn of [planRestore, requestRetrieval, checkRetrieval, copyRestoredFile, finalizeRestore]) runIndex.grantRecords(fn.role);
    // sns:Publish alone, as the archive workflow's state machine has it: the AWS managed key's own policy lets this
    // account's principals use it through SNS, and grantPublish would add kms:* on every key (key/*) for an imported alias.
    iam.Grant.addToPrincipal({ grantee: finalizeRestore.role, actions: ['sns:Publish'], resourceArns: [this.restoreEventsTopic.topicArn] });

    this.workflow = new WorkflowStateMachine(this, STATE_MACHINES.restoreRun.id, {
      key: 'restoreRun',
      config,
      functions: Object.fromEntries(Object.entries(this.functions).map(([key, fn]) => [key, fn.function])),
      runIndex,
      storage,
      archiveEventsTopic: props.archiveEventsTopic,
    });

    // Glacier announces finished jobs on the vault topic; raw delivery hands the function Glacier's own JSON.
    const spec = QUEUES.retrievalNotifications;
    this.notificationQueue = new ConsumerQueue(this, spec);
    storage.vaultNotificationTopic?.addSubscription(new subscriptions.SqsSubscription(this.notificationQueue.queue, { rawMessageDelivery: true }));
    this.retrievalNotification = new ArchiverFunction(this, { spec: LAMBDAS[spec.consumer], config, environment });
    this.notificationQueue.feed(this.retrievalNotification.function);
    // S3 announces finished restores of the archive bucket's objects on the default bus (the bucket has EventBridge
    // notifications on); the same queue and function resume every restore waiting on that object.
    if (storage.archiveBucket) {
      this.restoreCompletedRule = new events.Rule(this, 'ArchiveRestoreCompletedRule', {
        description: 'Restores of archive-bucket objects out of their S3 Glacier storage class that completed',
        eventPattern: toEventPattern(s3RestoreCompletedPattern(storage.archiveBucket.bucketName)),
        targets: [new targets.SqsQueue(this.notificationQueue.queue)],
      });
    }
    this.workflow.grantTaskResponse(this.retrievalNotification.role);
    // A retried retrieval that finds its job already finished, or an S3 object already restored, resumes the task
    // itself: that job's notification is gone, and S3 sends no second Object Restore Completed.
    this.workflow.grantTaskResponse(requestRetrieval.role);
    runIndex.grantRecords(this.retrievalNotification.role);
  }

  get stateMachine(): sfn.StateMachine {
    return this.workflow.stateMachine;
  }
}
