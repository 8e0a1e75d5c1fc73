// The CDK app as `cdk synth` runs it: bad context exits 1 naming the key, with no stack trace; good context synthesizes.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const REPO_ROOT = path.resolve(__dirname, '..', '..');
const TSX = path.join(REPO_ROOT, 'node_modules', '.bin', 'tsx');

/** cdk.json's feature flags, which the CLI passes along with the rest of the context. */
const { omicsArchiver: _example, ...FEATURE_FLAGS } = (
  JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'cdk.json'), 'utf8')) as { context: Record<string, unknown> }
).context;

/** Runs bin/app.ts with `context` as the CDK CLI passes it (CDK_CONTEXT_JSON), writing into a temporary CDK_OUTDIR. */
function runApp(context: Record<string, unknown>) {
  const outdir = fs.mkdtempSync(path.join(os.tmpdir(), 'omics-archiver-app-'));
  try {
    const run = spawnSync(TSX, ['bin/app.ts'], {
      cwd: REPO_ROOT,
      encoding: 'utf8',
      timeout: 120_000,
      env: {
        ...process.env,
        // Bundling is tested elsewhere; here only the app's handling of its context matters.
        CDK_CONTEXT_JSON: JSON.stringify({ ...FEATURE_FLAGS, 'aws:cdk:bundling-stacks': [], ...context }),
        CDK_OUTDIR: outdir,
      },
    });
    const files = fs.readdirSync(outdir);
    return { status: run.status, stderr: run.stderr, stdout: run.stdout, files };
  } finally {
    fs.rmSync(outdir, { recursive: true, force: true });
  }
}

const validConfig = { outputBuckets: ['omics-outputs'], tiers: [{ name: 'cold', target: { type: 's3-glacier' } }] };

function expectNoStackTrace(stderr: string) {
  expect(stderr).not.toMatch(/^\s+at .+[:(]\d+/m);
  expect(stderr).not.toMatch(/node_modules|\.ts:\d+/);
}

it('exits 1 on a bad context, naming each bad key and what is allowed, without a stack trace', () => {
  const run = runApp({
    omicsArchiver: { outputBuckets: ['omics-outputs'], tiers: [{ name: 'cold', archiveAfter: 'ninety days', restoreTier: 'Soon' }] },
  });
  expect(run.status).toBe(1);
  expect(run.stderr).toContain('Invalid cdk context "omicsArchiver"');
  expect(run.stderr).toContain('omicsArchiver.tiers[0].archiveAfter: must be an ISO-8601 duration');
  expect(run.stderr).toContain('omicsArchiver.tiers[0].restoreTier: must be one of "Expedited", "Standard", "Bulk"');
  expect(run.stderr).toContain('docs/configuration.md');
  expectNoStackTrace(run.stderr);
  expect(run.files.filter((f) => f.endsWith('.template.json'))).toEqual([]);
}, 120_000);

it('exits 1 on bad bundling keys at synth, naming each one', () => {
  const run = runApp({
    omicsArchiver: {
      outputBuckets: ['omics-outputs'],
      tiers: [
        { name: 'small', bundleFilesBelow: '256 MiB' },
        { name: 'other', bundleFilesBelow: '1 MiB', bundleMaxBytes: '8 GiB' },
      ],
    },
  });
  expect(run.status).toBe(1);
  expect(run.stderr).toContain('omicsArchiver.tiers[0].bundleFilesBelow: must be at most 64 MiB (got "256 MiB")');
  expect(run.stderr).toContain('omicsArchiver.tiers[1].bundleMaxBytes: must be at most 4 GiB (got "8 GiB")');
  expectNoStackTrace(run.stderr);
}, 120_000);

it('exits 1 when the context is missing, saying where it goes', () => {
  const run = runApp({});
  expect(run.status).toBe(1);
  expect(run.stderr).toContain('omicsArchiver: missing; add it to cdk.json "context"');
  expectNoStackTrace(run.stderr);
}, 120_000);

it('exits 1 on a problem only the stack can see (a stack name too long for its state machines), naming the key', () => {
  const run = runApp({ omicsArchiver: validConfig, stackName: `Archiver${'x'.repeat(70)}` });
  expect(run.status).toBe(1);
  expect(run.stderr).toContain('stackName: "Archiver');
  expect(run.stderr).toContain('longer than 80 characters; choose a shorter stack name');
  expectNoStackTrace(run.stderr);
}, 120_000);

it('rejects configuration text that is not JSON (`-c omicsArchiver=...` passes text)', () => {
  const run = runApp({ omicsArchiver: '{"outputBuckets": [' });
  expect(run.status).toBe(1);
  expect(run.stderr).toContain('omicsArchiver: given as text that is not JSON');
  expectNoStackTrace(run.stderr);
}, 120_000);

it('synthesizes configuration given as JSON text, under the stack name from context', () => {
  const run = runApp({ omicsArchiver: JSON.stringify(validConfig), stackName: 'ArchiverTest' });
  expect(run.stderr).not.toContain('Invalid');
  expect(run.status).toBe(0);
  expect(run.files).toContain('ArchiverTest.template.json');
}, 120_000);
