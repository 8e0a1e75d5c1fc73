// What the operator commands share for output: where text goes, byte sizes, plain tables, run references.
import Table from 'cli-table3';
import type { RunIndex, RunRecord } from '../../functions/lib/index/run-index';

/** Where a command writes; tests capture it, the CLI gives stdout and stderr. */
export interface CommandIO {
  out(text: string): void;
  err(text: string): void;
  /** Whether stderr is a terminal that can redraw progress bars. */
  interactive: boolean;
  /** Where progress bars are drawn when `interactive`; default process.stderr, so stdout keeps only the results. */
  progress?: NodeJS.WritableStream;
}

export const processIO: CommandIO = {
  out: (text) => process.stdout.write(text.endsWith('\n') ? text : `${text}\n`),
  err: (text) => process.stderr.write(text.endsWith('\n') ? text : `${text}\n`),
  interactive: Boolean(process.stderr.isTTY),
};

/** Collects output in memory, for tests and for callers that want the text. */
export function bufferIO(): CommandIO & { stdout: string[]; stderr: string[] } {
  const stdout: string[] = [];
  const stderr: string[] = [];
  return { stdout, stderr, out: (t) => void stdout.push(t), err: (t) => void stderr.push(t), interactive: false };
}

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];

/** 1536 → "1.5 KiB"; bytes stay exact below 1 KiB. */
export function formatBytes(bytes: number | undefined): string {
  if (bytes === undefined || !Number.isFinite(bytes)) return '-';
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${bytes} B` : `${value.toFixed(1)} ${UNITS[unit]}`;
}

/** Long ids (archive ids, hashes) cut for a table; --json keeps them whole. */
export function shorten(value: string | undefined | null, length = 16): string {
  if (!value) return '-';
  return value.length <= length ? value : `${value.slice(0, length)}…`;
}

/** No line between rows: a listing of many files stays one line per file. */
const COMPACT = { mid: '', 'left-mid': '', 'mid-mid': '', 'right-mid': '' };

/** A plain table: no colours, so it reads the same in a terminal, a pipe and a log. */
export function table(head: string[], rows: (string | number)[][]): string {
  const t = new Table({ head, chars: COMPACT, style: { head: [], border: [] } });
  t.push(...rows.map((row) => row.map((cell) => String(cell))));
  return t.toString();
}

/** JSON values (nested GetRun fields) wider than this are folded; ids and ARNs never are, so they copy whole. */
const JSON_WIDTH = 110;

const fold = (value: string) =>
  /^[[{]/.test(value) && value.length > JSON_WIDTH ? (value.match(new RegExp(`.{1,${JSON_WIDTH}}`, 'gs')) ?? [value]).join('\n') : value;

/** Two columns, field and value, for one record. */
export function fieldTable(fields: [string, string][]): string {
  const t = new Table({ chars: COMPACT, style: { head: [], border: [] } });
  t.push(...fields.map(([k, v]) => ({ [k]: fold(v) })));
  return t.toString();
}

/** HealthOmics run ids are digits; anything else given for a run must be its uuid. */
export const isRunId = (ref: string) => /^\d+$/.test(ref);
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Throws unless `ref` is a run id or a run uuid, before anything is asked of AWS. */
export function checkRunRef(ref: string): void {
  if (!isRunId(ref) && !UUID.test(ref)) {
    throw new Error(`"${ref}" is neither a HealthOmics run id (digits, e.g. 1234567) nor a run uuid (e.g. 0f3c…-…)`);
  }
}

export interface FoundRun {
  record: RunRecord;
  /** Older runs that had the same id (HealthOmics reuses ids after deletion), newest first. */
  others: RunRecord[];
}

/** The index's run for an id (its newest uuid) or a uuid; undefined when the index has none. */
export async function findRun(index: RunIndex, ref: string): Promise<FoundRun | undefined> {
  checkRunRef(ref);
  if (isRunId(ref)) {
    const [record, ...others] = await index.findRunsById(ref);
    return record ? { record, others } : undefined;
  }
  const record = await index.getRun(ref);
  return record ? { record, others: [] } : undefined;
}

/** Like findRun, but an unknown run is an error that says where it looked. */
export async function requireRun(index: RunIndex, ref: string): Promise<FoundRun> {
  const found = await findRun(index, ref);
  if (!found) throw new Error(`no run with ${isRunId(ref) ? 'id' : 'uuid'} ${ref} in the run index (table ${index.tableName})`);
  return found;
}
