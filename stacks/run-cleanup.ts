// Deletes archived runs from HealthOmics: archive-events topic → run-deletion queue (filtered) → delete-run function.
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import { Construct } from 'constructs';
import type { ArchiverConfig } from '../functions/lib/contract';
import { ConsumerQueue } from './consumer-queue';
import { grantOmicsRuns } from './external-access';
import { ArchiverFunction, type FunctionEnvironment } from './lambda';
import type { RunIndexTable } from './run-index';
import { RUN_DELETION_FILTER_POLICY } from '../functions/lib/contract';
import { LAMBDAS, QUEUES } from './wiring';

export interface RunCleanupProps {
  readonly config: ArchiverConfig;
  readonly runIndex: RunIndexTable;
  readonly archiveEventsTopic: sns.ITopic;
  readonly environment: FunctionEnvironment;
}

export class RunCleanup extends Construct {
  readonly queue: ConsumerQueue;
  readonly deleteRun: ArchiverFunction;

  constructor(scope: Construct, id: string, props: RunCleanupProps) {
    super(scope, id);
    const spec = QUEUES.runDeletion;

    this.queue = new ConsumerQueue(this, spec);
    // Raw delivery: the SNS message attributes (event, tier, deleteRun) arrive as SQS message attributes.
    props.archiveEventsTopic.addSubscription(
      new subscriptions.SqsSubscription(this.queue.queue, { rawMessageDelivery: true, filterPolicy: toFilterPolicy(RUN_DELETION_FILTER_POLICY) }),
    );

    this.deleteRun = new ArchiverFunction(this, { spec: LAMBDAS[spec.consumer], config: props.config, environment: props.environment });
    this.queue.feed(this.deleteRun.function);
    grantOmicsRuns(this.deleteRun.role, ['omics:GetRun', 'omics:DeleteRun']);
    props.runIndex.grantRecords(this.deleteRun.role);
  }
}

/** A wiring filter policy (attribute → allowed values) as the CDK's subscription filters, values unchanged. */
export function toFilterPolicy(policy: Readonly<Record<string, readonly string[]>>): Record<string, sns.SubscriptionFilter> {
  return Object.fromEntries(Object.entries(policy).map(([attribute, values]) => [attribute, new sns.SubscriptionFilter([...values])]));
}
