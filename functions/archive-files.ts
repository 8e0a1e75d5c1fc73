// Lambda (Distributed Map item): archives one plan item's files, or records them failed when the workflow gives up.
import { z } from 'zod';
import { TierSchema } from './lib/contract';
import { ENV } from './lib/contract';
import { archiveItem, recordItemFailure } from './lib/archive/archive-files';
import { documentClient, glacierClient, s3Client } from './lib/runtime/clients';
import { requireEnv } from './lib/runtime/env';
import { annotateRun, instrumented, logger, metrics, MetricUnit } from './lib/runtime/observability';
import { RunIndex } from './lib/index/run-index';

const WorkItemSchema = z.object({
  files: z.array(z.object({ path: z.string(), bucket: z.string(), key: z.string(), size: z.number().int().nonnegative(), etag: z.string().optional() })).min(1),
  bytes: z.number().int().nonnegative(),
});

const InputSchema = z.discriminatedUnion('mode', [
  z.object({ mode: z.literal('archive'), runUuid: z.string().min(1), item: WorkItemSchema, tier: TierSchema }),
  z.object({
    mode: z.literal('record-failure'),
    runUuid: z.string().min(1),
    item: WorkItemSchema,
    error: z.object({ Error: z.string().optional(), Cause: z.string().optional() }),
  }),
]);

/** Without a Lambda context (a direct call), allow a quarter of an hour, as Lambda's maximum does. */
const DEFAULT_BUDGET_MS = 15 * 60 * 1000;

export const handler = instrumented('archive-files', async (event: unknown, context) => {
  const input = InputSchema.parse(event);
  annotateRun(input.runUuid);
  const index = new RunIndex(documentClient(), requireEnv(ENV.runIndexTable));
  if (input.mode === 'record-failure') {
    const marked = await recordItemFailure(index, input.runUuid, input.item, input.error);
    logger.error('Item given up; files marked FAILED', { files: input.item.files.length, marked, error: input.error.Error });
    metrics.addMetric('FilesFailed', MetricUnit.Count, marked);
    return { status: 'complete', archived: 0, failed: marked };
  }
  const result = await archiveItem({
    s3: s3Client(),
    glacier: glacierClient(),
    index,
    vaultName: process.env[ENV.vaultName],
    archiveBucket: process.env[ENV.archiveBucket],
    runUuid: input.runUuid,
    item: input.item,
    tier: input.tier,
    deadline: Date.now() + (context.getRemainingTimeInMillis?.() ?? DEFAULT_BUDGET_MS),
  });
  logger.info('Item processed', { files: input.item.files.length, bytes: input.item.bytes, ...result });
  metrics.addMetric('FilesArchived', MetricUnit.Count, result.archived);
  if (result.failed) metrics.addMetric('FilesFailed', MetricUnit.Count, result.failed);
  return result;
});
