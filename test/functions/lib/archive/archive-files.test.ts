// Unit tests for the archive step: files streamed into the strict Glacier emulator (or copied into an S3 Glacier
// class), every state change a real conditional write on an in-memory index table, sources removed only when safe.
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { CreateVaultCommand, GetJobOutputCommand, InitiateJobCommand, InitiateMultipartUploadCommand, ListPartsCommand } from '@aws-sdk/client-glacier';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  ListPartsCommand as S3ListPartsCommand,
  PutObjectRetentionCommand,
  NoSuchKey,
  NotFound,
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
  type ListMultipartUploadsCommandInput,
  type ListPartsCommandInput,
  type UploadPartCopyCommandInput,
} from '@aws-sdk/client-s3';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import {
  DEADLINE_MARGIN_MS,
  archiveDescription,
  archiveItem,
  partConcurrency,
  recordItemFailure,
  type ArchiveItemArgs,
} from '../../../../functions/lib/archive/archive-files';
import type { WorkItem } from '../../../../functions/lib/archive/plan-archive';
import { archiveObjectKey } from '../../../../functions/lib/contract';
import { pinnedSource } from '../../../../functions/lib/s3/byte-source';
import { CLAIM_SLACK_MS, RunIndex, SCHEMA_VERSION, fileKey, type FileRecord } from '../../../../functions/lib/index/run-index';
import { treeHashOf } from '../../../../functions/lib/glacier/tree-hash';
import { GlacierError, sendError } from '../../../../local/glacier/errors';
import { FakeRunIndexTable } from '../../../support/run-index-table';
import { MIB, bodyBytes, sha256Hex, startLocalGlacier, testBytes, type LocalGlacier } from '../../../local/glacier/helpers';
import { skewedClock } from '../../../support/clock';
import { crc64nvmeOf } from '../../../support/crc64nvme';
import { useSha256Checkpoints } from '../../../support/sha256-checkpoints';

useSha256Checkpoints();

const UUID = '96c57683-74bf-9d6d-ae7e-f09b097db14a';
const BUCKET = 'outputs';
const ARCHIVE_BUCKET = 'archive';
const PREFIX = 'runs/7830534/';
const vaultName = 'archive-vault';
const EMPTY_SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';

const ddbMock = mockClient(DynamoDBDocumentClient);
const s3 = new S3Client({ region: 'us-east-1' });
const s3Mock = mockClient(s3);
let table: FakeRunIndexTable;
let index: RunIndex;
let g: LocalGlacier;

/** Glacier requests the emulator served, as `METHOD /path`. */
let glacierRequests: string[];
/** Archive descriptions Glacier was given (x-amz-archive-description), in order. */
let descriptions: string[];
/** Answers a Glacier request with an error instead of serving it (return true to swallow it). */
let glacierFault: ((method: string, url: string) => GlacierError | undefined) | undefined;
/** What happened, in order, across the index and S3: `ddb <path> <state>`, `s3 <Command> <key>`. */
let events: string[];

// ---------------------------------------------------------------------------------------------------------------
// An in-memory S3 with the behaviour the archive step relies on: ranged reads pinned by If-Match, versions, copies.

interface StoredObject {
  body: Buffer;
  etag: string;
  versionId?: string;
  storageClass?: string;
  metadata?: Record<string, string>;
}
let objects: Map<string, StoredObject>;
/** Multipart uploads in progress, by upload id. */
let uploads: Map<string, { key: string; parts: Map<number, Buffer>; storageClass?: string; metadata?: Record<string, string> }>;
let copies: number;
/** Called after each UploadPartCopy, so a test can end an invocation mid-copy. */
let afterPartCopy: ((input: UploadPartCopyCommandInput) => void) | undefined;
/** Replaces the CRC64NVME S3 reports for a copy (a corrupted copy). */
let copyChecksum: ((body: Buffer) => string) | undefined;
const crc64 = crc64nvmeOf;
/** Called after each successful GetObject, so a test can change the object between two ranged reads. */
let afterGet: ((input: GetObjectCommandInput) => void) | undefined;

const etagOf = (body: Buffer) => `"${createHash('md5').update(body).digest('hex')}"`;
const s3Error = (name: string, status: number, message: string) =>
  new S3ServiceException({ name, $fault: status >= 500 ? 'server' : 'client', $metadata: { httpStatusCode: status }, message });

function putObject(key: string, body: Buffer, versionId?: string, bucket = BUCKET): StoredObject {
  const object = { body, etag: etagOf(body), versionId };
  objects.set(`${bucket}/${key}`, object);
  return object;
}

function serveS3(): void {
  s3Mock.on(GetObjectCommand).callsFake((input: GetObjectCommandInput) => {
    const object = objects.get(`${input.Bucket}/${input.Key}`);
    if (!object) throw new NoSuchKey({ message: 'The specified key does not exist.', $metadata: { httpStatusCode: 404 } });
    if (input.IfMatch !== undefined && input.IfMatch !== object.etag) {
      throw s3Error('PreconditionFailed', 412, 'At least one of the pre-conditions you specified did not hold');
    }
    let body = object.body;
    if (input.Range) {
      const [, start, end] = /^bytes=(\d+)-(\d+)$/.exec(input.Range)!.map(Number);
      body = object.body.subarray(start, end + 1);
    }
    afterGet?.(input);
    return { Body: Readable.from([body]), ContentLength: body.length, ETag: object.etag };
  });
  s3Mock.on(HeadObjectCommand).callsFake((input: HeadObjectCommandInput) => {
    const object = objects.get(`${input.Bucket}/${input.Key}`);
    if (!object) throw new NotFound({ message: 'Not Found', $metadata: { httpStatusCode: 404 } });
    return { ETag: object.etag, VersionId: object.versionId, ContentLength: object.body.length };
  });
  s3Mock.on(DeleteObjectCommand).callsFake((input: DeleteObjectCommandInput) => {
    events.push(`s3 DeleteObject ${input.Key}`);
    objects.delete(`${input.Bucket}/${input.Key}`);
    return {};
  });
  const sourceOf = (copySource: string) => {
    const slash = copySource.indexOf('/');
    const source = objects.get(`${copySource.slice(0, slash)}/${decodeURIComponent(copySource.slice(slash + 1))}`);
    if (!source) throw new NoSuchKey({ message: 'The specified key does not exist.', $metadata: { httpStatusCode: 404 } });
    return source;
  };
  const checkIfMatch = (ifMatch: string | undefined, source: StoredObject) => {
    if (ifMatch !== undefined && ifMatch !== source.etag)
      throw s3Error('PreconditionFailed', 412, 'At least one of the pre-conditions you specified did not hold');
  };
  s3Mock.on(CopyObjectCommand).callsFake(async (input: CopyObjectCommandInput) => {
    const source = sourceOf(input.CopySource!);
    checkIfMatch(input.CopySourceIfMatch, source);
    const versionId = `copy-v${++copies}`;
    objects.set(`${input.Bucket}/${input.Key}`, { ...source, versionId, storageClass: input.StorageClass, metadata: input.Metadata });
    events.push(`s3 CopyObject ${input.Key}`);
    const checksum = input.ChecksumAlgorithm === 'CRC64NVME' ? { ChecksumCRC64NVME: copyChecksum?.(source.body) ?? (await crc64(source.body)) } : {};
    return { VersionId: versionId, CopyObjectResult: { ETag: source.etag, ...checksum } };
  });
  s3Mock.on(CreateMultipartUploadCommand).callsFake((input: CreateMultipartUploadCommandInput) => {
    const uploadId = `mpu-${uploads.size + 1}`;
    uploads.set(uploadId, { key: `${input.Bucket}/${input.Key}`, parts: new Map(), storageClass: input.StorageClass, metadata: input.Metadata });
    events.push(`s3 CreateMultipartUpload ${input.Key} ${input.ChecksumAlgorithm} ${input.ChecksumType}`);
    return { UploadId: uploadId };
  });
  s3Mock.on(UploadPartCopyCommand).callsFake((input: UploadPartCopyCommandInput) => {
    const upload = uploads.get(input.UploadId!);
    if (!upload) throw s3Error('NoSuchUpload', 404, 'The specified upload does not exist.');
    const source = sourceOf(input.CopySource!);
    checkIfMatch(input.CopySourceIfMatch, source);
    const [, start, end] = /^bytes=(\d+)-(\d+)$/.exec(input.CopySourceRange!)!.map(Number);
    const body = source.body.subarray(start, end + 1);
    upload.parts.set(input.PartNumber!, body);
    events.push(`s3 UploadPartCopy ${input.PartNumber} ${input.CopySourceRange}`);
    afterPartCopy?.(input);
    return { CopyPartResult: { ETag: etagOf(body) } };
  });
  s3Mock.on(S3ListPartsCommand).callsFake((input: ListPartsCommandInput) => {
    const upload = uploads.get(input.UploadId!);
    if (!upload) throw s3Error('NoSuchUpload', 404, 'The specified upload does not exist.');
    const parts = [...upload.parts].sort(([a], [b]) => a - b).map(([PartNumber, body]) => ({ PartNumber, ETag: etagOf(body), Size: body.length }));
    return { Parts: parts, IsTruncated: false };
  });
  s3Mock.on(CompleteMultipartUploadCommand).callsFake(async (input: CompleteMultipartUploadCommandInput) => {
    const upload = uploads.get(input.UploadId!);
    if (!upload) throw s3Error('NoSuchUpload', 404, 'The specified upload does not exist.');
    const numbers = (input.MultipartUpload?.Parts ?? []).map((p) => p.PartNumber!);
    expect(numbers).toEqual(numbers.map((_, i) => i + 1));
    const body = Buffer.concat(numbers.map((n) => upload.parts.get(n)!));
    const versionId = `copy-v${++copies}`;
    objects.set(upload.key, { body, etag: etagOf(body), versionId, storageClass: upload.storageClass, metadata: upload.metadata });
    uploads.delete(input.UploadId!);
    events.push(`s3 CompleteMultipartUpload ${input.Key}`);
    return { VersionId: versionId, ChecksumCRC64NVME: copyChecksum?.(body) ?? (await crc64(body)), ChecksumType: 'FULL_OBJECT' };
  });
  s3Mock.on(AbortMultipartUploadCommand).callsFake((input: AbortMultipartUploadCommandInput) => {
    uploads.delete(input.UploadId!);
    events.push(`s3 AbortMultipartUpload ${input.Key}`);
    return {};
  });
  s3Mock.on(ListMultipartUploadsCommand).callsFake((input: ListMultipartUploadsCommandInput) => {
    const open = [...uploads].filter(([, u]) => u.key.startsWith(`${input.Bucket}/${input.Prefix ?? ''}`));
    return { Uploads: open.map(([UploadId, u]) => ({ UploadId, Key: u.key.slice(input.Bucket!.length + 1) })), IsTruncated: false };
  });
}

// ---------------------------------------------------------------------------------------------------------------

/** Puts an output object in S3 and registers it in the index as the plan does (PENDING, action archive). */
function plannedFile(path: string, body: Buffer, record: Partial<FileRecord> = {}, versionId?: string) {
  const key = `${PREFIX}${path}`;
  const object = putObject(key, body, versionId);
  table.put({
    ...fileKey(UUID, path),
    schemaVersion: SCHEMA_VERSION,
    runUuid: UUID,
    path,
    sourceBucket: BUCKET,
    sourceKey: key,
    size: body.length,
    etag: object.etag,
    action: 'archive',
    state: 'PENDING',
    target: 'glacier-vault',
    updatedAt: '2025-06-01T00:00:00.000Z',
    ...record,
  });
  return { path, bucket: BUCKET, key, size: body.length, etag: object.etag };
}

const item = (...files: WorkItem['files']): WorkItem => ({ files, bytes: files.reduce((n, f) => n + f.size, 0) });
const fileRecord = (path: string) => table.get(`RUN#${UUID}`, `FILE#${path}`) as FileRecord | undefined;
const vaultTier = { target: { type: 'glacier-vault' as const }, deleteSources: true, partSizeMiB: 1 };
const s3Tier = { target: { type: 's3-glacier' as const, storageClass: 'DEEP_ARCHIVE' as const, multipartAbove: '1 GiB', sha256: true }, deleteSources: true };
const NOW = new Date('2025-06-02T10:00:00.000Z');

const archive = (work: WorkItem, extra: Partial<ArchiveItemArgs> = {}) =>
  archiveItem({
    s3,
    glacier: g.glacier,
    index,
    vaultName,
    archiveBucket: ARCHIVE_BUCKET,
    runUuid: UUID,
    item: work,
    tier: vaultTier,
    deadline: Date.now() + 10 * 60_000,
    now: () => NOW,
    ...extra,
  });

/** Reads an archive back out of the emulator through a retrieval job. */
async function archiveBytes(archiveId: string): Promise<Buffer> {
  const { jobId } = await g.glacier.send(
    new InitiateJobCommand({ accountId: '-', vaultName, jobParameters: { Type: 'archive-retrieval', ArchiveId: archiveId } }),
  );
  await g.emulator.completeJobNow(jobId!);
  const { body } = await g.glacier.send(new GetJobOutputCommand({ accountId: '-', vaultName, jobId }));
  return bodyBytes(body);
}

/** The distinct states a file's record went through, in order. */
const statesOf = (path: string) =>
  events
    .filter((e) => e.startsWith(`ddb ${path} `))
    .map((e) => e.split(' ').pop())
    .filter((state, i, all) => state !== all[i - 1]);

beforeAll(async () => {
  g = await startLocalGlacier();
  await g.glacier.send(new CreateVaultCommand({ accountId: '-', vaultName }));
  const handle = g.emulator.handle.bind(g.emulator);
  g.emulator.handle = async (req, res) => {
    const request = `${req.method} ${decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname)}`;
    glacierRequests.push(request);
    const description = req.headers['x-amz-archive-description'];
    if (typeof description === 'string') descriptions.push(description);
    const fault = glacierFault?.(req.method ?? '', request);
    if (fault) {
      req.resume();
      sendError(res, fault, 'fault-injected');
      return;
    }
    return handle(req, res);
  };
});
afterAll(() => g.stop());

beforeEach(() => {
  ddbMock.reset();
  s3Mock.reset();
  table = new FakeRunIndexTable().attach(ddbMock);
  index = new RunIndex(DynamoDBDocumentClient.from(new DynamoDBClient({ region: 'us-east-1' })), table.tableName);
  objects = new Map();
  uploads = new Map();
  copies = 0;
  afterPartCopy = undefined;
  copyChecksum = undefined;
  afterGet = undefined;
  glacierRequests = [];
  descriptions = [];
  glacierFault = undefined;
  events = [];
  table.onWrite = (_command, written) => {
    if (String(written.sk).startsWith('FILE#')) {
      events.push(`ddb ${String(written.path)} ${written.sourceDeleted ? 'SOURCE_DELETED' : String(written.state)}`);
    }
  };
  serveS3();
});

afterEach(() => jest.restoreAllMocks());

describe('archiveItem to a Glacier vault', () => {
  it('streams each file into the vault and records it PENDING → UPLOADING → ARCHIVED with archive id, hashes and part size', async () => {
    const small = testBytes(300 * 1024, 1);
    const large = testBytes(2.5 * MIB, 2);
    const work = item(plannedFile('out/small.vcf', small), plannedFile('out/aligned/large.bam', large));

    const result = await archive(work);

    expect(result).toEqual({ status: 'complete', archived: 2, failed: 0 });
    // Each file is a multipart upload (initiate, its parts, complete), even the small one in one part: a multipart
    // upload can be completed again after a crash, an UploadArchive cannot be named again.
    expect(glacierRequests.filter((r) => r.startsWith('POST') || r.startsWith('PUT'))).toEqual([
      `POST /-/vaults/${vaultName}/multipart-uploads`,
      expect.stringMatching(new RegExp(`^PUT /-/vaults/${vaultName}/multipart-uploads/`)),
      expect.stringMatching(new RegExp(`^POST /-/vaults/${vaultName}/multipart-uploads/.+`)),
      `POST /-/vaults/${vaultName}/multipart-uploads`,
      ...Array<string>(3).fill(expect.stringMatching(new RegExp(`^PUT /-/vaults/${vaultName}/multipart-uploads/`)) as string),
      expect.stringMatching(new RegExp(`^POST /-/vaults/${vaultName}/multipart-uploads/.+`)),
    ]);
    expect(descriptions).toEqual([archiveDescription(UUID, 'out/small.vcf'), archiveDescription(UUID, 'out/aligned/large.bam')]);
    for (const [path, data, parts] of [
      ['out/small.vcf', small, 0],
      ['out/aligned/large.bam', large, 3],
    ] as const) {
      const record = fileRecord(path)!;
      expect(record).toMatchObject({
        state: 'ARCHIVED',
        target: 'glacier-vault',
        vaultName,
        treeHash: treeHashOf(data).toString('hex'),
        sha256: sha256Hex(data),
        size: data.length,
        partSize: MIB,
        archivedAt: NOW.toISOString(),
        sourceDeleted: true,
      });
      expect(record.archiveId).toEqual(expect.any(String));
      expect(record.failureReason).toBeUndefined();
      if (parts) expect(record).toMatchObject({ partsDone: parts, bytesDone: data.length, uploadId: expect.any(String) as string });
      expect((await archiveBytes(record.archiveId!)).equals(data)).toBe(true);
      expect(statesOf(path)).toEqual(['UPLOADING', 'ARCHIVED', 'SOURCE_DELETED']);
      expect(objects.has(`${BUCKET}/${PREFIX}${path}`)).toBe(false);
    }
  });

  it('reads the source pinned to the planned ETag, range by range', async () => {
    const data = testBytes(2 * MIB + 10, 3);
    await archive(item(plannedFile('out/pinned.bam', data)));
    const reads = s3Mock.commandCalls(GetObjectCommand).map((c) => c.args[0].input);
    expect(reads).toEqual([
      expect.objectContaining({ Bucket: BUCKET, Key: `${PREFIX}out/pinned.bam`, Range: `bytes=0-${MIB - 1}`, IfMatch: etagOf(data) }),
      expect.objectContaining({ Range: `bytes=${MIB}-${2 * MIB - 1}`, IfMatch: etagOf(data) }),
      expect.objectContaining({ Range: `bytes=${2 * MIB}-${2 * MIB + 9}`, IfMatch: etagOf(data) }),
    ]);
  });

  it('records a zero-byte file ARCHIVED without an archive (Glacier stores no empty archives) and removes its source', async () => {
    const result = await archive(item(plannedFile('out/empty.txt', Buffer.alloc(0))));
    expect(result).toEqual({ status: 'complete', archived: 1, failed: 0 });
    const record = fileRecord('out/empty.txt')!;
    expect(record).toMatchObject({ state: 'ARCHIVED', size: 0, treeHash: EMPTY_SHA256, sha256: EMPTY_SHA256, sourceDeleted: true });
    expect(record.archiveId).toBeUndefined();
    expect(glacierRequests).toEqual([]);
    expect(s3Mock.commandCalls(GetObjectCommand)).toHaveLength(0);
  });

  it('skips a file already ARCHIVED (no read, no upload) but still removes its source if that was not done', async () => {
    const data = testBytes(1000, 4);
    const done = plannedFile('out/done.bam', data, { state: 'ARCHIVED', archiveId: 'existing-archive', treeHash: 'aa', sha256: 'bb' });
    const cleaned = plannedFile('out/cleaned.bam', data, { state: 'ARCHIVED', archiveId: 'other-archive', sourceDeleted: true });

    const result = await archive(item(done, cleaned));

    expect(result).toEqual({ status: 'complete', archived: 2, failed: 0 });
    expect(glacierRequests).toEqual([]);
    expect(s3Mock.commandCalls(GetObjectCommand)).toHaveLength(0);
    expect(fileRecord('out/done.bam')).toMatchObject({ state: 'ARCHIVED', archiveId: 'existing-archive', sourceDeleted: true });
    expect(objects.has(`${BUCKET}/${done.key}`)).toBe(false);
    // Already cleaned: not even looked at again.
    expect(s3Mock.commandCalls(HeadObjectCommand).map((c) => c.args[0].input.Key)).toEqual([done.key]);
  });

  it('leaves files that are kept, not archived, alone', async () => {
    const kept = plannedFile('out/report.html', testBytes(10, 5), { action: 'keep', state: 'KEPT' });
    const result = await archive(item(kept));
    expect(result).toEqual({ status: 'complete', archived: 0, failed: 0 });
    expect(s3Mock.calls()).toHaveLength(0);
    expect(fileRecord('out/report.html')).toMatchObject({ state: 'KEPT' });
  });

  it('fails loudly for a planned file missing from the index', async () => {
    await expect(archive(item({ path: 'out/ghost.bam', bucket: BUCKET, key: `${PREFIX}out/ghost.bam`, size: 1 }))).rejects.toThrow(
      `file out/ghost.bam of run ${UUID} was planned but is not in the index`,
    );
  });

  describe('the deadline', () => {
    it('returns incomplete without touching anything when too little time is left to start a file', async () => {
      const work = item(plannedFile('out/late.bam', testBytes(100, 6)));
      const result = await archive(work, { deadline: Date.now() + DEADLINE_MARGIN_MS - 1 });
      expect(result).toEqual({ status: 'incomplete', archived: 0, failed: 0 });
      expect(fileRecord('out/late.bam')).toMatchObject({ state: 'PENDING' });
      expect(glacierRequests).toEqual([]);
      expect(s3Mock.calls()).toHaveLength(0);
    });

    it('counts the files done before the deadline and leaves the rest for the next call', async () => {
      const first = plannedFile('out/a.txt', testBytes(100, 7));
      const second = plannedFile('out/b.txt', testBytes(100, 8));
      const clock = skewedClock();
      table.onWrite = (_c, written) => {
        if (written.path === 'out/a.txt' && written.state === 'ARCHIVED') clock.skew = 20 * 60_000;
      };
      const result = await archive(item(first, second), { tier: { ...vaultTier, deleteSources: false } });
      expect(result).toEqual({ status: 'incomplete', archived: 1, failed: 0 });
      expect(fileRecord('out/b.txt')).toMatchObject({ state: 'PENDING' });
    });

    it('stops a multipart upload between parts with its upload id recorded, and the next call resumes it', async () => {
      const data = testBytes(6.5 * MIB, 9);
      const work = item(plannedFile('out/big.bam', data));
      const clock = skewedClock();
      table.onWrite = (_c, written) => {
        if (written.partsDone === 2) clock.skew = 20 * 60_000; // the deadline passes while the third part may be in flight
      };

      const first = await archive(work);

      expect(first).toEqual({ status: 'incomplete', archived: 0, failed: 0 });
      const stopped = fileRecord('out/big.bam')!;
      expect(stopped).toMatchObject({ state: 'UPLOADING', partSize: MIB, uploadId: expect.any(String) as string });
      expect(stopped.partsDone).toBeGreaterThanOrEqual(2);
      expect(stopped.partsDone).toBeLessThan(7);
      const listed = await g.glacier.send(new ListPartsCommand({ accountId: '-', vaultName, uploadId: stopped.uploadId }));
      expect(listed.Parts).toHaveLength(stopped.partsDone!);

      clock.skew = 0;
      table.onWrite = undefined;
      glacierRequests = [];
      const second = await archive(work);

      expect(second).toEqual({ status: 'complete', archived: 1, failed: 0 });
      const initiated = glacierRequests.filter((r) => r === `POST /-/vaults/${vaultName}/multipart-uploads`);
      expect(initiated).toEqual([]);
      const partPuts = glacierRequests.filter((r) => r.startsWith(`PUT /-/vaults/${vaultName}/multipart-uploads/${stopped.uploadId}`));
      expect(partPuts).toHaveLength(7 - stopped.partsDone!);
      const record = fileRecord('out/big.bam')!;
      expect(record).toMatchObject({ state: 'ARCHIVED', treeHash: treeHashOf(data).toString('hex'), sha256: sha256Hex(data), partsDone: 7 });
      expect((await archiveBytes(record.archiveId!)).equals(data)).toBe(true);
    });

    it('records the SHA-256 checkpoint with the progress, hands it back on resume so the archived prefix is not read again, and clears it when ARCHIVED', async () => {
      const data = testBytes(6.5 * MIB, 27);
      const work = item(plannedFile('out/resumed.bam', data));
      const clock = skewedClock();
      const writes: Partial<FileRecord>[] = [];
      table.onWrite = (_c, written) => {
        if (written.path !== 'out/resumed.bam' || written.state !== 'UPLOADING' || written.partsDone === undefined) return;
        writes.push(written);
        if (written.partsDone === 3) clock.skew = 20 * 60_000;
      };

      expect(await archive(work)).toEqual({ status: 'incomplete', archived: 0, failed: 0 });
      // Each progress write carries the checkpoint of that moment: the parts from the start all in the vault. (Parts
      // finish in any order, so a write made while part 0 is still in flight has none yet, and clears any old one.)
      const withCheckpoint = writes.filter((w) => w.partsDone! > 0 && w.sha256Bytes != null);
      expect(withCheckpoint.length).toBeGreaterThan(0);
      for (const written of withCheckpoint) {
        expect(written.sha256Bytes! % MIB).toBe(0);
        expect(written.sha256Bytes).toBeLessThanOrEqual(written.bytesDone!);
        expect(written.sha256State).toEqual(expect.any(String));
      }
      for (const written of writes.filter((w) => w.sha256Bytes == null)) expect(written.sha256State ?? null).toBeNull();
      const stopped = fileRecord('out/resumed.bam')!;
      expect(stopped).toMatchObject({ state: 'UPLOADING', uploadId: expect.any(String) as string, sha256State: expect.any(String) as string });
      const covered = stopped.sha256Bytes! / MIB;
      expect(covered).toBeGreaterThanOrEqual(1);
      expect(covered).toBeLessThanOrEqual(stopped.partsDone!);

      clock.skew = 0;
      table.onWrite = undefined;
      glacierRequests = [];
      s3Mock.resetHistory();
      expect(await archive(work)).toEqual({ status: 'complete', archived: 1, failed: 0 });

      // The covered parts are taken from ListParts; reading starts right after them.
      const reads = s3Mock.commandCalls(GetObjectCommand).map((c) => c.args[0].input.Range);
      expect(reads[0]).toBe(`bytes=${covered * MIB}-${(covered + 1) * MIB - 1}`);
      expect(reads).toHaveLength(7 - covered);
      const record = fileRecord('out/resumed.bam')!;
      expect(record).toMatchObject({ state: 'ARCHIVED', treeHash: treeHashOf(data).toString('hex'), sha256: sha256Hex(data), partsDone: 7 });
      expect(record.sha256State).toBeUndefined();
      expect(record.sha256Bytes).toBeUndefined();
      expect((await archiveBytes(record.archiveId!)).equals(data)).toBe(true);
    });

    it('reads everything again, and still records the right SHA-256, when the recorded checkpoint does not fit the upload', async () => {
      const data = testBytes(4 * MIB, 28);
      const work = item(plannedFile('out/spoiled.bam', data));
      const clock = skewedClock();
      table.onWrite = (_c, written) => {
        if (written.partsDone === 2) clock.skew = 20 * 60_000;
      };
      expect(await archive(work)).toEqual({ status: 'incomplete', archived: 0, failed: 0 });
      clock.skew = 0;
      table.onWrite = undefined;
      // The checkpoint claims a part the upload does not hold.
      await index.updateFile(UUID, 'out/spoiled.bam', ['UPLOADING'], { sha256Bytes: 4 * MIB });
      s3Mock.resetHistory();

      expect(await archive(work)).toEqual({ status: 'complete', archived: 1, failed: 0 });
      expect(s3Mock.commandCalls(GetObjectCommand)).toHaveLength(4);
      const record = fileRecord('out/spoiled.bam')!;
      expect(record).toMatchObject({ state: 'ARCHIVED', sha256: sha256Hex(data), treeHash: treeHashOf(data).toString('hex') });
      expect(record.sha256State).toBeUndefined();
    });

    it('records the upload id even when the deadline stops the upload before its first part', async () => {
      const data = testBytes(3 * MIB, 10);
      const work = item(plannedFile('out/early.bam', data));
      const clock = skewedClock();
      glacierFault = (_method, request) => {
        if (request === `POST /-/vaults/${vaultName}/multipart-uploads`) clock.skew = 20 * 60_000;
        return undefined;
      };

      expect(await archive(work)).toEqual({ status: 'incomplete', archived: 0, failed: 0 });
      const stopped = fileRecord('out/early.bam')!;
      expect(stopped).toMatchObject({ state: 'UPLOADING', uploadId: expect.any(String) as string, partsDone: 0, bytesDone: 0 });
      expect(stopped.sha256State).toBeUndefined(); // nothing in the vault yet: no checkpoint

      clock.skew = 0;
      glacierFault = undefined;
      glacierRequests = [];
      expect(await archive(work)).toEqual({ status: 'complete', archived: 1, failed: 0 });
      expect(glacierRequests).not.toContain(`POST /-/vaults/${vaultName}/multipart-uploads`);
      expect(fileRecord('out/early.bam')).toMatchObject({ state: 'ARCHIVED', treeHash: treeHashOf(data).toString('hex') });
    });
  });

  it('starts a fresh upload when the one the record names is gone from the vault', async () => {
    const data = testBytes(2 * MIB + 5, 26);
    const work = item(
      plannedFile('out/stale.bam', data, {
        state: 'UPLOADING',
        partSize: MIB,
        uploadId: 'upload-gone-long-ago',
        partsDone: 1,
        // The old upload's checkpoint: it must not be applied to the fresh upload.
        sha256State: 'c3RhbGU=',
        sha256Bytes: MIB,
      }),
    );

    expect(await archive(work)).toEqual({ status: 'complete', archived: 1, failed: 0 });
    expect(s3Mock.commandCalls(GetObjectCommand).map((c) => c.args[0].input.Range)).toEqual([
      `bytes=0-${MIB - 1}`,
      `bytes=${MIB}-${2 * MIB - 1}`,
      `bytes=${2 * MIB}-${2 * MIB + 4}`,
    ]);

    expect(glacierRequests.filter((r) => r === `POST /-/vaults/${vaultName}/multipart-uploads`)).toHaveLength(1);
    const record = fileRecord('out/stale.bam')!;
    expect(record).toMatchObject({ state: 'ARCHIVED', treeHash: treeHashOf(data).toString('hex'), partsDone: 3 });
    expect(record.uploadId).not.toBe('upload-gone-long-ago');
    expect(record.sha256State).toBeUndefined();
    expect((await archiveBytes(record.archiveId!)).equals(data)).toBe(true);
  });

  it('an upload left idle for a day is gone (the emulator clock moved on): the next invocation starts afresh and archives it once', async () => {
    const data = testBytes(3 * MIB, 27);
    const work = item(plannedFile('out/idle.bam', data));
    const clock = skewedClock();
    let parts = 0;
    glacierFault = (method) => {
      if (method === 'PUT' && ++parts === 1) clock.skew = 10 * 60_000; // after the first part, the deadline is near
      return undefined;
    };
    expect(await archive(work, { deadline: Date.now() + 10 * 60_000 })).toMatchObject({ status: 'incomplete' });
    const stopped = fileRecord('out/idle.bam')!;
    expect(stopped).toMatchObject({ state: 'UPLOADING', uploadId: expect.any(String) as string });
    glacierFault = undefined;
    clock.skew = 0;

    g.emulator.advanceClock(25 * 60 * 60 * 1000);
    expect(g.emulator.openUploads(vaultName)).toContain(stopped.uploadId); // removed lazily, at the next request
    expect(await archive(work)).toEqual({ status: 'complete', archived: 1, failed: 0 });
    expect(g.emulator.openUploads(vaultName)).not.toContain(stopped.uploadId);
    const description = archiveDescription(UUID, 'out/idle.bam');
    expect(g.emulator.archivesIn(vaultName).filter((a) => a.description === description)).toHaveLength(1);
    expect((await archiveBytes(fileRecord('out/idle.bam')!.archiveId!)).equals(data)).toBe(true);
  });

  describe('errors', () => {
    it('records permanent per-file errors FAILED with the reason and goes on with the other files', async () => {
      const missing = plannedFile('out/missing.bam', testBytes(100, 11));
      objects.delete(`${BUCKET}/${missing.key}`);
      const changing = plannedFile('out/changing.bam', testBytes(3 * MIB, 12));
      const fine = plannedFile('out/fine.bam', testBytes(2000, 13));
      // The object is overwritten after its first range is read: the next pinned read fails.
      afterGet = (input) => {
        if (input.Key === changing.key) putObject(changing.key, testBytes(3 * MIB, 99));
      };

      const result = await archive(item(missing, changing, fine));

      expect(result).toEqual({ status: 'complete', archived: 1, failed: 2 });
      expect(fileRecord('out/missing.bam')).toMatchObject({ state: 'FAILED', failureReason: expect.stringMatching(/^NoSuchKey: /) as string });
      expect(fileRecord('out/changing.bam')).toMatchObject({ state: 'FAILED', failureReason: expect.stringMatching(/^PreconditionFailed: /) as string });
      expect(fileRecord('out/fine.bam')).toMatchObject({ state: 'ARCHIVED', sourceDeleted: true });
      expect(fileRecord('out/missing.bam')?.sourceDeleted).toBeUndefined();
      expect(fileRecord('out/changing.bam')?.sourceDeleted).toBeUndefined();
      // Only the archived file's source is removed; the changed one stays as it now is.
      expect(s3Mock.commandCalls(DeleteObjectCommand).map((c) => c.args[0].input.Key)).toEqual([fine.key]);
      expect(objects.has(`${BUCKET}/${changing.key}`)).toBe(true);
    });

    it('archives a FAILED file again on a later call, clearing its old reason', async () => {
      const data = testBytes(500, 14);
      plannedFile('out/retry.bam', data, { state: 'FAILED', failureReason: 'NoSuchKey: gone' });
      const result = await archive(item({ path: 'out/retry.bam', bucket: BUCKET, key: `${PREFIX}out/retry.bam`, size: 500 }));
      expect(result).toEqual({ status: 'complete', archived: 1, failed: 0 });
      const record = fileRecord('out/retry.bam')!;
      expect(record.state).toBe('ARCHIVED');
      expect(record.failureReason).toBeUndefined();
    });

    it.each([
      ['S3 throttling (SlowDown, 503)', 'SlowDown'],
      ['an S3 internal error (500)', 'InternalError'],
    ])('throws %s for the workflow to retry, recording nothing as failed', async (_name, code) => {
      const work = item(plannedFile('out/throttled.bam', testBytes(100, 15)));
      s3Mock.on(GetObjectCommand).rejects(s3Error(code, code === 'SlowDown' ? 503 : 500, 'Please reduce your request rate.'));
      await expect(archive(work)).rejects.toMatchObject({ name: code });
      const record = fileRecord('out/throttled.bam')!;
      expect(record.state).toBe('UPLOADING');
      expect(record.failureReason).toBeUndefined();
      expect(s3Mock.commandCalls(DeleteObjectCommand)).toHaveLength(0);
    });

    it('throws a Glacier server error (500) for the workflow to retry, and the retry archives the file', async () => {
      const data = testBytes(700, 16);
      const work = item(plannedFile('out/unavailable.bam', data));
      glacierFault = (method) => (method === 'POST' ? new GlacierError('ServiceUnavailableException', 'Service is unavailable') : undefined);
      await expect(archive(work)).rejects.toMatchObject({ name: 'ServiceUnavailableException' });
      expect(fileRecord('out/unavailable.bam')).toMatchObject({ state: 'UPLOADING' });
      expect(objects.has(`${BUCKET}/${work.files[0].key}`)).toBe(true);

      glacierFault = undefined;
      expect(await archive(work)).toEqual({ status: 'complete', archived: 1, failed: 0 });
      expect(fileRecord('out/unavailable.bam')).toMatchObject({ state: 'ARCHIVED', treeHash: treeHashOf(data).toString('hex') });
    });

    it('throws a throttled index write rather than recording the file failed', async () => {
      const work = item(plannedFile('out/index-throttled.bam', testBytes(100, 17)));
      table.beforeUpdate = () => {
        throw Object.assign(new Error('Rate exceeded'), { name: 'ProvisionedThroughputExceededException' });
      };
      await expect(archive(work)).rejects.toMatchObject({ name: 'ProvisionedThroughputExceededException' });
      expect(glacierRequests).toEqual([]);
    });
  });

  describe('source clean-up', () => {
    it('deletes nothing when the tier keeps sources', async () => {
      const work = item(plannedFile('out/keep-source.bam', testBytes(100, 18)));
      const result = await archive(work, { tier: { ...vaultTier, deleteSources: false } });
      expect(result).toEqual({ status: 'complete', archived: 1, failed: 0 });
      expect(s3Mock.commandCalls(HeadObjectCommand)).toHaveLength(0);
      expect(s3Mock.commandCalls(DeleteObjectCommand)).toHaveLength(0);
      expect(objects.has(`${BUCKET}/${work.files[0].key}`)).toBe(true);
      const record = fileRecord('out/keep-source.bam')!;
      expect(record.state).toBe('ARCHIVED');
      expect(record.sourceDeleted).toBeUndefined();
    });

    it('keeps a source that changed after it was archived: the archive stands and the record says why', async () => {
      const archived = plannedFile('out/rewritten.bam', testBytes(100, 19), { state: 'ARCHIVED', archiveId: 'archive-1' });
      putObject(archived.key, testBytes(100, 20)); // rewritten after the archive was made

      const result = await archive(item(archived));

      expect(result).toEqual({ status: 'complete', archived: 1, failed: 0 });
      expect(s3Mock.commandCalls(DeleteObjectCommand)).toHaveLength(0);
      const record = fileRecord('out/rewritten.bam')!;
      expect(record).toMatchObject({
        state: 'ARCHIVED',
        archiveId: 'archive-1',
        failureReason: expect.stringMatching(/^source not removed: SourceChanged: .*changed after it was archived/) as string,
      });
      expect(record.sourceDeleted).toBeUndefined();
    });

    it('deletes exactly the version it checked (the VersionId HeadObject returned)', async () => {
      const work = item(plannedFile('out/versioned.bam', testBytes(100, 21), {}, 'version-3'));
      await archive(work);
      expect(s3Mock).toHaveReceivedCommandWith(DeleteObjectCommand, { Bucket: BUCKET, Key: work.files[0].key, VersionId: 'version-3' });
    });

    it('treats a source already gone as removed', async () => {
      const archived = plannedFile('out/gone.bam', testBytes(100, 22), { state: 'ARCHIVED', archiveId: 'archive-2' });
      objects.delete(`${BUCKET}/${archived.key}`);
      expect(await archive(item(archived))).toEqual({ status: 'complete', archived: 1, failed: 0 });
      expect(s3Mock.commandCalls(DeleteObjectCommand)).toHaveLength(0);
      expect(fileRecord('out/gone.bam')).toMatchObject({ sourceDeleted: true });
    });

    it('deletes a source only after its archive is recorded, and marks it deleted only after that', async () => {
      const work = item(plannedFile('out/ordered.bam', testBytes(100, 23)));
      await archive(work);
      expect(events).toEqual([
        'ddb out/ordered.bam UPLOADING', // claimed
        'ddb out/ordered.bam UPLOADING', // its one part
        'ddb out/ordered.bam UPLOADING', // about to complete: the intent
        'ddb out/ordered.bam ARCHIVED',
        `s3 DeleteObject ${work.files[0].key}`,
        'ddb out/ordered.bam SOURCE_DELETED',
      ]);
    });

    it('never deletes the source of a file whose archive failed', async () => {
      const work = item(plannedFile('out/bad.bam', testBytes(100, 24)));
      glacierFault = (method) => (method === 'POST' ? new GlacierError('InvalidParameterValueException', 'Invalid archive') : undefined);
      expect(await archive(work)).toEqual({ status: 'complete', archived: 0, failed: 1 });
      expect(fileRecord('out/bad.bam')).toMatchObject({ state: 'FAILED', failureReason: expect.stringMatching(/^InvalidParameterValueException/) as string });
      expect(s3Mock.commandCalls(HeadObjectCommand)).toHaveLength(0);
      expect(s3Mock.commandCalls(DeleteObjectCommand)).toHaveLength(0);
    });
  });

  it('gives Glacier a printable ASCII description for unicode paths', async () => {
    const data = testBytes(100, 25);
    const work = item(plannedFile('out/échantillon données/样品 1.bam', data));
    expect(await archive(work)).toEqual({ status: 'complete', archived: 1, failed: 0 });
    expect(fileRecord('out/échantillon données/样品 1.bam')).toMatchObject({ state: 'ARCHIVED' });
    expect(descriptions).toHaveLength(1);
    expect(descriptions[0]).toMatch(/^[\x20-\x7e]+$/);
    expect(JSON.parse(descriptions[0])).toEqual({ runUuid: UUID, path: 'out/échantillon données/样品 1.bam' });
  });
});

describe('archiveItem to an S3 Glacier storage class', () => {
  const s3Archive = (work: WorkItem, extra: Partial<ArchiveItemArgs> = {}) => archive(work, { tier: s3Tier, ...extra });

  it('copies the object into the class, pinned to its ETag, under runs/<uuid>/<path>, with its SHA-256 recorded', async () => {
    const data = testBytes(4000, 30);
    const path = 'out/my sample/échantillon #1+ß.bam';
    const work = item(plannedFile(path, data, { target: 's3-glacier' }));

    const result = await s3Archive(work);

    expect(result).toEqual({ status: 'complete', archived: 1, failed: 0 });
    const copy = s3Mock.commandCalls(CopyObjectCommand)[0].args[0].input;
    expect(copy).toEqual({
      Bucket: ARCHIVE_BUCKET,
      Key: `runs/${UUID}/${path}`,
      CopySource: `${BUCKET}/${PREFIX}out/my%20sample/%C3%A9chantillon%20%231%2B%C3%9F.bam`,
      CopySourceIfMatch: etagOf(data),
      StorageClass: 'DEEP_ARCHIVE',
      MetadataDirective: 'REPLACE',
      Metadata: { 'run-uuid': UUID, sha256: sha256Hex(data) },
      ChecksumAlgorithm: 'CRC64NVME',
    });
    expect(fileRecord(path)).toMatchObject({
      state: 'ARCHIVED',
      target: 's3-glacier',
      archiveBucket: ARCHIVE_BUCKET,
      archiveKey: `runs/${UUID}/${path}`,
      archiveVersionId: 'copy-v1',
      storageClass: 'DEEP_ARCHIVE',
      checksumAlgorithm: 'CRC64NVME',
      checksum: await crc64(data),
      copyMethod: 'single',
      copyParts: 1,
      sha256: sha256Hex(data),
      archivedAt: NOW.toISOString(),
      sourceDeleted: true,
    });
    expect(objects.get(`${ARCHIVE_BUCKET}/runs/${UUID}/${path}`)?.body.equals(data)).toBe(true);
    expect(glacierRequests).toEqual([]);
    expect(events.indexOf(`s3 CopyObject runs/${UUID}/${path}`)).toBeLessThan(events.indexOf(`ddb ${path} ARCHIVED`));
    expect(events.indexOf(`ddb ${path} ARCHIVED`)).toBeLessThan(events.indexOf(`s3 DeleteObject ${work.files[0].key}`));
  });

  it("puts the tier's Object Lock retention on the verified version, then records it (retainFor, retentionMode)", async () => {
    const path = 'out/kept.bam';
    const work = item(plannedFile(path, testBytes(3000, 33), { target: 's3-glacier' }));
    s3Mock.on(PutObjectRetentionCommand).callsFake((input: { Key: string }) => {
      events.push(`s3 PutObjectRetention ${input.Key}`);
      return {};
    });
    const tier = { ...s3Tier, target: { ...s3Tier.target, retainFor: 'P7Y', retentionMode: 'COMPLIANCE' as const } };

    expect(await s3Archive(work, { tier })).toEqual({ status: 'complete', archived: 1, failed: 0 });

    const until = '2032-06-02T10:00:00.000Z'; // seven calendar years, leap days included
    const [call] = s3Mock.commandCalls(PutObjectRetentionCommand);
    expect(call.args[0].input).toEqual({
      Bucket: ARCHIVE_BUCKET,
      Key: `runs/${UUID}/${path}`,
      VersionId: 'copy-v1',
      Retention: { Mode: 'COMPLIANCE', RetainUntilDate: new Date(until) },
    });
    expect(fileRecord(path)).toMatchObject({ state: 'ARCHIVED', retentionMode: 'COMPLIANCE', retainUntil: until });
    expect(events.indexOf(`s3 CopyObject runs/${UUID}/${path}`)).toBeLessThan(events.indexOf(`s3 PutObjectRetention runs/${UUID}/${path}`));
    expect(events.indexOf(`s3 PutObjectRetention runs/${UUID}/${path}`)).toBeLessThan(events.indexOf(`ddb ${path} ARCHIVED`));
  });

  it('puts no retention without retainFor, and GOVERNANCE when retainFor names no mode', async () => {
    s3Mock.on(PutObjectRetentionCommand).resolves({});
    await s3Archive(item(plannedFile('out/plain.bam', testBytes(100, 34), { target: 's3-glacier' })));
    expect(s3Mock.commandCalls(PutObjectRetentionCommand)).toHaveLength(0);
    expect(fileRecord('out/plain.bam')).not.toHaveProperty('retainUntil');
    const tier = { ...s3Tier, target: { ...s3Tier.target, retainFor: 'P30D' } };
    await s3Archive(item(plannedFile('out/governed.bam', testBytes(100, 35), { target: 's3-glacier' })), { tier });
    expect(s3Mock.commandCalls(PutObjectRetentionCommand)[0].args[0].input.Retention).toEqual({
      Mode: 'GOVERNANCE',
      RetainUntilDate: new Date('2025-07-02T10:00:00.000Z'),
    });
  });

  it('records FAILED when the object changes between hashing and copying', async () => {
    const work = item(plannedFile('out/moving.bam', testBytes(100, 31), { target: 's3-glacier' }));
    afterGet = (input) => putObject(input.Key!, testBytes(100, 32));
    expect(await s3Archive(work)).toEqual({ status: 'complete', archived: 0, failed: 1 });
    expect(fileRecord('out/moving.bam')).toMatchObject({ state: 'FAILED', failureReason: expect.stringMatching(/^PreconditionFailed/) as string });
    expect(s3Mock.commandCalls(DeleteObjectCommand)).toHaveLength(0);
  });

  const multipartTier = (extra: Record<string, unknown> = {}) => ({
    ...s3Tier,
    target: { ...s3Tier.target, multipartAbove: 5 * MIB, partSize: 5 * MIB, ...extra },
  });

  it('copies a file above multipartAbove with a multipart copy of 5 MiB parts, verified by CRC64NVME, nothing left open', async () => {
    const data = testBytes(12 * MIB + 17 * 1024, 35); // 12 MiB + 17 KiB: three parts, the last short
    const path = 'out/big.cram';
    const work = item(plannedFile(path, data, { target: 's3-glacier' }));

    expect(await s3Archive(work, { tier: multipartTier() })).toEqual({ status: 'complete', archived: 1, failed: 0 });

    expect(events.filter((e) => e.startsWith('s3 CreateMultipartUpload'))).toEqual([`s3 CreateMultipartUpload runs/${UUID}/${path} CRC64NVME FULL_OBJECT`]);
    expect(s3Mock.commandCalls(UploadPartCopyCommand).map((c) => c.args[0].input.CopySourceRange)).toEqual([
      `bytes=0-${5 * MIB - 1}`,
      `bytes=${5 * MIB}-${10 * MIB - 1}`,
      `bytes=${10 * MIB}-${data.length - 1}`,
    ]);
    for (const call of s3Mock.commandCalls(UploadPartCopyCommand)) expect(call.args[0].input.CopySourceIfMatch).toBe(etagOf(data));
    const complete = s3Mock.commandCalls(CompleteMultipartUploadCommand)[0].args[0].input;
    expect(complete).toMatchObject({ ChecksumType: 'FULL_OBJECT', ChecksumCRC64NVME: await crc64(data) });
    expect(fileRecord(path)).toMatchObject({
      state: 'ARCHIVED',
      checksumAlgorithm: 'CRC64NVME',
      checksum: await crc64(data),
      copyMethod: 'multipart',
      copyParts: 3,
      sha256: sha256Hex(data),
      archiveKey: `runs/${UUID}/${path}`,
      storageClass: 'DEEP_ARCHIVE',
    });
    expect(fileRecord(path)?.uploadId).toBeUndefined();
    expect(objects.get(`${ARCHIVE_BUCKET}/runs/${UUID}/${path}`)?.body.equals(data)).toBe(true);
    expect(uploads.size).toBe(0);
    expect(s3Mock.commandCalls(CopyObjectCommand)).toHaveLength(0);
  });

  it('with sha256: false and a source whose CRC64NVME S3 reports, reads no byte of the file', async () => {
    const data = testBytes(11 * MIB, 36);
    const work = item(plannedFile('out/quiet.bam', data, { target: 's3-glacier' }));
    const sourceCrc = await crc64(data);
    s3Mock.on(HeadObjectCommand).callsFake((input: HeadObjectCommandInput) => {
      const object = objects.get(`${input.Bucket}/${input.Key}`)!;
      return {
        ETag: object.etag,
        ContentLength: object.body.length,
        ...(input.ChecksumMode === 'ENABLED' && { ChecksumCRC64NVME: sourceCrc, ChecksumType: 'FULL_OBJECT' }),
      };
    });

    expect(await s3Archive(work, { tier: { ...multipartTier({ sha256: false }), deleteSources: false } })).toEqual({
      status: 'complete',
      archived: 1,
      failed: 0,
    });

    expect(s3Mock.commandCalls(GetObjectCommand)).toHaveLength(0);
    expect(fileRecord('out/quiet.bam')).toMatchObject({ state: 'ARCHIVED', checksum: sourceCrc, copyMethod: 'multipart', copyParts: 3 });
    expect(fileRecord('out/quiet.bam')?.sha256).toBeUndefined();
  });

  it('stops before the deadline mid-copy and the next call resumes from the upload: one object, one checksum', async () => {
    const data = testBytes(17 * MIB, 37); // four parts of 5 MiB
    const path = 'out/resumed.bam';
    const work = item(plannedFile(path, data, { target: 's3-glacier' }));
    const clock = { now: 1_000_000 };
    const spy = jest.spyOn(Date, 'now').mockImplementation(() => clock.now);
    try {
      // Each part copy takes 40 s of the clock: the first call (deadline 2 min + margin away) gets through two parts.
      afterPartCopy = () => {
        clock.now += 40_000;
      };
      const first = await s3Archive(work, { tier: multipartTier(), deadline: clock.now + DEADLINE_MARGIN_MS + 120_000 });
      expect(first.status).toBe('incomplete');
      const stopped = fileRecord(path)!;
      expect(stopped).toMatchObject({ state: 'UPLOADING', uploadId: 'mpu-1' });
      expect(stopped.partsDone).toBeGreaterThanOrEqual(1);
      expect(stopped.partsDone).toBeLessThan(4);

      const second = await s3Archive(work, { tier: multipartTier(), deadline: clock.now + 3_600_000 });
      expect(second).toEqual({ status: 'complete', archived: 1, failed: 0 });
    } finally {
      spy.mockRestore();
    }
    expect(s3Mock.commandCalls(CreateMultipartUploadCommand)).toHaveLength(1);
    expect(s3Mock.commandCalls(UploadPartCopyCommand)).toHaveLength(4); // no part copied twice
    expect(s3Mock.commandCalls(CompleteMultipartUploadCommand)).toHaveLength(1);
    expect(objects.get(`${ARCHIVE_BUCKET}/runs/${UUID}/${path}`)?.body.equals(data)).toBe(true);
    expect(fileRecord(path)).toMatchObject({ state: 'ARCHIVED', checksum: await crc64(data), sha256: sha256Hex(data), copyParts: 4 });
    expect(uploads.size).toBe(0);
  });

  it('a copy whose CRC64NVME differs from the source is removed and the file FAILED, its source kept', async () => {
    const data = testBytes(64, 38);
    const work = item(plannedFile('out/bent.bam', data, { target: 's3-glacier' }));
    copyChecksum = () => 'AAAAAAAAAAA=';

    expect(await s3Archive(work)).toEqual({ status: 'complete', archived: 0, failed: 1 });

    expect(fileRecord('out/bent.bam')).toMatchObject({ state: 'FAILED', failureReason: expect.stringMatching(/^ChecksumMismatch: .*AAAAAAAAAAA=/) as string });
    expect(objects.has(`${ARCHIVE_BUCKET}/runs/${UUID}/out/bent.bam`)).toBe(false);
    expect(objects.has(`${BUCKET}/${work.files[0].key}`)).toBe(true);
  });

  it('aborts the multipart upload when the source changes mid-copy, and records FAILED', async () => {
    const data = testBytes(11 * MIB, 39);
    const work = item(plannedFile('out/shifting.bam', data, { target: 's3-glacier' }));
    afterPartCopy = (input) => {
      if (input.PartNumber === 1) putObject(work.files[0].key, testBytes(11 * MIB, 40));
    };

    expect(await s3Archive(work, { tier: multipartTier() })).toEqual({ status: 'complete', archived: 0, failed: 1 });

    expect(fileRecord('out/shifting.bam')).toMatchObject({ state: 'FAILED', failureReason: expect.stringMatching(/^PreconditionFailed/) as string });
    expect(s3Mock.commandCalls(AbortMultipartUploadCommand)).toHaveLength(1);
    expect(uploads.size).toBe(0);
    expect(s3Mock.commandCalls(DeleteObjectCommand)).toHaveLength(0);
  });

  it('refuses a file larger than S3 allows (10,000 parts of 5 GiB) with a clear reason, copying nothing, and goes on', async () => {
    const tooBig = 10_000 * 5 * 1024 ** 3 + 1;
    const huge = plannedFile('out/huge.bam', Buffer.alloc(0), { size: tooBig, target: 's3-glacier' });
    const fine = plannedFile('out/fine.bam', testBytes(10, 33), { target: 's3-glacier' });

    const result = await s3Archive(item({ ...huge, size: tooBig }, fine));

    expect(result).toEqual({ status: 'complete', archived: 1, failed: 1 });
    expect(fileRecord('out/huge.bam')).toMatchObject({
      state: 'FAILED',
      failureReason: expect.stringMatching(/^SourceTooLarge: .*53687091200001 bytes/) as string,
    });
    expect(s3Mock.commandCalls(GetObjectCommand).map((c) => c.args[0].input.Key)).toEqual([fine.key]);
    expect(s3Mock.commandCalls(CopyObjectCommand)).toHaveLength(1);
    expect(s3Mock.commandCalls(CreateMultipartUploadCommand)).toHaveLength(0);
  });

  it('throws when the tier targets s3-glacier but the stack has no archive bucket', async () => {
    const work = item(plannedFile('out/nowhere.bam', testBytes(10, 34), { target: 's3-glacier' }));
    await expect(s3Archive(work, { archiveBucket: undefined })).rejects.toThrow('no archive bucket');
    expect(fileRecord('out/nowhere.bam')).toMatchObject({ state: 'PENDING' });
  });
});

describe('archiveItem of a 100 GB file to an S3 Glacier storage class (no bytes held: S3 copies them)', () => {
  const SIZE = 100 * 1000 ** 3;
  const SOURCE_CRC = 'q4sUhgp5mIg=';
  /** What the archive bucket's multipart upload holds: the byte ranges copied into it, by part number. */
  let ranges: Map<number, string>;
  let partCopies: number;
  let crashAtPart: number | undefined;

  beforeEach(() => {
    ranges = new Map();
    partCopies = 0;
    crashAtPart = undefined;
    table.put({
      ...fileKey(UUID, 'out/genome.bam'),
      schemaVersion: SCHEMA_VERSION,
      runUuid: UUID,
      path: 'out/genome.bam',
      sourceBucket: BUCKET,
      sourceKey: `${PREFIX}out/genome.bam`,
      size: SIZE,
      etag: '"genome-etag-1"',
      action: 'archive',
      state: 'PENDING',
      target: 's3-glacier',
      updatedAt: '2025-06-01T00:00:00.000Z',
    });
    s3Mock.on(HeadObjectCommand).resolves({ ContentLength: SIZE, ETag: '"genome-etag-1"', ChecksumCRC64NVME: SOURCE_CRC, ChecksumType: 'FULL_OBJECT' });
    s3Mock.on(CreateMultipartUploadCommand).resolves({ UploadId: 'mpu-genome' });
    s3Mock
      .on(ListMultipartUploadsCommand)
      .resolves({ Uploads: [{ Key: archiveObjectKey(UUID, 'out/genome.bam'), UploadId: 'mpu-genome' }], IsTruncated: false });
    s3Mock.on(UploadPartCopyCommand).callsFake((input: UploadPartCopyCommandInput) => {
      partCopies++;
      // A crash: the invocation dies (here: an error no retry inside it fixes) after some parts are in.
      if (crashAtPart !== undefined && input.PartNumber === crashAtPart) throw s3Error('InternalError', 500, 'We encountered an internal error.');
      expect(input.CopySourceIfMatch).toBe('"genome-etag-1"');
      ranges.set(input.PartNumber!, input.CopySourceRange!);
      return { CopyPartResult: { ETag: `"part-${input.PartNumber}"` } };
    });
    s3Mock.on(S3ListPartsCommand).callsFake(() => ({
      Parts: [...ranges.keys()]
        .sort((a, b) => a - b)
        .map((n) => {
          const [, start, end] = /^bytes=(\d+)-(\d+)$/.exec(ranges.get(n)!)!.map(Number);
          return { PartNumber: n, ETag: `"part-${n}"`, Size: end - start + 1 };
        }),
      IsTruncated: false,
    }));
    s3Mock.on(CompleteMultipartUploadCommand).callsFake((input: CompleteMultipartUploadCommandInput) => {
      // The copy is the source only if its parts tile the file exactly, in order.
      let next = 0;
      for (const part of input.MultipartUpload!.Parts!) {
        const [, start, end] = /^bytes=(\d+)-(\d+)$/.exec(ranges.get(part.PartNumber!)!)!.map(Number);
        if (start !== next) return { VersionId: 'v-bad', ChecksumCRC64NVME: 'AAAAAAAAAAA=' };
        next = end + 1;
      }
      return { VersionId: 'v-genome', ChecksumCRC64NVME: next === SIZE ? SOURCE_CRC : 'AAAAAAAAAAA=' };
    });
  });

  const genomeTier = { ...s3Tier, target: { ...s3Tier.target, sha256: false } };
  const genomeItem = () => item({ path: 'out/genome.bam', bucket: BUCKET, key: `${PREFIX}out/genome.bam`, size: SIZE, etag: '"genome-etag-1"' });

  it('copies it in 1,491 parts of 64 MiB without reading a byte, and records the CRC64NVME S3 reports for the source', async () => {
    expect(await archive(genomeItem(), { tier: { ...genomeTier, deleteSources: false } })).toEqual({ status: 'complete', archived: 1, failed: 0 });
    expect(ranges.size).toBe(Math.ceil(SIZE / (64 * MIB)));
    expect(ranges.size).toBe(1491);
    expect(s3Mock.commandCalls(GetObjectCommand)).toHaveLength(0);
    expect(fileRecord('out/genome.bam')).toMatchObject({
      state: 'ARCHIVED',
      checksum: SOURCE_CRC,
      copyMethod: 'multipart',
      copyParts: 1491,
      partSize: 64 * MIB,
    });
  });

  it('after an invocation crashes mid-copy, the next one resumes the same upload: one object, one checksum, no part copied twice', async () => {
    crashAtPart = 700;
    await expect(archive(genomeItem(), { tier: { ...genomeTier, deleteSources: false } })).rejects.toMatchObject({ name: 'InternalError' });
    const crashed = fileRecord('out/genome.bam')!;
    expect(crashed).toMatchObject({ state: 'UPLOADING', uploadId: 'mpu-genome' });
    const before = ranges.size;
    expect(before).toBeGreaterThan(600);
    expect(before).toBeLessThan(1491);

    crashAtPart = undefined;
    const copiesBefore = partCopies;
    expect(await archive(genomeItem(), { tier: { ...genomeTier, deleteSources: false } })).toEqual({ status: 'complete', archived: 1, failed: 0 });
    expect(partCopies - copiesBefore).toBe(1491 - before); // only the parts the upload did not hold
    expect(s3Mock.commandCalls(CreateMultipartUploadCommand)).toHaveLength(1);
    expect(s3Mock.commandCalls(CompleteMultipartUploadCommand)).toHaveLength(1);
    expect(fileRecord('out/genome.bam')).toMatchObject({ state: 'ARCHIVED', checksum: SOURCE_CRC, archiveVersionId: 'v-genome', copyParts: 1491 });
  });
});

describe('archiveItem claims each file: one worker at a time, across executions and retries', () => {
  it('two workers on one item at once leave one archive per file; the loser waits (FileClaimed) or finds the file done', async () => {
    const files = [testBytes(2.5 * MIB, 20), testBytes(300 * 1024, 21), testBytes(1.5 * MIB, 22)];
    const work = item(...files.map((data, i) => plannedFile(`out/claimed-${i}.bam`, data)));

    const outcomes = await Promise.allSettled([archive(work, { claimOwner: 'worker-a' }), archive(work, { claimOwner: 'worker-b' })]);

    const uploads = glacierRequests.filter((r) => r === `POST /-/vaults/${vaultName}/multipart-uploads`);
    expect(uploads).toHaveLength(files.length);
    for (const outcome of outcomes) {
      if (outcome.status === 'rejected') expect(outcome.reason).toMatchObject({ name: 'FileClaimed' });
    }
    expect(outcomes.some((o) => o.status === 'fulfilled')).toBe(true);
    // The loser, retried (as the workflow retries FileClaimed), finds everything archived and uploads nothing.
    const retry = await archive(work, { claimOwner: 'worker-b' });
    expect(retry).toEqual({ status: 'complete', archived: files.length, failed: 0 });
    expect(glacierRequests.filter((r) => r.startsWith('POST'))).toHaveLength(2 * uploads.length); // and their completions
    for (let i = 0; i < files.length; i++) {
      const record = fileRecord(`out/claimed-${i}.bam`)!;
      expect(record).toMatchObject({ state: 'ARCHIVED' });
      expect(record.claimOwner).toBeUndefined();
      expect((await archiveBytes(record.archiveId!)).equals(files[i])).toBe(true);
    }
  });

  it('a live claim stops another worker before any upload; once it expires the file is taken over and resumed', async () => {
    const data = testBytes(2.5 * MIB, 23);
    const work = item(plannedFile('out/held.bam', data, { claimOwner: 'crashed-worker', claimExpiresAt: Date.now() + 60_000 }));

    await expect(archive(work)).rejects.toMatchObject({ name: 'FileClaimed', message: expect.stringContaining('crashed-worker') as string });
    expect(glacierRequests.filter((r) => r.startsWith('POST') || r.startsWith('PUT'))).toEqual([]);
    expect(fileRecord('out/held.bam')).toMatchObject({ state: 'PENDING', claimOwner: 'crashed-worker' });

    table.put({ ...fileRecord('out/held.bam')!, claimExpiresAt: Date.now() - 1 });
    expect(await archive(work)).toEqual({ status: 'complete', archived: 1, failed: 0 });
    expect(fileRecord('out/held.bam')).toMatchObject({ state: 'ARCHIVED' });
    expect(fileRecord('out/held.bam')!.claimOwner).toBeUndefined();
  });

  it('the next claimant aborts the vault upload a crashed attempt started but never recorded, and archives the file once', async () => {
    const data = testBytes(1.5 * MIB, 28);
    // The crashed attempt claimed the file (attempts 1) and initiated an upload, then died before recording its id.
    const work = item(plannedFile('out/orphan.bam', data, { state: 'UPLOADING', attempts: 1 }));
    const description = archiveDescription(UUID, 'out/orphan.bam');
    const earlier = new Set(g.emulator.openUploads(vaultName)); // what other tests left open in this shared vault
    const initiate = async (archiveDescription: string) =>
      (await g.glacier.send(new InitiateMultipartUploadCommand({ accountId: '-', vaultName, archiveDescription, partSize: String(MIB) }))).uploadId!;
    const stray = await initiate(description);
    // Another file's upload in the same vault is not this file's to abort.
    const other = await initiate(archiveDescription(UUID, 'out/orphan.bam.bai'));

    expect(await archive(work)).toEqual({ status: 'complete', archived: 1, failed: 0 });
    const open = g.emulator.openUploads(vaultName).filter((id) => !earlier.has(id));
    expect(open).toEqual([other]);
    expect(glacierRequests.filter((r) => r.startsWith('DELETE'))).toEqual([`DELETE /-/vaults/${vaultName}/multipart-uploads/${stray}`]);
    expect(fileRecord('out/orphan.bam')).toMatchObject({ state: 'ARCHIVED', attempts: 2 });
    expect(g.emulator.archivesIn(vaultName).filter((a) => a.description === description)).toHaveLength(1);
  });

  it('the next claimant aborts the S3 multipart copy a crashed attempt started but never recorded; a first attempt lists nothing', async () => {
    const tier = { ...s3Tier, target: { ...s3Tier.target, multipartAbove: '5 MiB', partSize: '5 MiB' } };
    const data = testBytes(6 * MIB, 29);
    const work = item(plannedFile('out/orphan.cram', data, { target: 's3-glacier' }));
    expect(await archive(work, { tier })).toMatchObject({ status: 'complete', archived: 1 });
    expect(s3Mock.commandCalls(ListMultipartUploadsCommand)).toHaveLength(0);

    const again = item(plannedFile('out/again.cram', data, { target: 's3-glacier', state: 'UPLOADING', attempts: 1 }));
    const key = archiveObjectKey(UUID, 'out/again.cram');
    uploads.set('stray-1', { key: `${ARCHIVE_BUCKET}/${key}`, parts: new Map(), storageClass: 'DEEP_ARCHIVE', metadata: {} });
    uploads.set('longer-key', { key: `${ARCHIVE_BUCKET}/${key}.crai`, parts: new Map(), storageClass: 'DEEP_ARCHIVE', metadata: {} });
    expect(await archive(again, { tier })).toMatchObject({ status: 'complete', archived: 1 });
    expect(s3Mock.commandCalls(AbortMultipartUploadCommand).map((c) => c.args[0].input.UploadId)).toEqual(['stray-1']);
    expect([...uploads.keys()]).toEqual(['longer-key']);
  });

  it('a claim lasts to the invocation deadline and a little more, and is given up when the deadline stops the upload', async () => {
    const data = testBytes(3 * MIB, 24);
    const work = item(plannedFile('out/slow.bam', data));
    const deadline = Date.now() + 10 * 60_000;
    const claims: unknown[] = [];
    table.onWrite = (_command, written) => {
      if (written.claimOwner) claims.push({ owner: written.claimOwner, expiresAt: written.claimExpiresAt });
    };
    const clock = skewedClock();
    let parts = 0;
    glacierFault = (method) => {
      if (method === 'PUT' && ++parts === 1) clock.skew = 10 * 60_000; // after the first part, the deadline is near
      return undefined;
    };
    expect(await archive(work, { deadline, claimOwner: 'worker-a' })).toMatchObject({ status: 'incomplete' });
    expect(claims[0]).toEqual({ owner: 'worker-a', expiresAt: deadline + CLAIM_SLACK_MS });
    const record = fileRecord('out/slow.bam')!;
    expect(record).toMatchObject({ state: 'UPLOADING', uploadId: expect.any(String) as string });
    expect(record.claimOwner).toBeUndefined();
  });

  it('recordItemFailure leaves a file a live worker still holds (that worker records it), and fails the unheld ones', async () => {
    const work = item(
      plannedFile('out/held.bam', testBytes(1000, 25), { state: 'UPLOADING', claimOwner: 'live', claimExpiresAt: Date.now() + 60_000 }),
      plannedFile('out/stale.bam', testBytes(1000, 26), { state: 'UPLOADING', claimOwner: 'dead', claimExpiresAt: Date.now() - 1 }),
      plannedFile('out/free.bam', testBytes(1000, 27)),
    );
    expect(await recordItemFailure(index, UUID, work, { Error: 'States.Timeout' })).toBe(2);
    expect(fileRecord('out/held.bam')).toMatchObject({ state: 'UPLOADING', claimOwner: 'live' });
    expect(fileRecord('out/stale.bam')).toMatchObject({ state: 'FAILED' });
    expect(fileRecord('out/stale.bam')!.claimOwner).toBeUndefined();
    expect(fileRecord('out/free.bam')).toMatchObject({ state: 'FAILED' });
  });
});

describe('recordItemFailure', () => {
  it('marks the unfinished files FAILED with the workflow error and leaves archived and kept ones alone', async () => {
    const files = [
      plannedFile('out/pending.bam', testBytes(1, 40)),
      plannedFile('out/uploading.bam', testBytes(1, 41), { state: 'UPLOADING', uploadId: 'u-1' }),
      plannedFile('out/archived.bam', testBytes(1, 42), { state: 'ARCHIVED', archiveId: 'a-1' }),
      plannedFile('out/kept.txt', testBytes(1, 43), { action: 'keep', state: 'KEPT' }),
      { path: 'out/unregistered.bam', bucket: BUCKET, key: `${PREFIX}out/unregistered.bam`, size: 1 },
    ];
    const marked = await recordItemFailure(index, UUID, item(...files), {
      Error: 'Lambda.Unknown',
      Cause: JSON.stringify({ errorMessage: 'Task timed out after 900.00 seconds' }),
    });
    expect(marked).toBe(2);
    for (const path of ['out/pending.bam', 'out/uploading.bam']) {
      expect(fileRecord(path)).toMatchObject({ state: 'FAILED', failureReason: 'Lambda.Unknown: Task timed out after 900.00 seconds' });
    }
    expect(fileRecord('out/archived.bam')).toMatchObject({ state: 'ARCHIVED', archiveId: 'a-1' });
    expect(fileRecord('out/archived.bam')?.failureReason).toBeUndefined();
    expect(fileRecord('out/kept.txt')).toMatchObject({ state: 'KEPT' });
    expect(fileRecord('out/unregistered.bam')).toBeUndefined();
  });

  it('takes a plain-text cause as it is and bounds the reason', async () => {
    plannedFile('out/p.bam', testBytes(1, 44));
    await recordItemFailure(index, UUID, item({ path: 'out/p.bam', bucket: BUCKET, key: 'k', size: 1 }), { Cause: 'x'.repeat(5000) });
    const reason = fileRecord('out/p.bam')!.failureReason!;
    expect(reason.startsWith('Error: xxx')).toBe(true);
    expect(reason).toHaveLength(1000);
  });

  it('throws an index failure that is not a state conflict', async () => {
    plannedFile('out/q.bam', testBytes(1, 45));
    table.beforeUpdate = () => {
      throw Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException' });
    };
    await expect(recordItemFailure(index, UUID, item({ path: 'out/q.bam', bucket: BUCKET, key: 'k', size: 1 }), {})).rejects.toMatchObject({
      name: 'ThrottlingException',
    });
  });
});

describe('archiveDescription', () => {
  const printable = /^[\x20-\x7e]*$/;

  it('is the run uuid and path as JSON, unchanged for ASCII paths', () => {
    expect(archiveDescription(UUID, 'out/a.bam')).toBe(JSON.stringify({ runUuid: UUID, path: 'out/a.bam' }));
  });

  it.each([
    ['accented letters', 'out/échantillon/données.bam'],
    ['CJK', 'out/样品/读取 1.fastq.gz'],
    ['emoji (surrogate pairs)', 'out/🧬/reads.bam'],
    ['control characters and DEL', 'out/tab\there/del\x7f.bam'],
  ])('escapes %s to printable ASCII that still parses back to the path', (_name, path) => {
    const description = archiveDescription(UUID, path);
    expect(description).toMatch(printable);
    expect(description.length).toBeLessThanOrEqual(1024);
    expect(JSON.parse(description)).toEqual({ runUuid: UUID, path });
  });

  it.each([
    ['a very long ASCII path', `out/${'a'.repeat(2000)}.bam`],
    ['a long unicode path', `out/${'样'.repeat(200)}.bam`],
  ])('falls back to the path’s SHA-256 for %s, within 1,024 characters', (_name, path) => {
    const description = archiveDescription(UUID, path);
    expect(description).toMatch(printable);
    expect(description.length).toBeLessThanOrEqual(1024);
    expect(JSON.parse(description)).toEqual({ runUuid: UUID, pathSha256: createHash('sha256').update(path).digest('hex') });
  });
});

describe('pinnedSource', () => {
  it('reads inclusive ranges with If-Match, and reports the planned size', async () => {
    const data = testBytes(50, 50);
    const { key, etag } = plannedFile('out/pin.bam', data);
    const source = pinnedSource(s3, { sourceBucket: BUCKET, sourceKey: key, size: 50, etag });
    expect(source.size).toBe(50);
    expect(await bodyBytes(await source.read(10, 19))).toEqual(data.subarray(10, 20));
    expect(s3Mock).toHaveReceivedCommandWith(GetObjectCommand, { Bucket: BUCKET, Key: key, Range: 'bytes=10-19', IfMatch: etag });
  });

  it('fails when S3 returns no body', async () => {
    s3Mock.on(GetObjectCommand).resolves({});
    await expect(pinnedSource(s3, { sourceBucket: BUCKET, sourceKey: 'k', size: 5 }).read(0, 4)).rejects.toThrow('s3://outputs/k returned no body');
  });
});

describe('partConcurrency', () => {
  it('keeps two parts in flight, but one at a time from 1 GiB parts, so the function memory always holds them', () => {
    expect(partConcurrency(64 * MIB)).toBe(2);
    expect(partConcurrency(512 * MIB)).toBe(2);
    expect(partConcurrency(1024 * MIB)).toBe(1);
    expect(partConcurrency(4096 * MIB)).toBe(1);
  });
});
