// Lambda (Step Functions task): checks a restore request against the index and writes one Map item per file.
import { z } from 'zod';
import { ENV } from './lib/contract';
import { documentClient, s3Client } from './lib/runtime/clients';
import { requireEnv, tierPolicy } from './lib/runtime/env';
import { annotateRun, instrumented, logger } from './lib/runtime/observability';
import { planRestore } from './lib/restore/plan-restore';
import { RunIndex } from './lib/index/run-index';

const InputSchema = z.object({ request: z.unknown(), restoreId: z.string().min(1), executionArn: z.string().optional() });

export const handler = instrumented('plan-restore', async (event: unknown) => {
  const input = InputSchema.parse(event);
  logger.appendKeys({ restoreId: input.restoreId });
  const plan = await planRestore({
    index: new RunIndex(documentClient(), requireEnv(ENV.runIndexTable)),
    s3: s3Client(),
    config: tierPolicy(),
    request: input.request,
    restoreId: input.restoreId,
    executionArn: input.executionArn,
    vaultName: process.env[ENV.vaultName],
    itemsBucket: requireEnv(ENV.snapshotBucket),
  });
  annotateRun(plan.runUuid); // the request named the run by id or uuid; now it is resolved
  logger.info('Restore planned', { ...plan });
  return plan;
});
