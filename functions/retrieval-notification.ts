// Lambda: SQS (the vault's job-completion notifications) → resume the restore step waiting on that job's task token.
import { ENV } from '../stacks/wiring';
import { documentClient, sfnClient } from './lib/aws-clients';
import { requireEnv } from './lib/env';
import { logger } from './lib/observability';
import { JobNotificationSchema, resumeAfterJob } from './lib/restore';
import { RunIndex } from './lib/run-index';
import { sqsConsumer } from './lib/sqs-batch';

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
