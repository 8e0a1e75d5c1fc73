// Lambda: SQS (RUN_ARCHIVED with deleteRun=true, from the archive-events topic) → delete the run from HealthOmics.
import { BatchProcessor, EventType, processPartialResponse } from '@aws-lambda-powertools/batch';
import type { SQSEvent, SQSRecord } from 'aws-lambda';
import { z } from 'zod';
import { ENV } from '../stacks/wiring';
import { documentClient, omicsClient } from './lib/aws-clients';
import { requireEnv } from './lib/env';
import { instrumented, logger, metrics, MetricUnit } from './lib/observability';
import { RunIndex } from './lib/run-index';
import { deleteArchivedRun } from './lib/run-deletion';

const processor = new BatchProcessor(EventType.SQS);
const MessageSchema = z.object({ runUuid: z.string().min(1), runId: z.string().min(1) });

async function handleRecord(record: SQSRecord): Promise<void> {
  let message;
  try {
    message = MessageSchema.parse(JSON.parse(record.body));
  } catch (error) {
    logger.error('Malformed run-archived message dropped', { reason: (error as Error).message, messageId: record.messageId, body: record.body });
    metrics.addMetric('MalformedDeletionMessages', MetricUnit.Count, 1);
    return;
  }
  const index = new RunIndex(documentClient(), requireEnv(ENV.runIndexTable));
  const result = await deleteArchivedRun({ omics: omicsClient(), index, runUuid: message.runUuid });
  const log = { runId: message.runId, runUuid: message.runUuid, ...result };
  if (result.outcome === 'deleted') {
    logger.info('Run deleted from HealthOmics', log);
    metrics.addMetric('RunsDeleted', MetricUnit.Count, 1);
  } else if (result.outcome === 'not-deletable') {
    logger.warn('Run not deleted', log);
    metrics.addMetric('RunDeletionsRefused', MetricUnit.Count, 1);
  } else {
    logger.info('Run deletion already done', log);
  }
}

export const handler = instrumented('delete-run', (event: SQSEvent) =>
  processPartialResponse(event, handleRecord, processor, { throwOnFullBatchFailure: false }),
);
