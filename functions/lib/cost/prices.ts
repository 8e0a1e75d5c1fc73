// The price table the cost estimate uses: us-east-1 list prices as documented, and `--prices` overrides merged onto it.
import { z } from 'zod';

/** Where a tier's archived bytes live, as the price table names them: the S3 Glacier storage classes or a vault. */
export const ARCHIVE_PRICE_CLASSES = ['GLACIER', 'DEEP_ARCHIVE', 'GLACIER_IR', 'VAULT'] as const;
export type ArchivePriceClass = (typeof ARCHIVE_PRICE_CLASSES)[number];

/** Retrieval tiers with a price; GLACIER_IR objects are read in place, so its one retrieval price is `Instant`. */
export const RETRIEVAL_PRICE_TIERS = ['Expedited', 'Standard', 'Bulk', 'Instant'] as const;
export type RetrievalPriceTier = (typeof RETRIEVAL_PRICE_TIERS)[number];

const price = z.number().nonnegative();

const RetrievalPriceSchema = z.object({ perGb: price, per1000Requests: price }).strict();

export const ArchiveClassPricesSchema = z
  .object({
    storagePerGbMonth: price,
    /** PUT, COPY, POST and lifecycle-transition requests into the class (a vault: UploadArchive and each multipart request). */
    requestsPer1000: price,
    /** Deleting or moving an object earlier is billed as if it stayed this long. */
    minimumDays: z.number().int().nonnegative(),
    /** Per-object overhead billed at the class's own rate (index data). */
    overheadKbAtClassRate: z.number().nonnegative(),
    /** Per-object overhead billed at S3 Standard rates (the object's name and metadata, kept for LIST). */
    overheadKbAtStandardRate: z.number().nonnegative(),
    /** Objects smaller than this are billed as this size. */
    minimumBillableKb: z.number().nonnegative(),
    /** The retrieval tiers the class offers; a tier absent here is not offered. */
    retrieval: z.partialRecord(z.enum(RETRIEVAL_PRICE_TIERS), RetrievalPriceSchema),
  })
  .strict();
export type ArchiveClassPrices = z.infer<typeof ArchiveClassPricesSchema>;

export const PriceTableSchema = z
  .object({
    region: z.string().min(1),
    currency: z.string().min(1),
    /** When and where the prices were read. */
    asOf: z.string().min(1),
    source: z.string().min(1),
    standard: z.object({ storagePerGbMonth: price, putPer1000: price, getPer1000: price }).strict(),
    classes: z
      .object({
        GLACIER: ArchiveClassPricesSchema,
        DEEP_ARCHIVE: ArchiveClassPricesSchema,
        GLACIER_IR: ArchiveClassPricesSchema,
        VAULT: ArchiveClassPricesSchema,
      })
      .strict(),
  })
  .strict();
export type PriceTable = z.infer<typeof PriceTableSchema>;

/**
 * us-east-1 list prices (USD) from the Amazon S3 pricing page (https://aws.amazon.com/s3/pricing/: storage, requests,
 * retrieval) and the Amazon S3 Glacier (vault) pricing page, as docs/cost.md and docs/restore.md quote them, read
 * 2025-12. Storage is the first-50-TB band of S3 Standard; AWS bills a GB as 2^30 bytes. Overheads and minimums:
 * the S3 user guide's storage class comparison (https://docs.aws.amazon.com/AmazonS3/latest/userguide/storage-class-intro.html).
 * A vault has the Flexible Retrieval prices, and only the 32 KB index overhead (no S3 object to list).
 */
export const DEFAULT_PRICES: PriceTable = {
  region: 'us-east-1',
  currency: 'USD',
  asOf: '2025-12',
  source: 'https://aws.amazon.com/s3/pricing/ and https://aws.amazon.com/s3/glacier/pricing/',
  standard: { storagePerGbMonth: 0.023, putPer1000: 0.005, getPer1000: 0.0004 },
  classes: {
    GLACIER: {
      storagePerGbMonth: 0.0036,
      requestsPer1000: 0.03,
      minimumDays: 90,
      overheadKbAtClassRate: 32,
      overheadKbAtStandardRate: 8,
      minimumBillableKb: 0,
      retrieval: {
        Expedited: { perGb: 0.03, per1000Requests: 10 },
        Standard: { perGb: 0.01, per1000Requests: 0.05 },
        Bulk: { perGb: 0, per1000Requests: 0 },
      },
    },
    DEEP_ARCHIVE: {
      storagePerGbMonth: 0.00099,
      requestsPer1000: 0.05,
      minimumDays: 180,
      overheadKbAtClassRate: 32,
      overheadKbAtStandardRate: 8,
      minimumBillableKb: 0,
      retrieval: {
        Standard: { perGb: 0.02, per1000Requests: 0.1 },
        Bulk: { perGb: 0.0025, per1000Requests: 0.025 },
      },
    },
    GLACIER_IR: {
      storagePerGbMonth: 0.004,
      requestsPer1000: 0.02,
      minimumDays: 90,
      overheadKbAtClassRate: 0,
      overheadKbAtStandardRate: 0,
      minimumBillableKb: 128,
      // Data retrieval per GB and GET requests: no restore, the object is read where it is.
      retrieval: { Instant: { perGb: 0.03, per1000Requests: 0.01 } },
    },
    VAULT: {
      storagePerGbMonth: 0.0036,
      requestsPer1000: 0.05,
      minimumDays: 90,
      overheadKbAtClassRate: 32,
      overheadKbAtStandardRate: 0,
      minimumBillableKb: 0,
      retrieval: {
        Expedited: { perGb: 0.03, per1000Requests: 10 },
        Standard: { perGb: 0.01, per1000Requests: 0.05 },
        Bulk: { perGb: 0, per1000Requests: 0 },
      },
    },
  },
};

// A `--prices` file changes only what it names; every level is optional, and unknown keys are errors (a typo would
// otherwise leave the default in force without a word).
const ClassOverrideSchema = ArchiveClassPricesSchema.partial()
  .extend({ retrieval: z.partialRecord(z.enum(RETRIEVAL_PRICE_TIERS), RetrievalPriceSchema.partial().strict()).optional() })
  .strict();
export const PriceOverrideSchema = z
  .object({
    region: z.string().min(1),
    currency: z.string().min(1),
    asOf: z.string().min(1),
    source: z.string().min(1),
    standard: PriceTableSchema.shape.standard.partial().strict(),
    classes: z
      .object(
        Object.fromEntries(ARCHIVE_PRICE_CLASSES.map((c) => [c, ClassOverrideSchema.optional()])) as Record<
          ArchivePriceClass,
          z.ZodOptional<typeof ClassOverrideSchema>
        >,
      )
      .strict(),
  })
  .partial()
  .strict();
export type PriceOverride = z.infer<typeof PriceOverrideSchema>;

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

function merge(base: unknown, override: unknown): unknown {
  if (!isObject(base) || !isObject(override)) return override === undefined ? base : override;
  const merged: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(override)) merged[key] = merge(base[key], value);
  return merged;
}

/** The defaults with `raw` (a `--prices` document) merged on; an error names the file and every bad key. */
export function pricesWith(raw: unknown, source: string, defaults: PriceTable = DEFAULT_PRICES): PriceTable {
  const parsed = PriceOverrideSchema.safeParse(raw);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `  - ${issue.path.length ? issue.path.join('.') : '(the document)'}: ${issue.message}`);
    throw new Error(`${source}: invalid price table:\n${problems.join('\n')}`);
  }
  return PriceTableSchema.parse(merge(defaults, parsed.data));
}
