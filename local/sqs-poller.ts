// Emulates Lambda's SQS event source mappings locally: batches, partial batch responses, redrive to the DLQ.
import { ChangeMessageVisibilityBatchCommand, DeleteMessageBatchCommand, ReceiveMessageCommand, type Message, type SQSClient } from '@aws-sdk/client-sqs';
import type { SQSEvent, SQSRecord } from 'aws-lambda';
import type { LambdaHost } from './lambda-host';
import { asPrincipal } from './call-recorder';

export interface EventSourceMapping {
  queueUrl: string;
  queueArn: string;
  functionName: string;
  batchSize: number;
}

export interface PollerOptions {
  sqs: SQSClient;
  lambdas: LambdaHost;
  region: string;
  /**
   * Seconds before a failed message is seen again. Lambda leaves it to the queue's visibility timeout (minutes);
   * locally a short one lets retries and the redrive to the DLQ happen within a test.
   */
  retryDelaySeconds?: number;
  onError?: (mapping: EventSourceMapping, error: unknown) => void;
}

/** A message in the shape Lambda hands an SQS-triggered function. */
export function toSqsRecord(message: Message, queueArn: string, region: string): SQSRecord {
  const attributes = message.Attributes ?? {};
  return {
    messageId: message.MessageId ?? '',
    receiptHandle: message.ReceiptHandle ?? '',
    body: message.Body ?? '',
    attributes: {
      ApproximateReceiveCount: attributes.ApproximateReceiveCount ?? '1',
      SentTimestamp: attributes.SentTimestamp ?? String(Date.now()),
      SenderId: attributes.SenderId ?? 'local',
      ApproximateFirstReceiveTimestamp: attributes.ApproximateFirstReceiveTimestamp ?? String(Date.now()),
    },
    messageAttributes: Object.fromEntries(
      Object.entries(message.MessageAttributes ?? {}).map(([name, value]) => [
        name,
        {
          stringValue: value.StringValue,
          binaryValue: value.BinaryValue ? Buffer.from(value.BinaryValue).toString('base64') : undefined,
          stringListValues: [],
          binaryListValues: [],
          dataType: value.DataType ?? 'String',
        },
      ]),
    ),
    md5OfBody: message.MD5OfBody ?? '',
    eventSource: 'aws:sqs',
    eventSourceARN: queueArn,
    awsRegion: region,
  };
}

export class SqsPoller {
  private running = false;
  private readonly loops: Promise<void>[] = [];
  private inFlight = 0;

  constructor(
    private readonly mappings: EventSourceMapping[],
    private readonly options: PollerOptions,
  ) {}

  start(): void {
    this.running = true;
    for (const mapping of this.mappings) this.loops.push(this.loop(mapping));
  }

  async stop(): Promise<void> {
    this.running = false;
    await Promise.all(this.loops);
  }

  /** True when no batch is being handled: tests wait for quiet before asserting on queues. */
  get idle(): boolean {
    return this.inFlight === 0;
  }

  private async loop(mapping: EventSourceMapping): Promise<void> {
    while (this.running) {
      try {
        await this.pollOnce(mapping);
      } catch (error) {
        if (!this.running) return;
        this.options.onError?.(mapping, error);
        await new Promise((r) => setTimeout(r, 500));
      }
    }
  }

  /** One receive-invoke-settle round; returns how many messages it handled. */
  async pollOnce(mapping: EventSourceMapping): Promise<number> {
    // Lambda's event source mapping reads and settles the queue with the function's own role.
    return asPrincipal(mapping.functionName, () => this.receiveInvokeSettle(mapping));
  }

  private async receiveInvokeSettle(mapping: EventSourceMapping): Promise<number> {
    const { Messages: messages = [] } = await this.options.sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: mapping.queueUrl,
        MaxNumberOfMessages: mapping.batchSize,
        WaitTimeSeconds: 1,
        MessageSystemAttributeNames: ['All'],
        MessageAttributeNames: ['All'],
      }),
    );
    if (!messages.length) return 0;
    this.inFlight++;
    try {
      const event: SQSEvent = { Records: messages.map((m) => toSqsRecord(m, mapping.queueArn, this.options.region)) };
      const outcome = await this.options.lambdas.invoke(mapping.functionName, JSON.stringify(event));
      const failedIds = new Set<string>();
      if (outcome.functionError) {
        // An error fails the whole batch, as with Lambda.
        for (const m of messages) failedIds.add(m.MessageId ?? '');
        this.options.onError?.(mapping, new Error(outcome.payload));
      } else {
        const response = JSON.parse(outcome.payload) as { batchItemFailures?: { itemIdentifier: string }[] } | null;
        for (const failure of response?.batchItemFailures ?? []) failedIds.add(failure.itemIdentifier);
      }
      const done = messages.filter((m) => !failedIds.has(m.MessageId ?? ''));
      const failed = messages.filter((m) => failedIds.has(m.MessageId ?? ''));
      if (done.length) {
        await this.options.sqs.send(
          new DeleteMessageBatchCommand({
            QueueUrl: mapping.queueUrl,
            Entries: done.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle })),
          }),
        );
      }
      if (failed.length) {
        await this.options.sqs.send(
          new ChangeMessageVisibilityBatchCommand({
            QueueUrl: mapping.queueUrl,
            Entries: failed.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle, VisibilityTimeout: this.options.retryDelaySeconds ?? 1 })),
          }),
        );
      }
      return messages.length;
    } finally {
      this.inFlight--;
    }
  }
}
