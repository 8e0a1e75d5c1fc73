// Unit tests for the run's archive owner: a new execution stands down while the owner runs, takes over once it stopped.
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DescribeExecutionCommand, ExecutionDoesNotExist, SFNClient } from '@aws-sdk/client-sfn';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { RunIndex, runKey, type ArchiveState } from '../../../../functions/lib/index/run-index';
import { archiveTakeOver } from '../../../../functions/lib/archive/run-owner';
import { FakeRunIndexTable } from '../../../support/run-index-table';

const UUID = '96c57683-74bf-9d6d-ae7e-f09b097db14a';
const ME = 'arn:aws:states:us-east-1:123456789012:execution:archive-run:me';
const OWNER = 'arn:aws:states:us-east-1:123456789012:execution:archive-run:owner';
const ddbMock = mockClient(DynamoDBDocumentClient);
const sfn = new SFNClient({ region: 'us-east-1' });
const sfnMock = mockClient(sfn);
let table: FakeRunIndexTable;
let index: RunIndex;

beforeEach(() => {
  ddbMock.reset();
  sfnMock.reset();
  table = new FakeRunIndexTable().attach(ddbMock);
  index = new RunIndex(DynamoDBDocumentClient.from(new DynamoDBClient({ region: 'us-east-1' })), table.tableName);
});

const putRun = (archiveState: ArchiveState, executionArn?: string) => table.put({ ...runKey(UUID), runUuid: UUID, archiveState, executionArn });
const takeOver = () => archiveTakeOver({ sfn, index, runUuid: UUID, executionArn: ME });

describe('archiveTakeOver', () => {
  it('has nothing to take over for a new run, its own, or one whose archive ended; asks Step Functions nothing', async () => {
    expect(await takeOver()).toEqual({});
    for (const [state, owner] of [
      ['INDEXED', ME],
      ['FAILED', OWNER],
      ['PARTIAL', OWNER],
      ['ARCHIVED', OWNER],
    ] as const) {
      putRun(state, owner);
      expect(await takeOver()).toEqual({});
    }
    expect(sfnMock.calls()).toHaveLength(0);
  });

  it.each(['RUNNING', 'PENDING_REDRIVE'] as const)('stands down (ArchiveInProgress, naming the owner) while the owner is %s', async (status) => {
    putRun('ARCHIVING', OWNER);
    sfnMock.on(DescribeExecutionCommand).resolves({ status });
    await expect(takeOver()).rejects.toMatchObject({ name: 'ArchiveInProgress', message: expect.stringContaining(OWNER) as string });
    expect(sfnMock).toHaveReceivedCommandWith(DescribeExecutionCommand, { executionArn: OWNER });
  });

  it.each(['SUCCEEDED', 'FAILED', 'TIMED_OUT', 'ABORTED'] as const)('takes over from an owner that ended %s', async (status) => {
    putRun('INDEXED', OWNER);
    sfnMock.on(DescribeExecutionCommand).resolves({ status });
    expect(await takeOver()).toEqual({ takeOverFrom: OWNER });
  });

  it('takes over from an owner Step Functions no longer knows, and a record from before owners were kept', async () => {
    putRun('ARCHIVING', OWNER);
    sfnMock.on(DescribeExecutionCommand).rejects(new ExecutionDoesNotExist({ message: 'Execution Does Not Exist', $metadata: {} }));
    expect(await takeOver()).toEqual({ takeOverFrom: OWNER });
    putRun('ARCHIVING');
    expect(await takeOver()).toEqual({ takeOverFrom: null });
  });

  it('passes other Step Functions errors through (the task retries), taking nothing over', async () => {
    putRun('ARCHIVING', OWNER);
    const throttled = Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException' });
    sfnMock.on(DescribeExecutionCommand).rejects(throttled);
    await expect(takeOver()).rejects.toBe(throttled);
  });
});
