// Finds terminal HealthOmics runs the index does not know (EventBridge delivery is best effort) and starts their archive.
import { paginateListRuns, type OmicsClient } from '@aws-sdk/client-omics';
import type { SFNClient } from '@aws-sdk/client-sfn';
import { TERMINAL_RUN_STATUSES, type ArchiverConfig } from '../contract';
import { triggerArchive, type TriggerOutcome } from './trigger-archive';
import type { RunIndex } from '../index/run-index';

export interface ReconcileArgs {
  omics: OmicsClient;
  sfn: SFNClient;
  index: RunIndex;
  stateMachineArn: string;
  config: ArchiverConfig;
  /** Only runs that stopped at or after this time. */
  since?: Date;
  /** List what would be started, start nothing. */
  dryRun?: boolean;
  /** Pause between StartExecution calls, to stay well inside HealthOmics' and Step Functions' request rates. */
  pauseMs?: number;
  /** Stop after starting this many archives (the next sweep takes the rest). */
  maxStarts?: number;
}

export interface ReconcileReport {
  listed: number;
  known: number;
  /** Unknown terminal runs: started (or why not), `would-start` on a dry run, `deferred` past the cap on starts. */
  missing: { runId: string; status: string; stopTime?: string; outcome: TriggerOutcome['outcome'] | 'would-start' | 'deferred' }[];
}

/**
 * Sweeps ListRuns (paginated) for COMPLETED, FAILED and CANCELLED runs; each one whose id has no run record in the
 * index is handed to the same trigger the EventBridge path uses, so a run already under way is a duplicate, not a
 * second archive.
 */
export async function reconcileRuns(args: ReconcileArgs): Promise<ReconcileReport> {
  const report: ReconcileReport = { listed: 0, known: 0, missing: [] };
  let started = 0;
  for (const status of TERMINAL_RUN_STATUSES) {
    for await (const page of paginateListRuns({ client: args.omics, pageSize: 100 }, { status })) {
      for (const run of page.items ?? []) {
        report.listed++;
        if (!run.id) continue;
        if (args.since && run.stopTime && run.stopTime < args.since) continue;
        // The list has no uuid, and ids are reused: the same id with the same stop time is the same run. Anything
        // else goes to the trigger, which reads the uuid and finds an execution already started for it.
        const stopTime = run.stopTime?.toISOString();
        const known = (await args.index.findRunsById(run.id)).filter((r) => stopTime && r.stopTime === stopTime);
        if (known.length) {
          report.known++;
          continue;
        }
        if (args.maxStarts !== undefined && started >= args.maxStarts) {
          report.missing.push({ runId: run.id, status, stopTime, outcome: 'deferred' });
          continue;
        }
        if (args.dryRun) {
          started++;
          report.missing.push({ runId: run.id, status, stopTime, outcome: 'would-start' });
          continue;
        }
        const result = await triggerArchive({
          omics: args.omics,
          sfn: args.sfn,
          stateMachineArn: args.stateMachineArn,
          config: args.config,
          runId: run.id,
          status,
        });
        report.missing.push({ runId: run.id, status, stopTime, outcome: result.outcome });
        if (result.outcome === 'started') {
          started++;
          if (args.pauseMs) await new Promise((r) => setTimeout(r, args.pauseMs));
        }
      }
    }
  }
  return report;
}
