// The operator CLI (commander): the local cloud and demo today; runs, plans and restores against a deployed stack.
import { Command, CommanderError, InvalidArgumentError } from 'commander';

// The pinned SDK runs on Node 20; its notice about future releases needing Node 22 is noise in every command's output.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
import { ARCHIVE_STATES } from '../functions/lib/index/run-index';
import { ConfigError, RESTORE_TIERS } from '../functions/lib/contract';
import { demoFailed, localDemo } from './commands/local-demo';
import { localUp } from './commands/local-up';
import { planCommand, type PlanOptions } from './commands/plan';
import { costCommand, type CostOptions } from './commands/cost';
import { parseCostSize, parseFileCount } from './commands/cost-display';
import { backfill, type BackfillOptions } from './commands/backfill';
import { indexMigrate, type IndexMigrateOptions } from './commands/index-migrate';
import { resourceOptions } from './commands/resources';
import { parseDestination, parseExecutionName, parseRestoreTier, restoreCommand, type RestoreOptions } from './commands/restore';
import { parseArchiveState, parseDateBound, parseLimit, runsList, runsShow, type RunsListOptions, type RunsShowOptions } from './commands/runs';

function port(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError('must be a port number from 0 to 65535');
  return n;
}

export function buildProgram(): Command {
  const program = new Command('omics-archiver')
    .description('Archive AWS HealthOmics runs to Glacier, index them, restore them.')
    .option('--debug', 'print stack traces on errors')
    .showHelpAfterError();

  const local = program.command('local').description('the embedded local cloud: no AWS account needed');
  local
    .command('up')
    .description('start the local cloud in the foreground and print its endpoint and resources, until Ctrl-C')
    .option('--port <port>', 'front door port (0 = any free port)', port, 4566)
    .option('--data-dir <dir>', 'keep Glacier archives and logs here (default: a temporary folder, removed on exit)')
    .option('--policy <file>', 'tier policy file (the cdk context shape); default: the demo tier')
    .action(async (opts: { port: number; dataDir?: string; policy?: string }) => localUp(opts));
  local
    .command('demo')
    .description('archive a synthetic run (or --outputs) end to end on the local cloud, restore it, and show every step')
    .option('--outputs <dir>', "archive this folder's files as the run's outputs")
    .option('--policy <file>', 'tier policy file (the cdk context shape); default: a tier that archives every file at once')
    .option('--restore-to <dir>', 'download the restored files into this folder, under their paths in the outputs folder')
    .option('--no-restore', 'archive only: skip restoring the files with the restore workflow')
    .option('--json', 'print one JSON document on stdout instead of the narrative')
    .option('--verbose', "show the handlers' logs")
    .option('--timeout <seconds>', 'give up on each execution after this long (default: 120 s plus 0.15 s a file and 1 s per 8 MiB)', (v) => positiveNumber(v))
    .action(async (opts: { outputs?: string; policy?: string; restoreTo?: string; restore: boolean; json?: boolean; verbose?: boolean; timeout?: number }) => {
      const report = await localDemo({ ...opts, noRestore: !opts.restore, timeoutSeconds: opts.timeout });
      // With --json the document always comes, a timeout or failure included (its `error` says which).
      if (opts.json) process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
      if (report.error) console.error(`error: ${report.error}`);
      if (demoFailed(report)) process.exitCode = 1;
    });

  const runs = program.command('runs').description('archived runs, as the run index records them');
  resourceOptions(
    runs
      .command('list')
      .description('runs in the index, newest stop time first')
      .option('--state <state>', `only runs in this archive state: ${ARCHIVE_STATES.join(', ')}`, parseArchiveState)
      .option('--workflow <id>', 'only runs of this HealthOmics workflow id')
      .option('--since <date>', 'only runs that stopped at or after this date (2025-01-31) or time (2025-01-31T12:00:00Z)', (v) => parseDateBound(v, 'since'))
      .option('--until <date>', 'only runs that stopped at or before this date (the whole day) or time', (v) => parseDateBound(v, 'until'))
      .option('--limit <n>', 'at most this many runs', parseLimit)
      .option('--json', 'print a JSON array of the run records'),
    ['table'],
  ).action(async (opts: RunsListOptions) => {
    await runsList(opts);
  });
  resourceOptions(
    runs
      .command('show')
      .description("one run's record, its files and its restores (a run id shows its newest uuid and lists the others)")
      .argument('<run>', 'HealthOmics run id or run uuid')
      .option('--json', 'print one JSON document'),
    ['table'],
  ).action(async (run: string, opts: RunsShowOptions) => {
    await runsShow(run, opts);
  });

  resourceOptions(
    program
      .command('plan')
      .description("what the tier policy would do to a run: its tier, waits, each output file's action and the work items; changes nothing")
      .argument('<run>', 'HealthOmics run id or run uuid')
      .option('--policy <file>', 'tier policy: a cdk.json or a bare omicsArchiver object (default: ./cdk.json)')
      .option('--prices <file>', 'JSON prices merged onto the built-in us-east-1 table for the cost estimate (see docs/cost.md)')
      .option('--json', 'print one JSON document'),
    ['table'],
  ).action(async (run: string, opts: PlanOptions) => {
    await planCommand(run, opts);
  });

  resourceOptions(
    program
      .command('cost')
      .description('what archiving a run (or a hypothetical one) to a tier costs: storage now and after, requests, the minimum duration, each restore tier')
      .argument('[run]', 'HealthOmics run id or run uuid (or give --size and --files)')
      .option('--size <size>', 'hypothetical run: total size, e.g. 100GB or "1.5 TiB" (a GB is 2^30 bytes, as AWS bills it)', parseCostSize)
      .option('--files <n>', 'hypothetical run: number of files sharing the size', parseFileCount)
      .option('--tier <name>', "price this tier of the policy (default: the tier the run matches; a hypothetical run: the policy's only tier)")
      .option('--policy <file>', 'tier policy: a cdk.json or a bare omicsArchiver object (default: ./cdk.json)')
      .option('--prices <file>', 'JSON prices merged onto the built-in us-east-1 table (see docs/cost.md)')
      .option('--json', 'print one JSON document'),
    ['table'],
  ).action(async (run: string | undefined, opts: CostOptions) => {
    await costCommand(run, opts);
  });

  resourceOptions(
    program
      .command('restore')
      .description("bring a run's archived files back: starts the restore workflow, and with --wait follows it")
      .argument('<run>', 'HealthOmics run id or run uuid')
      .option('--files <glob...>', 'only files whose path (relative to the output folder) matches one of these globs (default: all)')
      .option('--tier <tier>', `retrieval tier: ${RESTORE_TIERS.join(', ')} (default: the run's tier policy's restoreTier)`, parseRestoreTier)
      .option('--to <s3-uri>', "restore under this s3://bucket/prefix/ (default: each file's original location)", parseDestination)
      .option('--name <name>', 'execution name, also the restore id (default: restore-<run>-<time>)', parseExecutionName)
      .option('--wait', 'follow the execution, show progress per file, and exit non-zero if anything failed')
      .option('--timeout <seconds>', 'with --wait: stop following after this long (the restore goes on)', (v) => positiveNumber(v), 86400)
      .option('--poll <seconds>', "with --wait: how often to look (default: 2 for Expedited, 10 Standard, 20 Bulk, 5 for the policy's tier)", (v) =>
        positiveNumber(v),
      )
      .option('--json', 'print one JSON document'),
    ['restoreStateMachine', 'table'],
  ).action(async (run: string, opts: RestoreOptions) => {
    const result = await restoreCommand(run, opts);
    if (!result.ok) process.exitCode = 1;
  });

  resourceOptions(
    program
      .command('backfill')
      .description('archive terminal HealthOmics runs the index does not know (lost events, runs older than the stack), as the daily sweep does')
      .option(
        '--since <date>',
        'only runs that stopped at or after this date or time (default: every run HealthOmics still has)',
        (v) => new Date(parseDateBound(v, 'since')),
      )
      .option('--policy <file>', 'tier policy: a cdk.json or a bare omicsArchiver object (default: ./cdk.json)')
      .option('--max <n>', 'start at most this many archives (the next run takes the rest)', parseLimit)
      .option('--dry-run', 'list what would be started, start nothing')
      .option('--json', 'print one JSON document'),
    ['table', 'archiveStateMachine'],
  ).action(async (opts: BackfillOptions) => {
    await backfill(opts);
  });

  const index = program.command('index').description('the run index itself');
  resourceOptions(
    index
      .command('migrate')
      .description('move items written by older archivers to the current schema version (safe to run again)')
      .option('--dry-run', 'count what would be migrated, write nothing')
      .option('--json', 'print one JSON document'),
    ['table'],
  ).action(async (opts: IndexMigrateOptions) => {
    await indexMigrate(opts);
  });

  // Subcommands take their exit behaviour when created, so the root's is copied here: argument errors then reach
  // main() (or a test's exitOverride) as CommanderErrors instead of ending the process from deep inside commander.
  const overrideAll = (command: Command): void => {
    for (const sub of command.commands) {
      sub.exitOverride();
      overrideAll(sub);
    }
  };
  overrideAll(program);
  return program;
}

function positiveNumber(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError('must be a positive number');
  return n;
}

export async function main(argv: string[]): Promise<void> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
  } catch (error) {
    // Commander has already printed its own one-line message (and help, where asked for).
    if (error instanceof CommanderError) {
      process.exitCode = error.exitCode;
      return;
    }
    const debug = program.opts<{ debug?: boolean }>().debug;
    // Config errors already name every bad key; other errors say what failed. Stack traces only on request.
    console.error(`error: ${error instanceof ConfigError ? error.message : (error as Error).message}`);
    if (debug && error instanceof Error) console.error(error.stack);
    process.exitCode = 1;
  }
}

if (require.main === module) void main(process.argv);
