// The archive streamer against the Glacier emulator over HTTP: sizes, multipart, resume, deadlines, memory bound.
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import {
  CreateVaultCommand,
  DescribeVaultCommand,
  GetJobOutputCommand,
  InitiateJobCommand,
  InitiateMultipartUploadCommand,
  ListPartsCommand,
  UploadMultipartPartCommand,
} from '@aws-sdk/client-glacier';
import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import { s3ByteSource, uploadToVault, type ByteSource, type UploadProgress } from '../../../functions/lib/glacier-upload';
import { TreeHash, treeHashOf } from '../../../functions/lib/tree-hash';
import { MIB, sha256Hex, startLocalGlacier, testBytes, testBytesAt, type LocalGlacier } from '../../local/glacier/helpers';

let g: LocalGlacier;
const vaultName = 'archive';

beforeAll(async () => {
  g = await startLocalGlacier();
  await g.glacier.send(new CreateVaultCommand({ accountId: '-', vaultName }));
});
afterAll(() => g.stop());

/** A source over a buffer, served in small chunks like an S3 body. */
function bufferSource(data: Buffer, chunkSize = 64 * 1024): ByteSource & { reads: [number, number][] } {
  const reads: [number, number][] = [];
  return {
    size: data.length,
    reads,
    async read(start, end) {
      reads.push([start, end]);
      const slice = data.subarray(start, end + 1);
      return (async function* () {
        for (let offset = 0; offset < slice.length; offset += chunkSize) yield slice.subarray(offset, offset + chunkSize);
      })();
    },
  };
}

/** Reads an archive back through a retrieval job. */
async function archiveBytes(archiveId: string): Promise<Buffer> {
  const { jobId } = await g.glacier.send(
    new InitiateJobCommand({ accountId: '-', vaultName, jobParameters: { Type: 'archive-retrieval', ArchiveId: archiveId } }),
  );
  await g.emulator.completeJobNow(jobId!);
  const { body } = await g.glacier.send(new GetJobOutputCommand({ accountId: '-', vaultName, jobId }));
  const chunks: Buffer[] = [];
  for await (const chunk of body as AsyncIterable<Uint8Array>) chunks.push(Buffer.from(chunk));
  return Buffer.concat(chunks);
}

const upload = (source: ByteSource, extra: Partial<Parameters<typeof uploadToVault>[0]> = {}) =>
  uploadToVault({ glacier: g.glacier, vaultName, source, partSize: MIB, description: 'test file', ...extra });

describe('uploadToVault', () => {
  it('records a zero-byte file without uploading anything, since Glacier refuses empty archives', async () => {
    const before = await g.glacier.send(new DescribeVaultCommand({ accountId: '-', vaultName }));
    const result = await upload(bufferSource(Buffer.alloc(0)));
    const empty = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';
    expect(result).toEqual({ status: 'complete', archiveId: null, treeHash: empty, sha256: empty, size: 0, partSize: MIB });
    const after = await g.glacier.send(new DescribeVaultCommand({ accountId: '-', vaultName }));
    expect(after.NumberOfArchives).toBe(before.NumberOfArchives);
  });

  it.each([
    ['1 byte', 1, 1],
    ['exactly 1 MiB (one request)', MIB, 1],
    ['1 MiB + 1 (two parts)', MIB + 1, 2],
    ['5.5 MiB in 1 MiB parts', 5.5 * MIB, 6],
  ])('uploads %s and reports its tree hash and SHA-256', async (_name, size, expectedReads) => {
    const data = testBytes(size, size);
    const source = bufferSource(data);
    const progress: UploadProgress[] = [];
    const result = await upload(source, { concurrency: 3, onProgress: async (p) => void progress.push(p) });
    expect(result).toMatchObject({ status: 'complete', treeHash: treeHashOf(data).toString('hex'), sha256: sha256Hex(data), size, partSize: MIB });
    expect(source.reads).toHaveLength(expectedReads);
    if (result.status !== 'complete') throw new Error('incomplete');
    expect((await archiveBytes(result.archiveId!)).equals(data)).toBe(true);
    if (expectedReads > 1) {
      expect(progress).toHaveLength(expectedReads);
      expect(progress[progress.length - 1]).toMatchObject({ partsDone: expectedReads, bytesDone: size });
    }
  });

  it('stops before a deadline and resumes from ListParts without sending parts again', async () => {
    const data = testBytes(7 * MIB + 100, 21);
    let clock = 1_000;
    const first = await upload(bufferSource(data), {
      partSize: MIB,
      deadline: 10_000,
      now: () => clock,
      // The third finished part pushes the clock past the deadline.
      onProgress: async (p) => {
        if (p.partsDone === 3) clock = 20_000;
      },
      concurrency: 1,
    });
    expect(first).toMatchObject({ status: 'incomplete', partSize: MIB, partsDone: 3, bytesDone: 3 * MIB });
    if (first.status !== 'incomplete') throw new Error('complete');
    const listed = await g.glacier.send(new ListPartsCommand({ accountId: '-', vaultName, uploadId: first.uploadId }));
    expect(listed.Parts).toHaveLength(3);

    const puts: string[] = [];
    const handle = g.emulator.handle.bind(g.emulator);
    g.emulator.handle = async (req, res) => {
      if (req.method === 'PUT') puts.push(String(req.headers['content-range']));
      return handle(req, res);
    };
    try {
      const source = bufferSource(data);
      const second = await upload(source, { resumeUploadId: first.uploadId });
      expect(second).toMatchObject({ status: 'complete', treeHash: treeHashOf(data).toString('hex'), sha256: sha256Hex(data) });
      expect(puts).toEqual([3, 4, 5, 6, 7].map((i) => `bytes ${i * MIB}-${Math.min((i + 1) * MIB, data.length) - 1}/*`));
      expect(source.reads).toHaveLength(8); // every part is read: the three already there to rebuild the SHA-256
      if (second.status !== 'complete') throw new Error('incomplete');
      expect((await archiveBytes(second.archiveId!)).equals(data)).toBe(true);
    } finally {
      g.emulator.handle = handle;
    }
  });

  it('fails loudly when a part already in the upload disagrees with the source', async () => {
    const data = testBytes(3 * MIB, 31);
    const { uploadId } = await g.glacier.send(new InitiateMultipartUploadCommand({ accountId: '-', vaultName, partSize: String(MIB) }));
    const stale = testBytes(MIB, 32);
    await g.glacier.send(new UploadMultipartPartCommand({ accountId: '-', vaultName, uploadId, range: `bytes ${MIB}-${2 * MIB - 1}/*`, body: stale }));
    const error = await upload(bufferSource(data), { resumeUploadId: uploadId }).catch((e: Error) => e);
    expect(error).toBeInstanceOf(Error);
    expect((error as Error).name).toBe('TreeHashMismatch');
    expect((error as Error).message).toContain(treeHashOf(stale).toString('hex'));
    // Nothing was completed: the upload is still open, stale part and all, for an operator to inspect.
    const listed = await g.glacier.send(new ListPartsCommand({ accountId: '-', vaultName, uploadId }));
    expect(listed.Parts).toContainEqual({ RangeInBytes: `${MIB}-${2 * MIB - 1}`, SHA256TreeHash: treeHashOf(stale).toString('hex') });
  });

  it('stops and rejects when progress cannot be recorded', async () => {
    const source = bufferSource(testBytes(4 * MIB, 33));
    const failing = upload(source, { onProgress: async () => Promise.reject(new Error('index unavailable')) });
    await expect(failing).rejects.toThrow('index unavailable');
    expect(source.reads.length).toBeLessThan(4);
  });

  it('refuses a resume whose part size differs, bad part sizes and files needing over 10,000 parts', async () => {
    const { uploadId } = await g.glacier.send(new InitiateMultipartUploadCommand({ accountId: '-', vaultName, partSize: String(2 * MIB) }));
    await expect(upload(bufferSource(testBytes(3 * MIB)), { resumeUploadId: uploadId })).rejects.toThrow(/parts of 2097152 bytes/);
    await expect(upload(bufferSource(testBytes(10)), { partSize: 3 * MIB })).rejects.toThrow(RangeError);
    const huge: ByteSource = { size: 10_001 * MIB, read: () => Promise.reject(new Error('not read')) };
    await expect(upload(huge)).rejects.toThrow(/more than 10000 parts/);
  });

  it('streams 64 MiB in 1 MiB parts holding at most `concurrency` parts', async () => {
    const size = 64 * MIB;
    const concurrency = 2;
    let handedOut = 0;
    // Generated on demand, so the test itself holds no copy of the file.
    const source: ByteSource = {
      size,
      async read(start, end) {
        return (async function* () {
          for (let offset = start; offset <= end; offset += 256 * 1024) {
            const chunk = testBytesAt(offset, Math.min(256 * 1024, end + 1 - offset), 64);
            handedOut += chunk.length;
            yield chunk;
          }
        })();
      },
    };
    let acknowledged = 0;
    let inFlight = 0;
    let maxInFlight = 0;
    let maxUnacknowledged = 0;
    const handle = g.emulator.handle.bind(g.emulator);
    g.emulator.handle = async (req, res) => {
      if (req.method === 'PUT') {
        inFlight += 1;
        maxInFlight = Math.max(maxInFlight, inFlight);
        maxUnacknowledged = Math.max(maxUnacknowledged, handedOut - acknowledged);
        res.on('finish', () => {
          inFlight -= 1;
          acknowledged += Number(req.headers['content-length']);
        });
      }
      return handle(req, res);
    };
    try {
      const result = await upload(source, { concurrency });
      const expectedTree = new TreeHash();
      const expectedSha = createHash('sha256');
      for (let offset = 0; offset < size; offset += 8 * MIB) {
        const chunk = testBytesAt(offset, 8 * MIB, 64);
        expectedTree.update(chunk);
        expectedSha.update(chunk);
      }
      expect(result).toMatchObject({ status: 'complete', treeHash: expectedTree.digestHex(), sha256: expectedSha.digest('hex'), size });
      expect(maxInFlight).toBeLessThanOrEqual(concurrency);
      // Bytes read from the source but not yet stored by Glacier: never more than `concurrency` parts.
      expect(maxUnacknowledged).toBeLessThanOrEqual(concurrency * MIB);
    } finally {
      g.emulator.handle = handle;
    }
  });
});

describe('s3ByteSource', () => {
  it('reads inclusive ranges of a pinned object version', async () => {
    const s3 = mockClient(S3Client);
    s3.on(GetObjectCommand).callsFake(async (input: { Range: string }) => {
      const [, start, end] = /bytes=(\d+)-(\d+)/.exec(input.Range)!.map(Number);
      return { Body: Readable.from([testBytes(100).subarray(start, end + 1)]), ContentLength: end - start + 1 };
    });
    const source = s3ByteSource(new S3Client({ region: 'us-east-1' }), 'bucket', 'runs/1/out.bam', 100, { versionId: 'v1' });
    const chunks: Buffer[] = [];
    for await (const chunk of await source.read(10, 19)) chunks.push(Buffer.from(chunk));
    expect(Buffer.concat(chunks).equals(testBytes(100).subarray(10, 20))).toBe(true);
    expect(s3).toHaveReceivedCommandWith(GetObjectCommand, { Bucket: 'bucket', Key: 'runs/1/out.bam', VersionId: 'v1', Range: 'bytes=10-19' });
    s3.reset();
    s3.on(GetObjectCommand).resolves({ Body: Readable.from([Buffer.alloc(5)]) as never, ContentLength: 5 });
    await expect(source.read(0, 9)).rejects.toThrow(/changed/);
    s3.restore();
  });
});
