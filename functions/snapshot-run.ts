// Lambda (Step Functions task): snapshots a run to S3 and indexes it, then says when its outputs are old enough to archive.
import { z } from 'zod';
import { TierSchema } from './lib/contract';
import { ENV } from './lib/contract';
import { documentClient, logsClient, omicsClient, s3Client, sfnClient } from './lib/runtime/clients';
import { requireEnv } from './lib/runtime/env';
import { annotateRun, instrumented, logger } from './lib/runtime/observability';
import { RunIndex } from './lib/index/run-index';
import { snapshotRun } from './lib/archive/snapshot-run';
import { indexSnapshot } from './lib/archive/index-snapshot';
import { archiveTakeOver } from './lib/archive/run-owner';

const InputSchema = z.object({
  runId: z.string().min(1),
  runUuid: z.string().min(1),
  tier: TierSchema,
  waits: z.object({ settleSeconds: z.number().nonnegative(), archiveAfterSeconds: z.number().nonnegative() }),
  executionArn: z.string().optional(),
});

export const handler = instrumented('snapshot-run', async (event: unknown) => {
  const input = InputSchema.parse(event);
  annotateRun(input.runUuid, { runId: input.runId });
  const index = new RunIndex(documentClient(), requireEnv(ENV.runIndexTable));
  // Another execution still archiving this run (an operator re-run, a twin start): stand down before any work.
  const { takeOverFrom } = input.executionArn
    ? await archiveTakeOver({ sfn: sfnClient(), index, runUuid: input.runUuid, executionArn: input.executionArn })
    : { takeOverFrom: undefined };
  if (takeOverFrom !== undefined) logger.warn('Taking over an archive whose execution stopped', { previousExecution: takeOverFrom });
  const snapshot = await snapshotRun({
    omics: omicsClient(),
    logs: logsClient(),
    s3: s3Client(),
    bucket: requireEnv(ENV.snapshotBucket),
    runId: input.runId,
    expectedUuid: input.runUuid,
  });
  const result = await indexSnapshot(index, snapshot, {
    tier: input.tier,
    archiveAfterSeconds: input.waits.archiveAfterSeconds,
    executionArn: input.executionArn,
    takeOverFrom,
  });
  logger.info('Run snapshotted and indexed', {
    location: snapshot.location,
    objects: snapshot.objects.length,
    tasks: snapshot.taskCount,
    archiveAt: result.archiveAt,
  });
  return result;
});
