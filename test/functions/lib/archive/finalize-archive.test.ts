// Unit tests for settling an archive: ARCHIVED / PARTIAL / FAILED from the file records, and workflow failures.
import { ConditionalCheckFailedException, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, QueryCommand, UpdateCommand, type UpdateCommandInput } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { finalizeArchive, recordArchiveFailure, settleState } from '../../../../functions/lib/archive/finalize-archive';
import { RunIndex, StateConflictError, runKey, type FileRecord, type RunRecord } from '../../../../functions/lib/index/run-index';
import { ARCHIVE_EVENTS } from '../../../../functions/lib/contract';

const TABLE = 'run-index';
const UUID = '96c57683-74bf-9d6d-ae7e-f09b097db14a';
const NOW = new Date('2025-06-01T12:00:00.000Z');
const ddbMock = mockClient(DynamoDBDocumentClient);
const index = new RunIndex(DynamoDBDocumentClient.from(new DynamoDBClient({ region: 'us-east-1' })), TABLE);

function fileRecord(path: string, action: 'archive' | 'keep', state: FileRecord['state'], size = 100, extra: Partial<FileRecord> = {}): FileRecord {
  return {
    pk: `RUN#${UUID}`,
    sk: `FILE#${path}`,
    schemaVersion: 1,
    runUuid: UUID,
    path,
    sourceBucket: 'b',
    sourceKey: `out/${path}`,
    size,
    action,
    state,
    updatedAt: '',
    ...extra,
  };
}

/** The stored run record; UpdateCommands apply their `SET #a = :a` pairs to it, honouring the from-state condition. */
let stored: Partial<RunRecord>;

function serveRun(run: Partial<RunRecord>, files: FileRecord[]) {
  stored = { ...runKey(UUID), runUuid: UUID, runId: '7830534', tier: 'genomics', deleteRun: true, snapshotLocation: `s3://snap/runs/${UUID}/`, ...run };
  ddbMock.on(QueryCommand).resolves({ Items: files });
  ddbMock.on(UpdateCommand).callsFake((input: UpdateCommandInput) => {
    const names = input.ExpressionAttributeNames ?? {};
    const values = input.ExpressionAttributeValues ?? {};
    const allowed = (/IN \(([^)]*)\)/.exec(input.ConditionExpression ?? '')?.[1] ?? '').split(', ').map((p): unknown => values[p]);
    if (!allowed.includes(stored.archiveState)) throw new ConditionalCheckFailedException({ message: 'The conditional request failed', $metadata: {} });
    for (const part of input.UpdateExpression!.replace(/^SET /, '').split(', ')) {
      const [name, value] = part.split(' = ');
      (stored as Record<string, unknown>)[names[name]] = values[value];
    }
    return { Attributes: { ...stored } };
  });
}

beforeEach(() => ddbMock.reset());

describe('settleState', () => {
  it('is ARCHIVED when every archive file is archived; kept files do not count against it', () => {
    const result = settleState([
      fileRecord('a.bam', 'archive', 'ARCHIVED', 10),
      fileRecord('b.bam', 'archive', 'ARCHIVED', 20),
      fileRecord('c.txt', 'keep', 'KEPT', 5),
    ]);
    expect(result).toEqual({
      state: 'ARCHIVED',
      counts: { files: 3, archive: 2, keep: 1, skip: 0, archived: 2, failed: 0 },
      archivedBytes: 30,
      failedFiles: [],
    });
  });

  it('is ARCHIVED when there is nothing to archive', () => {
    expect(settleState([fileRecord('c.txt', 'keep', 'KEPT')]).state).toBe('ARCHIVED');
    expect(settleState([]).state).toBe('ARCHIVED');
  });

  it('is PARTIAL when some archive files are archived, listing the others with their reasons', () => {
    const result = settleState([
      fileRecord('a.bam', 'archive', 'ARCHIVED', 10),
      fileRecord('b.bam', 'archive', 'FAILED', 20, { failureReason: 'source changed while archiving (ETag mismatch)' }),
      fileRecord('c.bam', 'archive', 'PENDING'),
      fileRecord('d.bam', 'archive', 'UPLOADING'),
    ]);
    expect(result.state).toBe('PARTIAL');
    expect(result.counts).toMatchObject({ archive: 4, archived: 1, failed: 3 });
    expect(result.archivedBytes).toBe(10);
    expect(result.failedFiles).toEqual([
      { path: 'b.bam', reason: 'source changed while archiving (ETag mismatch)' },
      { path: 'c.bam', reason: 'left PENDING: the archive step did not finish it' },
      { path: 'd.bam', reason: 'left UPLOADING: the archive step did not finish it' },
    ]);
  });

  it('is FAILED when no archive file is archived', () => {
    const result = settleState([
      fileRecord('a.bam', 'archive', 'FAILED', 1, { failureReason: 'boom' }),
      fileRecord('b.bam', 'archive', 'PENDING'),
      fileRecord('k', 'keep', 'KEPT'),
    ]);
    expect(result.state).toBe('FAILED');
    expect(result.counts).toEqual({ files: 3, archive: 2, keep: 1, skip: 0, archived: 0, failed: 2 });
    expect(result.failedFiles.map((f) => f.path)).toEqual(['a.bam', 'b.bam']);
  });
});

describe('finalizeArchive', () => {
  it('moves an ARCHIVING run to ARCHIVED with counts and bytes, and lets a deleting tier delete the run', async () => {
    serveRun({ archiveState: 'ARCHIVING' }, [fileRecord('a.bam', 'archive', 'ARCHIVED', 1000), fileRecord('b.txt', 'keep', 'KEPT', 10)]);
    const outcome = await finalizeArchive(index, UUID, NOW);
    expect(outcome).toEqual({
      runUuid: UUID,
      runId: '7830534',
      tier: 'genomics',
      archiveState: 'ARCHIVED',
      event: ARCHIVE_EVENTS.archived,
      deleteRun: 'true',
      snapshotLocation: `s3://snap/runs/${UUID}/`,
      counts: { files: 2, archive: 1, keep: 1, skip: 0, archived: 1, failed: 0 },
      failedFiles: [],
      failureReason: undefined,
    });
    expect(stored).toMatchObject({ archiveState: 'ARCHIVED', archivedAt: NOW.toISOString(), bytes: { total: 1010, archived: 1000 } });

    const update = ddbMock.commandCalls(UpdateCommand)[0].args[0].input;
    expect(update.Key).toEqual(runKey(UUID));
    // Only from ARCHIVING.
    expect(update.ConditionExpression).toBe('attribute_exists(pk) AND #state IN (:from0)');
    expect(update.ExpressionAttributeValues![':from0']).toBe('ARCHIVING');
  });

  it.each([
    ['ARCHIVED', 'a tier that keeps runs', { deleteRun: false }],
    ['ARCHIVED', 'no snapshot', { snapshotLocation: undefined }],
  ])('deleteRun is "false" for an %s run with %s', async (_state, _why, run) => {
    serveRun({ archiveState: 'ARCHIVING', ...run }, [fileRecord('a.bam', 'archive', 'ARCHIVED')]);
    const outcome = await finalizeArchive(index, UUID, NOW);
    expect(outcome).toMatchObject({ archiveState: 'ARCHIVED', event: ARCHIVE_EVENTS.archived, deleteRun: 'false' });
  });

  it('settles PARTIAL with the failed files and never lets the run be deleted', async () => {
    serveRun({ archiveState: 'ARCHIVING' }, [fileRecord('a.bam', 'archive', 'ARCHIVED'), fileRecord('b.bam', 'archive', 'UPLOADING')]);
    const outcome = await finalizeArchive(index, UUID, NOW);
    expect(outcome).toMatchObject({
      archiveState: 'PARTIAL',
      event: ARCHIVE_EVENTS.partial,
      deleteRun: 'false',
      failedFiles: [{ path: 'b.bam', reason: 'left UPLOADING: the archive step did not finish it' }],
    });
    expect(stored.archivedAt).toBeUndefined();
  });

  it('settles FAILED with a reason', async () => {
    serveRun({ archiveState: 'ARCHIVING' }, [fileRecord('a.bam', 'archive', 'FAILED'), fileRecord('b.bam', 'archive', 'PENDING')]);
    const outcome = await finalizeArchive(index, UUID, NOW);
    expect(outcome).toMatchObject({
      archiveState: 'FAILED',
      event: ARCHIVE_EVENTS.failed,
      deleteRun: 'false',
      failureReason: 'none of 2 files could be archived',
    });
  });

  it('lists at most 50 failed files on the run record', async () => {
    const files = [fileRecord('ok.bam', 'archive', 'ARCHIVED'), ...Array.from({ length: 120 }, (_, i) => fileRecord(`f${i}.bam`, 'archive', 'FAILED'))];
    serveRun({ archiveState: 'ARCHIVING' }, files);
    const outcome = await finalizeArchive(index, UUID, NOW);
    expect(outcome.failedFiles).toHaveLength(50);
    expect(outcome.counts?.failed).toBe(120);
  });

  it.each(['INDEXED', 'ARCHIVED', 'FAILED', 'DELETING', 'RUN_DELETED'] as const)('refuses a run that is %s (not ARCHIVING)', async (state) => {
    serveRun({ archiveState: state }, [fileRecord('a.bam', 'archive', 'ARCHIVED')]);
    await expect(finalizeArchive(index, UUID, NOW)).rejects.toBeInstanceOf(StateConflictError);
    expect(stored.archiveState).toBe(state);
  });
});

describe('recordArchiveFailure', () => {
  beforeEach(() => {
    ddbMock.on(UpdateCommand).callsFake((input: UpdateCommandInput) => ({
      Attributes: {
        ...runKey(UUID),
        runUuid: UUID,
        runId: '7830534',
        tier: input.ExpressionAttributeValues![':tier'] as string,
        archiveState: 'FAILED',
        deleteRun: true,
        snapshotLocation: 's3://snap/x/',
        failureReason: input.ExpressionAttributeValues![':reason'] as string,
      },
    }));
  });
  const reason = () => ddbMock.commandCalls(UpdateCommand)[0].args[0].input.ExpressionAttributeValues![':reason'] as string;

  it('takes errorMessage out of a Lambda error Cause', async () => {
    const cause = JSON.stringify({ errorType: 'TreeHashMismatch', errorMessage: 'tree hash of part 3 differs', trace: ['at x'] });
    const outcome = await recordArchiveFailure(index, {
      runUuid: UUID,
      runId: '7830534',
      tier: 'genomics',
      error: { Error: 'TreeHashMismatch', Cause: cause },
    });
    expect(reason()).toBe('TreeHashMismatch: tree hash of part 3 differs');
    expect(outcome).toMatchObject({
      archiveState: 'FAILED',
      event: ARCHIVE_EVENTS.failed,
      deleteRun: 'false',
      tier: 'genomics',
      failureReason: 'TreeHashMismatch: tree hash of part 3 differs',
    });
  });

  it('keeps a plain-text cause as it is', async () => {
    await recordArchiveFailure(index, { runUuid: UUID, runId: '7830534', error: { Error: 'States.Timeout', Cause: 'The task timed out.' } });
    expect(reason()).toBe('States.Timeout: The task timed out.');
  });

  it('keeps a JSON cause without errorMessage, and JSON that is not an object, as text', async () => {
    await recordArchiveFailure(index, { runUuid: UUID, runId: '1', error: { Error: 'States.DataLimitExceeded', Cause: '{"limit":262144}' } });
    await recordArchiveFailure(index, { runUuid: UUID, runId: '1', error: { Error: 'X', Cause: 'null' } });
    const reasons = ddbMock.commandCalls(UpdateCommand).map((c) => c.args[0].input.ExpressionAttributeValues![':reason'] as string);
    expect(reasons).toEqual(['States.DataLimitExceeded: {"limit":262144}', 'X: null']);
  });

  it('says so when there is no error or cause', async () => {
    await recordArchiveFailure(index, { runUuid: UUID, runId: '7830534' });
    expect(reason()).toBe('Error: no cause given');
    expect(ddbMock.commandCalls(UpdateCommand)[0].args[0].input.ExpressionAttributeValues![':tier']).toBe('unknown');
  });

  it('always publishes RUN_ARCHIVE_FAILED with deleteRun "false", even for a deleting tier', async () => {
    const outcome = await recordArchiveFailure(index, { runUuid: UUID, runId: '7830534', tier: 'genomics', error: { Error: 'E', Cause: 'c' } });
    expect(outcome.event).toBe('RUN_ARCHIVE_FAILED');
    expect(outcome.deleteRun).toBe('false');
  });

  it('does not record a failure over an archived run', async () => {
    ddbMock.on(UpdateCommand).rejects(new ConditionalCheckFailedException({ message: 'The conditional request failed', $metadata: {} }));
    await expect(recordArchiveFailure(index, { runUuid: UUID, runId: '7830534' })).rejects.toBeInstanceOf(StateConflictError);
  });
});
