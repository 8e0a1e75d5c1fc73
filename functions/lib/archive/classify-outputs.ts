// Decides what a run's archive does with each listed output: the one classification the PlanArchive step and `omics-archiver plan` share.
import { bundlePolicyOf, bundleSequenceOf, type FileAction, type FileState, type PlannedFile, type Tier, type WorkItem } from '../contract';
import { isBundleCandidate, packBundles, type BundleCandidate, type PlannedBundle } from '../bundle/pack';
import type { BundleRecord, FileCounts, FileRecord } from '../index/run-index';
import { parseS3Uri } from '../s3/uri';
import { fileClassifier } from './tier-policy';

export interface GroupLimits {
  maxFiles: number;
  maxBytes: number;
}

/**
 * Tightens the limits so the files make at least `concurrency` items when there are that many files: a few big
 * groups would leave Map slots idle while one item works through its files one after another.
 */
export function spreadLimits(limits: GroupLimits, files: readonly PlannedFile[], concurrency: number): GroupLimits {
  if (concurrency <= 1 || files.length === 0) return limits;
  const totalBytes = files.reduce((sum, f) => sum + f.size, 0);
  return {
    maxFiles: Math.max(1, Math.min(limits.maxFiles, Math.ceil(files.length / concurrency))),
    maxBytes: Math.max(1, Math.min(limits.maxBytes, Math.ceil(totalBytes / concurrency))),
  };
}

/** Groups files in order: each group stays within both limits; a file at or over the byte limit goes alone. */
export function groupWorkItems(files: Iterable<PlannedFile>, limits: GroupLimits): WorkItem[] {
  const items: WorkItem[] = [];
  let current: WorkItem = { files: [], bytes: 0 };
  const flush = () => {
    if (current.files.length) items.push(current);
    current = { files: [], bytes: 0 };
  };
  for (const file of files) {
    if (file.size >= limits.maxBytes) {
      // Close the open group first, so the items keep the files' order.
      flush();
      items.push({ files: [file], bytes: file.size });
      continue;
    }
    if (current.files.length >= limits.maxFiles || current.bytes + file.size > limits.maxBytes) flush();
    current.files.push(file);
    current.bytes += file.size;
  }
  flush();
  return items;
}

/** One object of the output folder's listing, as ListObjectsV2 reported it. */
export interface ListedObject {
  key: string;
  size: number;
  etag?: string;
  lastModified?: Date;
}

/**
 * The run HealthOmics now has under this run's id. HealthOmics reuses the ids of deleted runs, and a run's output
 * folder is `<outputUri>/<id>/`, so the newer run writes into this run's folder from its creation on.
 */
export interface NewerRun {
  uuid: string;
  /** RFC 3339; objects last modified at or after it are the newer run's. */
  creationTime: string;
}

export interface ClassifyOutputsInput {
  runUuid: string;
  /** The run's output folder, `s3://bucket/prefix/`; paths are relative to it, as the tier's globs see them. */
  runOutputUri: string;
  /** The output folder's listing, in listing order. */
  objects: Iterable<ListedObject>;
  tier: Pick<Tier, 'files' | 'defaultAction' | 'target' | 'bundleFilesBelow' | 'bundleMaxBytes'>;
  /** s3:// prefixes never to archive (the run caches the tasks used, which may live under the output folder). */
  excludeUris?: readonly string[];
  /** The run's file records in the index: what a previous plan registered and how far each got. */
  indexed?: Iterable<FileRecord>;
  /** The run's bundle records in the index: bundles a previous plan made, and how far each got. */
  indexedBundles?: Iterable<BundleRecord>;
  newerRun?: NewerRun;
  groupLimits: GroupLimits;
  /** The Map's concurrency: items are spread so that many can run at once. */
  concurrency?: number;
  /** The moment ages are measured at. */
  now: Date;
}

/** What the plan decides for one file. */
export interface OutputDecision {
  /** Relative to the run's output folder. */
  path: string;
  size: number;
  /** As S3 (or, for an index-only file, the index) has it; `now` when neither does. */
  lastModified: Date;
  action: FileAction;
  /** Which file rule decided (0-based), or -1 for the tier's default action. */
  rule: number;
  /** Listed in S3 now, or known only from the index (its source was deleted after archiving). */
  source: 's3' | 'index';
  /** The file's state in the index, where the index has it. */
  indexState?: FileState;
}

/** A file record as the plan registers it; the index adds keys, schema version and time. */
export type NewFileRecord = Omit<FileRecord, 'pk' | 'sk' | 'schemaVersion' | 'updatedAt'>;

export interface LeftOut {
  files: number;
  bytes: number;
}

export interface OutputsClassification {
  /** Every listed file in listing order, then the files only the index knows. */
  decisions: OutputDecision[];
  /** Archive files not yet ARCHIVED, in listing order. */
  toArchive: PlannedFile[];
  /** Archive and keep files the index does not have yet (archive PENDING, keep KEPT); known files keep their records. */
  toRegister: NewFileRecord[];
  /** Over the listed files (as the workflow's plan summary counts them); index-only files are in `decisions` alone. */
  counts: FileCounts;
  bytes: { total: number; archive: number };
  /** `toArchive` grouped for the Map, spread over its concurrency: the files no bundle takes. */
  workItems: WorkItem[];
  /** New bundles of the tier's small files, laid out (their manifests); members are registered with their bundle's id. */
  bundles: PlannedBundle[];
  /**
   * Bundles an earlier plan made that are under way: uploading, or archived before every member was recorded. They
   * keep their members and their manifests, and get a Map item again so they finish.
   */
  continuedBundles: BundleRecord[];
  /** Bundles an earlier plan made that nobody started, not part of this plan: removed, their files packed again. */
  supersededBundles: string[];
  /** Files the index has whose bundle this plan changes: `bundleId` undefined takes them out of any. */
  toReassign: { path: string; bundleId?: string }[];
  /** Objects under the excluded prefixes (run caches), left out. */
  runCacheObjects: LeftOut;
  /** Objects the newer run wrote under the reused id, left out; only when it wrote any. */
  newerRunObjects?: LeftOut & { runUuid: string; since: string };
}

/**
 * Classifies a listing of the run's output folder: folder markers, run caches and a newer run's objects are left
 * out; every other object gets the tier's action. Archive files the index has ARCHIVED are not archived again and
 * files the index knows are not registered again (an interrupted upload keeps its upload id). Pure: no I/O.
 */
export function classifyOutputs(input: ClassifyOutputsInput): OutputsClassification {
  const output = parseS3Uri(input.runOutputUri);
  const caches = (input.excludeUris ?? []).map(parseS3Uri).filter((loc) => loc.bucket === output.bucket);
  // The newer run was created after this run had finished (and been deleted): what was written since is the newer run's.
  const newerSince = input.newerRun ? Date.parse(input.newerRun.creationTime) : undefined;
  const classify = fileClassifier(input.tier);
  const indexed = new Map<string, FileRecord>();
  for (const record of input.indexed ?? []) indexed.set(record.path, record);
  const bundling = bundlePolicyOf(input.tier);
  // A bundle once claimed keeps its members whatever this plan would make of them: its upload (or archive) exists.
  const bundleRecords = [...(input.indexedBundles ?? [])];
  const started = new Map(bundleRecords.filter((b) => b.state === 'UPLOADING' || b.state === 'ARCHIVED').map((b) => [b.bundleId, b]));
  const candidates: BundleCandidate[] = [];
  /** Files of a started bundle: archived with it, nothing to plan for each one. */
  const inStartedBundle = new Set<string>();

  const result: OutputsClassification = {
    decisions: [],
    toArchive: [],
    toRegister: [],
    counts: { files: 0, archive: 0, keep: 0, skip: 0, archived: 0, failed: 0 },
    bytes: { total: 0, archive: 0 },
    workItems: [],
    bundles: [],
    continuedBundles: [],
    supersededBundles: [],
    toReassign: [],
    runCacheObjects: { files: 0, bytes: 0 },
  };
  const newer = input.newerRun ? { runUuid: input.newerRun.uuid, since: input.newerRun.creationTime, files: 0, bytes: 0 } : undefined;
  const listed = new Set<string>();

  for (const object of input.objects) {
    const { key, size } = object;
    if (!key.startsWith(output.prefix) || key.endsWith('/')) continue; // not in the folder; folder markers
    if (caches.some((loc) => key.startsWith(loc.prefix))) {
      result.runCacheObjects.files++;
      result.runCacheObjects.bytes += size;
      continue;
    }
    if (newer && newerSince !== undefined && object.lastModified && object.lastModified.getTime() >= newerSince) {
      newer.files++;
      newer.bytes += size;
      continue;
    }
    const path = key.slice(output.prefix.length);
    const lastModified = object.lastModified ?? input.now;
    const { action, rule } = classify({ path, size, lastModified }, input.now);
    const previous = indexed.get(path);
    listed.add(path);
    result.decisions.push({ path, size, lastModified, action, rule, source: 's3', ...(previous ? { indexState: previous.state } : {}) });
    result.counts.files++;
    result.counts[action]++;
    result.bytes.total += size;
    if (action === 'skip') continue;
    if (action === 'archive') {
      result.bytes.archive += size;
      if (previous?.state === 'ARCHIVED') {
        result.counts.archived++;
        continue;
      }
      result.toArchive.push({ path, bucket: output.bucket, key, size, etag: object.etag });
      if (previous?.bundleId && started.has(previous.bundleId)) inStartedBundle.add(path);
      else if (isBundleCandidate(size, bundling))
        candidates.push({ path, bucket: output.bucket, key, size, etag: object.etag, lastModified: object.lastModified });
    }
    if (!previous) {
      result.toRegister.push({
        runUuid: input.runUuid,
        path,
        sourceBucket: output.bucket,
        sourceKey: key,
        size,
        etag: object.etag,
        lastModified: object.lastModified?.toISOString(),
        action,
        state: action === 'archive' ? 'PENDING' : 'KEPT',
        ...(action === 'archive' ? { target: input.tier.target.type } : {}),
      });
    }
  }

  // Files whose sources are gone (deleted after archiving, or overwritten by a newer run): known from the index alone.
  for (const record of indexed.values()) {
    if (listed.has(record.path)) continue;
    const lastModified = record.lastModified ? new Date(record.lastModified) : input.now;
    const { action, rule } = classify({ path: record.path, size: record.size, lastModified }, input.now);
    result.decisions.push({ path: record.path, size: record.size, lastModified, action, rule, source: 'index', indexState: record.state });
  }

  if (bundling && candidates.length) {
    // New bundles are numbered after every bundle this run has had that was started or failed: those ids name archives
    // (or records of them), and must never be given again. Bundles never started are planned anew.
    const taken = bundleRecords.filter((b) => b.state !== 'PENDING').map((b) => bundleSequenceOf(b.bundleId) ?? 0);
    // Files a bundle does not take (packBundles says which) are archived one by one, in listing order with the rest.
    result.bundles = packBundles(candidates, bundling, input.runUuid, Math.max(0, ...taken) + 1).bundles;
  }
  const assigned = new Map<string, string>();
  for (const bundle of result.bundles) for (const member of bundle.manifest.members) assigned.set(member.path, bundle.id);
  for (const file of result.toArchive) {
    const previous = indexed.get(file.path);
    if (!previous || (previous.bundleId && started.has(previous.bundleId))) continue;
    if (previous.bundleId !== assigned.get(file.path)) result.toReassign.push({ path: file.path, bundleId: assigned.get(file.path) });
  }
  for (const record of result.toRegister) {
    const bundleId = assigned.get(record.path);
    if (bundleId) record.bundleId = bundleId;
  }
  const planned = new Set(result.bundles.map((b) => b.id));
  result.supersededBundles = bundleRecords.filter((b) => b.state === 'PENDING' && !planned.has(b.bundleId)).map((b) => b.bundleId);
  result.continuedBundles = [...started.values()].filter((b) => b.state === 'UPLOADING' || !b.membersRecorded);

  const loose = result.toArchive.filter((f) => !assigned.has(f.path) && !inStartedBundle.has(f.path));
  result.workItems = groupWorkItems(loose, spreadLimits(input.groupLimits, loose, input.concurrency ?? 1));
  if (newer?.files) result.newerRunObjects = newer;
  return result;
}
