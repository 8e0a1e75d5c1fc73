// Maintenance commands on the local cloud: backfill finds and archives a run whose event was lost; index migrate checks every item.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { CommanderError } from 'commander';
import { DEMO_POLICY } from '../../../bin/commands/policy';
import { executionName } from '../../../functions/lib/archive/trigger-archive';
import { loadRun, archiveExecution } from '../../support/local-cloud';
import { runCli, startDemoCloud, type DemoCloud } from './helpers';

jest.setTimeout(120_000);

let demo: DemoCloud;
let policyFile: string;
beforeAll(async () => {
  demo = await startDemoCloud();
  policyFile = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'backfill-')), 'policy.json');
  fs.writeFileSync(policyFile, JSON.stringify({ omicsArchiver: DEMO_POLICY }));
}, 120_000);
afterAll(async () => {
  await demo?.cloud.stop();
  if (policyFile) fs.rmSync(path.dirname(policyFile), { recursive: true, force: true });
});

const flags = () => [
  '--table',
  demo.cloud.resources.runIndexTable,
  '--archive-state-machine',
  demo.cloud.resources.stateMachines.archiveRun,
  '--policy',
  policyFile,
];

test('finds a finished run no event announced, archives it, and finds nothing the second time', async () => {
  // A run that finished while the stack was not listening: no Run Status Change event.
  const run = await loadRun(
    demo.cloud,
    { outputs: [{ path: 'lost.txt', content: 'the event never came' }] },
    { outputBucket: DEMO_POLICY.outputBuckets[0], publishEvent: false },
  );

  // --since later than the run's stop: nothing is even considered.
  const later = await runCli(['backfill', '--dry-run', '--since', new Date(Date.now() + 3600_000).toISOString(), ...flags(), '--json']);
  expect(later.error).toBeUndefined();
  expect((JSON.parse(later.stdout) as { missing: unknown[] }).missing).toEqual([]);

  const dry = await runCli(['backfill', '--dry-run', '--since', '2000-01-01', ...flags(), '--json']);
  expect(dry.exitCode).toBe(0);
  const dryReport = JSON.parse(dry.stdout) as { missing: { runId: string; outcome: string }[] };
  expect(dryReport.missing).toEqual([expect.objectContaining({ runId: run.id, outcome: 'would-start' })]);

  const real = await runCli(['backfill', ...flags()]);
  expect(real.exitCode).toBe(0);
  expect(real.stdout).toContain(run.id);
  expect(real.stdout).toContain('started');
  const execution = await archiveExecution(demo.cloud, run.id, run.uuid);
  expect(execution.status).toBe('SUCCEEDED');
  expect(executionName(run.id, run.uuid)).toBe(execution.arn.split(':').pop());

  const again = await runCli(['backfill', ...flags()]);
  expect(again.stdout).toContain('Nothing to backfill.');
});

test('refuses a bad --since before calling AWS', async () => {
  const run = await runCli(['backfill', '--since', 'yesterday', ...flags()]);
  expect(run.error).toBeInstanceOf(CommanderError);
  expect(run.stderr).toMatch(/since/);
});

test('index migrate reads every item of the real index and finds them all current', async () => {
  const run = await runCli(['index', 'migrate', '--dry-run', '--json', '--table', demo.cloud.resources.runIndexTable]);
  expect(run.error).toBeUndefined();
  const report = JSON.parse(run.stdout) as { scanned: number; current: number; migrated: number; byVersion: Record<string, number> };
  expect(report.scanned).toBeGreaterThan(10);
  expect(report).toMatchObject({ current: report.scanned, migrated: 0, byVersion: { '1': report.scanned } });
});
