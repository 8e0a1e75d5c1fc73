// Synthesizes the stack once with real bundling (esbuild, no Docker) and lints the template with cfn-lint.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { LAMBDAS } from '../../stacks/wiring';
import { parseConfig } from '../../functions/lib/contract';
import { buildStack, EXAMPLE_CONFIG } from './helpers';

/** Regions where HealthOmics runs; the template must be valid in each. */
const REGIONS = ['us-east-1', 'us-west-2', 'eu-west-1', 'eu-west-2', 'eu-central-1', 'ap-southeast-1'];

/**
 * W3005 ("dependency already enforced by a GetAtt") is how the CDK orders a function after its role's policy: the
 * explicit DependsOn on the role's DefaultPolicy is deliberate, and cfn-lint flags the redundant one beside it.
 */
const ACCEPTED_WARNINGS = new Set(['W3005']);

interface LintMatch {
  Level: 'Error' | 'Warning' | 'Informational';
  Message: string;
  Rule: { Id: string };
  Location: { Path?: unknown[] };
}

describe('cfn-lint', () => {
  let outdir: string;
  let templateFile: string;

  beforeAll(() => {
    outdir = fs.mkdtempSync(path.join(os.tmpdir(), 'omics-archiver-synth-'));
    const { app, stack } = buildStack(undefined, { bundling: true, outdir });
    const assembly = app.synth();
    templateFile = path.join(assembly.directory, assembly.getStackByName(stack.stackName).templateFile);
  }, 300_000);

  afterAll(() => {
    if (outdir) fs.rmSync(outdir, { recursive: true, force: true });
  });

  it('bundled every function with esbuild, source maps included', () => {
    const template = JSON.parse(fs.readFileSync(templateFile, 'utf8')) as {
      Resources: Record<string, { Type: string; Properties: { Code?: { S3Key?: string } } }>;
    };
    const functions = Object.entries(template.Resources)
      .filter(([, r]) => r.Type === 'AWS::Lambda::Function')
      // The CDK's own handlers ship prebuilt: the custom-resource provider (it creates the vault) and the one that
      // turns on the archive bucket's EventBridge notifications. Ours are bundled here.
      .filter(([logicalId]) => !logicalId.startsWith('AWS679f53fac002430cb0da5b7982bd2287') && !logicalId.startsWith('BucketNotificationsHandler'))
      .map(([, r]) => r);
    expect(functions.length).toBe(Object.keys(LAMBDAS).length);
    for (const fn of functions) {
      // The asset's S3 key is `<hash>.zip`; its staged directory is `asset.<hash>`.
      const assetDir = path.join(outdir, `asset.${fn.Properties.Code!.S3Key!.replace(/\.zip$/, '')}`);
      expect(fs.readdirSync(assetDir).sort()).toEqual(['index.js', 'index.js.map']);
    }
  });

  it('compiled the tier policy into the bundles that read it (esbuild define), where a handler finds it', () => {
    const template = JSON.parse(fs.readFileSync(templateFile, 'utf8')) as {
      Resources: Record<string, { Type: string; Properties: { Code?: { S3Key?: string }; Description?: string } }>;
    };
    const trigger = Object.values(template.Resources).find(
      (r) => r.Type === 'AWS::Lambda::Function' && r.Properties.Description === LAMBDAS.triggerArchive.description,
    )!;
    const bundle = fs.readFileSync(path.join(outdir, `asset.${trigger.Properties.Code!.S3Key!.replace(/\.zip$/, '')}`, 'index.js'), 'utf8');
    // Booleans, not the bundle itself, in the assertions: a failure should not print a megabyte of minified code.
    expect(/process\.env\.TIER_POLICY/.test(bundle)).toBe(false);
    const config = parseConfig(EXAMPLE_CONFIG);
    expect(bundle.includes(`"outputBuckets":["${config.outputBuckets[0]}"]`)).toBe(true);
    expect(bundle.includes(`"name":"${config.tiers[0].name}"`)).toBe(true);
  });

  it('finds no errors, and no warnings beyond the CDK idiom it always flags', () => {
    const run = spawnSync('cfn-lint', ['--format', 'json', '--regions', ...REGIONS, '--', templateFile], { encoding: 'utf8', timeout: 120_000 });
    if (run.error && (run.error as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new Error('cfn-lint is not on PATH: install it (pip install cfn-lint); CI has it, and this test needs it');
    }
    if (run.error) throw run.error;
    let matches: LintMatch[];
    try {
      matches = JSON.parse(run.stdout || '[]') as LintMatch[];
    } catch {
      throw new Error(`cfn-lint exited ${String(run.status)} without JSON output:\n${run.stdout}\n${run.stderr}`);
    }
    const problems = matches
      .filter((m) => m.Level === 'Error' || (m.Level === 'Warning' && !ACCEPTED_WARNINGS.has(m.Rule.Id)))
      .map((m) => `${m.Level} ${m.Rule.Id} at ${JSON.stringify(m.Location.Path ?? [])}: ${m.Message}`);
    expect(problems).toEqual([]);
  }, 120_000);
});
