// Unit tests for the run index repository: key shapes, conditional state transitions, GSI queries and batch writes.
import { ConditionalCheckFailedException, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  BatchWriteCommand,
  DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  UpdateCommand,
  type BatchWriteCommandInput,
  type QueryCommandInput,
} from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import {
  ARCHIVE_STATES,
  ArchiveInProgressError,
  RunIndex,
  SCHEMA_VERSION,
  StateConflictError,
  fileKey,
  restoreFileKey,
  restoreFileKeyOf,
  restoreKey,
  runKey,
  waiterRefOf,
  type RunRecord,
} from '../../../../functions/lib/index/run-index';
import { RUN_INDEX, bundleIdOf, bundleObjectRef } from '../../../../functions/lib/contract';
import { FakeRunIndexTable, evaluateCondition } from '../../../support/run-index-table';

const TABLE = 'run-index';
const UUID = '96c57683-74bf-9d6d-ae7e-f09b097db14a';
const ddbMock = mockClient(DynamoDBDocumentClient);
const index = new RunIndex(DynamoDBDocumentClient.from(new DynamoDBClient({ region: 'us-east-1' })), TABLE);

const conditionFailed = () => new ConditionalCheckFailedException({ message: 'The conditional request failed', $metadata: {} });

/** The values a condition's `IN (...)` list names, read from the command's placeholders. */
function inList(condition: string, values: Record<string, unknown>): unknown[] {
  const list = /IN \(([^)]*)\)/.exec(condition)?.[1] ?? '';
  return list.split(',').map((placeholder) => values[placeholder.trim()]);
}

function runRecord(overrides: Partial<RunRecord> = {}): Omit<RunRecord, 'pk' | 'sk' | 'schemaVersion' | 'archiveState' | 'updatedAt'> {
  return {
    runUuid: UUID,
    runId: '7830534',
    runArn: 'arn:aws:omics:us-west-2:123456789012:run/7830534',
    status: 'COMPLETED',
    tier: 'standard',
    deleteRun: true,
    stopTime: '2025-05-30T12:05:00.000Z',
    snapshotLocation: `s3://snapshots/runs/${UUID}/`,
    run: { id: '7830534' },
    ...overrides,
  };
}

beforeEach(() => {
  ddbMock.reset();
  jest.useRealTimers();
});

describe('keys', () => {
  it('puts every item of a run under RUN#<uuid>', () => {
    expect(runKey(UUID)).toEqual({ pk: `RUN#${UUID}`, sk: 'META' });
    expect(fileKey(UUID, 'reads/a b.bam')).toEqual({ pk: `RUN#${UUID}`, sk: 'FILE#reads/a b.bam' });
    expect(restoreKey(UUID, 'r-1')).toEqual({ pk: `RUN#${UUID}`, sk: 'RESTORE#r-1' });
  });

  it('keys a restore file by a short ASCII hash of its path, stable and distinct', () => {
    const key = restoreFileKeyOf('échantillon/données 1.bam');
    expect(key).toMatch(/^[0-9a-f]{24}$/);
    expect(restoreFileKeyOf('échantillon/données 1.bam')).toBe(key);
    expect(restoreFileKeyOf('échantillon/données 2.bam')).not.toBe(key);
    expect(restoreFileKey(UUID, 'r-1', 'échantillon/données 1.bam')).toEqual({ pk: `RUN#${UUID}`, sk: `RESTORE#r-1#FILE#${key}` });
  });
});

describe('getRun / getFile', () => {
  it('reads with strong consistency and returns undefined for a missing item', async () => {
    ddbMock.on(GetCommand, { Key: runKey(UUID) }).resolves({ Item: { ...runKey(UUID), archiveState: 'ARCHIVED' } });
    ddbMock.on(GetCommand, { Key: fileKey(UUID, 'a.bam') }).resolves({});
    expect((await index.getRun(UUID))?.archiveState).toBe('ARCHIVED');
    expect(await index.getFile(UUID, 'a.bam')).toBeUndefined();
    expect(ddbMock).toHaveReceivedCommandWith(GetCommand, { TableName: TABLE, Key: runKey(UUID), ConsistentRead: true });
    expect(ddbMock).toHaveReceivedCommandWith(GetCommand, { TableName: TABLE, Key: fileKey(UUID, 'a.bam'), ConsistentRead: true });
  });
});

describe('indexRun', () => {
  it('puts the run as INDEXED, only if it is new, INDEXED, FAILED or PARTIAL', async () => {
    ddbMock.on(PutCommand).resolves({});
    const item = await index.indexRun(runRecord());
    expect(item).toMatchObject({
      ...runKey(UUID),
      schemaVersion: SCHEMA_VERSION,
      archiveState: 'INDEXED',
      runId: '7830534',
      updatedAt: expect.any(String) as string,
    });

    const input = ddbMock.commandCalls(PutCommand)[0].args[0].input;
    expect(input.TableName).toBe(TABLE);
    expect(input.Item).toEqual(item);
    expect(input.ConditionExpression).toMatch(/^attribute_not_exists\(pk\) OR archiveState IN \(/);
    // Without an owner to compare (a record written before owners were kept), INDEXED stays open as it was.
    const holds = (existing?: Partial<RunRecord>) =>
      evaluateCondition(input.ConditionExpression!, existing && { ...runKey(UUID), ...existing }, {
        names: input.ExpressionAttributeNames ?? {},
        values: input.ExpressionAttributeValues!,
      });
    expect(holds(undefined)).toBe(true);
    for (const state of ['INDEXED', 'FAILED', 'PARTIAL'] as const) expect(holds({ archiveState: state })).toBe(true);
    // Everything further along than INDEXED (other than an operator's re-run of FAILED or PARTIAL) is protected.
    for (const state of ARCHIVE_STATES.filter((s) => !['INDEXED', 'FAILED', 'PARTIAL'].includes(s))) expect(holds({ archiveState: state })).toBe(false);
  });

  describe('with an owner execution', () => {
    const ME = 'arn:aws:states:us-east-1:123456789012:execution:archive:me';
    const OTHER = 'arn:aws:states:us-east-1:123456789012:execution:archive:other';
    async function conditionFor(options: Parameters<RunIndex['indexRun']>[1] = {}) {
      ddbMock.on(PutCommand).resolves({});
      await index.indexRun(runRecord({ executionArn: ME }), options);
      const input = ddbMock.commandCalls(PutCommand).at(-1)!.args[0].input;
      return (existing?: Partial<RunRecord>) =>
        evaluateCondition(input.ConditionExpression!, existing && { ...runKey(UUID), ...existing }, {
          names: input.ExpressionAttributeNames ?? {},
          values: input.ExpressionAttributeValues!,
        });
    }

    it('holds for a new run, its own retry, and a re-run of an archive that ended; never over another owner', async () => {
      const holds = await conditionFor();
      expect(holds(undefined)).toBe(true);
      expect(holds({ archiveState: 'INDEXED', executionArn: ME })).toBe(true);
      expect(holds({ archiveState: 'FAILED', executionArn: OTHER })).toBe(true);
      expect(holds({ archiveState: 'PARTIAL', executionArn: OTHER })).toBe(true);
      expect(holds({ archiveState: 'INDEXED', executionArn: OTHER })).toBe(false);
      expect(holds({ archiveState: 'INDEXED' })).toBe(false);
      expect(holds({ archiveState: 'ARCHIVING', executionArn: OTHER })).toBe(false);
      for (const state of ['ARCHIVED', 'DELETING', 'RUN_DELETED'] as const) expect(holds({ archiveState: state, executionArn: ME })).toBe(false);
    });

    it('takes over an archive under way only from the owner the caller found stopped', async () => {
      const holds = await conditionFor({ takeOverFrom: OTHER });
      expect(holds({ archiveState: 'INDEXED', executionArn: OTHER })).toBe(true);
      expect(holds({ archiveState: 'ARCHIVING', executionArn: OTHER })).toBe(true);
      expect(holds({ archiveState: 'ARCHIVING', executionArn: 'arn:aws:states:us-east-1:123456789012:execution:archive:third' })).toBe(false);
      expect(holds({ archiveState: 'ARCHIVED', executionArn: OTHER })).toBe(false);
      const legacy = await conditionFor({ takeOverFrom: null });
      expect(legacy({ archiveState: 'ARCHIVING' })).toBe(true);
      expect(legacy({ archiveState: 'ARCHIVING', executionArn: OTHER })).toBe(false);
    });
  });

  it('maps a failed condition to StateConflict for a run further along, ArchiveInProgress for one another execution owns', async () => {
    ddbMock.on(PutCommand).rejects(conditionFailed());
    ddbMock.on(GetCommand).resolvesOnce({ Item: { ...runKey(UUID), archiveState: 'ARCHIVED' } });
    const attempt = index.indexRun(runRecord());
    await expect(attempt).rejects.toBeInstanceOf(StateConflictError);
    await expect(attempt).rejects.toThrow(`run ${UUID} is already ARCHIVED`);

    const owner = 'arn:aws:states:us-east-1:123456789012:execution:archive:other';
    ddbMock.on(GetCommand).resolves({ Item: { ...runKey(UUID), archiveState: 'ARCHIVING', executionArn: owner } });
    const standDown = index.indexRun(runRecord());
    await expect(standDown).rejects.toBeInstanceOf(ArchiveInProgressError);
    await expect(standDown).rejects.toMatchObject({ name: 'ArchiveInProgress', message: expect.stringContaining(owner) as string });
  });

  it('passes other errors through unchanged', async () => {
    const throttled = Object.assign(new Error('Rate exceeded'), { name: 'ProvisionedThroughputExceededException' });
    ddbMock.on(PutCommand).rejects(throttled);
    await expect(index.indexRun(runRecord())).rejects.toBe(throttled);
  });
});

describe('transitionRun', () => {
  it('sets the new state and fields, conditional on one of the from-states, and returns the new item', async () => {
    ddbMock.on(UpdateCommand).resolves({ Attributes: { ...runKey(UUID), archiveState: 'ARCHIVED' } });
    const result = await index.transitionRun(UUID, ['ARCHIVING', 'PARTIAL'], 'ARCHIVED', { archivedAt: '2025-06-01T00:00:00.000Z', failureReason: undefined });
    expect(result.archiveState).toBe('ARCHIVED');

    const input = ddbMock.commandCalls(UpdateCommand)[0].args[0].input;
    expect(input).toMatchObject({ TableName: TABLE, Key: runKey(UUID), ReturnValues: 'ALL_NEW' });
    expect(input.ConditionExpression).toBe('attribute_exists(pk) AND #state IN (:from0, :from1)');
    expect(input.ExpressionAttributeNames!['#state']).toBe('archiveState');
    expect(inList(input.ConditionExpression!, input.ExpressionAttributeValues!)).toEqual(['ARCHIVING', 'PARTIAL']);

    // Every SET placeholder resolves to a field; undefined fields are left out rather than written.
    const sets = Object.fromEntries(
      input
        .UpdateExpression!.replace(/^SET /, '')
        .split(', ')
        .map((part) => part.split(' = '))
        .map(([name, value]) => [input.ExpressionAttributeNames![name], input.ExpressionAttributeValues![value]]),
    );
    expect(sets).toEqual({ archivedAt: '2025-06-01T00:00:00.000Z', archiveState: 'ARCHIVED', updatedAt: expect.any(String) as string });
    // No placeholder is declared without being used (DynamoDB rejects unused ones).
    for (const placeholder of [...Object.keys(input.ExpressionAttributeNames!), ...Object.keys(input.ExpressionAttributeValues!)]) {
      expect(`${input.UpdateExpression} ${input.ConditionExpression}`).toContain(placeholder);
    }
  });

  it('maps ConditionalCheckFailedException (by class or by name) to StateConflictError', async () => {
    ddbMock
      .on(UpdateCommand)
      .rejectsOnce(conditionFailed())
      .rejectsOnce(Object.assign(new Error('x'), { name: 'ConditionalCheckFailedException' }));
    await expect(index.transitionRun(UUID, ['ARCHIVED'], 'DELETING')).rejects.toThrow(
      new StateConflictError(`run ${UUID} is not in ARCHIVED, so it cannot become DELETING`),
    );
    await expect(index.transitionRun(UUID, ['ARCHIVED'], 'DELETING')).rejects.toBeInstanceOf(StateConflictError);
  });
});

describe('recordFailure', () => {
  it('records FAILED with its reason, creating a minimal run record if needed, never over ARCHIVED or deletion', async () => {
    ddbMock.on(UpdateCommand).resolves({ Attributes: { ...runKey(UUID), archiveState: 'FAILED' } });
    await index.recordFailure(UUID, '7830534', 'x'.repeat(5000));
    const input = ddbMock.commandCalls(UpdateCommand)[0].args[0].input;
    const values = input.ExpressionAttributeValues!;
    expect(input.Key).toEqual(runKey(UUID));
    expect(values[':failed']).toBe('FAILED');
    expect(values[':reason']).toHaveLength(4000);
    expect(values[':tier']).toBe('unknown');
    expect(input.UpdateExpression).toContain('schemaVersion = if_not_exists(schemaVersion, :schema)');
    expect(input.UpdateExpression).toContain('tier = if_not_exists(tier, :tier)');
    expect(input.ConditionExpression).toMatch(/^attribute_not_exists\(pk\) OR archiveState IN/);
    expect([...inList(input.ConditionExpression!, values)].sort()).toEqual(['ARCHIVING', 'FAILED', 'INDEXED', 'PARTIAL']);
    for (const placeholder of Object.keys(values)) expect(`${input.UpdateExpression} ${input.ConditionExpression}`).toContain(placeholder);
  });

  it('keeps a known tier and maps a failed condition to StateConflictError', async () => {
    ddbMock.on(UpdateCommand).rejects(conditionFailed());
    await expect(index.recordFailure(UUID, '7830534', 'boom', 'standard')).rejects.toBeInstanceOf(StateConflictError);
    expect(ddbMock.commandCalls(UpdateCommand)[0].args[0].input.ExpressionAttributeValues![':tier']).toBe('standard');
  });
});

describe('file records', () => {
  it('updateFile writes only while the file is in one of the from-states (state is a reserved word)', async () => {
    ddbMock.on(UpdateCommand).resolves({ Attributes: { ...fileKey(UUID, 'a.bam'), state: 'ARCHIVED' } });
    await index.updateFile(UUID, 'a.bam', ['PENDING', 'UPLOADING'], { state: 'ARCHIVED', archiveId: 'arch-1', uploadId: undefined });
    const input = ddbMock.commandCalls(UpdateCommand)[0].args[0].input;
    expect(input.Key).toEqual(fileKey(UUID, 'a.bam'));
    expect(input.ConditionExpression).toBe('attribute_exists(pk) AND #state IN (:from0, :from1)');
    expect(input.ExpressionAttributeNames!['#state']).toBe('state');
    expect(inList(input.ConditionExpression!, input.ExpressionAttributeValues!)).toEqual(['PENDING', 'UPLOADING']);
    expect(input.UpdateExpression).not.toMatch(/(^|[ ,])state =/);
    expect(Object.values(input.ExpressionAttributeNames!)).not.toContain('uploadId');
  });

  it('updateFile maps a failed condition to StateConflictError', async () => {
    ddbMock.on(UpdateCommand).rejects(conditionFailed());
    await expect(index.updateFile(UUID, 'a.bam', ['PENDING'], { state: 'UPLOADING' })).rejects.toThrow(`file a.bam of run ${UUID} is not in PENDING`);
  });

  it('markSourceDeleted requires an ARCHIVED file with an archive id or key, a place in a bundle, or nothing to archive (zero bytes)', async () => {
    ddbMock.on(UpdateCommand).resolvesOnce({}).rejectsOnce(conditionFailed());
    await index.markSourceDeleted(UUID, 'a.bam');
    const input = ddbMock.commandCalls(UpdateCommand)[0].args[0].input;
    expect(input.Key).toEqual(fileKey(UUID, 'a.bam'));
    expect(input.ConditionExpression).toBe(
      '#state = :archived AND (attribute_exists(archiveId) OR attribute_exists(archiveKey) OR attribute_exists(#bundle) OR #size = :zero)',
    );
    expect(input.ExpressionAttributeNames).toEqual({ '#state': 'state', '#size': 'size', '#bundle': 'bundle' });
    expect(input.ExpressionAttributeValues).toMatchObject({ ':archived': 'ARCHIVED', ':true': true, ':zero': 0 });
    await expect(index.markSourceDeleted(UUID, 'b.bam')).rejects.toBeInstanceOf(StateConflictError);
  });

  it('listFiles reads every page of the run’s FILE# items', async () => {
    ddbMock
      .on(QueryCommand)
      .resolvesOnce({ Items: [{ path: 'a' }], LastEvaluatedKey: { pk: `RUN#${UUID}`, sk: 'FILE#a' } })
      .resolvesOnce({ Items: [{ path: 'b' }] });
    expect((await index.listFiles(UUID)).map((f) => f.path)).toEqual(['a', 'b']);
    const inputs = ddbMock.commandCalls(QueryCommand).map((c) => c.args[0].input);
    expect(inputs[0]).toMatchObject({
      TableName: TABLE,
      KeyConditionExpression: 'pk = :pk AND begins_with(sk, :file)',
      ExpressionAttributeValues: { ':pk': `RUN#${UUID}`, ':file': 'FILE#' },
    });
    expect(inputs[0].IndexName).toBeUndefined();
    expect(inputs[1].ExclusiveStartKey).toEqual({ pk: `RUN#${UUID}`, sk: 'FILE#a' });
  });

  it('putFiles writes batches of 25 with keys and schema version, retrying unprocessed items', async () => {
    let calls = 0;
    ddbMock.on(BatchWriteCommand).callsFake((input: BatchWriteCommandInput) => {
      calls++;
      return calls === 1 ? { UnprocessedItems: { [TABLE]: input.RequestItems![TABLE].slice(0, 3) } } : {};
    });
    const files = Array.from({ length: 51 }, (_, i) => ({
      runUuid: UUID,
      path: `f${i}`,
      sourceBucket: 'b',
      sourceKey: `k${i}`,
      size: i,
      action: 'keep' as const,
      state: 'KEPT' as const,
    }));
    await index.putFiles(files);
    const batches = ddbMock.commandCalls(BatchWriteCommand).map((c) => c.args[0].input.RequestItems![TABLE]);
    expect(batches.map((b) => b.length).sort((a, b) => a - b)).toEqual([1, 3, 25, 25]);
    const items = batches.flat().map((r) => r.PutRequest!.Item!);
    expect(new Set(items.map((i): unknown => i.sk)).size).toBe(51);
    expect(items[0]).toMatchObject({ ...fileKey(UUID, items[0].path as string), schemaVersion: SCHEMA_VERSION, updatedAt: expect.any(String) as string });
  });

  it('putFiles with no files writes nothing', async () => {
    await index.putFiles([]);
    expect(ddbMock).not.toHaveReceivedCommand(BatchWriteCommand);
  });

  it('putFiles gives up, naming the count, when DynamoDB keeps leaving items unprocessed', async () => {
    jest.useFakeTimers();
    ddbMock.on(BatchWriteCommand).callsFake((input: BatchWriteCommandInput) => ({ UnprocessedItems: input.RequestItems }));
    const attempt = index.putFiles([{ runUuid: UUID, path: 'a', sourceBucket: 'b', sourceKey: 'k', size: 1, action: 'keep', state: 'KEPT' }]);
    const assertion = expect(attempt).rejects.toThrow('DynamoDB left 1 file records unprocessed after 9 attempts');
    await jest.advanceTimersByTimeAsync(60_000);
    await assertion;
    expect(ddbMock.commandCalls(BatchWriteCommand)).toHaveLength(9);
  });
});

describe('GSI queries', () => {
  it('findRunsById queries the run-id index newest first, across every page', async () => {
    ddbMock
      .on(QueryCommand)
      .resolvesOnce({ Items: [{ runUuid: 'u3' }, { runUuid: 'u2' }], LastEvaluatedKey: { k: 1 } })
      .resolvesOnce({ Items: [{ runUuid: 'u1' }] });
    expect((await index.findRunsById('7830534')).map((r) => r.runUuid)).toEqual(['u3', 'u2', 'u1']);
    const inputs = ddbMock.commandCalls(QueryCommand).map((c) => c.args[0].input);
    expect(inputs[0]).toMatchObject({
      TableName: TABLE,
      IndexName: RUN_INDEX.indexes.byRunId.name,
      KeyConditionExpression: '#runId = :runId',
      ExpressionAttributeNames: { '#runId': 'runId' },
      ExpressionAttributeValues: { ':runId': '7830534' },
      ScanIndexForward: false,
    });
    expect(inputs[0].ExclusiveStartKey).toBeUndefined();
    expect(inputs[1].ExclusiveStartKey).toEqual({ k: 1 });
  });

  it('listRunsByState queries the archive-state index, with an optional stop-time range', async () => {
    ddbMock.on(QueryCommand).resolves({ Items: [] });
    await index.listRunsByState('ARCHIVED');
    await index.listRunsByState('FAILED', { from: '2025-01-01', to: '2025-02-01' });
    await index.listRunsByState('PARTIAL', { from: '2025-01-01' });
    const inputs: QueryCommandInput[] = ddbMock.commandCalls(QueryCommand).map((c) => c.args[0].input);
    expect(inputs[0]).toMatchObject({
      IndexName: RUN_INDEX.indexes.byArchiveState.name,
      KeyConditionExpression: '#state = :state',
      ExpressionAttributeNames: { '#state': 'archiveState' },
      ExpressionAttributeValues: { ':state': 'ARCHIVED' },
      ScanIndexForward: false,
    });
    expect(inputs[1]).toMatchObject({
      KeyConditionExpression: '#state = :state AND #stop BETWEEN :from AND :to',
      ExpressionAttributeNames: { '#state': 'archiveState', '#stop': 'stopTime' },
      ExpressionAttributeValues: { ':state': 'FAILED', ':from': '2025-01-01', ':to': '2025-02-01' },
    });
    expect(inputs[2].ExpressionAttributeValues).toEqual({ ':state': 'PARTIAL', ':from': '2025-01-01', ':to': '9999' });
  });

  it('listRunsByState honours the limit: stops paging once it has enough and returns no more', async () => {
    ddbMock
      .on(QueryCommand)
      .resolvesOnce({ Items: [{ runUuid: 'a' }, { runUuid: 'b' }], LastEvaluatedKey: { k: 1 } })
      .resolvesOnce({ Items: [{ runUuid: 'c' }, { runUuid: 'd' }], LastEvaluatedKey: { k: 2 } })
      .resolvesOnce({ Items: [{ runUuid: 'e' }] });
    expect((await index.listRunsByState('ARCHIVED', {}, 3)).map((r) => r.runUuid)).toEqual(['a', 'b', 'c']);
    expect(ddbMock.commandCalls(QueryCommand)).toHaveLength(2);
  });
});

describe('restore items', () => {
  const request = {
    runUuid: UUID,
    restoreId: 'r-1',
    state: 'REQUESTED' as const,
    request: { globs: ['**/*.bam'] },
    tier: 'Bulk',
    destination: 's3://dest/x/',
    fileCount: 2,
  };

  it('putRestoreRequest creates the request once', async () => {
    ddbMock.on(PutCommand).resolvesOnce({}).rejectsOnce(conditionFailed());
    const item = await index.putRestoreRequest(request);
    expect(item).toMatchObject({ ...restoreKey(UUID, 'r-1'), schemaVersion: SCHEMA_VERSION, createdAt: expect.any(String) as string });
    expect(ddbMock).toHaveReceivedCommandWith(PutCommand, { TableName: TABLE, Item: item, ConditionExpression: 'attribute_not_exists(pk)' });
    await expect(index.putRestoreRequest(request)).rejects.toThrow(`restore r-1 of run ${UUID} already exists`);
  });

  it('putRestoreFiles writes per-file items keyed by the path hash, in batches, retrying unprocessed ones', async () => {
    let calls = 0;
    ddbMock.on(BatchWriteCommand).callsFake((input: BatchWriteCommandInput) => {
      calls++;
      return calls === 1 ? { UnprocessedItems: { [TABLE]: input.RequestItems![TABLE].slice(0, 1) } } : {};
    });
    const files = Array.from({ length: 30 }, (_, i) => ({
      runUuid: UUID,
      restoreId: 'r-1',
      path: `dir/f ${i}.bam`,
      state: 'REQUESTED' as const,
      destination: `s3://dest/x/f${i}`,
    }));
    await index.putRestoreFiles(files);
    const batches = ddbMock.commandCalls(BatchWriteCommand).map((c) => c.args[0].input.RequestItems![TABLE]);
    expect(batches.map((b) => b.length)).toEqual([25, 1, 5]); // one batch at a time: the retry comes before the next batch
    const item = batches[0][0].PutRequest!.Item!;
    expect(item).toMatchObject({
      ...restoreFileKey(UUID, 'r-1', 'dir/f 0.bam'),
      fileKey: restoreFileKeyOf('dir/f 0.bam'),
      path: 'dir/f 0.bam',
      schemaVersion: SCHEMA_VERSION,
    });
  });

  it('putRestoreFiles gives up when DynamoDB keeps leaving items unprocessed', async () => {
    jest.useFakeTimers();
    ddbMock.on(BatchWriteCommand).callsFake((input: BatchWriteCommandInput) => ({ UnprocessedItems: input.RequestItems }));
    const attempt = index.putRestoreFiles([{ runUuid: UUID, restoreId: 'r-1', path: 'a', state: 'REQUESTED', destination: 's3://d/a' }]);
    const assertion = expect(attempt).rejects.toThrow(/unprocessed/);
    await jest.advanceTimersByTimeAsync(60_000);
    await assertion;
  });

  it('updateRestoreRequest and updateRestoreFile write only existing items', async () => {
    ddbMock.on(UpdateCommand).resolves({ Attributes: { state: 'RESTORED' } });
    await index.updateRestoreRequest(UUID, 'r-1', { state: 'RETRIEVING' });
    const restored = await index.updateRestoreFile(UUID, 'r-1', 'dir/f 0.bam', { state: 'RESTORED', jobId: 'job-1' });
    expect(restored.state).toBe('RESTORED');
    const [first, second] = ddbMock.commandCalls(UpdateCommand).map((c) => c.args[0].input);
    expect(first).toMatchObject({ Key: restoreKey(UUID, 'r-1'), ConditionExpression: 'attribute_exists(pk)' });
    expect(second).toMatchObject({ Key: restoreFileKey(UUID, 'r-1', 'dir/f 0.bam'), ConditionExpression: 'attribute_exists(pk)', ReturnValues: 'ALL_NEW' });
  });

  it('getRestoreFile and getRestoreFileByKey address the same item', async () => {
    ddbMock.on(GetCommand).resolves({ Item: { path: 'dir/f 0.bam' } });
    await index.getRestoreFile(UUID, 'r-1', 'dir/f 0.bam');
    await index.getRestoreFileByKey(UUID, 'r-1', restoreFileKeyOf('dir/f 0.bam'));
    const [byPath, byKey] = ddbMock.commandCalls(GetCommand).map((c) => c.args[0].input.Key);
    expect(byKey).toEqual(byPath);
  });

  it('listRestores splits requests from their per-file items', async () => {
    ddbMock.on(QueryCommand).resolves({
      Items: [
        { ...restoreKey(UUID, 'r-2'), restoreId: 'r-2' },
        { ...restoreFileKey(UUID, 'r-1', 'a'), restoreId: 'r-1', path: 'a' },
        { ...restoreKey(UUID, 'r-1'), restoreId: 'r-1' },
      ],
    });
    const { requests, files } = await index.listRestores(UUID);
    expect(requests.map((r) => r.restoreId)).toEqual(['r-2', 'r-1']);
    expect(files.map((f) => f.path)).toEqual(['a']);
    expect(ddbMock).toHaveReceivedCommandWith(QueryCommand, {
      ExpressionAttributeValues: { ':pk': `RUN#${UUID}`, ':restore': 'RESTORE#' },
      ScanIndexForward: false,
    });
  });
});

describe('bundle records (on the in-memory table, so every condition is evaluated)', () => {
  let table: FakeRunIndexTable;
  const BUNDLE = bundleIdOf(UUID, 1);
  const planned = {
    runUuid: UUID,
    bundleId: BUNDLE,
    state: 'PENDING' as const,
    target: 'glacier-vault' as const,
    members: 2,
    bytes: 30,
    size: 3072,
    manifestBucket: 'snapshots',
    manifestKey: `plans/${UUID}/bundles/${BUNDLE}.json`,
  };
  beforeEach(() => {
    table = new FakeRunIndexTable(TABLE).attach(ddbMock);
  });

  it('sit next to the run’s files under BUNDLE#<id>, and listFiles never returns them', async () => {
    await index.putBundles([planned]);
    await index.putFiles([
      { runUuid: UUID, path: 'out/a.txt', sourceBucket: 'o', sourceKey: 'runs/1/out/a.txt', size: 10, action: 'archive', state: 'PENDING', bundleId: BUNDLE },
    ]);
    expect(table.get(`RUN#${UUID}`, `BUNDLE#${BUNDLE}`)).toMatchObject({ ...planned, schemaVersion: SCHEMA_VERSION });
    expect((await index.listBundles(UUID)).map((b) => b.bundleId)).toEqual([BUNDLE]);
    expect((await index.listFiles(UUID)).map((f) => f.path)).toEqual(['out/a.txt']);
    expect(await index.getBundle(UUID, BUNDLE)).toMatchObject({ state: 'PENDING', members: 2 });
  });

  it('are claimed by one worker at a time, released, and failed only when nobody holds them', async () => {
    await index.putBundles([planned]);
    const claimed = await index.claimBundle(UUID, BUNDLE, { owner: 'w1', expiresAt: 2_000, now: 1_000 }, { state: 'UPLOADING' });
    expect(claimed).toMatchObject({ claimed: { state: 'UPLOADING', claimOwner: 'w1', attempts: 1 } });
    expect(await index.claimBundle(UUID, BUNDLE, { owner: 'w2', expiresAt: 3_000, now: 1_500 }, { state: 'UPLOADING' })).toEqual({
      heldBy: { owner: 'w1', expiresAt: 2_000 },
    });
    expect(await index.failUnclaimedBundle(UUID, BUNDLE, 'given up', 1_500)).toBe(false);
    expect(await index.deletePendingBundle(UUID, BUNDLE)).toBe(false);
    await index.releaseBundle(UUID, BUNDLE, 'w1');
    expect(await index.failUnclaimedBundle(UUID, BUNDLE, 'given up', 1_500)).toBe(true);
    expect(await index.getBundle(UUID, BUNDLE)).toMatchObject({ state: 'FAILED', failureReason: 'given up' });
    await index.updateBundle(UUID, BUNDLE, ['FAILED'], { state: 'ARCHIVED', archiveId: 'a-1' });
    expect(await index.claimBundle(UUID, BUNDLE, { owner: 'w3', expiresAt: 9_000, now: 5_000 }, { state: 'UPLOADING' })).toMatchObject({
      settled: { state: 'ARCHIVED', archiveId: 'a-1' },
    });
    await expect(index.updateBundle(UUID, BUNDLE, ['UPLOADING'], { partsDone: 1 })).rejects.toBeInstanceOf(StateConflictError);
  });

  it('a planned bundle nobody started can be removed; its members are recorded ARCHIVED once, with where they are in it', async () => {
    await index.putBundles([planned, { ...planned, bundleId: bundleIdOf(UUID, 2) }]);
    expect(await index.deletePendingBundle(UUID, bundleIdOf(UUID, 2))).toBe(true);
    expect((await index.listBundles(UUID)).map((b) => b.bundleId)).toEqual([BUNDLE]);
    await index.putFiles([
      {
        runUuid: UUID,
        path: 'out/a.txt',
        sourceBucket: 'o',
        sourceKey: 'k',
        size: 10,
        action: 'archive',
        state: 'FAILED',
        failureReason: 'x',
        bundleId: BUNDLE,
      },
    ]);
    const where = { bundle: { id: BUNDLE, offset: 512, length: 10 }, sha256: 'ab'.repeat(32) };
    expect(await index.recordBundleMember(UUID, 'out/a.txt', where)).toBe(true);
    expect(await index.recordBundleMember(UUID, 'out/a.txt', where)).toBe(false);
    const file = await index.getFile(UUID, 'out/a.txt');
    expect(file).toMatchObject({ state: 'ARCHIVED', ...where });
    expect(file?.failureReason).toBeUndefined();
    await index.markSourceDeleted(UUID, 'out/a.txt');
    expect(await index.getFile(UUID, 'out/a.txt')).toMatchObject({ sourceDeleted: true });
  });

  it('a bundle’s restore waiter is keyed by the bundle, and names the member whose record holds the task token', async () => {
    const waiter = { runUuid: UUID, restoreId: 'r-1', path: 'out/a.txt', objectRef: bundleObjectRef(BUNDLE), archiveBucket: 'archive', archiveKey: 'k' };
    await index.putRestoreWaiter(waiter);
    expect(await index.listRestoreWaiters(UUID, 'out/a.txt')).toEqual([]);
    const [found] = await index.listRestoreWaiters(UUID, bundleObjectRef(BUNDLE));
    expect(found).toMatchObject(waiter);
    expect(waiterRefOf(found)).toBe(bundleObjectRef(BUNDLE));
    await index.deleteRestoreWaiter(UUID, waiterRefOf(found), 'r-1');
    expect(await index.listRunRestoreWaiters(UUID)).toEqual([]);
  });
});
