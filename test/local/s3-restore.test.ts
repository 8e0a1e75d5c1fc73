// S3 RestoreObject in the local cloud, as S3 does it: the restore takes its tier's time (seconds here), HeadObject
// says `ongoing-request="true"` until then, and a bucket with EventBridge notifications on (the archive bucket) puts
// `Object Restore Completed` on the default bus when the copy is ready. docs/local-cloud.md says where this comes from.
import { PutRuleCommand, PutTargetsCommand } from '@aws-sdk/client-eventbridge';
import {
  CopyObjectCommand,
  CreateBucketCommand,
  GetObjectCommand,
  HeadObjectCommand,
  PutBucketNotificationConfigurationCommand,
  PutBucketVersioningCommand,
  PutObjectCommand,
  RestoreObjectCommand,
  type StorageClass,
  type Tier,
} from '@aws-sdk/client-s3';
import { CreateQueueCommand, DeleteMessageBatchCommand, GetQueueAttributesCommand, ReceiveMessageCommand } from '@aws-sdk/client-sqs';
import * as clients from '../../functions/lib/runtime/clients';
import { LOCAL_REGION } from '../../local/local-cloud';
import { useLocalCloud } from '../support/local-cloud';
import { WORKFLOW_POLICY } from '../support/policies';

jest.setTimeout(30_000);
const DELAYS = { Expedited: 600, Standard: 1200, Bulk: 1800 };
const cloud = useLocalCloud(WORKFLOW_POLICY, { s3RestoreDelayMs: DELAYS });
const s3 = () => clients.s3Client();

interface S3Event {
  source: string;
  'detail-type': string;
  region: string;
  resources: string[];
  detail: {
    version: string;
    bucket: { name: string };
    object: { key: string; size: number; etag: string; 'version-id'?: string };
    'restore-expiry-time'?: string;
    'source-storage-class': string;
    requester: string;
  };
}

let queueUrl = '';
const seen: S3Event[] = [];

/** Long-polls the queue the restore events are routed to until one matches (no fixed sleeps). */
async function eventWhere(match: (event: S3Event) => boolean, timeoutMs = 10_000): Promise<S3Event> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = seen.find(match);
    if (found) return found;
    if (Date.now() > deadline) throw new Error(`no such event; seen: ${JSON.stringify(seen.map((e) => [e['detail-type'], e.detail.object.key]))}`);
    const { Messages = [] } = await clients.sqsClient().send(new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1 }));
    for (const message of Messages) seen.push(JSON.parse(message.Body ?? '{}') as S3Event);
    if (Messages.length) {
      await clients
        .sqsClient()
        .send(new DeleteMessageBatchCommand({ QueueUrl: queueUrl, Entries: Messages.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle })) }));
    }
  }
}

async function archived(bucket: string, key: string, storageClass: StorageClass = 'GLACIER', body = `archived ${key}`) {
  const put = await s3().send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body, StorageClass: storageClass }));
  return { body, versionId: put.VersionId, etag: put.ETag!.replaceAll('"', '') };
}

const restore = (bucket: string, key: string, tier: Tier, days = 2, versionId?: string) =>
  s3().send(new RestoreObjectCommand({ Bucket: bucket, Key: key, VersionId: versionId, RestoreRequest: { Days: days, GlacierJobParameters: { Tier: tier } } }));

const restoreHeader = async (bucket: string, key: string, versionId?: string) =>
  (await s3().send(new HeadObjectCommand({ Bucket: bucket, Key: key, VersionId: versionId }))).Restore;

beforeAll(async () => {
  const sqs = clients.sqsClient();
  queueUrl = (await sqs.send(new CreateQueueCommand({ QueueName: 's3-restore-events' }))).QueueUrl!;
  const queueArn = (await sqs.send(new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['QueueArn'] }))).Attributes!.QueueArn!;
  const events = clients.eventsClient();
  await events.send(
    new PutRuleCommand({
      Name: 's3-restore-events',
      EventPattern: JSON.stringify({ source: ['aws.s3'], 'detail-type': ['Object Restore Initiated', 'Object Restore Completed'] }),
      State: 'ENABLED',
    }),
  );
  await events.send(new PutTargetsCommand({ Rule: 's3-restore-events', Targets: [{ Id: 'queue', Arn: queueArn }] }));
});

test('a restore is ongoing for its tier’s time, then restored with an expiry, and Object Restore Completed reaches the default bus', async () => {
  const bucket = cloud().resources.archiveBucket;
  const key = 'runs/restore/expedited.bin';
  const object = await archived(bucket, key);
  await expect(s3().send(new GetObjectCommand({ Bucket: bucket, Key: key }))).rejects.toMatchObject({ name: 'InvalidObjectState' });
  expect(await restoreHeader(bucket, key)).toBeUndefined();

  const started = Date.now();
  const requested = await restore(bucket, key, 'Expedited');
  expect(requested.$metadata.httpStatusCode).toBe(202);
  expect(await restoreHeader(bucket, key)).toBe('ongoing-request="true"');
  await expect(restore(bucket, key, 'Expedited')).rejects.toMatchObject({ name: 'RestoreAlreadyInProgress', $metadata: { httpStatusCode: 409 } });
  await expect(s3().send(new GetObjectCommand({ Bucket: bucket, Key: key }))).rejects.toMatchObject({ name: 'InvalidObjectState' });
  await expect(s3().send(new CopyObjectCommand({ Bucket: bucket, Key: `${key}.copy`, CopySource: `${bucket}/${key}` }))).rejects.toMatchObject({
    name: 'InvalidObjectState',
  });

  const initiated = await eventWhere((e) => e['detail-type'] === 'Object Restore Initiated' && e.detail.object.key === key);
  expect(initiated.detail['source-storage-class']).toBe('GLACIER');
  const completed = await eventWhere((e) => e['detail-type'] === 'Object Restore Completed' && e.detail.object.key === key);
  expect(Date.now() - started).toBeGreaterThanOrEqual(DELAYS.Expedited - 50);

  const header = await restoreHeader(bucket, key);
  const expiry = /^ongoing-request="false", expiry-date="(.+)"$/.exec(header ?? '')?.[1];
  expect(expiry).toMatch(/ 00:00:00 GMT$/); // completion + Days, rounded up to the next midnight UTC
  const expiresAt = new Date(expiry!).getTime();
  expect(expiresAt).toBeGreaterThan(started + 2 * 86_400_000);
  expect(expiresAt).toBeLessThanOrEqual(started + 3 * 86_400_000);

  // The envelope is moto's PutEvents one (its `time` is epoch seconds, and it has no `account`); the detail is S3's.
  expect(completed).toMatchObject({
    source: 'aws.s3',
    region: LOCAL_REGION,
    resources: [`arn:aws:s3:::${bucket}`],
    detail: {
      version: '0',
      bucket: { name: bucket },
      object: { key, size: object.body.length, etag: object.etag },
      'restore-expiry-time': new Date(expiresAt).toISOString().replace('.000Z', 'Z'),
      'source-storage-class': 'GLACIER',
      requester: 's3.amazonaws.com',
    },
  });

  const got = await s3().send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  expect(await got.Body!.transformToString()).toBe(object.body);
  // Restoring a restored copy again only moves its expiry: 200, at once.
  expect((await restore(bucket, key, 'Bulk', 5)).$metadata.httpStatusCode).toBe(200);
  expect(await restoreHeader(bucket, key)).toMatch(/^ongoing-request="false", expiry-date=/);
});

test('each tier takes its own time, per object version, and a bucket without EventBridge notifications sends no event', async () => {
  const quiet = 'restore-without-events';
  await s3().send(new CreateBucketCommand({ Bucket: quiet }));
  const versioned = 'restore-versioned-with-events';
  await s3().send(new CreateBucketCommand({ Bucket: versioned }));
  await s3().send(new PutBucketVersioningCommand({ Bucket: versioned, VersioningConfiguration: { Status: 'Enabled' } }));
  await s3().send(new PutBucketNotificationConfigurationCommand({ Bucket: versioned, NotificationConfiguration: { EventBridgeConfiguration: {} } }));

  await archived(quiet, 'standard.bin', 'DEEP_ARCHIVE');
  const first = await archived(versioned, 'two-versions.bin', 'DEEP_ARCHIVE', 'first version');
  const second = await archived(versioned, 'two-versions.bin', 'DEEP_ARCHIVE', 'second version');
  expect(first.versionId).toBeDefined();

  const started = Date.now();
  await restore(quiet, 'standard.bin', 'Standard');
  await restore(versioned, 'two-versions.bin', 'Standard', 1, first.versionId);
  expect(await restoreHeader(versioned, 'two-versions.bin', first.versionId)).toBe('ongoing-request="true"');
  expect(await restoreHeader(versioned, 'two-versions.bin', second.versionId)).toBeUndefined();

  const completed = await eventWhere((e) => e['detail-type'] === 'Object Restore Completed' && e.detail.bucket.name === versioned);
  expect(Date.now() - started).toBeGreaterThanOrEqual(DELAYS.Standard - 50);
  expect(completed.detail).toMatchObject({ object: { key: 'two-versions.bin', 'version-id': first.versionId }, 'source-storage-class': 'DEEP_ARCHIVE' });
  expect(await restoreHeader(versioned, 'two-versions.bin', first.versionId)).toMatch(/^ongoing-request="false"/);
  expect(await restoreHeader(versioned, 'two-versions.bin', second.versionId)).toBeUndefined();

  // The quiet bucket's restore (started first, same tier) is done too, and said nothing.
  expect(await restoreHeader(quiet, 'standard.bin')).toMatch(/^ongoing-request="false"/);
  expect(seen.filter((e) => e.detail.bucket.name === quiet)).toEqual([]);
});

test('RestoreObject of an object in no archive storage class is refused (InvalidObjectState)', async () => {
  const bucket = cloud().resources.archiveBucket;
  await s3().send(new PutObjectCommand({ Bucket: bucket, Key: 'runs/restore/standard-class.bin', Body: 'x' }));
  await expect(restore(bucket, 'runs/restore/standard-class.bin', 'Standard')).rejects.toMatchObject({ name: 'InvalidObjectState' });
});
