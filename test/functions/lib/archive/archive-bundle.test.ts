// Unit tests for archiving a bundle: its tar streamed into the strict Glacier emulator or an in-memory S3, every
// member recorded where it is, resumed after a crash at each step, and failed as a whole when a member changed.
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { CreateVaultCommand, DescribeJobCommand, GetJobOutputCommand, InitiateJobCommand, ListMultipartUploadsCommand } from '@aws-sdk/client-glacier';
import { S3Client } from '@aws-sdk/client-s3';
import { DynamoDBDocumentClient, type UpdateCommandInput } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { extract } from 'tar-stream';
import { archiveBundle, bundleArchiveDescription, recordBundleFailure, type ArchiveBundleArgs } from '../../../../functions/lib/archive/archive-bundle';
import { planArchive } from '../../../../functions/lib/archive/plan-archive';
import {
  BundleDigestsSchema,
  TierSchema,
  bundleDigestsKey,
  bundleObjectKey,
  isBundleItem,
  type BundleItem,
  type PlanItem,
} from '../../../../functions/lib/contract';
import { RunIndex, type BundleRecord, type FileRecord } from '../../../../functions/lib/index/run-index';
import { FakeRunIndexTable } from '../../../support/run-index-table';
import { MemoryS3 } from '../../../support/memory-s3';
import { crc64nvmeOf } from '../../../support/crc64nvme';
import { MIB, bodyBytes, startLocalGlacier, testBytes, type LocalGlacier } from '../../../local/glacier/helpers';

const UUID = '96c57683-74bf-9d6d-ae7e-f09b097db14a';
const OUTPUTS = 'outputs';
const PREFIX = 'runs/7830534/';
const SNAPSHOTS = 'snapshots';
const ARCHIVE = 'archive';
const VAULT = 'bundle-vault';

const ddbMock = mockClient(DynamoDBDocumentClient);
const s3 = new S3Client({ region: 'us-east-1' });
const s3Mock = mockClient(s3);
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
  table = new FakeRunIndexTable('run-index').attach(ddbMock);
  index = new RunIndex(DynamoDBDocumentClient.from(new DynamoDBClient({ region: 'us-east-1' })), 'run-index');
  memory = new MemoryS3().attach(s3Mock);
});

const vaultTier = TierSchema.parse({
  name: 'vault',
  files: [{ globs: ['**'], action: 'archive' }],
  target: { type: 'glacier-vault' },
  partSizeMiB: 1,
  deleteSources: true,
  bundleFilesBelow: '256 KiB',
  bundleMaxBytes: '3 MiB',
});
const s3Tier = TierSchema.parse({
  name: 's3',
  files: [{ globs: ['**'], action: 'archive' }],
  target: { type: 's3-glacier', storageClass: 'DEEP_ARCHIVE', partSize: '5 MiB' },
  deleteSources: true,
  bundleFilesBelow: '1 MiB',
  bundleMaxBytes: '12 MiB',
});

/** Puts `count` outputs of the given sizes in S3 and plans the run as the workflow does; returns the sources and the plan. */
async function planned(tier: typeof vaultTier, sizes: number[]): Promise<{ sources: Map<string, Buffer>; items: PlanItem[] }> {
  const sources = new Map<string, Buffer>();
  sizes.forEach((size, i) => {
    const path = `out/qc/sample-${String(i).padStart(3, '0')}.json`;
    const body = testBytes(size, i + 100);
    sources.set(path, body);
    memory.put(OUTPUTS, `${PREFIX}${path}`, body);
  });
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
    now: new Date('2025-06-01T00:00:00Z'),
  });
  return { sources, items: JSON.parse(memory.object(SNAPSHOTS, planKey)!.body.toString('utf8')) as PlanItem[] };
}

const bundlesOf = (items: PlanItem[]) => items.filter(isBundleItem);

function args(item: BundleItem, tier: typeof vaultTier, overrides: Partial<ArchiveBundleArgs> = {}): ArchiveBundleArgs {
  return { s3, glacier: g.glacier, index, vaultName: VAULT, archiveBucket: ARCHIVE, runUuid: UUID, item, tier, deadline: Date.now() + 120_000, ...overrides };
}

const bundleRecord = (id: string) => table.get(`RUN#${UUID}`, `BUNDLE#${id}`) as BundleRecord | undefined;
const fileRecord = (path: string) => table.get(`RUN#${UUID}`, `FILE#${path}`) as FileRecord | undefined;
const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');

/** The members of a tar, as tar-stream reads them. */
async function untar(tar: Buffer): Promise<Map<string, Buffer>> {
  const members = new Map<string, Buffer>();
  const reader = extract();
  reader.on('entry', (header, stream, next) => {
    const chunks: Buffer[] = [];
    stream.on('data', (chunk: unknown) => void chunks.push(chunk as Buffer));
    stream.on('end', () => {
      members.set(header.name, Buffer.concat(chunks));
      next();
    });
  });
  await new Promise<void>((resolve, reject) => {
    reader.on('finish', resolve);
    reader.on('error', reject);
    Readable.from([tar]).pipe(reader);
  });
  return members;
}

/** The archive's bytes as a vault retrieval job returns them (optionally a byte range of it). */
async function retrieve(archiveId: string, range?: string): Promise<Buffer> {
  const { jobId } = await g.glacier.send(
    new InitiateJobCommand({
      accountId: '-',
      vaultName: VAULT,
      jobParameters: { Type: 'archive-retrieval', ArchiveId: archiveId, Tier: 'Expedited', RetrievalByteRange: range },
    }),
  );
  for (;;) {
    const job = await g.glacier.send(new DescribeJobCommand({ accountId: '-', vaultName: VAULT, jobId }));
    if (job.StatusCode === 'Succeeded') break;
    await new Promise((r) => setTimeout(r, 20));
  }
  const output = await g.glacier.send(new GetJobOutputCommand({ accountId: '-', vaultName: VAULT, jobId }));
  return bodyBytes(output.body);
}

async function openVaultUploads(description: string): Promise<number> {
  const page = await g.glacier.send(new ListMultipartUploadsCommand({ accountId: '-', vaultName: VAULT }));
  return (page.UploadsList ?? []).filter((u) => u.ArchiveDescription === description).length;
}

/** Every member archived in its bundle with its own SHA-256, at the offset where the tar holds its bytes. */
async function expectMembersIn(tar: Buffer, item: BundleItem, sources: Map<string, Buffer>): Promise<void> {
  const read = await untar(tar);
  expect(read.size).toBe(item.bundle.members);
  for (const [path, data] of read) {
    expect(data.equals(sources.get(path)!)).toBe(true);
    const file = fileRecord(path)!;
    expect(file).toMatchObject({ state: 'ARCHIVED', bundleId: item.bundle.id, bundle: { id: item.bundle.id, length: data.length }, sha256: sha256(data) });
    expect(tar.subarray(file.bundle!.offset, file.bundle!.offset + file.bundle!.length).equals(data)).toBe(true);
  }
}

describe('archiveBundle to a vault', () => {
  test('streams the tar into one archive, records the bundle and then each member where it is, and deletes the sources last', async () => {
    const { sources, items } = await planned(
      vaultTier,
      Array.from({ length: 30 }, (_, i) => 100_000 + i * 1000),
    );
    const bundles = bundlesOf(items);
    expect(bundles.length).toBe(2);
    for (const item of bundles) {
      expect(await archiveBundle(args(item, vaultTier))).toEqual({ status: 'complete', archived: item.bundle.members, failed: 0 });
      const bundle = bundleRecord(item.bundle.id)!;
      expect(bundle).toMatchObject({
        state: 'ARCHIVED',
        vaultName: VAULT,
        partSize: MIB,
        size: item.bundle.size,
        membersRecorded: true,
        sourcesRemoved: item.bundle.members,
      });
      expect(bundle.claimOwner).toBeUndefined();
      const tar = await retrieve(bundle.archiveId!);
      expect(tar.length).toBe(item.bundle.size);
      expect(sha256(tar)).toBe(bundle.sha256);
      await expectMembersIn(tar, item, sources);
      expect(await openVaultUploads(bundleArchiveDescription(UUID, item.bundle.id))).toBe(0);
    }
    for (const path of sources.keys()) {
      expect(memory.object(OUTPUTS, `${PREFIX}${path}`)).toBeUndefined();
      expect(fileRecord(path)).toMatchObject({ sourceDeleted: true });
    }
    // Each member is read once: one pinned GET per source, no HEAD before the upload.
    expect(memory.calls.filter((c) => c.startsWith('GetObject runs/')).length).toBe(sources.size);
  });

  test('resumes after a crash mid-upload: the parts already in the vault are read again and kept, and the members’ SHA-256s are whole', async () => {
    const { sources, items } = await planned(
      vaultTier,
      Array.from({ length: 12 }, (_, i) => 200_000 + i),
    );
    const [item] = bundlesOf(items);
    expect(item.bundle.size).toBeGreaterThan(2 * MIB);
    let progressWrites = 0;
    table.beforeUpdate = (input: UpdateCommandInput) => {
      // The second part's progress never gets written: the invocation dies after the part is in the vault.
      if (
        String(input.Key?.sk).startsWith('BUNDLE#') &&
        input.ExpressionAttributeValues &&
        Object.values(input.ExpressionAttributeValues).includes(2) &&
        ++progressWrites === 1
      ) {
        throw Object.assign(new Error('Lambda ran out of memory'), { name: 'Runtime.OutOfMemory' });
      }
    };
    await expect(archiveBundle(args(item, vaultTier))).rejects.toThrow('Lambda ran out of memory');
    const stopped = bundleRecord(item.bundle.id)!;
    expect(stopped).toMatchObject({ state: 'UPLOADING', uploadId: expect.any(String) as string });
    expect(stopped.claimOwner).toBeUndefined();
    table.beforeUpdate = undefined;

    expect(await archiveBundle(args(item, vaultTier))).toMatchObject({ status: 'complete', archived: item.bundle.members });
    const bundle = bundleRecord(item.bundle.id)!;
    expect(bundle).toMatchObject({ state: 'ARCHIVED', attempts: 2 });
    await expectMembersIn(await retrieve(bundle.archiveId!), item, sources);
    expect(await openVaultUploads(bundleArchiveDescription(UUID, item.bundle.id))).toBe(0);
  });

  test('an upload completed by an invocation that died before recording it is completed again, not made twice', async () => {
    const { sources, items } = await planned(
      vaultTier,
      Array.from({ length: 8 }, (_, i) => 30_000 + i),
    );
    const [item] = bundlesOf(items);
    const ours = () => g.emulator.archivesIn(VAULT).filter((a) => a.description === bundleArchiveDescription(UUID, item.bundle.id)).length;
    const before = ours();
    table.beforeUpdate = (input: UpdateCommandInput) => {
      if (String(input.Key?.sk).startsWith('BUNDLE#') && Object.values(input.ExpressionAttributeValues ?? {}).includes('ARCHIVED')) {
        table.beforeUpdate = undefined;
        throw Object.assign(new Error('Task timed out'), { name: 'Sandbox.Timedout' });
      }
    };
    await expect(archiveBundle(args(item, vaultTier))).rejects.toThrow('Task timed out');
    const intent = bundleRecord(item.bundle.id)!;
    expect(intent).toMatchObject({ state: 'UPLOADING', completingTreeHash: expect.any(String) as string });
    // Saved before the upload completed, so the members can be recorded without reading their sources again.
    expect(BundleDigestsSchema.parse(JSON.parse(memory.object(SNAPSHOTS, bundleDigestsKey(UUID, item.bundle.id))!.body.toString())).sha256).toHaveLength(8);

    const reads = memory.count('GetObject');
    expect(await archiveBundle(args(item, vaultTier))).toMatchObject({ status: 'complete', archived: 8 });
    expect(memory.count('GetObject') - reads).toBe(1 + 1 + 0); // the manifest and the digests; no source
    const bundle = bundleRecord(item.bundle.id)!;
    expect(bundle.treeHash).toBe(intent.completingTreeHash);
    await expectMembersIn(await retrieve(bundle.archiveId!), item, sources);
    expect(ours() - before).toBe(1);
  });

  test('a member that changed since the plan fails the whole bundle, naming it; no upload is left open and every source stays', async () => {
    const { sources, items } = await planned(
      vaultTier,
      Array.from({ length: 6 }, (_, i) => 250_000 + i),
    );
    const [item] = bundlesOf(items);
    const changed = [...sources.keys()][4];
    memory.put(OUTPUTS, `${PREFIX}${changed}`, Buffer.from('rewritten after the plan'));

    expect(await archiveBundle(args(item, vaultTier))).toEqual({ status: 'complete', archived: 0, failed: 6 });
    expect(bundleRecord(item.bundle.id)).toMatchObject({
      state: 'FAILED',
      failureReason: expect.stringContaining(`member ${changed}: PreconditionFailed`) as string,
    });
    for (const path of sources.keys()) {
      expect(fileRecord(path)).toMatchObject({
        state: 'FAILED',
        failureReason: expect.stringContaining(`bundle ${item.bundle.id} could not be archived`) as string,
      });
      expect(memory.object(OUTPUTS, `${PREFIX}${path}`)).toBeDefined();
    }
    expect(await openVaultUploads(bundleArchiveDescription(UUID, item.bundle.id))).toBe(0);
  });
});

describe('archiveBundle to an S3 Glacier class', () => {
  test('writes one object in the tier’s class, in parts, verified by its full-object CRC64NVME, and records every member', async () => {
    const { sources, items } = await planned(
      s3Tier,
      Array.from({ length: 14 }, (_, i) => 500_000 + i * 7),
    );
    const [item] = bundlesOf(items);
    expect(item.bundle.size).toBeGreaterThan(5 * MIB);
    expect(await archiveBundle(args(item, s3Tier))).toEqual({ status: 'complete', archived: 14, failed: 0 });
    const key = bundleObjectKey(UUID, item.bundle.id);
    const object = memory.object(ARCHIVE, key)!;
    expect(object).toMatchObject({ storageClass: 'DEEP_ARCHIVE', metadata: { 'run-uuid': UUID, bundle: item.bundle.id } });
    expect(bundleRecord(item.bundle.id)).toMatchObject({
      state: 'ARCHIVED',
      archiveBucket: ARCHIVE,
      archiveKey: key,
      archiveVersionId: object.versionId,
      storageClass: 'DEEP_ARCHIVE',
      checksumAlgorithm: 'CRC64NVME',
      checksum: await crc64nvmeOf(object.body),
      membersRecorded: true,
    });
    expect(memory.count('UploadPart')).toBe(2);
    await expectMembersIn(object.body, item, sources);
    expect(memory.uploads.size).toBe(0);
  });

  test('a small bundle is one PutObject; after a crash past it the object is found by its checksum and recorded, not written again', async () => {
    const { sources, items } = await planned(
      s3Tier,
      Array.from({ length: 5 }, (_, i) => 10_000 + i),
    );
    const [item] = bundlesOf(items);
    table.beforeUpdate = (input: UpdateCommandInput) => {
      if (String(input.Key?.sk).startsWith('BUNDLE#') && Object.values(input.ExpressionAttributeValues ?? {}).includes('ARCHIVED')) {
        table.beforeUpdate = undefined;
        throw Object.assign(new Error('Task timed out'), { name: 'Sandbox.Timedout' });
      }
    };
    await expect(archiveBundle(args(item, s3Tier))).rejects.toThrow('Task timed out');
    const bundlePuts = () => memory.calls.filter((c) => c.startsWith('PutObject bundles/')).length;
    expect(bundlePuts()).toBe(1);
    expect(await archiveBundle(args(item, s3Tier))).toMatchObject({ status: 'complete', archived: 5 });
    expect(bundlePuts()).toBe(1);
    expect(memory.versions.get(`${ARCHIVE}/${bundleObjectKey(UUID, item.bundle.id)}`)).toHaveLength(1);
    await expectMembersIn(memory.object(ARCHIVE, bundleObjectKey(UUID, item.bundle.id))!.body, item, sources);
  });

  test('records the members a step at a time and carries on in the next invocation when the deadline comes', async () => {
    const { items } = await planned(
      s3Tier,
      Array.from({ length: 450 }, (_, i) => 100 + i),
    );
    const [item] = bundlesOf(items);
    let writes = 0;
    const stopAt = Date.now() + 10 * 60_000;
    // The clock jumps past the deadline once 200 members are recorded: the invocation stops between two steps.
    const realNow = Date.now;
    table.onWrite = (_command, written) => {
      if (String(written.sk).startsWith('FILE#') && written.bundle && ++writes === 200) jest.spyOn(Date, 'now').mockImplementation(() => stopAt);
    };
    try {
      expect(await archiveBundle(args(item, s3Tier, { deadline: stopAt }))).toEqual({ status: 'incomplete', archived: 0, failed: 0 });
    } finally {
      jest.restoreAllMocks();
      table.onWrite = undefined;
    }
    expect(realNow()).toBeLessThan(stopAt);
    expect(bundleRecord(item.bundle.id)?.membersRecorded).toBeUndefined();
    expect(await archiveBundle(args(item, s3Tier))).toEqual({ status: 'complete', archived: 450, failed: 0 });
    expect(bundleRecord(item.bundle.id)).toMatchObject({ membersRecorded: true, sourcesRemoved: 450 });
  });
});

describe('recordBundleFailure', () => {
  test('fails the bundle and its members nobody is working on, with the workflow’s error', async () => {
    const { sources, items } = await planned(
      s3Tier,
      Array.from({ length: 4 }, (_, i) => 1000 + i),
    );
    const [item] = bundlesOf(items);
    const marked = await recordBundleFailure({ s3, index, runUuid: UUID, item }, { Error: 'States.Timeout', Cause: 'the item took too long' });
    expect(marked).toBe(4);
    expect(bundleRecord(item.bundle.id)).toMatchObject({ state: 'FAILED' });
    for (const path of sources.keys())
      expect(fileRecord(path)).toMatchObject({ state: 'FAILED', failureReason: expect.stringContaining('States.Timeout') as string });
  });
});
