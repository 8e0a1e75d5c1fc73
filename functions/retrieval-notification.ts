// Lambda: SQS (the vault's job-completion notifications, the archive bucket's Object Restore Completed events) → resume
// the restore steps waiting on that job or that object through their task tokens.
import { ENV } from './lib/contract';
import { documentClient, sfnClient } from './lib/runtime/clients';
import { requireEnv } from './lib/runtime/env';
import { logger } from './lib/runtime/observability';
import { parseRetrievalNotification, resumeAfterJob, resumeAfterS3Restore } from './lib/restore/retrieval-notification';
import { RunIndex } from './lib/index/run-index';
import { sqsConsumer } from './lib/runtime/sqs-batch';

export const handler = sqsConsumer({
  name: 'retrieval-notification',
  messageKind: 'retrieval notification',
  malformedMetric: 'MalformedRetrievalNotifications',
  parse: (body) => parseRetrievalNotification(JSON.parse(body)),
  handle: async (notification) => {
    const index = new RunIndex(documentClient(), requireEnv(ENV.runIndexTable));
    if (notification.kind === 's3-restore') {
      const { bucket, object } = notification.event.detail;
      const result = await resumeAfterS3Restore({ sfn: sfnClient(), index, event: notification.event });
      logger.info('S3 restore completed', { bucket: bucket.name, key: object.key, versionId: object['version-id'], ...result });
      return;
    }
    const { message } = notification;
    const outcome = await resumeAfterJob({ sfn: sfnClient(), index, message });
    logger.info('Vault job notification', { jobId: message.JobId, status: message.StatusCode, outcome });
  },
});
