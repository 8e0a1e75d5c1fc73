// Lambda: SQS (RUN_ARCHIVED with deleteRun=true, from the archive-events topic) → delete the run from HealthOmics.
import { z } from 'zod';
import { ENV } from './lib/contract';
import { documentClient, omicsClient } from './lib/runtime/clients';
import { requireEnv } from './lib/runtime/env';
import { logger, metrics, MetricUnit } from './lib/runtime/observability';
import { RunIndex } from './lib/index/run-index';
import { deleteArchivedRun } from './lib/archive/delete-run';
import { sqsConsumer } from './lib/runtime/sqs-batch';

const MessageSchema = z.object({ runUuid: z.string().min(1), runId: z.string().min(1) });

export const handler = sqsConsumer({
  name: 'delete-run',
  messageKind: 'run-archived message',
  malformedMetric: 'MalformedDeletionMessages',
  parse: (body) => MessageSchema.parse(JSON.parse(body)),
  handle: async (message) => {
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
  },
});
