// Lambda (EventBridge Scheduler): the safety net for lost run events — archives terminal runs the index does not know.
import { ENV } from './lib/contract';
import { documentClient, omicsClient, sfnClient } from './lib/runtime/clients';
import { requireEnv, tierPolicy } from './lib/runtime/env';
import { instrumented, logger, metrics, MetricUnit } from './lib/runtime/observability';
import { reconcileRuns } from './lib/archive/reconcile-runs';
import { RunIndex } from './lib/index/run-index';

/** Only runs that stopped within this window; older ones are the `backfill` command's job. */
const DAY_MS = 24 * 3600 * 1000;

export const handler = instrumented('reconcile-runs', async () => {
  const config = tierPolicy();
  const report = await reconcileRuns({
    omics: omicsClient(),
    sfn: sfnClient(),
    index: new RunIndex(documentClient(), requireEnv(ENV.runIndexTable)),
    stateMachineArn: requireEnv(ENV.archiveStateMachineArn),
    config,
    since: new Date(Date.now() - config.reconcileLookbackDays * DAY_MS),
    pauseMs: 200,
    maxStarts: 500,
  });
  const started = report.missing.filter((m) => m.outcome === 'started').length;
  if (started) logger.warn('Runs archived that no event had announced', { started, runs: report.missing });
  else logger.info('Every terminal run is known', { listed: report.listed, known: report.known });
  metrics.addMetric('RunsReconciled', MetricUnit.Count, started);
  return { listed: report.listed, known: report.known, started };
});
