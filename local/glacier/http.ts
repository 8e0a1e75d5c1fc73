// Request and response plumbing for the emulator: headers, JSON bodies, streaming request bodies to disk.
import { createWriteStream } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { invalidParameter, missingParameter, GlacierError } from './errors';
import { LeafHasher } from './checksums';

export function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name.toLowerCase()];
  return Array.isArray(value) ? value.join(',') : value;
}

export function requiredHeader(req: IncomingMessage, name: string): string {
  const value = header(req, name);
  if (value === undefined || value === '') throw missingParameter(`Required header or parameter ${name} is missing`);
  return value;
}

/** Reads a small request body (JSON parameters); Glacier's JSON inputs are a few KiB at most. */
export async function readSmallBody(req: IncomingMessage, limit = 1024 * 1024): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) throw invalidParameter(`Request body is larger than ${limit} bytes`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

export async function readJsonBody(req: IncomingMessage): Promise<Record<string, unknown>> {
  const body = await readSmallBody(req);
  if (body.length === 0) return {};
  try {
    const parsed: unknown = JSON.parse(body.toString('utf8'));
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error('not an object');
    return parsed as Record<string, unknown>;
  } catch {
    throw new GlacierError('SerializationException', 'The request body is not a well-formed JSON object');
  }
}

/** Streams the request body into `file`, hashing it on the way; memory stays at one chunk whatever the size. */
export async function receiveBodyToFile(req: IncomingMessage, file: string): Promise<ReturnType<LeafHasher['finish']>> {
  const hasher = new LeafHasher();
  const tap = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      hasher.add(chunk);
      callback(null, chunk);
    },
  });
  await pipeline(req, tap, createWriteStream(file));
  return hasher.finish();
}

/** Discards whatever is left of a request body, so the connection can carry the error response and more requests. */
export function drain(req: IncomingMessage): void {
  if (!req.readableEnded) req.resume();
}

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    ...headers,
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
  });
  res.end(text);
}

export function sendEmpty(res: ServerResponse, status: number, headers: Record<string, string> = {}): void {
  res.writeHead(status, { ...headers, 'content-length': 0 });
  res.end();
}

/** Parses a non-negative decimal integer header or parameter, or explains why not. */
export function parseCount(name: string, value: string): number {
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(Number(value))) throw invalidParameter(`Invalid ${name}: ${value}`);
  return Number(value);
}

/** Archive and job descriptions: at most 1,024 printable ASCII characters (0x20–0x7E). */
export function validateDescription(kind: string, value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  if (value.length > 1024 || !/^[\x20-\x7e]*$/.test(value)) throw invalidParameter(`Invalid ${kind} description: ${value}`);
  return value;
}
