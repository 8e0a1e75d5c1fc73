// Unit tests for verifiedCopy against an in-memory S3 (aws-sdk-client-mock): one CopyObject or a multipart
// UploadPartCopy, the source's CRC64NVME from HeadObject or read here, verification, abort, resume and deadline.
import { createCipheriv, createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListPartsCommand,
  S3Client,
  S3ServiceException,
  UploadPartCopyCommand,
  type AbortMultipartUploadCommandInput,
  type CompleteMultipartUploadCommandInput,
  type CopyObjectCommandInput,
  type CreateMultipartUploadCommandInput,
  type DeleteObjectCommandInput,
  type GetObjectCommandInput,
  type HeadObjectCommandInput,
  type ListPartsCommandInput,
  type UploadPartCopyCommandInput,
} from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import { ERROR_NAMES, S3_LIMITS } from '../../../../functions/lib/contract';
import { sha256Checkpoints } from '../../../../functions/lib/transfer/file-sha256';
import type { TransferProgress } from '../../../../functions/lib/transfer/progress';
import {
  COPY_CHECKSUM_ALGORITHM,
  CopyRefusedError,
  PERMANENT_COPY_ERRORS,
  verifiedCopy,
  type VerifiedCopyArgs,
  type VerifiedCopyResult,
} from '../../../../functions/lib/s3/verified-copy';
import { crc64nvmeOf } from '../../../support/crc64nvme';
import { useSha256Checkpoints } from '../../../support/sha256-checkpoints';

useSha256Checkpoints();

const MIB = 1024 * 1024;
const GIB = 1024 * MIB;
const PART = 5 * MIB;
const SOURCE_BUCKET = 'outputs';
const ARCHIVE_BUCKET = 'archive';
const SOURCE_KEY = 'runs/7830534/out/sample #1.bam';
const DEST_KEY = 'runs/96c5/out/sample #1.bam';
const ENCODED_SOURCE = `${SOURCE_BUCKET}/runs/7830534/out/sample%20%231.bam`;

/** Deterministic incompressible bytes. */
function testBytes(size: number, seed = 1): Buffer {
  const key = createHash('sha256').update(`seed-${seed}`).digest().subarray(0, 16);
  return createCipheriv('aes-128-ctr', key, Buffer.alloc(16)).update(Buffer.alloc(size));
}
const sha256Hex = (data: Uint8Array) => createHash('sha256').update(data).digest('hex');
/** An ETag for the mock: the MD5 of the length and both ends, as good as the whole for these random bytes and much faster. */
const etagOf = (body: Uint8Array) =>
  `"${createHash('md5')
    .update(String(body.length))
    .update(body.subarray(0, 4096))
    .update(body.subarray(Math.max(0, body.length - 4096)))
    .digest('hex')}"`;
const crcs = new WeakMap<Buffer, Promise<string>>();
/** The CRC64NVME of a stored object's body, computed once per body. */
const crcOf = (body: Buffer) => {
  if (!crcs.has(body)) crcs.set(body, crc64nvmeOf(body));
  return crcs.get(body)!;
};
const s3Error = (name: string, status = 400, message = name) =>
  new S3ServiceException({ name, $fault: status >= 500 ? 'server' : 'client', $metadata: { httpStatusCode: status }, message });

// ---------------------------------------------------------------------------------------------------------------
// An in-memory S3: objects with ETags, versions and (as configured) a full-object or composite CRC64NVME;
// ranged reads pinned by If-Match; copies; multipart uploads assembled on completion.

interface StoredObject {
  body: Buffer;
  etag: string;
  versionId?: string;
  /** What HeadObject with ChecksumMode reports: S3's full-object CRC64NVME, a composite one, or none. */
  checksum: 'full' | 'composite' | 'none';
  storageClass?: string;
  metadata?: Record<string, string>;
}
let objects: Map<string, StoredObject>;
let uploads: Map<string, { key: string; parts: Map<number, Buffer>; storageClass?: string; metadata?: Record<string, string> }>;
let versions: number;
/** Bytes GetObject served. */
let bytesServed: number;
/** What S3 reports as the CRC64NVME of a copy or a completed upload (default: the true one). */
let copyChecksum: ((body: Buffer) => Promise<string | undefined>) | undefined;
/** Runs inside each UploadPartCopy before it answers (delay it, move a clock, fail it). */
let beforePartCopy: ((input: UploadPartCopyCommandInput) => Promise<void> | void) | undefined;
let partsInFlight: number;
let maxPartsInFlight: number;
/** Parts per ListParts page. */
let listPageSize: number;

const s3 = new S3Client({ region: 'us-east-1' });
const s3Mock = mockClient(s3);

function putSource(body: Buffer, checksum: StoredObject['checksum'] = 'full', versionId?: string): StoredObject {
  const object: StoredObject = { body, etag: etagOf(body), versionId, checksum };
  objects.set(`${SOURCE_BUCKET}/${SOURCE_KEY}`, object);
  return object;
}
const copied = () => objects.get(`${ARCHIVE_BUCKET}/${DEST_KEY}`);

function serveS3(): void {
  const objectAt = (bucket?: string, key?: string) => {
    const object = objects.get(`${bucket}/${key}`);
    if (!object) throw s3Error('NoSuchKey', 404, 'The specified key does not exist.');
    return object;
  };
  const checkIfMatch = (ifMatch: string | undefined, object: StoredObject) => {
    if (ifMatch !== undefined && ifMatch !== object.etag)
      throw s3Error('PreconditionFailed', 412, 'At least one of the pre-conditions you specified did not hold');
  };
  const sourceOf = (copySource: string) => {
    const [path, query] = copySource.split('?');
    const slash = path.indexOf('/');
    const object = objectAt(path.slice(0, slash), decodeURIComponent(path.slice(slash + 1)));
    if (query && query !== `versionId=${encodeURIComponent(object.versionId ?? '')}`) throw s3Error('NoSuchVersion', 404);
    return object;
  };
  s3Mock.on(HeadObjectCommand).callsFake(async (input: HeadObjectCommandInput) => {
    const object = objectAt(input.Bucket, input.Key);
    checkIfMatch(input.IfMatch, object);
    const checksum =
      input.ChecksumMode === 'ENABLED' && object.checksum !== 'none'
        ? object.checksum === 'full'
          ? { ChecksumCRC64NVME: await crcOf(object.body), ChecksumType: 'FULL_OBJECT' as const }
          : { ChecksumCRC64NVME: 'Y29tcG9zaXRlLTM=', ChecksumType: 'COMPOSITE' as const }
        : {};
    return { ETag: object.etag, VersionId: object.versionId, ContentLength: object.body.length, ...checksum };
  });
  s3Mock.on(GetObjectCommand).callsFake((input: GetObjectCommandInput) => {
    const object = objectAt(input.Bucket, input.Key);
    checkIfMatch(input.IfMatch, object);
    if (input.VersionId !== undefined && input.VersionId !== object.versionId) throw s3Error('NoSuchVersion', 404);
    const [, start, end] = /^bytes=(\d+)-(\d+)$/.exec(input.Range!)!.map(Number);
    const body = object.body.subarray(start, end + 1);
    bytesServed += body.length;
    // Streamed in 1 MiB chunks, as a socket would hand it over.
    const chunks = Array.from({ length: Math.ceil(body.length / MIB) }, (_, i) => body.subarray(i * MIB, (i + 1) * MIB));
    return { Body: Readable.from(chunks), ContentLength: body.length, ETag: object.etag };
  });
  s3Mock.on(CopyObjectCommand).callsFake(async (input: CopyObjectCommandInput) => {
    const source = sourceOf(input.CopySource!);
    checkIfMatch(input.CopySourceIfMatch, source);
    const versionId = `copy-v${++versions}`;
    objects.set(`${input.Bucket}/${input.Key}`, {
      body: source.body,
      etag: source.etag,
      versionId,
      checksum: 'full',
      storageClass: input.StorageClass,
      metadata: input.Metadata,
    });
    const crc = input.ChecksumAlgorithm === 'CRC64NVME' ? await (copyChecksum ?? crcOf)(source.body) : undefined;
    return { VersionId: versionId, CopyObjectResult: { ETag: source.etag, ...(crc && { ChecksumCRC64NVME: crc }) } };
  });
  s3Mock.on(DeleteObjectCommand).callsFake((input: DeleteObjectCommandInput) => {
    const object = objects.get(`${input.Bucket}/${input.Key}`);
    if (object && (input.VersionId === undefined || input.VersionId === object.versionId)) objects.delete(`${input.Bucket}/${input.Key}`);
    return {};
  });
  s3Mock.on(CreateMultipartUploadCommand).callsFake((input: CreateMultipartUploadCommandInput) => {
    const uploadId = `mpu-${uploads.size + 1}-${versions}`;
    uploads.set(uploadId, { key: `${input.Bucket}/${input.Key}`, parts: new Map(), storageClass: input.StorageClass, metadata: input.Metadata });
    return { UploadId: uploadId };
  });
  s3Mock.on(UploadPartCopyCommand).callsFake(async (input: UploadPartCopyCommandInput) => {
    partsInFlight += 1;
    maxPartsInFlight = Math.max(maxPartsInFlight, partsInFlight);
    try {
      await beforePartCopy?.(input);
      const upload = uploads.get(input.UploadId!);
      if (!upload) throw s3Error('NoSuchUpload', 404, 'The specified upload does not exist.');
      const source = sourceOf(input.CopySource!);
      checkIfMatch(input.CopySourceIfMatch, source);
      const [, start, end] = /^bytes=(\d+)-(\d+)$/.exec(input.CopySourceRange!)!.map(Number);
      const body = source.body.subarray(start, end + 1);
      upload.parts.set(input.PartNumber!, body);
      return { CopyPartResult: { ETag: etagOf(body), ChecksumCRC64NVME: await crc64nvmeOf(body) } };
    } finally {
      partsInFlight -= 1;
    }
  });
  s3Mock.on(ListPartsCommand).callsFake(async (input: ListPartsCommandInput) => {
    const upload = uploads.get(input.UploadId!);
    if (!upload) throw s3Error('NoSuchUpload', 404, 'The specified upload does not exist.');
    const after = Number(input.PartNumberMarker ?? 0);
    const numbers = [...upload.parts.keys()].sort((a, b) => a - b).filter((n) => n > after);
    const page = numbers.slice(0, listPageSize);
    const parts = await Promise.all(
      page.map(async (n) => ({
        PartNumber: n,
        ETag: etagOf(upload.parts.get(n)!),
        Size: upload.parts.get(n)!.length,
        ChecksumCRC64NVME: await crc64nvmeOf(upload.parts.get(n)!),
      })),
    );
    const truncated = numbers.length > page.length;
    return { Parts: parts, IsTruncated: truncated, ...(truncated && { NextPartNumberMarker: String(page[page.length - 1]) }) };
  });
  s3Mock.on(CompleteMultipartUploadCommand).callsFake(async (input: CompleteMultipartUploadCommandInput) => {
    const upload = uploads.get(input.UploadId!);
    if (!upload) throw s3Error('NoSuchUpload', 404, 'The specified upload does not exist.');
    const listed = input.MultipartUpload?.Parts ?? [];
    for (const [i, part] of listed.entries()) {
      const body = upload.parts.get(part.PartNumber!);
      if (part.PartNumber !== i + 1 || !body || part.ETag !== etagOf(body)) throw s3Error('InvalidPart', 400, `part ${part.PartNumber}`);
    }
    const body = Buffer.concat(listed.map((p) => upload.parts.get(p.PartNumber!)!));
    const actual = await crcOf(body);
    // S3 refuses a full-object checksum the parts do not add up to.
    if (input.ChecksumCRC64NVME !== undefined && input.ChecksumCRC64NVME !== actual) throw s3Error('BadDigest', 400, 'checksum mismatch');
    const versionId = `copy-v${++versions}`;
    objects.set(upload.key, { body, etag: etagOf(body), versionId, checksum: 'full', storageClass: upload.storageClass, metadata: upload.metadata });
    uploads.delete(input.UploadId!);
    return { VersionId: versionId, ChecksumCRC64NVME: copyChecksum ? await copyChecksum(body) : actual, ChecksumType: 'FULL_OBJECT' };
  });
  s3Mock.on(AbortMultipartUploadCommand).callsFake((input: AbortMultipartUploadCommandInput) => {
    if (!uploads.delete(input.UploadId!)) throw s3Error('NoSuchUpload', 404);
    return {};
  });
}

beforeEach(() => {
  s3Mock.reset();
  objects = new Map();
  uploads = new Map();
  versions = 0;
  bytesServed = 0;
  copyChecksum = undefined;
  beforePartCopy = undefined;
  partsInFlight = 0;
  maxPartsInFlight = 0;
  listPageSize = 1000;
  serveS3();
});

/** The arguments of a copy of the source object into the archive bucket; `multipartAbove` 5 MiB and 5 MiB parts. */
function copyArgs(source: StoredObject, extra: Partial<VerifiedCopyArgs> = {}): VerifiedCopyArgs {
  return {
    s3,
    source: { bucket: SOURCE_BUCKET, key: SOURCE_KEY, size: source.body.length, etag: source.etag, versionId: source.versionId },
    destination: { bucket: ARCHIVE_BUCKET, key: DEST_KEY, storageClass: 'DEEP_ARCHIVE', metadata: { 'run-uuid': '96c5' } },
    multipartAbove: 5 * MIB,
    partSize: PART,
    sha256: true,
    removeBadCopy: true,
    ...extra,
  };
}

const calls = <T extends object>(command: new (input: T) => unknown) =>
  s3Mock.commandCalls(command as never).map((c) => (c.args[0] as unknown as { input: T }).input);
const partRanges = () => calls(UploadPartCopyCommand).map((input) => input.CopySourceRange);
const readRanges = () => calls(GetObjectCommand).map((input) => input.Range);
const range = (start: number, end: number) => `bytes=${start}-${end}`;

async function complete(result: Promise<VerifiedCopyResult>) {
  const done = await result;
  if (done.status !== 'complete') throw new Error(`expected a complete copy, got ${JSON.stringify(done)}`);
  return done;
}

async function incomplete(result: Promise<VerifiedCopyResult>) {
  const done = await result;
  if (done.status !== 'incomplete') throw new Error(`expected an incomplete copy, got ${JSON.stringify(done)}`);
  return done;
}

// ---------------------------------------------------------------------------------------------------------------

describe('verifiedCopy parameters', () => {
  const args = (size: number, extra: Partial<VerifiedCopyArgs> = {}) =>
    copyArgs({ body: Buffer.alloc(0), etag: '"e"', checksum: 'full' }, { ...extra, source: { bucket: 'b', key: 'k', size } });

  it('refuses a file above 10,000 × 5 GiB (SourceTooLarge) without a request', async () => {
    const size = S3_LIMITS.maxObjectBytes + 1;
    const error = await verifiedCopy(args(size, { partSize: 5 * GIB })).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CopyRefusedError);
    expect(error).toMatchObject({ name: ERROR_NAMES.sourceTooLarge, message: expect.stringContaining(`file is ${size} bytes`) as string });
    expect(s3Mock.calls()).toHaveLength(0);
  });

  it('takes a file of exactly 10,000 × 5 GiB in 5 GiB parts', async () => {
    s3Mock.on(HeadObjectCommand).rejects(new Error('past validation'));
    await expect(verifiedCopy(args(S3_LIMITS.maxObjectBytes, { partSize: 5 * GIB }))).rejects.toThrow('past validation');
  });

  it.each([
    ['multipartAbove below 5 MiB', { multipartAbove: 5 * MIB - 1 }, /multipartAbove 5242879 is outside 5 MiB to 5 GiB/],
    ['multipartAbove above 5 GiB', { multipartAbove: 5 * GIB + 1 }, /multipartAbove 5368709121 is outside/],
    ['a part below 5 MiB', { partSize: 5 * MIB - 1 }, /part size 5242879 is outside 5 MiB to 5 GiB/],
    ['a part above 5 GiB', { partSize: 5 * GIB + 1 }, /part size 5368709121 is outside/],
    ['parts that would be more than 10,000', { partSize: 5 * MIB }, /needs more than 10,000 parts for 52428800001 bytes/],
  ])('refuses %s (RangeError) without a request', async (_name, extra, message) => {
    const error = await verifiedCopy(args(10_000 * 5 * MIB + 1, { multipartAbove: 5 * GIB, partSize: 64 * MIB, ...extra })).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RangeError);
    expect((error as Error).message).toMatch(message);
    expect(s3Mock.calls()).toHaveLength(0);
  });

  it.each([
    ['multipartAbove of 5 MiB', { multipartAbove: 5 * MIB }],
    ['multipartAbove of 5 GiB', { multipartAbove: 5 * GIB }],
    ['parts of 5 MiB', { partSize: 5 * MIB }],
    ['parts of 5 GiB', { partSize: 5 * GIB }],
  ])('accepts %s', async (_name, extra) => {
    s3Mock.on(HeadObjectCommand).rejects(new Error('past validation'));
    await expect(verifiedCopy(args(100 * MIB, extra))).rejects.toThrow('past validation');
  });

  it('refuses a concurrency that is not a positive integer', async () => {
    const source = putSource(testBytes(11 * MIB, 2));
    await expect(verifiedCopy(copyArgs(source, { concurrency: 0 }))).rejects.toThrow(RangeError);
  });

  // A bad concurrency must be refused before CreateMultipartUpload: a RangeError is no permanent copy error, so an
  // upload made first would be left open.
  it('refuses a bad concurrency before starting a multipart upload', async () => {
    const source = putSource(testBytes(11 * MIB, 2));
    await expect(verifiedCopy(copyArgs(source, { concurrency: 0 }))).rejects.toThrow(RangeError);
    expect(uploads.size).toBe(0);
  });
});

describe('verifiedCopy with one CopyObject (at or below multipartAbove)', () => {
  it('copies the object pinned to its ETag, into the class, with its SHA-256 in the metadata, verified by CRC64NVME', async () => {
    const data = testBytes(3 * MIB + 5, 1);
    const source = putSource(data);

    const result = await complete(verifiedCopy(copyArgs(source)));

    expect(calls(HeadObjectCommand)).toEqual([{ Bucket: SOURCE_BUCKET, Key: SOURCE_KEY, IfMatch: source.etag, VersionId: undefined, ChecksumMode: 'ENABLED' }]);
    expect(calls(CopyObjectCommand)).toEqual([
      {
        Bucket: ARCHIVE_BUCKET,
        Key: DEST_KEY,
        CopySource: ENCODED_SOURCE,
        CopySourceIfMatch: source.etag,
        StorageClass: 'DEEP_ARCHIVE',
        MetadataDirective: 'REPLACE',
        Metadata: { 'run-uuid': '96c5', sha256: sha256Hex(data) },
        ChecksumAlgorithm: COPY_CHECKSUM_ALGORITHM,
      },
    ]);
    expect(result).toEqual({
      status: 'complete',
      versionId: 'copy-v1',
      crc64nvme: await crc64nvmeOf(data),
      sourceChecksum: 's3',
      sha256: sha256Hex(data),
      method: 'single',
      parts: 1,
      bytesRead: data.length,
    });
    expect(copied()?.body.equals(data)).toBe(true);
    expect(readRanges()).toEqual([range(0, data.length - 1)]);
    for (const input of calls(GetObjectCommand)) expect(input.IfMatch).toBe(source.etag);
    expect(calls(CreateMultipartUploadCommand)).toHaveLength(0);
  });

  it('copies a file of exactly multipartAbove with one CopyObject, and one byte more in parts', async () => {
    const exact = putSource(testBytes(5 * MIB, 3));
    expect((await complete(verifiedCopy(copyArgs(exact, { sha256: false })))).method).toBe('single');
    const above = putSource(testBytes(5 * MIB + 1, 3));
    const result = await complete(verifiedCopy(copyArgs(above, { sha256: false })));
    expect(result).toMatchObject({ method: 'multipart', parts: 2 });
    expect(partRanges()).toEqual([range(0, PART - 1), range(PART, PART)]);
  });

  it('with sha256: false and a CRC64NVME S3 reports for the source, reads no byte of it', async () => {
    const data = testBytes(2 * MIB, 4);
    const result = await complete(verifiedCopy(copyArgs(putSource(data), { sha256: false })));
    expect(result).toEqual({
      status: 'complete',
      versionId: 'copy-v1',
      crc64nvme: await crc64nvmeOf(data),
      sourceChecksum: 's3',
      method: 'single',
      parts: 1,
      bytesRead: 0,
    });
    expect(calls(GetObjectCommand)).toHaveLength(0);
    expect(calls(CopyObjectCommand)[0].Metadata).toEqual({ 'run-uuid': '96c5' });
  });

  it.each([
    ['has no checksum', 'none'],
    ['has only a composite checksum (of its parts)', 'composite'],
  ] as const)('computes the CRC64NVME by reading the source when it %s', async (_name, checksum) => {
    const data = testBytes(2 * MIB + 7, 5);
    const result = await complete(verifiedCopy(copyArgs(putSource(data, checksum), { sha256: false })));
    expect(result).toMatchObject({ crc64nvme: await crc64nvmeOf(data), sourceChecksum: 'computed', bytesRead: data.length, method: 'single' });
    expect(result).not.toHaveProperty('sha256');
    expect(readRanges()).toEqual([range(0, data.length - 1)]);
  });

  it('pins the copy and the reads to the version when it is given', async () => {
    const data = testBytes(1000, 6);
    const source = putSource(data, 'none', 'v 3');
    await complete(verifiedCopy(copyArgs(source)));
    expect(calls(HeadObjectCommand)[0]).toMatchObject({ VersionId: 'v 3' });
    expect(calls(GetObjectCommand)[0]).toMatchObject({ VersionId: 'v 3', IfMatch: source.etag });
    expect(calls(CopyObjectCommand)[0].CopySource).toBe(`${ENCODED_SOURCE}?versionId=v%203`);
  });

  it('copies an empty file without reading it', async () => {
    const empty = Buffer.alloc(0);
    const result = await complete(verifiedCopy(copyArgs(putSource(empty, 'none'))));
    expect(result).toMatchObject({ crc64nvme: 'AAAAAAAAAAA=', sha256: sha256Hex(empty), bytesRead: 0, method: 'single' });
    expect(calls(GetObjectCommand)).toHaveLength(0);
  });

  it('deletes a copy whose CRC64NVME differs from the source (that version only) and refuses it', async () => {
    const data = testBytes(4096, 7);
    const source = putSource(data);
    copyChecksum = () => Promise.resolve('AAAAAAAAAAA=');
    const error = await verifiedCopy(copyArgs(source)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CopyRefusedError);
    expect(error).toMatchObject({
      name: ERROR_NAMES.checksumMismatch,
      message: `the copy of s3://${SOURCE_BUCKET}/${SOURCE_KEY} has CRC64NVME AAAAAAAAAAA=, the source ${await crc64nvmeOf(data)}; the copy was removed`,
    });
    expect(calls(DeleteObjectCommand)).toEqual([{ Bucket: ARCHIVE_BUCKET, Key: DEST_KEY, VersionId: 'copy-v1' }]);
    expect(copied()).toBeUndefined();
  });

  it('with removeBadCopy: false (a restore destination) leaves a bad copy where it is, and says where', async () => {
    const data = testBytes(4096, 7);
    copyChecksum = () => Promise.resolve('AAAAAAAAAAA=');
    await expect(verifiedCopy(copyArgs(putSource(data), { removeBadCopy: false }))).rejects.toMatchObject({
      name: ERROR_NAMES.checksumMismatch,
      message: `the copy of s3://${SOURCE_BUCKET}/${SOURCE_KEY} has CRC64NVME AAAAAAAAAAA=, the source ${await crc64nvmeOf(data)}; the copy at s3://${ARCHIVE_BUCKET}/${DEST_KEY} (version copy-v1) is not the file: delete it`,
    });
    expect(calls(DeleteObjectCommand)).toHaveLength(0);
    expect(copied()).toBeDefined();
  });

  it('deletes a copy S3 reports no checksum for', async () => {
    copyChecksum = () => Promise.resolve(undefined);
    await expect(verifiedCopy(copyArgs(putSource(testBytes(10, 8))))).rejects.toThrow(/has CRC64NVME \(none reported\)/);
    expect(copied()).toBeUndefined();
  });

  describe('expectedCrc64nvme (a restore: the checksum recorded at archive time)', () => {
    it('copies a source that has it', async () => {
      const data = testBytes(1234, 9);
      const result = await complete(verifiedCopy(copyArgs(putSource(data), { sha256: false, expectedCrc64nvme: await crc64nvmeOf(data) })));
      expect(result.crc64nvme).toBe(await crc64nvmeOf(data));
    });

    it('refuses a source whose S3 checksum differs before reading or copying anything', async () => {
      const data = testBytes(1234, 10);
      const error = await verifiedCopy(copyArgs(putSource(data), { expectedCrc64nvme: 'AAAAAAAAAAA=' })).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(CopyRefusedError);
      expect(error).toMatchObject({
        name: ERROR_NAMES.checksumMismatch,
        message: expect.stringMatching(/has CRC64NVME .*, AAAAAAAAAAA= was recorded; nothing was copied/) as string,
      });
      expect(calls(GetObjectCommand)).toHaveLength(0);
      expect(calls(CopyObjectCommand)).toHaveLength(0);
    });

    it('refuses a source that reads with another checksum before copying it', async () => {
      const data = testBytes(1234, 11);
      const error = await verifiedCopy(copyArgs(putSource(data, 'none'), { sha256: false, expectedCrc64nvme: 'AAAAAAAAAAA=' })).catch((e: unknown) => e);
      expect(error).toMatchObject({
        name: ERROR_NAMES.checksumMismatch,
        message: expect.stringMatching(/reads with CRC64NVME .*, AAAAAAAAAAA= was recorded/) as string,
      });
      expect(calls(GetObjectCommand)).toHaveLength(1);
      expect(calls(CopyObjectCommand)).toHaveLength(0);
    });
  });
});

describe('verifiedCopy with a multipart copy (above multipartAbove)', () => {
  it('copies each part with UploadPartCopy pinned to the ETag, and completes with the full-object CRC64NVME', async () => {
    const data = testBytes(12 * MIB + 17 * 1024, 20); // three parts, the last short
    const source = putSource(data);

    const result = await complete(verifiedCopy(copyArgs(source)));

    expect(calls(CreateMultipartUploadCommand)).toEqual([
      {
        Bucket: ARCHIVE_BUCKET,
        Key: DEST_KEY,
        StorageClass: 'DEEP_ARCHIVE',
        Metadata: { 'run-uuid': '96c5' },
        ChecksumAlgorithm: 'CRC64NVME',
        ChecksumType: 'FULL_OBJECT',
      },
    ]);
    const uploadId = calls(UploadPartCopyCommand)[0].UploadId;
    expect(calls(UploadPartCopyCommand)).toEqual(
      [range(0, PART - 1), range(PART, 2 * PART - 1), range(2 * PART, data.length - 1)].map((CopySourceRange, i) => ({
        Bucket: ARCHIVE_BUCKET,
        Key: DEST_KEY,
        UploadId: uploadId,
        PartNumber: i + 1,
        CopySource: ENCODED_SOURCE,
        CopySourceIfMatch: source.etag,
        CopySourceRange,
      })),
    );
    const parts = [data.subarray(0, PART), data.subarray(PART, 2 * PART), data.subarray(2 * PART)];
    expect(calls(CompleteMultipartUploadCommand)).toEqual([
      {
        Bucket: ARCHIVE_BUCKET,
        Key: DEST_KEY,
        UploadId: uploadId,
        MultipartUpload: {
          Parts: await Promise.all(parts.map(async (p, i) => ({ PartNumber: i + 1, ETag: etagOf(p), ChecksumCRC64NVME: await crc64nvmeOf(p) }))),
        },
        ChecksumType: 'FULL_OBJECT',
        ChecksumCRC64NVME: await crc64nvmeOf(data),
      },
    ]);
    expect(result).toEqual({
      status: 'complete',
      versionId: 'copy-v1',
      crc64nvme: await crc64nvmeOf(data),
      sourceChecksum: 's3',
      sha256: sha256Hex(data),
      method: 'multipart',
      parts: 3,
      bytesRead: data.length,
    });
    expect(copied()?.body.equals(data)).toBe(true);
    expect(uploads.size).toBe(0);
    expect(readRanges()).toEqual([range(0, PART - 1), range(PART, 2 * PART - 1), range(2 * PART, data.length - 1)]);
  });

  it('with sha256: false and a CRC64NVME S3 reports, reads no byte', async () => {
    const data = testBytes(11 * MIB, 21);
    const result = await complete(verifiedCopy(copyArgs(putSource(data), { sha256: false })));
    expect(result).toMatchObject({ sourceChecksum: 's3', bytesRead: 0, parts: 3, crc64nvme: await crc64nvmeOf(data) });
    expect(calls(GetObjectCommand)).toHaveLength(0);
  });

  it.each(['none', 'composite'] as const)('computes the CRC64NVME by reading each part once, in order, when the source checksum is %s', async (checksum) => {
    const data = testBytes(11 * MIB, 22);
    const result = await complete(verifiedCopy(copyArgs(putSource(data, checksum), { sha256: false })));
    expect(result).toMatchObject({ sourceChecksum: 'computed', bytesRead: data.length, crc64nvme: await crc64nvmeOf(data) });
    expect(readRanges()).toEqual([range(0, PART - 1), range(PART, 2 * PART - 1), range(2 * PART, data.length - 1)]);
  });

  describe('parts in flight', () => {
    const slowParts = () => {
      beforePartCopy = () => new Promise((resolve) => setTimeout(resolve, 5));
    };

    it.each([1, 3, 5])('are at most `concurrency` (%d)', async (concurrency) => {
      slowParts();
      const data = testBytes(10 * PART, 23);
      await complete(verifiedCopy(copyArgs(putSource(data), { sha256: false, concurrency })));
      expect(calls(UploadPartCopyCommand)).toHaveLength(10);
      expect(maxPartsInFlight).toBe(concurrency);
    });

    it('are 8 by default', async () => {
      slowParts();
      await complete(verifiedCopy(copyArgs(putSource(testBytes(12 * PART, 24)), { sha256: false })));
      expect(maxPartsInFlight).toBe(8);
    });
  });

  describe('errors', () => {
    it.each([...PERMANENT_COPY_ERRORS].filter((name) => name !== ERROR_NAMES.checksumMismatch))(
      'aborts the upload after %s, which no retry fixes, and throws it',
      async (name) => {
        const data = testBytes(15 * MIB, 25);
        beforePartCopy = (input) => {
          if (input.PartNumber === 2) throw s3Error(name, 400);
        };
        await expect(verifiedCopy(copyArgs(putSource(data), { sha256: false, concurrency: 1 }))).rejects.toMatchObject({ name });
        expect(calls(AbortMultipartUploadCommand)).toEqual([{ Bucket: ARCHIVE_BUCKET, Key: DEST_KEY, UploadId: calls(UploadPartCopyCommand)[0].UploadId }]);
        expect(uploads.size).toBe(0);
        expect(calls(CompleteMultipartUploadCommand)).toHaveLength(0);
      },
    );

    it('aborts the upload when the source changes mid-copy (PreconditionFailed on a part)', async () => {
      const data = testBytes(15 * MIB, 26);
      beforePartCopy = (input) => {
        if (input.PartNumber === 1) putSource(testBytes(15 * MIB, 27));
      };
      await expect(verifiedCopy(copyArgs(putSource(data), { concurrency: 1 }))).rejects.toMatchObject({ name: 'PreconditionFailed' });
      expect(calls(AbortMultipartUploadCommand)).toHaveLength(1);
      expect(uploads.size).toBe(0);
    });

    it.each([
      ['InternalError', 500],
      ['SlowDown', 503],
      ['NoSuchUpload', 404],
    ])('keeps the upload for a retry after %s', async (name, status) => {
      beforePartCopy = (input) => {
        if (input.PartNumber === 2) throw s3Error(name, status);
      };
      await expect(verifiedCopy(copyArgs(putSource(testBytes(15 * MIB, 28)), { sha256: false, concurrency: 1 }))).rejects.toMatchObject({ name });
      expect(calls(AbortMultipartUploadCommand)).toHaveLength(0);
      expect(uploads.size).toBe(1);
    });

    it('throws the copy’s error, not the abort’s, when the abort fails too', async () => {
      beforePartCopy = () => {
        throw s3Error('AccessDenied', 403);
      };
      s3Mock.on(AbortMultipartUploadCommand).rejects(s3Error('InternalError', 500));
      await expect(verifiedCopy(copyArgs(putSource(testBytes(11 * MIB, 29)), { sha256: false }))).rejects.toMatchObject({ name: 'AccessDenied' });
    });

    it('lets the parts in flight settle before throwing', async () => {
      let settled = 0;
      beforePartCopy = async (input) => {
        // Part 1 fails once all four are in flight; the other three are still being copied then.
        await new Promise((resolve) => setTimeout(resolve, input.PartNumber === 1 ? 5 : 30));
        if (input.PartNumber === 1) throw s3Error('PreconditionFailed', 412);
        settled += 1;
      };
      await expect(verifiedCopy(copyArgs(putSource(testBytes(4 * PART, 30)), { sha256: false, concurrency: 4 }))).rejects.toMatchObject({
        name: 'PreconditionFailed',
      });
      expect(settled).toBe(3);
      expect(partsInFlight).toBe(0);
      expect(calls(AbortMultipartUploadCommand)).toHaveLength(1);
    });

    it('deletes a completed copy whose CRC64NVME differs from the source and refuses it', async () => {
      const data = testBytes(11 * MIB, 31);
      copyChecksum = () => Promise.resolve('AAAAAAAAAAA=');
      const error = await verifiedCopy(copyArgs(putSource(data), { sha256: false })).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(CopyRefusedError);
      expect(error).toMatchObject({
        name: ERROR_NAMES.checksumMismatch,
        message: expect.stringMatching(/has CRC64NVME AAAAAAAAAAA=, the source .*; the copy was removed/) as string,
      });
      expect(calls(DeleteObjectCommand)).toEqual([{ Bucket: ARCHIVE_BUCKET, Key: DEST_KEY, VersionId: 'copy-v1' }]);
      expect(copied()).toBeUndefined();
    });

    it('with removeBadCopy: false leaves a completed bad copy where it is, and says where', async () => {
      copyChecksum = () => Promise.resolve('AAAAAAAAAAA=');
      await expect(verifiedCopy(copyArgs(putSource(testBytes(11 * MIB, 31)), { sha256: false, removeBadCopy: false }))).rejects.toMatchObject({
        name: ERROR_NAMES.checksumMismatch,
        message: expect.stringMatching(/the copy at s3:\/\/archive\/.* \(version copy-v1\) is not the file: delete it$/) as string,
      });
      expect(calls(DeleteObjectCommand)).toHaveLength(0);
      expect(copied()).toBeDefined();
    });

    it('refuses a source that reads with another checksum than the recorded one, completing nothing and aborting the upload', async () => {
      const data = testBytes(11 * MIB, 32);
      const error = await verifiedCopy(copyArgs(putSource(data, 'none'), { sha256: false, expectedCrc64nvme: 'AAAAAAAAAAA=' })).catch((e: unknown) => e);
      expect(error).toMatchObject({ name: ERROR_NAMES.checksumMismatch, message: expect.stringMatching(/reads with CRC64NVME/) as string });
      expect(calls(CompleteMultipartUploadCommand)).toHaveLength(0);
      expect(calls(AbortMultipartUploadCommand)).toHaveLength(1);
      expect(uploads.size).toBe(0);
      expect(copied()).toBeUndefined();
    });
  });

  describe('the deadline and resuming', () => {
    /** A clock each part copy moves on by `partMs`. */
    function pacedClock(partMs: number) {
      const clock = { now: 1_000_000 };
      beforePartCopy = () => {
        clock.now += partMs;
      };
      return clock;
    }

    it('stops before the deadline with the upload and how far it got, reporting progress as parts finish', async () => {
      const data = testBytes(4 * PART + 100, 40); // five parts, the last short
      const clock = pacedClock(40_000);
      const reports: TransferProgress[] = [];
      const result = await incomplete(
        verifiedCopy(
          copyArgs(putSource(data), {
            concurrency: 1,
            now: () => clock.now,
            deadline: clock.now + 100_000,
            onProgress: (p) => Promise.resolve(void reports.push(p)),
          }),
        ),
      );
      // 40 s a part: after two (80 s) a third would end at 120 s, after the deadline.
      expect(result).toMatchObject({ status: 'incomplete', uploadId: expect.any(String) as string, partsDone: 2, bytesDone: 2 * PART, sha256Bytes: 2 * PART });
      expect(result.sha256State).toEqual(expect.any(String));
      expect(reports.map((r) => [r.partsDone, r.bytesDone, r.sha256Bytes])).toEqual([
        [1, PART, PART],
        [2, 2 * PART, 2 * PART],
      ]);
      expect(reports.every((r) => r.uploadId === result.uploadId)).toBe(true);
      expect(calls(CompleteMultipartUploadCommand)).toHaveLength(0);
      expect(uploads.size).toBe(1);
    });

    it('resumed with its checkpoint, reads only the parts after it, copies only the missing ones, and gets both hashes right', async () => {
      const data = testBytes(4 * PART + 100, 41);
      const source = putSource(data);
      const clock = pacedClock(40_000);
      const first = await incomplete(verifiedCopy(copyArgs(source, { concurrency: 1, now: () => clock.now, deadline: clock.now + 100_000 })));
      expect(first.partsDone).toBe(2);
      s3Mock.resetHistory();
      bytesServed = 0;

      const second = await complete(
        verifiedCopy(
          copyArgs(source, {
            now: () => clock.now,
            deadline: clock.now + 3_600_000,
            resume: { uploadId: first.uploadId, checkpoint: { bytes: first.sha256Bytes!, sha256State: first.sha256State } },
          }),
        ),
      );

      expect(readRanges()).toEqual([range(2 * PART, 3 * PART - 1), range(3 * PART, 4 * PART - 1), range(4 * PART, data.length - 1)]);
      expect(bytesServed).toBe(data.length - 2 * PART);
      expect(partRanges()).toEqual([range(2 * PART, 3 * PART - 1), range(3 * PART, 4 * PART - 1), range(4 * PART, data.length - 1)]);
      expect(calls(CreateMultipartUploadCommand)).toHaveLength(0);
      expect(second).toMatchObject({ sha256: sha256Hex(data), crc64nvme: await crc64nvmeOf(data), parts: 5, bytesRead: data.length - 2 * PART });
      expect(copied()?.body.equals(data)).toBe(true);
    });

    it('resumes a copy that computes the CRC64NVME (no SHA-256) from its saved CRC64NVME state', async () => {
      const data = testBytes(3 * PART + 1, 42);
      const source = putSource(data, 'none');
      const clock = pacedClock(40_000);
      const first = await incomplete(verifiedCopy(copyArgs(source, { sha256: false, concurrency: 1, now: () => clock.now, deadline: clock.now + 50_000 })));
      expect(first).toMatchObject({ partsDone: 1, sha256Bytes: PART, crc64State: expect.any(String) as string });
      expect(first).not.toHaveProperty('sha256State');
      s3Mock.resetHistory();

      const second = await complete(
        verifiedCopy(
          copyArgs(source, { sha256: false, resume: { uploadId: first.uploadId, checkpoint: { bytes: first.sha256Bytes!, crc64State: first.crc64State } } }),
        ),
      );
      expect(readRanges()).toEqual([range(PART, 2 * PART - 1), range(2 * PART, 3 * PART - 1), range(3 * PART, 3 * PART)]);
      expect(second).toMatchObject({ sourceChecksum: 'computed', crc64nvme: await crc64nvmeOf(data), parts: 4 });
    });

    it('reads from the start, copying only what is missing, when the checkpoint covers a part the upload does not hold', async () => {
      const data = testBytes(3 * PART, 43);
      const source = putSource(data);
      const clock = pacedClock(40_000);
      const first = await incomplete(verifiedCopy(copyArgs(source, { concurrency: 1, now: () => clock.now, deadline: clock.now + 100_000 })));
      expect(first.partsDone).toBe(2);
      uploads.get(first.uploadId)!.parts.delete(1); // S3 lost part 1 (or the checkpoint is not this upload's)
      s3Mock.resetHistory();

      const second = await complete(
        verifiedCopy(copyArgs(source, { resume: { uploadId: first.uploadId, checkpoint: { bytes: first.sha256Bytes!, sha256State: first.sha256State } } })),
      );
      expect(readRanges()).toEqual([range(0, PART - 1), range(PART, 2 * PART - 1), range(2 * PART, 3 * PART - 1)]);
      expect(partRanges().sort()).toEqual([range(0, PART - 1), range(2 * PART, 3 * PART - 1)].sort());
      expect(second).toMatchObject({ sha256: sha256Hex(data), crc64nvme: await crc64nvmeOf(data), bytesRead: data.length });
    });

    it('reads from the start when the saved state does not load', async () => {
      const data = testBytes(3 * PART, 44);
      const source = putSource(data);
      const clock = pacedClock(40_000);
      const first = await incomplete(verifiedCopy(copyArgs(source, { concurrency: 1, now: () => clock.now, deadline: clock.now + 100_000 })));
      s3Mock.resetHistory();
      const second = await complete(
        verifiedCopy(copyArgs(source, { resume: { uploadId: first.uploadId, checkpoint: { bytes: first.sha256Bytes!, sha256State: 'bm90IGEgc3RhdGU=' } } })),
      );
      expect(readRanges()).toHaveLength(3);
      expect(partRanges()).toEqual([range(2 * PART, 3 * PART - 1)]);
      expect(second.sha256).toBe(sha256Hex(data));
    });

    it('copies again a part the upload holds at another size', async () => {
      const data = testBytes(3 * PART, 45);
      const source = putSource(data, 'full');
      const first = await incomplete(verifiedCopy(copyArgs(source, { sha256: false, concurrency: 1, now: () => 0, deadline: -1 })));
      const upload = uploads.get(first.uploadId)!;
      upload.parts.set(1, data.subarray(0, PART));
      upload.parts.set(2, data.subarray(PART, PART + 10)); // a part of the wrong size
      s3Mock.resetHistory();
      const second = await complete(verifiedCopy(copyArgs(source, { sha256: false, resume: { uploadId: first.uploadId } })));
      expect(partRanges()).toEqual([range(PART, 2 * PART - 1), range(2 * PART, 3 * PART - 1)]);
      expect(calls(GetObjectCommand)).toHaveLength(0);
      expect(second.crc64nvme).toBe(await crc64nvmeOf(data));
    });

    it('follows every page of ListParts on resume', async () => {
      listPageSize = 2;
      const data = testBytes(7 * PART, 46);
      const source = putSource(data);
      const clock = pacedClock(10_000);
      const first = await incomplete(verifiedCopy(copyArgs(source, { sha256: false, concurrency: 1, now: () => clock.now, deadline: clock.now + 55_000 })));
      expect(first.partsDone).toBe(5);
      s3Mock.resetHistory();
      await complete(verifiedCopy(copyArgs(source, { sha256: false, resume: { uploadId: first.uploadId } })));
      expect(calls(ListPartsCommand).map((input) => input.PartNumberMarker)).toEqual([undefined, '2', '4']);
      expect(partRanges()).toEqual([range(5 * PART, 6 * PART - 1), range(6 * PART, 7 * PART - 1)]);
    });

    it('starts a fresh upload when the recorded one is gone (NoSuchUpload), reading and copying everything', async () => {
      const data = testBytes(3 * PART + 3, 47);
      const source = putSource(data);
      const reports: TransferProgress[] = [];
      const result = await complete(
        verifiedCopy(
          copyArgs(source, {
            resume: { uploadId: 'mpu-gone', checkpoint: { bytes: PART, sha256State: 'c3RhbGU=' } },
            onProgress: (p) => Promise.resolve(void reports.push(p)),
          }),
        ),
      );
      expect(calls(ListPartsCommand)).toHaveLength(1);
      expect(calls(CreateMultipartUploadCommand)).toHaveLength(1);
      expect(partRanges()).toHaveLength(4);
      expect(readRanges()).toHaveLength(4);
      expect(reports.length).toBe(4);
      expect(reports.every((r) => r.uploadId !== 'mpu-gone' && r.uploadId === calls(UploadPartCopyCommand)[0].UploadId)).toBe(true);
      expect(result).toMatchObject({ sha256: sha256Hex(data), crc64nvme: await crc64nvmeOf(data), parts: 4 });
    });

    // The source's HeadObject (pinned by If-Match) comes before the multipart copy: its PreconditionFailed must
    // abort the recorded upload too.
    it('aborts the recorded upload when a resume finds the source changed', async () => {
      const data = testBytes(3 * PART, 51);
      const source = putSource(data);
      const first = await incomplete(verifiedCopy(copyArgs(source, { sha256: false, concurrency: 1, now: () => 0, deadline: -1 })));
      putSource(testBytes(3 * PART, 52));
      await expect(verifiedCopy(copyArgs(source, { sha256: false, resume: { uploadId: first.uploadId } }))).rejects.toMatchObject({
        name: 'PreconditionFailed',
      });
      expect(uploads.size).toBe(0);
    });

    it('throws any other ListParts failure without starting an upload', async () => {
      s3Mock.on(ListPartsCommand).rejects(s3Error('InternalError', 500));
      await expect(verifiedCopy(copyArgs(putSource(testBytes(11 * MIB, 48)), { resume: { uploadId: 'mpu-x' } }))).rejects.toMatchObject({
        name: 'InternalError',
      });
      expect(calls(CreateMultipartUploadCommand)).toHaveLength(0);
    });

    it('resumes in parts even a file no larger than multipartAbove (the threshold changed between calls)', async () => {
      const data = testBytes(3 * PART, 49);
      const source = putSource(data);
      const first = await incomplete(verifiedCopy(copyArgs(source, { sha256: false, concurrency: 1, now: () => 0, deadline: -1 })));
      const result = await complete(verifiedCopy(copyArgs(source, { sha256: false, multipartAbove: 5 * GIB, resume: { uploadId: first.uploadId } })));
      expect(result.method).toBe('multipart');
      expect(calls(CopyObjectCommand)).toHaveLength(0);
    });

    it('without a resumable SHA-256 (small files) keeps no checkpoint, and a resume reads everything again', async () => {
      const before = sha256Checkpoints.minBytes;
      sha256Checkpoints.minBytes = Number.MAX_SAFE_INTEGER;
      try {
        const data = testBytes(3 * PART, 50);
        const source = putSource(data);
        const clock = pacedClock(40_000);
        const first = await incomplete(verifiedCopy(copyArgs(source, { concurrency: 1, now: () => clock.now, deadline: clock.now + 100_000 })));
        expect(first.partsDone).toBe(2);
        expect(first).not.toHaveProperty('sha256Bytes');
        s3Mock.resetHistory();
        const second = await complete(verifiedCopy(copyArgs(source, { resume: { uploadId: first.uploadId } })));
        expect(readRanges()).toHaveLength(3);
        expect(partRanges()).toEqual([range(2 * PART, 3 * PART - 1)]);
        expect(second.sha256).toBe(sha256Hex(data));
      } finally {
        sha256Checkpoints.minBytes = before;
      }
    });
  });
});
