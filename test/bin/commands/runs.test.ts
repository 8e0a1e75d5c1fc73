// `runs list` and `runs show` against the local cloud, after the demo run was archived by the real workflow.
import { CommanderError } from 'commander';
import * as clients from '../../../functions/lib/runtime/clients';
import { RunIndex } from '../../../functions/lib/index/run-index';
import { bufferIO } from '../../../bin/commands/display';
import { listRuns, parseArchiveState, parseDateBound, runsList, runsShow } from '../../../bin/commands/runs';
import { runCli, startDemoCloud, type DemoCloud } from './helpers';

jest.setTimeout(60_000);

/** A run that had the demo run's id before it (HealthOmics reuses ids), and a failed run of no workflow. */
const OLD_UUID = '00000000-0000-4000-8000-000000000001';
const FAILED_UUID = '00000000-0000-4000-8000-000000000002';
const FAILED_ID = '2000002';

let demo: DemoCloud;
let table: string;

beforeAll(async () => {
  demo = await startDemoCloud();
  table = demo.cloud.resources.runIndexTable;
  const index = new RunIndex(clients.documentClient(), table);
  await index.indexRun({
    runUuid: OLD_UUID,
    runId: demo.report.run.id,
    runArn: `arn:aws:omics:us-east-1:123456789012:run/${demo.report.run.id}`,
    name: 'an-older-run',
    status: 'COMPLETED',
    workflowId: '4074992',
    tier: 'demo',
    deleteRun: true,
    stopTime: '2024-01-02T03:04:05.000Z',
    run: {},
  });
  await index.recordFailure(FAILED_UUID, FAILED_ID, 'snapshot failed: the log group was gone', 'demo');
}, 90_000);

afterAll(async () => {
  await demo?.cloud.stop();
});

describe('runs list', () => {
  it('lists every state, newest stop time first, as JSON', async () => {
    const io = bufferIO();
    const runs = await runsList({ table, json: true }, io);
    expect(runs.map((r) => r.runUuid)).toEqual([FAILED_UUID, demo.report.run.uuid, OLD_UUID]);
    expect(JSON.parse(io.stdout.join(''))).toEqual(JSON.parse(JSON.stringify(runs)));
  });

  it('queries one state with --state, as a table', async () => {
    const io = bufferIO();
    const runs = await runsList({ table, state: 'RUN_DELETED' }, io);
    expect(runs.map((r) => r.runUuid)).toEqual([demo.report.run.uuid]);
    const text = io.stdout.join('\n');
    for (const column of ['run id', 'uuid', 'name', 'workflow', 'tier', 'state', 'stop time', 'files archived/total', 'bytes archived/total']) {
      expect(text).toContain(column);
    }
    const files = runs[0].counts?.files ?? 0;
    expect(files).toBeGreaterThan(demo.report.files.length - 1);
    expect(text).toContain(demo.report.run.uuid);
    expect(text).toContain('RUN_DELETED');
    expect(text).toContain(`${files}/${files}`);
    expect(text).toContain('1 run');
  });

  it('filters by workflow and stop time, and applies the limit', async () => {
    const index = new RunIndex(clients.documentClient(), table);
    expect((await listRuns(index, { workflow: '4074992' })).map((r) => r.runUuid)).toEqual([demo.report.run.uuid, OLD_UUID]);
    expect((await listRuns(index, { since: parseDateBound('2025-01-01', 'since') })).map((r) => r.runUuid)).toEqual([FAILED_UUID, demo.report.run.uuid]);
    expect((await listRuns(index, { until: parseDateBound('2024-01-02', 'until') })).map((r) => r.runUuid)).toEqual([OLD_UUID]);
    expect((await listRuns(index, { limit: 1 })).map((r) => r.runUuid)).toEqual([FAILED_UUID]);
    expect((await listRuns(index, { workflow: '4074992', limit: 1 })).map((r) => r.runUuid)).toEqual([demo.report.run.uuid]);
    expect(await listRuns(index, { state: 'ARCHIVING' })).toEqual([]);
  });

  it('says so when nothing matches', async () => {
    const io = bufferIO();
    await runsList({ table, state: 'PARTIAL' }, io);
    expect(io.stdout.join('')).toBe(`No runs in state PARTIAL in ${table}.`);
  });

  it('runs through the commander wiring', async () => {
    const run = await runCli(['runs', 'list', '--table', table, '--state', 'failed', '--json']);
    expect(run.error).toBeUndefined();
    expect(run.exitCode).toBe(0);
    expect((JSON.parse(run.stdout) as { runUuid: string }[]).map((r) => r.runUuid)).toEqual([FAILED_UUID]);
  });

  it('rejects a bad state or date with the allowed values, before any AWS call', async () => {
    const badState = await runCli(['runs', 'list', '--table', table, '--state', 'DONE']);
    expect(badState.error).toBeInstanceOf(CommanderError);
    expect((badState.error as CommanderError).code).toBe('commander.invalidArgument');
    expect(badState.stderr).toContain('INDEXED, ARCHIVING, ARCHIVED, PARTIAL, FAILED, DELETING, RUN_DELETED');

    const badDate = await runCli(['runs', 'list', '--since', 'last tuesday']);
    expect((badDate.error as CommanderError).code).toBe('commander.invalidArgument');
    expect(badDate.stderr).toContain('must be a date such as 2025-01-31');

    const badLimit = await runCli(['runs', 'list', '--limit', '0']);
    expect((badLimit.error as CommanderError).code).toBe('commander.invalidArgument');

    expect(() => parseArchiveState('archived')).not.toThrow();
    expect(parseDateBound('2025-01-31', 'until')).toBe('2025-01-31T23:59:59.999Z');
    expect(parseDateBound('2025-01-31T12:00', 'since')).toBe('2025-01-31T12:00:00.000Z');
    expect(parseDateBound('2025-01-31T12:00:00+02:00', 'since')).toBe('2025-01-31T10:00:00.000Z');
    expect(() => parseDateBound('2025-02-30', 'since')).not.toThrow(); // Date rolls it over, as most tools do
    expect(() => parseDateBound('31/01/2025', 'since')).toThrow(/must be a date/);
  });

  it('rejects --since after --until', async () => {
    const index = new RunIndex(clients.documentClient(), table);
    await expect(listRuns(index, { since: '2025-02-01T00:00:00.000Z', until: '2025-01-01T00:00:00.000Z' })).rejects.toThrow(/is after --until/);
  });
});

describe('runs show', () => {
  it('shows a run by uuid: its record, every file with its archive, and its restores', async () => {
    const io = bufferIO();
    const details = await runsShow(demo.report.run.uuid, { table }, io);
    expect(details.run.runUuid).toBe(demo.report.run.uuid);
    expect(details.run.archiveState).toBe('RUN_DELETED');
    expect(details.otherUuids).toEqual([]);
    const byPath = new Map(details.files.map((f) => [f.path, f]));
    for (const file of demo.report.files) {
      const record = byPath.get(`out/${file.path}`);
      expect(record).toBeDefined();
      expect(record?.state).toBe('ARCHIVED');
      expect(record?.sha256).toBe(file.sha256);
      if (file.size > 0) expect(record?.archiveId).toBe(file.archiveId);
    }
    expect(details.restores).toEqual({ requests: [], files: [] });

    const text = io.stdout.join('\n');
    expect(text).toContain(`Run ${demo.report.run.id} (uuid ${demo.report.run.uuid}): RUN_DELETED`);
    expect(text).toContain(String(demo.report.snapshot.location));
    expect(text).toContain(String(details.run.executionArn));
    expect(text).toContain('out/aligned/sample-2.bam');
    expect(text).toContain('HealthOmics GetRun, as snapshotted');
    expect(text).toContain(`Files (${details.files.length})`);
    expect(text).toContain('Restores (0)');
  });

  it('shows the newest run for an id and lists the older uuids', async () => {
    const io = bufferIO();
    const details = await runsShow(demo.report.run.id, { table, json: true }, io);
    expect(details.run.runUuid).toBe(demo.report.run.uuid);
    expect(details.otherUuids).toEqual([{ runUuid: OLD_UUID, archiveState: 'INDEXED', stopTime: '2024-01-02T03:04:05.000Z' }]);
    const json = JSON.parse(io.stdout.join('')) as { run: { runUuid: string }; files: { archiveId?: string }[] };
    expect(json.run.runUuid).toBe(demo.report.run.uuid);
    // --json keeps archive ids whole (Glacier's are 138 characters).
    expect(json.files.some((f) => (f.archiveId ?? '').length > 100)).toBe(true);

    const text = bufferIO();
    await runsShow(demo.report.run.id, { table }, text);
    expect(text.stdout.join('\n')).toContain(`Run id ${demo.report.run.id} was reused`);
  });

  it('shows a failed run with its reason', async () => {
    const io = bufferIO();
    await runsShow(FAILED_UUID, { table }, io);
    expect(io.stdout.join('\n')).toContain('snapshot failed: the log group was gone');
  });

  it('fails clearly for an unknown run or something that is not a run reference', async () => {
    await expect(runsShow('9999999', { table }, bufferIO())).rejects.toThrow(`no run with id 9999999 in the run index (table ${table})`);
    await expect(runsShow('11111111-2222-4333-8444-555555555555', { table }, bufferIO())).rejects.toThrow(/no run with uuid 11111111-/);
    await expect(runsShow('my-run', { table }, bufferIO())).rejects.toThrow(/neither a HealthOmics run id/);
    const cli = await runCli(['runs', 'show', '9999999', '--table', table]);
    expect(cli.error?.message).toContain('no run with id 9999999');
    const missing = await runCli(['runs', 'show']);
    expect((missing.error as CommanderError).code).toBe('commander.missingArgument');
  });
});
