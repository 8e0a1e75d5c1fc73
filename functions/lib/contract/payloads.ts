// What travels between the workflows' states: the archive execution input, archive work items, restore requests and items.
import { z } from 'zod';
import { RESTORE_TIERS, type Tier } from './config';

/** One output file as the archive step needs it. */
export const PlannedFileSchema = z.object({
  path: z.string(),
  bucket: z.string(),
  key: z.string(),
  size: z.number().int().nonnegative(),
  etag: z.string().optional(),
});
export type PlannedFile = z.infer<typeof PlannedFileSchema>;

/**
 * One Distributed Map item of the archive workflow: a large file alone, or a group of small ones. The plan groups
 * files itself instead of using ItemBatcher, so the grouping is deterministic and runs the same locally.
 */
export const WorkItemSchema = z.object({
  files: z.array(PlannedFileSchema).min(1),
  bytes: z.number().int().nonnegative(),
});
export type WorkItem = z.infer<typeof WorkItemSchema>;

/**
 * One bundle of small files to archive as one tar archive. Its members are in its manifest, not in the item: a Map
 * item's input is at most 256 KiB, and a bundle holds up to 10,000 paths.
 */
export const BundleItemSchema = z.object({
  bundle: z.object({
    id: z.string().min(1),
    members: z.number().int().positive(),
    /** Tar bytes: headers, data, padding and the end-of-archive blocks. */
    size: z.number().int().positive(),
    manifest: z.object({ bucket: z.string().min(1), key: z.string().min(1) }),
  }),
  /** The members' bytes (without tar headers). */
  bytes: z.number().int().nonnegative(),
});
export type BundleItem = z.infer<typeof BundleItemSchema>;

/** What the archive plan lists for the Map: file groups (WorkItem) and bundles. */
export const PlanItemSchema = z.union([WorkItemSchema, BundleItemSchema]);
export type PlanItem = z.infer<typeof PlanItemSchema>;
export const isBundleItem = (item: PlanItem): item is BundleItem => 'bundle' in item;

/** One member of a bundle as the plan laid it out: the source it is read from and where its data sits in the tar. */
export const BundleMemberSchema = z.object({
  path: z.string(),
  bucket: z.string(),
  key: z.string(),
  size: z.number().int().nonnegative(),
  etag: z.string().optional(),
  /** Seconds since the epoch, the tar header's mtime. */
  mtime: z.number().int().nonnegative(),
  /** Where the member's data starts in the tar (after its headers). */
  offset: z.number().int().nonnegative(),
});
export type BundleMember = z.infer<typeof BundleMemberSchema>;

/** A bundle's manifest (layout.ts bundleManifestKey): its members in tar order. */
export const BundleManifestSchema = z.object({
  runUuid: z.string().min(1),
  bundleId: z.string().min(1),
  /** Tar bytes. */
  size: z.number().int().positive(),
  members: z.array(BundleMemberSchema).min(1),
});
export type BundleManifest = z.infer<typeof BundleManifestSchema>;

/** The members' SHA-256s (hex, in manifest order), written before the bundle's upload completes. */
export const BundleDigestsSchema = z.object({ bundleId: z.string().min(1), sha256: z.array(z.string().regex(/^[0-9a-f]{64}$/)) });
export type BundleDigests = z.infer<typeof BundleDigestsSchema>;

/** The settings of the archiver that travel with each execution. */
export const ArchiveSettingsSchema = z.object({
  archiveConcurrency: z.number().int().positive(),
  groupMaxFiles: z.number().int().positive(),
  groupMaxBytes: z.number().int().positive(),
});

/** What the archive workflow receives; everything the tier says travels with it, so a policy change never alters a running archive. */
export interface ArchiveExecutionInput {
  runId: string;
  runUuid: string;
  runArn: string;
  status: string;
  tier: Tier;
  waits: { settleSeconds: number; archiveAfterSeconds: number };
  settings: z.infer<typeof ArchiveSettingsSchema>;
}

/** What an operator asks for, from the console or `omics-archiver restore`. */
export const RestoreRequestSchema = z
  .object({
    /** Run id or uuid; `runId` and `runUuid` are accepted too. */
    run: z.string().min(1).optional(),
    runId: z.string().regex(/^\d+$/).optional(),
    runUuid: z.string().min(1).optional(),
    /** Globs over paths in the run's output folder, with or without the leading `out/`; absent: every archived file. */
    files: z.array(z.string().min(1)).min(1).optional(),
    tier: z.enum(RESTORE_TIERS).optional(),
    /** `s3://bucket/prefix/`; absent: each file's original location. */
    destination: z.string().optional(),
    /** How long to wait for the vault's job notification before polling (seconds); defaults by tier. */
    notificationWaitSeconds: z
      .number()
      .int()
      .min(1)
      .max(86400 * 2)
      .optional(),
    /** How often to poll once the notification wait is over (seconds); defaults by tier. */
    pollSeconds: z.number().int().min(1).max(86400).optional(),
  })
  .strict()
  .refine((r) => r.run ?? r.runId ?? r.runUuid, { message: 'name the run: "run" (its id or uuid), "runId" or "runUuid"' });
export type RestoreRequest = z.infer<typeof RestoreRequestSchema>;

/** How a file comes back: a vault job, an S3 restore of a Glacier-class object, or nothing to retrieve. */
export const RETRIEVALS = ['vault-job', 's3-restore', 'none'] as const;
export type Retrieval = (typeof RETRIEVALS)[number];

/** One Map item of the restore workflow: everything needed to bring one file back, so no step has to read the run again. */
export const RestoreItemSchema = z.object({
  runUuid: z.string().min(1),
  restoreId: z.string().min(1),
  path: z.string().min(1),
  size: z.number().int().nonnegative(),
  retrieval: z.enum(RETRIEVALS),
  tier: z.enum(RESTORE_TIERS),
  sha256: z.string().optional(),
  treeHash: z.string().optional(),
  /** The CRC64NVME S3 verified the s3-glacier copy with (base64); the restored copy must have it too. */
  crc64nvme: z.string().optional(),
  vaultName: z.string().optional(),
  archiveId: z.string().optional(),
  archiveBucket: z.string().optional(),
  archiveKey: z.string().optional(),
  archiveVersionId: z.string().optional(),
  storageClass: z.string().optional(),
  destinationBucket: z.string().min(1),
  destinationKey: z.string().min(1),
  notificationWaitSeconds: z.number().int().positive(),
  pollSeconds: z.number().int().positive(),
  /**
   * Present when the item brings back members of one bundle: one item (one retrieval) for all of them. `path` and the
   * destination are then the first member's, whose restore record carries the retrieval (job, task token); the archive
   * fields name the bundle's archive or object, and `members` lists where each requested member is.
   */
  bundle: z
    .object({
      id: z.string().min(1),
      /** The bundle's tar bytes. */
      size: z.number().int().positive(),
      /** Requested members, and where their list is (restoreBundleMembersKey). */
      members: z.number().int().positive(),
      membersBucket: z.string().min(1),
      membersKey: z.string().min(1),
      /**
       * The vault retrieval's RetrievalByteRange, inclusive: megabyte aligned (start a multiple of 1 MiB, end + 1 a
       * multiple of 1 MiB or the archive's end) around the requested members. Absent: the whole archive.
       */
      range: z.object({ start: z.number().int().nonnegative(), end: z.number().int().nonnegative() }).optional(),
    })
    .optional(),
});
export type RestoreItem = z.infer<typeof RestoreItemSchema>;

/** One member a bundle restore brings back: where its bytes are in the bundle, what they hash to, where they go. */
export const RestoreBundleMemberSchema = z.object({
  path: z.string().min(1),
  offset: z.number().int().nonnegative(),
  length: z.number().int().nonnegative(),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  destinationBucket: z.string().min(1),
  destinationKey: z.string().min(1),
});
export type RestoreBundleMember = z.infer<typeof RestoreBundleMemberSchema>;

/** What a Catch with `ResultPath` puts in the state. */
export const WorkflowErrorSchema = z.object({ Error: z.string().nullish(), Cause: z.string().nullish() });
export type WorkflowError = z.infer<typeof WorkflowErrorSchema>;
