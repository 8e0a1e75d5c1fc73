// Lambda (Step Functions task, optionally .waitForTaskToken): starts retrieving one archived file.
import { z } from 'zod';
import { ENV } from './lib/contract';
import { documentClient, glacierClient, s3Client, sfnClient } from './lib/runtime/clients';
import { requireEnv } from './lib/runtime/env';
import { annotateRun, instrumented, logger } from './lib/runtime/observability';
import { RestoreItemSchema } from './lib/contract';
import { requestRetrieval } from './lib/restore/retrieval';
import { RunIndex } from './lib/index/run-index';

const InputSchema = z.object({ item: RestoreItemSchema, taskToken: z.string().optional() });

export const handler = instrumented('request-retrieval', async (event: unknown) => {
  const { item, taskToken } = InputSchema.parse(event);
  annotateRun(item.runUuid, { restoreId: item.restoreId });
  const result = await requestRetrieval({
    glacier: glacierClient(),
    s3: s3Client(),
    index: new RunIndex(documentClient(), requireEnv(ENV.runIndexTable)),
    item,
    taskToken,
    sfn: sfnClient(),
    vaultJobsTopicArn: process.env[ENV.vaultJobsTopicArn],
  });
  logger.info('Retrieval requested', { path: item.path, retrieval: item.retrieval, tier: item.tier, ...result });
  return result;
});
