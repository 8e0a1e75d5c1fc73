// Unit tests for the running CRC64NVME: against the SDK's independent implementation, the catalogue check value,
// and a state saved and loaded back at any offset.
import { Crc64Nvme } from '@aws-sdk/crc64-nvme';
import { createSHA256 } from 'hash-wasm';
import { loadCrc64Nvme, newCrc64Nvme } from '../../../../functions/lib/transfer/crc64nvme';
import { crc64nvmeOf } from '../../../support/crc64nvme';
import { mulberry32 } from '../../../support/random';

function randomBytes(random: () => number, size: number): Buffer {
  const words = new Uint32Array(Math.ceil(size / 4));
  for (let i = 0; i < words.length; i++) words[i] = Math.floor(random() * 2 ** 32);
  return Buffer.from(words.buffer, 0, size);
}

/** The SDK's CRC64NVME (the one its flexible checksums use), as S3's base64 of the big-endian value. */
async function sdkCrc64(data: Uint8Array): Promise<string> {
  const checksum = new Crc64Nvme();
  checksum.update(data);
  return Buffer.from(await checksum.digest()).toString('base64');
}

async function ours(data: Uint8Array): Promise<string> {
  const crc = await newCrc64Nvme();
  crc.update(data);
  return crc.digestBase64();
}

describe('CRC64NVME', () => {
  it('gives the catalogue check value: CRC-64/NVME of "123456789" is 0xae8b14860a799888, as base64 of its 8 big-endian bytes', async () => {
    const expected = Buffer.from('ae8b14860a799888', 'hex').toString('base64');
    expect(expected).toBe('rosUhgp5mIg=');
    expect(await ours(Buffer.from('123456789'))).toBe(expected);
    expect(await sdkCrc64(Buffer.from('123456789'))).toBe(expected);
  });

  it('is zero for no bytes (all-ones init and final XOR)', async () => {
    expect(await ours(new Uint8Array(0))).toBe('AAAAAAAAAAA=');
    expect(await ours(new Uint8Array(0))).toBe(await sdkCrc64(new Uint8Array(0)));
  });

  const SEED = 0xc64;
  it(`agrees with @aws-sdk/crc64-nvme over random buffers of many sizes (seed ${SEED})`, async () => {
    const random = mulberry32(SEED);
    for (const size of [1, 2, 7, 8, 9, 15, 16, 17, 63, 64, 65, 255, 1000, 4096, 65_537, 1024 * 1024 + 3]) {
      const data = randomBytes(random, size);
      expect({ size, crc: await ours(data) }).toEqual({ size, crc: await sdkCrc64(data) });
    }
  });

  it('agrees with the S3 mocks’ helper (test/support/crc64nvme.ts)', async () => {
    const data = randomBytes(mulberry32(7), 5000);
    expect(await ours(data)).toBe(await crc64nvmeOf(data));
  });

  it('is the same fed in any chunks as in one update', async () => {
    const random = mulberry32(11);
    const data = randomBytes(random, 100_000);
    const whole = await ours(data);
    for (let round = 0; round < 10; round++) {
      const crc = await newCrc64Nvme();
      for (let offset = 0; offset < data.length;) {
        const length = Math.min(data.length - offset, 1 + Math.floor(random() * 9000));
        crc.update(data.subarray(offset, offset + length));
        offset += length;
      }
      expect(crc.digestBase64()).toBe(whole);
    }
  });

  it('tells a change of one bit', async () => {
    const data = randomBytes(mulberry32(3), 4096);
    const flipped = Buffer.from(data);
    flipped[2048] ^= 0x10;
    expect(await ours(flipped)).not.toBe(await ours(data));
  });
});

describe('saving and loading a running CRC64NVME', () => {
  const SEED = 0x5a7e;
  it(`resumes after a split at arbitrary offsets with the same checksum as in one go (seed ${SEED})`, async () => {
    const random = mulberry32(SEED);
    for (let round = 0; round < 25; round++) {
      const data = randomBytes(random, 1 + Math.floor(random() * 20_000));
      const expected = await sdkCrc64(data);
      const offsets = [0, data.length, ...Array.from({ length: 1 + Math.floor(random() * 4) }, () => Math.floor(random() * (data.length + 1)))];
      for (const split of offsets) {
        const before = await newCrc64Nvme();
        before.update(data.subarray(0, split));
        const state = before.save();
        const after = await loadCrc64Nvme(state);
        expect(after).toBeDefined();
        after!.update(data.subarray(split));
        expect({ length: data.length, split, crc: after!.digestBase64() }).toEqual({ length: data.length, split, crc: expected });
      }
    }
  });

  it('carries on across several invocations, saved and loaded each time', async () => {
    const data = randomBytes(mulberry32(5), 50_000);
    let state = (await newCrc64Nvme()).save();
    for (const [start, end] of [
      [0, 1],
      [1, 9_999],
      [9_999, 10_000],
      [10_000, 10_000],
      [10_000, 50_000],
    ]) {
      const crc = (await loadCrc64Nvme(state))!;
      crc.update(data.subarray(start, end));
      state = crc.save();
    }
    expect((await loadCrc64Nvme(state))!.digestBase64()).toBe(await sdkCrc64(data));
  });

  it('saves a few bytes of state and none of the data', async () => {
    const crc = await newCrc64Nvme();
    crc.update(Buffer.alloc(1024 * 1024, 0xab));
    const state = Buffer.from(crc.save(), 'base64');
    expect(state.length).toBeLessThanOrEqual(32);
  });

  it('leaves the running checksum untouched by saving', async () => {
    const data = randomBytes(mulberry32(9), 3000);
    const crc = await newCrc64Nvme();
    crc.update(data.subarray(0, 1000));
    crc.save();
    crc.update(data.subarray(1000));
    expect(crc.digestBase64()).toBe(await sdkCrc64(data));
  });

  it.each([
    ['text that is not base64 of a state', 'not a state'],
    ['nothing', ''],
    ['a truncated state', 'AAAA'],
  ])('refuses %s (undefined)', async (_name, state) => {
    expect(await loadCrc64Nvme(state)).toBeUndefined();
  });

  it('refuses the saved state of another hash', async () => {
    const sha256 = await createSHA256();
    sha256.init();
    sha256.update('abc');
    expect(await loadCrc64Nvme(Buffer.from(sha256.save()).toString('base64'))).toBeUndefined();
  });
});
