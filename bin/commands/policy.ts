// The tier policy for local runs: a policy file shaped like the cdk context, or the demo's archive-everything tier.
import * as fs from 'node:fs';
import { parseConfig, type ArchiverConfig, type ArchiverConfigInput } from '../../functions/lib/contract';

/** The bucket the demo's synthetic runs write their outputs to. */
export const DEMO_OUTPUT_BUCKET = 'omics-demo-outputs';
/** Where the demo restores to before copying files to the local folder. */
export const DEMO_RESTORE_BUCKET = 'omics-demo-restores';

/**
 * One tier that archives every file at once, so the demo shows the whole path in seconds: into S3 Glacier Deep
 * Archive, the target for every account new to Glacier. A policy file (--policy) can lower `multipartAbove` to show
 * the multipart copy on small files.
 */
export const DEMO_POLICY: ArchiverConfigInput = {
  outputBuckets: [DEMO_OUTPUT_BUCKET],
  restoreBuckets: [DEMO_RESTORE_BUCKET],
  tiers: [
    {
      name: 'demo',
      settleWait: 'PT1S',
      archiveAfter: 'PT0S',
      files: [{ globs: ['**'], action: 'archive' }],
      target: { type: 's3-glacier', storageClass: 'DEEP_ARCHIVE' },
      deleteSources: true,
      deleteRun: true,
      restoreTier: 'Standard',
    },
  ],
  archiveConcurrency: 4,
  groupMaxFiles: 20,
  groupMaxBytes: '8 MiB',
};

/**
 * Reads a policy file: either the `omicsArchiver` object itself or a cdk.json-like `{ "context": { "omicsArchiver": ... } }`.
 * The demo's buckets are added so synthetic runs have somewhere to live.
 */
export function loadPolicy(file?: string): ArchiverConfig {
  if (!file) return parseConfig(DEMO_POLICY, 'the demo policy');
  let raw: unknown;
  try {
    raw = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (error) {
    throw new Error(`cannot read policy file ${file}: ${(error as Error).message}`, { cause: error });
  }
  const obj = raw as { context?: { omicsArchiver?: unknown }; omicsArchiver?: unknown };
  const policy = (obj.context?.omicsArchiver ?? obj.omicsArchiver ?? raw) as Record<string, unknown>;
  const withDemoBuckets = {
    ...policy,
    outputBuckets: [...new Set([DEMO_OUTPUT_BUCKET, ...((policy.outputBuckets as string[] | undefined) ?? [])])],
    restoreBuckets: [...new Set([DEMO_RESTORE_BUCKET, ...((policy.restoreBuckets as string[] | undefined) ?? [])])],
  };
  return parseConfig(withDemoBuckets, `policy file ${file}`);
}
