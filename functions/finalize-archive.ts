// Lambda (Step Functions task): records the archive's outcome — settled from the file records, or a workflow failure.
import { z } from 'zod';
import { ENV } from './lib/contract';
import { documentClient } from './lib/runtime/clients';
import { finalizeArchive, recordArchiveFailure } from './lib/archive/finalize-archive';
import { requireEnv } from './lib/runtime/env';
import { annotateRun, instrumented, logger, metrics, MetricUnit } from './lib/runtime/observability';
import { RunIndex } from './lib/index/run-index';

const InputSchema = z.discriminatedUnion('mode', [
  z.object({ mode: z.literal('complete'), runUuid: z.string().min(1) }),
  z.object({
    mode: z.literal('failed'),
    runUuid: z.string().min(1),
    runId: z.string().min(1),
    tier: z.string().optional(),
    error: z.object({ Error: z.string().optional(), Cause: z.string().optional() }).optional(),
  }),
]);

export const handler = instrumented('finalize-archive', async (event: unknown) => {
  const input = InputSchema.parse(event);
  annotateRun(input.runUuid);
  const index = new RunIndex(documentClient(), requireEnv(ENV.runIndexTable));
  const outcome = input.mode === 'complete' ? await finalizeArchive(index, input.runUuid) : await recordArchiveFailure(index, input);
  logger.info('Archive settled', { archiveState: outcome.archiveState, counts: outcome.counts, failureReason: outcome.failureReason });
  metrics.addMetric(
    `Runs${outcome.archiveState === 'ARCHIVED' ? 'Archived' : outcome.archiveState === 'PARTIAL' ? 'PartiallyArchived' : 'ArchiveFailed'}`,
    MetricUnit.Count,
    1,
  );
  return outcome;
});
