// Tier policies for workflow tests: short waits, one tier per behaviour, chosen by the run's `policy` tag.
import type { ArchiverConfigInput } from '../../functions/lib/contract';

export const OUTPUT_BUCKET = 'workflow-test-outputs';
export const RESTORE_BUCKET = 'workflow-test-restores';

const quick = { settleWait: 'PT1S', archiveAfter: 'PT0S' } as const;

export const WORKFLOW_POLICY: ArchiverConfigInput = {
  outputBuckets: [OUTPUT_BUCKET],
  restoreBuckets: [RESTORE_BUCKET],
  archiveConcurrency: 4,
  groupMaxFiles: 5,
  groupMaxBytes: '4 MiB',
  tiers: [
    { name: 'keep-all', match: { tags: { policy: 'keep' } }, ...quick, defaultAction: 'keep', deleteRun: false },
    {
      name: 'mixed',
      match: { tags: { policy: 'mixed' } },
      ...quick,
      files: [
        { globs: ['**/*.bam'], minSize: '1 MiB', action: 'archive' },
        { globs: ['out/qc/**'], action: 'skip' },
      ],
      defaultAction: 'keep',
      target: { type: 'glacier-vault' },
      deleteSources: true,
      deleteRun: false,
      partSizeMiB: 1,
    },
    {
      name: 's3-deep-archive',
      match: { tags: { policy: 's3' } },
      ...quick,
      files: [{ globs: ['out/**'], action: 'archive' }],
      target: { type: 's3-glacier', storageClass: 'DEEP_ARCHIVE' },
      deleteSources: true,
      deleteRun: false,
    },
    {
      name: 's3-multipart',
      match: { tags: { policy: 's3-multipart' } },
      ...quick,
      files: [{ globs: ['out/**'], action: 'archive' }],
      // Scaled down so a few MiB take the multipart path: S3's smallest part is 5 MiB.
      target: { type: 's3-glacier', storageClass: 'GLACIER', multipartAbove: '5 MiB', partSize: '5 MiB' },
      deleteSources: true,
      deleteRun: true,
    },
    {
      // Small files into bundles: 3 MiB of tar each, in 1 MiB parts, so a bundle spans several MiB-aligned ranges.
      name: 'bundle-vault',
      match: { tags: { policy: 'bundle-vault' } },
      ...quick,
      files: [{ globs: ['**'], action: 'archive' }],
      target: { type: 'glacier-vault' },
      partSizeMiB: 1,
      deleteSources: true,
      deleteRun: false,
      restoreTier: 'Expedited',
      bundleFilesBelow: '256 KiB',
      bundleMaxBytes: '3 MiB',
    },
    {
      name: 'bundle-s3',
      match: { tags: { policy: 'bundle-s3' } },
      ...quick,
      files: [{ globs: ['**'], action: 'archive' }],
      target: { type: 's3-glacier', storageClass: 'DEEP_ARCHIVE', partSize: '5 MiB' },
      deleteSources: true,
      deleteRun: false,
      bundleFilesBelow: '256 KiB',
      bundleMaxBytes: '3 MiB',
    },
    {
      name: 'archive-all',
      ...quick,
      files: [{ globs: ['**'], action: 'archive' }],
      deleteSources: true,
      deleteRun: true,
      restoreTier: 'Expedited',
      target: { type: 'glacier-vault' },
      partSizeMiB: 1,
    },
  ],
};
