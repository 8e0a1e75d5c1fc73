// Unit tests for the retrieval-notification handler: an SQS batch of vault job notifications and S3 Object Restore
// Completed events, each resuming its restores; malformed messages are dropped, errors worth retrying are reported as
// partial batch failures.
import { SFNClient, SFNServiceException, SendTaskFailureCommand, SendTaskSuccessCommand, type SendTaskSuccessCommandInput } from '@aws-sdk/client-sfn';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { handler } from '../../functions/retrieval-notification';
import { jobDescription } from '../../functions/lib/restore/retrieval';
import { restoreFileKey, restoreFileKeyOf } from '../../functions/lib/index/run-index';
import { ENV, archiveObjectKey, restoreWaiterKey } from '../../functions/lib/contract';
import { RUN_UUID as UUID, quietPowertools, sqsBatch, sqsRecordsFrom, useEnv } from '../support/handlers';
import { FakeRunIndexTable } from '../support/run-index-table';

const TABLE = 'run-index';
const ddbMock = mockClient(DynamoDBDocumentClient);
const sfnMock = mockClient(SFNClient);
let table: FakeRunIndexTable;
const powertools = quietPowertools();
useEnv({ [ENV.runIndexTable]: TABLE });

const sqsRecord = sqsRecordsFrom('VaultJobs');

/** A restore file waiting on job `job-<n>` with token `token-<n>`. */
function waiting(n: string) {
  const path = `out/${n}.bam`;
  table.put({
    ...restoreFileKey(UUID, 'r-1', path),
    runUuid: UUID,
    restoreId: 'r-1',
    path,
    fileKey: restoreFileKeyOf(path),
    state: 'RETRIEVING',
    jobId: `job-${n}`,
    taskToken: `token-${n}`,
    destination: 'x',
  });
  return path;
}
/** The vault's notification (raw SNS delivery: the DescribeJob JSON) for job-<n>. */
const notification = (n: string, status = 'Succeeded') =>
  JSON.stringify({
    Action: 'ArchiveRetrieval',
    ArchiveId: `archive-${n}`,
    Completed: true,
    JobDescription: jobDescription({ runUuid: UUID, restoreId: 'r-1', path: `out/${n}.bam` }),
    JobId: `job-${n}`,
    StatusCode: status,
    StatusMessage: status,
    VaultARN: 'arn:aws:glacier:us-east-1:123456789012:vaults/archive-vault',
  });

beforeEach(() => {
  ddbMock.reset();
  sfnMock.reset();
  table = new FakeRunIndexTable(TABLE).attach(ddbMock);
  sfnMock.on(SendTaskSuccessCommand).callsFake((input: SendTaskSuccessCommandInput) => {
    if (input.taskToken === 'token-throttled')
      throw new SFNServiceException({ name: 'ThrottlingException', $fault: 'client', $metadata: { httpStatusCode: 400 }, message: 'Rate exceeded' });
    if (input.taskToken === 'token-late')
      throw new SFNServiceException({ name: 'TaskTimedOut', $fault: 'client', $metadata: { httpStatusCode: 400 }, message: 'Task Timed Out' });
    return {};
  });
  sfnMock.on(SendTaskFailureCommand).resolves({});
});

describe('retrieval-notification handler', () => {
  it('resumes the waiting restores, drops malformed messages and returns only the retryable failures', async () => {
    waiting('good');
    waiting('failed');
    waiting('throttled');
    waiting('late');

    const result = await handler(
      sqsBatch(
        sqsRecord('m-good', notification('good')),
        sqsRecord('m-not-json', 'this is not JSON'),
        sqsRecord('m-no-job-id', JSON.stringify({ StatusCode: 'Succeeded' })),
        sqsRecord('m-failed', notification('failed', 'Failed')),
        sqsRecord('m-throttled', notification('throttled')),
        sqsRecord('m-late', notification('late')),
        sqsRecord('m-foreign', JSON.stringify({ JobId: 'job-x', JobDescription: 'someone else’s inventory', StatusCode: 'Succeeded' })),
      ),
    );

    expect(result).toEqual({ batchItemFailures: [{ itemIdentifier: 'm-throttled' }] });
    expect(
      sfnMock
        .commandCalls(SendTaskSuccessCommand)
        .map((c) => c.args[0].input.taskToken)
        .sort(),
    ).toEqual(['token-good', 'token-late', 'token-throttled']);
    expect(sfnMock).toHaveReceivedCommandWith(SendTaskFailureCommand, { taskToken: 'token-failed', error: 'RetrievalFailed' });
    expect(powertools.addMetric).toHaveBeenCalledWith('MalformedRetrievalNotifications', 'Count', 1);
    expect(powertools.addMetric.mock.calls.filter(([name]) => name === 'MalformedRetrievalNotifications')).toHaveLength(2);
  });

  it('takes S3 Object Restore Completed events from the same queue: resumes each waiter of the object and removes it', async () => {
    const path = 'out/s3.bam';
    const archiveKey = archiveObjectKey(UUID, path);
    for (const restoreId of ['r-1', 'r-2']) {
      table.put({
        ...restoreFileKey(UUID, restoreId, path),
        runUuid: UUID,
        restoreId,
        path,
        state: 'RETRIEVING',
        taskToken: `token-${restoreId}`,
        destination: 'x',
      });
      table.put({ ...restoreWaiterKey(UUID, path, restoreId), runUuid: UUID, restoreId, path, archiveBucket: 'archive', archiveKey });
    }
    waiting('good');
    const event = (key: string, detailType = 'Object Restore Completed') =>
      JSON.stringify({
        version: '0',
        id: 'e-1',
        'detail-type': detailType,
        source: 'aws.s3',
        account: '123456789012',
        time: '2025-06-01T12:00:00Z',
        region: 'us-east-1',
        resources: ['arn:aws:s3:::archive'],
        detail: {
          version: '0',
          bucket: { name: 'archive' },
          object: { key, size: 10, etag: 'e' },
          'restore-expiry-time': '2025-06-05T00:00:00Z',
          'source-storage-class': 'DEEP_ARCHIVE',
        },
      });

    const result = await handler(
      sqsBatch(
        sqsRecord('m-s3', event(archiveKey)),
        sqsRecord('m-vault', notification('good')),
        sqsRecord('m-other-key', event('elsewhere/not-an-archive-object')),
        sqsRecord('m-initiated', event(archiveKey, 'Object Restore Initiated')),
      ),
    );

    expect(result).toEqual({ batchItemFailures: [] });
    const resumed = sfnMock.commandCalls(SendTaskSuccessCommand).map((c) => c.args[0].input);
    expect(resumed.map((i) => i.taskToken).sort()).toEqual(['token-good', 'token-r-1', 'token-r-2']);
    expect(JSON.parse(resumed.find((i) => i.taskToken === 'token-r-1')!.output!)).toEqual({
      ready: true,
      status: 'Object Restore Completed',
      restoreExpiryTime: '2025-06-05T00:00:00Z',
    });
    for (const restoreId of ['r-1', 'r-2']) {
      const key = restoreWaiterKey(UUID, path, restoreId);
      expect(table.get(key.pk, key.sk)).toBeUndefined();
    }
    // Only the restore-initiated event is malformed here (the rule never routes one; it is dropped and counted).
    expect(powertools.addMetric.mock.calls.filter(([name]) => name === 'MalformedRetrievalNotifications')).toHaveLength(1);
  });

  it('reports every message of a batch that all failed, without throwing', async () => {
    waiting('throttled');
    const result = await handler(sqsBatch(sqsRecord('m-1', notification('throttled')), sqsRecord('m-2', notification('throttled'))));
    expect(result).toEqual({ batchItemFailures: [{ itemIdentifier: 'm-1' }, { itemIdentifier: 'm-2' }] });
  });

  it('returns the batch as failed when the table is not configured, so nothing is lost', async () => {
    delete process.env[ENV.runIndexTable];
    const result = await handler(sqsBatch(sqsRecord('m-1', notification('good'))));
    expect(result).toEqual({ batchItemFailures: [{ itemIdentifier: 'm-1' }] });
    expect(sfnMock.calls()).toHaveLength(0);
  });
});
