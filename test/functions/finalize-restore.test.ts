// Unit tests for the finalize-restore handler: validated input, its environment, a file recorded failed, a restore settled and announced.
import { Readable } from 'node:stream';
import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { ZodError } from 'zod';
import { handler } from '../../functions/finalize-restore';
import { restoreFileKey, restoreKey, runKey } from '../../functions/lib/index/run-index';
import { ENV, RESTORE_EVENTS } from '../../functions/lib/contract';
import type { RestoreEvent } from '../../functions/lib/restore/finalize-restore';
import { RUN_UUID as UUID, quietPowertools, restoreItem, useEnv } from '../support/handlers';
import { FakeRunIndexTable } from '../support/run-index-table';

const TABLE = 'run-index';
const TOPIC = 'arn:aws:sns:us-east-1:123456789012:restore-events';
const ddbMock = mockClient(DynamoDBDocumentClient);
const snsMock = mockClient(SNSClient);
const s3Mock = mockClient(S3Client);
let table: FakeRunIndexTable;
const powertools = quietPowertools();
useEnv({ [ENV.runIndexTable]: TABLE, [ENV.restoreEventsTopicArn]: TOPIC });

const item = restoreItem();

function restoreFile(path: string, state: string) {
  table.put({ ...restoreFileKey(UUID, 'r-1', path), runUuid: UUID, restoreId: 'r-1', path, state, destination: `s3://restores/${path}` });
}

beforeEach(() => {
  ddbMock.reset();
  snsMock.reset();
  s3Mock.reset();
  snsMock.on(PublishCommand).resolves({ MessageId: 'm-1' });
  table = new FakeRunIndexTable(TABLE).attach(ddbMock);
  table.put({ ...runKey(UUID), runUuid: UUID, runId: '1234567', tier: 'clinical', archiveState: 'ARCHIVED' });
  table.put({
    ...restoreKey(UUID, 'r-1'),
    runUuid: UUID,
    restoreId: 'r-1',
    state: 'REQUESTED',
    fileCount: 2,
    tier: 'Bulk',
    destination: 's3://restores/',
    executionArn: 'arn:aws:states:us-east-1:123456789012:execution:RestoreRun:r-1',
  });
});

describe('finalize-restore handler', () => {
  it.each([
    ['no mode', { runUuid: UUID, restoreId: 'r-1' }],
    ['an unknown mode', { mode: 'done', runUuid: UUID, restoreId: 'r-1' }],
    ['a completion without its restore id', { mode: 'complete', runUuid: UUID }],
    ['a file failure without the item', { mode: 'file-failed', error: {} }],
    ['a file failure whose error is not an object', { mode: 'file-failed', item, error: 'boom' }],
    ['nothing', undefined],
  ])('rejects %s with a ZodError before any AWS call', async (_name, event) => {
    await expect(handler(event)).rejects.toBeInstanceOf(ZodError);
    expect(ddbMock.calls()).toHaveLength(0);
  });

  it('records a file that could not be restored', async () => {
    restoreFile('out/a.bam', 'COPYING');
    const result = await handler({
      mode: 'file-failed',
      item,
      error: { Error: 'ChecksumMismatch', Cause: JSON.stringify({ errorMessage: 'restored out/a.bam has SHA-256 x' }) },
    });
    expect(result).toEqual({ path: 'out/a.bam', state: 'FAILED' });
    const key = restoreFileKey(UUID, 'r-1', 'out/a.bam');
    expect(table.get(key.pk, key.sk)).toMatchObject({ state: 'FAILED', failureReason: 'ChecksumMismatch: restored out/a.bam has SHA-256 x' });
    expect(powertools.addMetric).toHaveBeenCalledWith('FilesNotRestored', 'Count', 1);
  });

  it('records every member of a given-up bundle item not restored yet, by the item’s member list', async () => {
    const members = ['out/a.bam', 'out/b.bam', 'out/c.bam'].map((path, i) => ({
      path,
      offset: 512 + i * 1024,
      length: 10,
      sha256: 'a'.repeat(64),
      destinationBucket: 'restores',
      destinationKey: path,
    }));
    s3Mock.on(GetObjectCommand).resolves({ Body: Readable.from([Buffer.from(JSON.stringify(members))]) as never });
    restoreFile('out/a.bam', 'RETRIEVING');
    restoreFile('out/b.bam', 'RESTORED');
    restoreFile('out/c.bam', 'REQUESTED');
    const bundleItem = restoreItem({
      bundle: { id: 'b-1', size: 4096, members: 3, membersBucket: 'snapshots', membersKey: 'restores/u/r-1/bundles/b-1.json' },
    });
    const result = await handler({ mode: 'file-failed', item: bundleItem, error: { Error: 'RetrievalFailed', Cause: 'Glacier job j: failed' } });
    expect(result).toEqual({ path: 'out/a.bam', state: 'FAILED' });
    const state = (path: string) => table.get(restoreFileKey(UUID, 'r-1', path).pk, restoreFileKey(UUID, 'r-1', path).sk);
    expect(state('out/a.bam')).toMatchObject({ state: 'FAILED', failureReason: 'RetrievalFailed: Glacier job j: failed' });
    expect(state('out/b.bam')).toMatchObject({ state: 'RESTORED' });
    expect(state('out/c.bam')).toMatchObject({ state: 'FAILED', failureReason: 'with bundle b-1: RetrievalFailed: Glacier job j: failed' });
    expect(s3Mock).toHaveReceivedCommandWith(GetObjectCommand, { Bucket: 'snapshots', Key: 'restores/u/r-1/bundles/b-1.json' });
    expect(powertools.addMetric).toHaveBeenCalledWith('FilesNotRestored', 'Count', 2);
  });

  it('settles the restore from its files', async () => {
    restoreFile('out/a.bam', 'RESTORED');
    restoreFile('out/b.bam', 'FAILED');
    const outcome = await handler({ mode: 'complete', runUuid: UUID, restoreId: 'r-1' });
    expect(outcome).toMatchObject({ restoreId: 'r-1', runUuid: UUID, state: 'FAILED', restored: 1, failed: 1 });
    expect(table.get(restoreKey(UUID, 'r-1').pk, restoreKey(UUID, 'r-1').sk)).toMatchObject({ state: 'FAILED', restored: 1, failed: 1 });
    expect(powertools.addMetric).toHaveBeenCalledWith('FilesRestored', 'Count', 1);
  });

  const published = () =>
    snsMock.commandCalls(PublishCommand).map((call) => ({ input: call.args[0].input, event: JSON.parse(call.args[0].input.Message ?? '') as RestoreEvent }));

  it('announces a restore of every file as RESTORE_COMPLETED, with attributes to filter on', async () => {
    restoreFile('out/a.bam', 'RESTORED');
    restoreFile('out/b.bam', 'RESTORED');
    await handler({ mode: 'complete', runUuid: UUID, restoreId: 'r-1' });
    const [only, ...others] = published();
    expect(others).toEqual([]);
    expect(only.input.TopicArn).toBe(TOPIC);
    expect(only.input.MessageAttributes).toEqual({
      event: { DataType: 'String', StringValue: RESTORE_EVENTS.completed },
      runId: { DataType: 'String', StringValue: '1234567' },
      runUuid: { DataType: 'String', StringValue: UUID },
      tier: { DataType: 'String', StringValue: 'clinical' },
      retrievalTier: { DataType: 'String', StringValue: 'Bulk' },
    });
    expect(only.input.Subject).toBe('RESTORE_COMPLETED: run 1234567, 2 of 2 files restored');
    expect(only.event).toMatchObject({
      event: 'RESTORE_COMPLETED',
      restoreId: 'r-1',
      runUuid: UUID,
      runId: '1234567',
      state: 'RESTORED',
      destination: 's3://restores/',
      fileCount: 2,
      restored: 2,
      failed: 0,
      executionArn: 'arn:aws:states:us-east-1:123456789012:execution:RestoreRun:r-1',
      files: [
        { path: 'out/a.bam', state: 'RESTORED', destination: 's3://restores/out/a.bam' },
        { path: 'out/b.bam', state: 'RESTORED', destination: 's3://restores/out/b.bam' },
      ],
    });
    expect(only.event.filesOmitted).toBeUndefined();
  });

  it('announces a restore with a failed file as RESTORE_FAILED, the failed file first with its reason', async () => {
    restoreFile('out/a.bam', 'RESTORED');
    table.put({
      ...restoreFileKey(UUID, 'r-1', 'out/b.bam'),
      runUuid: UUID,
      restoreId: 'r-1',
      path: 'out/b.bam',
      state: 'FAILED',
      destination: 's3://restores/out/b.bam',
      failureReason: 'ChecksumMismatch: restored out/b.bam has SHA-256 x',
    });
    await handler({ mode: 'complete', runUuid: UUID, restoreId: 'r-1' });
    const [only] = published();
    expect(only.input.MessageAttributes?.event).toEqual({ DataType: 'String', StringValue: RESTORE_EVENTS.failed });
    expect(only.event).toMatchObject({ event: 'RESTORE_FAILED', state: 'FAILED', restored: 1, failed: 1 });
    expect(only.event.files.map((f) => [f.path, f.failureReason])).toEqual([
      ['out/b.bam', 'ChecksumMismatch: restored out/b.bam has SHA-256 x'],
      ['out/a.bam', undefined],
    ]);
  });

  it('fails (so the state retries) when the event cannot be published, after the index has the outcome', async () => {
    restoreFile('out/a.bam', 'RESTORED');
    restoreFile('out/b.bam', 'RESTORED');
    snsMock.on(PublishCommand).rejects(new Error('throttled'));
    await expect(handler({ mode: 'complete', runUuid: UUID, restoreId: 'r-1' })).rejects.toThrow('throttled');
    expect(table.get(restoreKey(UUID, 'r-1').pk, restoreKey(UUID, 'r-1').sk)).toMatchObject({ state: 'RESTORED', restored: 2 });
  });

  it('fails naming the topic variable when it is not set', async () => {
    delete process.env[ENV.restoreEventsTopicArn];
    await expect(handler({ mode: 'complete', runUuid: UUID, restoreId: 'r-1' })).rejects.toThrow(
      `environment variable ${ENV.restoreEventsTopicArn} is not set`,
    );
    expect(snsMock.calls()).toHaveLength(0);
  });

  it('fails naming the table variable when it is not set', async () => {
    delete process.env[ENV.runIndexTable];
    await expect(handler({ mode: 'complete', runUuid: UUID, restoreId: 'r-1' })).rejects.toThrow(`environment variable ${ENV.runIndexTable} is not set`);
  });
});
