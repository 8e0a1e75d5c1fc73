// Benchmark: the archive workflow on the local cloud, one Map item per file vs the plan's grouping; and the demo end to end.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DescribeExecutionCommand, paginateGetExecutionHistory, type HistoryEvent, type SFNClient } from '@aws-sdk/client-sfn';
import { archiveDemoRun, restoreDemoRun } from '../bin/commands/local-demo';
import { executionArnOf, failureOf, followExecution } from '../bin/commands/executions';
import { DEMO_OUTPUT_BUCKET, DEMO_POLICY } from '../bin/commands/policy';
import { executionName } from '../functions/lib/archive/trigger-archive';
import * as clients from '../functions/lib/runtime/clients';
import { RunIndex } from '../functions/lib/index/run-index';
import { parseConfig, type ArchiverConfigInput } from '../functions/lib/contract';
import { ENV } from '../functions/lib/contract';
import { LAMBDAS } from '../stacks/wiring';
import { startLocalCloud, type LocalCloud } from '../local/local-cloud';
import { findMotoPython, MotoMissingError } from '../local/moto';
import { generate, loadRunFixture, syntheticRun } from '../local/omics';
import { fmt, KIB, median, type Benchmark, type BenchmarkOutcome, type BenchOptions } from './support';

const MAP_STATE = 'Archive output files';
const PLAN_STATE = 'Plan archive';
const BENCH_TAG = { bench: 'grouping' };

/**
 * The demo policy with one more tier in front for the benchmark's runs: the demo tier's settings, but the run is
 * kept in HealthOmics, so no run deletion works in the background while the next run is timed.
 */
const BENCH_POLICY: ArchiverConfigInput = {
  ...DEMO_POLICY,
  tiers: [{ ...DEMO_POLICY.tiers[0], name: 'bench-grouping', match: { tags: BENCH_TAG }, deleteRun: false }, ...DEMO_POLICY.tiers],
};

/** Sizes of 1 to 20 KiB, spread deterministically (and not in order) over the files. */
const smallFileSize = (i: number) => (1 + ((i * 7) % 20)) * KIB + ((i * 131) % KIB);

interface GroupingRun {
  groupMaxFiles: number;
  /** Files archived: the outputs and the run's two log files. */
  files: number;
  items: number;
  archiveInvocations: number;
  archiveLambdaMs: number;
  executionMs: number;
  mapMs: number;
}

const timeOf = (event: HistoryEvent | undefined) => event?.timestamp?.getTime();

/** Time from entering the Map state to leaving it, from the execution's own history. */
function mapStateMs(events: HistoryEvent[]): number {
  const entered = timeOf(events.find((e) => e.stateEnteredEventDetails?.name === MAP_STATE));
  const exited = timeOf(events.find((e) => e.stateExitedEventDetails?.name === MAP_STATE));
  if (entered === undefined || exited === undefined) throw new Error(`the execution has no complete "${MAP_STATE}" state in its history`);
  return exited - entered;
}

/** The execution's history with each state's output, which the plan's item count is read from. */
async function historyWithData(sfn: SFNClient, executionArn: string): Promise<HistoryEvent[]> {
  const events: HistoryEvent[] = [];
  for await (const page of paginateGetExecutionHistory({ client: sfn }, { executionArn, includeExecutionData: true })) events.push(...(page.events ?? []));
  return events;
}

function planItemCount(events: HistoryEvent[]): number {
  const output = events.find((e) => e.stateExitedEventDetails?.name === PLAN_STATE)?.stateExitedEventDetails?.output;
  const itemCount = (JSON.parse(output ?? '{}') as { plan?: { itemCount?: number } }).plan?.itemCount;
  if (itemCount === undefined) throw new Error(`no item count in the "${PLAN_STATE}" state's output`);
  return itemCount;
}

/** Counts ArchiveFiles invocations and their time, through the local cloud's onInvoke hook. */
class InvocationTally {
  private readonly archiveFunction = `omics-archiver-${LAMBDAS.archiveFiles.id}`;
  count = 0;
  ms = 0;
  errors: string[] = [];

  record = (record: { functionName: string; durationMs: number; error?: string }) => {
    if (record.error) this.errors.push(`${record.functionName}: ${record.error}`);
    if (record.functionName !== this.archiveFunction) return;
    this.count += 1;
    this.ms += record.durationMs;
  };

  reset(): void {
    this.count = 0;
    this.ms = 0;
  }
}

/** Archives one run of `fileCount` small files with `groupMaxFiles`, through the real trigger path, and times it. */
async function archiveSmallFiles(cloud: LocalCloud, tally: InvocationTally, fileCount: number, groupMaxFiles: number): Promise<GroupingRun> {
  // The trigger reads the policy from its environment on each invocation, as a redeployed function would.
  process.env[ENV.tierPolicy] = JSON.stringify({ ...BENCH_POLICY, groupMaxFiles });
  tally.reset();
  const fixture = syntheticRun({
    outputUri: `s3://${DEMO_OUTPUT_BUCKET}/runs/`,
    name: `bench-grouping-${groupMaxFiles}`,
    tags: BENCH_TAG,
    overrides: { outputs: generate.outputs(fileCount, { prefix: 'shards/shard-', extension: '.vcf', size: smallFileSize }) },
  });
  const run = await loadRunFixture(fixture, { emulator: cloud.omics, s3: clients.s3Client(), logs: clients.logsClient(), events: clients.eventsClient() });
  const sfn = clients.sfnClient();
  const executionArn = executionArnOf(cloud.resources.stateMachines.archiveRun, executionName(run.id, run.uuid));
  await followExecution(sfn, executionArn, { timeoutMs: 600_000, pollMs: 200 });
  const described = await sfn.send(new DescribeExecutionCommand({ executionArn }));
  const events = await historyWithData(sfn, executionArn);
  if (described.status !== 'SUCCEEDED') {
    const failure = failureOf(events);
    throw new Error(`archive execution with groupMaxFiles ${groupMaxFiles} ${described.status}: ${failure?.error} in "${failure?.state}": ${failure?.cause}`);
  }
  const files = await new RunIndex(clients.documentClient(), cloud.resources.runIndexTable).listFiles(run.uuid);
  // The run's own two log files (logs/engine.log, logs/outputs.json) are archived with its outputs.
  const archived = files.filter((f) => f.state === 'ARCHIVED').length;
  if (archived !== files.length || files.length < fileCount) throw new Error(`groupMaxFiles ${groupMaxFiles}: ${archived} of ${files.length} files ARCHIVED`);
  return {
    groupMaxFiles,
    files: files.length,
    items: planItemCount(events),
    archiveInvocations: tally.count,
    archiveLambdaMs: tally.ms,
    executionMs: described.stopDate!.getTime() - described.startDate!.getTime(),
    mapMs: mapStateMs(events),
  };
}

async function run(options: BenchOptions): Promise<BenchmarkOutcome> {
  try {
    findMotoPython();
  } catch (error) {
    if (error instanceof MotoMissingError) return { tables: [], skipped: error.message.split('\n').join(' ') };
    throw error;
  }
  const fileCount = options.quick ? 50 : 200;
  // One round: a run with one item per file takes a minute or more here, and the gap it measures is several-fold.
  const rounds = 1;
  // 1 is no grouping and 100 the default; 20 (the demo policy's) gives more items than the Map's concurrency.
  const groupings = options.quick ? [1, 100] : [1, 20, 100];
  const config = parseConfig(BENCH_POLICY, 'the benchmark policy');
  const tally = new InvocationTally();
  // startLocalCloud points this process at itself through the environment; put it back afterwards.
  const savedEnv = { ...process.env };
  const restoreFolder = mkdtempSync(join(tmpdir(), 'bench-restore-'));

  options.log('workflow: starting the local cloud (moto_server, emulators, handlers)');
  const cloudStarted = performance.now();
  const cloud = await startLocalCloud({ config, logLevel: 'SILENT', onInvoke: tally.record });
  const startupMs = performance.now() - cloudStarted;
  try {
    // The demo first: it is what `npm start` shows, on a cloud as fresh as a user's.
    options.log('  demo: archive and restore the synthetic run');
    const archiveStarted = performance.now();
    const report = await archiveDemoRun(cloud, config, { json: true, timeoutSeconds: 300 });
    const archiveMs = performance.now() - archiveStarted;
    if (report.execution.status !== 'SUCCEEDED' || !report.run.deleted) {
      throw new Error(
        `demo archive ${report.execution.status}, run ${report.run.archiveState}: ${report.execution.error ?? ''} ${report.execution.cause ?? ''}`,
      );
    }
    const restoreStarted = performance.now();
    const restore = await restoreDemoRun(cloud, report, restoreFolder, { json: true, timeoutSeconds: 300 });
    const restoreMs = performance.now() - restoreStarted;
    const notRestored = restore.files.filter((f) => f.state !== 'RESTORED');
    if (restore.execution.status !== 'SUCCEEDED' || notRestored.length) {
      throw new Error(`demo restore ${restore.execution.status}; not restored: ${notRestored.map((f) => f.path).join(', ')}`);
    }

    const runs = new Map<number, GroupingRun[]>(groupings.map((g) => [g, []]));
    for (let round = 0; round < rounds; round++) {
      // Alternate the order each round, so neither setting always runs on the busier (older) moto.
      for (const groupMaxFiles of round % 2 ? [...groupings].reverse() : groupings) {
        options.log(`  ${fileCount} small files, groupMaxFiles ${groupMaxFiles}`);
        const result = await archiveSmallFiles(cloud, tally, fileCount, groupMaxFiles);
        runs.get(groupMaxFiles)!.push(result);
        options.log(
          `    execution ${fmt.seconds(result.executionMs)} s, Map ${fmt.seconds(result.mapMs)} s, ${result.archiveInvocations} ArchiveFiles invocations`,
        );
      }
    }
    if (tally.errors.length) options.log(`  handler errors during the runs (retried by the workflow): ${tally.errors.slice(0, 5).join('; ')}`);

    const grouped = median(runs.get(100)!.map((r) => r.executionMs));
    const groupedMap = median(runs.get(100)!.map((r) => r.mapMs));
    const groupingRows = groupings.map((groupMaxFiles) => {
      const results = runs.get(groupMaxFiles)!;
      const executionMs = median(results.map((r) => r.executionMs));
      const mapMs = median(results.map((r) => r.mapMs));
      const handlerMs = median(results.map((r) => r.archiveLambdaMs));
      return [
        String(groupMaxFiles),
        fmt.count(results[0].items),
        fmt.count(median(results.map((r) => r.archiveInvocations))),
        fmt.seconds(handlerMs),
        fmt.count(handlerMs / results[0].files),
        fmt.seconds(mapMs),
        fmt.ratio(mapMs / groupedMap),
        fmt.seconds(executionMs),
        fmt.ratio(executionMs / grouped),
        ...(rounds > 1 ? [results.map((r) => fmt.seconds(r.executionMs)).join(' / ')] : []),
      ];
    });
    const demoFiles = report.files.length;
    const archivedFiles = runs.get(100)![0].files;
    return {
      tables: [
        {
          title: `Archive workflow on the local cloud: one run of ${fileCount} output files of 1–20 KiB, ${archivedFiles} files with its logs${rounds > 1 ? ` (median of ${rounds}, interleaved)` : ''}`,
          columns: [
            'groupMaxFiles',
            'Map items',
            'ArchiveFiles calls',
            'handler time (s)',
            'per file (ms)',
            'Map state (s)',
            'Map vs 100',
            'execution (s)',
            'vs 100',
            ...(rounds > 1 ? ['each round (s)'] : []),
          ],
          rows: groupingRows,
          notes: [
            `Each run goes the real way: its Run Status Change event, EventBridge, SQS, the trigger Lambda, then the deployed ASL in moto with archiveConcurrency ${config.archiveConcurrency}. "execution" is StartExecution to the end (DescribeExecution startDate→stopDate; it includes the tier's 1 s settle wait, the snapshot and the plan); "Map state" is the Distributed Map alone, from the execution history.`,
            '"handler time" adds up the ArchiveFiles invocations (each file: read from S3, UploadArchive, index updates, source deleted), and "per file" divides it by the files. Map time beyond handler time ÷ concurrency is per-item orchestration: a child execution, its Lambda task and its result for every item. That is the cost grouping removes, and why groupMaxFiles 100 is the default.',
            `Files within an item go one after another, so the plan spreads them over at least as many items as the Map's concurrency (${config.archiveConcurrency}) when there are enough files; groupMaxFiles only caps an item. Locally, moto and the handlers share the same cores, so per-file time also grows with the items in flight.`,
          ],
        },
        {
          title: `The local demo end to end (\`npm start\`: the synthetic run of ${demoFiles} files, archived, deleted from HealthOmics, restored)`,
          columns: ['phase', 'seconds'],
          rows: [
            ['local cloud start (moto_server, emulators, resources, state machines)', fmt.seconds(startupMs)],
            ['archive: event → trigger → execution → ARCHIVED → run deleted', fmt.seconds(archiveMs)],
            ['restore: every file, Expedited (0.5 s job locally) → copied to S3 → downloaded', fmt.seconds(restoreMs)],
            ['total', fmt.seconds(startupMs + archiveMs + restoreMs)],
          ],
          notes: [
            'The demo tier waits 1 s to settle and 0 s to age. The archive phase ends when the run-deletion Lambda (fed by SNS → SQS) has deleted the run from HealthOmics.',
          ],
        },
      ],
    };
  } finally {
    await cloud.stop();
    rmSync(restoreFolder, { recursive: true, force: true });
    for (const key of Object.keys(process.env)) if (!(key in savedEnv)) delete process.env[key];
    Object.assign(process.env, savedEnv);
  }
}

export const workflowBenchmark: Benchmark = { id: 'workflow', title: 'Archive workflow on the local cloud', run };
