// Lambda (Step Functions task): copies one retrieved file to its destination, verified, resuming where a previous call stopped.
import { z } from 'zod';
import { ENV } from './lib/contract';
import { documentClient, glacierClient, s3Client } from './lib/runtime/clients';
import { requireEnv } from './lib/runtime/env';
import { annotateRun, instrumented, logger } from './lib/runtime/observability';
import { RestoreItemSchema } from './lib/contract';
import { copyRestoredFile } from './lib/restore/copy-restored-file';
import { RunIndex } from './lib/index/run-index';

const InputSchema = z.object({ item: RestoreItemSchema });
/** Kept back from the Lambda deadline to record progress and return. */
const MARGIN_MS = 30_000;
const DEFAULT_BUDGET_MS = 15 * 60 * 1000;

export const handler = instrumented('copy-restored-file', async (event: unknown, context) => {
  const { item } = InputSchema.parse(event);
  annotateRun(item.runUuid, { restoreId: item.restoreId });
  const result = await copyRestoredFile({
    glacier: glacierClient(),
    s3: s3Client(),
    index: new RunIndex(documentClient(), requireEnv(ENV.runIndexTable)),
    item,
    deadline: Date.now() + (context.getRemainingTimeInMillis?.() ?? DEFAULT_BUDGET_MS) - MARGIN_MS,
  });
  logger.info('Restored file copied', { path: item.path, destination: `s3://${item.destinationBucket}/${item.destinationKey}`, ...result });
  return result;
});
