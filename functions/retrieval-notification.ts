// Lambda: SQS (the vault's job-completion notifications) → resume the restore step waiting on that job's task token.
import { BatchProcessor, EventType, processPartialResponse } from '@aws-lambda-powertools/batch';
import type { SQSEvent, SQSRecord } from 'aws-lambda';
import { ENV } from '../stacks/wiring';
import { documentClient, sfnClient } from './lib/aws-clients';
import { requireEnv } from './lib/env';
import { instrumented, logger, metrics, MetricUnit } from './lib/observability';
import { JobNotificationSchema, resumeAfterJob } from './lib/restore';
import { RunIndex } from './lib/run-index';

const processor = new BatchProcessor(EventType.SQS);

async function handleRecord(record: SQSRecord): Promise<void> {
  let message;
  try {
    message = JobNotificationSchema.parse(JSON.parse(record.body));
  } catch (error) {
    logger.error('Malformed vault notification dropped', { reason: (error as Error).message, messageId: record.messageId, body: record.body });
    metrics.addMetric('MalformedVaultNotifications', MetricUnit.Count, 1);
    return;
  }
  const outcome = await resumeAfterJob({ sfn: sfnClient(), index: new RunIndex(documentClient(), requireEnv(ENV.runIndexTable)), message });
  logger.info('Vault job notification', { jobId: message.JobId, status: message.StatusCode, outcome });
}

export const handler = instrumented('retrieval-notification', (event: SQSEvent) =>
  processPartialResponse(event, handleRecord, processor, { throwOnFullBatchFailure: false }),
);
