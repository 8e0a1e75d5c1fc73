// The RestoreRun workflow: its functions, its state machine, and the vault notifications that resume waiting retrievals.
import type * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import type * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import type { ArchiveStorage } from './archive-storage';
import type { ArchiverConfig } from '../functions/lib/contract';
import { ConsumerQueue } from './consumer-queue';
import { grantBucketListing, grantBucketObjects } from './external-access';
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
  readonly notificationQueue: ConsumerQueue;
  readonly retrievalNotification: ArchiverFunction;

  constructor(scope: Construct, id: string, props: RestoreWorkflowProps) {
    super(scope, id);
    const { config, runIndex, storage, environment } = props;
    // A restore writes back to where the files came from, or to a bucket named for restores.
    const destinationBuckets = [...new Set([...config.outputBuckets, ...config.restoreBuckets])];

    const make = (key: RestoreFunctionKey) => new ArchiverFunction(this, { spec: LAMBDAS[key], config, environment });
    this.functions = {
      planRestore: make('planRestore'),
      requestRetrieval: make('requestRetrieval'),
      checkRetrieval: make('checkRetrieval'),
      copyRestoredFile: make('copyRestoredFile'),
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

    storage.grantVaultJobStatus(checkRetrieval.role);
    storage.grantArchiveStatus(checkRetrieval.role);

    storage.grantVaultJobOutput(copyRestoredFile.role);
    storage.grantArchiveCopySource(copyRestoredFile.role);
    grantBucketObjects(
      copyRestoredFile.role,
      destinationBuckets,
      // PutObjectTagging: CopyObject copies the archive's tags.
      ['s3:PutObject', 's3:PutObjectTagging', 's3:AbortMultipartUpload', 's3:ListMultipartUploadParts'],
      'A restore writes each file back under its original key, or under the prefix the operator chose, both named at run time.',
    );

    for (const fn of [planRestore, requestRetrieval, checkRetrieval, copyRestoredFile, finalizeRestore]) runIndex.grantRecords(fn.role);

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
    storage.vaultNotificationTopic.addSubscription(new subscriptions.SqsSubscription(this.notificationQueue.queue, { rawMessageDelivery: true }));
    this.retrievalNotification = new ArchiverFunction(this, { spec: LAMBDAS[spec.consumer], config, environment });
    this.notificationQueue.feed(this.retrievalNotification.function);
    this.workflow.grantTaskResponse(this.retrievalNotification.role);
    // A retried retrieval that finds its job already finished resumes the task itself: that job's notification is gone.
    this.workflow.grantTaskResponse(requestRetrieval.role);
    runIndex.grantRecords(this.retrievalNotification.role);
  }

  get stateMachine(): sfn.StateMachine {
    return this.workflow.stateMachine;
  }
}
