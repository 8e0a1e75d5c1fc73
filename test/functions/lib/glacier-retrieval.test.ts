// The restore copier: Glacier job output (the emulator, over HTTP) into S3 (aws-sdk-client-mock), verified per range.
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { CreateVaultCommand, InitiateJobCommand } from '@aws-sdk/client-glacier';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  ListPartsCommand,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import { copyJobOutputToS3, type CopyArgs } from '../../../functions/lib/glacier-retrieval';
import { uploadToVault } from '../../../functions/lib/glacier-upload';
import { treeHashOf } from '../../../functions/lib/tree-hash';
import { MIB, sha256Hex, startLocalGlacier, testBytes, type LocalGlacier } from '../../local/glacier/helpers';

let g: LocalGlacier;
const vaultName = 'restore';
const s3Mock = mockClient(S3Client);
const s3 = new S3Client({ region: 'us-east-1' });

/** What the mocked bucket holds: finished objects and the parts of open uploads. */
let objects: Map<string, Buffer>;
let uploads: Map<string, Map<number, Buffer>>;
let uploadCounter = 0;
const md5 = (data: Uint8Array) => `"${createHash('md5').update(data).digest('hex')}"`;

beforeAll(async () => {
  g = await startLocalGlacier();
  await g.glacier.send(new CreateVaultCommand({ accountId: '-', vaultName }));
});
afterAll(async () => {
  s3Mock.restore();
  await g.stop();
});
beforeEach(() => {
  objects = new Map();
  uploads = new Map();
  s3Mock.reset();
  s3Mock.on(PutObjectCommand).callsFake(async (input: { Key: string; Body: Buffer; ChecksumSHA256: string }) => {
    expect(input.ChecksumSHA256).toBe(createHash('sha256').update(input.Body).digest('base64'));
    objects.set(input.Key, Buffer.from(input.Body));
    return { ETag: md5(input.Body), VersionId: 'v-put' };
  });
  s3Mock.on(CreateMultipartUploadCommand).callsFake(async () => {
    const id = `upload-${++uploadCounter}`;
    uploads.set(id, new Map());
    return { UploadId: id };
  });
  s3Mock.on(UploadPartCommand).callsFake(async (input: { UploadId: string; PartNumber: number; Body: Buffer }) => {
    uploads.get(input.UploadId)!.set(input.PartNumber, Buffer.from(input.Body));
    return { ETag: md5(input.Body) };
  });
  s3Mock.on(ListPartsCommand).callsFake(async (input: { UploadId: string; PartNumberMarker?: string }) => {
    // One part per page, to exercise pagination.
    const parts = [...uploads.get(input.UploadId)!.entries()].sort(([a], [b]) => a - b).filter(([n]) => n > Number(input.PartNumberMarker ?? 0));
    const [first] = parts;
    return first
      ? { Parts: [{ PartNumber: first[0], ETag: md5(first[1]), Size: first[1].length }], IsTruncated: parts.length > 1, NextPartNumberMarker: String(first[0]) }
      : { Parts: [], IsTruncated: false };
  });
  s3Mock.on(CompleteMultipartUploadCommand).callsFake(
    async (input: { Key: string; UploadId: string; MultipartUpload: { Parts: { PartNumber: number; ETag: string }[] } }) => {
      const stored = uploads.get(input.UploadId)!;
      const body = Buffer.concat(
        input.MultipartUpload.Parts.map((p) => {
          expect(p.ETag).toBe(md5(stored.get(p.PartNumber)!));
          return stored.get(p.PartNumber)!;
        }),
      );
      objects.set(input.Key, body);
      uploads.delete(input.UploadId);
      return { ETag: '"multipart-etag"', VersionId: 'v-mpu' };
    },
  );
  s3Mock.on(AbortMultipartUploadCommand).callsFake(async (input: { UploadId: string }) => {
    uploads.delete(input.UploadId);
    return {};
  });
});

/** Archives `data` with the real streamer and returns a finished retrieval job for it. */
async function archivedJob(data: Buffer) {
  const archived = await archive(data);
  return { ...archived, jobId: await finishedJob(archived.archiveId) };
}

async function finishedJob(archiveId: string): Promise<string> {
  const { jobId } = await g.glacier.send(
    new InitiateJobCommand({ accountId: '-', vaultName, jobParameters: { Type: 'archive-retrieval', ArchiveId: archiveId, Tier: 'Bulk' } }),
  );
  await g.emulator.completeJobNow(jobId!);
  return jobId!;
}

/** A three-range file (8 + 8 + 1 MiB and a bit), archived once; each test reads it through its own job. */
const big = testBytes(17 * MIB + 123, 40);
let bigArchive: { archiveId: string; treeHash: string; sha256: string };
beforeAll(async () => {
  bigArchive = await archive(big);
});
const bigJob = async () => ({ ...bigArchive, jobId: await finishedJob(bigArchive.archiveId) });

async function archive(data: Buffer) {
  const archived = await uploadToVault({
    glacier: g.glacier,
    vaultName,
    partSize: 4 * MIB,
    description: 'restore test',
    source: {
      size: data.length,
      read: async (start, end) => Readable.from([data.subarray(start, end + 1)]),
    },
  });
  if (archived.status !== 'complete' || !archived.archiveId) throw new Error('not archived');
  return { archiveId: archived.archiveId, treeHash: archived.treeHash, sha256: archived.sha256 };
}

const copy = (data: Buffer, job: { jobId: string; treeHash: string; sha256: string }, extra: Partial<CopyArgs> = {}) =>
  copyJobOutputToS3({
    glacier: g.glacier,
    vaultName,
    jobId: job.jobId,
    archiveSize: data.length,
    expectedTreeHash: job.treeHash,
    expectedSha256: job.sha256,
    s3,
    bucket: 'restored',
    key: 'runs/1/out.bam',
    ...extra,
  });

describe('copyJobOutputToS3', () => {
  it('writes a zero-byte file without a Glacier job (Glacier holds no empty archives)', async () => {
    const empty = sha256Hex(Buffer.alloc(0));
    const result = await copy(Buffer.alloc(0), { jobId: 'none', treeHash: empty, sha256: empty });
    expect(result).toEqual({ status: 'complete', size: 0, treeHash: empty, sha256: empty, versionId: 'v-put', etag: md5(Buffer.alloc(0)) });
    expect(objects.get('runs/1/out.bam')).toEqual(Buffer.alloc(0));
  });

  it.each([
    ['1 MiB', MIB],
    ['1 MiB + 1', MIB + 1],
  ])('copies a one-range file (%s) with PutObject', async (_name, size) => {
    const data = testBytes(size, size);
    const job = await archivedJob(data);
    const result = await copy(data, job);
    expect(result).toMatchObject({ status: 'complete', size, treeHash: treeHashOf(data).toString('hex'), sha256: sha256Hex(data), versionId: 'v-put' });
    expect(objects.get('runs/1/out.bam')!.equals(data)).toBe(true);
    expect(s3Mock).not.toHaveReceivedCommand(CreateMultipartUploadCommand);
  });

  it('copies a multi-range file through a multipart upload, checking every range', async () => {
    const data = big;
    const job = await bigJob();
    const progress: number[] = [];
    const result = await copy(data, job, { rangeSize: 8 * MIB, onProgress: async (p) => void progress.push(p.bytesDone) });
    expect(result).toEqual({ status: 'complete', size: data.length, treeHash: job.treeHash, sha256: job.sha256, versionId: 'v-mpu', etag: '"multipart-etag"' });
    expect(objects.get('runs/1/out.bam')!.equals(data)).toBe(true);
    expect(progress).toEqual([8 * MIB, 16 * MIB, data.length]);
    expect(s3Mock).toHaveReceivedCommandTimes(UploadPartCommand, 3);
  });

  it('throws TreeHashMismatch on a corrupted range and aborts the upload, never completing it', async () => {
    const data = big;
    const job = await bigJob();
    g.emulator.corruptJobOutput(job.jobId, 9 * MIB + 7);
    const error = await copy(data, job, { rangeSize: 8 * MIB }).catch((e: Error) => e);
    expect((error as Error).name).toBe('TreeHashMismatch');
    expect(s3Mock).toHaveReceivedCommandTimes(UploadPartCommand, 1);
    expect(s3Mock).toHaveReceivedCommandWith(AbortMultipartUploadCommand, { UploadId: `upload-${uploadCounter}` });
    expect(s3Mock).not.toHaveReceivedCommand(CompleteMultipartUploadCommand);
    expect(objects.size).toBe(0);
    expect(uploads.size).toBe(0);
  });

  it('never puts a corrupted one-range file', async () => {
    const data = testBytes(3 * MIB, 42);
    const job = await archivedJob(data);
    g.emulator.corruptJobOutput(job.jobId, 0);
    await expect(copy(data, job)).rejects.toMatchObject({ name: 'TreeHashMismatch' });
    expect(s3Mock).not.toHaveReceivedCommand(PutObjectCommand);
  });

  it('aborts when the whole file disagrees with the recorded tree hash or SHA-256', async () => {
    const data = big;
    const job = await bigJob();
    await expect(copy(data, { ...job, treeHash: treeHashOf(data.subarray(1)).toString('hex') }, { rangeSize: 8 * MIB })).rejects.toMatchObject({
      name: 'TreeHashMismatch',
    });
    await expect(copy(data, { ...job, sha256: sha256Hex(data.subarray(1)) }, { rangeSize: 8 * MIB })).rejects.toMatchObject({
      name: 'ChecksumMismatch',
    });
    expect(s3Mock).toHaveReceivedCommandTimes(AbortMultipartUploadCommand, 2);
    expect(s3Mock).not.toHaveReceivedCommand(CompleteMultipartUploadCommand);
    await expect(copy(data.subarray(0, MIB), { ...job, sha256: sha256Hex(data) })).rejects.toMatchObject({ name: 'TreeHashMismatch' });
  });

  it('stops before a deadline and resumes, re-sending only parts S3 does not hold intact', async () => {
    const data = testBytes(25 * MIB, 44);
    const job = await archivedJob(data);
    let clock = 0;
    const first = await copy(data, job, {
      rangeSize: 8 * MIB,
      deadline: 100,
      now: () => clock,
      onProgress: async (p) => {
        if (p.bytesDone === 16 * MIB) clock = 1_000;
      },
    });
    expect(first).toMatchObject({ status: 'incomplete', bytesDone: 16 * MIB });
    if (first.status !== 'incomplete') throw new Error('complete');
    // Damage part 2 as S3 holds it: the resumed copy must notice (ETag is not the MD5 of the range) and send it again.
    uploads.get(first.uploadId)!.set(2, Buffer.from('garbage'));
    s3Mock.resetHistory();

    const second = await copy(data, job, { rangeSize: 8 * MIB, resumeUploadId: first.uploadId });
    expect(second).toMatchObject({ status: 'complete', treeHash: job.treeHash, sha256: job.sha256 });
    expect(objects.get('runs/1/out.bam')!.equals(data)).toBe(true);
    const sent = s3Mock.commandCalls(UploadPartCommand).map((c) => c.args[0].input.PartNumber);
    expect(sent).toEqual([2, 3, 4]);
    expect(s3Mock).not.toHaveReceivedCommand(CreateMultipartUploadCommand);
  });

  it('refuses range sizes that are not a power-of-two MiB of at least 8 MiB', async () => {
    const job = { jobId: 'x', treeHash: 'x', sha256: 'x' };
    await expect(copy(testBytes(10), job, { rangeSize: 4 * MIB })).rejects.toThrow(RangeError);
    await expect(copy(testBytes(10), job, { rangeSize: 24 * MIB })).rejects.toThrow(RangeError);
  });

  it('leaves the S3 upload open when Glacier fails for other reasons (the job is not done yet)', async () => {
    const data = big;
    const archived = bigArchive;
    const { jobId } = await g.glacier.send(
      new InitiateJobCommand({ accountId: '-', vaultName, jobParameters: { Type: 'archive-retrieval', ArchiveId: archived.archiveId } }),
    );
    await expect(copy(data, { ...archived, jobId: jobId! }, { rangeSize: 8 * MIB })).rejects.toMatchObject({
      name: 'InvalidParameterValueException',
    });
    expect(s3Mock).not.toHaveReceivedCommand(AbortMultipartUploadCommand);
    expect(uploads.size).toBe(1);
  });
});
