// `restore`: argument checks, and the real restore workflow on the local cloud bringing the demo run's files back.
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { PassThrough } from 'node:stream';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { CommanderError, InvalidArgumentError } from 'commander';
import * as clients from '../../../functions/lib/runtime/clients';
import { RunIndex } from '../../../functions/lib/index/run-index';
import { bufferIO } from '../../../bin/commands/display';
import { followExecution } from '../../../bin/commands/executions';
import { DEMO_RESTORE_BUCKET } from '../../../bin/commands/policy';
import {
  causeText,
  consoleUrl,
  parseDestination,
  parseExecutionName,
  parseRestoreTier,
  restoreCommand,
  restoreExecutionName,
  restoreRequest,
  type RestoreResult,
} from '../../../bin/commands/restore';
import { runCli, startDemoCloud, type DemoCloud } from './helpers';

jest.setTimeout(60_000);

/** The real restore workflow has landed when its definition has this state (until then the file is a placeholder). */
const RESTORE_ASL = path.resolve(__dirname, '../../../statemachines/restore-run.asl.json');
const restoreLanded = fs.readFileSync(RESTORE_ASL, 'utf8').includes('"Find files to restore"');
const whenRestoreLanded = restoreLanded ? it : it.skip;

describe('restore arguments', () => {
  it('accepts the three retrieval tiers in any case, and nothing else', () => {
    expect(parseRestoreTier('expedited')).toBe('Expedited');
    expect(parseRestoreTier('BULK')).toBe('Bulk');
    expect(() => parseRestoreTier('Fast')).toThrow(InvalidArgumentError);
    expect(() => parseRestoreTier('Fast')).toThrow('must be one of Expedited, Standard, Bulk');
  });

  it('takes only s3://bucket/... destinations, read as folders', () => {
    expect(parseDestination('s3://omics-demo-restores/cli/')).toBe('s3://omics-demo-restores/cli/');
    expect(parseDestination('s3://omics-demo-restores')).toBe('s3://omics-demo-restores/');
    for (const bad of [
      'omics-demo-restores/cli/',
      '/tmp/restores',
      's3://',
      's3:///key',
      's3://Bad_Bucket/x',
      'https://omics-demo-restores.s3.amazonaws.com/x',
    ]) {
      expect(() => parseDestination(bad)).toThrow(/must be an S3 location such as s3:\/\/my-bucket\/restores\//);
    }
  });

  it('names executions within Step Functions rules', () => {
    const uuid = '0f3c5a9e-1b2d-4c3e-8f4a-5b6c7d8e9f01';
    const name = restoreExecutionName(uuid, new Date('2025-01-31T12:34:56.789Z'));
    expect(name).toBe(`restore-${uuid}-20250131T123456789Z`);
    expect(name.length).toBeLessThanOrEqual(80);
    expect(parseExecutionName('my-restore_1')).toBe('my-restore_1');
    for (const bad of ['with space', 'colon:name', 'a'.repeat(81), '', 'ünïcode']) expect(() => parseExecutionName(bad)).toThrow(InvalidArgumentError);
  });

  it('tells the message of a Lambda failure cause, and passes plain causes on', () => {
    expect(causeText(JSON.stringify({ errorType: 'RunNotFound', errorMessage: 'no run with id 1 is in the archive index', trace: ['at x'] }))).toBe(
      'no run with id 1 is in the archive index',
    );
    expect(causeText('3 files were not restored')).toBe('3 files were not restored');
    expect(causeText(undefined)).toBe('no cause given');
  });

  it('links the execution in the console of its Region', () => {
    const arn = 'arn:aws:states:eu-west-1:111122223333:execution:RestoreRun:restore-1-x';
    expect(consoleUrl(arn)).toBe(`https://eu-west-1.console.aws.amazon.com/states/home?region=eu-west-1#/v2/executions/details/${arn}`);
  });

  it('builds the workflow input, leaving out what the operator did not ask for', () => {
    expect(restoreRequest('1234567', { name: 'r1' })).toEqual({ input: { run: '1234567' }, name: 'r1' });
    expect(restoreRequest('1234567', { files: ['out/**/*.bam', '*.vcf.gz'], tier: 'bulk', to: 's3://b-1/x', name: 'r2' })).toEqual({
      input: { run: '1234567', files: ['out/**/*.bam', '*.vcf.gz'], tier: 'Bulk', destination: 's3://b-1/x/' },
      name: 'r2',
    });
    expect(() => restoreRequest('run-1', {})).toThrow(/neither a HealthOmics run id/);
    expect(() => restoreRequest('1', { files: [' '] })).toThrow(/--files: a glob must not be empty/);
  });

  it('rejects bad --tier, --to and --name through commander, before any AWS call', async () => {
    const tier = await runCli(['restore', '1234567', '--tier', 'Fast']);
    expect((tier.error as CommanderError).code).toBe('commander.invalidArgument');
    expect(tier.stderr).toContain('must be one of Expedited, Standard, Bulk');
    const to = await runCli(['restore', '1234567', '--to', '/tmp/here']);
    expect((to.error as CommanderError).code).toBe('commander.invalidArgument');
    expect(to.stderr).toContain('must be an S3 location');
    const name = await runCli(['restore', '1234567', '--name', 'two words']);
    expect((name.error as CommanderError).code).toBe('commander.invalidArgument');
    const missing = await runCli(['restore']);
    expect((missing.error as CommanderError).code).toBe('commander.missingArgument');
    const timeout = await runCli(['restore', '1234567', '--timeout', '-1']);
    expect((timeout.error as CommanderError).code).toBe('commander.invalidArgument');
  });
});

describe('restore on the local cloud', () => {
  let demo: DemoCloud;
  let table: string;
  let stateMachine: string;

  beforeAll(async () => {
    demo = await startDemoCloud();
    table = demo.cloud.resources.runIndexTable;
    stateMachine = demo.cloud.resources.stateMachines.restoreRun;
  }, 90_000);

  afterAll(async () => {
    await demo?.cloud.stop();
  });

  const sha256Of = async (bucket: string, key: string) => {
    const { Body } = await clients.s3Client().send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    return createHash('sha256')
      .update(await (Body as { transformToByteArray(): Promise<Uint8Array> }).transformToByteArray())
      .digest('hex');
  };

  it('starts an execution without --wait and prints its ARN and console link', async () => {
    const io = bufferIO();
    // A run the index does not know: without --wait nothing checks it first, and the workflow itself refuses it.
    const unknown = '11111111-2222-4333-8444-555555555555';
    const result = await restoreCommand(unknown, { restoreStateMachine: stateMachine, name: 'restore-unknown-run' }, io, { env: {} });
    expect(result.executionArn).toBe(stateMachine.replace(':stateMachine:', ':execution:') + ':restore-unknown-run');
    expect(result.input).toEqual({ run: unknown });
    expect(result.status).toBeUndefined();
    const text = io.stdout.join('\n');
    expect(text).toContain(`execution:   ${result.executionArn}`);
    expect(text).toContain(`console:     https://us-east-1.console.aws.amazon.com/states/home?region=us-east-1#/v2/executions/details/${result.executionArn}`);
    const ended = await followExecution(clients.sfnClient(), result.executionArn, { timeoutMs: 30_000 });
    expect(ended.status).toBe('FAILED');

    // The same name again is refused with a clear message.
    await expect(restoreCommand(unknown, { restoreStateMachine: stateMachine, name: 'restore-unknown-run' }, bufferIO(), { env: {} })).rejects.toThrow(
      /an execution named restore-unknown-run already exists .* choose another --name/,
    );
  });

  it('with --wait, refuses an unknown run before starting anything', async () => {
    await expect(restoreCommand('9999999', { restoreStateMachine: stateMachine, table, wait: true }, bufferIO(), { env: {} })).rejects.toThrow(
      'no run with id 9999999 is in the archive index',
    );
  });

  whenRestoreLanded("restores the demo run's files with --wait, following each file to RESTORED, and exits 0", async () => {
    const prefix = `cli/${demo.report.run.uuid}/`;
    const run = await runCli([
      'restore',
      demo.report.run.uuid,
      '--to',
      `s3://${DEMO_RESTORE_BUCKET}/${prefix}`,
      '--tier',
      'Expedited',
      '--wait',
      '--poll',
      '0.25',
      '--json',
      '--restore-state-machine',
      stateMachine,
      '--table',
      table,
    ]);
    expect(run.error).toBeUndefined();
    expect(run.exitCode).toBe(0);
    const result = JSON.parse(run.stdout) as RestoreResult;
    expect(result.ok).toBe(true);
    expect(result.status).toBe('SUCCEEDED');
    expect(result.request).toMatchObject({ state: 'RESTORED', tier: 'Expedited', restoreId: result.executionName });

    const index = new RunIndex(clients.documentClient(), table);
    const archived = (await index.listFiles(demo.report.run.uuid)).filter((f) => f.action === 'archive');
    expect(result.files?.map((f) => f.path).sort()).toEqual(archived.map((f) => f.path).sort());
    for (const file of archived) {
      const progress = result.files?.find((f) => f.path === file.path);
      expect(progress).toMatchObject({ state: 'RESTORED', size: file.size, destination: `s3://${DEMO_RESTORE_BUCKET}/${prefix}${file.path}` });
      expect(await sha256Of(DEMO_RESTORE_BUCKET, `${prefix}${file.path}`)).toBe(file.sha256);
    }
  });

  whenRestoreLanded('shows progress per file and a summary, for a subset of files by glob', async () => {
    const io = bufferIO();
    const result = await restoreCommand(
      demo.report.run.id,
      { restoreStateMachine: stateMachine, table, files: ['aligned/*.bam'], to: `s3://${DEMO_RESTORE_BUCKET}/bams/`, wait: true, poll: 0.2 },
      io,
      { env: {} },
    );
    expect(result.ok).toBe(true);
    expect(result.files?.map((f) => [f.path, f.state])).toEqual([
      ['out/aligned/sample-1.bam', 'RESTORED'],
      ['out/aligned/sample-2.bam', 'RESTORED'],
    ]);
    const text = io.stdout.join('\n');
    expect(text).toContain('(files aligned/*.bam)');
    expect(text).toContain("tier:        the run's tier policy's restoreTier");
    expect(text).toContain('→ Find files to restore');
    expect(text).toContain('2 files to restore, 9.0 MiB');
    expect(text).toMatch(/RESTORED\s+out\/aligned\/sample-2\.bam/);
    expect(text).toContain(`Restore ${result.executionName}: execution SUCCEEDED; 2 of 2 files restored, 0 failed.`);
    expect(io.stderr).toEqual([]);

    // The run's record now lists the restore.
    const show = await runCli(['runs', 'show', demo.report.run.uuid, '--table', table, '--json']);
    const details = JSON.parse(show.stdout) as { restores: { requests: { restoreId: string; state: string }[] } };
    expect(details.restores.requests).toEqual(expect.arrayContaining([expect.objectContaining({ restoreId: result.executionName, state: 'RESTORED' })]));
  });

  whenRestoreLanded('exits non-zero with the reason when the restore fails', async () => {
    // The destination already holds these files from the test above: the workflow refuses to overwrite them.
    const run = await runCli([
      'restore',
      demo.report.run.uuid,
      '--files',
      'out/aligned/*.bam',
      '--to',
      `s3://${DEMO_RESTORE_BUCKET}/bams/`,
      '--wait',
      '--poll',
      '0.25',
      '--restore-state-machine',
      stateMachine,
      '--table',
      table,
    ]);
    expect(run.error).toBeUndefined();
    expect(run.exitCode).toBe(1);
    expect(run.stdout).toMatch(/execution FAILED; 0 of 0 files restored/);
    expect(run.stderr).toMatch(
      /^error: the restore failed in "Find files to restore": BadDestination: restoring would overwrite 2 existing object\(s\): s3:\/\/omics-demo-restores\/bams\/out\/aligned\/sample-1\.bam, .*; choose another destination$/m,
    );
    expect(run.stderr).not.toContain('"trace"');
  });

  whenRestoreLanded('in a terminal: a progress bar on stderr (files, bytes, time waited), the final table on stdout', async () => {
    // A stand-in terminal: cli-progress draws only on a TTY stream, and this one keeps what it was sent.
    const drawn: string[] = [];
    const terminal = new PassThrough() as PassThrough & { isTTY: boolean; columns: number };
    terminal.isTTY = true;
    terminal.columns = 200;
    terminal.on('data', (chunk: Buffer) => drawn.push(chunk.toString()));
    const io = { ...bufferIO(), interactive: true, progress: terminal };
    const result = await restoreCommand(
      demo.report.run.id,
      { restoreStateMachine: stateMachine, table, files: ['aligned/*.bam'], to: `s3://${DEMO_RESTORE_BUCKET}/bars/`, wait: true, poll: 0.2 },
      io,
      { env: {} },
    );
    expect(result.ok).toBe(true);
    expect(result.waitedSeconds).toEqual(expect.any(Number));
    const bars = drawn.join('');
    expect(bars).toMatch(/2\/2 files \| waited \d+ s \| /);
    expect(bars).toContain('9.0 MiB / 9.0 MiB');
    expect(bars).toContain('out/aligned/sample-1.bam');
    // The bars went to the terminal only: stdout has the start lines, the table and the summary; nothing on stderr.
    const text = io.stdout.join('\n');
    expect(text).not.toContain('→ ');
    expect(text).toMatch(
      /│ out\/aligned\/sample-1\.bam\s+│ RESTORED\s+│ [\d.]+ MiB \/ [\d.]+ MiB\s+│ s3:\/\/omics-demo-restores\/bars\/out\/aligned\/sample-1\.bam/,
    );
    expect(text).toContain(`Restore ${result.executionName}: execution SUCCEEDED; 2 of 2 files restored, 0 failed.`);
    expect(text).toMatch(/Waited \d+ s\./);
    expect(io.stderr).toEqual([]);
  });
});
