// One shape for every SQS-fed handler: parse each message, drop (log and count) what can never be handled, report partial failures.
import { BatchProcessor, EventType, processPartialResponse } from '@aws-lambda-powertools/batch';
import type { SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { instrumented, logger, metrics, MetricUnit, type InvocationContext } from './observability';

export interface SqsConsumer<M> {
  /** Handler name, for logs. */
  name: string;
  /** What the messages are, for the log line when one is dropped ("run event", ...). */
  messageKind: string;
  /** Metric counting dropped messages. */
  malformedMetric: string;
  /** Turns a body into a message, or throws: a message that cannot be parsed is dropped, never retried. */
  parse: (body: string) => M;
  /** Handles one message; throwing puts it in batchItemFailures, so SQS retries it and then redrives it to the DLQ. */
  handle: (message: M, record: SQSRecord) => Promise<void>;
}

/**
 * A Lambda handler for an SQS event source mapping with ReportBatchItemFailures, instrumented as every handler is. A
 * batch may carry many runs, so no run is annotated on the invocation; each message's log lines name their own.
 */
export function sqsConsumer<M>(consumer: SqsConsumer<M>): (event: SQSEvent, context?: InvocationContext) => Promise<SQSBatchResponse> {
  const processor = new BatchProcessor(EventType.SQS);
  const handleRecord = async (record: SQSRecord) => {
    let message: M;
    try {
      message = consumer.parse(record.body);
    } catch (error) {
      // Retrying cannot fix it: log the whole message (the record of it), count it, and let it go.
      logger.error(`Malformed ${consumer.messageKind} dropped`, { reason: (error as Error).message, messageId: record.messageId, body: record.body });
      metrics.addMetric(consumer.malformedMetric, MetricUnit.Count, 1);
      return;
    }
    await consumer.handle(message, record);
  };
  return instrumented(consumer.name, (event: SQSEvent) => processPartialResponse(event, handleRecord, processor, { throwOnFullBatchFailure: false }));
}
