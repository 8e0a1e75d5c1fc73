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
import { loadFileSha256, sha256Checkpoints } from '../../../../functions/lib/transfer/file-sha256';
import { uploadToVault, type UploadProgress } from '../../../../functions/lib/glacier/vault-upload';
import { s3ByteSource, type ByteSource } from '../../../../functions/lib/s3/byte-source';
import { GlacierError, sendError } from '../../../../local/glacier/errors';
import { TreeHash, treeHashOf } from '../../../../functions/lib/glacier/tree-hash';
import { MIB, sha256Hex, startLocalGlacier, testBytes, testBytesAt, type LocalGlacier } from '../../../local/glacier/helpers';
import { useSha256Checkpoints } from '../../../support/sha256-checkpoints';

useSha256Checkpoints();

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
    read(start, end) {
      reads.push([start, end]);
      const slice = data.subarray(start, end + 1);
      return Promise.resolve(
        // eslint-disable-next-line @typescript-eslint/require-await -- adapts an in-memory buffer to the AsyncIterable a ByteSource returns: nothing to await
        (async function* () {
          for (let offset = 0; offset < slice.length; offset += chunkSize) yield slice.subarray(offset, offset + chunkSize);
        })(),
      );
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

/** Counts the PUTs (parts sent) the emulator serves while `run` runs. */
async function countingPuts<T>(run: () => Promise<T>): Promise<{ result: T; puts: string[] }> {
  const puts: string[] = [];
  const handle = g.emulator.handle.bind(g.emulator);
  g.emulator.handle = async (req, res) => {
    if (req.method === 'PUT') puts.push(String(req.headers['content-range']));
    return handle(req, res);
  };
  try {
    return { result: await run(), puts };
  } finally {
    g.emulator.handle = handle;
  }
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
    const result = await upload(source, {
      concurrency: 3,
      onProgress: (p) => {
        progress.push(p);
        return Promise.resolve();
      },
    });
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
      onProgress: (p) => {
        if (p.partsDone === 3) clock = 20_000;
        return Promise.resolve();
      },
      concurrency: 1,
    });
    expect(first).toMatchObject({ status: 'incomplete', partSize: MIB, partsDone: 3, bytesDone: 3 * MIB });
    if (first.status !== 'incomplete') throw new Error('complete');
    const listed = await g.glacier.send(new ListPartsCommand({ accountId: '-', vaultName, uploadId: first.uploadId }));
    expect(listed.Parts).toHaveLength(3);

    const source = bufferSource(data);
    const { result: second, puts } = await countingPuts(() => upload(source, { resumeUploadId: first.uploadId }));
    expect(second).toMatchObject({ status: 'complete', treeHash: treeHashOf(data).toString('hex'), sha256: sha256Hex(data) });
    expect(puts).toEqual([3, 4, 5, 6, 7].map((i) => `bytes ${i * MIB}-${Math.min((i + 1) * MIB, data.length) - 1}/*`));
    expect(source.reads).toHaveLength(8); // no checkpoint given: the three parts already there are read to rebuild the SHA-256
    if (second.status !== 'complete') throw new Error('incomplete');
    expect((await archiveBytes(second.archiveId!)).equals(data)).toBe(true);
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
      read(start, end) {
        return Promise.resolve(
          // eslint-disable-next-line @typescript-eslint/require-await -- generates the bytes on demand as the AsyncIterable a ByteSource returns: nothing to await
          (async function* () {
            for (let offset = start; offset <= end; offset += 256 * 1024) {
              const chunk = testBytesAt(offset, Math.min(256 * 1024, end + 1 - offset), 64);
              handedOut += chunk.length;
              yield chunk;
            }
          })(),
        );
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

describe('uploadToVault with a SHA-256 checkpoint', () => {
  /** Parts of `data` the source was asked for, by part index (1 MiB parts). */
  const partsRead = (source: { reads: [number, number][] }) => source.reads.map(([start]) => start / MIB);

  /** A 7.5 MiB file uploaded until the deadline stops it after `k` parts (one part at a time, so in order). */
  async function stoppedAfter(data: Buffer, k: number) {
    let clock = 1_000;
    const progress: UploadProgress[] = [];
    const first = await upload(bufferSource(data), {
      deadline: 10_000,
      now: () => clock,
      concurrency: 1,
      onProgress: (p) => {
        progress.push(p);
        if (p.partsDone === k) clock = 20_000;
        return Promise.resolve();
      },
    });
    if (first.status !== 'incomplete') throw new Error('complete');
    return { first, progress };
  }

  it('reports the SHA-256 state with each part, and a resumed call reads none of the parts it covers', async () => {
    const data = testBytes(7.5 * MIB, 51);
    const { first, progress } = await stoppedAfter(data, 3);
    expect(first).toMatchObject({ status: 'incomplete', partsDone: 3, bytesDone: 3 * MIB, sha256Bytes: 3 * MIB, sha256State: expect.any(String) as string });
    expect(progress.map((p) => p.sha256Bytes)).toEqual([MIB, 2 * MIB, 3 * MIB]);
    expect(progress[2].sha256State).toBe(first.sha256State);

    const source = bufferSource(data);
    const { result: second, puts } = await countingPuts(() =>
      upload(source, { resumeUploadId: first.uploadId, resumeSha256: { state: first.sha256State!, bytes: first.sha256Bytes! } }),
    );
    expect(second).toMatchObject({ status: 'complete', treeHash: treeHashOf(data).toString('hex'), sha256: sha256Hex(data), size: data.length });
    expect(partsRead(source)).toEqual([3, 4, 5, 6, 7]);
    expect(puts).toHaveLength(5);
    if (second.status !== 'complete') throw new Error('incomplete');
    expect((await archiveBytes(second.archiveId!)).equals(data)).toBe(true);
  });

  it('resumes from a checkpoint more than once, reading every byte of the file exactly once in all', async () => {
    const data = testBytes(6 * MIB, 52);
    const { first } = await stoppedAfter(data, 2);
    let clock = 1_000;
    const middleSource = bufferSource(data);
    const middle = await upload(middleSource, {
      resumeUploadId: first.uploadId,
      resumeSha256: { state: first.sha256State!, bytes: first.sha256Bytes! },
      deadline: 10_000,
      now: () => clock,
      concurrency: 1,
      onProgress: (p) => {
        if (p.partsDone === 4) clock = 20_000;
        return Promise.resolve();
      },
    });
    expect(middle).toMatchObject({ status: 'incomplete', partsDone: 4, sha256Bytes: 4 * MIB });
    if (middle.status !== 'incomplete') throw new Error('complete');
    const lastSource = bufferSource(data);
    const last = await upload(lastSource, { resumeUploadId: middle.uploadId, resumeSha256: { state: middle.sha256State!, bytes: middle.sha256Bytes! } });
    expect(last).toMatchObject({ status: 'complete', sha256: sha256Hex(data), treeHash: treeHashOf(data).toString('hex') });
    expect([...partsRead(middleSource), ...partsRead(lastSource)]).toEqual([2, 3, 4, 5]);
  });

  it('completes without reading anything when the checkpoint covers the whole file', async () => {
    const data = testBytes(3 * MIB, 53);
    // Every part goes in, then completing the upload fails: the checkpoint covers the whole file.
    const handle = g.emulator.handle.bind(g.emulator);
    g.emulator.handle = async (req, res) => {
      if (req.method === 'POST' && req.headers['x-amz-archive-size'] !== undefined) {
        req.resume();
        sendError(res, new GlacierError('InvalidParameterValueException', 'refused by the test'), 'test');
        return;
      }
      return handle(req, res);
    };
    const progress: UploadProgress[] = [];
    try {
      await expect(
        upload(bufferSource(data), {
          onProgress: (p) => {
            progress.push(p);
            return Promise.resolve();
          },
        }),
      ).rejects.toMatchObject({
        name: 'InvalidParameterValueException',
      });
    } finally {
      g.emulator.handle = handle;
    }
    const last = progress[progress.length - 1];
    expect(last).toMatchObject({ partsDone: 3, sha256Bytes: 3 * MIB });
    const source = bufferSource(data);
    const second = await upload(source, { resumeUploadId: last.uploadId, resumeSha256: { state: last.sha256State!, bytes: last.sha256Bytes! } });
    expect(second).toMatchObject({ status: 'complete', sha256: sha256Hex(data), treeHash: treeHashOf(data).toString('hex') });
    expect(source.reads).toEqual([]);
  });

  it('never covers a short last part: the checkpoint stays whole parts', async () => {
    const data = testBytes(2.5 * MIB, 58);
    const progress: UploadProgress[] = [];
    const result = await upload(bufferSource(data), {
      concurrency: 1,
      onProgress: (p) => {
        progress.push(p);
        return Promise.resolve();
      },
    });
    expect(result).toMatchObject({ status: 'complete', sha256: sha256Hex(data) });
    expect(progress.map((p) => [p.partsDone, p.sha256Bytes])).toEqual([
      [1, MIB],
      [2, 2 * MIB],
      [3, 2 * MIB],
    ]);
  });

  it.each([
    ['a state that is not a hash-wasm state', (c: { state: string; bytes: number }) => ({ ...c, state: Buffer.from('not a state').toString('base64') })],
    ['a state from another build of hash-wasm', (c: { state: string; bytes: number }) => ({ ...c, state: `AAAA${c.state.slice(4)}` })],
    ['bytes that are not a whole number of parts', (c: { state: string; bytes: number }) => ({ ...c, bytes: c.bytes + 1 })],
    ['bytes covering parts the upload does not hold', (c: { state: string; bytes: number }) => ({ ...c, bytes: 5 * MIB })],
    ['bytes beyond the end of the file', (c: { state: string; bytes: number }) => ({ ...c, bytes: 16 * MIB })],
    ['no bytes', (c: { state: string; bytes: number }) => ({ ...c, bytes: 0 })],
  ])('falls back to reading every part again given %s, and still gets the right SHA-256', async (_name, spoil) => {
    const data = testBytes(7.5 * MIB, 54);
    const { first } = await stoppedAfter(data, 3);
    const source = bufferSource(data);
    const { result: second, puts } = await countingPuts(() =>
      upload(source, { resumeUploadId: first.uploadId, resumeSha256: spoil({ state: first.sha256State!, bytes: first.sha256Bytes! }) }),
    );
    expect(second).toMatchObject({ status: 'complete', treeHash: treeHashOf(data).toString('hex'), sha256: sha256Hex(data) });
    expect(partsRead(source)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(puts).toHaveLength(5); // the three parts already there are checked against the source, not sent again
  });

  it('ignores a checkpoint given without the upload it belongs to', async () => {
    const data = testBytes(3 * MIB, 55);
    const { first } = await stoppedAfter(data, 2);
    const source = bufferSource(data);
    const result = await upload(source, { resumeSha256: { state: first.sha256State!, bytes: first.sha256Bytes! } });
    expect(result).toMatchObject({ status: 'complete', sha256: sha256Hex(data) });
    expect(partsRead(source)).toEqual([0, 1, 2]);
  });

  it('checkpoints only the parts from the start that are all in the vault when uploads finish out of order', async () => {
    const data = testBytes(5 * MIB, 56);
    // Part 1 is held back, then refused: parts 0 and 2 (and maybe 3) are stored, part 1 never is.
    const handle = g.emulator.handle.bind(g.emulator);
    const partOne = `bytes ${MIB}-${2 * MIB - 1}/*`;
    const order: string[] = [];
    g.emulator.handle = async (req, res) => {
      if (req.method === 'PUT' && req.headers['content-range'] === partOne) {
        req.resume();
        await new Promise((resolve) => setTimeout(resolve, 300));
        order.push(partOne);
        sendError(res, new GlacierError('InvalidParameterValueException', 'held back by the test'), 'test');
        return;
      }
      if (req.method === 'PUT') res.on('finish', () => order.push(String(req.headers['content-range'])));
      return handle(req, res);
    };
    const progress: UploadProgress[] = [];
    let uploadId = '';
    try {
      // Two in flight: part 2 starts only once part 0 is in, and then overtakes part 1.
      const failed = upload(bufferSource(data), {
        concurrency: 2,
        onProgress: (p) => {
          uploadId = p.uploadId;
          progress.push(p);
          return Promise.resolve();
        },
      });
      await expect(failed).rejects.toMatchObject({ name: 'InvalidParameterValueException' });
    } finally {
      g.emulator.handle = handle;
    }
    expect(order.indexOf(`bytes ${2 * MIB}-${3 * MIB - 1}/*`)).toBeLessThan(order.indexOf(partOne));
    expect(progress.length).toBeGreaterThanOrEqual(2);
    expect(progress[0]).toMatchObject({ partsDone: 1, sha256Bytes: MIB });
    // Later parts are in, but part 1 is not: the checkpoint stays after part 0.
    for (const p of progress.slice(1)) expect(p).toMatchObject({ sha256Bytes: MIB, sha256State: progress[0].sha256State });
    const listed = await g.glacier.send(new ListPartsCommand({ accountId: '-', vaultName, uploadId }));
    expect(listed.Parts!.map((p) => p.RangeInBytes)).not.toContain(`${MIB}-${2 * MIB - 1}`);

    // Resumed from that checkpoint: part 0 is not read; part 1 is sent; the parts after it are read and checked.
    const last = progress[progress.length - 1];
    const source = bufferSource(data);
    const { result, puts } = await countingPuts(() =>
      upload(source, { resumeUploadId: uploadId, resumeSha256: { state: last.sha256State!, bytes: last.sha256Bytes! } }),
    );
    expect(result).toMatchObject({ status: 'complete', treeHash: treeHashOf(data).toString('hex'), sha256: sha256Hex(data) });
    expect(partsRead(source)).toEqual([1, 2, 3, 4]);
    expect(puts).toContain(partOne);
    expect(puts).toHaveLength(5 - listed.Parts!.length);
  });

  it('checkpoints the contiguous prefix once a slow part catches up', async () => {
    const data = testBytes(4 * MIB, 57);
    const handle = g.emulator.handle.bind(g.emulator);
    g.emulator.handle = async (req, res) => {
      if (req.method === 'PUT' && req.headers['content-range'] === `bytes ${MIB}-${2 * MIB - 1}/*`) {
        await new Promise((resolve) => setTimeout(resolve, 300));
      }
      return handle(req, res);
    };
    const progress: UploadProgress[] = [];
    try {
      const result = await upload(bufferSource(data), {
        concurrency: 2,
        onProgress: (p) => {
          progress.push(p);
          return Promise.resolve();
        },
      });
      expect(result).toMatchObject({ status: 'complete', sha256: sha256Hex(data) });
    } finally {
      g.emulator.handle = handle;
    }
    // Part 0, then parts 2 and 3 while part 1 is held back (the checkpoint waits at part 0), then part 1: all four.
    expect(progress.map((p) => [p.partsDone, p.sha256Bytes])).toEqual([
      [1, MIB],
      [2, MIB],
      [3, MIB],
      [4, 4 * MIB],
    ]);
    // Each reported state is the SHA-256 of exactly the bytes it says it covers.
    for (const p of progress) {
      const hasher = (await loadFileSha256(p.sha256State!))!;
      hasher.update(data.subarray(p.sha256Bytes));
      expect(hasher.digestHex()).toBe(sha256Hex(data));
    }
  });
});

describe('s3ByteSource', () => {
  it('reads inclusive ranges of a pinned object version', async () => {
    const s3 = mockClient(S3Client);
    s3.on(GetObjectCommand).callsFake((input: { Range: string }) => {
      const [, start, end] = /bytes=(\d+)-(\d+)/.exec(input.Range)!.map(Number);
      return Promise.resolve({ Body: Readable.from([testBytes(100).subarray(start, end + 1)]), ContentLength: end - start + 1 });
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

describe('whole-file SHA-256 below the checkpoint size', () => {
  it('uses the native hash and reports no checkpoint: files that move in one invocation do not pay for one', async () => {
    sha256Checkpoints.minBytes = 64 * 1024 ** 3;
    try {
      const data = testBytes(3 * MIB + 5, 7);
      const progress: UploadProgress[] = [];
      const result = await upload(bufferSource(data), {
        onProgress: (p) => {
          progress.push(p);
          return Promise.resolve();
        },
      });
      expect(result).toMatchObject({ status: 'complete', sha256: sha256Hex(data) });
      expect(progress.length).toBeGreaterThan(0);
      expect(progress.every((p) => p.sha256State === undefined && p.sha256Bytes === undefined)).toBe(true);
    } finally {
      sha256Checkpoints.minBytes = 0;
    }
  });
});
