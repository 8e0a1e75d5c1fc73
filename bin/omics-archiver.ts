// The operator CLI (commander): the local cloud and demo today; runs, plans and restores against a deployed stack.
import { Command, InvalidArgumentError } from 'commander';

// The pinned SDK runs on Node 20; its notice about future releases needing Node 22 is noise in every command's output.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
import { ConfigError } from '../stacks/config';
import { localDemo } from './commands/local-demo';
import { localUp } from './commands/local-up';

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
    .description('archive a synthetic run (or --outputs) end to end on the local cloud and show every step')
    .option('--outputs <dir>', "archive this folder's files as the run's outputs")
    .option('--policy <file>', 'tier policy file (the cdk context shape); default: a tier that archives every file at once')
    .option('--json', 'print one JSON document on stdout instead of the narrative')
    .option('--verbose', 'show the handlers\' logs')
    .option('--timeout <seconds>', 'give up on the execution after this long', (v) => Number(v), 120)
    .action(async (opts: { outputs?: string; policy?: string; json?: boolean; verbose?: boolean; timeout: number }) => {
      const report = await localDemo({ ...opts, timeoutSeconds: opts.timeout });
      if (opts.json) process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
      if (report.execution.status !== 'SUCCEEDED') process.exitCode = 1;
    });
  return program;
}

export async function main(argv: string[]): Promise<void> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
  } catch (error) {
    const debug = program.opts<{ debug?: boolean }>().debug;
    // Config errors already name every bad key; other errors say what failed. Stack traces only on request.
    console.error(`error: ${error instanceof ConfigError ? error.message : (error as Error).message}`);
    if (debug && error instanceof Error) console.error(error.stack);
    process.exitCode = 1;
  }
}

if (require.main === module) void main(process.argv);
