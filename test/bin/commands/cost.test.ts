// `cost` for a hypothetical run through the commander wiring, and docs/cost.md's worked example checked against the command.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { CommanderError } from 'commander';
import type { CostReport } from '../../../bin/commands/cost';
import { parseCostSize } from '../../../bin/commands/cost-display';
import { runCli } from './helpers';

const ROOT = path.resolve(__dirname, '..', '..', '..');
let dir: string;

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cost-test-'));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('docs/cost.md', () => {
  it('has the worked example exactly as the command prints it (run from the repository, with its cdk.json)', async () => {
    const doc = fs.readFileSync(path.join(ROOT, 'docs/cost.md'), 'utf8');
    const block = /<!-- cost-example:begin -->\n```console\n\$ omics-archiver (.+)\n([\s\S]*?)\n```\n<!-- cost-example:end -->/.exec(doc);
    expect(block).not.toBeNull();
    const [, command, expected] = block!;
    const cwd = process.cwd();
    process.chdir(ROOT);
    try {
      const run = await runCli(command.split(' '));
      expect(run.error).toBeUndefined();
      expect(run.stdout.trimEnd()).toBe(expected);
    } finally {
      process.chdir(cwd);
    }
  });
});

describe('cost', () => {
  it('prices a hypothetical run with --size and --files as one JSON document', async () => {
    const run = await runCli(['cost', '--size', '10 GiB', '--files', '10', '--tier', 'clinical', '--policy', path.join(ROOT, 'cdk.json'), '--json']);
    expect(run.error).toBeUndefined();
    const report = JSON.parse(run.stdout) as CostReport;
    expect(report.run).toBeUndefined();
    expect(report.estimate).toMatchObject({ tier: 'clinical', archiveClass: 'GLACIER', files: { total: 10, bytes: 10 * 1024 ** 3, archived: 10 } });
    // 10 GB × $0.023 now; 10 single CopyObjects (1 GiB each, not above multipartAbove) × $0.03 / 1,000.
    expect(report.estimate.monthly.now).toBe(0.23);
    expect(report.estimate.oneTime).toEqual({ requests: 10, requestCost: 0.0003 });
  });

  it('takes a --prices file, and names the file and the key when it is wrong', async () => {
    const good = path.join(dir, 'prices.json');
    fs.writeFileSync(good, JSON.stringify({ region: 'eu-west-1', classes: { GLACIER: { storagePerGbMonth: 0.0045 } } }));
    const run = await runCli([
      'cost',
      '--size',
      '100GB',
      '--files',
      '1',
      '--tier',
      'clinical',
      '--policy',
      path.join(ROOT, 'cdk.json'),
      '--prices',
      good,
      '--json',
    ]);
    const report = JSON.parse(run.stdout) as CostReport;
    expect(report.pricesFile).toBe(good);
    expect(report.estimate.prices.region).toBe('eu-west-1');
    // (100 GB + 32 KB) × $0.0045.
    expect(report.estimate.monthly.afterArchive).toBe(0.45);

    const bad = path.join(dir, 'bad.json');
    fs.writeFileSync(bad, JSON.stringify({ classes: { GLACIER: { storagePerGB: 1 } } }));
    const failed = await runCli(['cost', '--size', '1GB', '--files', '1', '--tier', 'clinical', '--policy', path.join(ROOT, 'cdk.json'), '--prices', bad]);
    expect(failed.error?.message).toContain(`price file ${bad}: invalid price table:`);
    expect(failed.error?.message).toContain('classes.GLACIER: Unrecognized key: "storagePerGB"');
  });

  it('rejects a bad size, a run with --size, an unknown tier, and an ambiguous one', async () => {
    const policy = path.join(ROOT, 'cdk.json');
    const badSize = await runCli(['cost', '--size', 'lots', '--files', '1']);
    expect(badSize.error).toBeInstanceOf(CommanderError);
    expect(badSize.stderr).toContain("option '--size <size>' argument 'lots' is invalid");
    const both = await runCli(['cost', '1234567', '--size', '1GB', '--files', '1', '--policy', policy]);
    expect(both.error?.message).toMatch(/either a run or --size and --files/);
    const unknown = await runCli(['cost', '--size', '1GB', '--files', '1', '--tier', 'nope', '--policy', policy]);
    expect(unknown.error?.message).toBe(`--tier: no tier named "nope" in ${policy} (tiers: clinical, research)`);
    const ambiguous = await runCli(['cost', '--size', '1GB', '--files', '1', '--policy', policy]);
    expect(ambiguous.error?.message).toMatch(/has 2 tiers \(clinical, research\); name the one to price/);
  });

  it('reads sizes as the contract does, and GB as AWS bills it (2^30 bytes)', () => {
    expect(parseCostSize('100GB')).toBe(100 * 1024 ** 3);
    expect(parseCostSize('1.5 TiB')).toBe(1.5 * 1024 ** 4);
    expect(parseCostSize('512 mb')).toBe(512 * 1024 ** 2);
    expect(parseCostSize('4096')).toBe(4096);
    expect(() => parseCostSize('0')).toThrow(/must be a size/);
  });
});
