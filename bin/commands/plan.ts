// `omics-archiver plan`: what the tier policy would do to one run's outputs, worked out from reads alone.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { GetRunCommand, ResourceNotFoundException, type GetRunCommandOutput } from '@aws-sdk/client-omics';
import { classifyOutputs, type ListedObject, type NewerRun } from '../../functions/lib/archive/classify-outputs';
import { newerRunOf } from '../../functions/lib/archive/plan-archive';
import { listRunCacheUris, snapshotCacheUris } from '../../functions/lib/archive/run-caches';
import { listObjects } from '../../functions/lib/s3/listing';
import { parseS3Uri } from '../../functions/lib/s3/uri';
import * as clients from '../../functions/lib/runtime/clients';
import { RunIndex, type FileRecord, type RunRecord } from '../../functions/lib/index/run-index';
import { runOutputUriOf } from '../../functions/lib/archive/index-snapshot';
import { matchTier, tierWaits, type RunFacts } from '../../functions/lib/archive/tier-policy';
import { FILE_ACTIONS, sizeBytes, type ArchiverConfig, type FileAction, type Tier } from '../../functions/lib/contract';
import { checkRunRef, findRun, formatBytes, isRunId, processIO, table, type CommandIO } from './display';
import { loadPolicy } from './policy';
import { estimateCost, type CostEstimate } from '../../functions/lib/cost/estimate';
import { formatCost, loadPrices, namedTier } from './cost-display';
import { ResourceResolver, type ResolverDeps, type ResourceFlags } from './resources';

export interface PlanOptions extends ResourceFlags {
  /** A cdk.json-like file or a bare `omicsArchiver` object; default ./cdk.json. */
  policy?: string;
  json?: boolean;
  /** Preview with this tier of the policy instead of the one the run matches (`cost --tier`). */
  tier?: string;
  /** A `--prices` JSON file merged onto the built-in price table for the cost estimate. */
  prices?: string;
  /** The moment ages are measured at (tests pin it). */
  now?: Date;
}

export interface PlannedOutput {
  /** Relative to the run's output folder, as the tier's globs see it. */
  path: string;
  size: number;
  lastModified: string;
  action: FileAction;
  /** Which file rule decided (0-based), or -1 for the tier's default action. */
  rule: number;
  ruleText: string;
  /** Listed in S3 now, or known only from the index (its source was deleted after archiving). */
  source: 's3' | 'index';
  /** The file's state in the index, where the index has it. */
  indexState?: string;
}

export interface RunPlan {
  run: {
    id: string;
    uuid?: string;
    name?: string;
    status: string;
    workflowId?: string;
    runGroupId?: string;
    tags: Record<string, string>;
    stopTime?: string;
    runOutputUri: string;
    /** Where the facts came from: HealthOmics GetRun, or the index when the run is gone from HealthOmics. */
    source: 'healthomics' | 'index';
    archiveState?: string;
  };
  policyFile: string;
  /** Undefined when no tier matches: the archiver then leaves the run alone. */
  tier?: Tier;
  waits?: { settleSeconds: number; archiveAfterSeconds: number; archiveNotBefore?: string };
  files: PlannedOutput[];
  totals: Record<FileAction, { files: number; bytes: number }>;
  /** The Map's items as the plan step would write them: bundles first (`bundle` is the id; `bytes` the members'), then file groups. */
  workItems: { files: number; bytes: number; paths: string[]; bundle?: string; tarBytes?: number }[];
  groupLimits: { maxFiles: number; maxBytes: number };
  /** Archive files the index already has ARCHIVED: a re-run would not archive them again. */
  alreadyArchived: number;
  /**
   * Objects in the output folder that belong to a newer run: HealthOmics reused this run's id, and a run's folder is
   * `<outputUri>/<id>/`, so the newer run writes into the same folder. They are left out of the plan.
   */
  newerRunObjects?: { runUuid: string; since: string; files: number; bytes: number };
  /**
   * Objects under the run caches its tasks used (ListRunTasks' cacheS3Uri, or the snapshot's tasks once HealthOmics
   * no longer has the run): the workflow never archives them, so they are left out of the plan.
   */
  runCacheObjects?: { uris: string[]; files: number; bytes: number };
  /** What archiving these files to the tier costs (functions/lib/cost/estimate.ts); absent when no tier matches. */
  cost?: CostEstimate;
  /** The `--prices` file the estimate used, if any. */
  pricesFile?: string;
}

function ruleText(tier: Tier, rule: number): string {
  if (rule === -1) return `default (${tier.defaultAction})`;
  const r = tier.files[rule];
  const conditions = [
    r.minSize !== undefined ? `≥ ${typeof r.minSize === 'number' ? formatBytes(r.minSize) : r.minSize}` : '',
    r.minAge ? `older than ${r.minAge}` : '',
  ]
    .filter(Boolean)
    .join(', ');
  return `#${rule + 1} ${r.globs.join(' ')}${conditions ? ` (${conditions})` : ''}`;
}

/** The policy to preview with: --policy, or the cdk.json of the folder the command runs in. */
export function planPolicy(file: string | undefined): { config: ArchiverConfig; file: string } {
  const chosen = file ?? path.resolve('cdk.json');
  if (!file && !fs.existsSync(chosen)) {
    throw new Error(`no tier policy: ${chosen} does not exist; pass --policy <file> (a cdk.json or a bare omicsArchiver object)`);
  }
  return { config: loadPolicy(chosen), file: chosen };
}

interface RunSource {
  facts: RunFacts & { tags: Record<string, string> };
  run: RunPlan['run'];
  record?: RunRecord;
  /** The run HealthOmics now has under this run's id, when the id was reused. */
  newerRun?: NewerRun;
}

const iso = (value: unknown): string | undefined => (value instanceof Date ? value.toISOString() : typeof value === 'string' && value ? value : undefined);

function fromGetRun(run: GetRunCommandOutput): RunSource {
  const id = run.id ?? '';
  const tags = run.tags ?? {};
  return {
    facts: { workflowId: run.workflowId, runGroupId: run.runGroupId, status: run.status ?? 'UNKNOWN', tags },
    run: {
      id,
      uuid: run.uuid,
      name: run.name,
      status: run.status ?? 'UNKNOWN',
      workflowId: run.workflowId,
      runGroupId: run.runGroupId,
      tags,
      stopTime: iso(run.stopTime) ?? iso(run.creationTime),
      runOutputUri: runOutputUriOf(run, id),
      source: 'healthomics',
    },
  };
}

function fromRecord(record: RunRecord): RunSource {
  const snapshot = record.run ?? {};
  const tags = (snapshot.tags as Record<string, string> | undefined) ?? {};
  return {
    record,
    facts: { workflowId: record.workflowId, runGroupId: record.runGroupId, status: record.status, tags },
    run: {
      id: record.runId,
      uuid: record.runUuid,
      name: record.name,
      status: record.status,
      workflowId: record.workflowId,
      runGroupId: record.runGroupId,
      tags,
      stopTime: record.stopTime,
      runOutputUri: record.runOutputUri ?? runOutputUriOf(snapshot, record.runId),
      source: 'index',
      archiveState: record.archiveState,
    },
  };
}

async function getRun(id: string): Promise<GetRunCommandOutput | undefined> {
  try {
    return await clients.omicsClient().send(new GetRunCommand({ id }));
  } catch (error) {
    if (error instanceof ResourceNotFoundException || (error as Error).name === 'ResourceNotFoundException') return undefined;
    throw error;
  }
}

/**
 * The run as HealthOmics has it now, or as the index recorded it when HealthOmics no longer does (deleted, or its id
 * reused by a newer run). The index is opened only when it is needed: a uuid, or a run HealthOmics does not have.
 */
async function findRunSource(ref: string, openIndex: () => Promise<RunIndex>): Promise<{ source: RunSource; index?: RunIndex }> {
  if (isRunId(ref)) {
    const live = await getRun(ref);
    if (live) return { source: fromGetRun(live) };
    const index = await openIndex();
    const found = await findRun(index, ref);
    if (!found) throw new Error(`run ${ref} is not in HealthOmics and not in the run index (table ${index.tableName})`);
    return { source: fromRecord(found.record), index };
  }
  const index = await openIndex();
  const found = await findRun(index, ref);
  if (!found) throw new Error(`no run with uuid ${ref} in the run index (table ${index.tableName}); HealthOmics looks runs up by id only, so give its id`);
  const live = await getRun(found.record.runId);
  if (live && live.uuid === ref) return { source: { ...fromGetRun(live), record: found.record }, index };
  const source = fromRecord(found.record);
  source.newerRun = newerRunOf(live, ref);
  return { source, index };
}

async function listOutputs(runOutputUri: string): Promise<ListedObject[]> {
  const { bucket, prefix } = parseS3Uri(runOutputUri);
  const objects: ListedObject[] = [];
  try {
    for await (const object of listObjects(clients.s3Client(), bucket, prefix)) objects.push(object);
  } catch (error) {
    throw new Error(`cannot list the run's outputs at ${runOutputUri}: ${(error as Error).message}`, { cause: error });
  }
  return objects;
}

/**
 * The run caches the workflow leaves alone, found where the snapshot step finds them: the tasks' cacheS3Uri, from
 * HealthOmics while it has the run, else from the snapshot's tasks.jsonl.gz (none when the run was never snapshotted).
 */
async function runCaches(source: RunSource): Promise<string[]> {
  try {
    if (source.run.source === 'healthomics') return await listRunCacheUris(clients.omicsClient(), source.run.id);
    const location = source.record?.snapshotLocation;
    return location ? await snapshotCacheUris(clients.s3Client(), location) : [];
  } catch (error) {
    throw new Error(`cannot find the run caches of run ${source.run.id}: ${(error as Error).message}`, { cause: error });
  }
}

/** Works the plan out; reads HealthOmics, S3 and (when needed) the index, and writes nothing. */
export async function planRun(ref: string, options: PlanOptions, deps: ResolverDeps = {}): Promise<RunPlan> {
  checkRunRef(ref);
  const { config, file: policyFile } = planPolicy(options.policy);
  const now = options.now ?? new Date();
  const resolver = new ResourceResolver(options, deps);
  const openIndex = async () => new RunIndex(clients.documentClient(), await resolver.get('table'));
  const { source, index } = await findRunSource(ref, openIndex);

  const groupLimits = { maxFiles: config.groupMaxFiles, maxBytes: sizeBytes(config.groupMaxBytes) };
  const totals = Object.fromEntries(FILE_ACTIONS.map((a) => [a, { files: 0, bytes: 0 }])) as RunPlan['totals'];
  const plan: RunPlan = { run: source.run, policyFile, files: [], totals, workItems: [], groupLimits, alreadyArchived: 0 };
  const tier = options.tier !== undefined ? namedTier(config, options.tier, policyFile) : matchTier(config, source.facts);
  // Read before anything is listed, so a bad price file fails at once.
  const prices = loadPrices(options.prices);
  if (!tier) return plan;
  plan.tier = tier;
  const waits = tierWaits(tier);
  plan.waits = {
    ...waits,
    ...(source.run.stopTime ? { archiveNotBefore: new Date(Date.parse(source.run.stopTime) + waits.archiveAfterSeconds * 1000).toISOString() } : {}),
  };

  const [objects, excludeUris] = await Promise.all([listOutputs(source.run.runOutputUri), runCaches(source)]);
  const indexed: FileRecord[] = index && source.run.uuid ? await index.listFiles(source.run.uuid) : [];
  const indexedBundles = index && source.run.uuid ? await index.listBundles(source.run.uuid) : [];
  // The classification the workflow's plan step makes, over the same listing.
  const classified = classifyOutputs({
    runUuid: source.run.uuid ?? source.run.id,
    runOutputUri: source.run.runOutputUri,
    objects,
    tier,
    excludeUris,
    indexed,
    indexedBundles,
    newerRun: source.newerRun,
    groupLimits,
    concurrency: config.archiveConcurrency,
    now,
  });
  for (const decision of classified.decisions) {
    plan.files.push({
      path: decision.path,
      size: decision.size,
      lastModified: decision.lastModified.toISOString(),
      action: decision.action,
      rule: decision.rule,
      ruleText: ruleText(tier, decision.rule),
      source: decision.source,
      ...(decision.indexState ? { indexState: decision.indexState } : {}),
    });
    totals[decision.action].files++;
    totals[decision.action].bytes += decision.size;
    // As the real plan does: a file the index has archived is not archived again.
    if (decision.action === 'archive' && decision.indexState === 'ARCHIVED') plan.alreadyArchived++;
  }
  plan.files.sort((a, b) => a.path.localeCompare(b.path));
  if (classified.newerRunObjects) plan.newerRunObjects = classified.newerRunObjects;
  if (classified.runCacheObjects.files) plan.runCacheObjects = { uris: excludeUris, ...classified.runCacheObjects };
  plan.workItems = [
    ...classified.continuedBundles.map((b) => ({ files: b.members, bytes: b.bytes, paths: [], bundle: b.bundleId, tarBytes: b.size })),
    ...classified.bundles.map((b) => ({
      files: b.manifest.members.length,
      bytes: b.bytes,
      paths: b.manifest.members.map((m) => m.path),
      bundle: b.id,
      tarBytes: b.manifest.size,
    })),
    ...classified.workItems.map((item) => ({ files: item.files.length, bytes: item.bytes, paths: item.files.map((f) => f.path) })),
  ];
  plan.cost = estimateCost(plan.files, tier, prices.prices);
  if (prices.file) plan.pricesFile = prices.file;
  return plan;
}

const seconds = (s: number) => (s >= 86400 ? `${(s / 86400).toFixed(s % 86400 ? 1 : 0)} days` : s >= 3600 ? `${(s / 3600).toFixed(1)} h` : `${s} s`);

export function formatPlan(plan: RunPlan, now = new Date()): string {
  const r = plan.run;
  const lines: string[] = [];
  const from =
    r.source === 'healthomics' ? 'from HealthOmics GetRun' : `from the run index (HealthOmics no longer has it; index state ${r.archiveState ?? '?'})`;
  lines.push(
    `Run ${r.id}${r.uuid ? ` (uuid ${r.uuid})` : ''}${r.name ? ` "${r.name}"` : ''}: ${r.status}, workflow ${r.workflowId ?? '-'}${r.runGroupId ? `, run group ${r.runGroupId}` : ''}, ${from}`,
  );
  const tags = Object.entries(r.tags);
  lines.push(`Tags: ${tags.length ? tags.map(([k, v]) => `${k}=${v}`).join(', ') : 'none'}`);
  lines.push(`Output folder: ${r.runOutputUri}`);
  lines.push(`Policy: ${plan.policyFile}`);
  const tier = plan.tier;
  if (!tier) {
    lines.push('', `No tier matches this run: the archiver would leave it alone (no snapshot, no archive, no deletion).`);
    return lines.join('\n');
  }
  const target = tier.target.type === 's3-glacier' ? `s3-glacier (${tier.target.storageClass})` : 'glacier-vault';
  lines.push(
    `Tier: ${tier.name} → target ${target}; deletes archived sources: ${tier.deleteSources ? 'yes' : 'no'}; deletes the HealthOmics run: ${tier.deleteRun ? 'yes' : 'no'}; restore tier ${tier.restoreTier}`,
  );
  if (plan.waits) {
    const due = plan.waits.archiveNotBefore;
    lines.push(
      `Waits: settle ${tier.settleWait} (${seconds(plan.waits.settleSeconds)}) after the run stops, then archive ${tier.archiveAfter} (${seconds(plan.waits.archiveAfterSeconds)}) after it stopped` +
        (due ? `: not before ${due}${Date.parse(due) <= now.getTime() ? ' (already past)' : ''}` : ''),
    );
  }
  lines.push('', `Files (${plan.files.length}):`);
  if (plan.files.length) {
    lines.push(
      table(
        ['path', 'size', 'action', 'rule', 'index state'],
        plan.files.map((f) => [
          f.path,
          formatBytes(f.size),
          f.action,
          f.ruleText,
          f.indexState ? `${f.indexState}${f.source === 'index' ? ' (source deleted)' : ''}` : '-',
        ]),
      ),
    );
  }
  const newer = plan.newerRunObjects;
  if (newer) {
    lines.push(
      `Left out: ${newer.files} object${newer.files === 1 ? '' : 's'} (${formatBytes(newer.bytes)}) written in the output folder since ${newer.since}, ` +
        `when run ${newer.runUuid} took over this run's id (HealthOmics reuses ids, and a run's folder is named by its id)`,
    );
  }
  const caches = plan.runCacheObjects;
  if (caches) {
    lines.push(
      `Left out: ${caches.files} object${caches.files === 1 ? '' : 's'} (${formatBytes(caches.bytes)}) under the run cache${caches.uris.length === 1 ? '' : 's'} ` +
        `${caches.uris.join(', ')} (the archive never touches a run cache)`,
    );
  }
  lines.push(`Totals: ${FILE_ACTIONS.map((a) => `${a} ${plan.totals[a].files} files, ${formatBytes(plan.totals[a].bytes)}`).join('; ')}`);
  lines.push(
    '',
    `Work items (${plan.workItems.length}; a group holds at most ${plan.groupLimits.maxFiles} files and ${formatBytes(plan.groupLimits.maxBytes)}, a larger file goes alone):`,
  );
  plan.workItems.forEach((item, i) =>
    lines.push(
      item.bundle
        ? `  #${i + 1}: bundle ${item.bundle}: ${item.files} small files, ${formatBytes(item.bytes)} (${formatBytes(item.tarBytes ?? item.bytes)} of tar, one archive)`
        : `  #${i + 1}: ${item.files} file${item.files === 1 ? '' : 's'}, ${formatBytes(item.bytes)}${item.files === 1 ? ` (${item.paths[0]})` : ''}`,
    ),
  );
  if (plan.alreadyArchived)
    lines.push(`  (${plan.alreadyArchived} file${plan.alreadyArchived === 1 ? ' is' : 's are'} already archived and would not be archived again)`);
  if (plan.cost) lines.push('', formatCost(plan.cost, plan.pricesFile));
  lines.push('', 'Nothing was changed: this is a preview.');
  return lines.join('\n');
}

/** `plan`: prints the plan (text or JSON) and returns it. */
export async function planCommand(ref: string, options: PlanOptions, io: CommandIO = processIO, deps: ResolverDeps = {}): Promise<RunPlan> {
  const plan = await planRun(ref, options, deps);
  io.out(options.json ? JSON.stringify(plan, null, 2) : formatPlan(plan, options.now));
  return plan;
}
