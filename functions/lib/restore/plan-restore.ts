// Restore planning: resolves a request against the index (run, files, destination, tier) and writes the Map's items.
import { HeadObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import picomatch from 'picomatch';
import {
  MIB,
  RestoreRequestSchema,
  layoutPath,
  restoreBundleMembersKey,
  restoreItemsKey,
  S3_LIMITS,
  type ArchiverConfig,
  type RestoreBundleMember,
  type RestoreItem,
  type RestoreRequestErrorName,
  type RestoreTier,
  type Retrieval,
} from '../contract';
import { StateConflictError, type BundleRecord, type FileRecord, type RunIndex, type RunRecord } from '../index/run-index';
import { mapBounded } from '../runtime/bounded';
import { parseS3Uri } from '../s3/uri';

/** A request the workflow cannot act on; the execution fails at once with this error's name and message. */
export class RestoreRequestError extends Error {
  constructor(name: RestoreRequestErrorName, message: string) {
    super(message);
    this.name = name;
  }
}

/** Glacier's documented retrieval times, with margin: how long to wait for the notification, then how often to poll. */
export const TIER_TIMING: Record<RestoreTier, { notificationWaitSeconds: number; pollSeconds: number }> = {
  Expedited: { notificationWaitSeconds: 15 * 60, pollSeconds: 60 },
  Standard: { notificationWaitSeconds: 6 * 3600, pollSeconds: 15 * 60 },
  Bulk: { notificationWaitSeconds: 13 * 3600, pollSeconds: 30 * 60 },
};

export interface RestorePlan {
  restoreId: string;
  runUuid: string;
  runId: string;
  tier: RestoreTier;
  destination: string;
  fileCount: number;
  itemsBucket: string;
  itemsKey: string;
  concurrency: number;
}

/**
 * HeadObject calls in flight while checking that no destination is taken: 10,000 files one at a time (about 20 ms
 * each) would take most of the step's five minutes; 32 at a time take seconds and stay far below S3's request rates.
 */
export const DESTINATION_CHECK_CONCURRENCY = 32;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const ARCHIVED_STATES = ['ARCHIVED', 'PARTIAL', 'DELETING', 'RUN_DELETED'];

/** Finds the run a request names. A run id can name several runs (ids are reused); then the archived one, or ask for the uuid. */
export async function resolveRun(index: RunIndex, ref: string): Promise<RunRecord> {
  if (UUID.test(ref)) {
    const run = await index.getRun(ref);
    if (!run) throw new RestoreRequestError('RunNotFound', `no run with uuid ${ref} is in the archive index`);
    return run;
  }
  if (!/^\d+$/.test(ref)) throw new RestoreRequestError('BadRestoreRequest', `"${ref}" is neither a run id (digits) nor a run uuid`);
  const runs = await index.findRunsById(ref);
  if (!runs.length) throw new RestoreRequestError('RunNotFound', `no run with id ${ref} is in the archive index`);
  if (runs.length === 1) return runs[0];
  const archived = runs.filter((r) => ARCHIVED_STATES.includes(r.archiveState));
  if (archived.length === 1) return archived[0];
  throw new RestoreRequestError(
    'AmbiguousRun',
    `run id ${ref} has been used by ${runs.length} runs (HealthOmics reuses ids): ${runs.map((r) => `${r.runUuid} (${r.archiveState}, stopped ${r.stopTime})`).join(', ')}; give the uuid`,
  );
}

/**
 * Matches globs against the index path (`out/...`, or a CWL run's `<uuid>/out/...`), the same path in the WDL layout,
 * and the path inside the outputs folder, as users know it.
 */
function pathMatcher(globs: string[] | undefined): (path: string) => boolean {
  if (!globs) return () => true;
  const match = picomatch(globs, { dot: true });
  return (path) => {
    const layout = layoutPath(path);
    return match(path) || match(layout) || (layout.startsWith('out/') && match(layout.slice(4)));
  };
}

/** How a file (or a bundle, for its members) comes back, from how it was archived. */
export function retrievalOf(file: Pick<FileRecord, 'size' | 'target' | 'storageClass'>): Retrieval {
  if (file.size === 0) return 'none';
  if (file.target === 's3-glacier') return file.storageClass === 'GLACIER_IR' ? 'none' : 's3-restore';
  return 'vault-job';
}

/**
 * The vault retrieval range around some of a bundle's members, inclusive: from the MiB boundary at or before the first
 * byte to the MiB boundary after the last (or the archive's end), as Glacier requires of RetrievalByteRange.
 * Undefined when that is the whole archive, which is then retrieved without a range.
 */
export function bundleRetrievalRange(members: readonly { offset: number; length: number }[], archiveSize: number): { start: number; end: number } | undefined {
  const first = Math.min(...members.map((m) => m.offset));
  const last = Math.max(...members.map((m) => m.offset + m.length));
  const start = Math.floor(first / MIB) * MIB;
  const endExclusive = Math.min(Math.max(Math.ceil(last / MIB) * MIB, start + MIB), archiveSize);
  return start === 0 && endExclusive === archiveSize ? undefined : { start, end: endExclusive - 1 };
}

/** Requested members of one bundle, in the bundle's order, with where each goes. */
interface BundleRequest {
  bundle: BundleRecord;
  members: { file: FileRecord; bucket: string; key: string }[];
}

export interface PlanRestoreArgs {
  index: RunIndex;
  s3: S3Client;
  config: Pick<ArchiverConfig, 'tiers' | 'outputBuckets' | 'restoreBuckets' | 'restoreConcurrency'>;
  request: unknown;
  restoreId: string;
  executionArn?: string;
  /** The stack's vault; absent when every tier targets s3-glacier. */
  vaultName?: string;
  itemsBucket: string;
}

/**
 * Checks the request against the index (run known, files matched and archived, destination writable and free) and
 * writes the Map items; any problem fails here, before anything is retrieved or paid for.
 */
export async function planRestore(args: PlanRestoreArgs): Promise<RestorePlan> {
  const parsed = RestoreRequestSchema.safeParse(args.request);
  if (!parsed.success) {
    throw new RestoreRequestError('BadRestoreRequest', parsed.error.issues.map((i) => `${i.path.join('.') || 'request'}: ${i.message}`).join('; '));
  }
  const request = parsed.data;
  const run = await resolveRun(args.index, request.runUuid ?? request.run ?? request.runId ?? '');
  const matches = pathMatcher(request.files);
  const files = (await args.index.listFiles(run.runUuid)).filter((f) => f.action === 'archive' && matches(f.path));
  if (!files.length) {
    throw new RestoreRequestError(
      'NoMatchingFiles',
      `no archived file of run ${run.runId} (${run.runUuid}) matches ${request.files ? request.files.join(', ') : 'any path'}`,
    );
  }
  const notArchived = files.filter((f) => f.state !== 'ARCHIVED');
  if (notArchived.length) {
    throw new RestoreRequestError(
      'FileNotArchived',
      `${notArchived.length} matching file(s) were never archived: ${notArchived
        .slice(0, 10)
        .map((f) => `${f.path} (${f.state}${f.failureReason ? `: ${f.failureReason}` : ''})`)
        .join(', ')}`,
    );
  }

  let destination: { bucket: string; prefix: string } | undefined;
  if (request.destination) {
    try {
      destination = parseS3Uri(request.destination);
    } catch {
      throw new RestoreRequestError('BadDestination', `destination "${request.destination}" is not an s3://bucket/prefix/ URI`);
    }
  }
  const allowed = new Set([...args.config.outputBuckets, ...args.config.restoreBuckets]);
  const targets = files.map((f) => ({
    file: f,
    bucket: destination?.bucket ?? f.sourceBucket,
    key: destination ? `${destination.prefix}${f.path}` : f.sourceKey,
  }));
  const forbidden = [...new Set(targets.map((t) => t.bucket).filter((b) => !allowed.has(b)))];
  if (forbidden.length) {
    throw new RestoreRequestError(
      'BadDestination',
      `cannot restore into ${forbidden.join(', ')}: allowed buckets are ${[...allowed].join(', ')} (outputBuckets and restoreBuckets in the configuration)`,
    );
  }
  // Keys are joined literally (S3 has no folders, so a `..` in a path is two dots, never a way out of the prefix);
  // one past S3's 1,024 bytes would fail only at the copy, after a paid retrieval, so it is refused here.
  const tooLong = targets.filter((t) => Buffer.byteLength(t.key) > S3_LIMITS.maxKeyBytes);
  if (tooLong.length) {
    throw new RestoreRequestError(
      'BadDestination',
      `${tooLong.length} file(s) would get keys over S3's ${S3_LIMITS.maxKeyBytes} bytes under ${request.destination ?? 'their original location'}: ` +
        `${tooLong
          .slice(0, 3)
          .map((t) => `${t.file.path.slice(0, 100)}... (${Buffer.byteLength(t.key)} bytes)`)
          .join(', ')}; choose a shorter destination prefix`,
    );
  }
  const taken = await mapBounded(targets, DESTINATION_CHECK_CONCURRENCY, async (t) => {
    try {
      await args.s3.send(new HeadObjectCommand({ Bucket: t.bucket, Key: t.key }));
      return `s3://${t.bucket}/${t.key}`;
    } catch (error) {
      const name = (error as Error).name;
      if (name !== 'NotFound' && name !== 'NoSuchKey') throw error;
      return undefined;
    }
  });
  const occupied = taken.filter((uri): uri is string => uri !== undefined);
  if (occupied.length) {
    throw new RestoreRequestError(
      'BadDestination',
      `restoring would overwrite ${occupied.length} existing object(s): ${occupied.slice(0, 10).join(', ')}; choose another destination`,
    );
  }

  const tierName = request.tier ?? args.config.tiers.find((t) => t.name === run.tier)?.restoreTier ?? 'Standard';
  const timing = {
    notificationWaitSeconds: request.notificationWaitSeconds ?? TIER_TIMING[tierName].notificationWaitSeconds,
    pollSeconds: request.pollSeconds ?? TIER_TIMING[tierName].pollSeconds,
  };
  // Members of one bundle come back together: one retrieval of the bundle (or of the range around them) for all.
  const bundled = targets.filter((t) => t.file.bundle);
  const bundles = new Map<string, BundleRequest>();
  if (bundled.length) {
    const records = new Map((await args.index.listBundles(run.runUuid)).map((b) => [b.bundleId, b]));
    for (const target of bundled) {
      const id = target.file.bundle!.id;
      const record = records.get(id);
      if (record?.state !== 'ARCHIVED') {
        throw new RestoreRequestError(
          'FileNotArchived',
          `${target.file.path} is recorded in bundle ${id}, which the index has ${record ? record.state : 'no record of'}`,
        );
      }
      const group = bundles.get(id) ?? { bundle: record, members: [] };
      group.members.push(target);
      bundles.set(id, group);
    }
  }
  const singles = targets.filter((t) => !t.file.bundle);
  const items: RestoreItem[] = singles.map(({ file, bucket, key }) => ({
    runUuid: run.runUuid,
    restoreId: args.restoreId,
    path: file.path,
    size: file.size,
    retrieval: retrievalOf(file),
    tier: tierName,
    sha256: file.sha256,
    treeHash: file.treeHash,
    ...(file.checksumAlgorithm === 'CRC64NVME' && file.checksum && { crc64nvme: file.checksum }),
    vaultName: file.vaultName ?? args.vaultName,
    archiveId: file.archiveId,
    archiveBucket: file.archiveBucket,
    archiveKey: file.archiveKey,
    archiveVersionId: file.archiveVersionId,
    storageClass: file.storageClass,
    destinationBucket: bucket,
    destinationKey: key,
    ...timing,
  }));
  const memberLists: { key: string; members: RestoreBundleMember[] }[] = [];
  for (const { bundle, members } of bundles.values()) {
    members.sort((a, b) => a.file.bundle!.offset - b.file.bundle!.offset);
    const list = members.map(({ file, bucket, key }) => {
      if (!file.sha256) throw new RestoreRequestError('FileNotArchived', `${file.path} is in bundle ${bundle.bundleId} without a recorded SHA-256`);
      return { path: file.path, offset: file.bundle!.offset, length: file.bundle!.length, sha256: file.sha256, destinationBucket: bucket, destinationKey: key };
    });
    const membersKey = restoreBundleMembersKey(run.runUuid, args.restoreId, bundle.bundleId);
    memberLists.push({ key: membersKey, members: list });
    const lead = members[0];
    const range = bundle.target === 'glacier-vault' ? bundleRetrievalRange(list, bundle.size) : undefined;
    items.push({
      runUuid: run.runUuid,
      restoreId: args.restoreId,
      // The first member's restore record carries the bundle's retrieval: its job, its task token, its progress.
      path: lead.file.path,
      size: list.reduce((sum, m) => sum + m.length, 0),
      retrieval: retrievalOf({ size: bundle.size, target: bundle.target, storageClass: bundle.storageClass }),
      tier: tierName,
      vaultName: bundle.vaultName ?? args.vaultName,
      archiveId: bundle.archiveId,
      archiveBucket: bundle.archiveBucket,
      archiveKey: bundle.archiveKey,
      archiveVersionId: bundle.archiveVersionId,
      storageClass: bundle.storageClass,
      destinationBucket: lead.bucket,
      destinationKey: lead.key,
      ...timing,
      bundle: {
        id: bundle.bundleId,
        size: bundle.size,
        members: list.length,
        membersBucket: args.itemsBucket,
        membersKey,
        ...(range && { range }),
      },
    });
  }
  const destinationText = request.destination ?? 'original location';
  try {
    await args.index.putRestoreRequest({
      runUuid: run.runUuid,
      restoreId: args.restoreId,
      state: 'REQUESTED',
      request,
      tier: tierName,
      destination: destinationText,
      executionArn: args.executionArn,
      fileCount: targets.length,
    });
  } catch (error) {
    if (!(error instanceof StateConflictError)) throw error;
    // The workflow retries this step: an earlier attempt of the same execution may have written the request already.
    const earlier = (await args.index.listRestores(run.runUuid)).requests.find((r) => r.restoreId === args.restoreId);
    if (!earlier || earlier.executionArn !== args.executionArn || earlier.completedAt) {
      throw new RestoreRequestError(
        'BadRestoreRequest',
        `restore id ${args.restoreId} is already used by another restore of run ${run.runUuid}; name the execution differently`,
      );
    }
  }
  await args.index.putRestoreFiles(
    targets.map(({ file, bucket, key }) => ({
      runUuid: run.runUuid,
      restoreId: args.restoreId,
      path: file.path,
      state: 'REQUESTED',
      destination: `s3://${bucket}/${key}`,
      ...(file.bundle && { bundleId: file.bundle.id }),
    })),
  );
  const writeJson = (key: string, body: unknown) =>
    new Upload({ client: args.s3, params: { Bucket: args.itemsBucket, Key: key, Body: JSON.stringify(body), ContentType: 'application/json' } }).done();
  // The member lists before the items that name them, so no item is ever read without its list.
  for (const list of memberLists) await writeJson(list.key, list.members);
  const itemsKey = restoreItemsKey(run.runUuid, args.restoreId);
  await writeJson(itemsKey, items);
  return {
    restoreId: args.restoreId,
    runUuid: run.runUuid,
    runId: run.runId,
    tier: tierName,
    destination: destinationText,
    fileCount: targets.length,
    itemsBucket: args.itemsBucket,
    itemsKey,
    // Not archiveConcurrency: a restore's items mostly wait hours for their retrieval, which costs nothing.
    concurrency: args.config.restoreConcurrency,
  };
}
