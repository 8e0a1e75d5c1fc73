// What every operation handler gets: the store, the account and Region names, the clock and the request itself.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { invalidParameter } from './errors';
import type { JobRecord, Store, Tier } from './store';

/** Starts the clock on a job; jobs complete after a configured delay per retrieval tier. */
export interface JobScheduler {
  delayMs(kind: Tier | 'inventory'): number;
  schedule(job: JobRecord): void;
  /** Whether this Expedited InitiateJob finds no capacity (InsufficientCapacityException); a test control. */
  refuseExpedited(): boolean;
}

export interface Ctx {
  store: Store;
  accountId: string;
  region: string;
  now: () => Date;
  vaultArn(vaultName: string): string;
  /** The relative URI AWS returns in Location headers: /{accountId}/vaults/{vault}/... */
  location(vaultName: string, ...rest: string[]): string;
  jobs: JobScheduler;
}

export interface Call {
  req: IncomingMessage;
  res: ServerResponse;
  vaultName: string;
  /** Path segments after the vault's sub-resource name (upload id, archive id, job id, "output"). */
  ids: string[];
  query: URLSearchParams;
}

/** `limit` query parameters: an integer from 1 to `max`, `max` when absent. */
export function parseLimit(query: URLSearchParams, max: number): number {
  const raw = query.get('limit');
  if (raw === null) return max;
  const limit = /^\d+$/.test(raw) ? Number(raw) : NaN;
  if (!(limit >= 1 && limit <= max)) throw invalidParameter(`Invalid limit: ${raw}. It must be an integer from 1 to ${max}`);
  return limit;
}

/** Paginates a sorted list: starts at the item whose key equals `marker`, returns the next page's first key. */
export function page<T>(items: T[], key: (item: T) => string, marker: string | null, limit: number) {
  let start = 0;
  if (marker) {
    start = items.findIndex((item) => key(item) === marker);
    if (start < 0) throw invalidParameter(`Invalid marker: ${marker}`);
  }
  const slice = items.slice(start, start + limit);
  const next = start + limit < items.length ? key(items[start + limit]) : null;
  return { slice, next };
}
