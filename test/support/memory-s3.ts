// Test support: an in-memory S3 behind aws-sdk-client-mock with what bundles rely on: versions, ranged and pinned reads,
// CRC64NVME checked on PutObject and full-object multipart uploads, Glacier classes that need a restore before a GET.
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  ListPartsCommand,
  NoSuchKey,
  NotFound,
  PutObjectCommand,
  RestoreObjectCommand,
  S3ServiceException,
  UploadPartCommand,
  type AbortMultipartUploadCommandInput,
  type CompleteMultipartUploadCommandInput,
  type CopyObjectCommandInput,
  type CreateMultipartUploadCommandInput,
  type DeleteObjectCommandInput,
  type GetObjectCommandInput,
  type HeadObjectCommandInput,
  type ListMultipartUploadsCommandInput,
  type ListObjectsV2CommandInput,
  type ListPartsCommandInput,
  type PutObjectCommandInput,
  type RestoreObjectCommandInput,
  type S3Client,
  type UploadPartCommandInput,
} from '@aws-sdk/client-s3';
import type { AwsClientStub } from 'aws-sdk-client-mock';
import { crc64nvmeOf } from './crc64nvme';

export interface MemoryObject {
  body: Buffer;
  etag: string;
  versionId: string;
  storageClass?: string;
  metadata?: Record<string, string>;
  crc64nvme: string;
  /** For a Glacier-class object: whether a restored copy is readable. */
  restored?: boolean;
}

const ARCHIVE_CLASSES = new Set(['GLACIER', 'DEEP_ARCHIVE']);
const etagOf = (body: Buffer) => `"${createHash('md5').update(body).digest('hex')}"`;
const s3Error = (name: string, status: number, message: string) =>
  new S3ServiceException({ name, $fault: status >= 500 ? 'server' : 'client', $metadata: { httpStatusCode: status }, message });

async function bytesOf(body: unknown): Promise<Buffer> {
  if (body === undefined) return Buffer.alloc(0);
  if (typeof body === 'string') return Buffer.from(body);
  if (body instanceof Uint8Array) return Buffer.from(body);
  const chunks: Buffer[] = [];
  for await (const chunk of body as AsyncIterable<Uint8Array>) chunks.push(Buffer.from(chunk));
  return Buffer.concat(chunks);
}

export class MemoryS3 {
  /** Every version of every object, oldest first, by `bucket/key`. */
  readonly versions = new Map<string, MemoryObject[]>();
  readonly uploads = new Map<string, { bucket: string; key: string; parts: Map<number, Buffer>; storageClass?: string; metadata?: Record<string, string> }>();
  /** `Command key` for every call served, in order. */
  readonly calls: string[] = [];
  /** Called before each GetObject is served; may throw to inject a fault. */
  beforeGet?: (input: GetObjectCommandInput) => void;
  private version = 0;

  put(bucket: string, key: string, body: Buffer, fields: Partial<MemoryObject> = {}): MemoryObject {
    // Objects the test puts directly (sources) carry no checksum unless given one; those S3 writes always do.
    const object: MemoryObject = { body, etag: etagOf(body), versionId: `v${++this.version}`, crc64nvme: '', ...fields };
    const list = this.versions.get(`${bucket}/${key}`) ?? [];
    list.push(object);
    this.versions.set(`${bucket}/${key}`, list);
    return object;
  }

  /** Puts an object with the full-object CRC64NVME S3 gives every new object (what HeadObject with ChecksumMode reports). */
  async putWithChecksum(bucket: string, key: string, body: Buffer, fields: Partial<MemoryObject> = {}): Promise<MemoryObject> {
    return this.put(bucket, key, body, { ...fields, crc64nvme: await crc64nvmeOf(body) });
  }

  /** The current version, or the one named. */
  object(bucket: string, key: string, versionId?: string): MemoryObject | undefined {
    const list = this.versions.get(`${bucket}/${key}`) ?? [];
    return versionId ? list.find((v) => v.versionId === versionId) : list[list.length - 1];
  }

  count(command: string): number {
    return this.calls.filter((c) => c.startsWith(`${command} `)).length;
  }

  attach(mock: AwsClientStub<S3Client>): this {
    const find = (bucket: string | undefined, key: string | undefined, versionId?: string) => {
      const object = this.object(bucket ?? '', key ?? '', versionId);
      if (!object) throw new NoSuchKey({ message: 'The specified key does not exist.', $metadata: { httpStatusCode: 404 } });
      return object;
    };
    mock.on(PutObjectCommand).callsFake(async (input: PutObjectCommandInput) => {
      this.calls.push(`PutObject ${input.Key}`);
      const body = await bytesOf(input.Body);
      const crc = await crc64nvmeOf(body);
      if (input.ChecksumCRC64NVME !== undefined && input.ChecksumCRC64NVME !== crc)
        throw s3Error('BadDigest', 400, 'The CRC64NVME you specified did not match');
      const object = this.put(input.Bucket!, input.Key!, body, { storageClass: input.StorageClass, metadata: input.Metadata, crc64nvme: crc });
      return { ETag: object.etag, VersionId: object.versionId, ChecksumCRC64NVME: crc, ChecksumType: 'FULL_OBJECT' };
    });
    mock.on(GetObjectCommand).callsFake((input: GetObjectCommandInput) => {
      this.calls.push(`GetObject ${input.Key}${input.Range ? ` ${input.Range}` : ''}`);
      this.beforeGet?.(input);
      const object = find(input.Bucket, input.Key, input.VersionId);
      if (input.IfMatch !== undefined && input.IfMatch !== object.etag)
        throw s3Error('PreconditionFailed', 412, 'At least one of the pre-conditions you specified did not hold');
      if (ARCHIVE_CLASSES.has(object.storageClass ?? '') && !object.restored)
        throw s3Error('InvalidObjectState', 403, 'The operation is not valid for the object storage class');
      let body = object.body;
      if (input.Range) {
        const [, start, end] = /^bytes=(\d+)-(\d+)$/.exec(input.Range)!.map(Number);
        body = object.body.subarray(start, end + 1);
      }
      return { Body: Readable.from([body]), ContentLength: body.length, ETag: object.etag, VersionId: object.versionId };
    });
    mock.on(HeadObjectCommand).callsFake((input: HeadObjectCommandInput) => {
      this.calls.push(`HeadObject ${input.Key}`);
      const object = this.object(input.Bucket ?? '', input.Key ?? '', input.VersionId);
      if (!object) throw new NotFound({ message: 'Not Found', $metadata: { httpStatusCode: 404 } });
      return {
        ETag: object.etag,
        VersionId: object.versionId,
        ContentLength: object.body.length,
        StorageClass: object.storageClass,
        Metadata: object.metadata,
        ...(input.ChecksumMode === 'ENABLED' && { ChecksumCRC64NVME: object.crc64nvme, ChecksumType: 'FULL_OBJECT' }),
        ...(object.restored !== undefined && { Restore: `ongoing-request="${object.restored ? 'false' : 'true'}"` }),
      };
    });
    mock.on(RestoreObjectCommand).callsFake((input: RestoreObjectCommandInput) => {
      this.calls.push(`RestoreObject ${input.Key}`);
      const object = find(input.Bucket, input.Key, input.VersionId);
      const already = object.restored === true;
      // Restored at once: the tests of the copy step do not wait hours.
      object.restored = true;
      return { $metadata: { httpStatusCode: already ? 200 : 202 } };
    });
    mock.on(CopyObjectCommand).callsFake((input: CopyObjectCommandInput) => {
      this.calls.push(`CopyObject ${input.Key}`);
      const [sourceBucket, ...rest] = input.CopySource!.split('/');
      const [sourceKey, version] = rest.join('/').split('?versionId=');
      const source = find(sourceBucket, decodeURIComponent(sourceKey), version);
      if (input.CopySourceIfMatch !== undefined && input.CopySourceIfMatch !== source.etag) {
        throw s3Error('PreconditionFailed', 412, 'At least one of the pre-conditions you specified did not hold');
      }
      const copy = this.put(input.Bucket!, input.Key!, source.body, {
        storageClass: input.StorageClass,
        metadata: input.MetadataDirective === 'REPLACE' ? input.Metadata : source.metadata,
        crc64nvme: source.crc64nvme,
      });
      return { VersionId: copy.versionId, CopyObjectResult: { ETag: copy.etag, ChecksumCRC64NVME: source.crc64nvme } };
    });
    mock.on(DeleteObjectCommand).callsFake((input: DeleteObjectCommandInput) => {
      this.calls.push(`DeleteObject ${input.Key}`);
      const list = this.versions.get(`${input.Bucket}/${input.Key}`) ?? [];
      const kept = input.VersionId ? list.filter((v) => v.versionId !== input.VersionId) : [];
      if (kept.length) this.versions.set(`${input.Bucket}/${input.Key}`, kept);
      else this.versions.delete(`${input.Bucket}/${input.Key}`);
      return {};
    });
    mock.on(CreateMultipartUploadCommand).callsFake((input: CreateMultipartUploadCommandInput) => {
      this.calls.push(`CreateMultipartUpload ${input.Key}`);
      const uploadId = `mpu-${this.uploads.size + 1}-${this.version}`;
      this.uploads.set(uploadId, { bucket: input.Bucket!, key: input.Key!, parts: new Map(), storageClass: input.StorageClass, metadata: input.Metadata });
      return { UploadId: uploadId };
    });
    mock.on(UploadPartCommand).callsFake(async (input: UploadPartCommandInput) => {
      this.calls.push(`UploadPart ${input.Key} ${input.PartNumber}`);
      const upload = this.uploads.get(input.UploadId!);
      if (!upload) throw s3Error('NoSuchUpload', 404, 'The specified upload does not exist.');
      const body = await bytesOf(input.Body);
      upload.parts.set(input.PartNumber!, body);
      return { ETag: etagOf(body), ChecksumCRC64NVME: await crc64nvmeOf(body) };
    });
    mock.on(ListPartsCommand).callsFake((input: ListPartsCommandInput) => {
      this.calls.push(`ListParts ${input.Key}`);
      const upload = this.uploads.get(input.UploadId!);
      if (!upload) throw s3Error('NoSuchUpload', 404, 'The specified upload does not exist.');
      const parts = [...upload.parts].sort(([a], [b]) => a - b).map(([PartNumber, body]) => ({ PartNumber, ETag: etagOf(body), Size: body.length }));
      return { Parts: parts, IsTruncated: false };
    });
    mock.on(CompleteMultipartUploadCommand).callsFake(async (input: CompleteMultipartUploadCommandInput) => {
      this.calls.push(`CompleteMultipartUpload ${input.Key}`);
      const upload = this.uploads.get(input.UploadId!);
      if (!upload) throw s3Error('NoSuchUpload', 404, 'The specified upload does not exist.');
      const numbers = (input.MultipartUpload?.Parts ?? []).map((p) => p.PartNumber!);
      if (numbers.some((n, i) => n !== i + 1 || !upload.parts.has(n)))
        throw s3Error('InvalidPart', 400, 'One or more of the specified parts could not be found.');
      const body = Buffer.concat(numbers.map((n) => upload.parts.get(n)!));
      const crc = await crc64nvmeOf(body);
      if (input.ChecksumCRC64NVME !== undefined && input.ChecksumCRC64NVME !== crc)
        throw s3Error('BadDigest', 400, 'The CRC64NVME you specified did not match');
      const object = this.put(upload.bucket, upload.key, body, { storageClass: upload.storageClass, metadata: upload.metadata, crc64nvme: crc });
      this.uploads.delete(input.UploadId!);
      return { VersionId: object.versionId, ETag: object.etag, ChecksumCRC64NVME: crc, ChecksumType: 'FULL_OBJECT' };
    });
    mock.on(AbortMultipartUploadCommand).callsFake((input: AbortMultipartUploadCommandInput) => {
      this.calls.push(`AbortMultipartUpload ${input.Key}`);
      this.uploads.delete(input.UploadId!);
      return {};
    });
    mock.on(ListObjectsV2Command).callsFake((input: ListObjectsV2CommandInput) => {
      this.calls.push(`ListObjectsV2 ${input.Prefix}`);
      const prefix = `${input.Bucket}/${input.Prefix ?? ''}`;
      const keys = [...this.versions.keys()].filter((k) => k.startsWith(prefix)).sort();
      const contents = keys.map((k) => {
        const object = this.object(input.Bucket!, k.slice(input.Bucket!.length + 1))!;
        return { Key: k.slice(input.Bucket!.length + 1), Size: object.body.length, ETag: object.etag, LastModified: new Date('2025-01-01T00:00:00Z') };
      });
      return { Contents: contents, KeyCount: contents.length, IsTruncated: false };
    });
    mock.on(ListMultipartUploadsCommand).callsFake((input: ListMultipartUploadsCommandInput) => {
      this.calls.push(`ListMultipartUploads ${input.Prefix}`);
      const open = [...this.uploads].filter(([, u]) => u.bucket === input.Bucket && u.key.startsWith(input.Prefix ?? ''));
      return { Uploads: open.map(([UploadId, u]) => ({ UploadId, Key: u.key })), IsTruncated: false };
    });
    return this;
  }
}
