// Plans a run's archive: lists its outputs, classifies them (classify-outputs.ts), registers them and writes the Map's work items.
import { GetRunCommand, type GetRunResponse, type OmicsClient } from '@aws-sdk/client-omics';
import type { S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { bundleManifestKey, sizeBytes, type BundleItem, type PlanItem, type Tier } from '../contract';
import type { BundleRecord, FileCounts, RunIndex } from '../index/run-index';
import { mapBounded } from '../runtime/bounded';
import { listObjects } from '../s3/listing';
import { parseS3Uri } from '../s3/uri';
import { classifyOutputs, type LeftOut, type ListedObject, type NewerRun } from './classify-outputs';

export type { PlannedFile, PlanItem, WorkItem } from '../contract';
export { groupWorkItems, spreadLimits, type GroupLimits, type NewerRun } from './classify-outputs';

export interface PlanSummary {
  bucket: string;
  key: string;
  itemCount: number;
  counts: FileCounts;
  bytes: { total: number; archive: number };
  /** Items that are bundles (of `itemCount`), and the files in them. */
  bundles: { items: number; files: number };
  /** Objects a newer run wrote under the reused run id, left out of the plan; only when there were any. */
  newerRunObjects?: LeftOut & { runUuid: string; since: string };
}

/** The newer run HealthOmics has under the id, judged from what GetRun answers for it (undefined: the run is gone). */
export function newerRunOf(current: Pick<GetRunResponse, 'uuid' | 'creationTime'> | undefined, runUuid: string): NewerRun | undefined {
  if (!current?.uuid || current.uuid === runUuid || !current.creationTime) return undefined;
  const created = current.creationTime instanceof Date ? current.creationTime.toISOString() : String(current.creationTime);
  return { uuid: current.uuid, creationTime: created };
}

/**
 * Asks HealthOmics which run has `runId` now. The snapshot step checked the uuid, but the run can be deleted and its
 * id handed to a new run while the workflow waits for the outputs to age; that run then writes into the same folder.
 */
export async function findNewerRun(omics: OmicsClient, runId: string, runUuid: string): Promise<NewerRun | undefined> {
  try {
    return newerRunOf(await omics.send(new GetRunCommand({ id: runId })), runUuid);
  } catch (error) {
    if ((error as Error).name === 'ResourceNotFoundException') return undefined; // deleted, and the id not given out again
    throw error;
  }
}

export interface PlanArchiveArgs {
  s3: S3Client;
  index: RunIndex;
  runUuid: string;
  /**
   * The run's id and a HealthOmics client to ask, with GetRun, whether the id now belongs to a newer run (whose
   * objects are then left out). Without it the listing is taken as the run's own.
   */
  runIdCheck?: { omics: OmicsClient; runId: string };
  runOutputUri: string;
  /** s3:// prefixes never to archive (run caches that live under the output folder). */
  excludeUris?: string[];
  tier: Pick<Tier, 'files' | 'defaultAction' | 'target' | 'bundleFilesBelow' | 'bundleMaxBytes'>;
  groupLimits: { maxFiles: number; maxBytes: number | string };
  /** The Map's concurrency: items are spread so that many can run at once. */
  concurrency?: number;
  planBucket: string;
  planKey: string;
  now: Date;
}

/**
 * Lists the outputs page by page and classifies them (run caches and a newer run's objects left out), registers
 * archive and keep files in the index (files a previous attempt already registered keep their records, so an archived
 * file is never re-planned and an interrupted upload keeps its upload id), and writes the work items as one JSON
 * array for the Map's ItemReader.
 */
export async function planArchive(args: PlanArchiveArgs): Promise<PlanSummary> {
  const output = parseS3Uri(args.runOutputUri);
  const newerRun = args.runIdCheck ? await findNewerRun(args.runIdCheck.omics, args.runIdCheck.runId, args.runUuid) : undefined;
  const [indexed, indexedBundles] = await Promise.all([args.index.listFiles(args.runUuid), args.index.listBundles(args.runUuid)]);
  const objects: ListedObject[] = [];
  for await (const object of listObjects(args.s3, output.bucket, output.prefix)) objects.push(object);
  const plan = classifyOutputs({
    runUuid: args.runUuid,
    runOutputUri: args.runOutputUri,
    objects,
    tier: args.tier,
    excludeUris: args.excludeUris,
    indexed,
    indexedBundles,
    newerRun,
    groupLimits: { maxFiles: args.groupLimits.maxFiles, maxBytes: sizeBytes(args.groupLimits.maxBytes) },
    concurrency: args.concurrency,
    now: args.now,
  });

  // Manifests, then bundle records, then the files naming them: a plan cut short anywhere leaves only PENDING bundles
  // nobody started, which the retried plan makes again (the same ones: the plan is deterministic) or removes.
  const writeJson = (key: string, body: unknown) =>
    new Upload({ client: args.s3, params: { Bucket: args.planBucket, Key: key, Body: JSON.stringify(body), ContentType: 'application/json' } }).done();
  await mapBounded(plan.bundles, MANIFEST_WRITES_IN_FLIGHT, (bundle) => writeJson(bundleManifestKey(args.runUuid, bundle.id), bundle.manifest));
  const target = args.tier.target.type;
  await args.index.putBundles(
    plan.bundles.map((bundle) => ({
      runUuid: args.runUuid,
      bundleId: bundle.id,
      state: 'PENDING',
      target,
      members: bundle.manifest.members.length,
      bytes: bundle.bytes,
      size: bundle.manifest.size,
      manifestBucket: args.planBucket,
      manifestKey: bundleManifestKey(args.runUuid, bundle.id),
    })),
  );
  for (const bundleId of plan.supersededBundles) await args.index.deletePendingBundle(args.runUuid, bundleId);
  await args.index.putFiles(plan.toRegister);
  await mapBounded(plan.toReassign, REASSIGNMENTS_IN_FLIGHT, ({ path, bundleId }) =>
    args.index.updateFile(args.runUuid, path, ['PENDING', 'UPLOADING', 'FAILED'], { bundleId: bundleId ?? null }),
  );
  const bundleItems: BundleItem[] = [
    ...plan.continuedBundles.map(bundleItemOf),
    ...plan.bundles.map((bundle) =>
      bundleItemOf({
        bundleId: bundle.id,
        members: bundle.manifest.members.length,
        size: bundle.manifest.size,
        bytes: bundle.bytes,
        manifestBucket: args.planBucket,
        manifestKey: bundleManifestKey(args.runUuid, bundle.id),
      }),
    ),
  ];
  const items: PlanItem[] = [...bundleItems, ...plan.workItems];
  await writeJson(args.planKey, items);
  return {
    bucket: args.planBucket,
    key: args.planKey,
    itemCount: items.length,
    counts: plan.counts,
    bytes: plan.bytes,
    bundles: { items: bundleItems.length, files: bundleItems.reduce((sum, item) => sum + item.bundle.members, 0) },
    ...(plan.newerRunObjects ? { newerRunObjects: plan.newerRunObjects } : {}),
  };
}

/** Bundle manifests written at once (each a small JSON object). */
const MANIFEST_WRITES_IN_FLIGHT = 8;
/** Index updates at once for files a re-plan moves between bundles (only after an earlier plan's bundles failed). */
const REASSIGNMENTS_IN_FLIGHT = 16;

/** A bundle as the Map item that archives it. */
function bundleItemOf(bundle: Pick<BundleRecord, 'bundleId' | 'members' | 'size' | 'bytes' | 'manifestBucket' | 'manifestKey'>): BundleItem {
  return {
    bundle: { id: bundle.bundleId, members: bundle.members, size: bundle.size, manifest: { bucket: bundle.manifestBucket, key: bundle.manifestKey } },
    bytes: bundle.bytes,
  };
}
