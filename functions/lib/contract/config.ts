// The archiver's configuration schema (cdk context `omicsArchiver`): the tier policy and what to import, validated with zod.
import * as tinyduration from 'tinyduration';
import { z } from 'zod';
import { TERMINAL_RUN_STATUSES } from './events';
import { BUNDLE_LIMITS, DISTRIBUTED_MAP_LIMITS, GIB, GLACIER_LIMITS, LAMBDA_CONCURRENCY_LIMITS, LAMBDA_LIMITS, MIB, S3_LIMITS } from './limits';

/**
 * Memory of the ArchiveFiles function (stacks/wiring.ts), which holds a vault upload's parts in flight: 1,769 MB is
 * one full vCPU, and what a configured partSizeMiB must fit (with TRANSFER_HEADROOM_MIB).
 */
export const ARCHIVE_FILES_MEMORY_MIB = 1769;
/** What a transfer function needs besides the parts it holds: the runtime, the SDK, hash states, responses being read. */
export const TRANSFER_HEADROOM_MIB = 512;

/**
 * Vault parts held in memory at once: two overlap reading and uploading, but parts of 1 GiB and more go one at a
 * time (vault-upload.ts buffers each part whole: Glacier wants its tree hash before the body).
 */
export function vaultPartsInFlight(partSize: number): number {
  return partSize >= GIB ? 1 : 2;
}

/** Memory (MiB) a transfer holding `partsInFlight` parts of `partSize` bytes needs, headroom included. */
export function transferMemoryMiB(partSize: number, partsInFlight = vaultPartsInFlight(partSize)): number {
  return Math.ceil(partSize / MIB) * partsInFlight + TRANSFER_HEADROOM_MIB;
}

/** The largest power-of-two partSizeMiB whose parts in flight the ArchiveFiles function holds. */
export function largestVaultPartSizeMiB(): number {
  let mib = GLACIER_LIMITS.maxPartSizeMiB;
  while (mib > 1 && transferMemoryMiB(mib * MIB) > ARCHIVE_FILES_MEMORY_MIB) mib /= 2;
  return mib;
}

/**
 * Range size of copying a vault retrieval job's output into S3, each range one S3 part: the smallest power of two MiB
 * from 64 MiB that keeps the archive within S3's 10,000 parts. Glacier's ranges must be megabyte-aligned, and tree-hash
 * aligned (a power of two MiB) for Glacier to send each range's tree hash; 4 GiB ranges hold the largest archive
 * (10,000 × 4 GiB), and S3 parts may be up to 5 GiB.
 */
export function jobOutputRangeSize(archiveSize: number): number {
  let range = DEFAULT_MIN_PART_SIZE_MIB * MIB;
  while (Math.ceil(archiveSize / range) > S3_LIMITS.maxParts && range < GLACIER_LIMITS.maxPartSizeMiB * MIB) range *= 2;
  return range;
}

/** The cdk context key the whole configuration lives under. */
export const CONTEXT_KEY = 'omicsArchiver';

/** Restores in flight by default: a request of 1,000 files comes back in one retrieval time. */
export const DEFAULT_RESTORE_CONCURRENCY = 1000;
/** Glacier multipart parts are 1 MiB × 2^n, up to 4 GiB. */
export const MAX_PART_SIZE_MIB = GLACIER_LIMITS.maxPartSizeMiB;
/** A Standard execution lives at most a year; the waits must leave the archive itself time to finish. */
export const MAX_WAIT_SECONDS = 330 * 24 * 3600;

export const FILE_ACTIONS = ['archive', 'keep', 'skip'] as const;
export type FileAction = (typeof FILE_ACTIONS)[number];
export const RESTORE_TIERS = ['Expedited', 'Standard', 'Bulk'] as const;
export type RestoreTier = (typeof RESTORE_TIERS)[number];
export const S3_GLACIER_STORAGE_CLASSES = ['DEEP_ARCHIVE', 'GLACIER', 'GLACIER_IR'] as const;
/** S3 Object Lock retention modes (PutObjectRetention's Mode). */
export const RETENTION_MODES = ['GOVERNANCE', 'COMPLIANCE'] as const;
export type RetentionMode = (typeof RETENTION_MODES)[number];
/** The longest retention a tier may ask for: 100 years, S3's longest default retention period. */
export const MAX_RETENTION_YEARS = 100;
/** The retention periods (days) CloudWatch Logs accepts for a log group. */
export const LOG_RETENTION_DAYS = [1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653] as const;

/** Seconds in an ISO-8601 duration; months count 30 days and years 365, as the Wait state needs one number. */
export function durationSeconds(iso: string): number {
  const d = tinyduration.parse(iso);
  const days = (d.years ?? 0) * 365 + (d.months ?? 0) * 30 + (d.weeks ?? 0) * 7 + (d.days ?? 0);
  const seconds = days * 86400 + (d.hours ?? 0) * 3600 + (d.minutes ?? 0) * 60 + (d.seconds ?? 0);
  return Math.round(d.negative ? -seconds : seconds);
}

/**
 * `from` plus an ISO-8601 duration on the calendar (P7Y is seven calendar years, leap days included), never short of it:
 * what an Object Lock retention must last, where durationSeconds' 365-day years would end it days early.
 */
export function addDuration(from: Date, iso: string): Date {
  const d = tinyduration.parse(iso);
  if (d.negative) throw new RangeError(`a retention cannot be negative (got "${iso}")`);
  const to = new Date(from.getTime());
  to.setUTCFullYear(to.getUTCFullYear() + (d.years ?? 0), to.getUTCMonth() + (d.months ?? 0));
  const seconds = ((d.weeks ?? 0) * 7 + (d.days ?? 0)) * 86400 + (d.hours ?? 0) * 3600 + (d.minutes ?? 0) * 60 + (d.seconds ?? 0);
  return new Date(to.getTime() + Math.ceil(seconds * 1000));
}

const isoDuration = z.string().superRefine((value, ctx) => {
  try {
    if (durationSeconds(value) < 0) ctx.addIssue({ code: 'custom', message: `must not be negative (got "${value}")` });
  } catch {
    ctx.addIssue({ code: 'custom', message: `must be an ISO-8601 duration such as PT5M, P7D or P1M (got "${value}")` });
  }
});

const SIZE_UNITS: Record<string, number> = { B: 1, KiB: 1024, MiB: MIB, GiB: 1024 * MIB, TiB: 1024 * 1024 * MIB };
/** Bytes in a size given as a number of bytes or a string such as "512 KiB" or "1.5 GiB". */
export function sizeBytes(size: number | string): number {
  if (typeof size === 'number') return size;
  const match = /^\s*(\d+(?:\.\d+)?)\s*(B|KiB|MiB|GiB|TiB)\s*$/.exec(size);
  if (!match) throw new Error(`not a size: "${size}"`);
  return Math.round(Number(match[1]) * SIZE_UNITS[match[2]]);
}

const size = z.union([z.number().int().nonnegative(), z.string()]).superRefine((value, ctx) => {
  try {
    sizeBytes(value);
  } catch {
    ctx.addIssue({ code: 'custom', message: `must be a number of bytes or a size such as "512 KiB", "100 MiB", "1 GiB" (got ${JSON.stringify(value)})` });
  }
});

const nonEmptyStrings = z.array(z.string().min(1)).min(1);

/** A KMS key named by its key ARN or an alias ARN, as `kmsKeyArns` takes them. */
export interface KmsKeyRef {
  partition: string;
  region: string;
  account: string;
  /** `key/<id>` or `alias/<name>`. */
  resource: string;
  kind: 'key' | 'alias';
}

const KMS_KEY_ARN = /^arn:(aws[a-z-]*):kms:([a-z]{2}(?:-[a-z]+)+-\d+):(\d{12}):((key)\/[A-Za-z0-9-]+|(alias)\/[A-Za-z0-9/_-]+)$/;

/** The parts of a KMS key or alias ARN; undefined for anything else (a bare key id or alias name, another service). */
export function parseKmsKeyArn(arn: string): KmsKeyRef | undefined {
  const match = KMS_KEY_ARN.exec(arn);
  if (!match) return undefined;
  return { partition: match[1], region: match[2], account: match[3], resource: match[4], kind: match[5] ? 'key' : 'alias' };
}

const kmsKeyArn = z.string().superRefine((value, ctx) => {
  if (!parseKmsKeyArn(value)) {
    ctx.addIssue({
      code: 'custom',
      message: `must be a KMS key ARN (arn:aws:kms:<region>:<account>:key/<key id>) or alias ARN (arn:aws:kms:<region>:<account>:alias/<name>) (got ${JSON.stringify(value)})`,
    });
  }
});

export const FileRuleSchema = z
  .object({
    /** Globs over the output path relative to the run's output folder, e.g. "**\/*.bam". */
    globs: nonEmptyStrings,
    minSize: size.optional(),
    minAge: isoDuration.optional(),
    action: z.enum(FILE_ACTIONS),
  })
  .strict();

export const TierMatchSchema = z
  .object({
    workflowIds: nonEmptyStrings.optional(),
    runGroupIds: nonEmptyStrings.optional(),
    statuses: z.array(z.enum(TERMINAL_RUN_STATUSES)).min(1).optional(),
    /** Every tag listed must be on the run with this value. */
    tags: z.record(z.string(), z.string()).optional(),
  })
  .strict();

/** A size within S3's multipart part limits (5 MiB to 5 GiB), as CopyObject and UploadPartCopy take them. */
const s3PartSize = size.superRefine((value, ctx) => {
  let bytes: number;
  try {
    bytes = sizeBytes(value);
  } catch {
    return; // reported by `size`
  }
  if (bytes < S3_LIMITS.minPartBytes || bytes > S3_LIMITS.maxPartBytes) {
    ctx.addIssue({ code: 'custom', message: `must be from 5 MiB to 5 GiB, S3's multipart part limits (got ${JSON.stringify(value)})` });
  }
});

export const S3GlacierTargetSchema = z
  .object({
    type: z.literal('s3-glacier'),
    storageClass: z.enum(S3_GLACIER_STORAGE_CLASSES).default('DEEP_ARCHIVE'),
    /** Files up to this size are copied with one CopyObject; larger ones with a multipart copy (UploadPartCopy). */
    multipartAbove: s3PartSize.default('1 GiB'),
    /** Multipart copy part size; absent: the smallest power of two MiB from 64 MiB (5 GiB for the very largest files) within 10,000 parts. */
    partSize: s3PartSize.optional(),
    /** Record each file's SHA-256 (Lambda reads every byte once); false: only S3's CRC64NVME, and no byte passes through Lambda. */
    sha256: z.boolean().default(true),
    /**
     * Keep each archived version under S3 Object Lock this long after it is archived (ISO-8601, e.g. P7Y): the bucket
     * is then made with Object Lock on. Absent: versioning only.
     */
    retainFor: isoDuration.optional(),
    /** COMPLIANCE: nobody can shorten or lift the retention, not even the root user; GOVERNANCE (the default): only with s3:BypassGovernanceRetention. */
    retentionMode: z.enum(RETENTION_MODES).optional(),
  })
  .strict();

export const ArchiveTargetSchema = z.discriminatedUnion('type', [z.object({ type: z.literal('glacier-vault') }).strict(), S3GlacierTargetSchema]);

/** The target a tier gets when it names none: the S3 Glacier storage classes (vaults are closed to new AWS customers). */
export const DEFAULT_TARGET = { type: 's3-glacier', storageClass: 'DEEP_ARCHIVE', multipartAbove: '1 GiB', sha256: true } as const;

const partSizeMiB = z
  .number()
  .int()
  .refine((n) => n >= 1 && n <= MAX_PART_SIZE_MIB && (n & (n - 1)) === 0, {
    message: `must be a power of two from 1 to ${MAX_PART_SIZE_MIB} (Glacier parts are 1 MiB × 2^n)`,
  });

/** A bundle's largest size when a tier bundles and says nothing: small enough that restoring one member of an S3 bundle (the whole object is restored) stays cheap. */
export const DEFAULT_BUNDLE_MAX_BYTES = '1 GiB';

/** What a tier's bundling keys come to, in bytes; undefined when the tier does not bundle. */
export interface BundlePolicy {
  /** Files of at least one byte and fewer than this many are bundled. */
  filesBelow: number;
  /** The largest bundle, in tar bytes (headers and padding included). */
  maxBytes: number;
  maxMembers: number;
}

/** The tier's bundling, from its keys (validated: sizes parse); undefined when `bundleFilesBelow` is absent. */
export function bundlePolicyOf(tier: { bundleFilesBelow?: number | string; bundleMaxBytes?: number | string }): BundlePolicy | undefined {
  if (tier.bundleFilesBelow === undefined) return undefined;
  return {
    filesBelow: sizeBytes(tier.bundleFilesBelow),
    maxBytes: sizeBytes(tier.bundleMaxBytes ?? DEFAULT_BUNDLE_MAX_BYTES),
    maxMembers: BUNDLE_LIMITS.maxMembers,
  };
}

const formatSize = (bytes: number) => (bytes % GIB === 0 ? `${bytes / GIB} GiB` : bytes % MIB === 0 ? `${bytes / MIB} MiB` : `${bytes} bytes`);

/** The bundling keys against each other and against what one ArchiveFiles invocation (and one restore copy) can hold. */
function checkBundling(tier: { bundleFilesBelow?: number | string; bundleMaxBytes?: number | string }, ctx: z.RefinementCtx): void {
  const parsed = (value: number | string | undefined) => {
    try {
      return value === undefined ? undefined : sizeBytes(value);
    } catch {
      return undefined; // reported by `size` on its own key
    }
  };
  const below = parsed(tier.bundleFilesBelow);
  const max = parsed(tier.bundleMaxBytes);
  if (tier.bundleFilesBelow === undefined && tier.bundleMaxBytes !== undefined) {
    ctx.addIssue({ code: 'custom', path: ['bundleMaxBytes'], message: 'applies only with bundleFilesBelow (which files are bundled)' });
    return;
  }
  if (below !== undefined && below <= 0) {
    ctx.addIssue({ code: 'custom', path: ['bundleFilesBelow'], message: 'must be more than 0 bytes (leave the key out to bundle nothing)' });
  }
  if (below !== undefined && below > BUNDLE_LIMITS.maxMemberBytes) {
    ctx.addIssue({
      code: 'custom',
      path: ['bundleFilesBelow'],
      message:
        `must be at most ${formatSize(BUNDLE_LIMITS.maxMemberBytes)} (got ${JSON.stringify(tier.bundleFilesBelow)}): each member is held whole in memory ` +
        `while it is read into its bundle and again when it is restored, and above a few MiB the per-archive overhead bundling saves is negligible`,
    });
  }
  if (max !== undefined && max > BUNDLE_LIMITS.maxBytes) {
    ctx.addIssue({
      code: 'custom',
      path: ['bundleMaxBytes'],
      message: `must be at most ${formatSize(BUNDLE_LIMITS.maxBytes)} (got ${JSON.stringify(tier.bundleMaxBytes)}): one ArchiveFiles invocation writes a whole bundle`,
    });
  }
  const effectiveMax = max ?? sizeBytes(DEFAULT_BUNDLE_MAX_BYTES);
  if (below !== undefined && below > 0 && effectiveMax < below) {
    ctx.addIssue({
      code: 'custom',
      path: [max !== undefined ? 'bundleMaxBytes' : 'bundleFilesBelow'],
      message:
        max !== undefined
          ? `must be at least bundleFilesBelow (${JSON.stringify(tier.bundleFilesBelow)}), or a bundle could not hold the largest file it takes (got ${JSON.stringify(tier.bundleMaxBytes)})`
          : `must be at most bundleMaxBytes (default ${DEFAULT_BUNDLE_MAX_BYTES})`,
    });
  }
}

export const TierSchema = z
  .object({
    name: z.string().regex(/^[a-z0-9][a-z0-9-]{0,31}$/, 'must be 1-32 lowercase letters, digits or dashes'),
    /** Which runs the tier takes; an absent or empty match takes every run. The first matching tier wins. */
    match: TierMatchSchema.default({}),
    /** Wait after the run ends, so HealthOmics has written the run manifest log. */
    settleWait: isoDuration.default('PT5M'),
    /** Wait between the snapshot and archiving the outputs. */
    archiveAfter: isoDuration.default('P30D'),
    /** The first rule whose globs, minimum size and minimum age all hold decides a file's action. */
    files: z.array(FileRuleSchema).default([]),
    defaultAction: z.enum(FILE_ACTIONS).default('keep'),
    target: ArchiveTargetSchema.default(DEFAULT_TARGET),
    deleteSources: z.boolean().default(false),
    deleteRun: z.boolean().default(false),
    restoreTier: z.enum(RESTORE_TIERS).default('Standard'),
    /** Glacier multipart part size; absent: the smallest power of two (at least 64 MiB) that keeps a file within 10,000 parts. */
    partSizeMiB: partSizeMiB.optional(),
    /**
     * Archive files smaller than this are packed into bundles (tar archives), one archive or object per bundle, so the
     * per-archive overhead and request are paid once per bundle rather than once per file. Absent: no bundling.
     */
    bundleFilesBelow: size.optional(),
    /** A bundle's largest size (tar bytes); default DEFAULT_BUNDLE_MAX_BYTES. Only with bundleFilesBelow. */
    bundleMaxBytes: size.optional(),
  })
  .strict()
  .superRefine((tier, ctx) => {
    checkBundling(tier, ctx);
    let total: number;
    try {
      total = durationSeconds(tier.settleWait) + durationSeconds(tier.archiveAfter);
    } catch {
      return; // a malformed duration is already reported on its own key
    }
    if (total > MAX_WAIT_SECONDS) {
      ctx.addIssue({
        code: 'custom',
        path: ['archiveAfter'],
        message: `settleWait + archiveAfter is ${Math.round(total / 86400)} days; it must stay within 330 days so the archive finishes inside the one-year Step Functions execution limit`,
      });
    }
    if (tier.target.type === 's3-glacier' && tier.target.retainFor !== undefined) {
      let seconds: number | undefined;
      try {
        seconds = durationSeconds(tier.target.retainFor);
      } catch {
        // reported on its own key
      }
      if (seconds !== undefined && (seconds <= 0 || seconds > MAX_RETENTION_YEARS * 365 * 86400)) {
        ctx.addIssue({
          code: 'custom',
          path: ['target', 'retainFor'],
          message: `must be longer than zero and at most ${MAX_RETENTION_YEARS} years (got "${tier.target.retainFor}")`,
        });
      }
    }
    if (tier.target.type === 's3-glacier' && tier.target.retentionMode !== undefined && tier.target.retainFor === undefined) {
      ctx.addIssue({ code: 'custom', path: ['target', 'retentionMode'], message: 'applies only with retainFor (how long to retain)' });
    }
    if (tier.target.type === 's3-glacier' && tier.partSizeMiB !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['partSizeMiB'], message: 'applies only to the glacier-vault target' });
    } else if (tier.partSizeMiB !== undefined && transferMemoryMiB(tier.partSizeMiB * MIB) > ARCHIVE_FILES_MEMORY_MIB) {
      const inFlight = vaultPartsInFlight(tier.partSizeMiB * MIB);
      ctx.addIssue({
        code: 'custom',
        path: ['partSizeMiB'],
        message:
          `${tier.partSizeMiB} MiB parts (${inFlight} in memory at once) need about ${transferMemoryMiB(tier.partSizeMiB * MIB)} MiB, ` +
          `more than the ArchiveFiles function's ${ARCHIVE_FILES_MEMORY_MIB} MB: use at most ${largestVaultPartSizeMiB()}`,
      });
    }
  });

export const ImportsSchema = z
  .object({
    runIndexTableName: z.string().min(3).optional(),
    snapshotBucketName: z.string().min(3).optional(),
    vaultName: z.string().min(1).optional(),
    /** Bucket for the s3-glacier target (objects copied into a Glacier storage class). */
    archiveBucketName: z.string().min(3).optional(),
  })
  .strict();

const reservation = z.number().int().min(1, 'must be at least 1 (0 would stop the function from running at all)');

/** Reserved concurrency of the fan-out functions, checked against what Lambda lets an account reserve. */
export const ReservedConcurrencySchema = z
  .object({
    /** Caps ArchiveRun's per-item function (all runs together), so a backfill cannot take the account's whole pool. */
    archiveFiles: reservation.optional(),
    /** Caps RestoreRun's copy-back function (all restores together). */
    copyRestoredFile: reservation.optional(),
    /** The account's Regional concurrent-executions quota (Service Quotas); reservations must leave 100 of it unreserved. */
    accountLimit: z.number().int().min(LAMBDA_CONCURRENCY_LIMITS.minUnreserved).default(LAMBDA_CONCURRENCY_LIMITS.defaultAccountLimit),
  })
  .strict();

export const ArchiverConfigSchema = z
  .object({
    /** Buckets HealthOmics writes run outputs to: the archiver reads (and, where a tier says so, deletes) there. */
    outputBuckets: nonEmptyStrings,
    /** Further buckets a restore may write to; a restore to the original location needs nothing here. */
    restoreBuckets: z.array(z.string().min(3)).default([]),
    /**
     * The KMS keys of SSE-KMS output and restore buckets: the functions that read outputs may Decrypt with them, and
     * those that write restores may also GenerateDataKey. Buckets with SSE-S3 need nothing here.
     */
    kmsKeyArns: z.array(kmsKeyArn).default([]),
    imports: ImportsSchema.default({}),
    tiers: z.array(TierSchema).min(1),
    /** Distributed Map concurrency for archiving one run's files. */
    archiveConcurrency: z.number().int().min(1).max(1000).default(10),
    /**
     * Distributed Map concurrency for restoring one request's files: an item mostly waits for its retrieval (hours,
     * at no cost), so this bounds how many retrievals run at once. At most 10,000, Distributed Map's own limit.
     */
    restoreConcurrency: z.number().int().min(1).max(DISTRIBUTED_MAP_LIMITS.maxConcurrency).default(DEFAULT_RESTORE_CONCURRENCY),
    /** Small files are grouped into one Map item up to this many files and bytes. */
    groupMaxFiles: z.number().int().min(1).max(10000).default(100),
    groupMaxBytes: size.default('256 MiB'),
    /** Where alarms go; absent: the alarm topic has no subscription. */
    alarmEmail: z.email().optional(),
    /** Email addresses subscribed to the restore-events topic (each confirms by email); none by default. */
    restoreNotificationEmails: z
      .array(z.email({ message: 'must be an email address' }))
      .max(100, 'at most 100 addresses (subscribe a list or a queue for more)')
      .refine((emails) => new Set(emails.map((e) => e.toLowerCase())).size === emails.length, { message: 'lists an address twice' })
      .default([]),
    /** Days every log group keeps its events; CloudWatch Logs accepts only the values in LOG_RETENTION_DAYS. */
    logRetentionDays: z
      .number()
      .int()
      .refine((days) => (LOG_RETENTION_DAYS as readonly number[]).includes(days), {
        message: `must be one of ${LOG_RETENTION_DAYS.join(', ')} (the retention periods CloudWatch Logs accepts)`,
      })
      .default(365),
    /** Log each state's input and output with the workflows' events (run metadata, paths, task tokens): off by default. */
    logExecutionData: z.boolean().default(false),
    /**
     * Log a HealthOmics run's `parameters` (its inputs: sample names, reference paths) where the functions log a run;
     * off by default, when they log as "[redacted]". The snapshot in S3 and the index keep them whole either way.
     */
    logRunParameters: z.boolean().default(false),
    /**
     * A customer-managed KMS key (its key ARN) for the run index and the snapshot and archive buckets the stack
     * creates; absent: AWS-owned/managed keys (SSE-S3, DynamoDB's own). Not with customerManagedKey.
     */
    encryptionKeyArn: kmsKeyArn
      .refine((arn) => parseKmsKeyArn(arn)?.kind !== 'alias', { message: 'must be a key ARN (arn:aws:kms:<region>:<account>:key/<key id>), not an alias ARN' })
      .optional(),
    /** The stack creates a customer-managed KMS key (rotated yearly, kept on destroy) for the same resources. */
    customerManagedKey: z.boolean().default(false),
    /** The daily sweep for runs that no event announced looks back this many days (older ones: the backfill command). */
    reconcileLookbackDays: z.number().int().min(1).max(365).default(7),
    /** Reserved concurrency for the functions Distributed Maps fan out to; absent: none (they share the account's pool). */
    reservedConcurrency: ReservedConcurrencySchema.default({ accountLimit: LAMBDA_CONCURRENCY_LIMITS.defaultAccountLimit }),
  })
  .strict()
  .superRefine((config, ctx) => {
    const { accountLimit, archiveFiles = 0, copyRestoredFile = 0 } = config.reservedConcurrency;
    const allowed = accountLimit - LAMBDA_CONCURRENCY_LIMITS.minUnreserved;
    if (archiveFiles + copyRestoredFile > allowed) {
      ctx.addIssue({
        code: 'custom',
        path: ['reservedConcurrency'],
        message:
          `archiveFiles + copyRestoredFile is ${archiveFiles + copyRestoredFile}; Lambda keeps ${LAMBDA_CONCURRENCY_LIMITS.minUnreserved} of the ` +
          `account's ${accountLimit} concurrent executions unreserved, so at most ${allowed} may be reserved (set accountLimit if the account's quota is higher)`,
      });
    }
    if (config.customerManagedKey && config.encryptionKeyArn !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['customerManagedKey'], message: 'set either customerManagedKey or encryptionKeyArn, not both' });
    }
    const seen = new Set<string>();
    config.tiers.forEach((tier, i) => {
      if (seen.has(tier.name)) ctx.addIssue({ code: 'custom', path: ['tiers', i, 'name'], message: `duplicate tier name "${tier.name}"` });
      seen.add(tier.name);
    });
  });

export type ArchiverConfig = z.output<typeof ArchiverConfigSchema>;
export type ArchiverConfigInput = z.input<typeof ArchiverConfigSchema>;
export type Tier = z.output<typeof TierSchema>;
export type FileRule = z.output<typeof FileRuleSchema>;
export type TierMatch = z.output<typeof TierMatchSchema>;
export type ArchiveTarget = z.output<typeof ArchiveTargetSchema>;
export type S3GlacierTarget = z.output<typeof S3GlacierTargetSchema>;

/** A configuration error that names every bad key, e.g. `omicsArchiver.tiers[1].partSizeMiB: must be a power of two ...`. */
export class ConfigError extends Error {
  constructor(
    readonly source: string,
    readonly problems: string[],
  ) {
    super(`Invalid ${source}:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

function keyPath(root: string, path: readonly PropertyKey[]): string {
  return path.reduce<string>((acc, part) => (typeof part === 'number' ? `${acc}[${part}]` : `${acc}.${String(part)}`), root);
}

function describeIssue(root: string, issue: z.core.$ZodIssue): string[] {
  if (issue.code === 'unrecognized_keys') {
    return issue.keys.map((key) => `${keyPath(root, [...issue.path, key])}: unknown key`);
  }
  if (issue.code === 'invalid_union' && 'note' in issue && issue.note === 'No matching discriminator') {
    return [`${keyPath(root, issue.path)}: must be one of "glacier-vault", "s3-glacier"`];
  }
  if (issue.code === 'invalid_type' && issue.message.endsWith('received undefined')) {
    return [`${keyPath(root, issue.path)}: required (${issue.expected})`];
  }
  if (issue.code === 'too_small' && issue.origin === 'array') {
    return [`${keyPath(root, issue.path)}: must list at least ${String(issue.minimum)} item${Number(issue.minimum) === 1 ? '' : 's'}`];
  }
  if (issue.code === 'invalid_value') {
    return [`${keyPath(root, issue.path)}: must be one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}`];
  }
  // Zod's stock wording ("Too small: expected string to have >=1 characters") reads poorly next to a key path.
  if (issue.code === 'invalid_type') {
    const received = /received (\w+)$/.exec(issue.message)?.[1];
    const expected = issue.expected === 'int' ? 'an integer' : `${/^[aeiou]/.test(issue.expected) ? 'an' : 'a'} ${issue.expected}`;
    return [`${keyPath(root, issue.path)}: must be ${expected}${received ? ` (got ${received})` : ''}`];
  }
  if (issue.code === 'too_small' && issue.origin === 'string') {
    return [`${keyPath(root, issue.path)}: ${Number(issue.minimum) <= 1 ? 'must not be empty' : `must be at least ${String(issue.minimum)} characters long`}`];
  }
  if ((issue.code === 'too_small' || issue.code === 'too_big') && (issue.origin === 'number' || issue.origin === 'int')) {
    const bound = issue.code === 'too_small' ? issue.minimum : issue.maximum;
    const relation =
      issue.code === 'too_small' ? (issue.inclusive === false ? 'greater than' : 'at least') : issue.inclusive === false ? 'less than' : 'at most';
    return [`${keyPath(root, issue.path)}: must be ${relation} ${String(bound)}`];
  }
  if (issue.code === 'invalid_format' && issue.format === 'email') {
    return [`${keyPath(root, issue.path)}: must be an email address such as ops@example.org`];
  }
  return [`${keyPath(root, issue.path)}: ${issue.message}`];
}

/** Validates raw configuration (cdk context or a policy file); throws ConfigError naming each bad key. */
export function parseConfig(raw: unknown, source = `cdk context "${CONTEXT_KEY}"`): ArchiverConfig {
  if (raw === undefined || raw === null) {
    throw new ConfigError(source, [`${CONTEXT_KEY}: missing; add it to cdk.json "context" (see docs/configuration.md)`]);
  }
  const result = ArchiverConfigSchema.safeParse(raw);
  if (!result.success)
    throw new ConfigError(
      source,
      result.error.issues.flatMap((issue) => describeIssue(CONTEXT_KEY, issue)),
    );
  return result.data;
}

/**
 * The automatic part size starts here: Glacier bills each part as a request, so a 100 GB file costs 1,600 requests in
 * 64 MiB parts against 12,800 in 8 MiB ones, and two 64 MiB parts in flight are nothing to a 1,769 MB function.
 */
export const DEFAULT_MIN_PART_SIZE_MIB = 64;

/** Part size for a file: the tier's, or the smallest power of two from 64 MiB that keeps it within 10,000 parts. */
export function partSizeFor(tier: Pick<Tier, 'partSizeMiB'>, fileSize: number): number {
  if (tier.partSizeMiB) {
    const chosen = tier.partSizeMiB * MIB;
    if (Math.ceil(fileSize / chosen) <= GLACIER_LIMITS.maxParts) return chosen;
  }
  let part = DEFAULT_MIN_PART_SIZE_MIB * MIB;
  while (Math.ceil(fileSize / part) > GLACIER_LIMITS.maxParts && part < MAX_PART_SIZE_MIB * MIB) part *= 2;
  return part;
}

/**
 * Part size of a multipart S3 copy: the target's `partSize`, or the smallest power of two MiB from 64 MiB that keeps
 * the file within 10,000 parts, or 5 GiB (S3's largest part) for files beyond 10,000 × 4 GiB.
 */
export function s3PartSizeFor(target: Pick<S3GlacierTarget, 'partSize'>, fileSize: number): number {
  if (target.partSize !== undefined) {
    const chosen = sizeBytes(target.partSize);
    if (Math.ceil(fileSize / chosen) <= S3_LIMITS.maxParts) return chosen;
  }
  let part = DEFAULT_MIN_PART_SIZE_MIB * MIB;
  while (Math.ceil(fileSize / part) > S3_LIMITS.maxParts && part * 2 <= S3_LIMITS.maxPartBytes) part *= 2;
  return Math.ceil(fileSize / part) > S3_LIMITS.maxParts ? S3_LIMITS.maxPartBytes : part;
}

/** The memory the CopyRestoredFile function needs to copy the largest archive: it holds one range at a time. */
export const COPY_RESTORED_FILE_MEMORY_MIB = Math.min(LAMBDA_LIMITS.maxMemoryMiB, transferMemoryMiB(jobOutputRangeSize(GLACIER_LIMITS.maxArchiveBytes), 1));
