// Lambda (Step Functions task): plans the archive of a run's outputs and moves the run to ARCHIVING.
import { z } from 'zod';
import { TierSchema } from './lib/contract';
import { ENV } from './lib/contract';
import { planArchive } from './lib/archive/plan-archive';
import { documentClient, omicsClient, s3Client } from './lib/runtime/clients';
import { requireEnv } from './lib/runtime/env';
import { annotateRun, instrumented, logger } from './lib/runtime/observability';
import { RunIndex } from './lib/index/run-index';

const InputSchema = z.object({
  runUuid: z.string().min(1),
  runOutputUri: z.string().startsWith('s3://'),
  excludeUris: z.array(z.string()).default([]),
  executionName: z.string().min(1),
  tier: TierSchema,
  settings: z.object({
    groupMaxFiles: z.number().int().positive(),
    groupMaxBytes: z.number().int().positive(),
    archiveConcurrency: z.number().int().positive().default(1),
  }),
});

export const handler = instrumented('plan-archive', async (event: unknown) => {
  const input = InputSchema.parse(event);
  annotateRun(input.runUuid);
  const index = new RunIndex(documentClient(), requireEnv(ENV.runIndexTable));
  const run = await index.transitionRun(input.runUuid, ['INDEXED', 'ARCHIVING'], 'ARCHIVING');
  const bucket = requireEnv(ENV.snapshotBucket);
  const plan = await planArchive({
    s3: s3Client(),
    index,
    runUuid: input.runUuid,
    // The run id from the index (the snapshot step recorded it): GetRun tells whether a newer run took it over since.
    runIdCheck: { omics: omicsClient(), runId: run.runId },
    runOutputUri: input.runOutputUri,
    excludeUris: input.excludeUris,
    tier: input.tier,
    groupLimits: { maxFiles: input.settings.groupMaxFiles, maxBytes: input.settings.groupMaxBytes },
    concurrency: input.settings.archiveConcurrency,
    planBucket: bucket,
    planKey: `plans/${input.runUuid}/${input.executionName}/items.json`,
    now: new Date(),
  });
  logger.info('Archive planned', { ...plan });
  return { ...plan, resultPrefix: `plans/${input.runUuid}/${input.executionName}/results` };
});
