// `plan` against the local cloud: the archived (and deleted) demo run from the index, a live run from HealthOmics and S3.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ScanCommand } from '@aws-sdk/client-dynamodb';
import { ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
import { CommanderError } from 'commander';
import * as clients from '../../../functions/lib/runtime/clients';
import { bufferIO } from '../../../bin/commands/display';
import { formatPlan, planCommand, planPolicy, planRun } from '../../../bin/commands/plan';
import type { CostReport } from '../../../bin/commands/cost';
import { formatCost } from '../../../bin/commands/cost-display';
import { DEMO_OUTPUT_BUCKET, DEMO_POLICY } from '../../../bin/commands/policy';
import { loadRunFixture, syntheticRun } from '../../../local/omics';
import type { StoredRun } from '../../../local/omics';
import { runCli, startDemoCloud, type DemoCloud } from './helpers';

jest.setTimeout(60_000);

let demo: DemoCloud;
let table: string;
let live: StoredRun;
let dir: string;
/** Policy files: the demo's archive-everything tier; the same with BAMs kept; one whose tier matches nothing here. */
const policies = { demo: '', keepBams: '', noMatch: '', bare: '' };
/** Resolve nothing from the environment or a stack: only what a test passes. */
const noEnv = { env: {} };

beforeAll(async () => {
  demo = await startDemoCloud();
  table = demo.cloud.resources.runIndexTable;
  // A second run, finished but never archived: its outputs are in S3 and HealthOmics still has it.
  live = await loadRunFixture(syntheticRun({ outputUri: `s3://${DEMO_OUTPUT_BUCKET}/runs/`, name: 'live-run' }), {
    emulator: demo.cloud.omics,
    s3: clients.s3Client(),
    logs: clients.logsClient(),
    events: clients.eventsClient(),
    publishEvent: false,
  });

  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'plan-test-'));
  const write = (name: string, content: unknown) => {
    const file = path.join(dir, name);
    fs.writeFileSync(file, JSON.stringify(content));
    return file;
  };
  const [tier] = DEMO_POLICY.tiers;
  policies.demo = write('cdk.json', { app: 'x', context: { omicsArchiver: DEMO_POLICY } });
  policies.keepBams = write('keep-bams.json', {
    context: {
      omicsArchiver: {
        ...DEMO_POLICY,
        tiers: [
          {
            ...tier,
            files: [
              { globs: ['**/*.bam'], action: 'keep' },
              { globs: ['**'], action: 'archive' },
            ],
          },
        ],
      },
    },
  });
  policies.noMatch = write('no-match.json', { ...DEMO_POLICY, tiers: [{ ...tier, match: { workflowIds: ['9999'] } }] });
  policies.bare = write('bare.json', {
    ...DEMO_POLICY,
    tiers: [{ ...tier, name: 'bare', files: [{ globs: ['out/qc/**'], action: 'skip' }], defaultAction: 'archive' }],
  });
}, 90_000);

afterAll(async () => {
  await demo?.cloud.stop();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

describe('plan', () => {
  it('plans the archived demo run from the index once HealthOmics has deleted it: every file archive, all done', async () => {
    // HealthOmics gave the demo run's id to the live run after deleting it, so the uuid names the demo run; GetRun on
    // the id answers with the live run, which the plan must not take for it.
    expect(live.id).toBe(demo.report.run.id);
    const plan = await planRun(demo.report.run.uuid, { table, policy: policies.demo }, noEnv);
    expect(plan.run).toMatchObject({ id: demo.report.run.id, uuid: demo.report.run.uuid, source: 'index', archiveState: 'RUN_DELETED', status: 'COMPLETED' });
    expect(plan.tier?.name).toBe('demo');
    expect(plan.waits).toMatchObject({ settleSeconds: 1, archiveAfterSeconds: 0 });
    const byPath = new Map(plan.files.map((f) => [f.path, f]));
    for (const file of demo.report.files) {
      // The sources were deleted after archiving, so the index is where these files are known from.
      expect(byPath.get(`out/${file.path}`)).toMatchObject({ action: 'archive', source: 'index', indexState: 'ARCHIVED', size: file.size, ruleText: '#1 **' });
    }
    expect(plan.totals.archive.files).toBe(plan.files.length);
    expect(plan.totals.keep.files + plan.totals.skip.files).toBe(0);
    expect(plan.workItems).toEqual([]);
    expect(plan.alreadyArchived).toBe(plan.files.length);
    // The live run writes into the same folder (runs/<id>/); its objects are not the demo run's.
    expect(plan.newerRunObjects).toMatchObject({ runUuid: live.uuid, files: plan.files.length });
    expect(formatPlan(plan)).toContain(`when run ${live.uuid} took over this run's id`);
  });

  it('plans a live run from HealthOmics GetRun and its S3 outputs, grouped into work items', async () => {
    const plan = await planRun(live.id, { policy: policies.demo }, noEnv);
    expect(plan.run).toMatchObject({
      id: live.id,
      uuid: live.uuid,
      name: 'live-run',
      source: 'healthomics',
      runOutputUri: live.runOutputUri,
      tags: { project: 'demo', sample: 'NA12878' },
    });
    const paths = plan.files.map((f) => f.path);
    for (const file of demo.report.files) expect(paths).toContain(`out/${file.path}`);
    expect(paths).toEqual(expect.arrayContaining(['logs/engine.log', 'logs/outputs.json']));
    expect(plan.files.every((f) => f.action === 'archive' && f.source === 's3' && f.indexState === undefined)).toBe(true);

    // Every archive file is in exactly one work item, and each item keeps to the grouping limits (20 files, 8 MiB).
    expect(plan.groupLimits).toEqual({ maxFiles: 20, maxBytes: 8 * 1024 * 1024 });
    expect(plan.workItems.flatMap((i) => i.paths).sort()).toEqual([...paths].sort());
    for (const item of plan.workItems) {
      expect(item.files === 1 || (item.files <= 20 && item.bytes <= 8 * 1024 * 1024)).toBe(true);
      expect(item.paths).toHaveLength(item.files);
    }
    expect(plan.workItems.reduce((s, i) => s + i.bytes, 0)).toBe(plan.totals.archive.bytes);
    expect(plan.workItems.length).toBeGreaterThan(1);
  });

  it('follows the policy: a keep rule for BAMs keeps them and leaves them out of the work items', async () => {
    const plan = await planRun(live.id, { policy: policies.keepBams }, noEnv);
    const bams = plan.files.filter((f) => f.path.endsWith('.bam'));
    expect(bams.map((f) => f.path)).toEqual(['out/aligned/sample-1.bam', 'out/aligned/sample-2.bam']);
    for (const bam of bams) expect(bam).toMatchObject({ action: 'keep', rule: 0, ruleText: '#1 **/*.bam' });
    expect(plan.files.filter((f) => !f.path.endsWith('.bam')).every((f) => f.action === 'archive' && f.rule === 1)).toBe(true);
    expect(plan.totals.keep).toEqual({ files: 2, bytes: bams.reduce((s, f) => s + f.size, 0) });
    expect(plan.workItems.flatMap((i) => i.paths).some((p) => p.endsWith('.bam'))).toBe(false);
  });

  it('reads a bare omicsArchiver policy file too, with skip rules and the default action', async () => {
    const plan = await planRun(live.id, { policy: policies.bare }, noEnv);
    expect(plan.tier?.name).toBe('bare');
    const qc = plan.files.filter((f) => f.path.startsWith('out/qc/'));
    expect(qc).toHaveLength(5);
    expect(qc.every((f) => f.action === 'skip')).toBe(true);
    expect(plan.files.filter((f) => !f.path.startsWith('out/qc/')).every((f) => f.action === 'archive' && f.ruleText === 'default (archive)')).toBe(true);
    expect(plan.totals.skip.files).toBe(5);
  });

  it('says so when no tier matches the run', async () => {
    const io = bufferIO();
    const plan = await planCommand(live.id, { policy: policies.noMatch }, io, noEnv);
    expect(plan.tier).toBeUndefined();
    expect(plan.files).toEqual([]);
    expect(io.stdout.join('\n')).toContain('No tier matches this run: the archiver would leave it alone');
  });

  it('writes nothing: the index and the output folder are as they were', async () => {
    const countItems = async () => (await clients.dynamoClient().send(new ScanCommand({ TableName: table, Select: 'COUNT' }))).Count;
    const listKeys = async () =>
      ((await clients.s3Client().send(new ListObjectsV2Command({ Bucket: DEMO_OUTPUT_BUCKET }))).Contents ?? []).map((o) => `${o.Key}@${o.ETag}`).sort();
    const before = { items: await countItems(), keys: await listKeys() };
    await planRun(live.id, { table, policy: policies.demo }, noEnv);
    await planRun(demo.report.run.uuid, { table, policy: policies.demo }, noEnv);
    expect({ items: await countItems(), keys: await listKeys() }).toEqual(before);
  });

  it('prints the tier, the waits, every file, the totals and the work items', async () => {
    const io = bufferIO();
    await planCommand(live.id, { policy: policies.keepBams, now: new Date() }, io, noEnv);
    const text = io.stdout.join('\n');
    expect(text).toContain(`Run ${live.id} (uuid ${live.uuid}) "live-run": COMPLETED, workflow ${live.workflowId}, from HealthOmics GetRun`);
    expect(text).toContain(
      'Tier: demo → target s3-glacier (DEEP_ARCHIVE); deletes archived sources: yes; deletes the HealthOmics run: yes; restore tier Standard',
    );
    expect(text).toContain('Waits: settle PT1S (1 s) after the run stops, then archive PT0S (0 s) after it stopped');
    expect(text).toContain('out/aligned/sample-2.bam');
    expect(text).toMatch(/Totals: archive \d+ files, [\d.]+ [KM]iB; keep 2 files, 9\.0 MiB; skip 0 files, 0 B/);
    expect(text).toMatch(/Work items \(\d+; a group holds at most 20 files and 8\.0 MiB/);
    expect(text).toContain('Nothing was changed: this is a preview.');
    expect(formatPlan(await planRun(live.id, { policy: policies.noMatch }, noEnv))).not.toContain('Work items');
  });

  it('fails clearly for an unknown run, a uuid the index lacks, and a missing policy', async () => {
    await expect(planRun('9999999', { table, policy: policies.demo }, noEnv)).rejects.toThrow(
      `run 9999999 is not in HealthOmics and not in the run index (table ${table})`,
    );
    await expect(planRun('11111111-2222-4333-8444-555555555555', { table, policy: policies.demo }, noEnv)).rejects.toThrow(
      /no run with uuid 11111111-.*give its id/,
    );
    // A run HealthOmics does not have sends the plan to the index, which then has to be named.
    await expect(
      planRun('9999999', { policy: policies.demo }, { env: {}, cloudFormation: () => ({ send: async () => Promise.reject(new Error('no stack here')) }) }),
    ).rejects.toThrow(/no run index table given: pass --table, set OMICS_ARCHIVER_TABLE.*no stack here/);
    expect(() => planPolicy(path.join(dir, 'nope.json'))).toThrow(/cannot read policy file/);
    expect(planPolicy(policies.demo).config.tiers[0].name).toBe('demo');
  });

  it('runs through the commander wiring, and rejects a bad run reference', async () => {
    const run = await runCli(['plan', live.id, '--policy', policies.demo, '--json']);
    expect(run.error).toBeUndefined();
    expect((JSON.parse(run.stdout) as { run: { uuid: string } }).run.uuid).toBe(live.uuid);

    const bad = await runCli(['plan', 'run-one', '--policy', policies.demo]);
    expect(bad.error?.message).toMatch(/"run-one" is neither a HealthOmics run id/);
    const missing = await runCli(['plan']);
    expect((missing.error as CommanderError).code).toBe('commander.missingArgument');
  });

  it('leaves out the run caches its tasks used, as the workflow does, and says so', async () => {
    // A run whose task cached under its own output folder: the archive never touches a run cache.
    const id = '7777777';
    const cacheUri = `s3://${DEMO_OUTPUT_BUCKET}/runs/${id}/cache/`;
    const fixture = syntheticRun({ outputUri: `s3://${DEMO_OUTPUT_BUCKET}/runs/`, name: 'cached-run', taskCount: 1 });
    const cached = await loadRunFixture(
      { ...fixture, id, tasks: (fixture.tasks ?? []).map((t) => ({ ...t, cacheS3Uri: cacheUri })) },
      {
        emulator: demo.cloud.omics,
        s3: clients.s3Client(),
        logs: clients.logsClient(),
        events: clients.eventsClient(),
        publishEvent: false,
      },
    );
    for (const name of ['a.bin', 'b.bin']) {
      await clients.s3Client().send(new PutObjectCommand({ Bucket: DEMO_OUTPUT_BUCKET, Key: `runs/${id}/cache/${name}`, Body: Buffer.alloc(10) }));
    }
    const plan = await planRun(cached.id, { policy: policies.demo }, noEnv);
    expect(plan.files.some((f) => f.path.startsWith('cache/'))).toBe(false);
    expect(plan.workItems.flatMap((i) => i.paths).some((p) => p.startsWith('cache/'))).toBe(false);
    expect(plan.runCacheObjects).toEqual({ uris: [cacheUri], files: 2, bytes: 20 });
    expect(formatPlan(plan)).toContain(`Left out: 2 objects (20 B) under the run cache ${cacheUri}`);
    // A run without caches says nothing about them.
    expect((await planRun(live.id, { policy: policies.demo }, noEnv)).runCacheObjects).toBeUndefined();
  });
});

describe('cost <run>', () => {
  it('prices the files plan would archive, and plan prints the same estimate', async () => {
    const plan = await planRun(live.id, { policy: policies.keepBams }, noEnv);
    const run = await runCli(['cost', live.id, '--policy', policies.keepBams, '--json']);
    expect(run.error).toBeUndefined();
    const report = JSON.parse(run.stdout) as CostReport;
    expect(report.estimate).toEqual(plan.cost);
    // The kept BAMs stay in S3 Standard; the rest is archived.
    expect(report.estimate.files).toMatchObject({
      archived: plan.totals.archive.files,
      archivedBytes: plan.totals.archive.bytes,
      remainingBytes: plan.totals.keep.bytes,
    });
    expect(report.estimate.archiveClass).toBe('DEEP_ARCHIVE');
    expect(formatPlan(plan)).toContain(formatCost(report.estimate));
    // --tier prices another tier of the policy over the same listing (the bare tier skips the QC files).
    const bare = await runCli(['cost', live.id, '--policy', policies.bare, '--tier', 'bare', '--json']);
    expect((JSON.parse(bare.stdout) as CostReport).estimate).toMatchObject({ tier: 'bare', files: { remaining: 5 } });
    const none = await runCli(['cost', live.id, '--policy', policies.noMatch]);
    expect(none.error?.message).toMatch(/no tier of .* matches run \d+, so the archiver would leave it alone; pass --tier/);
  });
});
