// The full-object CRC64NVME S3 reports (base64 of the big-endian CRC-64/NVME), computed as bytes pass, resumable.
import { createCRC64, type IHasher } from 'hash-wasm';

/** CRC-64/NVME's polynomial, reflected, as hash-wasm takes it (init and final XOR are all ones, as in CRC-64/XZ). */
const NVME_POLYNOMIAL = '9a6c9329ac4bc9b5';

/** A running CRC64NVME whose state saves to a string (a few bytes: no data) and loads back in a later invocation. */
export interface RunningCrc64Nvme {
  update(data: Uint8Array): void;
  /** Base64, as S3's `x-amz-checksum-crc64nvme`. */
  digestBase64(): string;
  save(): string;
}

const wrap = (hasher: IHasher): RunningCrc64Nvme => ({
  update: (data) => void hasher.update(data),
  digestBase64: () => Buffer.from(hasher.digest('binary')).toString('base64'),
  save: () => Buffer.from(hasher.save()).toString('base64'),
});

export async function newCrc64Nvme(): Promise<RunningCrc64Nvme> {
  const hasher = await createCRC64(NVME_POLYNOMIAL);
  hasher.init();
  return wrap(hasher);
}

/** A CRC64NVME in a saved state, or undefined when `state` is not one this module saved. */
export async function loadCrc64Nvme(state: string): Promise<RunningCrc64Nvme | undefined> {
  const hasher = await createCRC64(NVME_POLYNOMIAL);
  try {
    return wrap(hasher.load(Buffer.from(state, 'base64')));
  } catch {
    return undefined;
  }
}
