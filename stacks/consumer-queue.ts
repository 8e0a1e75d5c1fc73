// An SQS queue that feeds one Lambda function, with its dead-letter queue, built from a wiring QueueSpec.
import { Duration } from 'aws-cdk-lib';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import { SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import type { QueueSpec } from './wiring';

export class ConsumerQueue extends Construct {
  readonly queue: sqs.Queue;
  readonly deadLetterQueue: sqs.Queue;

  constructor(
    scope: Construct,
    readonly spec: QueueSpec,
  ) {
    super(scope, spec.id);
    // SQS-managed encryption: SNS and EventBridge can deliver to it without a key policy of ours.
    this.deadLetterQueue = new sqs.Queue(this, 'DeadLetterQueue', {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });
    this.queue = new sqs.Queue(this, 'Queue', {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      visibilityTimeout: Duration.seconds(spec.visibilityTimeoutSeconds),
      deadLetterQueue: { queue: this.deadLetterQueue, maxReceiveCount: spec.maxReceiveCount },
    });
  }

  /** Makes `consumer` the queue's Lambda consumer, returning failed records one by one (partial batch responses). */
  feed(consumer: lambda.IFunction): void {
    consumer.addEventSource(new SqsEventSource(this.queue, { batchSize: this.spec.batchSize, reportBatchItemFailures: true }));
  }
}
