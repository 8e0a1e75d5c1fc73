// Unit tests for ranged reads of one S3 object, pinned to the planned version or ETag.
import { Readable } from 'node:stream';
import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import { pinnedSource, s3ByteSource } from '../../../../functions/lib/s3/byte-source';

const s3 = new S3Client({ region: 'us-east-1' });
const s3Mock = mockClient(s3);
const DATA = Buffer.from('0123456789abcdefghij');

/** Serves DATA's requested range, in chunks of 3 bytes, as an SDK body streams it. */
function serve(): void {
  s3Mock.on(GetObjectCommand).callsFake((input: { Range?: string }) => {
    const [, start, end] = /^bytes=(\d+)-(\d+)$/.exec(input.Range!)!.map(Number);
    const body = DATA.subarray(start, end + 1);
    const chunks = Array.from({ length: Math.ceil(body.length / 3) }, (_, i) => body.subarray(i * 3, i * 3 + 3));
    return { Body: Readable.from(chunks), ContentLength: body.length };
  });
}

async function collect(body: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const chunks: Uint8Array[] = [];
  for await (const chunk of body) chunks.push(chunk);
  return Buffer.concat(chunks);
}

beforeEach(() => {
  s3Mock.reset();
  serve();
});

describe('s3ByteSource', () => {
  it('reads an inclusive byte range with one ranged GetObject, and reports the size it was given', async () => {
    const source = s3ByteSource(s3, 'bucket', 'runs/a b.bam', DATA.length);
    expect(source.size).toBe(20);
    expect(await collect(await source.read(5, 9))).toEqual(Buffer.from('56789'));
    expect(s3Mock.commandCalls(GetObjectCommand).map((c) => c.args[0].input)).toEqual([
      { Bucket: 'bucket', Key: 'runs/a b.bam', Range: 'bytes=5-9', VersionId: undefined, IfMatch: undefined },
    ]);
  });

  it('pins every read to the version and the ETag it was given', async () => {
    const source = s3ByteSource(s3, 'bucket', 'key', DATA.length, { versionId: 'v7', etag: '"e1"' });
    await collect(await source.read(0, 0));
    await collect(await source.read(19, 19));
    for (const call of s3Mock.commandCalls(GetObjectCommand)) expect(call.args[0].input).toMatchObject({ VersionId: 'v7', IfMatch: '"e1"' });
    expect(s3Mock.commandCalls(GetObjectCommand).map((c) => c.args[0].input.Range)).toEqual(['bytes=0-0', 'bytes=19-19']);
  });

  it('streams the body as S3 hands it over, without gathering it', async () => {
    const chunks: number[] = [];
    for await (const chunk of await s3ByteSource(s3, 'b', 'k', DATA.length).read(0, 19)) chunks.push(chunk.length);
    expect(chunks).toEqual([3, 3, 3, 3, 3, 3, 2]);
  });

  it('fails when S3 returns no body', async () => {
    s3Mock.on(GetObjectCommand).resolves({});
    await expect(s3ByteSource(s3, 'bucket', 'key', 20).read(0, 9)).rejects.toThrow('s3://bucket/key returned no body for bytes 0-9');
  });

  it('fails when S3 returns another length than the range asked for (the object changed)', async () => {
    s3Mock.on(GetObjectCommand).resolves({ Body: Readable.from([Buffer.from('0123')]) as never, ContentLength: 4 });
    await expect(s3ByteSource(s3, 'bucket', 'key', 20).read(0, 9)).rejects.toThrow('s3://bucket/key returned 4 bytes for 0-9; the object changed?');
  });

  it('accepts a body whose length S3 did not state', async () => {
    s3Mock.on(GetObjectCommand).resolves({ Body: Readable.from([Buffer.from('0123')]) as never });
    expect(await collect(await s3ByteSource(s3, 'bucket', 'key', 20).read(0, 3))).toEqual(Buffer.from('0123'));
  });

  it('passes on the error of a read S3 refuses (PreconditionFailed when the ETag no longer matches)', async () => {
    const refused = Object.assign(new Error('At least one of the pre-conditions you specified did not hold'), { name: 'PreconditionFailed' });
    s3Mock.on(GetObjectCommand).rejects(refused);
    await expect(s3ByteSource(s3, 'bucket', 'key', 20, { etag: '"old"' }).read(0, 9)).rejects.toMatchObject({ name: 'PreconditionFailed' });
  });
});

describe('pinnedSource', () => {
  it("reads an output file's bytes pinned to its planned ETag, no version", async () => {
    const source = pinnedSource(s3, { sourceBucket: 'outputs', sourceKey: 'runs/1/out.bam', size: 20, etag: '"planned"' });
    expect(source.size).toBe(20);
    expect(await collect(await source.read(10, 19))).toEqual(Buffer.from('abcdefghij'));
    expect(s3Mock.commandCalls(GetObjectCommand)[0].args[0].input).toEqual({
      Bucket: 'outputs',
      Key: 'runs/1/out.bam',
      Range: 'bytes=10-19',
      IfMatch: '"planned"',
      VersionId: undefined,
    });
  });
});
