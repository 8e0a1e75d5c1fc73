// The service limits the archiver sizes its transfers by (Glacier vault multipart, S3 multipart and CopyObject).

export const MIB = 1024 * 1024;
export const GIB = 1024 * MIB;

/** Glacier vault multipart uploads: parts of 1 MiB × 2^n up to 4 GiB, at most 10,000 of them. */
export const GLACIER_LIMITS = {
  maxPartSizeMiB: 4096,
  maxParts: 10_000,
  /** An archive is at most 10,000 × 4 GiB. */
  maxArchiveBytes: 10_000 * 4096 * MIB,
} as const;

/**
 * S3 multipart uploads and copies: parts of 5 MiB to 5 GiB (the last may be smaller), at most 10,000; CopyObject
 * copies at most 5 GiB in one request; an object is at most 10,000 × 5 GiB (S3 raised the limit from 5 TB to 50 TB).
 */
export const S3_LIMITS = {
  minPartBytes: 5 * MIB,
  maxPartBytes: 5 * GIB,
  maxParts: 10_000,
  maxSingleCopyBytes: 5 * GIB,
  maxObjectBytes: 10_000 * 5 * GIB,
  /** An object key is at most 1,024 bytes of UTF-8. */
  maxKeyBytes: 1024,
} as const;

/** Step Functions Distributed Map: at most 10,000 child executions at once (MaxConcurrency). */
export const DISTRIBUTED_MAP_LIMITS = {
  maxConcurrency: 10_000,
} as const;

/** Lambda concurrency: reservations must leave this much of the account's Regional limit unreserved; 1,000 is the default limit. */
export const LAMBDA_CONCURRENCY_LIMITS = {
  minUnreserved: 100,
  defaultAccountLimit: 1000,
} as const;

/** Lambda: a function has 128 MB to 10,240 MB of memory (Lambda's MB are MiB). */
export const LAMBDA_LIMITS = {
  maxMemoryMiB: 10_240,
} as const;

/**
 * Bundles of small files (functions/lib/bundle/): tar archives written in one pass by one ArchiveFiles invocation.
 * `maxMembers` bounds the source GETs and index writes one bundle costs (about 10 s of reads at 1,000 GETs a second);
 * `maxBytes` bounds its bytes (a few minutes at Lambda's S3 throughput), so a bundle always fits the 15 minutes even
 * when a resumed upload reads every byte again; `maxMemberBytes` bounds what is held per member, on the way in and
 * on the way back (a member is read and checked whole before it is written to its destination).
 */
export const BUNDLE_LIMITS = {
  maxMembers: 10_000,
  maxBytes: 4 * GIB,
  maxMemberBytes: 64 * MIB,
} as const;
