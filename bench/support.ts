// Shared pieces of the benchmarks: the benchmark contract, result tables, medians, formatting and heap sampling.
import { randomFillSync } from 'node:crypto';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

export const KIB = 1024;
export const MIB = 1024 * KIB;

export interface BenchOptions {
  /** Smaller sizes and fewer repetitions: a smoke run, not numbers to publish. */
  quick: boolean;
  /** Progress lines while a benchmark runs (the tables are printed by the runner). */
  log: (line: string) => void;
}

/** One result table: every number in it was measured in the same process, side by side. */
export interface ResultTable {
  title: string;
  columns: string[];
  /** Right-aligned when every cell of the column after the first row looks like a number. */
  rows: string[][];
  /** What the table measured and how to read it, one sentence each. */
  notes?: string[];
}

export interface BenchmarkOutcome {
  tables: ResultTable[];
  /** Set when the benchmark could not run here (a missing tool), so the report says why instead of failing. */
  skipped?: string;
}

export interface Benchmark {
  /** Short name for `--only`. */
  id: string;
  title: string;
  run(options: BenchOptions): Promise<BenchmarkOutcome>;
}

export function median(values: readonly number[]): number {
  if (values.length === 0) throw new RangeError('median of nothing');
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** MiB per second from bytes and milliseconds. */
export const mibPerSecond = (bytes: number, ms: number): number => bytes / MIB / (ms / 1000);

export const fmt = {
  mibs: (value: number) => value.toFixed(value >= 100 ? 0 : 1),
  ratio: (value: number) => `${value.toFixed(2)}×`,
  seconds: (ms: number) => (ms / 1000).toFixed(ms >= 100_000 ? 0 : ms >= 10_000 ? 1 : 2),
  mib: (bytes: number) => (bytes / MIB).toFixed(bytes >= 100 * MIB ? 0 : 1),
  count: (value: number) => Math.round(value).toLocaleString('en-US'),
};

/** Incompressible bytes; randomFill in slices because one call is capped at 2 GiB and slices keep the event loop honest. */
export function randomData(size: number): Buffer {
  const data = Buffer.allocUnsafe(size);
  for (let offset = 0; offset < size; offset += 64 * MIB) randomFillSync(data, offset, Math.min(64 * MIB, size - offset));
  return data;
}

/** Yields `data` in chunks of `chunkSize`, as a socket or an SDK body would hand it over. */
export function* chunksOf(data: Uint8Array, chunkSize: number): Generator<Uint8Array> {
  for (let offset = 0; offset < data.length; offset += chunkSize) yield data.subarray(offset, offset + chunkSize);
}

let gcFunction: (() => void) | undefined;

/** A full garbage collection, so heap baselines do not carry the previous benchmark's garbage. */
export function collectGarbage(): void {
  if (!gcFunction) {
    // `npm run bench` is plain `tsx bench/run.ts`; exposing gc at runtime spares every caller a node flag.
    setFlagsFromString('--expose-gc');
    gcFunction = runInNewContext('gc') as () => void;
  }
  gcFunction();
}

/**
 * Peak V8 heap use above a baseline taken after a full collection: `sample()` wherever memory may peak (heap in use,
 * garbage included, as the process sees it), `sampleLive()` where the most is held (after a full collection: what
 * must fit).
 */
export class HeapPeak {
  private readonly baseline: number;
  private peak: number;
  private livePeak: number;

  constructor() {
    collectGarbage();
    this.baseline = process.memoryUsage().heapUsed;
    this.peak = this.baseline;
    this.livePeak = this.baseline;
  }

  sample(): void {
    this.peak = Math.max(this.peak, process.memoryUsage().heapUsed);
  }

  sampleLive(): void {
    this.sample();
    collectGarbage();
    this.livePeak = Math.max(this.livePeak, process.memoryUsage().heapUsed);
  }

  /** Bytes of peak live growth over the baseline, from the `sampleLive()` calls. */
  get liveGrowth(): number {
    return this.livePeak - this.baseline;
  }

  /** Bytes of peak growth over the baseline. */
  get growth(): number {
    this.sample();
    return this.peak - this.baseline;
  }
}

const isNumeric = (cell: string) => /^[-+]?[\d,.]+\s*(×|%|s|MiB|KiB)?$/.test(cell.trim());

/** A Markdown table with padded columns, readable both in a terminal and rendered. */
export function markdownTable(table: ResultTable): string {
  const widths = table.columns.map((c, i) => Math.max(c.length, ...table.rows.map((r) => (r[i] ?? '').length)));
  const right = table.columns.map((_, i) => table.rows.length > 0 && table.rows.every((r) => isNumeric(r[i] ?? '')));
  const line = (cells: string[]) => `| ${cells.map((cell, i) => (right[i] ? cell.padStart(widths[i]) : cell.padEnd(widths[i]))).join(' | ')} |`;
  const rule = `| ${widths.map((w, i) => (right[i] ? `${'-'.repeat(w - 1)}:` : '-'.repeat(w))).join(' | ')} |`;
  return [line(table.columns), rule, ...table.rows.map((r) => line(table.columns.map((_, i) => r[i] ?? '')))].join('\n');
}

/** A table with its title and notes, as the runner prints it and as docs/performance.md shows it. */
export function renderTable(table: ResultTable): string {
  const notes = (table.notes ?? []).map((n) => `\n${n}`).join('\n');
  return `**${table.title}**\n\n${markdownTable(table)}\n${notes}`;
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
