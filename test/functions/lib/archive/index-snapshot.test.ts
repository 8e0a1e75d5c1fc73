// Unit tests for indexing a snapshotted run: the run record written (conditionally), the output folder, when to archive.
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, PutCommand } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { RunIndex, SCHEMA_VERSION, StateConflictError, runKey } from '../../../../functions/lib/index/run-index';
import type { RunSnapshot } from '../../../../functions/lib/archive/snapshot-run';
import { INDEXED_RUN_BUDGET_BYTES, indexSnapshot, indexedRun, runOutputUriOf } from '../../../../functions/lib/archive/index-snapshot';
import { FakeRunIndexTable } from '../../../support/run-index-table';

const UUID = '96c57683-74bf-9d6d-ae7e-f09b097db14a';
const RUN_ID = '7830534';
const ddbMock = mockClient(DynamoDBDocumentClient);
let table: FakeRunIndexTable;
let index: RunIndex;

function snapshot(run: Partial<RunSnapshot['run']> = {}, extra: Partial<RunSnapshot> = {}): RunSnapshot {
  return {
    runId: RUN_ID,
    runUuid: UUID,
    location: `s3://snapshots/runs/${UUID}/`,
    capturedAt: '2025-06-01T08:00:00.000Z',
    objects: [
      { key: `runs/${UUID}/run.json`, size: 10, sha256: 'a', contentType: 'application/json' },
      { key: `runs/${UUID}/snapshot.json`, size: 20, sha256: 'b', contentType: 'application/json' },
    ],
    run: {
      arn: `arn:aws:omics:us-east-1:123456789012:run/${RUN_ID}`,
      id: RUN_ID,
      uuid: UUID,
      name: 'germline-42',
      status: 'COMPLETED',
      workflowId: '1234567',
      runGroupId: '7654321',
      creationTime: '2025-05-30T10:00:00.000Z',
      startTime: '2025-05-30T10:05:00.000Z',
      stopTime: '2025-05-30T12:05:00.000Z',
      outputUri: 's3://outputs/runs',
      runOutputUri: `s3://outputs/runs/${RUN_ID}/`,
      tags: { project: 'x' },
      ...run,
    },
    taskCount: 3,
    logStreams: [],
    missingLogStreams: [],
    logEvents: 0,
    manifestKey: `runs/${UUID}/manifest.json.gz`,
    cacheUris: ['s3://outputs/cache/abc/'],
    ...extra,
  };
}

const tier = { name: 'standard', deleteRun: true };
const runRecord = () => table.get(runKey(UUID).pk, runKey(UUID).sk);

beforeEach(() => {
  ddbMock.reset();
  table = new FakeRunIndexTable().attach(ddbMock);
  index = new RunIndex(DynamoDBDocumentClient.from(new DynamoDBClient({ region: 'us-east-1' })), table.tableName);
});

describe('indexSnapshot', () => {
  it('records the run INDEXED with its GetRun fields, tier, snapshot and execution', async () => {
    const snap = snapshot();
    const result = await indexSnapshot(index, snap, {
      tier,
      archiveAfterSeconds: 30 * 86400,
      executionArn: 'arn:aws:states:us-east-1:123456789012:execution:ArchiveRun:run-7830534',
      now: new Date('2025-06-01T09:00:00.000Z'),
    });

    expect(runRecord()).toEqual({
      ...runKey(UUID),
      schemaVersion: SCHEMA_VERSION,
      runUuid: UUID,
      runId: RUN_ID,
      runArn: `arn:aws:omics:us-east-1:123456789012:run/${RUN_ID}`,
      name: 'germline-42',
      status: 'COMPLETED',
      workflowId: '1234567',
      runGroupId: '7654321',
      tier: 'standard',
      deleteRun: true,
      archiveState: 'INDEXED',
      stopTime: '2025-05-30T12:05:00.000Z',
      creationTime: '2025-05-30T10:00:00.000Z',
      runOutputUri: `s3://outputs/runs/${RUN_ID}/`,
      snapshotLocation: `s3://snapshots/runs/${UUID}/`,
      executionArn: 'arn:aws:states:us-east-1:123456789012:execution:ArchiveRun:run-7830534',
      run: snap.run,
      updatedAt: expect.any(String) as string,
    });
    expect(result).toEqual({
      location: `s3://snapshots/runs/${UUID}/`,
      objectCount: 2,
      runOutputUri: `s3://outputs/runs/${RUN_ID}/`,
      excludeUris: ['s3://outputs/cache/abc/'],
      archiveAt: '2025-06-29T12:05:00Z',
    });
  });

  it('writes conditionally: a run already archiving is left alone (ArchiveInProgress), one archived too (StateConflict)', async () => {
    table.put({ ...runKey(UUID), runUuid: UUID, runId: RUN_ID, archiveState: 'ARCHIVING', stopTime: 'x', executionArn: 'arn:owner' });
    await expect(indexSnapshot(index, snapshot(), { tier, archiveAfterSeconds: 0, executionArn: 'arn:me' })).rejects.toMatchObject({
      name: 'ArchiveInProgress',
    });
    expect(runRecord()).toMatchObject({ archiveState: 'ARCHIVING', executionArn: 'arn:owner' });
    expect(ddbMock.commandCalls(PutCommand)[0].args[0].input.ConditionExpression).toContain('attribute_not_exists(pk)');

    table.put({ ...runKey(UUID), runUuid: UUID, runId: RUN_ID, archiveState: 'ARCHIVED', stopTime: 'x', executionArn: 'arn:me' });
    await expect(indexSnapshot(index, snapshot(), { tier, archiveAfterSeconds: 0, executionArn: 'arn:me' })).rejects.toBeInstanceOf(StateConflictError);
    expect(runRecord()).toMatchObject({ archiveState: 'ARCHIVED' });
  });

  it('takes over an archive whose owner stopped, and only that one', async () => {
    table.put({ ...runKey(UUID), runUuid: UUID, runId: RUN_ID, archiveState: 'ARCHIVING', stopTime: 'x', executionArn: 'arn:stopped' });
    await indexSnapshot(index, snapshot(), { tier, archiveAfterSeconds: 0, executionArn: 'arn:me', takeOverFrom: 'arn:stopped' });
    expect(runRecord()).toMatchObject({ archiveState: 'INDEXED', executionArn: 'arn:me' });
  });

  it('indexes a run whose earlier archive FAILED again', async () => {
    table.put({ ...runKey(UUID), runUuid: UUID, runId: RUN_ID, archiveState: 'FAILED', stopTime: 'x', failureReason: 'boom' });
    await indexSnapshot(index, snapshot(), { tier, archiveAfterSeconds: 0 });
    expect(runRecord()).toMatchObject({ archiveState: 'INDEXED' });
    expect(runRecord()?.failureReason).toBeUndefined();
  });

  it.each([
    ['its stop time', {}, '2025-05-30T12:05:00.000Z'],
    ['its creation time when it never stopped', { stopTime: undefined }, '2025-05-30T10:00:00.000Z'],
    ['the capture time when GetRun has neither', { stopTime: undefined, creationTime: undefined }, '2025-06-01T08:00:00.000Z'],
  ])('sorts the run by %s', async (_name, run, stopTime) => {
    const result = await indexSnapshot(index, snapshot(run), { tier, archiveAfterSeconds: 3600, now: new Date('2025-01-01T00:00:00.000Z') });
    expect(runRecord()).toMatchObject({ stopTime });
    expect(result.archiveAt).toBe(new Date(Date.parse(stopTime) + 3600_000).toISOString().replace('.000Z', 'Z'));
  });

  it('archives at the stop time plus archiveAfter, or now when that is already past, in RFC 3339 without fractions', async () => {
    const stop = { stopTime: '2025-05-30T12:05:00.789Z' };
    const later = await indexSnapshot(index, snapshot(stop), { tier, archiveAfterSeconds: 7 * 86400, now: new Date('2025-06-01T00:00:00.000Z') });
    expect(later.archiveAt).toBe('2025-06-06T12:05:00Z');

    const past = await indexSnapshot(index, snapshot(stop), { tier, archiveAfterSeconds: 86400, now: new Date('2025-06-10T09:30:15.456Z') });
    expect(past.archiveAt).toBe('2025-06-10T09:30:15Z');

    const immediate = await indexSnapshot(index, snapshot(stop), { tier, archiveAfterSeconds: 0, now: new Date('2025-05-30T12:05:00.789Z') });
    expect(immediate.archiveAt).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  });

  it('uses the current time when no clock is given', async () => {
    const before = Date.now();
    const result = await indexSnapshot(index, snapshot(), { tier, archiveAfterSeconds: 0 });
    expect(Date.parse(result.archiveAt)).toBeGreaterThanOrEqual(Math.floor(before / 1000) * 1000);
    expect(Date.parse(result.archiveAt)).toBeLessThanOrEqual(Date.now());
  });

  it('records a run without a name, workflow or group, and an unknown status', async () => {
    await indexSnapshot(index, snapshot({ name: undefined, workflowId: undefined, runGroupId: undefined, status: undefined, arn: undefined }), {
      tier: { name: 'x', deleteRun: false },
      archiveAfterSeconds: 0,
    });
    const record = runRecord()!;
    expect(record).toMatchObject({ status: 'UNKNOWN', runArn: '', tier: 'x', deleteRun: false });
    expect(record).not.toHaveProperty('name');
    expect(record).not.toHaveProperty('workflowId');
  });

  it('passes run caches through as URIs never to archive', async () => {
    const result = await indexSnapshot(index, snapshot({}, { cacheUris: [] }), { tier, archiveAfterSeconds: 0 });
    expect(result.excludeUris).toEqual([]);
  });
});

describe('a GetRun too large for one DynamoDB item (400 KB)', () => {
  // A cohort run: 20,000 sample URIs in its parameters, about 1.5 MB of GetRun JSON.
  const parameters = { samples: Array.from({ length: 20_000 }, (_, i) => `s3://cohort-inputs/batch-7/sample-${String(i).padStart(5, '0')}/reads.cram`) };

  it('keeps a bounded summary in the index, without the parameters, naming the snapshot run.json that has them all', async () => {
    const snap = snapshot({ parameters, tags: { project: 'cohort' } });
    await indexSnapshot(index, snap, { tier, archiveAfterSeconds: 0, now: new Date('2025-06-01T09:00:00.000Z') });
    const record = runRecord() as { run: Record<string, unknown> };
    expect(Buffer.byteLength(JSON.stringify(record))).toBeLessThan(INDEXED_RUN_BUDGET_BYTES + 4096);
    expect(record.run).toEqual({
      ...snap.run,
      parameters: undefined,
      omittedFromIndex: { fields: ['parameters'], bytes: Buffer.byteLength(JSON.stringify(snap.run)), fullRun: `s3://snapshots/runs/${UUID}/run.json` },
    });
    expect(record.run).not.toHaveProperty('parameters');
  });

  it('drops the largest other fields next, never those identifying the run', () => {
    const run = { id: RUN_ID, uuid: UUID, arn: 'arn', status: 'COMPLETED', statusMessage: 'x'.repeat(50_000), tags: { a: 'y'.repeat(20_000) }, priority: 1 };
    const bounded = indexedRun(run, 's3://snapshots/run.json', 40_000);
    expect(bounded).toMatchObject({ id: RUN_ID, uuid: UUID, arn: 'arn', status: 'COMPLETED', tags: run.tags, priority: 1 });
    expect(bounded.omittedFromIndex).toMatchObject({ fields: ['statusMessage'] });
    expect(Buffer.byteLength(JSON.stringify(bounded))).toBeLessThanOrEqual(40_000);
  });

  it('leaves a GetRun within the budget whole, with no note', () => {
    const run = snapshot().run as Record<string, unknown>;
    expect(indexedRun(run, 's3://x/run.json')).toBe(run);
  });
});

describe('runOutputUriOf', () => {
  it('takes GetRun’s runOutputUri', () => {
    expect(runOutputUriOf({ runOutputUri: 's3://b/x/1/', outputUri: 's3://b/y' }, '1')).toBe('s3://b/x/1/');
  });

  it.each([
    ['without a trailing slash', 's3://outputs/runs'],
    ['with one', 's3://outputs/runs/'],
  ])('falls back to outputUri/<runId>/ %s', (_name, outputUri) => {
    expect(runOutputUriOf({ outputUri }, RUN_ID)).toBe(`s3://outputs/runs/${RUN_ID}/`);
  });

  it('fails naming the run when GetRun has neither', () => {
    expect(() => runOutputUriOf({}, RUN_ID)).toThrow(`run ${RUN_ID} has neither runOutputUri nor outputUri`);
  });
});
