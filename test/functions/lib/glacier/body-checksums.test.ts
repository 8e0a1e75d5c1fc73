// The Glacier client's body checksums: the same headers as the SDK's own generator, without hashing a known body again.
import { createHash, createHmac, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import {
  CreateVaultCommand,
  GlacierClient,
  InitiateJobCommand,
  UploadArchiveCommand,
  UploadMultipartPartCommand,
  type GlacierClientConfig,
} from '@aws-sdk/client-glacier';
import { BodyHasher, glacierBodyChecksums, rememberBodyChecksums, reusesBodyChecksums } from '../../../../functions/lib/glacier/body-checksums';
import { TreeHash, treeHashOf } from '../../../../functions/lib/glacier/tree-hash';
import { uploadToVault, type ByteSource } from '../../../../functions/lib/glacier/vault-upload';
import { MIB, sha256Hex, startLocalGlacier, testBytes, type LocalGlacier } from '../../../local/glacier/helpers';

type Headers = Record<string, string>;

/**
 * A SHA-256 (or, with a secret, HMAC) for the client's `sha256` option that counts the bytes it is fed: the SDK's
 * default body-checksum generator and the SigV4 signer both hash with it.
 */
function countingSha256() {
  const counter = { bytes: 0 };
  type SourceData = string | ArrayBuffer | ArrayBufferView;
  const bytesOf = (data: SourceData) =>
    typeof data === 'string'
      ? Buffer.from(data)
      : ArrayBuffer.isView(data)
        ? new Uint8Array(data.buffer, data.byteOffset, data.byteLength)
        : new Uint8Array(data);
  class CountingSha256 {
    private readonly hash;
    constructor(secret?: SourceData) {
      this.hash = secret === undefined ? createHash('sha256') : createHmac('sha256', bytesOf(secret));
    }
    update(data: SourceData): void {
      const bytes = bytesOf(data);
      counter.bytes += bytes.byteLength;
      this.hash.update(bytes);
    }
    digest(): Promise<Uint8Array> {
      return Promise.resolve(this.hash.digest());
    }
  }
  return { counter, CountingSha256 };
}

/** A client whose requests go nowhere: it records each request's headers and answers as Glacier would. */
function recordingClient(config: Partial<GlacierClientConfig> = {}): { glacier: GlacierClient; sent: Headers[] } {
  const sent: Headers[] = [];
  const glacier = new GlacierClient({
    region: 'us-east-1',
    endpoint: 'http://127.0.0.1:9',
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
    maxAttempts: 1,
    requestHandler: {
      handle: (request: { headers: Headers }) => {
        sent.push({ ...request.headers });
        const headers = { 'x-amz-archive-id': 'archive', 'x-amz-sha256-tree-hash': request.headers['x-amz-sha256-tree-hash'] ?? '' };
        return Promise.resolve({ response: { statusCode: 201, headers, body: Readable.from([]) } });
      },
    },
    ...config,
  });
  return { glacier, sent };
}

const checksumHeaders = (headers: Headers) => ({
  contentSha256: headers['x-amz-content-sha256'],
  treeHash: headers['x-amz-sha256-tree-hash'],
});

/** A body's checksums as the vault upload records them: both digests fed chunk by chunk, as a part is read. */
function hashedInChunks(body: Buffer, chunkSize = 64 * 1024) {
  const hasher = new BodyHasher();
  for (let offset = 0; offset < body.length; offset += chunkSize) hasher.update(body.subarray(offset, offset + chunkSize));
  return hasher.digest();
}

/** UploadArchive without `checksum`, so x-amz-sha256-tree-hash as well as x-amz-content-sha256 comes from the generator. */
const archive = (body: Uint8Array) => new UploadArchiveCommand({ accountId: '-', vaultName: 'vault', body });

const SIZES = [1, 1000, MIB - 1, MIB, MIB + 1, 3 * MIB + 17, 8 * MIB];

afterEach(() => jest.restoreAllMocks());

describe('glacierBodyChecksums', () => {
  it('sends the same x-amz-content-sha256 and x-amz-sha256-tree-hash as the SDK default, for known and unknown random bodies', async () => {
    const sdk = recordingClient();
    const ours = recordingClient({ bodyChecksumGenerator: glacierBodyChecksums });
    for (const size of SIZES) {
      const body = randomBytes(size);
      await sdk.glacier.send(archive(body));
      await ours.glacier.send(archive(body)); // not recorded: computed by the fallback
      const known = Buffer.from(body);
      rememberBodyChecksums(known, hashedInChunks(known));
      await ours.glacier.send(archive(known));
      const expected = checksumHeaders(sdk.sent.at(-1)!);
      expect(expected).toEqual({ contentSha256: sha256Hex(body), treeHash: treeHashOf(body).toString('hex') });
      expect(checksumHeaders(ours.sent.at(-2)!)).toEqual(expected);
      expect(checksumHeaders(ours.sent.at(-1)!)).toEqual(expected);
    }
  });

  it('matches the SDK on the JSON bodies of other commands, and on byte views into a larger buffer', async () => {
    const sdk = recordingClient();
    const ours = recordingClient({ bodyChecksumGenerator: glacierBodyChecksums });
    const job = () => new InitiateJobCommand({ accountId: '-', vaultName: 'vault', jobParameters: { Type: 'archive-retrieval', ArchiveId: 'x'.repeat(138) } });
    await sdk.glacier.send(job());
    await ours.glacier.send(job());
    const slice = randomBytes(3 * MIB).subarray(12345, 12345 + 2 * MIB + 5);
    await sdk.glacier.send(archive(slice));
    await ours.glacier.send(archive(slice));
    expect(ours.sent.map(checksumHeaders)).toEqual(sdk.sent.map(checksumHeaders));
  });

  it('takes a recorded body’s checksums as they are, hashing nothing (the SDK hashes only what it signs)', async () => {
    const sha256 = countingSha256();
    const ours = recordingClient({ bodyChecksumGenerator: glacierBodyChecksums, sha256: sha256.CountingSha256 });
    const bodyHasher = jest.spyOn(BodyHasher.prototype, 'update');
    const treeHash = jest.spyOn(TreeHash.prototype, 'update');
    const body = randomBytes(4 * MIB);
    // Not this body's digests: what is sent is what was recorded, so nothing looked at the bytes.
    const recorded = { treeHash: 'a'.repeat(64), contentSha256: 'b'.repeat(64) };
    rememberBodyChecksums(body, recorded);
    await ours.glacier.send(archive(body));
    await ours.glacier.send(
      new UploadMultipartPartCommand({
        accountId: '-',
        vaultName: 'vault',
        uploadId: 'u',
        range: `bytes 0-${body.length - 1}/*`,
        body,
        checksum: recorded.treeHash,
      }),
    );
    expect(ours.sent.map(checksumHeaders)).toEqual([recorded, recorded]);
    expect(bodyHasher).not.toHaveBeenCalled();
    expect(treeHash).not.toHaveBeenCalled();
    // SigV4 hashes its canonical request and string to sign (and HMACs), a few hundred bytes per request.
    expect(sha256.counter.bytes).toBeLessThan(4096);

    // The SDK default, for comparison, hashes every body twice: its SHA-256 and its tree hash.
    const sdkSha256 = countingSha256();
    const sdk = recordingClient({ sha256: sdkSha256.CountingSha256 });
    await sdk.glacier.send(archive(body));
    expect(sdkSha256.counter.bytes).toBeGreaterThanOrEqual(2 * body.length);
  });

  it('hashes a body it was not told about once, in one pass: another view of a recorded buffer is not a match', async () => {
    const ours = recordingClient({ bodyChecksumGenerator: glacierBodyChecksums });
    const body = randomBytes(2 * MIB);
    rememberBodyChecksums(body, { treeHash: 'a'.repeat(64), contentSha256: 'b'.repeat(64) });
    const update = jest.spyOn(BodyHasher.prototype, 'update');
    const view = body.subarray(0, MIB);
    await ours.glacier.send(archive(view));
    expect(update).toHaveBeenCalledTimes(1);
    expect(checksumHeaders(ours.sent[0])).toEqual({ contentSha256: sha256Hex(view), treeHash: treeHashOf(view).toString('hex') });
  });

  it('is what reusesBodyChecksums looks for', () => {
    expect(reusesBodyChecksums(recordingClient({ bodyChecksumGenerator: glacierBodyChecksums }).glacier)).toBe(true);
    expect(reusesBodyChecksums(recordingClient().glacier)).toBe(false);
  });
});

describe('uploadToVault with glacierBodyChecksums, through the strict emulator', () => {
  let g: LocalGlacier;
  let glacier: GlacierClient;
  let sdkBytes: { bytes: number };
  const vaultName = 'checksums';

  beforeAll(async () => {
    g = await startLocalGlacier();
    const sha256 = countingSha256();
    sdkBytes = sha256.counter;
    glacier = new GlacierClient({
      endpoint: g.endpoint,
      region: 'us-east-1',
      credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
      maxAttempts: 1,
      bodyChecksumGenerator: glacierBodyChecksums,
      sha256: sha256.CountingSha256,
    });
    await glacier.send(new CreateVaultCommand({ accountId: '-', vaultName }));
  });
  afterAll(async () => {
    glacier.destroy();
    await g.stop();
  });

  const source = (data: Buffer): ByteSource => ({
    size: data.length,
    read: (start, end) => Promise.resolve(Readable.from([data.subarray(start, end + 1)])),
  });

  /** Bytes through BodyHasher (the vault upload's parts, and the generator's fallback) during one upload. */
  async function upload(data: Buffer) {
    sdkBytes.bytes = 0;
    const update = jest.spyOn(BodyHasher.prototype, 'update');
    const result = await uploadToVault({ glacier, vaultName, source: source(data), partSize: MIB, description: 'checksums' });
    const bodyHasherBytes = update.mock.calls.reduce((sum, [chunk]) => sum + chunk.byteLength, 0);
    update.mockRestore();
    return { result, bodyHasherBytes, sdkBytes: sdkBytes.bytes };
  }

  it('uploads parts the emulator accepts (it checks both headers), each part hashed once, by the upload, not the client', async () => {
    const data = testBytes(3 * MIB + 4321, 7);
    const { result, bodyHasherBytes, sdkBytes } = await upload(data);
    expect(result).toMatchObject({ status: 'complete', treeHash: treeHashOf(data).toString('hex'), sha256: sha256Hex(data) });
    // Each part's bytes went through BodyHasher once, in readPart; the generator hashed none of them again.
    expect(bodyHasherBytes).toBe(data.length);
    expect(sdkBytes).toBeLessThan(8 * 4096);
  });

  it('sends a file that fits in one request with the file’s SHA-256 as the body’s, hashing no third time', async () => {
    const data = testBytes(MIB - 5, 8);
    const { result, bodyHasherBytes, sdkBytes } = await upload(data);
    expect(result).toMatchObject({ status: 'complete', treeHash: treeHashOf(data).toString('hex'), sha256: sha256Hex(data) });
    expect(bodyHasherBytes).toBe(0);
    expect(sdkBytes).toBeLessThan(4096);
  });
});
