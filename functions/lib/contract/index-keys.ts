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
/** A bundle moves as one file does: planned, uploading, archived (or failed as a whole). */
export const BUNDLE_STATES = ['PENDING', 'UPLOADING', 'ARCHIVED', 'FAILED'] as const;
export type BundleState = (typeof BUNDLE_STATES)[number];
export const RESTORE_STATES = ['REQUESTED', 'RETRIEVING', 'COPYING', 'RESTORED', 'FAILED'] as const;
export type RestoreState = (typeof RESTORE_STATES)[number];

const RUN_PREFIX = 'RUN#';
export const FILE_PREFIX = 'FILE#';
export const RESTORE_PREFIX = 'RESTORE#';
export const BUNDLE_PREFIX = 'BUNDLE#';

export const runPartition = (runUuid: string) => `${RUN_PREFIX}${runUuid}`;
export const runKey = (runUuid: string) => ({ pk: runPartition(runUuid), sk: 'META' as const });
export const fileKey = (runUuid: string, path: string) => ({ pk: runPartition(runUuid), sk: fileSortKey(path) });
/** A bundle of a run's small files: `BUNDLE#<bundle id>`, next to the files it holds. */
export const bundleKey = (runUuid: string, bundleId: string) => ({ pk: runPartition(runUuid), sk: `${BUNDLE_PREFIX}${bundleId}` });

/**
 * A bundle's id: the run's uuid and the bundle's sequence number in that run, so it names one bundle anywhere (vault
 * descriptions, archive keys, restore items) and a re-planned run numbers its new bundles after the ones it has.
 */
export const bundleIdOf = (runUuid: string, sequence: number) => `${runUuid}-b${String(sequence).padStart(5, '0')}`;

/** The sequence number in a bundle id (bundleIdOf's inverse); undefined for anything else. */
export function bundleSequenceOf(bundleId: string): number | undefined {
  const match = /-b(\d+)$/.exec(bundleId);
  return match ? Number(match[1]) : undefined;
}

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
export const restoreWaiterPrefix = (objectRef: string) => `${WAITER_PREFIX}${restoreFileKeyOf(objectRef)}#`;
/** `objectRef` names the archived object in the run: a file's path, or bundleObjectRef for a bundle. */
export const restoreWaiterKey = (runUuid: string, objectRef: string, restoreId: string) => ({
  pk: runPartition(runUuid),
  sk: `${restoreWaiterPrefix(objectRef)}${restoreId}`,
});
/**
 * What a bundle's waiters are keyed by in place of a path. Were a file ever named so, its waiters and the bundle's
 * would share a key prefix, which is harmless: an event's waiters are also matched by the exact archive key.
 */
export const bundleObjectRef = (bundleId: string) => `bundle:${bundleId}`;
/** Restore file items sort under their request: `RESTORE#<id>#FILE#<key>`. */
export const isRestoreFileSortKey = (sk: string) => sk.startsWith(RESTORE_PREFIX) && sk.includes(`#${FILE_PREFIX}`);
