// `omics-archiver runs list` and `runs show`: what the run index knows about archived runs, their files and restores.
import { InvalidArgumentError } from 'commander';
import * as clients from '../../functions/lib/runtime/clients';
import {
  ARCHIVE_STATES,
  RunIndex,
  type ArchiveState,
  type FileRecord,
  type RestoreFileRecord,
  type RestoreRequestRecord,
  type RunRecord,
} from '../../functions/lib/index/run-index';
import { checkRunRef, fieldTable, formatBytes, processIO, requireRun, shorten, table, type CommandIO } from './display';
import { ResourceResolver, type ResolverDeps, type ResourceFlags } from './resources';

/** `--state`: one of the index's archive states, in any case. */
export function parseArchiveState(value: string): ArchiveState {
  const state = value.toUpperCase();
  if (!(ARCHIVE_STATES as readonly string[]).includes(state)) {
    throw new InvalidArgumentError(`must be one of ${ARCHIVE_STATES.join(', ')}`);
  }
  return state as ArchiveState;
}

const DATE = /^\d{4}-\d{2}-\d{2}$/;
const DATE_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,3})?)?(Z|[+-]\d{2}:\d{2})?$/;

/**
 * A date (`2025-01-31`) or date-time (`2025-01-31T12:00`, UTC unless it has an offset) as the ISO string stop times are
 * stored in. A bare date given for `until` means the end of that day, so `--since D --until D` is the whole of day D.
 */
export function parseDateBound(value: string, bound: 'since' | 'until'): string {
  let text = value.trim();
  if (DATE.test(text)) text = bound === 'since' ? `${text}T00:00:00.000Z` : `${text}T23:59:59.999Z`;
  else if (DATE_TIME.test(text) && !/(Z|[+-]\d{2}:\d{2})$/.test(text)) text = `${text}Z`;
  const time = DATE_TIME.test(text) ? Date.parse(text) : NaN;
  if (Number.isNaN(time)) {
    throw new InvalidArgumentError('must be a date such as 2025-01-31 or a date-time such as 2025-01-31T12:00:00Z');
  }
  return new Date(time).toISOString();
}

export function parseLimit(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('must be a whole number of runs, at least 1');
  return n;
}

export interface ListFilter {
  state?: ArchiveState;
  workflow?: string;
  /** ISO strings, inclusive. */
  since?: string;
  until?: string;
  limit?: number;
}

/**
 * Runs from the archiveState GSI, newest stop time first: one state, or every state merged. The workflow is not a key
 * of either index, so it filters what the queries return (and the limit then applies after it).
 */
export async function listRuns(index: RunIndex, filter: ListFilter): Promise<RunRecord[]> {
  if (filter.since && filter.until && filter.since > filter.until) {
    throw new Error(`--since ${filter.since} is after --until ${filter.until}`);
  }
  const range = { from: filter.since, to: filter.until };
  // Without a workflow filter each state's newest `limit` runs are enough for the merged top `limit`.
  const perQuery = filter.workflow ? undefined : filter.limit;
  const states = filter.state ? [filter.state] : ARCHIVE_STATES;
  const pages = await Promise.all(states.map((state) => index.listRunsByState(state, range, perQuery)));
  const runs = pages
    .flat()
    .filter((run) => !filter.workflow || run.workflowId === filter.workflow)
    .sort((a, b) => (a.stopTime < b.stopTime ? 1 : a.stopTime > b.stopTime ? -1 : a.runUuid.localeCompare(b.runUuid)));
  return filter.limit === undefined ? runs : runs.slice(0, filter.limit);
}

export interface RunsListOptions extends ListFilter, ResourceFlags {
  json?: boolean;
}

export function runsTable(runs: RunRecord[]): string {
  return table(
    ['run id', 'uuid', 'name', 'workflow', 'tier', 'state', 'stop time', 'files archived/total', 'bytes archived/total'],
    runs.map((run) => [
      run.runId,
      run.runUuid,
      run.name ?? '-',
      run.workflowId ?? '-',
      run.tier,
      run.archiveState,
      run.stopTime,
      run.counts ? `${run.counts.archived}/${run.counts.files}` : '-',
      run.bytes ? `${formatBytes(run.bytes.archived)} / ${formatBytes(run.bytes.total)}` : '-',
    ]),
  );
}

/** `runs list`: prints the runs (a table, or a JSON array) and returns them. */
export async function runsList(options: RunsListOptions, io: CommandIO = processIO, deps: ResolverDeps = {}): Promise<RunRecord[]> {
  const tableName = await new ResourceResolver(options, deps).get('table');
  const runs = await listRuns(new RunIndex(clients.documentClient(), tableName), options);
  if (options.json) {
    io.out(JSON.stringify(runs, null, 2));
  } else if (runs.length === 0) {
    io.out(`No runs${options.state ? ` in state ${options.state}` : ''}${options.workflow ? ` of workflow ${options.workflow}` : ''} in ${tableName}.`);
  } else {
    io.out(runsTable(runs));
    io.out(
      `${runs.length} run${runs.length === 1 ? '' : 's'}${options.limit !== undefined && runs.length === options.limit ? ` (--limit ${options.limit})` : ''}`,
    );
  }
  return runs;
}

export interface RunDetails {
  run: RunRecord;
  /** Older runs that had the same id, newest first. */
  otherUuids: { runUuid: string; archiveState: string; stopTime: string }[];
  files: FileRecord[];
  restores: { requests: RestoreRequestRecord[]; files: RestoreFileRecord[] };
}

export async function runDetails(index: RunIndex, ref: string): Promise<RunDetails> {
  const { record, others } = await requireRun(index, ref);
  const [files, restores] = await Promise.all([index.listFiles(record.runUuid), index.listRestores(record.runUuid)]);
  return {
    run: record,
    otherUuids: others.map((r) => ({ runUuid: r.runUuid, archiveState: r.archiveState, stopTime: r.stopTime })),
    files: files.sort((a, b) => a.path.localeCompare(b.path)),
    restores,
  };
}

function valueText(key: string, value: unknown): string {
  if (value === undefined || value === null) return '-';
  if (key === 'counts' && typeof value === 'object') {
    const c = value as NonNullable<RunRecord['counts']>;
    return `${c.files} files: ${c.archive} to archive, ${c.keep} kept, ${c.skip} skipped; ${c.archived} archived, ${c.failed} failed`;
  }
  if (key === 'bytes' && typeof value === 'object') {
    const b = value as NonNullable<RunRecord['bytes']>;
    return `${formatBytes(b.total)} total (${b.total} B), ${formatBytes(b.archived)} archived (${b.archived} B)`;
  }
  if (key === 'failedFiles' && Array.isArray(value)) {
    return (value as { path: string; reason: string }[]).map((f) => `${f.path}: ${f.reason}`).join('\n') || '-';
  }
  if (typeof value === 'object') return JSON.stringify(value);
  // What an index item holds besides objects: strings, numbers and booleans.
  const scalar = value as string | number | boolean;
  return String(scalar);
}

/** The record's own fields first, in a reading order; anything newer in the item follows. */
const RUN_FIELD_ORDER = [
  'runId',
  'runUuid',
  'runArn',
  'name',
  'status',
  'workflowId',
  'runGroupId',
  'tier',
  'deleteRun',
  'archiveState',
  'stopTime',
  'creationTime',
  'runOutputUri',
  'snapshotLocation',
  'executionArn',
  'counts',
  'bytes',
  'failureReason',
  'failedFiles',
  'archivedAt',
  'runDeletedAt',
  'runDeletionNote',
  'updatedAt',
  'schemaVersion',
];

export function formatRunDetails(details: RunDetails): string {
  const { run } = details;
  const lines: string[] = [];
  lines.push(`Run ${run.runId} (uuid ${run.runUuid}): ${run.archiveState}`);
  if (details.otherUuids.length) {
    lines.push(`Run id ${run.runId} was reused: this is the newest of ${details.otherUuids.length + 1} runs with it. The others:`);
    for (const o of details.otherUuids) lines.push(`  ${o.runUuid}  ${o.archiveState}  stopped ${o.stopTime}`);
  }
  const item = run as unknown as Record<string, unknown>;
  const keys = [
    ...RUN_FIELD_ORDER,
    ...Object.keys(item)
      .filter((k) => !RUN_FIELD_ORDER.includes(k) && !['pk', 'sk', 'run'].includes(k))
      .sort(),
  ];
  lines.push(fieldTable(keys.filter((k) => item[k] !== undefined).map((k) => [k, valueText(k, item[k])])));
  const getRun = Object.entries(run.run ?? {});
  if (getRun.length) {
    lines.push('', 'HealthOmics GetRun, as snapshotted:');
    lines.push(fieldTable(getRun.map(([k, v]) => [k, valueText(k, v)])));
  }

  lines.push('', `Files (${details.files.length}):`);
  if (details.files.length) {
    lines.push(
      table(
        ['path', 'size', 'action', 'state', 'target', 'archive id / key', 'tree hash', 'sha256', 'source deleted'],
        details.files.map((f) => [
          f.path,
          formatBytes(f.size),
          f.action,
          f.state + (f.failureReason ? `: ${f.failureReason}` : ''),
          f.target ?? '-',
          f.bundle
            ? `bundle ${f.bundle.id} @${f.bundle.offset}`
            : f.archiveId
              ? shorten(f.archiveId, 20)
              : f.archiveKey
                ? `s3://${f.archiveBucket ?? '?'}/${f.archiveKey}${f.archiveVersionId ? ` (${shorten(f.archiveVersionId, 8)})` : ''}`
                : '-',
          shorten(f.treeHash, 12),
          shorten(f.sha256, 12),
          f.sourceDeleted ? 'yes' : 'no',
        ]),
      ),
    );
  }

  const { requests, files } = details.restores;
  lines.push('', `Restores (${requests.length}):`);
  if (requests.length) {
    lines.push(
      table(
        ['restore id', 'state', 'tier', 'destination', 'files', 'restored', 'failed', 'requested', 'completed'],
        requests.map((r) => [r.restoreId, r.state, r.tier, r.destination, r.fileCount, r.restored ?? 0, r.failed ?? 0, r.createdAt, r.completedAt ?? '-']),
      ),
    );
  }
  if (files.length) {
    lines.push(
      table(
        ['restore id', 'path', 'state', 'bytes done', 'destination', 'failure'],
        files.map((f) => [f.restoreId, f.path, f.state, formatBytes(f.bytesDone ?? 0), f.destination, f.failureReason ?? '-']),
      ),
    );
  }
  lines.push('', 'Archive ids and hashes are shortened here; --json prints them whole.');
  return lines.join('\n');
}

export interface RunsShowOptions extends ResourceFlags {
  json?: boolean;
}

/** `runs show`: prints one run's record, files and restores, and returns them. */
export async function runsShow(ref: string, options: RunsShowOptions, io: CommandIO = processIO, deps: ResolverDeps = {}): Promise<RunDetails> {
  checkRunRef(ref);
  const tableName = await new ResourceResolver(options, deps).get('table');
  const details = await runDetails(new RunIndex(clients.documentClient(), tableName), ref);
  io.out(options.json ? JSON.stringify(details, null, 2) : formatRunDetails(details));
  return details;
}
