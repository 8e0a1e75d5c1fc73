// The transfer functions' memory holds what their transfers hold: any vault archive's job-output ranges, and the
// largest vault part the configuration accepts.
import {
  ARCHIVE_FILES_MEMORY_MIB,
  GLACIER_LIMITS,
  LAMBDA_LIMITS,
  MIB,
  S3_LIMITS,
  jobOutputRangeSize,
  largestVaultPartSizeMiB,
  parseConfig,
  transferMemoryMiB,
} from '../../functions/lib/contract';
import { LAMBDAS } from '../../stacks/wiring';

describe('transfer function memory', () => {
  it('CopyRestoredFile holds a range of the largest vault archive (10,000 × 4 GiB), within what Lambda offers', () => {
    const range = jobOutputRangeSize(GLACIER_LIMITS.maxArchiveBytes);
    expect(Math.ceil(GLACIER_LIMITS.maxArchiveBytes / range)).toBeLessThanOrEqual(S3_LIMITS.maxParts);
    expect(range).toBeLessThanOrEqual(S3_LIMITS.maxPartBytes);
    expect(LAMBDAS.copyRestoredFile.memoryMiB).toBeGreaterThanOrEqual(transferMemoryMiB(range, 1));
    expect(LAMBDAS.copyRestoredFile.memoryMiB).toBeLessThanOrEqual(LAMBDA_LIMITS.maxMemoryMiB);
  });

  it('ArchiveFiles has the memory the partSizeMiB check assumes, and holds the largest part size it accepts', () => {
    expect(LAMBDAS.archiveFiles.memoryMiB).toBe(ARCHIVE_FILES_MEMORY_MIB);
    const largest = largestVaultPartSizeMiB();
    expect(transferMemoryMiB(largest * MIB)).toBeLessThanOrEqual(LAMBDAS.archiveFiles.memoryMiB);
    const tier = (partSizeMiB: number) => ({ outputBuckets: ['o'], tiers: [{ name: 'v', target: { type: 'glacier-vault' }, partSizeMiB }] });
    expect(parseConfig(tier(largest)).tiers[0].partSizeMiB).toBe(largest);
    expect(() => parseConfig(tier(largest * 2))).toThrow(/omicsArchiver\.tiers\[0\]\.partSizeMiB: .*ArchiveFiles function/);
  });
});
