// Unit tests for restoring bundled files: one item (one retrieval) per bundle, a MiB-aligned vault range around the
// members asked for, each member cut from the retrieval, checked against its SHA-256 and written; resumable, and a
// member that fails its check fails alone. Bundles are archived first with the real archive step.
import { createHash } from 'node:crypto';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { CreateVaultCommand, DescribeJobCommand } from '@aws-sdk/client-glacier';
import { S3Client } from '@aws-sdk/client-s3';
import { SFNClient, SendTaskSuccessCommand } from '@aws-sdk/client-sfn';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { archiveBundle } from '../../../../functions/lib/archive/archive-bundle';
import { planArchive } from '../../../../functions/lib/archive/plan-archive';
import {
  MIB,
  RestoreBundleMemberSchema,
  TierSchema,
  bundleObjectKey,
  bundleObjectRef,
  isBundleItem,
  parseConfig,
  restoreItemsKey,
  runKey,
  type PlanItem,
  type RestoreItem,
} from '../../../../functions/lib/contract';
import { RunIndex, SCHEMA_VERSION, type BundleRecord, type FileRecord, type RestoreFileRecord } from '../../../../functions/lib/index/run-index';
import { readRuns } from '../../../../functions/lib/restore/bundle-restore';
import { copyRestoredFile } from '../../../../functions/lib/restore/copy-restored-file';
import { bundleRetrievalRange, planRestore } from '../../../../functions/lib/restore/plan-restore';
import { requestRetrieval } from '../../../../functions/lib/restore/retrieval';
import { resumeAfterS3Restore } from '../../../../functions/lib/restore/retrieval-notification';
import { FakeRunIndexTable } from '../../../support/run-index-table';
import { MemoryS3 } from '../../../support/memory-s3';
import { startLocalGlacier, testBytes, type LocalGlacier } from '../../../local/glacier/helpers';

const UUID = '96c57683-74bf-9d6d-ae7e-f09b097db14a';
const RUN_ID = '7830534';
const OUTPUTS = 'outputs';
const RESTORES = 'restores';
const SNAPSHOTS = 'snapshots';
const ARCHIVE = 'archive';
const VAULT = 'bundle-restore-vault';
const TOPIC = 'arn:aws:sns:us-east-1:123456789012:vault-jobs';
const PREFIX = `runs/${RUN_ID}/`;

const ddbMock = mockClient(DynamoDBDocumentClient);
const s3 = new S3Client({ region: 'us-east-1' });
const s3Mock = mockClient(s3);
const sfn = new SFNClient({ region: 'us-east-1' });
const sfnMock = mockClient(sfn);
let table: FakeRunIndexTable;
let index: RunIndex;
let memory: MemoryS3;
let g: LocalGlacier;

beforeAll(async () => {
  g = await startLocalGlacier({ jobDelayMs: { Expedited: 0, Standard: 0, Bulk: 0 } });
  await g.glacier.send(new CreateVaultCommand({ accountId: '-', vaultName: VAULT }));
});
afterAll(async () => {
  await g.stop();
});
beforeEach(() => {
  ddbMock.reset();
  s3Mock.reset();
  sfnMock.reset();
  sfnMock.on(SendTaskSuccessCommand).resolves({});
  table = new FakeRunIndexTable('run-index').attach(ddbMock);
  index = new RunIndex(DynamoDBDocumentClient.from(new DynamoDBClient({ region: 'us-east-1' })), 'run-index');
  memory = new MemoryS3().attach(s3Mock);
});

const base = { files: [{ globs: ['**'], action: 'archive' }], deleteSources: true, bundleFilesBelow: '512 KiB', bundleMaxBytes: '8 MiB' };
const vaultTier = TierSchema.parse({ name: 'vault', ...base, target: { type: 'glacier-vault' }, partSizeMiB: 1 });
const s3Tier = TierSchema.parse({ name: 's3', ...base, target: { type: 's3-glacier', storageClass: 'DEEP_ARCHIVE', partSize: '5 MiB' } });
const config = parseConfig({ outputBuckets: [OUTPUTS], restoreBuckets: [RESTORES], tiers: [{ name: 'vault' }, { name: 's3' }] });
const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');

/** 24 files of 300,000-odd bytes archived into one bundle of about 7 MiB, its sources deleted; returns the originals. */
async function archived(tier: typeof vaultTier): Promise<{ sources: Map<string, Buffer>; bundle: BundleRecord }> {
  const sources = new Map<string, Buffer>();
  for (let i = 0; i < 24; i++) {
    const path = `out/qc/s${String(i).padStart(2, '0')}.json`;
    const body = testBytes(300_000 + i * 11, i + 7);
    sources.set(path, body);
    memory.put(OUTPUTS, `${PREFIX}${path}`, body);
  }
  table.put({ ...runKey(UUID), schemaVersion: SCHEMA_VERSION, runUuid: UUID, runId: RUN_ID, archiveState: 'ARCHIVED', tier: tier.name, updatedAt: 'x' });
  const planKey = `plans/${UUID}/exec/items.json`;
  await planArchive({
    s3,
    index,
    runUuid: UUID,
    runOutputUri: `s3://${OUTPUTS}/${PREFIX}`,
    tier,
    groupLimits: { maxFiles: 100, maxBytes: '1 GiB' },
    planBucket: SNAPSHOTS,
    planKey,
    now: new Date(),
  });
  const items = (JSON.parse(memory.object(SNAPSHOTS, planKey)!.body.toString()) as PlanItem[]).filter(isBundleItem);
  expect(items).toHaveLength(1);
  const result = await archiveBundle({
    s3,
    glacier: g.glacier,
    index,
    vaultName: VAULT,
    archiveBucket: ARCHIVE,
    runUuid: UUID,
    item: items[0],
    tier,
    deadline: Date.now() + 120_000,
  });
  expect(result).toMatchObject({ status: 'complete', archived: 24 });
  return { sources, bundle: table.get(`RUN#${UUID}`, `BUNDLE#${items[0].bundle.id}`) as unknown as BundleRecord };
}

const fileRecord = (path: string) => table.get(`RUN#${UUID}`, `FILE#${path}`) as unknown as FileRecord;

async function plan(restoreId: string, files?: string[]): Promise<RestoreItem[]> {
  await planRestore({
    index,
    s3,
    config,
    request: { run: UUID, files, destination: `s3://${RESTORES}/${restoreId}/`, tier: 'Expedited' },
    restoreId,
    vaultName: VAULT,
    itemsBucket: SNAPSHOTS,
  });
  return JSON.parse(memory.object(SNAPSHOTS, restoreItemsKey(UUID, restoreId))!.body.toString()) as RestoreItem[];
}

const restoreRecords = (restoreId: string) =>
  [...table.items.values()].filter((i) => String(i.sk).startsWith(`RESTORE#${restoreId}#FILE#`)) as unknown as RestoreFileRecord[];

/** Runs the item through its retrieval and copy as the workflow would, the notification standing in for the task token. */
async function restoreItem(item: RestoreItem, deadline = Date.now() + 120_000) {
  await requestRetrieval({ glacier: g.glacier, s3, index, item, taskToken: 'token', vaultJobsTopicArn: TOPIC, sfn });
  return copyRestoredFile({ glacier: g.glacier, s3, index, item, deadline });
}

describe('bundleRetrievalRange', () => {
  test('is MiB aligned around the members: start a multiple of 1 MiB, end + 1 a multiple of it or the archive’s end', () => {
    const size = 10 * MIB + 12_345;
    expect(bundleRetrievalRange([{ offset: 3 * MIB + 512, length: 1000 }], size)).toEqual({ start: 3 * MIB, end: 4 * MIB - 1 });
    expect(bundleRetrievalRange([{ offset: MIB - 100, length: 200 }], size)).toEqual({ start: 0, end: 2 * MIB - 1 });
    expect(bundleRetrievalRange([{ offset: 10 * MIB + 600, length: 1000 }], size)).toEqual({ start: 10 * MIB, end: size - 1 });
    expect(
      bundleRetrievalRange(
        [
          { offset: 512, length: 10 },
          { offset: 10 * MIB, length: 10 },
        ],
        size,
      ),
    ).toBeUndefined();
    expect(bundleRetrievalRange([{ offset: 512, length: 10 }], 4096)).toBeUndefined();
  });

  test('readRuns reads members near one another in one request and skips long gaps', () => {
    const member = (offset: number, length: number) => ({
      path: `p${offset}`,
      offset,
      length,
      sha256: '0'.repeat(64),
      destinationBucket: 'd',
      destinationKey: 'k',
    });
    const runs = readRuns([member(512, 100), member(2048, 100), member(5 * MIB, 10), member(5 * MIB + 1024, 10)]);
    expect(runs.map((r) => [r.start, r.end, r.members.length])).toEqual([
      [512, 2147, 2],
      [5 * MIB, 5 * MIB + 1033, 2],
    ]);
  });
});

describe('restoring from a vault bundle', () => {
  test('one member: one job over the MiB-aligned range around it, its bytes checked by SHA-256 and written, nothing else', async () => {
    const { sources, bundle } = await archived(vaultTier);
    const wanted = 'out/qc/s13.json';
    const items = await plan('one-member', [wanted]);
    expect(items).toHaveLength(1);
    const [item] = items;
    const where = fileRecord(wanted).bundle!;
    expect(item).toMatchObject({
      path: wanted,
      retrieval: 'vault-job',
      archiveId: bundle.archiveId,
      size: where.length,
      bundle: { id: bundle.bundleId, members: 1, size: bundle.size },
    });
    const range = item.bundle!.range!;
    expect(range.start % MIB).toBe(0);
    expect((range.end + 1) % MIB === 0 || range.end === bundle.size - 1).toBe(true);
    expect(range.start).toBeLessThanOrEqual(where.offset);
    expect(range.end).toBeGreaterThanOrEqual(where.offset + where.length - 1);
    expect(range.end - range.start + 1).toBeLessThanOrEqual(2 * MIB);

    expect(await restoreItem(item)).toMatchObject({ status: 'complete', size: where.length });
    const lead = restoreRecords('one-member')[0];
    expect(lead).toMatchObject({ path: wanted, state: 'RESTORED', bundleId: bundle.bundleId });
    const job = await g.glacier.send(new DescribeJobCommand({ accountId: '-', vaultName: VAULT, jobId: lead.jobId }));
    expect(job.RetrievalByteRange).toBe(`${range.start}-${range.end}`);
    const restored = memory.object(RESTORES, `one-member/${wanted}`)!.body;
    expect(sha256(restored)).toBe(sha256(sources.get(wanted)!));
    expect(memory.calls.filter((c) => c.startsWith('PutObject one-member/'))).toHaveLength(1);
  });

  test('every member of the bundle: one item, one job for the whole archive, every member back byte for byte', async () => {
    const { sources, bundle } = await archived(vaultTier);
    const items = await plan('all-members');
    expect(items).toHaveLength(1);
    expect(items[0].bundle).toMatchObject({ members: 24 });
    expect(items[0].bundle!.range).toBeUndefined();
    const list = RestoreBundleMemberSchema.array().parse(JSON.parse(memory.object(SNAPSHOTS, items[0].bundle!.membersKey)!.body.toString()));
    expect(list.map((m) => m.path)).toEqual([...sources.keys()]);

    const jobsBefore = g.emulator.archivesIn(VAULT).length;
    expect(await restoreItem(items[0])).toMatchObject({ status: 'complete' });
    expect(g.emulator.archivesIn(VAULT).length).toBe(jobsBefore);
    const records = restoreRecords('all-members');
    expect(records).toHaveLength(24);
    expect(new Set(records.map((r) => r.jobId).filter(Boolean)).size).toBe(1);
    for (const record of records) {
      expect(record).toMatchObject({ state: 'RESTORED', bundleId: bundle.bundleId });
      expect(memory.object(RESTORES, `all-members/${record.path}`)!.body.equals(sources.get(record.path)!)).toBe(true);
    }
  });

  test('stopped by the deadline, the copy resumes at the first member not settled; nothing is written twice', async () => {
    const { sources } = await archived(vaultTier);
    const [item] = await plan('resumed');
    await requestRetrieval({ glacier: g.glacier, s3, index, item, taskToken: 'token', vaultJobsTopicArn: TOPIC, sfn });
    const realNow = Date.now;
    const deadline = realNow() + 60_000;
    // Stopping mid-download closes the job output stream early, which the emulator reports on the console; AWS does not mind.
    const quiet = jest.spyOn(console, 'error').mockImplementation(() => undefined);
    const spy = jest.spyOn(Date, 'now');
    const count = memory.calls.length;
    spy.mockImplementation(() => (memory.calls.slice(count).filter((c) => c.startsWith('PutObject resumed/')).length >= 5 ? deadline + 1 : realNow()));
    let first;
    try {
      first = await copyRestoredFile({ glacier: g.glacier, s3, index, item, deadline });
    } finally {
      spy.mockRestore();
    }
    await new Promise((r) => setTimeout(r, 50));
    quiet.mockRestore();
    expect(first.status).toBe('incomplete');
    const lead = restoreRecords('resumed').find((r) => r.path === item.path)!;
    expect(lead.membersDone).toBeGreaterThanOrEqual(5);
    expect(lead.claimOwner).toBeUndefined();
    const puts = memory.calls.filter((c) => c.startsWith('PutObject resumed/')).length;
    expect(await copyRestoredFile({ glacier: g.glacier, s3, index, item, deadline: Date.now() + 60_000 })).toMatchObject({ status: 'complete' });
    const total = memory.calls.filter((c) => c.startsWith('PutObject resumed/')).length;
    expect(total).toBe(24 + (puts - lead.membersDone!));
    for (const [path, body] of sources) expect(memory.object(RESTORES, `resumed/${path}`)!.body.equals(body)).toBe(true);
    expect(restoreRecords('resumed').every((r) => r.state === 'RESTORED')).toBe(true);
  });
});

describe('restoring from an S3 Glacier-class bundle', () => {
  test('RestoreObject of the bundle once, the waiter keyed by the bundle, then ranged GETs; a member that fails its check fails alone', async () => {
    const { sources, bundle } = await archived(s3Tier);
    const key = bundleObjectKey(UUID, bundle.bundleId);
    const object = memory.object(ARCHIVE, key)!;
    // One byte of one member flipped in the archived copy: it must not come back; the others must.
    const broken = 'out/qc/s05.json';
    const at = fileRecord(broken).bundle!.offset + 10;
    object.body = Buffer.from(object.body);
    object.body[at] ^= 0xff;
    const items = await plan('s3-members', ['out/qc/s0*.json']);
    expect(items).toHaveLength(1);
    const [item] = items;
    expect(item).toMatchObject({
      retrieval: 's3-restore',
      archiveBucket: ARCHIVE,
      archiveKey: key,
      archiveVersionId: bundle.archiveVersionId,
      bundle: { members: 10 },
    });
    expect(item.bundle!.range).toBeUndefined();

    await requestRetrieval({ glacier: g.glacier, s3, index, item, taskToken: 'token-s3', vaultJobsTopicArn: TOPIC, sfn });
    expect(memory.calls.filter((c) => c.startsWith('RestoreObject'))).toEqual([`RestoreObject ${key}`]);
    // The task waits for the bundle's Object Restore Completed: its waiter is keyed by the bundle and names the first member.
    const waiters = await index.listRestoreWaiters(UUID, bundleObjectRef(bundle.bundleId));
    expect(waiters).toEqual([expect.objectContaining({ path: item.path, archiveKey: key, objectRef: bundleObjectRef(bundle.bundleId) })]);

    expect(await copyRestoredFile({ glacier: g.glacier, s3, index, item, deadline: Date.now() + 60_000 })).toMatchObject({ status: 'complete' });
    const gets = memory.calls.filter((c) => c.startsWith(`GetObject ${key}`));
    expect(gets.length).toBe(1);
    const records = restoreRecords('s3-members');
    expect(records).toHaveLength(10);
    for (const record of records) {
      if (record.path === broken) {
        expect(record).toMatchObject({ state: 'FAILED', failureReason: expect.stringMatching(/^ChecksumMismatch: /) as string });
        expect(memory.object(RESTORES, `s3-members/${broken}`)).toBeUndefined();
      } else {
        expect(record).toMatchObject({ state: 'RESTORED' });
        expect(memory.object(RESTORES, `s3-members/${record.path}`)!.body.equals(sources.get(record.path)!)).toBe(true);
      }
    }
  });

  test('the bundle’s Object Restore Completed event resumes the restore waiting on it', async () => {
    const { bundle } = await archived(s3Tier);
    const [item] = await plan('s3-event', ['out/qc/s1*.json']);
    await index.putRestoreWaiter({
      runUuid: UUID,
      restoreId: 's3-event',
      path: item.path,
      objectRef: bundleObjectRef(bundle.bundleId),
      archiveBucket: ARCHIVE,
      archiveKey: item.archiveKey!,
      archiveVersionId: item.archiveVersionId,
    });
    await index.updateRestoreFile(UUID, 's3-event', item.path, { taskToken: 'waiting-token' });
    const event = {
      source: 'aws.s3' as const,
      'detail-type': 'Object Restore Completed' as const,
      detail: { bucket: { name: ARCHIVE }, object: { key: item.archiveKey!, 'version-id': item.archiveVersionId } },
    };
    expect(await resumeAfterS3Restore({ sfn, index, event })).toEqual({ outcome: 'resumed', resumed: 1, stale: 0 });
    expect(sfnMock).toHaveReceivedCommandWith(SendTaskSuccessCommand, { taskToken: 'waiting-token' });
    expect(await index.listRestoreWaiters(UUID, bundleObjectRef(bundle.bundleId))).toEqual([]);
  });
});
