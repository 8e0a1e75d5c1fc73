// Pagination tokens the emulator issues and checks: like AWS, a token it did not issue is a ValidationException.
import { randomBytes } from 'node:crypto';
import { OmicsError, constraintError } from './errors';

/** HealthOmics list operations take 1-100 items a page (ListRuns, ListRunTasks). */
export const MAX_PAGE_SIZE = 100;

interface Cursor {
  /** The list the token belongs to (operation and run), so a ListRuns token cannot page ListRunTasks. */
  scope: string;
  offset: number;
}

export interface Page<T> {
  items: T[];
  nextToken?: string;
}

/** Issued tokens; each maps to where its list resumes. */
export class TokenBook {
  private readonly cursors = new Map<string, Cursor>();

  /** One page of `items` for a request's `startingToken` and `maxResults` (already read from the query). */
  page<T>(scope: string, items: readonly T[], startingToken: string | undefined, maxResults: number | undefined): Page<T> {
    const limit = maxResults ?? MAX_PAGE_SIZE;
    let offset = 0;
    if (startingToken !== undefined) {
      const cursor = this.cursors.get(startingToken);
      if (!cursor || cursor.scope !== scope) {
        throw new OmicsError('ValidationException', 'The pagination token is invalid.');
      }
      offset = cursor.offset;
    }
    const slice = items.slice(offset, offset + limit);
    const next = offset + slice.length;
    if (next >= items.length) return { items: slice };
    const token = randomBytes(24).toString('base64url');
    this.cursors.set(token, { scope, offset: next });
    return { items: slice, nextToken: token };
  }
}

/** Reads `maxResults` from a query string the way the service validates it (an integer from 1 to 100). */
export function readMaxResults(raw: string | null): number | undefined {
  if (raw === null) return undefined;
  const value = Number(raw);
  if (!/^-?\d+$/.test(raw) || !Number.isSafeInteger(value)) {
    throw new OmicsError('ValidationException', `Invalid value '${raw}' for maxResults: must be an integer`);
  }
  if (value < 1) throw constraintError('maxResults', raw, 'Member must have value greater than or equal to 1');
  if (value > MAX_PAGE_SIZE) throw constraintError('maxResults', raw, `Member must have value less than or equal to ${MAX_PAGE_SIZE}`);
  return value;
}

/** Reads `startingToken`: 1-128 characters. */
export function readStartingToken(raw: string | null): string | undefined {
  if (raw === null) return undefined;
  if (raw.length < 1 || raw.length > 128) {
    throw constraintError('startingToken', raw, 'Member must have length between 1 and 128');
  }
  return raw;
}
