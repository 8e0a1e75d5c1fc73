// `omics-archiver backfill`: archives terminal HealthOmics runs the index does not know (lost events, runs from before the stack).
import * as clients from '../../functions/lib/runtime/clients';
import { reconcileRuns, type ReconcileReport } from '../../functions/lib/archive/reconcile-runs';
import { RunIndex } from '../../functions/lib/index/run-index';
import { processIO, table, type CommandIO } from './display';
import { planPolicy } from './plan';
import { ResourceResolver, type ResolverDeps, type ResourceFlags } from './resources';

export interface BackfillOptions extends ResourceFlags {
  since?: Date;
  dryRun?: boolean;
  policy?: string;
  max?: number;
  json?: boolean;
}

/** Sweeps ListRuns, as the daily reconciliation does, over any window; starts one archive per unknown terminal run. */
export async function backfill(opts: BackfillOptions, io: CommandIO = processIO, deps: ResolverDeps = {}): Promise<ReconcileReport> {
  const { config } = planPolicy(opts.policy);
  const names = await new ResourceResolver(opts, deps).getAll(['table', 'archiveStateMachine']);
  const report = await reconcileRuns({
    omics: clients.omicsClient(),
    sfn: clients.sfnClient(),
    index: new RunIndex(clients.documentClient(), names.table),
    stateMachineArn: names.archiveStateMachine,
    config,
    since: opts.since,
    dryRun: opts.dryRun,
    maxStarts: opts.max,
    // ListRuns, GetRun and StartExecution share account-wide rates with everything else; a sweep should not crowd them.
    pauseMs: 200,
  });
  if (opts.json) {
    io.out(JSON.stringify(report, null, 2));
    return report;
  }
  io.out(
    `${report.listed} terminal runs in HealthOmics${opts.since ? ` (those stopped since ${opts.since.toISOString()} considered)` : ''}; ${report.known} already in the index.`,
  );
  if (!report.missing.length) {
    io.out('Nothing to backfill.');
    return report;
  }
  io.out(
    table(
      ['run id', 'status', 'stopped', opts.dryRun ? 'would' : 'outcome'],
      report.missing.map((m) => [m.runId, m.status, m.stopTime ?? '-', m.outcome]),
    ),
  );
  if (opts.dryRun) io.out(`Dry run: nothing was started. Run again without --dry-run to archive these ${report.missing.length} runs.`);
  return report;
}
