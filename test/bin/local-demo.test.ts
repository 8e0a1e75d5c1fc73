// `local demo --json` as a user runs it: a folder archived as a run's outputs, restored into another, one JSON document out.
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Crc64Nvme } from '@aws-sdk/crc64-nvme';
import type { DemoReport, DemoRestore } from '../../bin/commands/local-demo';

const REPO_ROOT = path.resolve(__dirname, '..', '..');
const TSX = path.join(REPO_ROOT, 'node_modules', '.bin', 'tsx');
const MIB = 1024 * 1024;

let work: string;
beforeAll(() => {
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'local-demo-'));
});
afterAll(() => fs.rmSync(work, { recursive: true, force: true }));

function demo(args: string[]) {
  return spawnSync(TSX, ['bin/omics-archiver.ts', 'local', 'demo', ...args], { cwd: REPO_ROOT, encoding: 'utf8', timeout: 180_000, maxBuffer: 16 * MIB });
}

const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');

test('archives every file of the folder, deletes the run, restores every file byte for byte, and says so in one JSON document', async () => {
  const outputs = path.join(work, 'outputs');
  const restored = path.join(work, 'restored');
  // The demo tier archives with 1 MiB parts: these sizes are the multipart edges.
  const files: Record<string, Buffer> = {
    'empty.bin': Buffer.alloc(0),
    'one-mib.bin': randomBytes(MIB),
    'one-mib-plus-one.bin': randomBytes(MIB + 1),
    'calls/multi part ü.bam': randomBytes(9 * MIB + 5),
  };
  for (const [name, data] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(outputs, name)), { recursive: true });
    fs.writeFileSync(path.join(outputs, name), data);
  }

  const run = demo(['--outputs', outputs, '--restore-to', restored, '--json']);
  expect(run.stderr).toBe('');
  expect(run.status).toBe(0);
  const report = JSON.parse(run.stdout) as DemoReport & { restore: DemoRestore };

  expect(report.run).toEqual({ id: expect.stringMatching(/^\d+$/) as string, uuid: expect.any(String) as string, archiveState: 'RUN_DELETED', deleted: true });
  expect(report.execution).toMatchObject({ name: `run-${report.run.id}-${report.run.uuid}`, status: 'SUCCEEDED' });
  expect(report.execution.states[0]).toBe('Wait for run to settle');
  expect(report.execution.states).toContain('Archive output files');
  expect(report.snapshot.location).toBe(`s3://omics-archiver-snapshots/runs/${report.run.uuid}/`);
  expect(report.snapshot.objects.length).toBeGreaterThan(3);

  expect(report.files.map((f: { path: string }) => f.path).sort()).toEqual(Object.keys(files).sort());
  for (const file of report.files) {
    const data = files[file.path];
    // The demo tier copies into S3 Glacier Deep Archive, each copy's CRC64NVME that of the original.
    const independent = new Crc64Nvme();
    independent.update(data);
    expect(file).toMatchObject({
      size: data.length,
      action: 'archive',
      state: 'ARCHIVED',
      target: 's3-glacier',
      storageClass: 'DEEP_ARCHIVE',
      archiveKey: `runs/${report.run.uuid}/out/${file.path}`,
      crc64nvme: Buffer.from(await independent.digest()).toString('base64'),
      copy: { method: 'single', parts: 1 },
      sha256: sha256(data),
      archiveId: null,
    });
  }

  expect(report.restore.execution.status).toBe('SUCCEEDED');
  expect(report.restore.files.map((f: { path: string }) => f.path).sort()).toEqual(Object.keys(files).sort());
  for (const file of report.restore.files) {
    expect(file).toMatchObject({ state: 'RESTORED', restoredTo: path.join(restored, ...file.path.split('/')), sha256Matches: true });
    expect(fs.readFileSync(file.restoredTo!).equals(files[file.path])).toBe(true);
  }
}, 180_000);

test('--policy: a tier that keeps everything archives nothing and restores nothing, and the JSON says what happened to each file', () => {
  const outputs = path.join(work, 'kept');
  fs.mkdirSync(outputs, { recursive: true });
  fs.writeFileSync(path.join(outputs, 'a.txt'), 'kept');
  const policy = path.join(work, 'keep-policy.json');
  fs.writeFileSync(
    policy,
    JSON.stringify({
      omicsArchiver: {
        outputBuckets: ['omics-demo-outputs'],
        tiers: [{ name: 'keep', settleWait: 'PT1S', archiveAfter: 'PT0S', defaultAction: 'keep', deleteRun: false }],
      },
    }),
  );
  const run = demo(['--outputs', outputs, '--policy', policy, '--no-restore', '--json']);
  expect(run.status).toBe(0);
  const report = JSON.parse(run.stdout) as DemoReport;
  expect(report.run).toMatchObject({ archiveState: 'ARCHIVED', deleted: false });
  expect(report.files).toEqual([expect.objectContaining({ path: 'a.txt', action: 'keep', state: 'KEPT', archiveId: null })]);
  expect(report.restore).toBeUndefined();
}, 180_000);

test('--policy turning bundling on: the small files go into one bundle, --json shows where each one is in it, and all come back', () => {
  const outputs = path.join(work, 'bundled');
  const restored = path.join(work, 'bundled-restored');
  const files: Record<string, Buffer> = { 'big.bam': randomBytes(2 * MIB) };
  for (let i = 0; i < 12; i++) files[`qc/report-${i}.html`] = randomBytes(5000 + i);
  for (const [name, data] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(outputs, name)), { recursive: true });
    fs.writeFileSync(path.join(outputs, name), data);
  }
  const policy = path.join(work, 'bundle-policy.json');
  fs.writeFileSync(
    policy,
    JSON.stringify({
      omicsArchiver: {
        outputBuckets: ['omics-demo-outputs'],
        tiers: [
          {
            name: 'bundled',
            settleWait: 'PT1S',
            archiveAfter: 'PT0S',
            files: [{ globs: ['**'], action: 'archive' }],
            target: { type: 's3-glacier', storageClass: 'DEEP_ARCHIVE' },
            deleteSources: true,
            bundleFilesBelow: '1 MiB',
          },
        ],
      },
    }),
  );
  const run = demo(['--outputs', outputs, '--policy', policy, '--restore-to', restored, '--json']);
  expect(run.stderr).toBe('');
  expect(run.status).toBe(0);
  const report = JSON.parse(run.stdout) as DemoReport & { restore: DemoRestore };
  const bundled = report.files.filter((f) => f.bundle);
  expect(bundled.map((f) => f.path).sort()).toEqual(
    Object.keys(files)
      .filter((f) => f.startsWith('qc/'))
      .sort(),
  );
  expect(new Set(bundled.map((f) => f.bundle!.id)).size).toBe(1);
  for (const file of bundled) {
    expect(file).toMatchObject({ state: 'ARCHIVED', target: 's3-glacier', sha256: sha256(files[file.path]), bundle: { length: files[file.path].length } });
    expect(file.bundle!.offset % 512).toBe(0);
    expect(file.bundle!.id).toMatch(new RegExp(`^${report.run.uuid}-b\\d+$`));
  }
  expect(report.files.find((f) => f.path === 'big.bam')).toMatchObject({ state: 'ARCHIVED', copy: { method: 'single', parts: 1 } });
  expect(report.files.find((f) => f.path === 'big.bam')).not.toHaveProperty('bundle');
  expect(report.restore.execution.status).toBe('SUCCEEDED');
  for (const file of report.restore.files) {
    expect(file).toMatchObject({ state: 'RESTORED', sha256Matches: true });
    expect(fs.readFileSync(file.restoredTo!).equals(files[file.path])).toBe(true);
  }
}, 180_000);

test('the default --timeout grows with the number of files and bytes', () => {
  // Imported here so the file's other tests keep running the CLI as a user does.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { demoTimeoutSeconds } = require('../../bin/commands/local-demo') as typeof import('../../bin/commands/local-demo');
  expect(demoTimeoutSeconds(0, 0)).toBe(120);
  expect(demoTimeoutSeconds(2000, 2000 * 1024)).toBeGreaterThanOrEqual(400);
  expect(demoTimeoutSeconds(10, 8 * 1024 ** 3)).toBeGreaterThan(demoTimeoutSeconds(10, 0) + 1000);
});

test('--json when it gives up (a tiny --timeout): still one JSON document, with the state reached and an error, and a non-zero exit', () => {
  const outputs = path.join(work, 'give-up');
  fs.mkdirSync(outputs, { recursive: true });
  for (let i = 0; i < 3; i++) fs.writeFileSync(path.join(outputs, `f${i}.txt`), `file ${i}\n`);

  const run = demo(['--outputs', outputs, '--json', '--timeout', '0.2']);
  expect(run.status).toBe(1);
  const report = JSON.parse(run.stdout) as DemoReport;
  expect(report.timeoutSeconds).toBe(0.2);
  expect(report.error).toMatch(/^archive: execution .* (still RUNNING|never started).* after 0 s$/);
  expect(report.execution.name).toBe(`run-${report.run.id}-${report.run.uuid}`);
  // The demo tier waits a second for the run to settle: after 0.2 s the execution is on its way, or not yet started.
  expect(['RUNNING', 'UNKNOWN']).toContain(report.execution.status);
  expect(report.files.map((f) => f.path).sort()).toEqual(['f0.txt', 'f1.txt', 'f2.txt']);
  expect(report.restore).toBeUndefined();
  expect(run.stderr).toContain(`error: ${report.error}`);
}, 120_000);

test('--json with a bad --outputs: one JSON document naming the error, nothing started', () => {
  const run = demo(['--outputs', '/no/such/dir', '--json']);
  expect(run.status).toBe(1);
  const report = JSON.parse(run.stdout) as DemoReport;
  expect(report).toMatchObject({ error: '--outputs /no/such/dir: no such folder', run: { archiveState: 'NOT_STARTED' }, files: [] });
}, 60_000);
