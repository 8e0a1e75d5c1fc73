// Unit tests for the finalize-restore handler: validated input, its environment, a file recorded failed, a restore settled.
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { ZodError } from 'zod';
import { handler } from '../../functions/finalize-restore';
import { restoreFileKey, restoreKey } from '../../functions/lib/index/run-index';
import { ENV } from '../../functions/lib/contract';
import { RUN_UUID as UUID, quietPowertools, restoreItem, useEnv } from '../support/handlers';
import { FakeRunIndexTable } from '../support/run-index-table';

const TABLE = 'run-index';
const ddbMock = mockClient(DynamoDBDocumentClient);
let table: FakeRunIndexTable;
const powertools = quietPowertools();
useEnv({ [ENV.runIndexTable]: TABLE });

const item = restoreItem();

function restoreFile(path: string, state: string) {
  table.put({ ...restoreFileKey(UUID, 'r-1', path), runUuid: UUID, restoreId: 'r-1', path, state, destination: `s3://restores/${path}` });
}

beforeEach(() => {
  ddbMock.reset();
  table = new FakeRunIndexTable(TABLE).attach(ddbMock);
  table.put({ ...restoreKey(UUID, 'r-1'), runUuid: UUID, restoreId: 'r-1', state: 'REQUESTED', fileCount: 2 });
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

  it('settles the restore from its files', async () => {
    restoreFile('out/a.bam', 'RESTORED');
    restoreFile('out/b.bam', 'FAILED');
    const outcome = await handler({ mode: 'complete', runUuid: UUID, restoreId: 'r-1' });
    expect(outcome).toMatchObject({ restoreId: 'r-1', runUuid: UUID, state: 'FAILED', restored: 1, failed: 1 });
    expect(table.get(restoreKey(UUID, 'r-1').pk, restoreKey(UUID, 'r-1').sk)).toMatchObject({ state: 'FAILED', restored: 1, failed: 1 });
    expect(powertools.addMetric).toHaveBeenCalledWith('FilesRestored', 'Count', 1);
  });

  it('fails naming the table variable when it is not set', async () => {
    delete process.env[ENV.runIndexTable];
    await expect(handler({ mode: 'complete', runUuid: UUID, restoreId: 'r-1' })).rejects.toThrow(`environment variable ${ENV.runIndexTable} is not set`);
  });
});
