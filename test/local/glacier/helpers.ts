// Test helpers: the Glacier emulator on a local HTTP server with a real GlacierClient pointed at it.
import { createCipheriv, createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GlacierClient } from '@aws-sdk/client-glacier';
import { GlacierEmulator, type GlacierEmulatorOptions } from '../../../local/glacier';

export const MIB = 1024 * 1024;

/** Deterministic, incompressible bytes (AES-CTR keystream) so tests can regenerate any slice. */
export function testBytes(size: number, seed = 1): Buffer {
  const key = createHash('sha256').update(`seed-${seed}`).digest().subarray(0, 16);
  return createCipheriv('aes-128-ctr', key, Buffer.alloc(16)).update(Buffer.alloc(size));
}

export const sha256Hex = (data: Uint8Array) => createHash('sha256').update(data).digest('hex');

export interface LocalGlacier {
  emulator: GlacierEmulator;
  glacier: GlacierClient;
  endpoint: string;
  publish: jest.Mock<Promise<void>, [string, string, string?]>;
  dataDir: string;
  stop(): Promise<void>;
}

export async function startLocalGlacier(options: Partial<GlacierEmulatorOptions> = {}): Promise<LocalGlacier> {
  const ownDir = options.dataDir === undefined;
  const dataDir = options.dataDir ?? mkdtempSync(join(tmpdir(), 'glacier-emulator-'));
  const publish = jest.fn<Promise<void>, [string, string, string?]>(() => Promise.resolve());
  const emulator = new GlacierEmulator({ publish, ...options, dataDir });
  const server: Server = createServer((req, res) => void emulator.handle(req, res));
  // Never close an idle keep-alive connection: a close racing the client's next request on it is a "socket hang up",
  // which these clients (maxAttempts 1) do not retry. stop() closes them all.
  server.keepAliveTimeout = 0;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const glacier = new GlacierClient({
    endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
    maxAttempts: 1,
  });
  return {
    emulator,
    glacier,
    endpoint,
    publish,
    dataDir,
    async stop() {
      glacier.destroy();
      await emulator.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      if (ownDir) rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** Reads an SDK streaming body into one Buffer (small test outputs only). */
export async function bodyBytes(body: unknown): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of body as AsyncIterable<Uint8Array>) chunks.push(Buffer.from(chunk));
  return Buffer.concat(chunks);
}

/** Polls until `check` passes or `timeoutMs` passes. */
export async function waitFor(check: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('waitFor timed out');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** Expects the promise to reject with the SDK exception class and AWS error code given. */
export async function expectGlacierError(promise: Promise<unknown>, name: string, message?: string | RegExp): Promise<void> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e as { name?: string; code?: string; message?: string },
  );
  expect(error).toBeDefined();
  expect(error?.name).toBe(name);
  expect(error?.code).toBe(name);
  if (message !== undefined) expect(error?.message).toMatch(message);
}

/** Bytes of the deterministic stream `testBytes(∞, seed)` from `offset` (a multiple of 16), made on demand. */
export function testBytesAt(offset: number, length: number, seed = 1): Buffer {
  const key = createHash('sha256').update(`seed-${seed}`).digest().subarray(0, 16);
  const iv = Buffer.alloc(16);
  iv.writeBigUInt64BE(BigInt(offset / 16), 8);
  return createCipheriv('aes-128-ctr', key, iv).update(Buffer.alloc(length));
}
