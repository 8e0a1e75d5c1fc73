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
import { copyJobOutputToS3, type CopyArgs, type CopyCheckpoint, type CopyProgress } from '../../../../functions/lib/glacier/job-output-copy';
import { uploadToVault } from '../../../../functions/lib/glacier/vault-upload';
import { treeHashOf } from '../../../../functions/lib/glacier/tree-hash';
import { MIB, sha256Hex, startLocalGlacier, testBytes, type LocalGlacier } from '../../../local/glacier/helpers';
import { useSha256Checkpoints } from '../../../support/sha256-checkpoints';
import { crc64nvmeOf } from '../../../support/crc64nvme';
import { jobOutputRangeSize } from '../../../../functions/lib/contract';

useSha256Checkpoints();

let g: LocalGlacier;
const vaultName = 'restore';
const s3Mock = mockClient(S3Client);
const s3 = new S3Client({ region: 'us-east-1' });

/** What the mocked bucket holds: finished objects and the parts of open uploads. */
let objects: Map<string, Buffer>;
let uploads: Map<string, Map<number, Buffer>>;
/** Each open upload's checksum settings, as CreateMultipartUpload asked for them. */
let uploadChecksums: Map<string, { algorithm?: string; type?: string }>;
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
  uploadChecksums = new Map();
  s3Mock.reset();
  s3Mock.on(PutObjectCommand).callsFake((input: { Key: string; Body: Buffer; ChecksumSHA256: string }) => {
    expect(input.ChecksumSHA256).toBe(createHash('sha256').update(input.Body).digest('base64'));
    objects.set(input.Key, Buffer.from(input.Body));
    return Promise.resolve({ ETag: md5(input.Body), VersionId: 'v-put' });
  });
  s3Mock.on(CreateMultipartUploadCommand).callsFake((input: { ChecksumAlgorithm?: string; ChecksumType?: string }) => {
    const id = `upload-${++uploadCounter}`;
    uploads.set(id, new Map());
    uploadChecksums.set(id, { algorithm: input.ChecksumAlgorithm, type: input.ChecksumType });
    return Promise.resolve({ UploadId: id, ChecksumAlgorithm: input.ChecksumAlgorithm, ChecksumType: input.ChecksumType });
  });
  s3Mock.on(UploadPartCommand).callsFake(async (input: { UploadId: string; PartNumber: number; Body: Buffer; ChecksumAlgorithm?: string }) => {
    // S3: a part's checksum algorithm must be its upload's (the SDK computes the part's checksum for the algorithm named).
    expect(input.ChecksumAlgorithm).toBe(uploadChecksums.get(input.UploadId)?.algorithm);
    uploads.get(input.UploadId)!.set(input.PartNumber, Buffer.from(input.Body));
    return { ETag: md5(input.Body), ChecksumCRC64NVME: await crc64nvmeOf(input.Body) };
  });
  s3Mock.on(ListPartsCommand).callsFake(async (input: { UploadId: string; PartNumberMarker?: string }) => {
    // One part per page, to exercise pagination.
    const parts = [...uploads.get(input.UploadId)!.entries()].sort(([a], [b]) => a - b).filter(([n]) => n > Number(input.PartNumberMarker ?? 0));
    const [first] = parts;
    return Promise.resolve(
      first
        ? {
            Parts: [{ PartNumber: first[0], ETag: md5(first[1]), Size: first[1].length, ChecksumCRC64NVME: await crc64nvmeOf(first[1]) }],
            IsTruncated: parts.length > 1,
            NextPartNumberMarker: String(first[0]),
          }
        : { Parts: [], IsTruncated: false },
    );
  });
  s3Mock
    .on(CompleteMultipartUploadCommand)
    .callsFake(
      async (input: {
        Key: string;
        UploadId: string;
        ChecksumType?: string;
        MultipartUpload: { Parts: { PartNumber: number; ETag: string; ChecksumCRC64NVME?: string }[] };
      }) => {
        const stored = uploads.get(input.UploadId)!;
        // S3 answers BadDigest when the checksum type differs from the upload's, or a part's checksum from what it received.
        expect(input.ChecksumType).toBe(uploadChecksums.get(input.UploadId)?.type);
        for (const p of input.MultipartUpload.Parts) expect(p.ChecksumCRC64NVME).toBe(await crc64nvmeOf(stored.get(p.PartNumber)!));
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
  s3Mock.on(AbortMultipartUploadCommand).callsFake((input: { UploadId: string }) => {
    uploads.delete(input.UploadId);
    return Promise.resolve({});
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
      read: (start, end) => Promise.resolve(Readable.from([data.subarray(start, end + 1)])),
    },
  });
  if (archived.status !== 'complete' || !archived.archiveId) throw new Error('not archived');
  return { archiveId: archived.archiveId, treeHash: archived.treeHash, sha256: archived.sha256 };
}

const copyArgs = (job: { jobId: string; treeHash: string; sha256: string }): CopyArgs => ({
  glacier: g.glacier,
  vaultName,
  jobId: job.jobId,
  archiveSize: 0,
  expectedTreeHash: job.treeHash,
  expectedSha256: job.sha256,
  s3,
  bucket: 'restored',
  key: 'runs/1/out.bam',
});
const copy = (data: Buffer, job: { jobId: string; treeHash: string; sha256: string }, extra: Partial<CopyArgs> = {}) =>
  copyJobOutputToS3({ ...copyArgs(job), archiveSize: data.length, ...extra });

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
    const result = await copy(data, job, {
      rangeSize: 8 * MIB,
      onProgress: (p) => {
        progress.push(p.bytesDone);
        return Promise.resolve();
      },
    });
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
      onProgress: (p) => {
        if (p.bytesDone === 16 * MIB) clock = 1_000;
        return Promise.resolve();
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

  describe('resuming from a checkpoint', () => {
    /** 5 whole 8 MiB ranges and a short one: the tree-hash state is more than one subtree at most checkpoints. */
    const data = testBytes(41 * MIB + 5, 45);
    let archived: { archiveId: string; treeHash: string; sha256: string };
    beforeAll(async () => {
      archived = await archive(data);
    });

    /** Ranges fetched from Glacier while `run` runs, as the first byte of each, in MiB. */
    async function countingFetches<T>(run: () => Promise<T>): Promise<{ result: T; fetched: number[] }> {
      const fetched: number[] = [];
      const handle = g.emulator.handle.bind(g.emulator);
      g.emulator.handle = async (req, res) => {
        const range = /^bytes=(\d+)-/.exec(String(req.headers.range ?? ''));
        if (req.method === 'GET' && range && req.url?.includes('/output')) fetched.push(Number(range[1]) / MIB);
        return handle(req, res);
      };
      try {
        return { result: await run(), fetched };
      } finally {
        g.emulator.handle = handle;
      }
    }

    /** A copy the deadline stops after `k` ranges, with every progress report it made. */
    async function stoppedAfter(job: { jobId: string; treeHash: string; sha256: string }, k: number) {
      let clock = 0;
      const progress: CopyProgress[] = [];
      const first = await copy(data, job, {
        rangeSize: 8 * MIB,
        deadline: 100,
        now: () => clock,
        onProgress: (p) => {
          progress.push(p);
          if (p.bytesDone === k * 8 * MIB) clock = 1_000;
          return Promise.resolve();
        },
      });
      if (first.status !== 'incomplete') throw new Error('complete');
      const checkpoint: CopyCheckpoint = { state: first.sha256State!, bytes: first.sha256Bytes!, treeHashState: first.treeHashState! };
      return { first, progress, checkpoint };
    }

    it('reports the hash states with each whole range, and a resumed copy fetches none of the ranges they cover', async () => {
      const job = { ...archived, jobId: await finishedJob(archived.archiveId) };
      const { first, progress, checkpoint } = await stoppedAfter(job, 3);
      expect(first).toMatchObject({ status: 'incomplete', bytesDone: 24 * MIB, sha256Bytes: 24 * MIB });
      expect(progress.map((p) => p.sha256Bytes)).toEqual([8 * MIB, 16 * MIB, 24 * MIB]);
      // 24 MiB from the start is two complete subtrees of the archive's tree: 16 MiB and 8 MiB.
      expect(first.treeHashState).toBe(treeHashOf(data.subarray(0, 16 * MIB)).toString('hex') + treeHashOf(data.subarray(16 * MIB, 24 * MIB)).toString('hex'));
      s3Mock.resetHistory();

      const resumedProgress: CopyProgress[] = [];
      const { result, fetched } = await countingFetches(() =>
        copy(data, job, {
          rangeSize: 8 * MIB,
          resumeUploadId: first.uploadId,
          resumeSha256: checkpoint,
          onProgress: (p) => {
            resumedProgress.push(p);
            return Promise.resolve();
          },
        }),
      );
      expect(result).toMatchObject({ status: 'complete', size: data.length, treeHash: job.treeHash, sha256: job.sha256, versionId: 'v-mpu' });
      expect(fetched).toEqual([24, 32, 40]);
      expect(s3Mock.commandCalls(UploadPartCommand).map((c) => c.args[0].input.PartNumber)).toEqual([4, 5, 6]);
      expect(s3Mock.commandCalls(CompleteMultipartUploadCommand)[0].args[0].input.MultipartUpload!.Parts!.map((p) => p.PartNumber)).toEqual([1, 2, 3, 4, 5, 6]);
      expect(objects.get('runs/1/out.bam')!.equals(data)).toBe(true);
      // A short last range is never covered: the checkpoint stays whole ranges.
      expect(resumedProgress.map((p) => [p.bytesDone, p.sha256Bytes])).toEqual([
        [32 * MIB, 32 * MIB],
        [40 * MIB, 40 * MIB],
        [data.length, 40 * MIB],
      ]);
    });

    it('resumes from a checkpoint more than once, fetching every range exactly once in all', async () => {
      const job = { ...archived, jobId: await finishedJob(archived.archiveId) };
      const { first, checkpoint } = await stoppedAfter(job, 1);
      let clock = 0;
      const { result: middle, fetched: middleFetched } = await countingFetches(() =>
        copy(data, job, {
          rangeSize: 8 * MIB,
          resumeUploadId: first.uploadId,
          resumeSha256: checkpoint,
          deadline: 100,
          now: () => clock,
          onProgress: (p) => {
            if (p.bytesDone === 32 * MIB) clock = 1_000;
            return Promise.resolve();
          },
        }),
      );
      expect(middle).toMatchObject({ status: 'incomplete', bytesDone: 32 * MIB, sha256Bytes: 32 * MIB });
      if (middle.status !== 'incomplete') throw new Error('complete');
      const { result: last, fetched: lastFetched } = await countingFetches(() =>
        copy(data, job, {
          rangeSize: 8 * MIB,
          resumeUploadId: middle.uploadId,
          resumeSha256: { state: middle.sha256State!, bytes: middle.sha256Bytes!, treeHashState: middle.treeHashState! },
        }),
      );
      expect(last).toMatchObject({ status: 'complete', treeHash: job.treeHash, sha256: job.sha256 });
      expect([...middleFetched, ...lastFetched]).toEqual([8, 16, 24, 32, 40]);
      expect(objects.get('runs/1/out.bam')!.equals(data)).toBe(true);
    });

    it.each([
      ['a SHA-256 state that is not a hash-wasm state', (c: CopyCheckpoint) => ({ ...c, state: Buffer.from('not a state').toString('base64') })],
      ['a tree-hash state of the wrong shape', (c: CopyCheckpoint) => ({ ...c, treeHashState: c.treeHashState.slice(64) })],
      ['a tree-hash state that is not hex', (c: CopyCheckpoint) => ({ ...c, treeHashState: 'z'.repeat(c.treeHashState.length) })],
      ['bytes that are not a whole number of ranges', (c: CopyCheckpoint) => ({ ...c, bytes: c.bytes - MIB })],
      ['bytes covering ranges S3 does not hold', (c: CopyCheckpoint) => ({ ...c, bytes: 32 * MIB })],
      ['no bytes', (c: CopyCheckpoint) => ({ ...c, bytes: 0 })],
    ])('falls back to fetching every range again given %s, and still verifies the whole file', async (_name, spoil) => {
      const job = { ...archived, jobId: await finishedJob(archived.archiveId) };
      const { first, checkpoint } = await stoppedAfter(job, 3);
      s3Mock.resetHistory();
      const { result, fetched } = await countingFetches(() =>
        copy(data, job, { rangeSize: 8 * MIB, resumeUploadId: first.uploadId, resumeSha256: spoil(checkpoint) }),
      );
      expect(result).toMatchObject({ status: 'complete', treeHash: job.treeHash, sha256: job.sha256 });
      expect(fetched).toEqual([0, 8, 16, 24, 32, 40]);
      // The ranges already in S3 are checked against their ETags and kept.
      expect(s3Mock.commandCalls(UploadPartCommand).map((c) => c.args[0].input.PartNumber)).toEqual([4, 5, 6]);
      expect(objects.get('runs/1/out.bam')!.equals(data)).toBe(true);
    });

    it.each([
      ['missing', (parts: Map<number, Buffer>) => parts.delete(2)],
      ['of another size', (parts: Map<number, Buffer>) => parts.set(2, Buffer.from('garbage'))],
    ])('falls back to fetching every range again when a covered part is %s in S3', async (_name, damage) => {
      const job = { ...archived, jobId: await finishedJob(archived.archiveId) };
      const { first, checkpoint } = await stoppedAfter(job, 3);
      damage(uploads.get(first.uploadId)!);
      s3Mock.resetHistory();
      const { result, fetched } = await countingFetches(() =>
        copy(data, job, { rangeSize: 8 * MIB, resumeUploadId: first.uploadId, resumeSha256: checkpoint }),
      );
      expect(result).toMatchObject({ status: 'complete', treeHash: job.treeHash, sha256: job.sha256 });
      expect(fetched).toEqual([0, 8, 16, 24, 32, 40]);
      expect(s3Mock.commandCalls(UploadPartCommand).map((c) => c.args[0].input.PartNumber)).toEqual([2, 4, 5, 6]);
      expect(objects.get('runs/1/out.bam')!.equals(data)).toBe(true);
    });

    it('fails the whole-file checks, never completing, when a well-formed checkpoint holds the wrong hashes', async () => {
      const job = { ...archived, jobId: await finishedJob(archived.archiveId) };
      const a = await stoppedAfter(job, 3);
      const wrongTree = { ...a.checkpoint, treeHashState: a.checkpoint.treeHashState.replace(/^./, (c) => (c === '0' ? '1' : '0')) };
      await expect(copy(data, job, { rangeSize: 8 * MIB, resumeUploadId: a.first.uploadId, resumeSha256: wrongTree })).rejects.toMatchObject({
        name: 'TreeHashMismatch',
      });
      expect(s3Mock).toHaveReceivedCommandWith(AbortMultipartUploadCommand, { UploadId: a.first.uploadId });
      // The SHA-256 state after two ranges, claimed for three: the tree hash passes, the SHA-256 does not.
      const b = await stoppedAfter(job, 3);
      const wrongSha = { ...b.checkpoint, state: b.progress[1].sha256State! };
      await expect(copy(data, job, { rangeSize: 8 * MIB, resumeUploadId: b.first.uploadId, resumeSha256: wrongSha })).rejects.toMatchObject({
        name: 'ChecksumMismatch',
      });
      expect(s3Mock).toHaveReceivedCommandWith(AbortMultipartUploadCommand, { UploadId: b.first.uploadId });
      expect(s3Mock).not.toHaveReceivedCommand(CompleteMultipartUploadCommand);
      expect(objects.size).toBe(0);
    });
  });

  it('refuses range sizes that are not a power-of-two MiB of at least 8 MiB', async () => {
    const job = { jobId: 'x', treeHash: 'x', sha256: 'x' };
    await expect(copy(testBytes(10), job, { rangeSize: 4 * MIB })).rejects.toThrow(RangeError);
    await expect(copy(testBytes(10), job, { rangeSize: 24 * MIB })).rejects.toThrow(RangeError);
  });

  it('refuses ranges over 4 GiB, and ranges that would need more than 10,000 S3 parts, before any request', async () => {
    const job = { jobId: 'x', treeHash: 'x', sha256: 'x' };
    await expect(copy(testBytes(10), job, { rangeSize: 8192 * MIB })).rejects.toThrow(/from 8 MiB to 4 GiB/);
    // A 1 TiB archive in 64 MiB ranges: 16,384 parts.
    await expect(copyJobOutputToS3({ ...copyArgs(job), archiveSize: 1024 * 1024 * MIB, rangeSize: 64 * MIB })).rejects.toThrow(/more than 10000 S3 parts/);
    expect(s3Mock.calls()).toHaveLength(0);
  });

  it('asks S3 for a full-object CRC64NVME: on the upload, on each part, and on completing it', async () => {
    const job = await bigJob();
    await copy(big, job, { rangeSize: 8 * MIB });
    expect(s3Mock).toHaveReceivedCommandWith(CreateMultipartUploadCommand, { ChecksumAlgorithm: 'CRC64NVME', ChecksumType: 'FULL_OBJECT' });
    for (const call of s3Mock.commandCalls(UploadPartCommand)) expect(call.args[0].input.ChecksumAlgorithm).toBe('CRC64NVME');
    const [complete] = s3Mock.commandCalls(CompleteMultipartUploadCommand);
    expect(complete.args[0].input.ChecksumType).toBe('FULL_OBJECT');
    expect(complete.args[0].input.MultipartUpload!.Parts!.map((p) => typeof p.ChecksumCRC64NVME)).toEqual(['string', 'string', 'string']);
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

describe('jobOutputRangeSize (each range one S3 part: at most 10,000 of them)', () => {
  const GIB = 1024 * MIB;
  it('is 64 MiB up to 10,000 × 64 MiB (625 GiB)', () => {
    expect(jobOutputRangeSize(1)).toBe(64 * MIB);
    expect(jobOutputRangeSize(10_000 * 64 * MIB)).toBe(64 * MIB);
  });

  it('doubles beyond it, so the 640 GiB that 64 MiB ranges once capped is no ceiling', () => {
    expect(jobOutputRangeSize(10_000 * 64 * MIB + 1)).toBe(128 * MIB);
    expect(jobOutputRangeSize(640 * GIB)).toBe(128 * MIB);
    expect(jobOutputRangeSize(10 * 1024 * GIB)).toBe(2 * GIB);
  });

  it('fits the largest archive a vault takes (10,000 × 4 GiB) in 4 GiB ranges, below the 5 GiB parts S3 takes', () => {
    expect(jobOutputRangeSize(10_000 * 4 * GIB)).toBe(4 * GIB);
  });

  it('keeps every archive size within 10,000 power-of-two MiB ranges', () => {
    for (let size = 1; size <= 10_000 * 4 * GIB; size = Math.ceil(size * 1.7)) {
      const range = jobOutputRangeSize(size);
      expect(Math.ceil(size / range)).toBeLessThanOrEqual(10_000);
      expect(Math.log2(range / MIB) % 1).toBe(0);
    }
  });
});
