// Shared by the infra tests: synthesizes the stack as `npx cdk synth` would (cdk.json feature flags), bundling skipped by default.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { OmicsRunArchiverStack } from '../../stacks/archiver-stack';
import { type ArchiverConfigInput, CONTEXT_KEY, parseConfig } from '../../functions/lib/contract';

export const REPO_ROOT = path.resolve(__dirname, '..', '..');

const cdkJson = JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'cdk.json'), 'utf8')) as { app: string; context: Record<string, unknown> };

/** The example configuration in cdk.json (two tiers, both S3 Glacier storage classes: no vault). */
export const SHIPPED_CONFIG = cdkJson.context[CONTEXT_KEY] as ArchiverConfigInput;

/** A tier that keeps archiving into a Glacier vault, as an existing Glacier customer's would. */
export const VAULT_TIER = {
  name: 'vault',
  match: { tags: { archive: 'vault' } },
  archiveAfter: 'P90D',
  files: [{ globs: ['**/*.bam', '**/*.cram'], minSize: '100 MiB', action: 'archive' as const }],
  target: { type: 'glacier-vault' as const },
  deleteSources: true,
  deleteRun: true,
  restoreTier: 'Standard' as const,
};

/** The shipped example with a vault tier added, so one stack has every resource (the stack creates the vault). */
export const EXAMPLE_CONFIG: ArchiverConfigInput = { ...SHIPPED_CONFIG, tiers: [...SHIPPED_CONFIG.tiers, VAULT_TIER] };

/** cdk.json's feature flags, without the archiver's own configuration. */
export function featureFlags(): Record<string, unknown> {
  const { [CONTEXT_KEY]: _config, ...flags } = cdkJson.context;
  return flags;
}

export interface SynthOptions {
  /** Run esbuild for every function (slow); default false, which is what `aws:cdk:bundling-stacks: []` does. */
  bundling?: boolean;
  outdir?: string;
  stackName?: string;
}

/** Builds the stack from raw configuration; parseConfig validates it first, exactly as bin/app.ts does. */
export function buildStack(configInput: ArchiverConfigInput = EXAMPLE_CONFIG, options: SynthOptions = {}) {
  const app = new App({
    outdir: options.outdir,
    context: { ...featureFlags(), ...(options.bundling ? {} : { 'aws:cdk:bundling-stacks': [] }) },
  });
  const stackName = options.stackName ?? 'OmicsRunArchiver';
  const stack = new OmicsRunArchiverStack(app, stackName, { config: parseConfig(configInput), stackName });
  return { app, stack };
}

export function synthTemplate(configInput: ArchiverConfigInput = EXAMPLE_CONFIG, options: SynthOptions = {}): Template {
  return Template.fromStack(buildStack(configInput, options).stack);
}

/** A copy of the example configuration with changes, for one test's variant. */
export function exampleWith(change: (config: ArchiverConfigInput) => void): ArchiverConfigInput {
  const copy = structuredClone(EXAMPLE_CONFIG);
  change(copy);
  return copy;
}
