// The run index's key schema, item keys and states: one table, run, file and restore items under `RUN#<uuid>`.
import { createHash } from 'node:crypto';

/** The table's keys and its two sparse GSIs over run items. */
export const RUN_INDEX = {
  partitionKey: 'pk',
  sortKey: 'sk',
  indexes: {
    byRunId: { name: 'runId-index', partitionKey: 'runId', sortKey: 'stopTime' },
    byArchiveState: { name: 'archiveState-index', partitionKey: 'archiveState', sortKey: 'stopTime' },
  },
} as const;

/** Every item carries the schema version it was written with; `omics-archiver index migrate` moves old ones forward. */
export const SCHEMA_VERSION = 1;

export const ARCHIVE_STATES = ['INDEXED', 'ARCHIVING', 'ARCHIVED', 'PARTIAL', 'FAILED', 'DELETING', 'RUN_DELETED'] as const;
export type ArchiveState = (typeof ARCHIVE_STATES)[number];
export const FILE_STATES = ['PENDING', 'UPLOADING', 'ARCHIVED', 'KEPT', 'FAILED'] as const;
export type FileState = (typeof FILE_STATES)[number];
export const RESTORE_STATES = ['REQUESTED', 'RETRIEVING', 'COPYING', 'RESTORED', 'FAILED'] as const;
export type RestoreState = (typeof RESTORE_STATES)[number];

const RUN_PREFIX = 'RUN#';
export const FILE_PREFIX = 'FILE#';
export const RESTORE_PREFIX = 'RESTORE#';

export const runPartition = (runUuid: string) => `${RUN_PREFIX}${runUuid}`;
export const runKey = (runUuid: string) => ({ pk: runPartition(runUuid), sk: 'META' as const });
export const fileKey = (runUuid: string, path: string) => ({ pk: runPartition(runUuid), sk: fileSortKey(path) });

/** DynamoDB refuses a sort key value over 1,024 bytes (of UTF-8, for a string): a write naming one fails whole. */
export const MAX_SORT_KEY_BYTES = 1024;

/**
 * A file's sort key: `FILE#<path>`, or, when that would pass DynamoDB's 1,024 bytes (an S3 key is up to 1,024 bytes
 * itself, and the path comes after the prefix), as much of the path as fits, cut on a character, then `#~<sha256 of
 * the whole path>`. The item keeps the whole path in `path`, and every lookup derives the key from the path, so such
 * a file is found like any other.
 */
export function fileSortKey(path: string): string {
  const sortKey = `${FILE_PREFIX}${path}`;
  if (Buffer.byteLength(sortKey) <= MAX_SORT_KEY_BYTES) return sortKey;
  const suffix = `#~${createHash('sha256').update(path).digest('hex')}`;
  return `${FILE_PREFIX}${utf8Prefix(path, MAX_SORT_KEY_BYTES - FILE_PREFIX.length - suffix.length)}${suffix}`;
}

/** The longest prefix of `text` of at most `maxBytes` bytes of UTF-8, never splitting a character. */
export function utf8Prefix(text: string, maxBytes: number): string {
  const bytes = Buffer.from(text);
  if (bytes.length <= maxBytes) return text;
  let end = maxBytes;
  // Back off continuation bytes (10xxxxxx) so the cut falls before a character's first byte.
  while (end > 0 && (bytes[end] & 0xc0) === 0x80) end--;
  return bytes.subarray(0, end).toString('utf8');
}
export const restoreKey = (runUuid: string, restoreId: string) => ({ pk: runPartition(runUuid), sk: `${RESTORE_PREFIX}${restoreId}` });
/** A short, ASCII-only key for one file of a restore: it rides in the Glacier job description, which must be ASCII. */
export const restoreFileKeyOf = (path: string) => createHash('sha256').update(path).digest('hex').slice(0, 24);
export const restoreFileKeyByKey = (runUuid: string, restoreId: string, fileKey: string) => ({
  pk: runPartition(runUuid),
  sk: `${RESTORE_PREFIX}${restoreId}#${FILE_PREFIX}${fileKey}`,
});
export const restoreFileKey = (runUuid: string, restoreId: string, path: string) => restoreFileKeyByKey(runUuid, restoreId, restoreFileKeyOf(path));
/**
 * A restore waiting on one archive object (an S3 restore with its task token parked): `WAITER#<file key>#<restore id>`
 * in the run's partition, so the object's Object Restore Completed event finds every restore waiting on it with one
 * query, `begins_with(sk, restoreWaiterPrefix(path))`, and no scan.
 */
export const WAITER_PREFIX = 'WAITER#';
export const restoreWaiterPrefix = (path: string) => `${WAITER_PREFIX}${restoreFileKeyOf(path)}#`;
export const restoreWaiterKey = (runUuid: string, path: string, restoreId: string) => ({
  pk: runPartition(runUuid),
  sk: `${restoreWaiterPrefix(path)}${restoreId}`,
});
/** Restore file items sort under their request: `RESTORE#<id>#FILE#<key>`. */
export const isRestoreFileSortKey = (sk: string) => sk.startsWith(RESTORE_PREFIX) && sk.includes(`#${FILE_PREFIX}`);
