// The run index repository: run, file and restore items in one DynamoDB table, moved between states with conditional writes.
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import {
  BatchWriteCommand,
  DeleteCommand,
  GetCommand,
  PutCommand,
  QueryCommand,
  UpdateCommand,
  type DynamoDBDocumentClient,
  type QueryCommandInput,
} from '@aws-sdk/lib-dynamodb';
import {
  BUNDLE_PREFIX,
  ERROR_NAMES,
  FILE_PREFIX,
  RESTORE_PREFIX,
  RUN_INDEX,
  SCHEMA_VERSION,
  WAITER_PREFIX,
  bundleKey,
  fileKey,
  isRestoreFileSortKey,
  restoreFileKey,
  restoreFileKeyByKey,
  restoreFileKeyOf,
  restoreKey,
  restoreWaiterKey,
  restoreWaiterPrefix,
  runKey,
  type ArchiveState,
  type BundleState,
  type FileState,
  type RestoreState,
  type RestoreTier,
} from '../contract';

// The key schema, item keys and states are the contract's; the repository re-exports them for its callers.
export {
  ARCHIVE_STATES,
  BUNDLE_STATES,
  FILE_STATES,
  RESTORE_STATES,
  SCHEMA_VERSION,
  bundleKey,
  fileKey,
  restoreFileKey,
  restoreFileKeyOf,
  restoreKey,
  runKey,
  type ArchiveState,
  type BundleState,
  type FileState,
  type RestoreState,
} from '../contract';

export interface FileCounts {
  files: number;
  archive: number;
  keep: number;
  skip: number;
  archived: number;
  failed: number;
}

export interface RunRecord {
  pk: string;
  sk: 'META';
  schemaVersion: number;
  runUuid: string;
  runId: string;
  runArn: string;
  name?: string;
  status: string;
  workflowId?: string;
  runGroupId?: string;
  tier: string;
  deleteRun: boolean;
  archiveState: ArchiveState;
  /** Sort key of both GSIs; a run that never stopped sorts by its creation time. */
  stopTime: string;
  creationTime?: string;
  runOutputUri?: string;
  snapshotLocation?: string;
  executionArn?: string;
  /** Every field GetRun returned, dates as ISO strings. */
  run: Record<string, unknown>;
  counts?: FileCounts;
  bytes?: { total: number; archived: number };
  failureReason?: string;
  failedFiles?: { path: string; reason: string }[];
  archivedAt?: string;
  runDeletedAt?: string;
  runDeletionNote?: string;
  /** While DELETING: the epoch ms until which one deletion attempt has the run to itself (delete-run.ts). */
  deletionClaimExpiresAt?: number;
  updatedAt: string;
}

export type ArchiveTargetType = 'glacier-vault' | 's3-glacier';

export interface FileRecord {
  pk: string;
  sk: string;
  schemaVersion: number;
  runUuid: string;
  /** Path relative to the run's output folder, as users and globs see it. */
  path: string;
  sourceBucket: string;
  sourceKey: string;
  size: number;
  etag?: string;
  lastModified?: string;
  action: 'archive' | 'keep';
  state: FileState;
  target?: ArchiveTargetType;
  vaultName?: string;
  archiveId?: string;
  archiveBucket?: string;
  archiveKey?: string;
  archiveVersionId?: string;
  storageClass?: string;
  treeHash?: string;
  sha256?: string;
  /** The checksum S3 verified the s3-glacier copy with (`CRC64NVME`), and its value as S3 reports it (base64). */
  checksumAlgorithm?: 'CRC64NVME';
  checksum?: string;
  /** How the s3-glacier copy was made: one CopyObject, or a multipart copy of `copyParts` parts. */
  copyMethod?: 'single' | 'multipart';
  copyParts?: number;
  /** The archived version's S3 Object Lock retention (its tier's `retainFor`): mode and the instant it ends. */
  retentionMode?: 'GOVERNANCE' | 'COMPLIANCE';
  retainUntil?: string;
  partSize?: number;
  uploadId?: string;
  partsDone?: number;
  bytesDone?: number;
  /**
   * The upload's checkpoint (transfer/progress.ts): the hash states after the first `sha256Bytes` bytes, all of them
   * at the destination, so a resumed upload does not read them again. Removed once ARCHIVED.
   */
  sha256State?: string;
  sha256Bytes?: number;
  /** A running CRC64NVME of the source over the same bytes, for s3-glacier copies of sources S3 has none for. */
  crc64State?: string;
  sourceDeleted?: boolean;
  sourceDeletedAt?: string;
  failureReason?: string;
  /** Claims taken on the file (claimFile): above one, an earlier attempt may have left an upload open. */
  attempts?: number;
  archivedAt?: string;
  /** Recorded just before a vault upload is completed, so an attempt after a crash can complete it again (vault-upload.ts). */
  completingTreeHash?: string;
  completingSha256?: string;
  /** The same for a multipart copy into an S3 Glacier class: the copy's checksum, so a resume can adopt it (verified-copy.ts). */
  completingCrc64nvme?: string;
  /** The worker uploading or copying the file now (archive-files.ts), until `claimExpiresAt` (epoch ms) at the latest. */
  claimOwner?: string;
  claimExpiresAt?: number;
  /** The bundle the plan put this small file in (BundleRecord); the bundle's record holds the archive, the file where it is in it. */
  bundleId?: string;
  /** Set once the file is archived in a bundle: the bundle, and where the file's bytes are in its tar (offset of the data, length). */
  bundle?: { id: string; offset: number; length: number };
  updatedAt: string;
}

/**
 * A bundle of a run's small files (`BUNDLE#<id>`): one tar archive in the vault or one object in the archive bucket,
 * moved PENDING → UPLOADING → ARCHIVED as a file is, with the same claim, progress and completion-intent fields. Its
 * members keep their own file records, which say where in the bundle each one is once it is ARCHIVED.
 */
export interface BundleRecord {
  pk: string;
  sk: string;
  schemaVersion: number;
  runUuid: string;
  bundleId: string;
  state: BundleState;
  target: ArchiveTargetType;
  /** Members, their bytes, and the tar's size (headers, padding and end blocks included). */
  members: number;
  bytes: number;
  size: number;
  /** The manifest (members in tar order, with offsets) in the snapshot bucket. */
  manifestBucket: string;
  manifestKey: string;
  vaultName?: string;
  archiveId?: string;
  treeHash?: string;
  /** SHA-256 of the whole tar, hex. */
  sha256?: string;
  archiveBucket?: string;
  archiveKey?: string;
  archiveVersionId?: string;
  storageClass?: string;
  checksumAlgorithm?: 'CRC64NVME';
  checksum?: string;
  retentionMode?: 'GOVERNANCE' | 'COMPLIANCE';
  retainUntil?: string;
  partSize?: number;
  uploadId?: string;
  partsDone?: number;
  bytesDone?: number;
  completingTreeHash?: string;
  completingSha256?: string;
  completingCrc64nvme?: string;
  /** Every member's file record says ARCHIVED (with where it is in the bundle): set after the bundle itself is. */
  membersRecorded?: boolean;
  /** Members, from the first in manifest order, whose sources the tier's deleteSources has dealt with. */
  sourcesRemoved?: number;
  failureReason?: string;
  attempts?: number;
  claimOwner?: string;
  claimExpiresAt?: number;
  archivedAt?: string;
  updatedAt: string;
}

export interface RestoreRequestRecord {
  pk: string;
  sk: string;
  schemaVersion: number;
  runUuid: string;
  restoreId: string;
  state: RestoreState;
  request: Record<string, unknown>;
  tier: string;
  destination: string;
  executionArn?: string;
  fileCount: number;
  restored?: number;
  failed?: number;
  createdAt: string;
  updatedAt: string;
  completedAt?: string;
}

export interface RestoreFileRecord {
  pk: string;
  sk: string;
  schemaVersion: number;
  runUuid: string;
  restoreId: string;
  fileKey: string;
  path: string;
  state: RestoreState;
  destination: string;
  jobId?: string;
  /** Retrieval jobs whose output expired before the copy finished (copy-restored-file.ts starts a new one, up to a few). */
  expiredJobs?: number;
  taskToken?: string;
  /** The tier the retrieval was asked for at: the restore's, unless the storage class does not offer it. */
  retrievalTier?: RestoreTier;
  /** Why `retrievalTier` is not the tier the restore asked for, e.g. "DEEP_ARCHIVE has no Expedited retrieval". */
  tierFallback?: string;
  uploadId?: string;
  bytesDone?: number;
  /** The bundle the file comes back from; its first member's record carries the bundle's retrieval. */
  bundleId?: string;
  /** On that first member's record: members of the bundle, in bundle order from the first, already settled (restored or failed). */
  membersDone?: number;
  /**
   * The copy's checkpoint (glacier-retrieval's CopyProgress): SHA-256 and tree-hash states after the first
   * `sha256Bytes` bytes, all of them in the S3 upload, so a resumed copy does not fetch them again. Removed once RESTORED.
   */
  sha256State?: string;
  sha256Bytes?: number;
  treeHashState?: string;
  /** A running CRC64NVME of a restored copy being copied in parts (only when its source needs reading). */
  crc64State?: string;
  failureReason?: string;
  createdAt: string;
  updatedAt: string;
  restoredAt?: string;
  /** The worker copying the file now, until `claimExpiresAt` (epoch ms) at the latest. */
  claimOwner?: string;
  claimExpiresAt?: number;
}

/**
 * A restore waiting on one archive object's S3 restore (`WAITER#<file key>#<restore id>`): what the Object Restore
 * Completed event needs to find that restore's file item, whose task token it then resumes.
 */
export interface RestoreWaiterRecord {
  pk: string;
  sk: string;
  schemaVersion: number;
  runUuid: string;
  restoreId: string;
  /** The restore file record holding the task token (a bundle's: its first requested member's). */
  path: string;
  /** What the waiter is keyed by, when it is not `path`: bundleObjectRef for a bundle (waiterRefOf). */
  objectRef?: string;
  /** The object (and version) being restored, as RestoreObject named it. */
  archiveBucket: string;
  archiveKey: string;
  archiveVersionId?: string;
  createdAt: string;
  updatedAt: string;
}

/** What a waiter is keyed by: the archived object it waits on, a file's path unless it names another. */
export const waiterRefOf = (waiter: Pick<RestoreWaiterRecord, 'path' | 'objectRef'>) => waiter.objectRef ?? waiter.path;

/** A write whose condition did not hold: the item is not in the state the caller expected. */
export class StateConflictError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StateConflict';
  }
}

/** Another execution owns the run's archive and is still at it: this one stands down, archiving nothing. */
export class ArchiveInProgressError extends Error {
  constructor(
    readonly runUuid: string,
    readonly ownerExecutionArn: string | undefined,
  ) {
    super(`run ${runUuid} is being archived by ${ownerExecutionArn ?? 'another execution'}; this execution stands down`);
    this.name = ERROR_NAMES.archiveInProgress;
  }
}

/** Another worker holds a live claim on a file (or a restored file's copy): retried until it finishes or the claim expires. */
export class FileClaimedError extends Error {
  constructor(what: string, holder: { owner: string; expiresAt: number }) {
    super(`${what} is being worked on by another worker (${holder.owner}, claim expires ${new Date(holder.expiresAt).toISOString()})`);
    this.name = ERROR_NAMES.fileClaimed;
  }
}

/**
 * A claim lasts until its worker's invocation deadline plus this. Lambda ends an invocation at its deadline, so the
 * claim outlives its worker only by clock skew between hosts and a request still in flight, never while it could
 * write; a crashed worker's file waits at most this long past that deadline for the next one.
 */
export const CLAIM_SLACK_MS = 15_000;

/** A claim on a file or restore file: who holds it, until when (epoch ms), and the time to compare expiries with. */
export interface Claim {
  owner: string;
  expiresAt: number;
  now: number;
}

/** States in which a run's archive is under way, owned by the execution its record names. */
export const IN_PROGRESS_STATES = ['INDEXED', 'ARCHIVING'] as const satisfies readonly ArchiveState[];

const now = () => new Date().toISOString();

/** DynamoDB refused a write because its condition did not hold (the SDK's class, or its name after a re-wrap). */
const isConditionFailed = (error: unknown) => error instanceof ConditionalCheckFailedException || (error as Error).name === 'ConditionalCheckFailedException';

async function conditional<T>(write: () => Promise<T>, conflict: string): Promise<T> {
  try {
    return await write();
  } catch (error) {
    if (isConditionFailed(error)) {
      throw new StateConflictError(conflict);
    }
    throw error;
  }
}

/** Builds `SET a = :a, b = :b` with placeholder names, skipping undefined values. */
/** Fields to write: a value sets it, `null` removes it, `undefined` leaves it as it is. */
export type Changes<T> = { [K in keyof T]?: T[K] | null };

/** Builds `SET a = :a, ... REMOVE b` with placeholder names. */
function setExpression(fields: Record<string, unknown>, prefix = 'v') {
  const names: Record<string, string> = {};
  const values: Record<string, unknown> = {};
  const sets: string[] = [];
  const removes: string[] = [];
  Object.entries(fields).forEach(([field, value], i) => {
    if (value === undefined) return;
    names[`#${prefix}${i}`] = field;
    if (value === null) {
      removes.push(`#${prefix}${i}`);
      return;
    }
    values[`:${prefix}${i}`] = value;
    sets.push(`#${prefix}${i} = :${prefix}${i}`);
  });
  return { expression: `SET ${sets.join(', ')}${removes.length ? ` REMOVE ${removes.join(', ')}` : ''}`, names, values };
}

export class RunIndex {
  constructor(
    private readonly db: DynamoDBDocumentClient,
    readonly tableName: string,
  ) {}

  async getRun(runUuid: string): Promise<RunRecord | undefined> {
    const { Item } = await this.db.send(new GetCommand({ TableName: this.tableName, Key: runKey(runUuid), ConsistentRead: true }));
    return Item as RunRecord | undefined;
  }

  /** Every uuid a run id has had (HealthOmics reuses ids after deletion), newest first. */
  async findRunsById(runId: string): Promise<RunRecord[]> {
    return this.queryAll<RunRecord>({
      TableName: this.tableName,
      IndexName: RUN_INDEX.indexes.byRunId.name,
      KeyConditionExpression: '#runId = :runId',
      ExpressionAttributeNames: { '#runId': RUN_INDEX.indexes.byRunId.partitionKey },
      ExpressionAttributeValues: { ':runId': runId },
      ScanIndexForward: false,
    });
  }

  /** Runs in one archive state, optionally between two stop times, newest first. */
  async listRunsByState(state: ArchiveState, range: { from?: string; to?: string } = {}, limit?: number): Promise<RunRecord[]> {
    const names: Record<string, string> = { '#state': RUN_INDEX.indexes.byArchiveState.partitionKey };
    const values: Record<string, unknown> = { ':state': state };
    let condition = '#state = :state';
    if (range.from || range.to) {
      names['#stop'] = RUN_INDEX.indexes.byArchiveState.sortKey;
      values[':from'] = range.from ?? '0000';
      values[':to'] = range.to ?? '9999';
      condition += ' AND #stop BETWEEN :from AND :to';
    }
    return this.queryAll<RunRecord>(
      {
        TableName: this.tableName,
        IndexName: RUN_INDEX.indexes.byArchiveState.name,
        KeyConditionExpression: condition,
        ExpressionAttributeNames: names,
        ExpressionAttributeValues: values,
        ScanIndexForward: false,
      },
      limit,
    );
  }

  /**
   * Records a snapshotted run as INDEXED, owned by its `executionArn`. Holds for a new run, for a retry of the
   * execution that owns it, and for a run whose archive FAILED or was PARTIAL (an operator re-runs it). A run INDEXED
   * or ARCHIVING under another execution is taken over only when `takeOverFrom` names that owner, which the caller
   * found no longer running (`null`: a record from before owners were kept). Anything else is left alone: a run
   * archived or further along (StateConflict), or one another execution now owns (ArchiveInProgress).
   */
  async indexRun(
    record: Omit<RunRecord, 'pk' | 'sk' | 'schemaVersion' | 'archiveState' | 'updatedAt'>,
    options: { takeOverFrom?: string | null } = {},
  ): Promise<RunRecord> {
    const item: RunRecord = { ...record, ...runKey(record.runUuid), schemaVersion: SCHEMA_VERSION, archiveState: 'INDEXED', updatedAt: now() };
    const values: Record<string, unknown> = { ':indexed': 'INDEXED', ':archiving': 'ARCHIVING', ':failed': 'FAILED', ':partial': 'PARTIAL' };
    const allowed = ['attribute_not_exists(pk)', 'archiveState IN (:failed, :partial)'];
    if (record.executionArn) {
      values[':me'] = record.executionArn;
      allowed.push('(archiveState = :indexed AND executionArn = :me)');
    } else {
      allowed.push('archiveState = :indexed'); // no owner to compare: as before owners were kept
    }
    if (options.takeOverFrom === null) allowed.push('(archiveState IN (:indexed, :archiving) AND attribute_not_exists(executionArn))');
    if (typeof options.takeOverFrom === 'string') {
      values[':previous'] = options.takeOverFrom;
      allowed.push('(archiveState IN (:indexed, :archiving) AND executionArn = :previous)');
    }
    try {
      await this.db.send(
        new PutCommand({ TableName: this.tableName, Item: item, ConditionExpression: allowed.join(' OR '), ExpressionAttributeValues: values }),
      );
    } catch (error) {
      if (!isConditionFailed(error)) throw error;
      const current = await this.getRun(record.runUuid);
      if (current && (IN_PROGRESS_STATES as readonly string[]).includes(current.archiveState)) {
        throw new ArchiveInProgressError(record.runUuid, current.executionArn);
      }
      throw new StateConflictError(`run ${record.runUuid} is already ${current?.archiveState ?? 'archived'}`);
    }
    return item;
  }

  /** Moves a run between archive states, only from one of `from`; other fields are set in the same write. */
  async transitionRun(runUuid: string, from: readonly ArchiveState[], to: ArchiveState, fields: Changes<RunRecord> = {}): Promise<RunRecord> {
    return this.updateInState<RunRecord>(
      runKey(runUuid),
      'archiveState',
      from,
      { ...fields, archiveState: to },
      `run ${runUuid} is not in ${from.join(' or ')}, so it cannot become ${to}`,
    );
  }

  /**
   * Claims the deletion of a run left DELETING by an earlier attempt, until `expiresAt`: holds only when no other
   * attempt holds a live claim, so twin messages never both call DeleteRun. `expiresAt: null` gives a claim up.
   */
  async claimDeletion(runUuid: string, claim: { expiresAt: number | null; now: number }): Promise<boolean> {
    try {
      await this.db.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: runKey(runUuid),
          UpdateExpression:
            claim.expiresAt === null ? 'SET updatedAt = :stamp REMOVE deletionClaimExpiresAt' : 'SET deletionClaimExpiresAt = :until, updatedAt = :stamp',
          ConditionExpression:
            claim.expiresAt === null
              ? 'archiveState = :deleting'
              : 'archiveState = :deleting AND (attribute_not_exists(deletionClaimExpiresAt) OR deletionClaimExpiresAt < :now)',
          ExpressionAttributeValues: {
            ':deleting': 'DELETING',
            ':stamp': now(),
            ...(claim.expiresAt !== null && { ':until': claim.expiresAt, ':now': claim.now }),
          },
        }),
      );
      return true;
    } catch (error) {
      if (isConditionFailed(error)) return false;
      throw error;
    }
  }

  /** One conditional update: the item must exist with `stateField` in one of `from`; otherwise StateConflictError. */
  private async updateInState<T>(
    key: { pk: string; sk: string },
    stateField: string,
    from: readonly string[],
    fields: Record<string, unknown>,
    conflict: string,
  ): Promise<T> {
    const set = setExpression({ ...fields, updatedAt: now() });
    const fromValues = Object.fromEntries(from.map((state, i) => [`:from${i}`, state]));
    const result = await conditional(
      () =>
        this.db.send(
          new UpdateCommand({
            TableName: this.tableName,
            Key: key,
            UpdateExpression: set.expression,
            ConditionExpression: `attribute_exists(pk) AND #state IN (${Object.keys(fromValues).join(', ')})`,
            ExpressionAttributeNames: { ...set.names, '#state': stateField },
            ExpressionAttributeValues: { ...set.values, ...fromValues },
            ReturnValues: 'ALL_NEW',
          }),
        ),
      conflict,
    );
    return result.Attributes as T;
  }

  /**
   * Records a failed archive, creating a minimal run record when the failure came before the run was indexed.
   * Never touches a run that is archived or whose deletion has begun.
   */
  async recordFailure(runUuid: string, runId: string, failureReason: string, tier?: string): Promise<RunRecord> {
    const stamp = now();
    const result = await conditional(
      () =>
        this.db.send(
          new UpdateCommand({
            TableName: this.tableName,
            Key: runKey(runUuid),
            UpdateExpression:
              'SET archiveState = :failed, failureReason = :reason, updatedAt = :now, runUuid = :uuid, runId = :runId, ' +
              'schemaVersion = if_not_exists(schemaVersion, :schema), stopTime = if_not_exists(stopTime, :now), ' +
              'tier = if_not_exists(tier, :tier), deleteRun = if_not_exists(deleteRun, :false)',
            ConditionExpression: 'attribute_not_exists(pk) OR archiveState IN (:indexed, :archiving, :failed, :partial)',
            ExpressionAttributeValues: {
              ':failed': 'FAILED',
              ':reason': failureReason.slice(0, 4000),
              ':now': stamp,
              ':uuid': runUuid,
              ':runId': runId,
              ':schema': SCHEMA_VERSION,
              ':tier': tier ?? 'unknown',
              ':false': false,
              ':indexed': 'INDEXED',
              ':archiving': 'ARCHIVING',
              ':partial': 'PARTIAL',
            },
            ReturnValues: 'ALL_NEW',
          }),
        ),
      `run ${runUuid} is archived or being deleted; its failure is not recorded over that`,
    );
    return result.Attributes as RunRecord;
  }

  async listFiles(runUuid: string): Promise<FileRecord[]> {
    return this.queryAll<FileRecord>({
      TableName: this.tableName,
      KeyConditionExpression: 'pk = :pk AND begins_with(sk, :file)',
      ExpressionAttributeValues: { ':pk': runKey(runUuid).pk, ':file': FILE_PREFIX },
    });
  }

  async getFile(runUuid: string, path: string): Promise<FileRecord | undefined> {
    const { Item } = await this.db.send(new GetCommand({ TableName: this.tableName, Key: fileKey(runUuid, path), ConsistentRead: true }));
    return Item as FileRecord | undefined;
  }

  /** Registers files in batches of 25, retrying what DynamoDB leaves unprocessed. */
  async putFiles(files: Omit<FileRecord, 'pk' | 'sk' | 'schemaVersion' | 'updatedAt'>[], concurrency = 8): Promise<void> {
    const stamp = now();
    const items = files.map((f) => ({ ...f, ...fileKey(f.runUuid, f.path), schemaVersion: SCHEMA_VERSION, updatedAt: stamp }));
    await this.batchPut(items, 'file records', concurrency);
  }

  /** Updates a file record, only while it is in one of `from` states (the archive streamer's checkpoints and results). */
  async updateFile(runUuid: string, path: string, from: readonly FileState[], fields: Changes<FileRecord>): Promise<FileRecord> {
    return this.updateInState<FileRecord>(fileKey(runUuid, path), 'state', from, fields, `file ${path} of run ${runUuid} is not in ${from.join(' or ')}`);
  }

  /**
   * Claims a file for one worker and moves it to `fields` (its UPLOADING state) in the same write: holds only while the
   * file is still to be archived and nobody else holds a live claim on it. Otherwise says why: another worker has it
   * (`claimed`, with its owner and expiry), or it is no longer to be archived (`settled`, with the record as it is).
   */
  async claimFile(
    runUuid: string,
    path: string,
    claim: Claim,
    fields: Changes<FileRecord>,
  ): Promise<{ claimed: FileRecord } | { heldBy: { owner: string; expiresAt: number } } | { settled: FileRecord | undefined }> {
    return this.claimItem<FileRecord>(fileKey(runUuid, path), claim, fields);
  }

  /** Gives up a claim this worker holds (its transfer stopped for the deadline or an error); a no-op otherwise. */
  async releaseFile(runUuid: string, path: string, owner: string): Promise<void> {
    await this.releaseItem(fileKey(runUuid, path), owner);
  }

  /**
   * Marks a file FAILED after its item was given up, unless it is settled or a worker still holds a live claim on it
   * (that worker records the outcome; marking it now would orphan the archive it is about to complete).
   */
  async failUnclaimedFile(runUuid: string, path: string, failureReason: string, at: number): Promise<boolean> {
    return this.failUnclaimedItem(fileKey(runUuid, path), failureReason, at);
  }

  /** A bundle's members once it is archived: each ARCHIVED with where it is in the bundle; false when it already was. */
  async recordBundleMember(runUuid: string, path: string, fields: Changes<FileRecord>): Promise<boolean> {
    try {
      await this.updateFile(runUuid, path, ['PENDING', 'UPLOADING', 'FAILED'], { ...fields, state: 'ARCHIVED', failureReason: null });
      return true;
    } catch (error) {
      if (!(error instanceof StateConflictError)) throw error;
      const current = await this.getFile(runUuid, path);
      // Recorded by an earlier invocation; anything else (a file the index lost) is an error worth seeing.
      if (current?.state === 'ARCHIVED' && current.bundle) return false;
      throw error;
    }
  }

  async listBundles(runUuid: string): Promise<BundleRecord[]> {
    return this.queryAll<BundleRecord>({
      TableName: this.tableName,
      KeyConditionExpression: 'pk = :pk AND begins_with(sk, :bundle)',
      ExpressionAttributeValues: { ':pk': runKey(runUuid).pk, ':bundle': BUNDLE_PREFIX },
    });
  }

  async getBundle(runUuid: string, bundleId: string): Promise<BundleRecord | undefined> {
    const { Item } = await this.db.send(new GetCommand({ TableName: this.tableName, Key: bundleKey(runUuid, bundleId), ConsistentRead: true }));
    return Item as BundleRecord | undefined;
  }

  /** Registers planned bundles (PENDING), in batches of 25; a PENDING bundle of the same id is replaced (a re-plan). */
  async putBundles(bundles: Omit<BundleRecord, 'pk' | 'sk' | 'schemaVersion' | 'updatedAt'>[]): Promise<void> {
    const stamp = now();
    const items = bundles.map((b) => ({ ...b, ...bundleKey(b.runUuid, b.bundleId), schemaVersion: SCHEMA_VERSION, updatedAt: stamp }));
    await this.batchPut(items, 'bundle records', 4);
  }

  /** Removes a planned bundle nobody started (a re-plan packed its files differently); false if it has been started. */
  async deletePendingBundle(runUuid: string, bundleId: string): Promise<boolean> {
    try {
      await this.db.send(
        new DeleteCommand({
          TableName: this.tableName,
          Key: bundleKey(runUuid, bundleId),
          ConditionExpression: '#state = :pending AND attribute_not_exists(claimOwner)',
          ExpressionAttributeNames: { '#state': 'state' },
          ExpressionAttributeValues: { ':pending': 'PENDING' },
        }),
      );
      return true;
    } catch (error) {
      if (isConditionFailed(error)) return false;
      throw error;
    }
  }

  /** Updates a bundle record, only while it is in one of `from` states. */
  async updateBundle(runUuid: string, bundleId: string, from: readonly BundleState[], fields: Changes<BundleRecord>): Promise<BundleRecord> {
    return this.updateInState<BundleRecord>(
      bundleKey(runUuid, bundleId),
      'state',
      from,
      fields,
      `bundle ${bundleId} of run ${runUuid} is not in ${from.join(' or ')}`,
    );
  }

  /** Claims a bundle for one worker, as claimFile claims a file. */
  async claimBundle(
    runUuid: string,
    bundleId: string,
    claim: Claim,
    fields: Changes<BundleRecord>,
  ): Promise<{ claimed: BundleRecord } | { heldBy: { owner: string; expiresAt: number } } | { settled: BundleRecord | undefined }> {
    return this.claimItem<BundleRecord>(bundleKey(runUuid, bundleId), claim, fields);
  }

  async releaseBundle(runUuid: string, bundleId: string, owner: string): Promise<void> {
    await this.releaseItem(bundleKey(runUuid, bundleId), owner);
  }

  /** Marks a bundle FAILED after its item was given up, unless it is archived or a worker still holds a live claim on it. */
  async failUnclaimedBundle(runUuid: string, bundleId: string, failureReason: string, at: number): Promise<boolean> {
    return this.failUnclaimedItem(bundleKey(runUuid, bundleId), failureReason, at);
  }

  /** claimFile's and claimBundle's one conditional write: PENDING, UPLOADING or FAILED, and no live claim but the owner's. */
  private async claimItem<T extends { state: string; claimOwner?: string; claimExpiresAt?: number }>(
    key: { pk: string; sk: string },
    claim: Claim,
    fields: Record<string, unknown>,
  ): Promise<{ claimed: T } | { heldBy: { owner: string; expiresAt: number } } | { settled: T | undefined }> {
    const set = setExpression({ ...fields, claimOwner: claim.owner, claimExpiresAt: claim.expiresAt, updatedAt: now() });
    try {
      const result = await this.db.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: key,
          UpdateExpression: `${set.expression} ADD attempts :one`,
          ConditionExpression:
            'attribute_exists(pk) AND #state IN (:pending, :uploading, :failed) AND ' +
            '(attribute_not_exists(claimOwner) OR claimOwner = :owner OR claimExpiresAt < :now)',
          ExpressionAttributeNames: { ...set.names, '#state': 'state' },
          ExpressionAttributeValues: {
            ...set.values,
            ':pending': 'PENDING',
            ':uploading': 'UPLOADING',
            ':failed': 'FAILED',
            ':owner': claim.owner,
            ':now': claim.now,
            ':one': 1,
          },
          ReturnValues: 'ALL_NEW',
        }),
      );
      return { claimed: result.Attributes as T };
    } catch (error) {
      if (!isConditionFailed(error)) throw error;
      const { Item } = await this.db.send(new GetCommand({ TableName: this.tableName, Key: key, ConsistentRead: true }));
      const current = Item as T | undefined;
      if (current && ['PENDING', 'UPLOADING', 'FAILED'].includes(current.state) && current.claimOwner) {
        return { heldBy: { owner: current.claimOwner, expiresAt: current.claimExpiresAt ?? 0 } };
      }
      return { settled: current };
    }
  }

  private async releaseItem(key: { pk: string; sk: string }, owner: string): Promise<void> {
    try {
      await this.db.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: key,
          UpdateExpression: 'SET updatedAt = :now REMOVE claimOwner, claimExpiresAt',
          ConditionExpression: 'claimOwner = :owner',
          ExpressionAttributeValues: { ':owner': owner, ':now': now() },
        }),
      );
    } catch (error) {
      if (!isConditionFailed(error)) throw error;
    }
  }

  private async failUnclaimedItem(key: { pk: string; sk: string }, failureReason: string, at: number): Promise<boolean> {
    try {
      await this.db.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: key,
          UpdateExpression: 'SET #state = :failed, failureReason = :reason, updatedAt = :stamp REMOVE claimOwner, claimExpiresAt',
          ConditionExpression:
            'attribute_exists(pk) AND #state IN (:pending, :uploading, :failed) AND (attribute_not_exists(claimOwner) OR claimExpiresAt < :now)',
          ExpressionAttributeNames: { '#state': 'state' },
          ExpressionAttributeValues: {
            ':failed': 'FAILED',
            ':pending': 'PENDING',
            ':uploading': 'UPLOADING',
            ':reason': failureReason,
            ':stamp': now(),
            ':now': at,
          },
        }),
      );
      return true;
    } catch (error) {
      if (isConditionFailed(error)) return false;
      throw error;
    }
  }

  /** Marks a file's source deleted; holds only once its archive is recorded (or it is empty). */
  async markSourceDeleted(runUuid: string, path: string): Promise<void> {
    await conditional(
      () =>
        this.db.send(
          new UpdateCommand({
            TableName: this.tableName,
            Key: fileKey(runUuid, path),
            UpdateExpression: 'SET sourceDeleted = :true, sourceDeletedAt = :now, updatedAt = :now',
            // A zero-byte file has no archive (Glacier stores no empty archives): its record alone restores it. A bundled
            // file's archive is its bundle's, recorded before the file is.
            ConditionExpression:
              '#state = :archived AND (attribute_exists(archiveId) OR attribute_exists(archiveKey) OR attribute_exists(#bundle) OR #size = :zero)',
            ExpressionAttributeNames: { '#state': 'state', '#size': 'size', '#bundle': 'bundle' },
            ExpressionAttributeValues: { ':true': true, ':now': now(), ':archived': 'ARCHIVED', ':zero': 0 },
          }),
        ),
      `file ${path} of run ${runUuid} has no recorded archive; its source stays`,
    );
  }

  async putRestoreRequest(record: Omit<RestoreRequestRecord, 'pk' | 'sk' | 'schemaVersion' | 'createdAt' | 'updatedAt'>): Promise<RestoreRequestRecord> {
    const stamp = now();
    const item: RestoreRequestRecord = {
      ...record,
      ...restoreKey(record.runUuid, record.restoreId),
      schemaVersion: SCHEMA_VERSION,
      createdAt: stamp,
      updatedAt: stamp,
    };
    await conditional(
      () => this.db.send(new PutCommand({ TableName: this.tableName, Item: item, ConditionExpression: 'attribute_not_exists(pk)' })),
      `restore ${record.restoreId} of run ${record.runUuid} already exists`,
    );
    return item;
  }

  async updateRestoreRequest(runUuid: string, restoreId: string, fields: Partial<RestoreRequestRecord>): Promise<void> {
    const set = setExpression({ ...fields, updatedAt: now() });
    await this.db.send(
      new UpdateCommand({
        TableName: this.tableName,
        Key: restoreKey(runUuid, restoreId),
        UpdateExpression: set.expression,
        ConditionExpression: 'attribute_exists(pk)',
        ExpressionAttributeNames: set.names,
        ExpressionAttributeValues: set.values,
      }),
    );
  }

  async putRestoreFiles(files: Omit<RestoreFileRecord, 'pk' | 'sk' | 'schemaVersion' | 'createdAt' | 'updatedAt' | 'fileKey'>[]): Promise<void> {
    const stamp = now();
    const items = files.map((f) => ({
      ...f,
      ...restoreFileKey(f.runUuid, f.restoreId, f.path),
      fileKey: restoreFileKeyOf(f.path),
      schemaVersion: SCHEMA_VERSION,
      createdAt: stamp,
      updatedAt: stamp,
    }));
    await this.batchPut(items, 'restore file records', 1);
  }

  async getRestoreFile(runUuid: string, restoreId: string, path: string): Promise<RestoreFileRecord | undefined> {
    const { Item } = await this.db.send(new GetCommand({ TableName: this.tableName, Key: restoreFileKey(runUuid, restoreId, path), ConsistentRead: true }));
    return Item as RestoreFileRecord | undefined;
  }

  async getRestoreFileByKey(runUuid: string, restoreId: string, key: string): Promise<RestoreFileRecord | undefined> {
    const { Item } = await this.db.send(new GetCommand({ TableName: this.tableName, Key: restoreFileKeyByKey(runUuid, restoreId, key), ConsistentRead: true }));
    return Item as RestoreFileRecord | undefined;
  }

  async updateRestoreFile(runUuid: string, restoreId: string, path: string, fields: Changes<RestoreFileRecord>): Promise<RestoreFileRecord> {
    const set = setExpression({ ...fields, updatedAt: now() });
    const result = await this.db.send(
      new UpdateCommand({
        TableName: this.tableName,
        Key: restoreFileKey(runUuid, restoreId, path),
        UpdateExpression: set.expression,
        ConditionExpression: 'attribute_exists(pk)',
        ExpressionAttributeNames: set.names,
        ExpressionAttributeValues: set.values,
        ReturnValues: 'ALL_NEW',
      }),
    );
    return result.Attributes as RestoreFileRecord;
  }

  /**
   * Claims a restored file's copy for one worker and marks it COPYING, in one conditional write: holds unless the file
   * is RESTORED or another worker holds a live claim on it.
   */
  async claimRestoreFile(
    runUuid: string,
    restoreId: string,
    path: string,
    claim: Claim,
  ): Promise<{ claimed: RestoreFileRecord } | { heldBy: { owner: string; expiresAt: number } } | { settled: RestoreFileRecord | undefined }> {
    try {
      const result = await this.db.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: restoreFileKey(runUuid, restoreId, path),
          UpdateExpression: 'SET #state = :copying, claimOwner = :owner, claimExpiresAt = :until, updatedAt = :stamp',
          ConditionExpression:
            'attribute_exists(pk) AND #state <> :restored AND (attribute_not_exists(claimOwner) OR claimOwner = :owner OR claimExpiresAt < :now)',
          ExpressionAttributeNames: { '#state': 'state' },
          ExpressionAttributeValues: {
            ':copying': 'COPYING',
            ':restored': 'RESTORED',
            ':owner': claim.owner,
            ':until': claim.expiresAt,
            ':now': claim.now,
            ':stamp': now(),
          },
          ReturnValues: 'ALL_NEW',
        }),
      );
      return { claimed: result.Attributes as RestoreFileRecord };
    } catch (error) {
      if (!isConditionFailed(error)) throw error;
      const current = await this.getRestoreFile(runUuid, restoreId, path);
      if (current && current.state !== 'RESTORED' && current.claimOwner)
        return { heldBy: { owner: current.claimOwner, expiresAt: current.claimExpiresAt ?? 0 } };
      return { settled: current };
    }
  }

  /** Gives up a restored file's claim this worker holds; a no-op otherwise. */
  async releaseRestoreFile(runUuid: string, restoreId: string, path: string, owner: string): Promise<void> {
    await this.releaseItem(restoreFileKey(runUuid, restoreId, path), owner);
  }

  /** Parks a restore on the archive object it waits for; a retried request overwrites its own waiter. */
  async putRestoreWaiter(waiter: Omit<RestoreWaiterRecord, 'pk' | 'sk' | 'schemaVersion' | 'createdAt' | 'updatedAt'>): Promise<RestoreWaiterRecord> {
    const stamp = now();
    const item: RestoreWaiterRecord = {
      ...waiter,
      ...restoreWaiterKey(waiter.runUuid, waiterRefOf(waiter), waiter.restoreId),
      schemaVersion: SCHEMA_VERSION,
      createdAt: stamp,
      updatedAt: stamp,
    };
    await this.db.send(new PutCommand({ TableName: this.tableName, Item: item }));
    return item;
  }

  /** Every restore waiting on one archive object, a file's (its path) or a bundle's (bundleObjectRef): one query over `WAITER#<key>#`. */
  async listRestoreWaiters(runUuid: string, objectRef: string): Promise<RestoreWaiterRecord[]> {
    return this.queryAll<RestoreWaiterRecord>({
      TableName: this.tableName,
      KeyConditionExpression: 'pk = :pk AND begins_with(sk, :waiter)',
      ExpressionAttributeValues: { ':pk': runKey(runUuid).pk, ':waiter': restoreWaiterPrefix(objectRef) },
      ConsistentRead: true,
    });
  }

  /** Every waiter of a run, of any restore and file (a restore clears its own when it settles). */
  async listRunRestoreWaiters(runUuid: string): Promise<RestoreWaiterRecord[]> {
    return this.queryAll<RestoreWaiterRecord>({
      TableName: this.tableName,
      KeyConditionExpression: 'pk = :pk AND begins_with(sk, :waiter)',
      ExpressionAttributeValues: { ':pk': runKey(runUuid).pk, ':waiter': WAITER_PREFIX },
      ConsistentRead: true,
    });
  }

  /** Removes one restore's waiter on an archive object (`objectRef` as listRestoreWaiters takes it). */
  async deleteRestoreWaiter(runUuid: string, objectRef: string, restoreId: string): Promise<void> {
    await this.db.send(new DeleteCommand({ TableName: this.tableName, Key: restoreWaiterKey(runUuid, objectRef, restoreId) }));
  }

  /** Restore requests of a run (without their per-file items), newest first. */
  async listRestores(runUuid: string): Promise<{ requests: RestoreRequestRecord[]; files: RestoreFileRecord[] }> {
    const items = await this.queryAll<RestoreRequestRecord | RestoreFileRecord>({
      TableName: this.tableName,
      KeyConditionExpression: 'pk = :pk AND begins_with(sk, :restore)',
      ExpressionAttributeValues: { ':pk': runKey(runUuid).pk, ':restore': RESTORE_PREFIX },
      ScanIndexForward: false,
    });
    return {
      requests: items.filter((i): i is RestoreRequestRecord => !isRestoreFileSortKey(i.sk)),
      files: items.filter((i): i is RestoreFileRecord => isRestoreFileSortKey(i.sk)),
    };
  }

  /**
   * Puts items in batches of 25, `concurrency` batches at a time. What DynamoDB leaves unprocessed (throttling) is
   * retried with backoff, a bounded number of times, so a throttled table fails the call instead of spinning on it.
   */
  private async batchPut(items: Record<string, unknown>[], what: string, concurrency: number): Promise<void> {
    const batches: (typeof items)[] = [];
    for (let i = 0; i < items.length; i += 25) batches.push(items.slice(i, i + 25));
    let next = 0;
    const worker = async () => {
      while (next < batches.length) {
        const batch = batches[next++];
        let requests = batch.map((Item) => ({ PutRequest: { Item } }));
        for (let attempt = 0; requests.length; attempt++) {
          if (attempt > 8) throw new Error(`DynamoDB left ${requests.length} ${what} unprocessed after ${attempt} attempts`);
          if (attempt) await new Promise((r) => setTimeout(r, Math.min(2000, 50 * 2 ** attempt)));
          const { UnprocessedItems } = await this.db.send(new BatchWriteCommand({ RequestItems: { [this.tableName]: requests } }));
          requests = (UnprocessedItems?.[this.tableName] ?? []) as typeof requests;
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, batches.length) }, worker));
  }

  private async queryAll<T>(input: QueryCommandInput, limit?: number): Promise<T[]> {
    const items: T[] = [];
    let startKey: Record<string, unknown> | undefined;
    do {
      const page = await this.db.send(new QueryCommand({ ...input, ExclusiveStartKey: startKey }));
      items.push(...((page.Items ?? []) as T[]));
      startKey = page.LastEvaluatedKey;
    } while (startKey && (limit === undefined || items.length < limit));
    return limit === undefined ? items : items.slice(0, limit);
  }
}
