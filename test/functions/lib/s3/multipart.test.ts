// Unit tests for the parts an S3 multipart upload already holds (ListParts, every page).
import { ListPartsCommand, S3Client, S3ServiceException } from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import { listUploadedParts } from '../../../../functions/lib/s3/multipart';

const s3 = new S3Client({ region: 'us-east-1' });
const s3Mock = mockClient(s3);
const upload = { bucket: 'archive', key: 'runs/u/out.bam', uploadId: 'mpu-1' };

beforeEach(() => s3Mock.reset());

describe('listUploadedParts', () => {
  it('maps each part number to its ETag, size and CRC64NVME', async () => {
    s3Mock.on(ListPartsCommand).resolves({
      Parts: [
        { PartNumber: 1, ETag: '"e1"', Size: 5, ChecksumCRC64NVME: 'crc1' },
        { PartNumber: 2, ETag: '"e2"', Size: 3 },
      ],
      IsTruncated: false,
    });
    const parts = await listUploadedParts(s3, upload);
    expect([...parts]).toEqual([
      [1, { etag: '"e1"', size: 5, checksumCrc64Nvme: 'crc1' }],
      [2, { etag: '"e2"', size: 3 }],
    ]);
    expect(s3Mock.commandCalls(ListPartsCommand)[0].args[0].input).toEqual({
      Bucket: 'archive',
      Key: 'runs/u/out.bam',
      UploadId: 'mpu-1',
      PartNumberMarker: undefined,
    });
  });

  it('follows every page from the marker S3 gives, until it says the list is not truncated', async () => {
    s3Mock
      .on(ListPartsCommand, { PartNumberMarker: undefined })
      .resolves({
        Parts: [
          { PartNumber: 1, ETag: '"e1"', Size: 5 },
          { PartNumber: 2, ETag: '"e2"', Size: 5 },
        ],
        IsTruncated: true,
        NextPartNumberMarker: '2',
      })
      .on(ListPartsCommand, { PartNumberMarker: '2' })
      .resolves({ Parts: [{ PartNumber: 3, ETag: '"e3"', Size: 5 }], IsTruncated: true, NextPartNumberMarker: '3' })
      .on(ListPartsCommand, { PartNumberMarker: '3' })
      .resolves({ Parts: [{ PartNumber: 5, ETag: '"e5"', Size: 1 }], IsTruncated: false, NextPartNumberMarker: '5' });
    const parts = await listUploadedParts(s3, upload);
    expect([...parts.keys()]).toEqual([1, 2, 3, 5]);
    expect(s3Mock.commandCalls(ListPartsCommand).map((c) => c.args[0].input.PartNumberMarker)).toEqual([undefined, '2', '3']);
    for (const call of s3Mock.commandCalls(ListPartsCommand))
      expect(call.args[0].input).toMatchObject({ Bucket: 'archive', Key: 'runs/u/out.bam', UploadId: 'mpu-1' });
  });

  it('reads all 10,000 parts an upload can hold, a thousand a page', async () => {
    s3Mock.on(ListPartsCommand).callsFake((input: { PartNumberMarker?: string }) => {
      const after = Number(input.PartNumberMarker ?? 0);
      const numbers = Array.from({ length: 1000 }, (_, i) => after + i + 1);
      return {
        Parts: numbers.map((n) => ({ PartNumber: n, ETag: `"e${n}"`, Size: 64 })),
        IsTruncated: after + 1000 < 10_000,
        NextPartNumberMarker: String(after + 1000),
      };
    });
    const parts = await listUploadedParts(s3, upload);
    expect(parts.size).toBe(10_000);
    expect(parts.get(10_000)).toEqual({ etag: '"e10000"', size: 64 });
    expect(s3Mock.commandCalls(ListPartsCommand)).toHaveLength(10);
  });

  it('stops at a truncated page without a marker rather than asking for the first page again', async () => {
    s3Mock.on(ListPartsCommand).resolves({ Parts: [{ PartNumber: 1, ETag: '"e1"', Size: 5 }], IsTruncated: true });
    expect((await listUploadedParts(s3, upload)).size).toBe(1);
    expect(s3Mock.commandCalls(ListPartsCommand)).toHaveLength(1);
  });

  it('is empty for an upload without parts', async () => {
    s3Mock.on(ListPartsCommand).resolves({ IsTruncated: false });
    expect((await listUploadedParts(s3, upload)).size).toBe(0);
  });

  it('skips entries without a part number or an ETag, and marks an unknown size -1 (never a part size)', async () => {
    s3Mock.on(ListPartsCommand).resolves({
      Parts: [
        { ETag: '"x"', Size: 5 },
        { PartNumber: 2, Size: 5 },
        { PartNumber: 3, ETag: '"e3"' },
      ],
    });
    expect([...(await listUploadedParts(s3, upload))]).toEqual([[3, { etag: '"e3"', size: -1 }]]);
  });

  it('passes on NoSuchUpload for the caller to start afresh', async () => {
    s3Mock
      .on(ListPartsCommand)
      .rejects(new S3ServiceException({ name: 'NoSuchUpload', $fault: 'client', $metadata: { httpStatusCode: 404 }, message: 'gone' }));
    await expect(listUploadedParts(s3, upload)).rejects.toMatchObject({ name: 'NoSuchUpload' });
  });
});
