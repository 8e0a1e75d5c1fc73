// What archiving a run's files to a tier costs: storage before and after, the one-time requests, the minimum-duration commitment, each restore tier.
import { bundlePolicyOf, partSizeFor, RESTORE_TIERS, s3PartSizeFor, sizeBytes, type FileAction, type RestoreTier, type Tier } from '../contract';
import { isBundleCandidate, packBundles } from '../bundle/pack';
import type { ArchivePriceClass, PriceTable, RetrievalPriceTier } from './prices';

/** AWS bills storage and retrieval per GB of 2^30 bytes. */
const GB = 1024 ** 3;
const KB = 1024;
/** A restored file is copied back in ranges of this size, each an S3 request at the destination. */
const COPY_BACK_RANGE_BYTES = 64 * 1024 * 1024;
/** Days a restored copy of an S3 Glacier-class object stays in the archive bucket (functions/lib/restore/retrieval.ts). */
export const S3_RESTORE_DAYS = 3;
/** A billing month, for the prorated minimum-duration and temporary-copy charges. */
const DAYS_PER_MONTH = 30;

export interface CostFile {
  size: number;
  action: FileAction;
  /** Its path, when known: a bundle member's tar header is longer for a long path. */
  path?: string;
}

export type CostTier = Pick<Tier, 'name' | 'target' | 'deleteSources' | 'partSizeMiB' | 'bundleFilesBelow' | 'bundleMaxBytes'>;

export interface RestoreCost {
  tier: RestoreTier;
  /** The tier that actually retrieves: Deep Archive has no Expedited (Standard is used), GLACIER_IR is read in place (Instant). */
  retrievalTier: RetrievalPriceTier;
  /** Retrieval per GB. */
  retrieval: number;
  /** Retrieval requests, one per file. */
  requests: number;
  /** S3 PUT requests writing the files back to their destination. */
  copyBack: number;
  /** The restored copy S3 keeps in the archive bucket for 3 days, at S3 Standard rates (S3 Glacier classes only). */
  temporaryCopy: number;
  total: number;
}

export interface CostEstimate {
  tier: string;
  /** Where the archived bytes go: a storage class, or VAULT. */
  archiveClass: ArchivePriceClass;
  deleteSources: boolean;
  prices: { region: string; currency: string; asOf: string; source: string };
  files: { total: number; bytes: number; archived: number; archivedBytes: number; remaining: number; remainingBytes: number };
  /** The tier's bundling: files that go into bundles, how many bundles, and their tar bytes; none: every file is its own archive. */
  bundles?: { files: number; count: number; bytes: number };
  monthly: {
    /** Every file in S3 Standard, as HealthOmics left them. */
    now: number;
    /** The archived files in their class (overheads included) and what stays in S3 Standard. */
    after: number;
    afterArchive: number;
    afterStandard: number;
    saving: number;
  };
  oneTime: {
    /** PUT/COPY requests into the class (multipart: create, each part, complete), or vault upload requests. */
    requests: number;
    requestCost: number;
  };
  /** Deleting the archive sooner is billed as if it stayed this long: the least its storage can cost. */
  minimumCommitment: { days: number; cost: number };
  restore: RestoreCost[];
}

/** Cents and below are noise from binary floating point; six decimals keep the small per-request prices readable. */
const money = (value: number) => Math.round(value * 1e6) / 1e6;

const archiveClassOf = (tier: CostTier): ArchivePriceClass => (tier.target.type === 'glacier-vault' ? 'VAULT' : tier.target.storageClass);

/** One archive (or object) the tier makes: a file of its own, or a bundle of small files (`size` its tar bytes). */
interface ArchiveUnit {
  size: number;
  bundle: boolean;
}

/**
 * The requests one archive takes, as the archive step sends them. A vault upload is always multipart (initiate, each
 * part, complete), even of one part: a completed multipart upload can be completed again after a crash, an
 * UploadArchive whose answer is lost cannot (vault-upload.ts `singleRequest`). An S3 bundle of up to one part is one
 * PutObject; a larger one is create, each part, complete.
 */
function archiveRequests(tier: CostTier, unit: ArchiveUnit): number {
  const target = tier.target;
  if (target.type === 'glacier-vault') {
    // An empty file is recorded, not uploaded.
    if (unit.size === 0) return 0;
    return Math.ceil(unit.size / partSizeFor(tier, unit.size)) + 2;
  }
  const part = s3PartSizeFor(target, unit.size);
  if (unit.bundle) return unit.size <= part ? 1 : Math.ceil(unit.size / part) + 2;
  if (unit.size <= sizeBytes(target.multipartAbove)) return 1;
  return Math.ceil(unit.size / part) + 2;
}

/** The archives the tier makes of the archived files: the files bundling leaves alone, and the bundles it packs the rest into. */
function archiveUnits(archived: CostFile[], tier: CostTier): { units: ArchiveUnit[]; bundles?: CostEstimate['bundles'] } {
  const policy = bundlePolicyOf(tier);
  const candidates = archived.filter((f) => isBundleCandidate(f.size, policy));
  if (!policy || candidates.length === 0) return { units: archived.map((f) => ({ size: f.size, bundle: false })) };
  const packed = packBundles(
    candidates.map((f, i) => ({ path: f.path ?? `out/f${i}`, bucket: '', key: '', size: f.size })),
    policy,
    'estimate',
    1,
  );
  const alone = [...archived.filter((f) => !isBundleCandidate(f.size, policy)), ...packed.unbundled];
  const bundles = packed.bundles.map((b) => ({ size: b.manifest.size, bundle: true }));
  return {
    units: [...alone.map((f) => ({ size: f.size, bundle: false })), ...bundles],
    bundles: {
      files: packed.bundles.reduce((n, b) => n + b.manifest.members.length, 0),
      count: bundles.length,
      bytes: bundles.reduce((n, b) => n + b.size, 0),
    },
  };
}

/** The estimate for archiving `files` with `tier`, at `prices`; pure, so the numbers can be checked by hand. */
export function estimateCost(files: CostFile[], tier: CostTier, prices: PriceTable): CostEstimate {
  const archiveClass = archiveClassOf(tier);
  const rates = prices.classes[archiveClass];
  const standard = prices.standard;
  const archived = files.filter((f) => f.action === 'archive');
  const bytes = files.reduce((s, f) => s + f.size, 0);
  const archivedBytes = archived.reduce((s, f) => s + f.size, 0);
  const remainingBytes = bytes - archivedBytes;

  // Storage, overheads, archive requests and retrievals are per archive: a bundle's members share one.
  const { units, bundles } = archiveUnits(archived, tier);
  const storedBytes = units.reduce((s, u) => s + u.size, 0);
  const billableArchive = units.reduce((s, u) => s + Math.max(u.size, rates.minimumBillableKb * KB) + rates.overheadKbAtClassRate * KB, 0);
  const standardAfter = remainingBytes + (tier.deleteSources ? 0 : archivedBytes) + units.length * rates.overheadKbAtStandardRate * KB;
  const now = (bytes / GB) * standard.storagePerGbMonth;
  const afterArchive = (billableArchive / GB) * rates.storagePerGbMonth;
  const afterStandard = (standardAfter / GB) * standard.storagePerGbMonth;

  const requests = units.reduce((s, u) => s + archiveRequests(tier, u), 0);
  // A vault has no retrieval for an empty file (nothing was uploaded); S3 classes hold an object for every file. A
  // bundle is retrieved once for all of its members.
  const retrieved = archiveClass === 'VAULT' ? units.filter((u) => u.size > 0).length : units.length;
  const copyBackRequests = archived.reduce((s, f) => s + Math.max(1, Math.ceil(f.size / COPY_BACK_RANGE_BYTES)), 0);

  const restore = RESTORE_TIERS.map((asked): RestoreCost => {
    const retrievalTier: RetrievalPriceTier = archiveClass === 'GLACIER_IR' ? 'Instant' : rates.retrieval[asked] ? asked : 'Standard';
    const price = rates.retrieval[retrievalTier] ?? { perGb: 0, per1000Requests: 0 };
    // Every archived file back: each bundle whole (its tar bytes).
    const retrieval = (storedBytes / GB) * price.perGb;
    const requestFee = (retrieved / 1000) * price.per1000Requests;
    const copyBack = (copyBackRequests / 1000) * standard.putPer1000;
    const temporaryCopy =
      archiveClass === 'GLACIER' || archiveClass === 'DEEP_ARCHIVE' ? (storedBytes / GB) * standard.storagePerGbMonth * (S3_RESTORE_DAYS / DAYS_PER_MONTH) : 0;
    return {
      tier: asked,
      retrievalTier,
      retrieval: money(retrieval),
      requests: money(requestFee),
      copyBack: money(copyBack),
      temporaryCopy: money(temporaryCopy),
      total: money(retrieval + requestFee + copyBack + temporaryCopy),
    };
  });

  return {
    tier: tier.name,
    archiveClass,
    deleteSources: tier.deleteSources,
    prices: { region: prices.region, currency: prices.currency, asOf: prices.asOf, source: prices.source },
    files: { total: files.length, bytes, archived: archived.length, archivedBytes, remaining: files.length - archived.length, remainingBytes },
    ...(bundles && { bundles }),
    monthly: {
      now: money(now),
      after: money(afterArchive + afterStandard),
      afterArchive: money(afterArchive),
      afterStandard: money(afterStandard),
      saving: money(now - afterArchive - afterStandard),
    },
    oneTime: { requests, requestCost: money((requests / 1000) * rates.requestsPer1000) },
    minimumCommitment: { days: rates.minimumDays, cost: money(afterArchive * (rates.minimumDays / DAYS_PER_MONTH)) },
    restore,
  };
}

/** `count` files of equal size summing to `totalBytes`, all archived: a hypothetical run for `cost --size --files`. */
export function hypotheticalFiles(totalBytes: number, count: number): CostFile[] {
  const each = Math.floor(totalBytes / count);
  return Array.from({ length: count }, (_, i) => ({ size: i === 0 ? totalBytes - each * (count - 1) : each, action: 'archive' as const }));
}
