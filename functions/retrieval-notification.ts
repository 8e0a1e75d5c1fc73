// Lambda: SQS (the vault's job-completion notifications) → resume the restore step waiting on that job's task token.
import { ENV } from './lib/contract';
import { documentClient, sfnClient } from './lib/runtime/clients';
import { requireEnv } from './lib/runtime/env';
import { logger } from './lib/runtime/observability';
import { JobNotificationSchema, resumeAfterJob } from './lib/restore/retrieval-notification';
import { RunIndex } from './lib/index/run-index';
import { sqsConsumer } from './lib/runtime/sqs-batch';

export const handler = sqsConsumer({
  name: 'retrieval-notification',
  messageKind: 'vault notification',
  malformedMetric: 'MalformedVaultNotifications',
  parse: (body) => JobNotificationSchema.parse(JSON.parse(body)),
  handle: async (message) => {
    const outcome = await resumeAfterJob({ sfn: sfnClient(), index: new RunIndex(documentClient(), requireEnv(ENV.runIndexTable)), message });
    logger.info('Vault job notification', { jobId: message.JobId, status: message.StatusCode, outcome });
  },
});
