// What archiving a run's files to a tier costs: storage before and after, the one-time requests, the minimum-duration commitment, each restore tier.
import { partSizeFor, RESTORE_TIERS, s3PartSizeFor, sizeBytes, type FileAction, type RestoreTier, type Tier } from '../contract';
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
}

export type CostTier = Pick<Tier, 'name' | 'target' | 'deleteSources' | 'partSizeMiB'>;

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

/** The requests one file takes to archive, as the archive step sends them. */
function archiveRequests(tier: CostTier, size: number): number {
  const target = tier.target;
  if (target.type === 'glacier-vault') {
    // An empty file is recorded, not uploaded (vault-upload.ts); up to one part is one UploadArchive.
    if (size === 0) return 0;
    const part = partSizeFor(tier, size);
    return size <= part ? 1 : Math.ceil(size / part) + 2;
  }
  if (size <= sizeBytes(target.multipartAbove)) return 1;
  return Math.ceil(size / s3PartSizeFor(target, size)) + 2;
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

  const billableArchive = archived.reduce((s, f) => s + Math.max(f.size, rates.minimumBillableKb * KB) + rates.overheadKbAtClassRate * KB, 0);
  const standardAfter = remainingBytes + (tier.deleteSources ? 0 : archivedBytes) + archived.length * rates.overheadKbAtStandardRate * KB;
  const now = (bytes / GB) * standard.storagePerGbMonth;
  const afterArchive = (billableArchive / GB) * rates.storagePerGbMonth;
  const afterStandard = (standardAfter / GB) * standard.storagePerGbMonth;

  const requests = archived.reduce((s, f) => s + archiveRequests(tier, f.size), 0);
  // A vault has no retrieval for an empty file (nothing was uploaded); S3 classes hold an object for every file.
  const retrieved = archiveClass === 'VAULT' ? archived.filter((f) => f.size > 0).length : archived.length;
  const copyBackRequests = archived.reduce((s, f) => s + Math.max(1, Math.ceil(f.size / COPY_BACK_RANGE_BYTES)), 0);

  const restore = RESTORE_TIERS.map((asked): RestoreCost => {
    const retrievalTier: RetrievalPriceTier = archiveClass === 'GLACIER_IR' ? 'Instant' : rates.retrieval[asked] ? asked : 'Standard';
    const price = rates.retrieval[retrievalTier] ?? { perGb: 0, per1000Requests: 0 };
    const retrieval = (archivedBytes / GB) * price.perGb;
    const requestFee = (retrieved / 1000) * price.per1000Requests;
    const copyBack = (copyBackRequests / 1000) * standard.putPer1000;
    const temporaryCopy =
      archiveClass === 'GLACIER' || archiveClass === 'DEEP_ARCHIVE'
        ? (archivedBytes / GB) * standard.storagePerGbMonth * (S3_RESTORE_DAYS / DAYS_PER_MONTH)
        : 0;
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
