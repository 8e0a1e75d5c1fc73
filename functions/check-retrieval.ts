// Lambda (Step Functions task): polls one retrieval, for S3 restores and vault jobs whose notification never came.
import { z } from 'zod';
import { ENV } from './lib/contract';
import { documentClient, glacierClient, s3Client } from './lib/runtime/clients';
import { requireEnv } from './lib/runtime/env';
import { annotateRun, instrumented, logger } from './lib/runtime/observability';
import { RestoreItemSchema } from './lib/contract';
import { checkRetrieval } from './lib/restore/retrieval';
import { RunIndex } from './lib/index/run-index';

const InputSchema = z.object({ item: RestoreItemSchema });

export const handler = instrumented('check-retrieval', async (event: unknown) => {
  const { item } = InputSchema.parse(event);
  annotateRun(item.runUuid, { restoreId: item.restoreId });
  const result = await checkRetrieval({ glacier: glacierClient(), s3: s3Client(), index: new RunIndex(documentClient(), requireEnv(ENV.runIndexTable)), item });
  logger.info('Retrieval checked', { path: item.path, ...result });
  return result;
});
