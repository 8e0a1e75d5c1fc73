// Plans a run's archive: lists its outputs, applies the tier's file rules, groups files into Map work items, registers them.
import { paginateListObjectsV2, type S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { sizeBytes, type Tier } from '../contract';
import type { PlannedFile, WorkItem } from '../contract';
import type { FileCounts, FileRecord, RunIndex } from '../index/run-index';
import { parseS3Uri } from '../s3/uri';
import { fileClassifier } from './tier-policy';

export type { PlannedFile, WorkItem } from '../contract';

export interface PlanSummary {
  bucket: string;
  key: string;
  itemCount: number;
  counts: FileCounts;
  bytes: { total: number; archive: number };
}

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

export interface PlanArchiveArgs {
  s3: S3Client;
  index: RunIndex;
  runUuid: string;
  runOutputUri: string;
  /** s3:// prefixes never to archive (run caches that live under the output folder). */
  excludeUris?: string[];
  tier: Pick<Tier, 'files' | 'defaultAction' | 'target'>;
  groupLimits: { maxFiles: number; maxBytes: number | string };
  /** The Map's concurrency: items are spread so that many can run at once. */
  concurrency?: number;
  planBucket: string;
  planKey: string;
  now: Date;
}

/**
 * Lists the outputs page by page, decides each file's action, registers archive and keep files in the index
 * (files a previous attempt already registered keep their records, so an archived file is never re-planned and an
 * interrupted upload keeps its upload id), and writes the work items as one JSON array for the Map's ItemReader.
 */
export async function planArchive(args: PlanArchiveArgs): Promise<PlanSummary> {
  const output = parseS3Uri(args.runOutputUri);
  const excluded = (args.excludeUris ?? []).map(parseS3Uri).filter((loc) => loc.bucket === output.bucket);
  const classify = fileClassifier(args.tier);
  const existing = new Map((await args.index.listFiles(args.runUuid)).map((f) => [f.path, f]));

  const counts: FileCounts = { files: 0, archive: 0, keep: 0, skip: 0, archived: 0, failed: 0 };
  const bytes = { total: 0, archive: 0 };
  const toArchive: PlannedFile[] = [];
  const toRegister: Omit<FileRecord, 'pk' | 'sk' | 'schemaVersion' | 'updatedAt'>[] = [];

  for await (const page of paginateListObjectsV2({ client: args.s3, pageSize: 1000 }, { Bucket: output.bucket, Prefix: output.prefix })) {
    for (const object of page.Contents ?? []) {
      const key = object.Key ?? '';
      if (key.endsWith('/') || excluded.some((loc) => key.startsWith(loc.prefix))) continue; // folder markers, run caches
      const file: PlannedFile = { path: key.slice(output.prefix.length), bucket: output.bucket, key, size: object.Size ?? 0, etag: object.ETag };
      const { action } = classify({ path: file.path, size: file.size, lastModified: object.LastModified ?? args.now }, args.now);
      counts.files++;
      counts[action]++;
      bytes.total += file.size;
      if (action === 'skip') continue;
      const previous = existing.get(file.path);
      if (action === 'archive') {
        bytes.archive += file.size;
        if (previous?.state === 'ARCHIVED') {
          counts.archived++;
          continue;
        }
        toArchive.push(file);
      }
      if (!previous) {
        toRegister.push({
          runUuid: args.runUuid,
          path: file.path,
          sourceBucket: file.bucket,
          sourceKey: file.key,
          size: file.size,
          etag: file.etag,
          lastModified: object.LastModified?.toISOString(),
          action,
          state: action === 'archive' ? 'PENDING' : 'KEPT',
          ...(action === 'archive' ? { target: args.tier.target.type } : {}),
        });
      }
    }
  }

  await args.index.putFiles(toRegister);
  const limits = { maxFiles: args.groupLimits.maxFiles, maxBytes: sizeBytes(args.groupLimits.maxBytes) };
  const items = groupWorkItems(toArchive, spreadLimits(limits, toArchive, args.concurrency ?? 1));
  await new Upload({
    client: args.s3,
    params: { Bucket: args.planBucket, Key: args.planKey, Body: JSON.stringify(items), ContentType: 'application/json' },
  }).done();
  return { bucket: args.planBucket, key: args.planKey, itemCount: items.length, counts, bytes };
}
