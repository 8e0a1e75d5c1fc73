// Test helpers for the operator commands: a local cloud with the demo run archived, and the CLI run in-process.
import { archiveDemoRun, type DemoReport } from '../../../bin/commands/local-demo';
import { loadPolicy } from '../../../bin/commands/policy';
import type { ArchiverConfig } from '../../../functions/lib/contract';
import { startLocalCloud, type LocalCloud } from '../../../local/local-cloud';

// Jest resolves `bin/omics-archiver` to the .js launcher (which runs the CLI on load), so the .ts file is named whole.
// eslint-disable-next-line @typescript-eslint/no-require-imports -- an import cannot name the .ts file, and the .js beside it runs the CLI
const { buildProgram } = require('../../../bin/omics-archiver.ts') as typeof import('../../../bin/omics-archiver');

export interface DemoCloud {
  cloud: LocalCloud;
  config: ArchiverConfig;
  report: DemoReport;
}

/**
 * One local cloud with the synthetic demo run archived through the real workflow: the demo policy, but into the vault
 * (as an existing Glacier customer's tier), so the operator commands are tested on vault archive ids; the demo's own
 * test (test/bin/local-demo.test.ts) covers the storage-class default.
 */
export async function startDemoCloud(): Promise<DemoCloud> {
  const demo = loadPolicy();
  const config = {
    ...demo,
    tiers: demo.tiers.map((tier) => ({ ...tier, target: { type: 'glacier-vault' as const }, partSizeMiB: 1, restoreTier: 'Expedited' as const })),
  };
  const cloud = await startLocalCloud({ config, logLevel: 'SILENT' });
  try {
    const report = await archiveDemoRun(cloud, config, { json: true, timeoutSeconds: 60 });
    if (report.execution.status !== 'SUCCEEDED') throw new Error(`the demo archive ended ${report.execution.status}: ${report.execution.cause}`);
    return { cloud, config, report };
  } catch (error) {
    await cloud.stop();
    throw error;
  }
}

export interface CliRun {
  stdout: string;
  stderr: string;
  /** What parseAsync threw (a CommanderError for argument errors), if anything. */
  error?: Error;
  /** process.exitCode as the command left it (reset afterwards). */
  exitCode: number;
}

/** Runs `omics-archiver <args>` through the real commander wiring, capturing stdout and stderr. */
export async function runCli(args: string[]): Promise<CliRun> {
  const out: string[] = [];
  const err: string[] = [];
  const stdout = jest.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    out.push(String(chunk));
    return true;
  });
  const stderr = jest.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
    err.push(String(chunk));
    return true;
  });
  process.exitCode = undefined;
  let error: Error | undefined;
  try {
    await buildProgram()
      .exitOverride()
      .parseAsync(['node', 'omics-archiver', ...args]);
  } catch (e) {
    error = e as Error;
  } finally {
    stdout.mockRestore();
    stderr.mockRestore();
  }
  const exitCode = Number(process.exitCode ?? 0);
  process.exitCode = undefined;
  return { stdout: out.join(''), stderr: err.join(''), error, exitCode };
}
