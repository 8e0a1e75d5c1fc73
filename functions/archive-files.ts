// Lambda (Distributed Map item): archives one plan item's files, or records them failed when the workflow gives up.
import { z } from 'zod';
import { PlanItemSchema, TierSchema, isBundleItem } from './lib/contract';
import { ENV } from './lib/contract';
import { archiveBundle, recordBundleFailure } from './lib/archive/archive-bundle';
import { archiveItem, recordItemFailure } from './lib/archive/archive-files';
import { documentClient, glacierClient, s3Client } from './lib/runtime/clients';
import { requireEnv } from './lib/runtime/env';
import { annotateRun, instrumented, logger, metrics, MetricUnit } from './lib/runtime/observability';
import { RunIndex } from './lib/index/run-index';

/** A Map item: a group of files, or a bundle of small ones (the contract's plan items). */
const InputSchema = z.discriminatedUnion('mode', [
  z.object({ mode: z.literal('archive'), runUuid: z.string().min(1), item: PlanItemSchema, tier: TierSchema }),
  z.object({
    mode: z.literal('record-failure'),
    runUuid: z.string().min(1),
    item: PlanItemSchema,
    error: z.object({ Error: z.string().optional(), Cause: z.string().optional() }),
  }),
]);

/** Without a Lambda context (a direct call), allow a quarter of an hour, as Lambda's maximum does. */
const DEFAULT_BUDGET_MS = 15 * 60 * 1000;

export const handler = instrumented('archive-files', async (event: unknown, context) => {
  const input = InputSchema.parse(event);
  annotateRun(input.runUuid);
  const index = new RunIndex(documentClient(), requireEnv(ENV.runIndexTable));
  const item = input.item;
  const files = isBundleItem(item) ? item.bundle.members : item.files.length;
  if (input.mode === 'record-failure') {
    const marked = isBundleItem(item)
      ? await recordBundleFailure({ s3: s3Client(), index, runUuid: input.runUuid, item }, input.error)
      : await recordItemFailure(index, input.runUuid, item, input.error);
    logger.error('Item given up; files marked FAILED', { files, marked, error: input.error.Error, ...(isBundleItem(item) && { bundle: item.bundle.id }) });
    metrics.addMetric('FilesFailed', MetricUnit.Count, marked);
    return { status: 'complete', archived: 0, failed: marked };
  }
  const common = {
    s3: s3Client(),
    glacier: glacierClient(),
    index,
    vaultName: process.env[ENV.vaultName],
    archiveBucket: process.env[ENV.archiveBucket],
    runUuid: input.runUuid,
    tier: input.tier,
    deadline: Date.now() + (context.getRemainingTimeInMillis?.() ?? DEFAULT_BUDGET_MS),
  };
  const result = isBundleItem(item) ? await archiveBundle({ ...common, item }) : await archiveItem({ ...common, item });
  logger.info('Item processed', { files, bytes: item.bytes, ...(isBundleItem(item) && { bundle: item.bundle.id }), ...result });
  metrics.addMetric('FilesArchived', MetricUnit.Count, result.archived);
  if (result.failed) metrics.addMetric('FilesFailed', MetricUnit.Count, result.failed);
  return result;
});
