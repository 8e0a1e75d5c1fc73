// Lambda (Step Functions task): records a file that could not be restored, or settles the whole restore request and announces it.
import { z } from 'zod';
import { ENV } from './lib/contract';
import { documentClient, s3Client, snsClient } from './lib/runtime/clients';
import { requireEnv } from './lib/runtime/env';
import { annotateRun, instrumented, logger, metrics, MetricUnit } from './lib/runtime/observability';
import { RestoreItemSchema, WorkflowErrorSchema } from './lib/contract';
import { recordBundleRestoreFailure } from './lib/restore/bundle-restore';
import { finalizeRestore, recordRestoreFileFailure } from './lib/restore/finalize-restore';
import { RunIndex } from './lib/index/run-index';

const InputSchema = z.discriminatedUnion('mode', [
  z.object({ mode: z.literal('file-failed'), item: RestoreItemSchema, error: WorkflowErrorSchema }),
  z.object({ mode: z.literal('complete'), runUuid: z.string().min(1), restoreId: z.string().min(1) }),
]);

export const handler = instrumented('finalize-restore', async (event: unknown) => {
  const input = InputSchema.parse(event);
  annotateRun(input.mode === 'file-failed' ? input.item.runUuid : input.runUuid);
  const index = new RunIndex(documentClient(), requireEnv(ENV.runIndexTable));
  if (input.mode === 'file-failed') {
    // A bundle's item stands for every requested member of it: each not restored yet fails with it.
    const failed = input.item.bundle
      ? await recordBundleRestoreFailure({ index, s3: s3Client(), item: input.item, error: input.error })
      : (await recordRestoreFileFailure(index, input.item, input.error), 1);
    logger.error('File not restored', {
      path: input.item.path,
      restoreId: input.item.restoreId,
      error: input.error.Error,
      ...(input.item.bundle && { bundle: input.item.bundle.id, failed }),
    });
    metrics.addMetric('FilesNotRestored', MetricUnit.Count, failed);
    return { path: input.item.path, state: 'FAILED' };
  }
  const outcome = await finalizeRestore(index, input.runUuid, input.restoreId, { sns: snsClient(), topicArn: requireEnv(ENV.restoreEventsTopicArn) });
  logger.info('Restore settled', { restoreId: outcome.restoreId, state: outcome.state, restored: outcome.restored, failed: outcome.failed });
  metrics.addMetric('FilesRestored', MetricUnit.Count, outcome.restored);
  return outcome;
});
