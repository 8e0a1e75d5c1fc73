// The configuration schema: each bad key is named by its full path with what is allowed; defaults, durations, sizes, parts.
import {
  type ArchiverConfigInput,
  bundlePolicyOf,
  ConfigError,
  durationSeconds,
  MAX_PART_SIZE_MIB,
  parseConfig,
  partSizeFor,
  s3PartSizeFor,
  sizeBytes,
} from '../../../../functions/lib/contract';

const MIB = 1024 * 1024;

/** A valid configuration to break one key at a time. */
function valid(): Record<string, unknown> & { tiers: Record<string, unknown>[] } {
  return {
    outputBuckets: ['omics-outputs'],
    tiers: [
      {
        name: 'clinical',
        match: { tags: { project: 'clinical' } },
        archiveAfter: 'P90D',
        files: [{ globs: ['**/*.bam'], minSize: '100 MiB', action: 'archive' }],
      },
      { name: 'research' },
    ],
  };
}

function problemsOf(raw: unknown): string[] {
  try {
    parseConfig(raw);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as ConfigError).problems;
  }
  throw new Error('expected the configuration to be rejected');
}

describe('parseConfig rejects bad configuration, naming the key and what is allowed', () => {
  const cases: { name: string; raw: () => unknown; key: string; says: RegExp }[] = [
    {
      name: 'an unknown top-level key',
      raw: () => ({ ...valid(), tierz: [] }),
      key: 'omicsArchiver.tierz',
      says: /unknown key/,
    },
    {
      name: 'an unknown key inside a tier',
      raw: () => {
        const c = valid();
        c.tiers[1].colour = 'blue';
        return c;
      },
      key: 'omicsArchiver.tiers[1].colour',
      says: /unknown key/,
    },
    {
      name: 'a duration that is not ISO-8601',
      raw: () => {
        const c = valid();
        c.tiers[0].archiveAfter = '90 days';
        return c;
      },
      key: 'omicsArchiver.tiers[0].archiveAfter',
      says: /ISO-8601 duration such as PT5M, P7D or P1M \(got "90 days"\)/,
    },
    {
      name: 'a negative wait',
      raw: () => {
        const c = valid();
        c.tiers[0].settleWait = '-PT5M';
        return c;
      },
      key: 'omicsArchiver.tiers[0].settleWait',
      says: /must not be negative/,
    },
    {
      name: 'waits that outlast the execution limit (settleWait + archiveAfter > 330 days)',
      raw: () => {
        const c = valid();
        c.tiers[0].settleWait = 'P1D';
        c.tiers[0].archiveAfter = 'P330D';
        return c;
      },
      key: 'omicsArchiver.tiers[0].archiveAfter',
      says: /settleWait \+ archiveAfter is 331 days; it must stay within 330 days/,
    },
    {
      name: 'a part size that is not a power of two',
      raw: () => {
        const c = valid();
        c.tiers[0].partSizeMiB = 12;
        return c;
      },
      key: 'omicsArchiver.tiers[0].partSizeMiB',
      says: new RegExp(`power of two from 1 to ${MAX_PART_SIZE_MIB}`),
    },
    {
      name: 'a part size above 4 GiB',
      raw: () => {
        const c = valid();
        c.tiers[0].partSizeMiB = 8192;
        return c;
      },
      key: 'omicsArchiver.tiers[0].partSizeMiB',
      says: /power of two from 1 to 4096/,
    },
    {
      name: 'a vault part size the ArchiveFiles function cannot hold',
      raw: () => {
        const c = valid();
        c.tiers[0].target = { type: 'glacier-vault' };
        c.tiers[0].partSizeMiB = 2048;
        return c;
      },
      key: 'omicsArchiver.tiers[0].partSizeMiB',
      says: /2048 MiB parts \(1 in memory at once\) need about 2560 MiB, more than the ArchiveFiles function's 1769 MB: use at most 1024/,
    },
    {
      name: 'an unknown target type',
      raw: () => {
        const c = valid();
        c.tiers[0].target = { type: 'tape-library' };
        return c;
      },
      key: 'omicsArchiver.tiers[0].target.type',
      says: /must be one of "glacier-vault", "s3-glacier"/,
    },
    {
      name: 'a storage class S3 Glacier does not have',
      raw: () => {
        const c = valid();
        c.tiers[1].target = { type: 's3-glacier', storageClass: 'STANDARD_IA' };
        return c;
      },
      key: 'omicsArchiver.tiers[1].target.storageClass',
      says: /must be one of "DEEP_ARCHIVE", "GLACIER", "GLACIER_IR"/,
    },
    {
      name: 'a part size on the s3-glacier target',
      raw: () => {
        const c = valid();
        c.tiers[1].target = { type: 's3-glacier' };
        c.tiers[1].partSizeMiB = 64;
        return c;
      },
      key: 'omicsArchiver.tiers[1].partSizeMiB',
      says: /applies only to the glacier-vault target/,
    },
    {
      name: 'an unknown file action',
      raw: () => {
        const c = valid();
        c.tiers[0].files = [{ globs: ['**/*.bam'], action: 'delete' }];
        return c;
      },
      key: 'omicsArchiver.tiers[0].files[0].action',
      says: /must be one of "archive", "keep", "skip"/,
    },
    {
      name: 'an empty glob list',
      raw: () => {
        const c = valid();
        c.tiers[0].files = [{ globs: [], action: 'archive' }];
        return c;
      },
      key: 'omicsArchiver.tiers[0].files[0].globs',
      says: /must list at least 1 item/,
    },
    {
      name: 'an empty glob',
      raw: () => {
        const c = valid();
        c.tiers[0].files = [{ globs: ['**/*.bam', ''], action: 'archive' }];
        return c;
      },
      key: 'omicsArchiver.tiers[0].files[0].globs[1]',
      says: /must not be empty/,
    },
    {
      name: 'a size in decimal units',
      raw: () => {
        const c = valid();
        c.tiers[0].files = [{ globs: ['**/*.bam'], minSize: '100 MB', action: 'archive' }];
        return c;
      },
      key: 'omicsArchiver.tiers[0].files[0].minSize',
      says: /a size such as "512 KiB", "100 MiB", "1 GiB" \(got "100 MB"\)/,
    },
    {
      name: 'two tiers with one name',
      raw: () => {
        const c = valid();
        c.tiers[1].name = 'clinical';
        return c;
      },
      key: 'omicsArchiver.tiers[1].name',
      says: /duplicate tier name "clinical"/,
    },
    {
      name: 'a tier name with capitals',
      raw: () => {
        const c = valid();
        c.tiers[1].name = 'Research';
        return c;
      },
      key: 'omicsArchiver.tiers[1].name',
      says: /1-32 lowercase letters, digits or dashes/,
    },
    {
      name: 'missing outputBuckets',
      raw: () => {
        const { outputBuckets: _omitted, ...rest } = valid();
        return rest;
      },
      key: 'omicsArchiver.outputBuckets',
      says: /required \(array\)/,
    },
    {
      name: 'no tiers at all',
      raw: () => ({ ...valid(), tiers: [] }),
      key: 'omicsArchiver.tiers',
      says: /must list at least 1 item/,
    },
    {
      name: 'an unknown restore tier',
      raw: () => {
        const c = valid();
        c.tiers[0].restoreTier = 'Instant';
        return c;
      },
      key: 'omicsArchiver.tiers[0].restoreTier',
      says: /must be one of "Expedited", "Standard", "Bulk"/,
    },
    {
      name: 'a run status that is not terminal',
      raw: () => {
        const c = valid();
        c.tiers[0].match = { statuses: ['RUNNING'] };
        return c;
      },
      key: 'omicsArchiver.tiers[0].match.statuses[0]',
      says: /must be one of "COMPLETED", "FAILED", "CANCELLED"/,
    },
    {
      name: 'a restore notification email that is not an address',
      raw: () => ({ ...valid(), restoreNotificationEmails: ['lab@example.org', 'oncall'] }),
      key: 'omicsArchiver.restoreNotificationEmails[1]',
      says: /must be an email address/,
    },
    {
      name: 'restore notification emails that are not a list',
      raw: () => ({ ...valid(), restoreNotificationEmails: 'lab@example.org' }),
      key: 'omicsArchiver.restoreNotificationEmails',
      says: /must be an array \(got string\)/,
    },
    {
      name: 'a restore notification email listed twice',
      raw: () => ({ ...valid(), restoreNotificationEmails: ['lab@example.org', 'Lab@example.org'] }),
      key: 'omicsArchiver.restoreNotificationEmails',
      says: /lists an address twice/,
    },
    {
      name: 'an alarm email that is not an address',
      raw: () => ({ ...valid(), alarmEmail: 'oncall' }),
      key: 'omicsArchiver.alarmEmail',
      says: /must be an email address/,
    },
    {
      name: 'a log retention CloudWatch Logs does not offer',
      raw: () => ({ ...valid(), logRetentionDays: 100 }),
      key: 'omicsArchiver.logRetentionDays',
      says: /must be one of 1, 3, 5, 7, 14, 30, 60, 90, 120, .* 3653/,
    },
    {
      name: 'a concurrency of zero',
      raw: () => ({ ...valid(), archiveConcurrency: 0 }),
      key: 'omicsArchiver.archiveConcurrency',
      says: /must be at least 1/,
    },
    {
      name: 'a restore concurrency of zero',
      raw: () => ({ ...valid(), restoreConcurrency: 0 }),
      key: 'omicsArchiver.restoreConcurrency',
      says: /must be at least 1/,
    },
    {
      name: 'a restore concurrency beyond what a Distributed Map runs',
      raw: () => ({ ...valid(), restoreConcurrency: 10_001 }),
      key: 'omicsArchiver.restoreConcurrency',
      says: /must be at most 10000/,
    },
    {
      name: 'a reserved concurrency of zero (the function would never run)',
      raw: () => ({ ...valid(), reservedConcurrency: { archiveFiles: 0 } }),
      key: 'omicsArchiver.reservedConcurrency.archiveFiles',
      says: /must be at least 1/,
    },
    {
      name: 'reservations that leave less than 100 of the account limit unreserved',
      raw: () => ({ ...valid(), reservedConcurrency: { archiveFiles: 500, copyRestoredFile: 401 } }),
      key: 'omicsArchiver.reservedConcurrency',
      says: /is 901; Lambda keeps 100 of the account's 1000 concurrent executions unreserved, so at most 900/,
    },
    {
      name: 'reservations beyond a raised account limit',
      raw: () => ({ ...valid(), reservedConcurrency: { archiveFiles: 2000, copyRestoredFile: 950, accountLimit: 3000 } }),
      key: 'omicsArchiver.reservedConcurrency',
      says: /at most 2900 may be reserved/,
    },
    {
      name: 'an unknown reservedConcurrency key',
      raw: () => ({ ...valid(), reservedConcurrency: { snapshotRun: 10 } }),
      key: 'omicsArchiver.reservedConcurrency.snapshotRun',
      says: /unknown key/,
    },
    {
      name: 'a KMS key given by id rather than ARN',
      raw: () => ({ ...valid(), kmsKeyArns: ['1234abcd-12ab-34cd-56ef-1234567890ab'] }),
      key: 'omicsArchiver.kmsKeyArns[0]',
      says: /must be a KMS key ARN/,
    },
    {
      name: 'a tag value that is not a string',
      raw: () => {
        const c = valid();
        c.tiers[0].match = { tags: { project: 7 } };
        return c;
      },
      key: 'omicsArchiver.tiers[0].match.tags.project',
      says: /must be a string \(got number\)/,
    },
    {
      name: 'an s3-glacier multipartAbove below 5 MiB',
      raw: () => {
        const c = valid();
        c.tiers[0].target = { type: 's3-glacier', multipartAbove: '4 MiB' };
        return c;
      },
      key: 'omicsArchiver.tiers[0].target.multipartAbove',
      says: /must be from 5 MiB to 5 GiB, S3's multipart part limits \(got "4 MiB"\)/,
    },
    {
      name: 'an s3-glacier multipartAbove above 5 GiB (CopyObject copies at most 5 GiB)',
      raw: () => {
        const c = valid();
        c.tiers[1].target = { type: 's3-glacier', multipartAbove: 5 * 1024 * MIB + 1 };
        return c;
      },
      key: 'omicsArchiver.tiers[1].target.multipartAbove',
      says: /must be from 5 MiB to 5 GiB, S3's multipart part limits \(got 5368709121\)/,
    },
    {
      name: 'an s3-glacier multipartAbove in decimal units',
      raw: () => {
        const c = valid();
        c.tiers[0].target = { type: 's3-glacier', multipartAbove: '1 GB' };
        return c;
      },
      key: 'omicsArchiver.tiers[0].target.multipartAbove',
      says: /a size such as "512 KiB", "100 MiB", "1 GiB" \(got "1 GB"\)/,
    },
    {
      name: 'an s3-glacier partSize below 5 MiB',
      raw: () => {
        const c = valid();
        c.tiers[0].target = { type: 's3-glacier', partSize: MIB };
        return c;
      },
      key: 'omicsArchiver.tiers[0].target.partSize',
      says: /must be from 5 MiB to 5 GiB, S3's multipart part limits \(got 1048576\)/,
    },
    {
      name: 'an s3-glacier partSize above 5 GiB',
      raw: () => {
        const c = valid();
        c.tiers[1].target = { type: 's3-glacier', partSize: '5.5 GiB' };
        return c;
      },
      key: 'omicsArchiver.tiers[1].target.partSize',
      says: /must be from 5 MiB to 5 GiB, S3's multipart part limits \(got "5.5 GiB"\)/,
    },
    {
      name: 'an s3-glacier partSize that is not a size',
      raw: () => {
        const c = valid();
        c.tiers[0].target = { type: 's3-glacier', partSize: 'big' };
        return c;
      },
      key: 'omicsArchiver.tiers[0].target.partSize',
      says: /must be a number of bytes or a size such as "512 KiB"/,
    },
    {
      name: 'an s3-glacier sha256 that is not a boolean',
      raw: () => {
        const c = valid();
        c.tiers[0].target = { type: 's3-glacier', sha256: 'yes' };
        return c;
      },
      key: 'omicsArchiver.tiers[0].target.sha256',
      says: /must be a boolean \(got string\)/,
    },
    {
      name: 'a bundling threshold that is not a size',
      raw: () => {
        const c = valid();
        c.tiers[0].bundleFilesBelow = '1 MB';
        return c;
      },
      key: 'omicsArchiver.tiers[0].bundleFilesBelow',
      says: /must be a number of bytes or a size such as "512 KiB", "100 MiB", "1 GiB" \(got "1 MB"\)/,
    },
    {
      name: 'a bundling threshold of zero',
      raw: () => {
        const c = valid();
        c.tiers[0].bundleFilesBelow = 0;
        return c;
      },
      key: 'omicsArchiver.tiers[0].bundleFilesBelow',
      says: /must be more than 0 bytes \(leave the key out to bundle nothing\)/,
    },
    {
      name: 'a bundling threshold above what a member may hold in memory',
      raw: () => {
        const c = valid();
        c.tiers[0].bundleFilesBelow = '128 MiB';
        return c;
      },
      key: 'omicsArchiver.tiers[0].bundleFilesBelow',
      says: /must be at most 64 MiB \(got "128 MiB"\): each member is held whole in memory/,
    },
    {
      name: 'a bundle size without a bundling threshold',
      raw: () => {
        const c = valid();
        c.tiers[1].bundleMaxBytes = '1 GiB';
        return c;
      },
      key: 'omicsArchiver.tiers[1].bundleMaxBytes',
      says: /applies only with bundleFilesBelow/,
    },
    {
      name: 'a bundle smaller than the files it takes',
      raw: () => {
        const c = valid();
        c.tiers[1].bundleFilesBelow = '8 MiB';
        c.tiers[1].bundleMaxBytes = '4 MiB';
        return c;
      },
      key: 'omicsArchiver.tiers[1].bundleMaxBytes',
      says: /must be at least bundleFilesBelow \("8 MiB"\)/,
    },
    {
      name: 'a bundle larger than one ArchiveFiles invocation writes',
      raw: () => {
        const c = valid();
        c.tiers[1].target = { type: 'glacier-vault' };
        c.tiers[1].bundleFilesBelow = '1 MiB';
        c.tiers[1].bundleMaxBytes = '5 GiB';
        return c;
      },
      key: 'omicsArchiver.tiers[1].bundleMaxBytes',
      says: /must be at most 4 GiB \(got "5 GiB"\): one ArchiveFiles invocation writes a whole bundle/,
    },
    {
      name: 'a bundle size that is not a size',
      raw: () => {
        const c = valid();
        c.tiers[1].bundleFilesBelow = '1 MiB';
        c.tiers[1].bundleMaxBytes = 'big';
        return c;
      },
      key: 'omicsArchiver.tiers[1].bundleMaxBytes',
      says: /must be a number of bytes or a size/,
    },
    {
      name: 'multipartAbove on the glacier-vault target',
      raw: () => {
        const c = valid();
        c.tiers[0].target = { type: 'glacier-vault', multipartAbove: '1 GiB' };
        return c;
      },
      key: 'omicsArchiver.tiers[0].target.multipartAbove',
      says: /unknown key/,
    },
  ];

  it.each(cases)('$name', ({ raw, key, says }) => {
    const problems = problemsOf(raw());
    const problem = problems.find((p) => p.startsWith(`${key}: `));
    expect(problem).toBeDefined();
    expect(problem).toMatch(says);
  });

  it('covers at least ten distinct keys', () => {
    expect(new Set(cases.map((c) => c.key)).size).toBeGreaterThanOrEqual(10);
  });

  it('reports every bad key at once, in a message that lists them', () => {
    const c = valid();
    c.tiers[0].archiveAfter = 'soon';
    c.tiers[1].restoreTier = 'Fast';
    const error = (() => {
      try {
        parseConfig({ ...c, colour: 'red' });
      } catch (e) {
        return e as ConfigError;
      }
      throw new Error('expected a ConfigError');
    })();
    expect(error.problems).toHaveLength(3);
    expect(error.message).toMatch(/^Invalid cdk context "omicsArchiver":\n {2}- /);
    for (const problem of error.problems) expect(error.message).toContain(problem);
  });

  it('says where the configuration goes when it is missing', () => {
    expect(problemsOf(undefined)).toEqual([expect.stringMatching(/^omicsArchiver: missing; add it to cdk.json "context"/)]);
  });

  it('rejects a configuration that is not an object', () => {
    expect(problemsOf('tiers')).toEqual(['omicsArchiver: must be an object (got string)']);
  });
});

describe('parseConfig defaults', () => {
  it('fills every default into a minimal configuration', () => {
    const minimal: ArchiverConfigInput = { outputBuckets: ['omics-outputs'], tiers: [{ name: 'all' }] };
    expect(parseConfig(minimal)).toEqual({
      outputBuckets: ['omics-outputs'],
      restoreBuckets: [],
      imports: {},
      tiers: [
        {
          name: 'all',
          match: {},
          settleWait: 'PT5M',
          archiveAfter: 'P30D',
          files: [],
          defaultAction: 'keep',
          // Vault-based Glacier is closed to new AWS customers: the storage classes are the default.
          target: { type: 's3-glacier', storageClass: 'DEEP_ARCHIVE', multipartAbove: '1 GiB', sha256: true },
          deleteSources: false,
          deleteRun: false,
          restoreTier: 'Standard',
        },
      ],
      archiveConcurrency: 10,
      // Not archiveConcurrency: a restore item mostly waits hours for its retrieval, at no cost.
      restoreConcurrency: 1000,
      kmsKeyArns: [],
      groupMaxFiles: 100,
      groupMaxBytes: '256 MiB',
      logRetentionDays: 365,
      logExecutionData: false,
      logRunParameters: false,
      customerManagedKey: false,
      reconcileLookbackDays: 7,
      // No one is emailed about restores unless named.
      restoreNotificationEmails: [],
      // No reservation: a new account may have less concurrency than any reservation would take (see configuration.md).
      reservedConcurrency: { accountLimit: 1000 },
    });
  });

  it('defaults the s3-glacier storage class to DEEP_ARCHIVE', () => {
    const config = parseConfig({ outputBuckets: ['o'], tiers: [{ name: 'cold', target: { type: 's3-glacier' } }] });
    expect(config.tiers[0].target).toEqual({ type: 's3-glacier', storageClass: 'DEEP_ARCHIVE', multipartAbove: '1 GiB', sha256: true });
  });

  it('keeps the s3-glacier multipart settings given, at the edges of what S3 allows', () => {
    const target = { type: 's3-glacier' as const, storageClass: 'GLACIER' as const, multipartAbove: '5 MiB', partSize: 5 * 1024 * MIB, sha256: false };
    expect(parseConfig({ outputBuckets: ['o'], tiers: [{ name: 'cold', target }] }).tiers[0].target).toEqual(target);
    const other = { type: 's3-glacier' as const, multipartAbove: 5 * 1024 * MIB, partSize: '5 MiB' };
    expect(parseConfig({ outputBuckets: ['o'], tiers: [{ name: 'cold', target: other }] }).tiers[0].target).toEqual({
      ...other,
      storageClass: 'DEEP_ARCHIVE',
      sha256: true,
    });
  });

  it('takes reservations that leave exactly 100 of the account limit unreserved', () => {
    const config = parseConfig({ outputBuckets: ['o'], tiers: [{ name: 'a' }], reservedConcurrency: { archiveFiles: 600, copyRestoredFile: 300 } });
    expect(config.reservedConcurrency).toEqual({ archiveFiles: 600, copyRestoredFile: 300, accountLimit: 1000 });
    const raised = { archiveFiles: 2500, accountLimit: 5000 };
    expect(parseConfig({ outputBuckets: ['o'], tiers: [{ name: 'a' }], reservedConcurrency: raised }).reservedConcurrency).toEqual(raised);
  });

  it('leaves bundling off unless a tier names bundleFilesBelow, and takes its size limits at their edges', () => {
    expect(bundlePolicyOf(parseConfig({ outputBuckets: ['o'], tiers: [{ name: 'a' }] }).tiers[0])).toBeUndefined();
    const bundled = parseConfig({ outputBuckets: ['o'], tiers: [{ name: 'a', bundleFilesBelow: '1 MiB' }] }).tiers[0];
    expect(bundled).toMatchObject({ bundleFilesBelow: '1 MiB' });
    expect(bundled.bundleMaxBytes).toBeUndefined();
    expect(bundlePolicyOf(bundled)).toEqual({ filesBelow: MIB, maxBytes: 1024 * MIB, maxMembers: 10_000 });
    const edges = { name: 'b', target: { type: 'glacier-vault' as const }, bundleFilesBelow: '64 MiB', bundleMaxBytes: '4 GiB' };
    expect(bundlePolicyOf(parseConfig({ outputBuckets: ['o'], tiers: [edges] }).tiers[0])).toEqual({
      filesBelow: 64 * MIB,
      maxBytes: 4096 * MIB,
      maxMembers: 10_000,
    });
    expect(() => parseConfig({ outputBuckets: ['o'], tiers: [{ name: 'c', bundleFilesBelow: 4096, bundleMaxBytes: 4096 }] })).not.toThrow();
  });

  it('accepts waits that add up to exactly 330 days', () => {
    expect(() => parseConfig({ outputBuckets: ['o'], tiers: [{ name: 'a', settleWait: 'PT0S', archiveAfter: 'P330D' }] })).not.toThrow();
  });
});

describe('durationSeconds', () => {
  it.each([
    ['PT5M', 300],
    ['PT1H30M', 5400],
    ['P1D', 86400],
    ['P1W', 7 * 86400],
    ['P1M', 30 * 86400],
    ['P1Y', 365 * 86400],
    ['P1DT12H', 1.5 * 86400],
    ['PT0S', 0],
    ['-PT5M', -300],
  ])('%s is %d seconds', (iso, seconds) => {
    expect(durationSeconds(iso)).toBe(seconds);
  });

  it('throws on text that is not a duration', () => {
    expect(() => durationSeconds('5 minutes')).toThrow();
  });
});

describe('sizeBytes', () => {
  it.each([
    [0, 0],
    [1234, 1234],
    ['1 B', 1],
    ['512 KiB', 512 * 1024],
    ['100 MiB', 100 * MIB],
    ['1.5 GiB', 1.5 * 1024 * MIB],
    ['2 TiB', 2 * 1024 * 1024 * MIB],
    ['  8MiB ', 8 * MIB],
  ])('%p is %d bytes', (size, bytes) => {
    expect(sizeBytes(size)).toBe(bytes);
  });

  it.each(['100 MB', '1 GB', 'big', '-1 KiB', ''])('rejects %p', (size) => {
    expect(() => sizeBytes(size)).toThrow(/not a size/);
  });
});

describe('partSizeFor (Glacier allows at most 10,000 parts of 1 MiB × 2^n)', () => {
  const auto = {};

  it('starts at 64 MiB (fewer billed part requests)', () => {
    expect(partSizeFor(auto, 1)).toBe(64 * MIB);
    expect(partSizeFor(auto, 10000 * 64 * MIB)).toBe(64 * MIB);
  });

  it('doubles once a file needs more than 10,000 parts', () => {
    expect(partSizeFor(auto, 10000 * 64 * MIB + 1)).toBe(128 * MIB);
    expect(partSizeFor(auto, 10000 * 1024 * MIB)).toBe(1024 * MIB);
    expect(partSizeFor(auto, 10000 * 1024 * MIB + 1)).toBe(2048 * MIB);
  });

  it('keeps every file within 10,000 parts of a power-of-two MiB', () => {
    for (const size of [1, 5 * MIB, 99 * 1024 * MIB, 777 * 1024 * MIB, 3 * 1024 * 1024 * MIB, 10000 * 4096 * MIB]) {
      const part = partSizeFor(auto, size);
      const mib = part / MIB;
      expect(Number.isInteger(mib) && (mib & (mib - 1)) === 0).toBe(true);
      expect(Math.ceil(size / part)).toBeLessThanOrEqual(10000);
    }
  });

  it('caps parts at 4 GiB: 10,000 of them are the largest archive a vault takes', () => {
    expect(partSizeFor(auto, 10000 * 4096 * MIB)).toBe(4096 * MIB);
    expect(partSizeFor(auto, 10000 * 2048 * MIB + 1)).toBe(4096 * MIB);
  });

  it("uses the tier's part size while it keeps the file within 10,000 parts", () => {
    expect(partSizeFor({ partSizeMiB: 1 }, 100 * MIB)).toBe(1 * MIB);
    expect(partSizeFor({ partSizeMiB: 64 }, 10 * 1024 * MIB)).toBe(64 * MIB);
  });

  it("falls back to the automatic size when the tier's would need more than 10,000 parts", () => {
    expect(partSizeFor({ partSizeMiB: 1 }, 20 * 1024 * MIB)).toBe(64 * MIB);
  });
});

describe('s3PartSizeFor (S3 allows at most 10,000 parts of 5 MiB to 5 GiB)', () => {
  const GIB = 1024 * MIB;
  const auto = {};

  it('starts at 64 MiB', () => {
    expect(s3PartSizeFor(auto, 0)).toBe(64 * MIB);
    expect(s3PartSizeFor(auto, 1)).toBe(64 * MIB);
    expect(s3PartSizeFor(auto, 10000 * 64 * MIB)).toBe(64 * MIB);
  });

  it('doubles once a file needs more than 10,000 parts', () => {
    expect(s3PartSizeFor(auto, 10000 * 64 * MIB + 1)).toBe(128 * MIB);
    expect(s3PartSizeFor(auto, 10000 * 128 * MIB + 1)).toBe(256 * MIB);
    expect(s3PartSizeFor(auto, 10000 * 1024 * MIB)).toBe(1024 * MIB);
    expect(s3PartSizeFor(auto, 10000 * 2 * GIB + 1)).toBe(4 * GIB);
    expect(s3PartSizeFor(auto, 10000 * 4 * GIB)).toBe(4 * GIB);
  });

  it('takes 5 GiB parts, the largest S3 allows, for files beyond 10,000 × 4 GiB', () => {
    expect(s3PartSizeFor(auto, 10000 * 4 * GIB + 1)).toBe(5 * GIB);
    expect(s3PartSizeFor(auto, 10000 * 5 * GIB)).toBe(5 * GIB);
    // Beyond what S3 stores the copy refuses the file (SourceTooLarge); the part size stays the largest.
    expect(s3PartSizeFor(auto, 10000 * 5 * GIB + 1)).toBe(5 * GIB);
  });

  it('keeps every file S3 can hold within 10,000 parts of 5 MiB to 5 GiB', () => {
    for (const size of [1, 5 * MIB, 99 * GIB, 777 * GIB, 3 * 1024 * GIB, 10000 * 4 * GIB - 1, 45 * 1024 * GIB, 10000 * 5 * GIB]) {
      const part = s3PartSizeFor(auto, size);
      expect(part).toBeGreaterThanOrEqual(5 * MIB);
      expect(part).toBeLessThanOrEqual(5 * GIB);
      expect(Math.ceil(size / part)).toBeLessThanOrEqual(10000);
    }
  });

  it("uses the target's partSize, as bytes or a size, while it keeps the file within 10,000 parts", () => {
    expect(s3PartSizeFor({ partSize: '8 MiB' }, GIB)).toBe(8 * MIB);
    expect(s3PartSizeFor({ partSize: 100 * MIB }, 10 * GIB)).toBe(100 * MIB); // any size S3 allows, not only powers of two
    expect(s3PartSizeFor({ partSize: '5 MiB' }, 10000 * 5 * MIB)).toBe(5 * MIB);
    expect(s3PartSizeFor({ partSize: '5 GiB' }, 1)).toBe(5 * GIB);
  });

  it("falls back to the automatic size when the target's would need more than 10,000 parts", () => {
    expect(s3PartSizeFor({ partSize: '5 MiB' }, 10000 * 5 * MIB + 1)).toBe(64 * MIB);
    expect(s3PartSizeFor({ partSize: '8 MiB' }, 100 * GIB)).toBe(64 * MIB);
    expect(s3PartSizeFor({ partSize: '1 GiB' }, 10000 * 4 * GIB + 1)).toBe(5 * GIB);
  });
});
