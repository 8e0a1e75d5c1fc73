// Unit tests for deleting an archived run from HealthOmics: the whole decision table, and that DeleteRun is never misaimed.
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { ConflictException, DeleteRunCommand, GetRunCommand, OmicsClient, ResourceNotFoundException } from '@aws-sdk/client-omics';
import { DynamoDBDocumentClient, GetCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { RunNotDeletableError, deleteArchivedRun } from '../../../../functions/lib/archive/delete-run';
import { RunIndex, runKey, type ArchiveState, type RunRecord } from '../../../../functions/lib/index/run-index';
import { FakeRunIndexTable } from '../../../support/run-index-table';

const TABLE = 'run-index';
const RUN_ID = '7830534';
const UUID = '96c57683-74bf-9d6d-ae7e-f09b097db14a';
const OTHER_UUID = 'b1c2d3e4-0000-4000-8000-000000000000';
const NOW = new Date('2025-06-01T12:00:00.000Z');

const ddbMock = mockClient(DynamoDBDocumentClient);
const omicsMock = mockClient(OmicsClient);
const omics = new OmicsClient({ region: 'us-east-1' });
const index = new RunIndex(DynamoDBDocumentClient.from(new DynamoDBClient({ region: 'us-east-1' })), TABLE);

/** The run record as the table holds it (the fake table applies RunIndex's conditional writes as DynamoDB would). */
let table: FakeRunIndexTable;
let stored: Partial<RunRecord> | undefined;
/** Every state the record passed through. */
let history: ArchiveState[];

function serveRecord(record: Partial<RunRecord> | undefined) {
  table = new FakeRunIndexTable().attach(ddbMock);
  history = record?.archiveState ? [record.archiveState] : [];
  stored = undefined;
  if (record) {
    table.put({ ...runKey(UUID), runUuid: UUID, runId: RUN_ID, tier: 'genomics', deleteRun: true, snapshotLocation: `s3://snap/runs/${UUID}/`, ...record });
  }
  stored = table.get(runKey(UUID).pk, runKey(UUID).sk);
  table.onWrite = (_command, written) => {
    stored = written;
    if (written.archiveState !== history.at(-1)) history.push(written.archiveState as ArchiveState);
  };
}

function omicsRun(run: { uuid?: string; status?: string } | 'gone') {
  if (run === 'gone') omicsMock.on(GetRunCommand).rejects(new ResourceNotFoundException({ message: `Run ${RUN_ID} not found`, $metadata: {} }));
  else omicsMock.on(GetRunCommand).resolves({ id: RUN_ID, uuid: UUID, status: 'COMPLETED', ...run } as never);
}

const remove = () => deleteArchivedRun({ omics, index, runUuid: UUID, now: () => NOW });

beforeEach(() => {
  ddbMock.reset();
  omicsMock.reset();
  omicsRun({});
  omicsMock.on(DeleteRunCommand).resolves({});
});

describe('refuses, touching nothing', () => {
  it('a run not in the index', async () => {
    serveRecord(undefined);
    expect(await remove()).toEqual({ outcome: 'not-deletable', reason: `run ${UUID} is not in the index` });
    expect(omicsMock.calls()).toHaveLength(0);
    expect(ddbMock).not.toHaveReceivedCommand(UpdateCommand);
  });

  it.each(['INDEXED', 'ARCHIVING', 'PARTIAL', 'FAILED'] as const)('a run that is %s, not ARCHIVED', async (state) => {
    serveRecord({ archiveState: state });
    expect(await remove()).toEqual({ outcome: 'not-deletable', reason: `run ${UUID} is ${state}, not ARCHIVED` });
    expect(omicsMock.calls()).toHaveLength(0);
    expect(ddbMock).not.toHaveReceivedCommand(UpdateCommand);
  });

  it('an ARCHIVED run without a snapshot', async () => {
    serveRecord({ archiveState: 'ARCHIVED', snapshotLocation: undefined });
    expect(await remove()).toEqual({ outcome: 'not-deletable', reason: `run ${UUID} has no snapshot recorded` });
    expect(omicsMock.calls()).toHaveLength(0);
  });

  it('an ARCHIVED run whose tier keeps runs', async () => {
    serveRecord({ archiveState: 'ARCHIVED', deleteRun: false });
    expect(await remove()).toEqual({ outcome: 'not-deletable', reason: 'tier genomics keeps its runs in HealthOmics' });
    expect(omicsMock.calls()).toHaveLength(0);
    expect(ddbMock).not.toHaveReceivedCommand(UpdateCommand);
  });

  it('a run already RUN_DELETED (a no-op)', async () => {
    serveRecord({ archiveState: 'RUN_DELETED' });
    expect(await remove()).toEqual({ outcome: 'already-deleted' });
    expect(omicsMock.calls()).toHaveLength(0);
    expect(ddbMock).not.toHaveReceivedCommand(UpdateCommand);
  });
});

describe('deletes', () => {
  it('ARCHIVED → DELETING → GetRun (same uuid, terminal) → DeleteRun → RUN_DELETED', async () => {
    serveRecord({ archiveState: 'ARCHIVED' });
    expect(await remove()).toEqual({ outcome: 'deleted' });
    expect(history).toEqual(['ARCHIVED', 'DELETING', 'RUN_DELETED']);
    expect(omicsMock).toHaveReceivedCommandWith(GetRunCommand, { id: RUN_ID });
    expect(omicsMock).toHaveReceivedCommandWith(DeleteRunCommand, { id: RUN_ID });
    expect(stored).toMatchObject({ archiveState: 'RUN_DELETED', runDeletedAt: NOW.toISOString() });
    expect(stored?.runDeletionNote).toBeUndefined();

    // DELETING is recorded before HealthOmics is asked anything, and RUN_DELETED only after DeleteRun.
    // Sinon numbers every call across stubs (callId), though its typings do not declare it.
    const callId = (call: unknown) => (call as { callId: number }).callId;
    const order = [...ddbMock.calls(), ...omicsMock.calls()]
      .sort((a, b) => callId(a) - callId(b))
      .map((c) => (c.args[0] as { constructor: { name: string } }).constructor.name);
    expect(order).toEqual(['GetCommand', 'UpdateCommand', 'GetRunCommand', 'DeleteRunCommand', 'UpdateCommand']);
  });

  it.each(['COMPLETED', 'FAILED', 'CANCELLED'])('deletes a %s run', async (status) => {
    serveRecord({ archiveState: 'ARCHIVED' });
    omicsRun({ status });
    expect(await remove()).toEqual({ outcome: 'deleted' });
    expect(omicsMock).toHaveReceivedCommandTimes(DeleteRunCommand, 1);
  });

  it('resumes a run left DELETING by an earlier attempt', async () => {
    serveRecord({ archiveState: 'DELETING' });
    expect(await remove()).toEqual({ outcome: 'deleted' });
    expect(history).toEqual(['DELETING', 'RUN_DELETED']);
    expect(omicsMock).toHaveReceivedCommandTimes(DeleteRunCommand, 1);
  });

  it('treats DeleteRun ResourceNotFound as done', async () => {
    serveRecord({ archiveState: 'ARCHIVED' });
    omicsMock.on(DeleteRunCommand).rejects(new ResourceNotFoundException({ message: 'gone', $metadata: {} }));
    expect(await remove()).toEqual({ outcome: 'deleted' });
    expect(stored?.archiveState).toBe('RUN_DELETED');
  });
});

describe('already gone', () => {
  it('GetRun ResourceNotFound: RUN_DELETED with a note, no DeleteRun', async () => {
    serveRecord({ archiveState: 'ARCHIVED' });
    omicsRun('gone');
    const note = `run ${RUN_ID} was already gone from HealthOmics`;
    expect(await remove()).toEqual({ outcome: 'already-gone', note });
    expect(stored).toMatchObject({ archiveState: 'RUN_DELETED', runDeletionNote: note, runDeletedAt: NOW.toISOString() });
    expect(omicsMock).not.toHaveReceivedCommand(DeleteRunCommand);
  });

  it.each(['COMPLETED', 'RUNNING'])('the id now names another run (%s): RUN_DELETED with a note, and DeleteRun is never called', async (status) => {
    serveRecord({ archiveState: 'ARCHIVED' });
    omicsRun({ uuid: OTHER_UUID, status });
    const result = await remove();
    expect(result).toEqual({ outcome: 'already-gone', note: `run id ${RUN_ID} now belongs to run ${OTHER_UUID}; the archived run is already gone` });
    expect(stored?.archiveState).toBe('RUN_DELETED');
    expect(omicsMock).not.toHaveReceivedCommand(DeleteRunCommand);
  });

  it('GetRun shows the very run DELETED (an earlier DeleteRun went through): RUN_DELETED, no second DeleteRun', async () => {
    serveRecord({ archiveState: 'DELETING' });
    omicsRun({ status: 'DELETED' });
    expect(await remove()).toEqual({ outcome: 'already-gone', note: `run ${RUN_ID} is already DELETED in HealthOmics` });
    expect(stored?.archiveState).toBe('RUN_DELETED');
    expect(omicsMock).not.toHaveReceivedCommand(DeleteRunCommand);
  });
});

describe('retries later', () => {
  it.each(['PENDING', 'STARTING', 'RUNNING', 'STOPPING'])('throws RunNotDeletable for the same run when it is %s, without DeleteRun', async (status) => {
    serveRecord({ archiveState: 'ARCHIVED' });
    omicsRun({ status });
    await expect(remove()).rejects.toThrow(new RunNotDeletableError(`run ${RUN_ID} is ${status}; only COMPLETED, FAILED or CANCELLED runs are deleted`));
    expect(omicsMock).not.toHaveReceivedCommand(DeleteRunCommand);
    // Left DELETING: the retried message resumes from there.
    expect(stored?.archiveState).toBe('DELETING');
  });

  it('throws on ConflictException from DeleteRun, leaving the run DELETING for the retry', async () => {
    serveRecord({ archiveState: 'ARCHIVED' });
    const conflict = new ConflictException({ message: 'Run is not in a deletable state', $metadata: {} });
    omicsMock.on(DeleteRunCommand).rejects(conflict);
    await expect(remove()).rejects.toBe(conflict);
    expect(stored?.archiveState).toBe('DELETING');
  });

  it('throws on other GetRun errors', async () => {
    serveRecord({ archiveState: 'ARCHIVED' });
    const throttled = Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException' });
    omicsMock.on(GetRunCommand).rejects(throttled);
    await expect(remove()).rejects.toBe(throttled);
    expect(omicsMock).not.toHaveReceivedCommand(DeleteRunCommand);
  });
});

describe('twins', () => {
  it('a StateConflict on ARCHIVED → DELETING means a twin message is on it: this one stops, deleting nothing', async () => {
    serveRecord({ archiveState: 'ARCHIVED' });
    // The twin moved the run on between this message's read and its conditional write.
    ddbMock.on(GetCommand).resolves({ Item: { ...stored } });
    table.put({ ...stored, archiveState: 'DELETING', deletionClaimExpiresAt: NOW.getTime() + 60_000 });
    expect(await remove()).toEqual({ outcome: 'already-deleted' });
    expect(omicsMock.calls()).toHaveLength(0);
  });

  it('two twin messages at once: one DeleteRun', async () => {
    serveRecord({ archiveState: 'ARCHIVED' });
    const outcomes = await Promise.all([remove(), remove()]);
    expect(outcomes.map((o) => o.outcome).sort()).toEqual(['already-deleted', 'deleted']);
    expect(omicsMock).toHaveReceivedCommandTimes(DeleteRunCommand, 1);
    expect(stored).toMatchObject({ archiveState: 'RUN_DELETED' });
    expect(stored?.deletionClaimExpiresAt).toBeUndefined();
  });

  it('a run left DELETING that another attempt holds: in-progress, no GetRun, no DeleteRun', async () => {
    serveRecord({ archiveState: 'DELETING', deletionClaimExpiresAt: NOW.getTime() + 60_000 });
    expect(await remove()).toEqual({ outcome: 'in-progress' });
    expect(omicsMock.calls()).toHaveLength(0);
    expect(stored).toMatchObject({ archiveState: 'DELETING' });
  });

  it('a claim that expired (its attempt crashed) is taken over', async () => {
    serveRecord({ archiveState: 'DELETING', deletionClaimExpiresAt: NOW.getTime() - 1 });
    expect(await remove()).toEqual({ outcome: 'deleted' });
    expect(omicsMock).toHaveReceivedCommandTimes(DeleteRunCommand, 1);
  });

  it('an attempt that fails gives its claim up, so the retried message goes on at once', async () => {
    serveRecord({ archiveState: 'ARCHIVED' });
    omicsRun({ status: 'RUNNING' });
    await expect(remove()).rejects.toMatchObject({ name: 'RunNotDeletable' });
    expect(stored).toMatchObject({ archiveState: 'DELETING' });
    expect(stored?.deletionClaimExpiresAt).toBeUndefined();
    omicsRun({ status: 'COMPLETED' });
    expect(await remove()).toEqual({ outcome: 'deleted' });
  });
});
