// Archives one bundle of small files: its tar streamed into the vault (or into one S3 Glacier-class object), then each member recorded where it is in it.
//
// The bundle is the unit of work, as a file is in archive-files.ts, with the same safeguards: one worker claims it
// (claimBundle), progress and the intent to complete are recorded before they matter, a later claimant aborts
// uploads a crashed attempt left unrecorded, and a resumed upload reads its members again to check the parts already
// there (vault-upload.ts, source-upload.ts). Members are ARCHIVED only once the bundle is: each gets its place in the
// tar (offset of its data, length) and its SHA-256, computed as it streamed past and saved beside the manifest before
// the upload completed, so a crash between the two never loses them. Sources are deleted last, as for single files.
import type { GlacierClient } from '@aws-sdk/client-glacier';
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { randomUUID } from 'node:crypto';
import {
  BundleDigestsSchema,
  BundleManifestSchema,
  bundleDigestsKey,
  bundleObjectKey,
  partSizeFor,
  s3PartSizeFor,
  type BundleDigests,
  type BundleItem,
  type BundleManifest,
  type Tier,
} from '../contract';
import { bundleSource, type BundleSource } from '../bundle/bundle-source';
import { tarLayout } from '../bundle/tar';
import { uploadToVault, type UploadResult } from '../glacier/vault-upload';
import { CLAIM_SLACK_MS, FileClaimedError, StateConflictError, type BundleRecord, type RunIndex } from '../index/run-index';
import { mapBounded } from '../runtime/bounded';
import { describeWorkflowError, type WorkflowError } from '../runtime/workflow-error';
import { s3ByteSource } from '../s3/byte-source';
import { readJsonObject } from '../s3/json-object';
import { uploadSourceToS3 } from '../s3/source-upload';
import { abortStrayS3Uploads, abortStrayVaultUploads, pickUpVaultUpload } from './stray-uploads';
import { COPY_CHECKSUM_ALGORITHM } from '../s3/verified-copy';
import {
  CLAIM_ENDED,
  DEADLINE_MARGIN_MS,
  NO_VAULT,
  PERMANENT_ERRORS,
  partConcurrency,
  reasonOf,
  removeSource,
  retainCopy,
  type ItemResult,
} from './archive-files';

export interface ArchiveBundleArgs {
  s3: S3Client;
  glacier: GlacierClient;
  index: RunIndex;
  vaultName?: string;
  archiveBucket?: string;
  runUuid: string;
  item: BundleItem;
  tier: Pick<Tier, 'target' | 'deleteSources' | 'partSizeMiB'>;
  /** Epoch ms by which the invocation must have returned. */
  deadline: number;
  claimOwner?: string;
  now?: () => Date;
  /** Members read ahead of the one being written (bundle-source.ts); tests make it small. */
  readAhead?: { members: number; bytes: number };
}

type Ctx = ArchiveBundleArgs & { claimOwner: string; bundleId: string };

/** Member records written at once, and how many go between two checks of the deadline and a note of progress. */
const MEMBER_WRITES_IN_FLIGHT = 16;
const MEMBERS_PER_STEP = 200;

/** Glacier archive descriptions must be printable ASCII; a bundle's names the run and the bundle (its id is ASCII). */
export const bundleArchiveDescription = (runUuid: string, bundleId: string) => JSON.stringify({ runUuid, bundle: bundleId });

/** The manifest as the plan wrote it, checked against the bundle record and against the tar layout it implies. */
async function loadManifest(ctx: Ctx, record: BundleRecord): Promise<BundleManifest> {
  const manifest = BundleManifestSchema.parse(await readJsonObject(ctx.s3, ctx.item.bundle.manifest.bucket, ctx.item.bundle.manifest.key));
  const layout = tarLayout(manifest.members);
  const offsetsAgree = manifest.members.every((m, i) => m.offset === layout.offsets[i]);
  if (
    manifest.bundleId !== ctx.bundleId ||
    manifest.size !== record.size ||
    manifest.members.length !== record.members ||
    layout.size !== manifest.size ||
    !offsetsAgree
  ) {
    throw new Error(`the manifest of bundle ${ctx.bundleId} (${ctx.item.bundle.manifest.key}) does not match its record or its own layout`);
  }
  return manifest;
}

function sourceOf(ctx: Ctx, manifest: BundleManifest): BundleSource {
  return bundleSource({
    manifest,
    // Pinned to the ETag the plan listed, as single files are: a member changed since makes the read fail.
    readMember: (m) => s3ByteSource(ctx.s3, m.bucket, m.key, m.size, { etag: m.etag }).read(0, m.size - 1),
    readAhead: ctx.readAhead,
  });
}

/** Saved before the upload completes: the members' SHA-256s, which the bundle's record cannot hold (up to 10,000). */
async function saveDigests(ctx: Ctx, source: BundleSource): Promise<void> {
  const digests: BundleDigests = { bundleId: ctx.bundleId, sha256: source.memberSha256() };
  await ctx.s3.send(
    new PutObjectCommand({
      Bucket: ctx.item.bundle.manifest.bucket,
      Key: bundleDigestsKey(ctx.runUuid, ctx.bundleId),
      Body: JSON.stringify(digests),
      ContentType: 'application/json',
    }),
  );
}

/** Claims the bundle and marks it UPLOADING; `archived` when another worker finished it meanwhile. */
async function claim(ctx: Ctx, fields: Parameters<RunIndex['claimBundle']>[3]): Promise<BundleRecord | 'archived'> {
  const outcome = await ctx.index.claimBundle(
    ctx.runUuid,
    ctx.bundleId,
    { owner: ctx.claimOwner, expiresAt: ctx.deadline + CLAIM_SLACK_MS, now: Date.now() },
    fields,
  );
  if ('claimed' in outcome) return outcome.claimed;
  if ('heldBy' in outcome) throw new FileClaimedError(`bundle ${ctx.bundleId}`, outcome.heldBy);
  if (outcome.settled?.state === 'ARCHIVED') return 'archived';
  throw new StateConflictError(`bundle ${ctx.bundleId} of run ${ctx.runUuid} is ${outcome.settled?.state ?? 'not in the index'}, not to be archived`);
}

const progressOf = (progress: { uploadId: string; partsDone: number; bytesDone: number }) => ({
  uploadId: progress.uploadId,
  partsDone: progress.partsDone,
  bytesDone: progress.bytesDone,
});

async function uploadToVaultAsBundle(ctx: Ctx, manifest: BundleManifest, planned: BundleRecord): Promise<'done' | 'incomplete'> {
  const vaultName = ctx.vaultName;
  if (!vaultName) throw new Error(NO_VAULT);
  const partSize = planned.partSize ?? partSizeFor(ctx.tier, manifest.size);
  const record = await claim(ctx, { state: 'UPLOADING', vaultName, partSize, failureReason: null });
  if (record === 'archived') return 'done';
  const description = bundleArchiveDescription(ctx.runUuid, ctx.bundleId);
  const recorded = async (result: { archiveId: string; treeHash: string; sha256: string }) => {
    await ctx.index.updateBundle(ctx.runUuid, ctx.bundleId, ['UPLOADING'], {
      state: 'ARCHIVED',
      ...CLAIM_ENDED,
      completingTreeHash: null,
      completingSha256: null,
      archiveId: result.archiveId,
      treeHash: result.treeHash,
      sha256: result.sha256,
      partSize,
      archivedAt: (ctx.now ?? (() => new Date()))().toISOString(),
    });
    return 'done' as const;
  };
  // The digests were saved before the intent was, so an upload completed again has its members' SHA-256 too.
  const prior = await pickUpVaultUpload(ctx.glacier, vaultName, description, record, manifest.size, partSize);
  if ('completed' in prior) return recorded(prior.completed);
  const { resumeUploadId } = prior;
  const source = sourceOf(ctx, manifest);
  const upload = (uploadId: string | undefined) =>
    uploadToVault({
      glacier: ctx.glacier,
      vaultName,
      source,
      partSize,
      description,
      resumeUploadId: uploadId,
      concurrency: partConcurrency(partSize),
      deadline: ctx.deadline - DEADLINE_MARGIN_MS,
      singleRequest: false,
      onProgress: (progress) => ctx.index.updateBundle(ctx.runUuid, ctx.bundleId, ['UPLOADING'], progressOf(progress)).then(() => undefined),
      onCompleting: async (intent) => {
        await saveDigests(ctx, source);
        await ctx.index.updateBundle(ctx.runUuid, ctx.bundleId, ['UPLOADING'], {
          uploadId: intent.uploadId,
          completingTreeHash: intent.treeHash,
          completingSha256: intent.sha256,
        });
      },
    });
  let result: UploadResult;
  try {
    result = await upload(resumeUploadId);
  } catch (error) {
    // The recorded upload is gone (aborted, or expired while the item waited): start afresh.
    if (!resumeUploadId || (error as Error).name !== 'ResourceNotFoundException') throw error;
    result = await upload(undefined);
  }
  if (result.status === 'incomplete') {
    await ctx.index.updateBundle(ctx.runUuid, ctx.bundleId, ['UPLOADING'], progressOf(result));
    return 'incomplete';
  }
  if (!result.archiveId) throw new Error(`bundle ${ctx.bundleId} came back without an archive id`); // a bundle is never empty
  return recorded({ archiveId: result.archiveId, treeHash: result.treeHash, sha256: result.sha256 });
}

async function uploadToS3AsBundle(ctx: Ctx, manifest: BundleManifest, planned: BundleRecord): Promise<'done' | 'incomplete'> {
  const target = ctx.tier.target;
  if (target.type !== 's3-glacier') throw new Error('not an s3-glacier tier');
  const archiveBucket = ctx.archiveBucket;
  if (!archiveBucket) throw new Error('the tier targets s3-glacier but the stack has no archive bucket');
  const archiveKey = bundleObjectKey(ctx.runUuid, ctx.bundleId);
  const partSize = planned.uploadId && planned.partSize ? planned.partSize : s3PartSizeFor(target, manifest.size);
  const record = await claim(ctx, { state: 'UPLOADING', partSize, failureReason: null });
  if (record === 'archived') return 'done';
  if ((record.attempts ?? 0) > 1) await abortStrayS3Uploads(ctx.s3, archiveBucket, archiveKey, { keep: record.uploadId });
  const source = sourceOf(ctx, manifest);
  const result = await uploadSourceToS3({
    s3: ctx.s3,
    bucket: archiveBucket,
    key: archiveKey,
    storageClass: target.storageClass,
    metadata: { 'run-uuid': ctx.runUuid, bundle: ctx.bundleId },
    source,
    partSize,
    resume: record.uploadId ? { uploadId: record.uploadId, completingCrc64nvme: record.completingCrc64nvme } : undefined,
    // A bundle a crashed attempt wrote but did not record is found by its checksum and recorded, not written twice.
    adoptExisting: (record.attempts ?? 0) > 1,
    deadline: ctx.deadline - DEADLINE_MARGIN_MS,
    onProgress: (progress) => ctx.index.updateBundle(ctx.runUuid, ctx.bundleId, ['UPLOADING'], progressOf(progress)).then(() => undefined),
    onCompleting: async (intent) => {
      await saveDigests(ctx, source);
      await ctx.index.updateBundle(ctx.runUuid, ctx.bundleId, ['UPLOADING'], { completingCrc64nvme: intent.crc64nvme, uploadId: intent.uploadId });
    },
  });
  if (result.status === 'incomplete') {
    await ctx.index.updateBundle(ctx.runUuid, ctx.bundleId, ['UPLOADING'], progressOf(result));
    return 'incomplete';
  }
  const archivedAt = (ctx.now ?? (() => new Date()))();
  const retention = await retainCopy({ s3: ctx.s3, tier: ctx.tier, archiveBucket }, archiveKey, result.versionId, archivedAt);
  await ctx.index.updateBundle(ctx.runUuid, ctx.bundleId, ['UPLOADING'], {
    ...retention,
    state: 'ARCHIVED',
    ...CLAIM_ENDED,
    completingCrc64nvme: null,
    uploadId: null,
    archiveBucket,
    archiveKey,
    archiveVersionId: result.versionId === 'null' ? undefined : result.versionId,
    storageClass: target.storageClass,
    checksumAlgorithm: COPY_CHECKSUM_ALGORITHM,
    checksum: result.crc64nvme,
    archivedAt: archivedAt.toISOString(),
  });
  return 'done';
}

const pastDeadline = (ctx: Ctx) => Date.now() > ctx.deadline - DEADLINE_MARGIN_MS;

/** Each member ARCHIVED with its place in the bundle and its SHA-256, a step at a time; false when the deadline came first. */
async function recordMembers(ctx: Ctx, manifest: BundleManifest, bundle: BundleRecord): Promise<boolean> {
  const digests = BundleDigestsSchema.parse(await readJsonObject(ctx.s3, ctx.item.bundle.manifest.bucket, bundleDigestsKey(ctx.runUuid, ctx.bundleId)));
  if (digests.bundleId !== ctx.bundleId || digests.sha256.length !== manifest.members.length) {
    throw new Error(`the member digests of bundle ${ctx.bundleId} do not match its manifest`);
  }
  for (let from = 0; from < manifest.members.length; from += MEMBERS_PER_STEP) {
    if (pastDeadline(ctx)) return false;
    const step = manifest.members.slice(from, from + MEMBERS_PER_STEP);
    await mapBounded(step, MEMBER_WRITES_IN_FLIGHT, (member, i) =>
      ctx.index.recordBundleMember(ctx.runUuid, member.path, {
        target: bundle.target,
        bundleId: ctx.bundleId,
        bundle: { id: ctx.bundleId, offset: member.offset, length: member.size },
        sha256: digests.sha256[from + i],
        ...(bundle.vaultName && { vaultName: bundle.vaultName }),
        ...(bundle.storageClass && { storageClass: bundle.storageClass }),
        archivedAt: bundle.archivedAt,
      }),
    );
  }
  await ctx.index.updateBundle(ctx.runUuid, ctx.bundleId, ['ARCHIVED'], { membersRecorded: true });
  return true;
}

/** The tier's deleteSources, member by member after every one is recorded; false when the deadline came first. */
async function removeSources(ctx: Ctx, manifest: BundleManifest, bundle: BundleRecord): Promise<{ done: boolean; kept: number }> {
  let kept = 0;
  for (let from = bundle.sourcesRemoved ?? 0; from < manifest.members.length; from += MEMBERS_PER_STEP) {
    if (pastDeadline(ctx)) return { done: false, kept };
    const step = manifest.members.slice(from, from + MEMBERS_PER_STEP);
    await mapBounded(step, MEMBER_WRITES_IN_FLIGHT, async (member) => {
      try {
        await removeSource(ctx, { path: member.path, sourceBucket: member.bucket, sourceKey: member.key, etag: member.etag });
      } catch (error) {
        if (!PERMANENT_ERRORS.has((error as Error).name)) throw error;
        // The member is archived all the same; its source stays and its record says why.
        kept++;
        await ctx.index.updateFile(ctx.runUuid, member.path, ['ARCHIVED'], { failureReason: `source not removed: ${reasonOf(error)}` });
      }
    });
    await ctx.index.updateBundle(ctx.runUuid, ctx.bundleId, ['ARCHIVED'], { sourcesRemoved: Math.min(from + MEMBERS_PER_STEP, manifest.members.length) });
  }
  return { done: true, kept };
}

/**
 * A bundle that cannot be written (a member gone or changed since the plan, or S3 or Glacier refusing it): the bundle
 * and every member not yet archived are FAILED with the reason, and any upload of it is aborted. A re-run of the
 * archive packs the members still there into new bundles.
 */
async function failBundle(ctx: Ctx, manifest: BundleManifest | undefined, error: Error): Promise<number> {
  const reason = reasonOf(error);
  await ctx.index.updateBundle(ctx.runUuid, ctx.bundleId, ['PENDING', 'UPLOADING', 'FAILED'], { state: 'FAILED', failureReason: reason, ...CLAIM_ENDED });
  if (ctx.tier.target.type === 'glacier-vault' && ctx.vaultName) {
    const description = bundleArchiveDescription(ctx.runUuid, ctx.bundleId);
    await abortStrayVaultUploads(ctx.glacier, ctx.vaultName, description).catch(() => 0);
  } else if (ctx.archiveBucket) {
    await abortStrayS3Uploads(ctx.s3, ctx.archiveBucket, bundleObjectKey(ctx.runUuid, ctx.bundleId)).catch(() => 0);
  }
  const why = `bundle ${ctx.bundleId} could not be archived: ${reason}`.slice(0, 1000);
  const marked = await mapBounded(manifest?.members ?? [], MEMBER_WRITES_IN_FLIGHT, async (member) => {
    try {
      await ctx.index.updateFile(ctx.runUuid, member.path, ['PENDING', 'UPLOADING', 'FAILED'], { state: 'FAILED', failureReason: why });
      return 1;
    } catch (failure) {
      if (failure instanceof StateConflictError) return 0;
      throw failure;
    }
  });
  return marked.reduce((sum: number, n) => sum + n, 0);
}

/** Archives the bundle (or carries on where an earlier invocation stopped), then records and cleans up its members. */
export async function archiveBundle(bundleArgs: ArchiveBundleArgs): Promise<ItemResult> {
  const ctx: Ctx = { ...bundleArgs, claimOwner: bundleArgs.claimOwner ?? randomUUID(), bundleId: bundleArgs.item.bundle.id };
  if (ctx.tier.target.type === 'glacier-vault' && !ctx.vaultName) throw new Error(NO_VAULT);
  let record = await ctx.index.getBundle(ctx.runUuid, ctx.bundleId);
  if (!record) throw new Error(`bundle ${ctx.bundleId} of run ${ctx.runUuid} was planned but is not in the index`);
  const members = record.members;
  const manifest = await loadManifest(ctx, record);
  if (record.state !== 'ARCHIVED') {
    if (pastDeadline(ctx)) return { status: 'incomplete', archived: 0, failed: 0 };
    let outcome: 'done' | 'incomplete';
    try {
      outcome = ctx.tier.target.type === 'glacier-vault' ? await uploadToVaultAsBundle(ctx, manifest, record) : await uploadToS3AsBundle(ctx, manifest, record);
    } catch (error) {
      if (!PERMANENT_ERRORS.has((error as Error).name)) {
        if (!(error instanceof FileClaimedError)) await ctx.index.releaseBundle(ctx.runUuid, ctx.bundleId, ctx.claimOwner).catch(() => undefined);
        throw error;
      }
      return { status: 'complete', archived: 0, failed: await failBundle(ctx, manifest, error as Error) };
    }
    if (outcome === 'incomplete') {
      await ctx.index.releaseBundle(ctx.runUuid, ctx.bundleId, ctx.claimOwner);
      return { status: 'incomplete', archived: 0, failed: 0 };
    }
    record = (await ctx.index.getBundle(ctx.runUuid, ctx.bundleId))!;
  }
  if (!record.membersRecorded && !(await recordMembers(ctx, manifest, record))) return { status: 'incomplete', archived: 0, failed: 0 };
  if (ctx.tier.deleteSources && (record.sourcesRemoved ?? 0) < members) {
    const removed = await removeSources(ctx, manifest, record);
    if (!removed.done) return { status: 'incomplete', archived: 0, failed: 0 };
  }
  return { status: 'complete', archived: members, failed: 0 };
}

/** After the workflow gave up on a bundle: the bundle and its members not archived become FAILED with the workflow's error. */
export async function recordBundleFailure(
  args: Pick<ArchiveBundleArgs, 's3' | 'index' | 'runUuid' | 'item'>,
  error: WorkflowError,
  now = Date.now(),
): Promise<number> {
  const failureReason = describeWorkflowError(error, 1000);
  const { runUuid, item } = args;
  // An archived bundle stays archived: its members are recorded by the next archive of the run.
  await args.index.failUnclaimedBundle(runUuid, item.bundle.id, failureReason, now);
  const manifest = BundleManifestSchema.parse(await readJsonObject(args.s3, item.bundle.manifest.bucket, item.bundle.manifest.key));
  const marked = await mapBounded(manifest.members, MEMBER_WRITES_IN_FLIGHT, async (member) =>
    (await args.index.failUnclaimedFile(runUuid, member.path, `bundle ${item.bundle.id}: ${failureReason}`.slice(0, 1000), now)) ? 1 : 0,
  );
  return marked.reduce((sum: number, n) => sum + n, 0);
}
