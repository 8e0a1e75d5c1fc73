// Unit tests for the event-driven S3 restore wait: the waiter items an S3 restore parks next to its run, RestoreObject's
// answers (started, already restored, already under way), the Object Restore Completed event parsed beside the vault's
// job message and resolving every waiter of its object, and a settled restore clearing what no event resolved.
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { HeadObjectCommand, RestoreObjectCommand, S3Client, S3ServiceException } from '@aws-sdk/client-s3';
import { SFNClient, SFNServiceException, SendTaskSuccessCommand, type SendTaskSuccessCommandInput } from '@aws-sdk/client-sfn';
import { GlacierClient } from '@aws-sdk/client-glacier';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import {
  archiveObjectKey,
  parseArchiveObjectKey,
  restoreFileKey,
  restoreFileKeyOf,
  restoreKey,
  restoreWaiterKey,
  restoreWaiterPrefix,
  s3RestoreCompletedPattern,
  type RestoreItem,
} from '../../../../functions/lib/contract';
import { RunIndex, SCHEMA_VERSION, type RestoreFileRecord } from '../../../../functions/lib/index/run-index';
import { finalizeRestore } from '../../../../functions/lib/restore/finalize-restore';
import { requestRetrieval, s3RestoreTier } from '../../../../functions/lib/restore/retrieval';
import {
  objectKeyReadings,
  parseRetrievalNotification,
  resumeAfterS3Restore,
  type S3RestoreCompletedEvent,
} from '../../../../functions/lib/restore/retrieval-notification';
import { FakeRunIndexTable } from '../../../support/run-index-table';

const UUID = '96c57683-74bf-9d6d-ae7e-f09b097db14a';
const ARCHIVE_BUCKET = 'archive';
const PATH = 'out/aligned/sample 1.bam';
const ARCHIVE_KEY = archiveObjectKey(UUID, PATH);

const ddbMock = mockClient(DynamoDBDocumentClient);
const s3 = new S3Client({ region: 'us-east-1' });
const s3Mock = mockClient(s3);
const sfn = new SFNClient({ region: 'us-east-1' });
const sfnMock = mockClient(sfn);
const glacier = new GlacierClient({ region: 'us-east-1' });
let table: FakeRunIndexTable;
let index: RunIndex;

const sfnError = (name: string) => new SFNServiceException({ name, $fault: 'client', $metadata: { httpStatusCode: 400 }, message: name });
const s3Error = (name: string, status: number) => new S3ServiceException({ name, $fault: 'client', $metadata: { httpStatusCode: status }, message: name });

function item(overrides: Partial<RestoreItem> = {}): RestoreItem {
  return {
    runUuid: UUID,
    restoreId: 'r-1',
    path: PATH,
    size: 5000,
    retrieval: 's3-restore',
    tier: 'Standard',
    sha256: 'bb'.repeat(32),
    archiveBucket: ARCHIVE_BUCKET,
    archiveKey: ARCHIVE_KEY,
    archiveVersionId: 'av-1',
    storageClass: 'DEEP_ARCHIVE',
    destinationBucket: 'restores',
    destinationKey: PATH,
    notificationWaitSeconds: 6 * 3600,
    pollSeconds: 900,
    ...overrides,
  };
}

function putRestoreFile(of: Pick<RestoreItem, 'restoreId' | 'path'>, record: Partial<RestoreFileRecord> = {}) {
  table.put({
    ...restoreFileKey(UUID, of.restoreId, of.path),
    schemaVersion: SCHEMA_VERSION,
    runUuid: UUID,
    restoreId: of.restoreId,
    fileKey: restoreFileKeyOf(of.path),
    path: of.path,
    state: 'REQUESTED',
    destination: `s3://restores/${of.path}`,
    ...record,
  });
}

const restoreFile = (restoreId: string, path = PATH) => {
  const key = restoreFileKey(UUID, restoreId, path);
  return table.get(key.pk, key.sk) as RestoreFileRecord | undefined;
};
const waiter = (restoreId: string, path = PATH) => {
  const key = restoreWaiterKey(UUID, path, restoreId);
  return table.get(key.pk, key.sk);
};
/** A restore of `path` waiting with token `token-<restoreId>` (its file item and its waiter). */
async function waiting(restoreId: string, path = PATH, versionId: string | undefined = 'av-1') {
  putRestoreFile({ restoreId, path }, { state: 'RETRIEVING', taskToken: `token-${restoreId}` });
  await index.putRestoreWaiter({
    runUuid: UUID,
    restoreId,
    path,
    archiveBucket: ARCHIVE_BUCKET,
    archiveKey: archiveObjectKey(UUID, path),
    archiveVersionId: versionId,
  });
}

function completed(key: string, overrides: { bucket?: string; versionId?: string } = {}): S3RestoreCompletedEvent {
  const notification = parseRetrievalNotification({
    version: '0',
    id: 'e-1',
    'detail-type': 'Object Restore Completed',
    source: 'aws.s3',
    account: '123456789012',
    time: '2025-06-01T12:00:00Z',
    region: 'us-east-1',
    resources: [`arn:aws:s3:::${overrides.bucket ?? ARCHIVE_BUCKET}`],
    detail: {
      version: '0',
      bucket: { name: overrides.bucket ?? ARCHIVE_BUCKET },
      object: { key, size: 5000, etag: 'e', 'version-id': overrides.versionId ?? 'av-1' },
      'request-id': 'R',
      requester: 's3.amazonaws.com',
      'restore-expiry-time': '2025-06-05T00:00:00Z',
      'source-storage-class': 'DEEP_ARCHIVE',
    },
  });
  if (notification.kind !== 's3-restore') throw new Error('not parsed as an S3 event');
  return notification.event;
}

beforeEach(() => {
  ddbMock.reset();
  s3Mock.reset();
  sfnMock.reset();
  table = new FakeRunIndexTable().attach(ddbMock);
  index = new RunIndex(DynamoDBDocumentClient.from(new DynamoDBClient({ region: 'us-east-1' })), table.tableName);
  sfnMock.on(SendTaskSuccessCommand).resolves({});
});

describe('the archive layout and the waiter keys', () => {
  it.each(['out/a.bam', 'out/aligned/sample 1.bam', 'logs/engine.log', 'out/样本/ü+%20.vcf', 'out/deep/a/b/c/d'])(
    'reads the run and path back from the key of %s',
    (path) => {
      expect(parseArchiveObjectKey(archiveObjectKey(UUID, path))).toEqual({ runUuid: UUID, path });
    },
  );

  it.each(['plans/x/items.json', 'runs/', `runs/${UUID}`, `runs/${UUID}/`, `other/runs/${UUID}/out/a`])('recognises no archive object in %s', (key) => {
    expect(parseArchiveObjectKey(key)).toBeUndefined();
  });

  it('keys a waiter by the file and then the restore, so one prefix finds every restore of one file', () => {
    expect(restoreWaiterKey(UUID, PATH, 'r-1')).toEqual({ pk: `RUN#${UUID}`, sk: `WAITER#${restoreFileKeyOf(PATH)}#r-1` });
    expect(restoreWaiterKey(UUID, PATH, 'r#2').sk.startsWith(restoreWaiterPrefix(PATH))).toBe(true);
    expect(restoreWaiterKey(UUID, 'out/other.bam', 'r-1').sk.startsWith(restoreWaiterPrefix(PATH))).toBe(false);
  });

  it('has the event pattern the stack and the local cloud route by', () => {
    expect(s3RestoreCompletedPattern('archive')).toEqual({
      source: ['aws.s3'],
      'detail-type': ['Object Restore Completed'],
      detail: { bucket: { name: ['archive'] } },
    });
  });
});

describe('RunIndex waiters', () => {
  it('puts, finds by file across restores, lists by run and deletes', async () => {
    await waiting('r-1');
    await waiting('r-2');
    await waiting('r-1', 'out/other.bam');
    putRestoreFile({ restoreId: 'r-3', path: PATH }); // a restore file item is no waiter

    expect((await index.listRestoreWaiters(UUID, PATH)).map((w) => w.restoreId).sort()).toEqual(['r-1', 'r-2']);
    expect(await index.listRestoreWaiters(UUID, PATH)).toContainEqual(
      expect.objectContaining({
        runUuid: UUID,
        restoreId: 'r-1',
        path: PATH,
        archiveBucket: ARCHIVE_BUCKET,
        archiveKey: ARCHIVE_KEY,
        archiveVersionId: 'av-1',
      }),
    );
    expect((await index.listRunRestoreWaiters(UUID)).map((w) => `${w.restoreId} ${w.path}`).sort()).toEqual([
      `r-1 ${PATH}`,
      'r-1 out/other.bam',
      `r-2 ${PATH}`,
    ]);
    // Restore listings are not confused by waiters.
    expect((await index.listRestores(UUID)).files.map((f) => f.restoreId).sort()).toEqual(['r-1', 'r-1', 'r-2', 'r-3']);

    await index.deleteRestoreWaiter(UUID, PATH, 'r-1');
    expect((await index.listRestoreWaiters(UUID, PATH)).map((w) => w.restoreId)).toEqual(['r-2']);
  });
});

describe('requestRetrieval of an S3 Glacier object, waiting for its event', () => {
  const request = (of: RestoreItem, taskToken?: string) => requestRetrieval({ glacier, s3, index, sfn, item: of, taskToken, vaultJobsTopicArn: 'unused' });
  const started = { $metadata: { httpStatusCode: 202 } };

  it('parks the token on the file and a waiter next to the run before RestoreObject, and leaves the task waiting', async () => {
    const of = item();
    putRestoreFile(of);
    let parkedFirst = false;
    s3Mock.on(RestoreObjectCommand).callsFake(() => {
      parkedFirst = restoreFile('r-1')?.taskToken === 'token-1' && waiter('r-1') !== undefined;
      return started;
    });

    expect(await request(of, 'token-1')).toEqual({ reused: false });

    expect(parkedFirst).toBe(true);
    expect(s3Mock.commandCalls(RestoreObjectCommand)[0].args[0].input).toEqual({
      Bucket: ARCHIVE_BUCKET,
      Key: ARCHIVE_KEY,
      VersionId: 'av-1',
      RestoreRequest: { Days: 3, GlacierJobParameters: { Tier: 'Standard' } },
    });
    expect(restoreFile('r-1')).toMatchObject({ state: 'RETRIEVING', taskToken: 'token-1', retrievalTier: 'Standard' });
    expect(restoreFile('r-1')?.tierFallback).toBeUndefined();
    expect(waiter('r-1')).toMatchObject({ restoreId: 'r-1', path: PATH, archiveBucket: ARCHIVE_BUCKET, archiveKey: ARCHIVE_KEY, archiveVersionId: 'av-1' });
    expect(sfnMock.calls()).toHaveLength(0);
    expect(s3Mock.commandCalls(HeadObjectCommand)).toHaveLength(0);
  });

  it.each([
    ['DEEP_ARCHIVE', 'Expedited', 'Standard', 'DEEP_ARCHIVE has no Expedited retrieval'],
    ['DEEP_ARCHIVE', 'Bulk', 'Bulk', undefined],
    ['GLACIER', 'Expedited', 'Expedited', undefined],
  ] as const)('records the tier asked of S3: %s at %s is %s', async (storageClass, tier, expected, fallback) => {
    const of = item({ storageClass, tier });
    putRestoreFile(of);
    s3Mock.on(RestoreObjectCommand).resolves(started);
    expect(s3RestoreTier(of)).toEqual({ tier: expected, ...(fallback ? { tierFallback: fallback } : {}) });

    await request(of, 'token-1');

    expect(s3Mock.commandCalls(RestoreObjectCommand)[0].args[0].input.RestoreRequest?.GlacierJobParameters?.Tier).toBe(expected);
    expect(restoreFile('r-1')).toMatchObject({ retrievalTier: expected });
    expect(restoreFile('r-1')?.tierFallback).toBe(fallback);
  });

  it('resumes the task at once when RestoreObject answers 200 (a restored copy is already there), and removes its waiter', async () => {
    const of = item();
    putRestoreFile(of);
    s3Mock.on(RestoreObjectCommand).resolves({ $metadata: { httpStatusCode: 200 } });

    expect(await request(of, 'token-1')).toEqual({ reused: false, ready: true });

    expect(sfnMock.commandCalls(SendTaskSuccessCommand).map((c) => c.args[0].input)).toEqual([
      { taskToken: 'token-1', output: JSON.stringify({ ready: true, status: 'already restored' }) },
    ]);
    expect(waiter('r-1')).toBeUndefined();
    expect(restoreFile('r-1')).toMatchObject({ state: 'RETRIEVING', taskToken: 'token-1' });
  });

  it.each([
    ['has just finished', 'ongoing-request="false", expiry-date="Fri, 06 Jun 2025 00:00:00 GMT"', true],
    ['is still under way', 'ongoing-request="true"', false],
  ])('asks HeadObject when a restore is already in progress, and resumes at once only if it %s', async (_name, restore, ready) => {
    const of = item();
    putRestoreFile(of);
    s3Mock.on(RestoreObjectCommand).rejects(s3Error('RestoreAlreadyInProgress', 409));
    s3Mock.on(HeadObjectCommand).resolves({ Restore: restore });

    expect(await request(of, 'token-1')).toEqual(ready ? { reused: false, ready: true } : { reused: false });

    expect(s3Mock).toHaveReceivedCommandWith(HeadObjectCommand, { Bucket: ARCHIVE_BUCKET, Key: ARCHIVE_KEY, VersionId: 'av-1' });
    expect(sfnMock.commandCalls(SendTaskSuccessCommand)).toHaveLength(ready ? 1 : 0);
    expect(waiter('r-1') === undefined).toBe(ready);
  });

  it('tolerates a token the event already resumed when it resumes the task itself', async () => {
    const of = item();
    putRestoreFile(of);
    s3Mock.on(RestoreObjectCommand).resolves({ $metadata: { httpStatusCode: 200 } });
    sfnMock.on(SendTaskSuccessCommand).rejects(sfnError('TaskTimedOut'));
    await expect(request(of, 'token-1')).resolves.toEqual({ reused: false, ready: true });
    expect(waiter('r-1')).toBeUndefined();
  });

  it('writes no waiter when nothing waits (no task token)', async () => {
    const of = item();
    putRestoreFile(of);
    s3Mock.on(RestoreObjectCommand).resolves({ $metadata: { httpStatusCode: 200 } });
    expect(await request(of)).toEqual({ reused: false });
    expect(await index.listRunRestoreWaiters(UUID)).toEqual([]);
    expect(sfnMock.calls()).toHaveLength(0);
  });
});

describe('parseRetrievalNotification', () => {
  it('tells the vault’s job message from S3’s event', () => {
    expect(parseRetrievalNotification({ JobId: 'job-1', StatusCode: 'Succeeded', JobDescription: null })).toMatchObject({
      kind: 'vault-job',
      message: { JobId: 'job-1' },
    });
    expect(completed(ARCHIVE_KEY)).toMatchObject({ detail: { bucket: { name: ARCHIVE_BUCKET }, object: { key: ARCHIVE_KEY, 'version-id': 'av-1' } } });
  });

  it('accepts an event without version id or expiry (an unversioned bucket), whatever its time field holds', () => {
    const parsed = parseRetrievalNotification({
      source: 'aws.s3',
      'detail-type': 'Object Restore Completed',
      time: 1717243200,
      detail: { bucket: { name: 'b' }, object: { key: 'k' } },
    });
    expect(parsed).toMatchObject({ kind: 's3-restore', event: { detail: { object: { key: 'k' } } } });
  });

  it.each([
    ['another S3 event', { source: 'aws.s3', 'detail-type': 'Object Restore Initiated', detail: { bucket: { name: 'b' }, object: { key: 'k' } } }],
    [
      'an event of another service',
      { source: 'aws.omics', 'detail-type': 'Object Restore Completed', detail: { bucket: { name: 'b' }, object: { key: 'k' } } },
    ],
    ['no object key', { source: 'aws.s3', 'detail-type': 'Object Restore Completed', detail: { bucket: { name: 'b' }, object: {} } }],
    ['a job message without a job id', { StatusCode: 'Succeeded' }],
    ['nothing', null],
  ])('refuses %s', (_name, body) => {
    expect(() => parseRetrievalNotification(body)).toThrow();
  });
});

describe('objectKeyReadings', () => {
  it('tries the key as it came, percent-decoded, and form-decoded (a space as +)', () => {
    expect(objectKeyReadings('runs/u/out/a b.bam')).toEqual(['runs/u/out/a b.bam']);
    expect(objectKeyReadings('runs/u/out/a%20b.bam')).toEqual(['runs/u/out/a%20b.bam', 'runs/u/out/a b.bam']);
    expect(objectKeyReadings('runs/u/out/a+b%2B.bam')).toEqual(['runs/u/out/a+b%2B.bam', 'runs/u/out/a+b+.bam', 'runs/u/out/a b+.bam']);
    expect(objectKeyReadings('runs/u/out/100%.bam')).toEqual(['runs/u/out/100%.bam']);
  });
});

describe('resumeAfterS3Restore', () => {
  const resume = (event: S3RestoreCompletedEvent) => resumeAfterS3Restore({ sfn, index, event });

  it('resumes every restore waiting on the object, with the ready output the workflow routes on, and removes their waiters', async () => {
    await waiting('r-1');
    await waiting('r-2');
    await waiting('r-3', 'out/other.bam');

    expect(await resume(completed(ARCHIVE_KEY))).toEqual({ outcome: 'resumed', resumed: 2, stale: 0 });

    const calls = sfnMock.commandCalls(SendTaskSuccessCommand).map((c) => c.args[0].input);
    expect(calls.map((c) => c.taskToken).sort()).toEqual(['token-r-1', 'token-r-2']);
    expect(JSON.parse(calls[0].output!)).toEqual({ ready: true, status: 'Object Restore Completed', restoreExpiryTime: '2025-06-05T00:00:00Z' });
    expect(waiter('r-1')).toBeUndefined();
    expect(waiter('r-2')).toBeUndefined();
    expect(waiter('r-3', 'out/other.bam')).toBeDefined();
  });

  it.each([
    ['as it is', ARCHIVE_KEY],
    ['percent-encoded', ARCHIVE_KEY.replace(' ', '%20')],
    ['form-encoded', ARCHIVE_KEY.replace(' ', '+')],
  ])('finds the waiters of a key with a space in it, written %s', async (_name, key) => {
    await waiting('r-1');
    expect(await resume(completed(key))).toMatchObject({ outcome: 'resumed', resumed: 1 });
  });

  it('leaves waiters on another version of the key, or on another bucket’s object, alone', async () => {
    await waiting('r-1', PATH, 'av-1');
    expect(await resume(completed(ARCHIVE_KEY, { versionId: 'av-2' }))).toEqual({ outcome: 'no-waiter', resumed: 0, stale: 0 });
    expect(await resume(completed(ARCHIVE_KEY, { bucket: 'someone-elses' }))).toEqual({ outcome: 'no-waiter', resumed: 0, stale: 0 });
    expect(sfnMock.calls()).toHaveLength(0);
    expect(waiter('r-1')).toBeDefined();
  });

  it.each(['TaskTimedOut', 'TaskDoesNotExist', 'InvalidToken'])('counts a token that answers %s as stale and removes its waiter', async (name) => {
    await waiting('r-1');
    sfnMock.on(SendTaskSuccessCommand).rejects(sfnError(name));
    expect(await resume(completed(ARCHIVE_KEY))).toEqual({ outcome: 'no-waiter', resumed: 0, stale: 1 });
    expect(waiter('r-1')).toBeUndefined();
  });

  it('counts a waiter whose file item holds no token (restored meanwhile) as stale', async () => {
    await waiting('r-1');
    putRestoreFile({ restoreId: 'r-1', path: PATH }, { state: 'RESTORED' });
    expect(await resume(completed(ARCHIVE_KEY))).toEqual({ outcome: 'no-waiter', resumed: 0, stale: 1 });
    expect(waiter('r-1')).toBeUndefined();
  });

  it('throws a throttled resume for the queue to redeliver, having removed only the waiters it resumed', async () => {
    await waiting('r-1');
    await waiting('r-2');
    sfnMock.on(SendTaskSuccessCommand).callsFake((input: SendTaskSuccessCommandInput) => {
      if (input.taskToken === 'token-r-2') throw sfnError('ThrottlingException');
      return {};
    });
    await expect(resume(completed(ARCHIVE_KEY))).rejects.toMatchObject({ name: 'ThrottlingException' });
    expect(waiter('r-1')).toBeUndefined();
    expect(waiter('r-2')).toBeDefined();
  });

  it('ignores a key that is no archive object', async () => {
    expect(await resume(completed('plans/x/items.json'))).toEqual({ outcome: 'not-ours', resumed: 0, stale: 0 });
    expect(ddbMock.calls()).toHaveLength(0);
  });
});

describe('finalizeRestore and waiters', () => {
  it('removes the restore’s waiters no event resolved, not other restores’, and lists each tier fallback', async () => {
    table.put({
      ...restoreKey(UUID, 'r-1'),
      runUuid: UUID,
      restoreId: 'r-1',
      state: 'REQUESTED',
      request: {},
      tier: 'Expedited',
      destination: 'x',
      fileCount: 2,
    });
    await waiting('r-1');
    await waiting('r-2');
    putRestoreFile({ restoreId: 'r-1', path: PATH }, { state: 'RESTORED', retrievalTier: 'Standard', tierFallback: 'DEEP_ARCHIVE has no Expedited retrieval' });
    putRestoreFile({ restoreId: 'r-1', path: 'out/b.bam' }, { state: 'RESTORED', retrievalTier: 'Expedited' });

    const outcome = await finalizeRestore(index, UUID, 'r-1');

    expect(waiter('r-1')).toBeUndefined();
    expect(waiter('r-2')).toBeDefined();
    expect(outcome.state).toBe('RESTORED');
    expect(outcome.files).toEqual(
      expect.arrayContaining([
        {
          path: PATH,
          state: 'RESTORED',
          destination: `s3://restores/${PATH}`,
          retrievalTier: 'Standard',
          tierFallback: 'DEEP_ARCHIVE has no Expedited retrieval',
        },
        { path: 'out/b.bam', state: 'RESTORED', destination: 's3://restores/out/b.bam' },
      ]),
    );
  });
});
