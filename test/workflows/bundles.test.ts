// Bundling end to end on the local cloud: runs of ~50 small files archived by the real workflow into tar bundles (a
// vault tier and a Deep Archive tier), then one member and every member of one bundle restored, byte for byte, each
// bundle retrieved once (a MiB-aligned range around the members asked for, in the vault).
import { GetObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { ListJobsCommand } from '@aws-sdk/client-glacier';
import { StartExecutionCommand } from '@aws-sdk/client-sfn';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as clients from '../../functions/lib/runtime/clients';
import { bundleObjectKey, MIB } from '../../functions/lib/contract';
import type { BundleRecord, FileRecord } from '../../functions/lib/index/run-index';
import type { RecordedCall } from '../../local/call-recorder';
import type { StoredRun } from '../../local/omics/model';
import { archiveExecution, finished, index, loadRun, useLocalCloud } from '../support/local-cloud';
import { OUTPUT_BUCKET, RESTORE_BUCKET, WORKFLOW_POLICY } from '../support/policies';
import { testBytes } from '../local/glacier/helpers';

jest.setTimeout(120_000);
const calls: RecordedCall[] = [];
const cloud = useLocalCloud(WORKFLOW_POLICY, { onAwsCall: (call) => calls.push(call) });

const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'bundles-test-'));
afterAll(() => fs.rmSync(scratch, { recursive: true, force: true }));
const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');

/** 48 outputs of 60–107 KB (about 4 MB in all): two bundles of at most 3 MiB. */
function outputs(label: string): { folder: string; files: Map<string, Buffer> } {
  const folder = path.join(scratch, label);
  const files = new Map<string, Buffer>();
  for (let i = 0; i < 48; i++) {
    const name = `qc/${label}-${String(i).padStart(2, '0')}.json`;
    const body = testBytes(60_000 + i * 1000, i + (label === 'vault' ? 1 : 500));
    fs.mkdirSync(path.dirname(path.join(folder, name)), { recursive: true });
    fs.writeFileSync(path.join(folder, name), body);
    files.set(`out/${name}`, body);
  }
  return { folder, files };
}

async function bytesOf(bucket: string, key: string): Promise<Buffer> {
  const { Body } = await clients.s3Client().send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  return Buffer.from(await Body!.transformToByteArray());
}

interface ArchivedRun {
  run: StoredRun;
  files: Map<string, Buffer>;
  records: FileRecord[];
  bundles: BundleRecord[];
}

async function archive(label: string, policy: string): Promise<ArchivedRun> {
  const { folder, files } = outputs(label);
  const run = await loadRun(cloud(), { outputs: [], outputsFolder: folder, tags: { policy } }, { outputBucket: OUTPUT_BUCKET });
  const execution = await archiveExecution(cloud(), run.id, run.uuid);
  expect(execution.failure).toBeUndefined();
  const records = await index(cloud()).listFiles(run.uuid);
  const bundles = await index(cloud()).listBundles(run.uuid);
  return { run, files, records, bundles };
}

let names = 0;
async function restore(run: ArchivedRun, label: string, files: string[]) {
  const restoreId = `bundles-${label}-${Date.now()}-${names++}`;
  const destination = `s3://${RESTORE_BUCKET}/${restoreId}/`;
  await clients.sfnClient().send(
    new StartExecutionCommand({
      stateMachineArn: cloud().resources.stateMachines.restoreRun,
      name: restoreId,
      input: JSON.stringify({ run: run.run.uuid, files, destination }),
    }),
  );
  const execution = await finished(cloud().resources.stateMachines.restoreRun, restoreId);
  const records = (await index(cloud()).listRestores(run.run.uuid)).files.filter((f) => f.restoreId === restoreId);
  return { restoreId, execution, records, prefix: `${restoreId}/` };
}

/** Every restored file is the original, byte for byte and by its recorded SHA-256. */
async function expectRestored(archived: ArchivedRun, prefix: string, paths: string[]): Promise<void> {
  for (const file of paths) {
    const restored = await bytesOf(RESTORE_BUCKET, `${prefix}${file}`);
    // The run's logs are not in the outputs folder; their SHA-256 from the archive says what they were.
    if (archived.files.has(file)) expect(restored.equals(archived.files.get(file)!)).toBe(true);
    expect(sha256(restored)).toBe(archived.records.find((r) => r.path === file)!.sha256);
  }
}

let vaultRun: ArchivedRun;
let s3Run: ArchivedRun;

beforeAll(async () => {
  [vaultRun, s3Run] = await Promise.all([archive('vault', 'bundle-vault'), archive('s3', 'bundle-s3')]);
}, 120_000);

describe('bundling on the local cloud', () => {
  test('a run’s small files go into two bundles, each member recorded where it is, its source deleted', async () => {
    for (const archived of [vaultRun, s3Run]) {
      expect(archived.bundles.map((b) => b.state)).toEqual(['ARCHIVED', 'ARCHIVED']);
      const members = archived.records.filter((r) => r.bundle);
      // The run's 48 outputs and its two small logs, every one in a bundle.
      expect(members.length).toBe(archived.records.length);
      expect(archived.records.length).toBe(50);
      for (const record of archived.records) {
        expect(record).toMatchObject({ state: 'ARCHIVED', sourceDeleted: true, bundleId: record.bundle!.id });
        expect(record.sha256).toMatch(/^[0-9a-f]{64}$/);
      }
      for (const bundle of archived.bundles) {
        expect(bundle).toMatchObject({ membersRecorded: true, members: members.filter((m) => m.bundle!.id === bundle.bundleId).length });
        expect(bundle.size).toBeLessThanOrEqual(3 * MIB);
      }
    }
    // Deep Archive: one object per bundle under bundles/<uuid>/, none per file.
    const s3 = clients.s3Client();
    const archiveBucket = cloud().resources.archiveBucket;
    const listed = await s3.send(new ListObjectsV2Command({ Bucket: archiveBucket, Prefix: `bundles/${s3Run.run.uuid}/` }));
    expect((listed.Contents ?? []).map((o) => o.Key).sort()).toEqual(s3Run.bundles.map((b) => bundleObjectKey(s3Run.run.uuid, b.bundleId)).sort());
    expect((listed.Contents ?? []).every((o) => o.StorageClass === 'DEEP_ARCHIVE')).toBe(true);
    expect((await s3.send(new ListObjectsV2Command({ Bucket: archiveBucket, Prefix: `runs/${s3Run.run.uuid}/` }))).KeyCount ?? 0).toBe(0);
    const vaultArchives = cloud()
      .glacier.archivesIn(cloud().resources.vaultName)
      .filter((a) => a.description.includes(vaultRun.run.uuid));
    expect(vaultArchives).toHaveLength(2);
  });

  test('restores: one member (a MiB-aligned range in the vault) and every member of one bundle, each bundle retrieved once', async () => {
    const memberPast1MiB = (archived: ArchivedRun) =>
      archived.records.find((r) => r.bundle!.offset > 1.5 * MIB && r.bundle!.id === archived.bundles[0].bundleId)!;
    const membersOf = (archived: ArchivedRun, bundle: BundleRecord) => archived.records.filter((r) => r.bundle!.id === bundle.bundleId).map((r) => r.path);
    const jobsBefore = new Set(
      (await clients.glacierClient().send(new ListJobsCommand({ accountId: '-', vaultName: cloud().resources.vaultName }))).JobList?.map((j) => j.JobId),
    );
    const restoresBefore = calls.filter((c) => c.operation === 'RestoreObject').length;

    const vaultOne = memberPast1MiB(vaultRun);
    const s3One = memberPast1MiB(s3Run);
    const vaultAll = membersOf(vaultRun, vaultRun.bundles[1]);
    const s3All = membersOf(s3Run, s3Run.bundles[1]);
    const [a, b, c, d] = await Promise.all([
      restore(vaultRun, 'vault-one', [vaultOne.path]),
      restore(vaultRun, 'vault-all', vaultAll),
      restore(s3Run, 's3-one', [s3One.path]),
      restore(s3Run, 's3-all', s3All),
    ]);
    for (const done of [a, b, c, d]) {
      expect(done.execution.failure).toBeUndefined();
      expect(done.execution.status).toBe('SUCCEEDED');
      expect(done.records.every((r) => r.state === 'RESTORED')).toBe(true);
    }
    expect(a.records.map((r) => r.path)).toEqual([vaultOne.path]);
    expect(b.records.map((r) => r.path).sort()).toEqual([...vaultAll].sort());
    await expectRestored(vaultRun, a.prefix, [vaultOne.path]);
    await expectRestored(vaultRun, b.prefix, vaultAll);
    await expectRestored(s3Run, c.prefix, [s3One.path]);
    await expectRestored(s3Run, d.prefix, s3All);

    // The vault: one job per restore, on the member's bundle; the single member's a MiB-aligned range around it.
    const jobs = ((await clients.glacierClient().send(new ListJobsCommand({ accountId: '-', vaultName: cloud().resources.vaultName }))).JobList ?? []).filter(
      (j) => !jobsBefore.has(j.JobId),
    );
    const jobOf = (done: typeof a) => jobs.filter((j) => done.records.some((r) => r.jobId === j.JobId));
    expect(jobOf(a)).toHaveLength(1);
    expect(jobOf(b)).toHaveLength(1);
    expect(new Set(b.records.map((r) => r.jobId).filter(Boolean)).size).toBe(1);
    const [start, end] = (jobOf(a)[0].RetrievalByteRange ?? '').split('-').map(Number);
    const bundleSize = vaultRun.bundles[0].size;
    expect(start % MIB).toBe(0);
    expect((end + 1) % MIB === 0 || end === bundleSize - 1).toBe(true);
    expect(start).toBeLessThanOrEqual(vaultOne.bundle!.offset);
    expect(end).toBeGreaterThanOrEqual(vaultOne.bundle!.offset + vaultOne.bundle!.length - 1);
    expect(end - start + 1).toBeLessThan(bundleSize);
    expect(jobOf(a)[0].ArchiveSizeInBytes).toBe(bundleSize);

    // Deep Archive: one RestoreObject per restore, of the bundle object, for one member or for thirty.
    const restored = calls.filter((call) => call.operation === 'RestoreObject').slice(restoresBefore);
    expect(restored.map((call) => call.input.Key).sort()).toEqual(
      [bundleObjectKey(s3Run.run.uuid, s3Run.bundles[0].bundleId), bundleObjectKey(s3Run.run.uuid, s3Run.bundles[1].bundleId)].sort(),
    );
  });
});
