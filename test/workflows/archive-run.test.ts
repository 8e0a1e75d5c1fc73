// The archive workflow end to end on the local cloud: the deployed ASL, the real handlers, moto and the strict emulators.
import { GetRunCommand, ResourceNotFoundException } from '@aws-sdk/client-omics';
import { GetObjectCommand, HeadObjectCommand, ListMultipartUploadsCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { Crc64Nvme } from '@aws-sdk/crc64-nvme';
import { PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { DescribeJobCommand, InitiateJobCommand } from '@aws-sdk/client-glacier';
import * as clients from '../../functions/lib/runtime/clients';
import { treeHashOf } from '../../functions/lib/glacier/tree-hash';
import { createHash } from 'node:crypto';
import {
  announceRunStatus,
  archiveExecution,
  executionsNamed,
  index,
  loadRun,
  objectExists,
  observeArchiveEvents,
  runReaches,
  useLocalCloud,
} from '../support/local-cloud';
import { OUTPUT_BUCKET, WORKFLOW_POLICY } from '../support/policies';

jest.setTimeout(120_000);
const cloud = useLocalCloud(WORKFLOW_POLICY);

const ARCHIVE_STATES_IN_ORDER = [
  'Wait for run to settle',
  'Snapshot run metadata and logs',
  'Wait until outputs age',
  'Plan archive',
  'Anything to archive?',
  'Archive output files',
  'Record archive',
  'Publish run archived',
  'Archived completely?',
  'Run archived',
];

async function bytesOf(bucket: string, key: string): Promise<Buffer> {
  const { Body } = await clients.s3Client().send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  return Buffer.from(await Body!.transformToByteArray());
}

describe('archive workflow', () => {
  test('success: snapshot, every file archived with its hashes, sources removed, RUN_ARCHIVED published, run deleted', async () => {
    const events = await observeArchiveEvents(cloud(), 'observer-success');
    const run = await loadRun(cloud(), {}, { outputBucket: OUTPUT_BUCKET });
    const runPrefix = `runs/${run.id}/`;
    const originals = new Map<string, Buffer>();
    const listing = await clients.s3Client().send(new ListObjectsV2Command({ Bucket: OUTPUT_BUCKET, Prefix: runPrefix }));
    for (const o of listing.Contents ?? []) originals.set(o.Key!.slice(runPrefix.length), await bytesOf(OUTPUT_BUCKET, o.Key!));

    const execution = await archiveExecution(cloud(), run.id, run.uuid);
    expect(execution.status).toBe('SUCCEEDED');
    expect(execution.states).toEqual(ARCHIVE_STATES_IN_ORDER);

    // The snapshot: manifest, run record and logs, each object's checksum right.
    const record = await runReaches(cloud(), run.uuid, ['RUN_DELETED']);
    expect(record?.snapshotLocation).toBe(`s3://${cloud().resources.snapshotBucket}/runs/${run.uuid}/`);
    const manifest = JSON.parse((await bytesOf(cloud().resources.snapshotBucket, `runs/${run.uuid}/snapshot.json`)).toString()) as {
      objects: { key: string; sha256: string }[];
    };
    expect(manifest.objects.map((o) => o.key)).toEqual(expect.arrayContaining([`runs/${run.uuid}/run.json`, `runs/${run.uuid}/logs/engine.jsonl.gz`]));
    for (const object of manifest.objects) {
      expect(
        createHash('sha256')
          .update(await bytesOf(cloud().resources.snapshotBucket, object.key))
          .digest('hex'),
      ).toBe(object.sha256);
    }

    // Every output archived, with the tree hash and SHA-256 of the very bytes, and its source gone.
    const files = await index(cloud()).listFiles(run.uuid);
    expect(files.map((f) => f.path).sort()).toEqual([...originals.keys()].sort());
    for (const file of files) {
      const original = originals.get(file.path)!;
      expect(file).toMatchObject({ state: 'ARCHIVED', target: 'glacier-vault', size: original.length, sourceDeleted: true });
      expect(file.sha256).toBe(createHash('sha256').update(original).digest('hex'));
      expect(file.treeHash).toBe(treeHashOf(original).toString('hex'));
      if (original.length === 0) expect(file.archiveId).toBeUndefined();
      else expect(file.archiveId).toEqual(expect.any(String));
      expect(await objectExists(OUTPUT_BUCKET, file.sourceKey)).toBe(false);
    }
    expect(files.some((f) => f.path.includes('測試'))).toBe(true);
    expect(files.some((f) => f.path.split('/').length > 8)).toBe(true);

    // The archive ids are real: Glacier knows them (a retrieval job can be started for one).
    const archived = files.find((f) => f.archiveId)!;
    const job = await clients.glacierClient().send(
      new InitiateJobCommand({
        accountId: '-',
        vaultName: cloud().resources.vaultName,
        jobParameters: { Type: 'archive-retrieval', ArchiveId: archived.archiveId },
      }),
    );
    const described = await clients.glacierClient().send(new DescribeJobCommand({ accountId: '-', vaultName: cloud().resources.vaultName, jobId: job.jobId }));
    expect(described.ArchiveSHA256TreeHash).toBe(archived.treeHash);

    expect(record).toMatchObject({ archiveState: 'RUN_DELETED', tier: 'archive-all', counts: { archive: files.length, archived: files.length, failed: 0 } });
    await expect(clients.omicsClient().send(new GetRunCommand({ id: run.id }))).rejects.toBeInstanceOf(ResourceNotFoundException);

    const published = await events();
    expect(published).toEqual([
      expect.objectContaining({
        attributes: { event: 'RUN_ARCHIVED', deleteRun: 'true', tier: 'archive-all' },
        body: expect.objectContaining({ runUuid: run.uuid, runId: run.id, archiveState: 'ARCHIVED' }) as Record<string, unknown>,
      }),
    ]);
  });

  test('a tier that keeps everything: snapshot and index only, nothing archived or removed, run kept', async () => {
    const events = await observeArchiveEvents(cloud(), 'observer-keep');
    const run = await loadRun(cloud(), { tags: { policy: 'keep' } }, { outputBucket: OUTPUT_BUCKET });
    const execution = await archiveExecution(cloud(), run.id, run.uuid);
    expect(execution.status).toBe('SUCCEEDED');
    expect(execution.states).not.toContain('Archive output files');

    const files = await index(cloud()).listFiles(run.uuid);
    expect(files.length).toBeGreaterThan(0);
    for (const file of files) {
      expect(file).toMatchObject({ action: 'keep', state: 'KEPT' });
      expect(file.archiveId).toBeUndefined();
      expect(await objectExists(OUTPUT_BUCKET, file.sourceKey)).toBe(true);
    }
    expect(await index(cloud()).getRun(run.uuid)).toMatchObject({ archiveState: 'ARCHIVED', tier: 'keep-all', deleteRun: false });
    expect((await clients.omicsClient().send(new GetRunCommand({ id: run.id }))).uuid).toBe(run.uuid);
    expect((await events()).map((e) => e.attributes)).toEqual([{ event: 'RUN_ARCHIVED', deleteRun: 'false', tier: 'keep-all' }]);
  });

  test('file rules: big BAMs archived, qc skipped (not indexed), the rest kept; only archived sources removed', async () => {
    const run = await loadRun(cloud(), { tags: { policy: 'mixed' } }, { outputBucket: OUTPUT_BUCKET });
    const execution = await archiveExecution(cloud(), run.id, run.uuid);
    expect(execution.status).toBe('SUCCEEDED');
    const files = new Map((await index(cloud()).listFiles(run.uuid)).map((f) => [f.path, f]));
    expect(files.get('out/aligned/sample-1.bam')).toMatchObject({ action: 'archive', state: 'ARCHIVED', sourceDeleted: true, partSize: 1024 * 1024 });
    expect(files.get('out/aligned/sample-2.bam')).toMatchObject({ action: 'archive', state: 'ARCHIVED', sourceDeleted: true });
    expect(files.get('out/reports/summary.txt')).toMatchObject({ action: 'keep', state: 'KEPT' });
    expect([...files.keys()].filter((p) => p.startsWith('out/qc/'))).toEqual([]);
    expect(await objectExists(OUTPUT_BUCKET, `runs/${run.id}/out/qc/sample-0.json`)).toBe(true);
    expect(await objectExists(OUTPUT_BUCKET, `runs/${run.id}/out/reports/summary.txt`)).toBe(true);
    expect(await objectExists(OUTPUT_BUCKET, `runs/${run.id}/out/aligned/sample-1.bam`)).toBe(false);
    const record = await index(cloud()).getRun(run.uuid);
    expect(record?.counts).toMatchObject({ archive: 2, archived: 2, failed: 0 });
  });

  test('s3-glacier target: copies into the archive bucket in DEEP_ARCHIVE with key, version and SHA-256 recorded', async () => {
    const run = await loadRun(cloud(), { tags: { policy: 's3' } }, { outputBucket: OUTPUT_BUCKET });
    const originals = new Map<string, Buffer>();
    const prefix = `runs/${run.id}/`;
    for (const o of (await clients.s3Client().send(new ListObjectsV2Command({ Bucket: OUTPUT_BUCKET, Prefix: `${prefix}out/` }))).Contents ?? []) {
      originals.set(o.Key!.slice(prefix.length), await bytesOf(OUTPUT_BUCKET, o.Key!));
    }
    const execution = await archiveExecution(cloud(), run.id, run.uuid);
    expect(execution.status).toBe('SUCCEEDED');
    const files = (await index(cloud()).listFiles(run.uuid)).filter((f) => f.action === 'archive');
    expect(files.length).toBe(originals.size);
    for (const file of files) {
      expect(file).toMatchObject({ state: 'ARCHIVED', target: 's3-glacier', archiveBucket: cloud().resources.archiveBucket, storageClass: 'DEEP_ARCHIVE' });
      expect(file.archiveKey).toBe(`runs/${run.uuid}/${file.path}`);
      expect(file.sha256).toBe(createHash('sha256').update(originals.get(file.path)!).digest('hex'));
      const head = await clients.s3Client().send(new HeadObjectCommand({ Bucket: file.archiveBucket, Key: file.archiveKey }));
      expect(head.StorageClass).toBe('DEEP_ARCHIVE');
    }
  });

  test('s3-glacier multipart copy: a file above multipartAbove goes in 5 MiB UploadPartCopy parts, CRC64NVME equal to the original, no upload left open', async () => {
    const run = await loadRun(cloud(), { tags: { policy: 's3-multipart' } }, { outputBucket: OUTPUT_BUCKET });
    const prefix = `runs/${run.id}/`;
    const originals = new Map<string, Buffer>();
    for (const o of (await clients.s3Client().send(new ListObjectsV2Command({ Bucket: OUTPUT_BUCKET, Prefix: `${prefix}out/` }))).Contents ?? []) {
      originals.set(o.Key!.slice(prefix.length), await bytesOf(OUTPUT_BUCKET, o.Key!));
    }
    const execution = await archiveExecution(cloud(), run.id, run.uuid);
    expect(execution.status).toBe('SUCCEEDED');
    const files = (await index(cloud()).listFiles(run.uuid)).filter((f) => f.action === 'archive');
    expect(files.length).toBe(originals.size);
    const big = files.filter((f) => f.size > 5 * 1024 * 1024);
    expect(big.length).toBeGreaterThan(0);
    for (const file of files) {
      const original = originals.get(file.path)!;
      const independent = new Crc64Nvme();
      independent.update(original);
      const expected = Buffer.from(await independent.digest()).toString('base64');
      expect(file).toMatchObject({ state: 'ARCHIVED', storageClass: 'GLACIER', checksumAlgorithm: 'CRC64NVME', checksum: expected });
      expect(file.copyMethod).toBe(file.size > 5 * 1024 * 1024 ? 'multipart' : 'single');
      if (file.copyMethod === 'multipart') expect(file.copyParts).toBe(Math.ceil(file.size / (5 * 1024 * 1024)));
      const head = await clients.s3Client().send(new HeadObjectCommand({ Bucket: file.archiveBucket, Key: file.archiveKey, ChecksumMode: 'ENABLED' }));
      expect(head.ChecksumCRC64NVME).toBe(expected);
    }
    const open = await clients.s3Client().send(new ListMultipartUploadsCommand({ Bucket: cloud().resources.archiveBucket }));
    expect(open.Uploads ?? []).toEqual([]);
  });

  test('a duplicate Run Status Change event starts no second execution', async () => {
    const run = await loadRun(cloud(), { tags: { policy: 'keep' } }, { outputBucket: OUTPUT_BUCKET });
    // EventBridge delivers at least once: the same event again, as a twin delivery would.
    await announceRunStatus(run);
    const execution = await archiveExecution(cloud(), run.id, run.uuid);
    expect(execution.status).toBe('SUCCEEDED');
    // And once more after it finished: still the one execution.
    await clients.eventsClient().send(
      new PutEventsCommand({
        Entries: [{ Source: 'aws.omics', DetailType: 'Run Status Change', Detail: JSON.stringify({ arn: run.arn, status: 'COMPLETED' }) }],
      }),
    );
    await new Promise((r) => setTimeout(r, 3000));
    // HealthOmics reuses a deleted run's id, so earlier tests' runs may share this id: count this run's executions.
    expect(await executionsNamed(cloud().resources.stateMachines.archiveRun, `run-${run.id}-${run.uuid}`)).toEqual([`run-${run.id}-${run.uuid}`]);
  });
});
