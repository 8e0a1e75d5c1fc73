// The Glacier client's request-body checksums, taken from what the upload already computed for that body.
//
// Before signing, @aws-sdk/client-glacier's build-step middleware (addChecksumHeadersMiddleware in
// @aws-sdk/middleware-sdk-glacier) hands every request with a body to the client's `bodyChecksumGenerator`, which by
// default (@aws-sdk/body-checksum-node) hashes the whole body twice: its linear SHA-256 and its tree hash. The first
// becomes x-amz-content-sha256, which SigV4 then signs as the payload hash instead of hashing the body itself; the
// second becomes x-amz-sha256-tree-hash unless the command set that header already (as UploadMultipartPart and
// UploadArchive do from `checksum`), in which case it is computed and thrown away. The vault upload has both
// digests of each part in hand once it has read it, so this generator looks them up instead of hashing the part
// again, and falls back to computing them (in one pass) for any body it was not told about.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import type { GlacierClient, GlacierClientConfig } from '@aws-sdk/client-glacier';
import { TreeHash } from './tree-hash';

/** Both checksums of one request body, lowercase hex. */
export interface BodyChecksums {
  /** Glacier's SHA-256 tree hash: x-amz-sha256-tree-hash. */
  treeHash: string;
  /** The plain SHA-256 of the body: x-amz-content-sha256, the payload hash SigV4 signs. */
  contentSha256: string;
}

type BodyChecksumGenerator = NonNullable<GlacierClientConfig['bodyChecksumGenerator']>;

/**
 * Checksums by body object. Keyed by the Buffer the command is given (the client passes that same object to the
 * generator); weak, so a part forgotten by the upload is forgotten here too. The length guards against a mix-up.
 */
const known = new WeakMap<Uint8Array, BodyChecksums & { size: number }>();

/**
 * Records the checksums of a body about to be sent, for the generator to use instead of hashing it. The body must not
 * change afterwards: what is recorded is what is signed.
 */
export function rememberBodyChecksums(body: Uint8Array, checksums: BodyChecksums): void {
  known.set(body, { ...checksums, size: body.byteLength });
}

/** The tree hash and the linear SHA-256 of one body, both fed each chunk as it passes: one read of the bytes. */
export class BodyHasher {
  private readonly tree = new TreeHash();
  private readonly linear = createHash('sha256');

  update(chunk: Uint8Array): this {
    this.tree.update(chunk);
    this.linear.update(chunk);
    return this;
  }

  /** Bytes fed so far. */
  get size(): number {
    return this.tree.size;
  }

  digest(): BodyChecksums {
    return { treeHash: this.tree.digestHex(), contentSha256: this.linear.digest('hex') };
  }
}

/** What the SDK's default generator accepts: strings, byte views, ArrayBuffers, and file streams (fs.ReadStream). */
async function computeChecksums(body: unknown): Promise<BodyChecksums> {
  const hasher = new BodyHasher();
  if (typeof body === 'string') return hasher.update(Buffer.from(body, 'utf8')).digest();
  if (ArrayBuffer.isView(body)) return hasher.update(new Uint8Array(body.buffer, body.byteOffset, body.byteLength)).digest();
  if (body instanceof ArrayBuffer) return hasher.update(new Uint8Array(body)).digest();
  const file = body as { path?: unknown; start?: number; end?: number };
  if (typeof file?.path !== 'string') throw new Error('Unable to calculate checksums for non-file streams.');
  for await (const chunk of createReadStream(file.path, { start: file.start, end: file.end })) hasher.update(chunk as Buffer);
  return hasher.digest();
}

/**
 * The Glacier client's `bodyChecksumGenerator`: [x-amz-content-sha256, x-amz-sha256-tree-hash] for a request body,
 * from rememberBodyChecksums when the body was recorded, computed otherwise. (The client's `sha256` option, which the
 * default generator hashes with, is not used: this runs on Node.js only, with node:crypto.)
 */
export const glacierBodyChecksums: BodyChecksumGenerator = async (request) => {
  const body: unknown = request.body;
  const recorded = ArrayBuffer.isView(body) ? known.get(body as Uint8Array) : undefined;
  const checksums = recorded && recorded.size === (body as Uint8Array).byteLength ? recorded : await computeChecksums(body);
  return [checksums.contentSha256, checksums.treeHash];
};

/** Whether a client takes body checksums from rememberBodyChecksums; if not, recording them is wasted work. */
export function reusesBodyChecksums(glacier: Pick<GlacierClient, 'config'>): boolean {
  return glacier.config.bodyChecksumGenerator === glacierBodyChecksums;
}
