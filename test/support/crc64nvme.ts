// CRC-64/NVME as S3 reports it (base64 of the big-endian value), straight from hash-wasm, for S3 mocks to answer with.
import { createCRC64 } from 'hash-wasm';

export async function crc64nvmeOf(body: Uint8Array): Promise<string> {
  const hasher = await createCRC64('9a6c9329ac4bc9b5');
  hasher.init();
  hasher.update(body);
  return Buffer.from(hasher.digest('binary')).toString('base64');
}
