// S3 checksums in the local cloud, as S3 reports them: real CRC-64/NVME (checked against @aws-sdk/crc64-nvme, not
// moto's code), full-object checksums of copies, composite checksums of multipart uploads, and downloads the SDK
// validates. These are what the archiver verifies every Glacier-class copy by (docs/local-cloud.md, "Checksums").
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListPartsCommand,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
  UploadPartCopyCommand,
  type CompletedPart,
} from '@aws-sdk/client-s3';
import { Crc64Nvme } from '@aws-sdk/crc64-nvme';
import { Upload } from '@aws-sdk/lib-storage';
import { randomBytes } from 'node:crypto';
import * as zlib from 'node:zlib';
import * as clients from '../../functions/lib/runtime/clients';
import { useLocalCloud } from '../support/local-cloud';
import { WORKFLOW_POLICY } from '../support/policies';

jest.setTimeout(30_000);
const cloud = useLocalCloud(WORKFLOW_POLICY);

const BUCKET = 'checksum-tests';
const MIB = 1024 * 1024;
const s3 = () => clients.s3Client();

/** The independent reference: the AWS SDK's own CRC64NVME package, base64 of the big-endian value as S3 sends it. */
async function crc64nvme(data: Uint8Array): Promise<string> {
  const hash = new Crc64Nvme();
  hash.update(data);
  return Buffer.from(await hash.digest()).toString('base64');
}

const crc32 = (data: Uint8Array) => {
  const out = Buffer.alloc(4);
  out.writeUInt32BE(zlib.crc32(data));
  return out.toString('base64');
};

async function bytesOf(key: string): Promise<{ body: Buffer; checksumCrc32?: string; checksumType?: string }> {
  const got = await s3().send(new GetObjectCommand({ Bucket: BUCKET, Key: key, ChecksumMode: 'ENABLED' }));
  return { body: Buffer.from(await got.Body!.transformToByteArray()), checksumCrc32: got.ChecksumCRC32, checksumType: got.ChecksumType };
}

/** 12 MiB written as HealthOmics-like writers write outputs: lib-storage's Upload, 5 MiB parts (CRC32 per part). */
const SOURCE_KEY = 'sources/written-in-parts.bin';
const source = randomBytes(12 * MIB);

beforeAll(async () => {
  cloud();
  await s3().send(new CreateBucketCommand({ Bucket: BUCKET }));
  await new Upload({ client: s3(), params: { Bucket: BUCKET, Key: SOURCE_KEY, Body: source }, partSize: 5 * MIB, queueSize: 2 }).done();
});

test('the reference CRC64NVME is CRC-64/NVME (check value of "123456789")', async () => {
  expect(Buffer.from(await crc64nvme(Buffer.from('123456789')), 'base64').toString('hex')).toBe('ae8b14860a799888');
});

test('PutObject with ChecksumAlgorithm CRC64NVME: the CRC64NVME S3 reports, and HeadObject returns, is the real one', async () => {
  const body = randomBytes(MIB + 7);
  const expected = await crc64nvme(body);
  const put = await s3().send(new PutObjectCommand({ Bucket: BUCKET, Key: 'put/crc64.bin', Body: body, ChecksumAlgorithm: 'CRC64NVME' }));
  expect(put.ChecksumCRC64NVME).toBe(expected);
  expect(put.ChecksumType).toBe('FULL_OBJECT');

  const head = await s3().send(new HeadObjectCommand({ Bucket: BUCKET, Key: 'put/crc64.bin', ChecksumMode: 'ENABLED' }));
  expect(head.ChecksumCRC64NVME).toBe(expected);
  expect(head.ChecksumType).toBe('FULL_OBJECT');
  // The SDK validates the download against that CRC64NVME.
  expect((await bytesOf('put/crc64.bin')).body.equals(body)).toBe(true);
});

test('a claimed checksum that does not match the bytes is refused (BadDigest), and nothing is stored', async () => {
  const body = randomBytes(1000);
  const wrong = await crc64nvme(Buffer.from('something else'));
  await expect(s3().send(new PutObjectCommand({ Bucket: BUCKET, Key: 'put/wrong.bin', Body: body, ChecksumCRC64NVME: wrong }))).rejects.toMatchObject({
    name: 'BadDigest',
  });
  await expect(s3().send(new HeadObjectCommand({ Bucket: BUCKET, Key: 'put/wrong.bin' }))).rejects.toMatchObject({ name: 'NotFound' });
});

test('an object uploaded with no checksum at all gets S3’s default, a full-object CRC64NVME', async () => {
  const plain = new S3Client({ endpoint: cloud().endpoint, region: 'us-east-1', forcePathStyle: true, requestChecksumCalculation: 'WHEN_REQUIRED' });
  const body = randomBytes(300_001);
  await plain.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'put/no-checksum.bin', Body: body }));
  const head = await s3().send(new HeadObjectCommand({ Bucket: BUCKET, Key: 'put/no-checksum.bin', ChecksumMode: 'ENABLED' }));
  expect(head.ChecksumCRC64NVME).toBe(await crc64nvme(body));
  expect(head.ChecksumType).toBe('FULL_OBJECT');

  // The same for a multipart upload that names no algorithm: CompleteMultipartUpload reports the CRC64NVME.
  const key = 'put/multipart-no-checksum.bin';
  const { UploadId } = await plain.send(new CreateMultipartUploadCommand({ Bucket: BUCKET, Key: key }));
  const part = await plain.send(new UploadPartCommand({ Bucket: BUCKET, Key: key, UploadId, PartNumber: 1, Body: body }));
  const done = await plain.send(
    new CompleteMultipartUploadCommand({ Bucket: BUCKET, Key: key, UploadId, MultipartUpload: { Parts: [{ PartNumber: 1, ETag: part.ETag }] } }),
  );
  plain.destroy();
  expect(done).toMatchObject({ ChecksumCRC64NVME: await crc64nvme(body), ChecksumType: 'FULL_OBJECT' });
});

test('a source written by multipart upload has a COMPOSITE CRC32 (-3) and reads back without checksum-validation errors', async () => {
  const head = await s3().send(new HeadObjectCommand({ Bucket: BUCKET, Key: SOURCE_KEY, ChecksumMode: 'ENABLED' }));
  expect(head.ChecksumCRC32).toMatch(/^[A-Za-z0-9+/]{6}==-3$/);
  expect(head.ChecksumType).toBe('COMPOSITE');
  expect(head.ChecksumCRC64NVME).toBeUndefined(); // one checksum per object: S3 has no CRC64NVME for it to report

  const read = await bytesOf(SOURCE_KEY);
  expect(read.body.equals(source)).toBe(true);
  expect(read.checksumCrc32).toBe(head.ChecksumCRC32); // the SDK skips validating a composite value, as S3 intends
  expect(read.checksumType).toBe('COMPOSITE');
});

test('a plain CopyObject of that source gets a full-object CRC32, and the copy downloads with the SDK validating it', async () => {
  // The restore failure this fixes: moto copied the composite value without its type, so the SDK checked the copy's
  // bytes against a checksum of checksums ("Checksum mismatch ... x-amz-checksum-crc32").
  const copied = await s3().send(new CopyObjectCommand({ Bucket: BUCKET, Key: 'copies/plain.bin', CopySource: `${BUCKET}/${SOURCE_KEY}` }));
  expect(copied.CopyObjectResult?.ChecksumCRC32).toBe(crc32(source));
  expect(copied.CopyObjectResult?.ChecksumType).toBe('FULL_OBJECT');
  const read = await bytesOf('copies/plain.bin');
  expect(read.body.equals(source)).toBe(true);
  expect(read.checksumCrc32).toBe(crc32(source));
  expect(read.checksumType).toBe('FULL_OBJECT');
});

test('CopyObject with ChecksumAlgorithm CRC64NVME: the copy’s full-object CRC64NVME is the real one of the bytes', async () => {
  const expected = await crc64nvme(source);
  const copied = await s3().send(
    new CopyObjectCommand({
      Bucket: BUCKET,
      Key: 'copies/crc64.bin',
      CopySource: `${BUCKET}/${SOURCE_KEY}`,
      ChecksumAlgorithm: 'CRC64NVME',
      StorageClass: 'GLACIER',
    }),
  );
  expect(copied.CopyObjectResult?.ChecksumCRC64NVME).toBe(expected);
  expect(copied.CopyObjectResult?.ChecksumType).toBe('FULL_OBJECT');
  const head = await s3().send(new HeadObjectCommand({ Bucket: BUCKET, Key: 'copies/crc64.bin', ChecksumMode: 'ENABLED' }));
  expect(head).toMatchObject({ ChecksumCRC64NVME: expected, ChecksumType: 'FULL_OBJECT', StorageClass: 'GLACIER' });
});

describe('a multipart copy (CreateMultipartUpload CRC64NVME FULL_OBJECT, UploadPartCopy, CompleteMultipartUpload)', () => {
  const ranges: [number, number][] = [
    [0, 5 * MIB - 1],
    [5 * MIB, 10 * MIB - 1],
    [10 * MIB, source.length - 1],
  ];

  async function copyParts(key: string): Promise<{ uploadId: string; parts: CompletedPart[] }> {
    const created = await s3().send(
      new CreateMultipartUploadCommand({ Bucket: BUCKET, Key: key, ChecksumAlgorithm: 'CRC64NVME', ChecksumType: 'FULL_OBJECT', StorageClass: 'GLACIER' }),
    );
    const uploadId = created.UploadId!;
    const parts = await Promise.all(
      ranges.map(async ([start, end], index) => {
        const copied = await s3().send(
          new UploadPartCopyCommand({
            Bucket: BUCKET,
            Key: key,
            UploadId: uploadId,
            PartNumber: index + 1,
            CopySource: `${BUCKET}/${SOURCE_KEY}`,
            CopySourceRange: `bytes=${start}-${end}`,
          }),
        );
        expect(copied.CopyPartResult?.ChecksumCRC64NVME).toBe(await crc64nvme(source.subarray(start, end + 1)));
        return { PartNumber: index + 1, ETag: copied.CopyPartResult?.ETag, ChecksumCRC64NVME: copied.CopyPartResult?.ChecksumCRC64NVME };
      }),
    );
    return { uploadId, parts };
  }

  test('each part reports its CRC64NVME, and the completed object’s full-object CRC64NVME is the real one', async () => {
    const key = 'copies/multipart.bin';
    const expected = await crc64nvme(source);
    const { uploadId, parts } = await copyParts(key);

    const listed = await s3().send(new ListPartsCommand({ Bucket: BUCKET, Key: key, UploadId: uploadId }));
    expect(listed.ChecksumAlgorithm).toBe('CRC64NVME');
    expect(listed.ChecksumType).toBe('FULL_OBJECT');
    expect(listed.Parts?.map((p) => p.ChecksumCRC64NVME)).toEqual(parts.map((p) => p.ChecksumCRC64NVME));

    const done = await s3().send(
      new CompleteMultipartUploadCommand({
        Bucket: BUCKET,
        Key: key,
        UploadId: uploadId,
        MultipartUpload: { Parts: parts },
        ChecksumType: 'FULL_OBJECT',
        ChecksumCRC64NVME: expected,
      }),
    );
    expect(done.ChecksumCRC64NVME).toBe(expected);
    expect(done.ChecksumType).toBe('FULL_OBJECT');
    const head = await s3().send(new HeadObjectCommand({ Bucket: BUCKET, Key: key, ChecksumMode: 'ENABLED' }));
    expect(head).toMatchObject({ ChecksumCRC64NVME: expected, ChecksumType: 'FULL_OBJECT', ContentLength: source.length });
  });

  test('CompleteMultipartUpload refuses a full-object CRC64NVME the parts’ bytes do not have (BadDigest)', async () => {
    const key = 'copies/multipart-wrong.bin';
    const { uploadId, parts } = await copyParts(key);
    await expect(
      s3().send(
        new CompleteMultipartUploadCommand({
          Bucket: BUCKET,
          Key: key,
          UploadId: uploadId,
          MultipartUpload: { Parts: parts },
          ChecksumType: 'FULL_OBJECT',
          ChecksumCRC64NVME: await crc64nvme(source.subarray(1)),
        }),
      ),
    ).rejects.toMatchObject({ name: 'BadDigest' });
    await s3().send(new AbortMultipartUploadCommand({ Bucket: BUCKET, Key: key, UploadId: uploadId }));
    await expect(s3().send(new HeadObjectCommand({ Bucket: BUCKET, Key: key }))).rejects.toMatchObject({ name: 'NotFound' });
  });
});

test('a COMPOSITE upload must name every part’s checksum when it completes (InvalidRequest), as S3 requires', async () => {
  const key = 'composite/missing-part-checksum.bin';
  const { UploadId } = await s3().send(new CreateMultipartUploadCommand({ Bucket: BUCKET, Key: key, ChecksumAlgorithm: 'CRC32' }));
  const part = await s3().send(
    new UploadPartCommand({ Bucket: BUCKET, Key: key, UploadId, PartNumber: 1, Body: randomBytes(1000), ChecksumAlgorithm: 'CRC32' }),
  );
  expect(part.ChecksumCRC32).toMatch(/==$/);
  await expect(
    s3().send(new CompleteMultipartUploadCommand({ Bucket: BUCKET, Key: key, UploadId, MultipartUpload: { Parts: [{ PartNumber: 1, ETag: part.ETag }] } })),
  ).rejects.toMatchObject({ name: 'InvalidRequest', message: expect.stringContaining('must include the checksum for each part') as string });
  const done = await s3().send(
    new CompleteMultipartUploadCommand({
      Bucket: BUCKET,
      Key: key,
      UploadId,
      MultipartUpload: { Parts: [{ PartNumber: 1, ETag: part.ETag, ChecksumCRC32: part.ChecksumCRC32 }] },
    }),
  );
  expect(done.ChecksumCRC32).toMatch(/==-1$/);
  expect(done.ChecksumType).toBe('COMPOSITE');
});

test('copies check the source as S3 does: a stale x-amz-copy-source-if-match is PreconditionFailed, an unrestored Glacier source InvalidObjectState', async () => {
  const stale = '"00000000000000000000000000000000"';
  await expect(
    s3().send(new CopyObjectCommand({ Bucket: BUCKET, Key: 'copies/stale.bin', CopySource: `${BUCKET}/${SOURCE_KEY}`, CopySourceIfMatch: stale })),
  ).rejects.toMatchObject({ name: 'PreconditionFailed' });
  const { UploadId } = await s3().send(
    new CreateMultipartUploadCommand({ Bucket: BUCKET, Key: 'copies/stale-parts.bin', ChecksumAlgorithm: 'CRC64NVME', ChecksumType: 'FULL_OBJECT' }),
  );
  const partCopy = (copySource: string, ifMatch?: string) =>
    s3().send(
      new UploadPartCopyCommand({
        Bucket: BUCKET,
        Key: 'copies/stale-parts.bin',
        UploadId,
        PartNumber: 1,
        CopySource: copySource,
        CopySourceIfMatch: ifMatch,
        CopySourceRange: `bytes=0-${5 * MIB - 1}`,
      }),
    );
  await expect(partCopy(`${BUCKET}/${SOURCE_KEY}`, stale)).rejects.toMatchObject({ name: 'PreconditionFailed' });
  // copies/crc64.bin (above) is in GLACIER and was never restored.
  await expect(partCopy(`${BUCKET}/copies/crc64.bin`)).rejects.toMatchObject({ name: 'InvalidObjectState' });
  await s3().send(new AbortMultipartUploadCommand({ Bucket: BUCKET, Key: 'copies/stale-parts.bin', UploadId }));
});
