// Conformance: vaults, UploadArchive and multipart uploads through the real GlacierClient against the emulator.
import { request } from 'node:http';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateVaultCommand,
  DeleteArchiveCommand,
  DeleteVaultCommand,
  DescribeVaultCommand,
  type GlacierServiceException,
  InitiateMultipartUploadCommand,
  InvalidParameterValueException,
  ListMultipartUploadsCommand,
  ListPartsCommand,
  ListVaultsCommand,
  ResourceNotFoundException,
  UploadArchiveCommand,
  UploadMultipartPartCommand,
} from '@aws-sdk/client-glacier';
import { treeHashOf } from '../../../functions/lib/glacier/tree-hash';
import { MIB, expectGlacierError, startLocalGlacier, testBytes, type LocalGlacier } from './helpers';

let g: LocalGlacier;
const vaultName = 'uploads';
const base = { accountId: '-', vaultName };

beforeAll(async () => {
  g = await startLocalGlacier();
  await g.glacier.send(new CreateVaultCommand(base));
});
afterAll(() => g.stop());

const hex = (data: Uint8Array) => treeHashOf(data).toString('hex');

async function initiate(partSize = MIB) {
  const { uploadId } = await g.glacier.send(new InitiateMultipartUploadCommand({ ...base, partSize: String(partSize) }));
  return uploadId!;
}

const uploadPart = (uploadId: string, data: Buffer, start: number, extra: { range?: string; checksum?: string } = {}) =>
  g.glacier.send(
    new UploadMultipartPartCommand({
      ...base,
      uploadId,
      body: data,
      range: extra.range ?? `bytes ${start}-${start + data.length - 1}/*`,
      ...(extra.checksum ? { checksum: extra.checksum } : {}),
    }),
  );

describe('vaults', () => {
  it('creates, describes, lists with pagination and deletes only empty vaults', async () => {
    for (const name of ['a-vault', 'b-vault', 'c-vault']) await g.glacier.send(new CreateVaultCommand({ accountId: '-', vaultName: name }));
    const described = await g.glacier.send(new DescribeVaultCommand({ accountId: '-', vaultName: 'a-vault' }));
    expect(described).toMatchObject({
      VaultName: 'a-vault',
      VaultARN: 'arn:aws:glacier:us-east-1:123456789012:vaults/a-vault',
      NumberOfArchives: 0,
      SizeInBytes: 0,
    });

    const names: string[] = [];
    let marker: string | undefined;
    do {
      const listed = await g.glacier.send(new ListVaultsCommand({ accountId: '-', limit: 2, marker }));
      expect(listed.VaultList!.length).toBeLessThanOrEqual(2);
      names.push(...listed.VaultList!.map((v) => v.VaultName!));
      marker = listed.Marker ?? undefined;
    } while (marker);
    expect(names).toEqual(['a-vault', 'b-vault', 'c-vault', vaultName]);

    await g.glacier.send(new UploadArchiveCommand({ accountId: '-', vaultName: 'b-vault', body: testBytes(10) }));
    await expectGlacierError(
      g.glacier.send(new DeleteVaultCommand({ accountId: '-', vaultName: 'b-vault' })),
      'InvalidParameterValueException',
      'Vault not empty or recently written to: arn:aws:glacier:us-east-1:123456789012:vaults/b-vault',
    );
    await g.glacier.send(new DeleteVaultCommand({ accountId: '-', vaultName: 'c-vault' }));
    await expectGlacierError(
      g.glacier.send(new DescribeVaultCommand({ accountId: '-', vaultName: 'c-vault' })),
      'ResourceNotFoundException',
      'Vault not found for ARN: arn:aws:glacier:us-east-1:123456789012:vaults/c-vault',
    );
  });

  it('rejects invalid vault names and limits', async () => {
    await expectGlacierError(g.glacier.send(new CreateVaultCommand({ accountId: '-', vaultName: 'bad name!' })), 'InvalidParameterValueException');
    await expectGlacierError(g.glacier.send(new ListVaultsCommand({ accountId: '-', limit: 11 })), 'InvalidParameterValueException');
  });

  it('answers an unknown vault with ResourceNotFoundException', async () => {
    const error = (await g.glacier
      .send(new UploadArchiveCommand({ accountId: '-', vaultName: 'nope', body: testBytes(5) }))
      .catch((e: unknown) => e)) as ResourceNotFoundException;
    expect(error).toBeInstanceOf(ResourceNotFoundException);
    expect(error.$metadata.httpStatusCode).toBe(404);
    expect(error.type).toBe('Client');
  });
});

describe('UploadArchive', () => {
  it('stores the archive and returns its tree hash (the AWS SDK integration test value)', async () => {
    const data = Buffer.alloc(0.25 * MIB, '0');
    const result = await g.glacier.send(new UploadArchiveCommand({ ...base, body: data, archiveDescription: 'quarter' }));
    expect(result.checksum).toBe('6faefade5a638cd3545d638dd5754763658e32209e69420cb559b7650d4bf93a');
    expect(result.archiveId).toMatch(/^[A-Za-z0-9_-]{138}$/);
    expect(result.location).toBe(`/123456789012/vaults/${vaultName}/archives/${result.archiveId}`);
  });

  it('rejects a wrong tree hash and a malformed one, as the AWS SDK integration tests expect', async () => {
    const data = Buffer.alloc(0.05 * MIB, '0');
    const wrong = (await g.glacier
      .send(new UploadArchiveCommand({ ...base, body: data, checksum: '0'.repeat(64) }))
      .catch((e: unknown) => e)) as InvalidParameterValueException;
    expect(wrong).toBeInstanceOf(InvalidParameterValueException);
    expect(wrong.message).toMatch(/^Checksum mismatch/);
    await expectGlacierError(
      g.glacier.send(new UploadArchiveCommand({ ...base, body: data, checksum: '000' })),
      'InvalidParameterValueException',
      'Invalid x-amz-sha256-tree-hash: 000',
    );
  });

  it('rejects a payload whose x-amz-content-sha256 does not match', async () => {
    const command = new UploadArchiveCommand({ ...base, body: testBytes(1000) });
    command.middlewareStack.add(
      (next) => async (args) => {
        (args.request as { headers: Record<string, string> }).headers['x-amz-content-sha256'] = 'ab'.repeat(32);
        return next(args);
      },
      { step: 'finalizeRequest' },
    );
    const error = (await g.glacier.send(command).catch((e: unknown) => e)) as GlacierServiceException;
    expect(error.name).toBe('InvalidSignatureException');
    expect(error.$metadata.httpStatusCode).toBe(403);
  });

  it('rejects an empty archive the way AWS does (Invalid Content-Length: 0)', async () => {
    // The JS SDK cannot even send an empty UploadArchive (its tree hash of nothing is undefined), so go raw.
    const url = new URL(`${g.endpoint}/-/vaults/${vaultName}/archives`);
    const response = await new Promise<{ status: number; headers: Record<string, unknown>; body: string }>((resolve, reject) => {
      const req = request(url, {
        method: 'POST',
        headers: {
          'content-length': 0,
          'x-amz-glacier-version': '2012-06-01',
          'x-amz-sha256-tree-hash': 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
          'x-amz-content-sha256': 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
        },
      });
      req.on('response', (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
      });
      req.on('error', reject);
      req.end();
    });
    expect(response.status).toBe(400);
    expect(response.headers['x-amzn-errortype']).toBe('InvalidParameterValueException');
    expect(JSON.parse(response.body)).toEqual({ code: 'InvalidParameterValueException', message: 'Invalid Content-Length: 0', type: 'Client' });
  });

  it('deletes archives, and answers unknown ones with ResourceNotFoundException', async () => {
    const { archiveId } = await g.glacier.send(new UploadArchiveCommand({ ...base, body: testBytes(20) }));
    await g.glacier.send(new DeleteArchiveCommand({ ...base, archiveId }));
    await expectGlacierError(g.glacier.send(new DeleteArchiveCommand({ ...base, archiveId })), 'ResourceNotFoundException', /archive ID was not found/);
  });
});

describe('multipart upload', () => {
  it('accepts a 3-part upload as the SDK sends it, lists parts with pagination and completes idempotently', async () => {
    const data = Buffer.alloc(2.5 * MIB, '0');
    const uploadId = await initiate();
    for (let start = 0; start < data.length; start += MIB) {
      const part = data.subarray(start, start + MIB);
      const result = await uploadPart(uploadId, part, start);
      expect(result.checksum).toBe(hex(part));
    }
    const ranges: string[] = [];
    let marker: string | undefined;
    do {
      const listed = await g.glacier.send(new ListPartsCommand({ ...base, uploadId, limit: 2, marker }));
      expect(listed.PartSizeInBytes).toBe(MIB);
      expect(listed.MultipartUploadId).toBe(uploadId);
      ranges.push(...listed.Parts!.map((p) => p.RangeInBytes!));
      marker = listed.Marker ?? undefined;
    } while (marker);
    expect(ranges).toEqual(['0-1048575', '1048576-2097151', '2097152-2621439']);

    const complete = { ...base, uploadId, archiveSize: String(data.length), checksum: '86118ad0c187fd240db59a37360e0e7f8a3a0c608eed740b4cd7b4271ab45171' };
    const done = await g.glacier.send(new CompleteMultipartUploadCommand(complete));
    expect(done.$metadata.httpStatusCode).toBe(201);
    expect(done.checksum).toBe(complete.checksum);
    const again = await g.glacier.send(new CompleteMultipartUploadCommand(complete));
    expect(again.archiveId).toBe(done.archiveId);
    await expectGlacierError(g.glacier.send(new ListPartsCommand({ ...base, uploadId })), 'ResourceNotFoundException');
  });

  it('rejects part sizes that are not 1 MiB × 2^n up to 4 GiB', async () => {
    for (const partSize of [3 * MIB, MIB / 2, 8192 * MIB]) {
      await expectGlacierError(
        g.glacier.send(new InitiateMultipartUploadCommand({ ...base, partSize: String(partSize) })),
        'InvalidParameterValueException',
        `Invalid part size: ${partSize}. Part size must not be null, must be a power of two and be between 1048576 and 4294967296 bytes.`,
      );
    }
  });

  it('rejects Content-Range values that do not match the body or the part size', async () => {
    const uploadId = await initiate();
    const part = testBytes(MIB);
    await expectGlacierError(
      uploadPart(uploadId, part, 0, { range: 'bytes 0-99/*' }),
      'InvalidParameterValueException',
      'Content-Range: bytes 0-99/* is incompatible with Content-Length: 1048576',
    );
    await expectGlacierError(
      uploadPart(uploadId, part.subarray(0, 100), 0, { range: 'bytes 100-199/*' }),
      'InvalidParameterValueException',
      /does not align with the part size/,
    );
    await expectGlacierError(uploadPart(uploadId, testBytes(2 * MIB), 0), 'InvalidParameterValueException', /larger than the part size/);
    await expectGlacierError(
      uploadPart(uploadId, part, 0, { range: 'bytes 0-1048575' }),
      'InvalidParameterValueException',
      'Invalid Content-Range: bytes 0-1048575',
    );
    await expectGlacierError(uploadPart(uploadId, part, 10_000 * MIB), 'InvalidParameterValueException', /part number 10001 .* limit of 10000 parts/);
  });

  it('rejects a part whose tree hash is wrong', async () => {
    const uploadId = await initiate();
    await expectGlacierError(uploadPart(uploadId, testBytes(MIB), 0, { checksum: 'ab'.repeat(32) }), 'InvalidParameterValueException', /^Checksum mismatch/);
    const listed = await g.glacier.send(new ListPartsCommand({ ...base, uploadId }));
    expect(listed.Parts).toEqual([]);
  });

  it('rejects a completion with the wrong tree hash, the wrong size, a gap or a short middle part', async () => {
    const data = testBytes(3 * MIB + 10, 7);
    const uploadId = await initiate();
    for (const start of [0, MIB, 2 * MIB, 3 * MIB]) await uploadPart(uploadId, data.subarray(start, start + MIB), start);
    const complete = (archiveSize: number, checksum: string) =>
      g.glacier.send(new CompleteMultipartUploadCommand({ ...base, uploadId, archiveSize: String(archiveSize), checksum }));
    await expectGlacierError(complete(data.length, hex(data.subarray(1))), 'InvalidParameterValueException', /^Invalid x-amz-sha256-tree-hash/);
    await expectGlacierError(complete(data.length + 1, hex(data)), 'InvalidParameterValueException', /^Invalid x-amz-archive-size/);
    await expectGlacierError(complete(data.length - 1, hex(data)), 'InvalidParameterValueException', /^Invalid x-amz-archive-size/);
    // The upload stays open after failed completions, as AWS documents; the right values then succeed.
    expect((await complete(data.length, hex(data))).archiveId).toBeDefined();

    const gapped = await initiate();
    await uploadPart(gapped, data.subarray(0, MIB), 0);
    await uploadPart(gapped, data.subarray(2 * MIB, 3 * MIB), 2 * MIB);
    await expectGlacierError(
      g.glacier.send(new CompleteMultipartUploadCommand({ ...base, uploadId: gapped, archiveSize: String(3 * MIB), checksum: hex(data.subarray(0, 3 * MIB)) })),
      'InvalidParameterValueException',
      /no part covers the range starting at byte 1048576/,
    );

    // AWS accepts a short part that is not the last when it is uploaded, and fails the completion instead.
    const short = await initiate();
    await uploadPart(short, data.subarray(0, MIB - 1), 0);
    await uploadPart(short, data.subarray(MIB, 2 * MIB), MIB);
    await expectGlacierError(
      g.glacier.send(
        new CompleteMultipartUploadCommand({ ...base, uploadId: short, archiveSize: String(2 * MIB - 1), checksum: hex(data.subarray(0, 2 * MIB)) }),
      ),
      'InvalidParameterValueException',
    );
  });

  it('answers unknown upload ids with ResourceNotFoundException, and forgets aborted uploads', async () => {
    await expectGlacierError(uploadPart('no-such-upload', testBytes(10), 0), 'ResourceNotFoundException', 'The upload ID was not found: no-such-upload');
    await expectGlacierError(g.glacier.send(new ListPartsCommand({ ...base, uploadId: 'no-such-upload' })), 'ResourceNotFoundException');
    await expectGlacierError(
      g.glacier.send(new CompleteMultipartUploadCommand({ ...base, uploadId: 'no-such-upload', archiveSize: '1', checksum: 'ab'.repeat(32) })),
      'ResourceNotFoundException',
    );
    const uploadId = await initiate(2 * MIB);
    const listed = await g.glacier.send(new ListMultipartUploadsCommand(base));
    expect(listed.UploadsList!.map((u) => u.MultipartUploadId)).toContain(uploadId);
    await g.glacier.send(new AbortMultipartUploadCommand({ ...base, uploadId }));
    await expectGlacierError(g.glacier.send(new ListPartsCommand({ ...base, uploadId })), 'ResourceNotFoundException');
  });

  it('keeps its state on disk across restarts', async () => {
    const before = await g.glacier.send(new DescribeVaultCommand(base));
    const restarted = await startLocalGlacier({ dataDir: g.dataDir });
    try {
      const after = await restarted.glacier.send(new DescribeVaultCommand(base));
      expect(after.NumberOfArchives).toBe(before.NumberOfArchives);
      expect(after.NumberOfArchives).toBeGreaterThan(0);
    } finally {
      await restarted.stop();
    }
  });
});

describe('idle multipart uploads', () => {
  it('an upload with no activity for 24 hours (by the emulator clock) is gone: ResourceNotFoundException, not listed', async () => {
    const quick = await startLocalGlacier();
    const vault = { accountId: '-', vaultName: 'idle' };
    try {
      await quick.glacier.send(new CreateVaultCommand(vault));
      const { uploadId } = await quick.glacier.send(new InitiateMultipartUploadCommand({ ...vault, partSize: String(MIB) }));
      const part = testBytes(MIB, 40);
      quick.emulator.advanceClock(20 * 60 * 60 * 1000);
      // A part is activity: the 24 hours start again from it.
      await quick.glacier.send(
        new UploadMultipartPartCommand({ ...vault, uploadId, range: `bytes 0-${MIB - 1}/*`, body: part, checksum: treeHashOf(part).toString('hex') }),
      );
      quick.emulator.advanceClock(20 * 60 * 60 * 1000);
      expect((await quick.glacier.send(new ListMultipartUploadsCommand(vault))).UploadsList).toHaveLength(1);
      quick.emulator.advanceClock(5 * 60 * 60 * 1000);
      expect((await quick.glacier.send(new ListMultipartUploadsCommand(vault))).UploadsList).toEqual([]);
      await expectGlacierError(quick.glacier.send(new ListPartsCommand({ ...vault, uploadId })), 'ResourceNotFoundException');
    } finally {
      await quick.stop();
    }
  });
});
