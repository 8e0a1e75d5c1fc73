// Known-answer tests for the Glacier tree hash: a plain rendering of the documented algorithm, the AWS SDK's own
// implementation, and values from the AWS SDK's Glacier integration tests.
import { createCipheriv, createHash } from 'node:crypto';
import { TreeHash as SdkTreeHash } from '@aws-sdk/sha256-tree-hash';
import {
  EMPTY_SHA256,
  MIB,
  TreeHash,
  combinePartTreeHashes,
  combineTreeHashes,
  isPowerOfTwoMiB,
  isTreeHashAligned,
  treeHashOf,
} from '../../../../functions/lib/glacier/tree-hash';

/** Deterministic, incompressible test bytes (AES-CTR keystream). */
function bytes(size: number, seed = 1): Buffer {
  const key = createHash('sha256').update(`seed-${seed}`).digest().subarray(0, 16);
  return createCipheriv('aes-128-ctr', key, Buffer.alloc(16)).update(Buffer.alloc(size));
}

const sha256 = (data: Uint8Array) => createHash('sha256').update(data).digest();

/** The algorithm exactly as the Glacier developer guide describes it: hash each MiB, then hash pairs level by level. */
function documentedTreeHash(data: Buffer): string {
  let level: Buffer[] = [];
  for (let offset = 0; offset < data.length; offset += MIB) level.push(sha256(data.subarray(offset, offset + MIB)));
  if (level.length === 0) return sha256(Buffer.alloc(0)).toString('hex');
  while (level.length > 1) {
    const next: Buffer[] = [];
    for (let i = 0; i < level.length; i += 2) {
      next.push(i + 1 < level.length ? sha256(Buffer.concat([level[i], level[i + 1]])) : level[i]);
    }
    level = next;
  }
  return level[0].toString('hex');
}

class NodeSha256 {
  private readonly hash = createHash('sha256');
  update(data: Uint8Array) {
    this.hash.update(data);
  }
  digest() {
    return Promise.resolve(new Uint8Array(this.hash.digest()));
  }
}

async function sdkTreeHash(data: Buffer): Promise<string> {
  const hash = new SdkTreeHash(NodeSha256, (s: string) => Buffer.from(s, 'utf8'));
  hash.update(data);
  return Buffer.from(await hash.digest()).toString('hex');
}

const SIZES: Record<string, number> = {
  '1 byte': 1,
  'exactly 1 MiB': MIB,
  '1 MiB + 1': MIB + 1,
  '3 MiB': 3 * MIB,
  '5.5 MiB': 5.5 * MIB,
};

describe('TreeHash', () => {
  it('hashes the empty input to SHA-256 of nothing', () => {
    const expected = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';
    expect(new TreeHash().digestHex()).toBe(expected);
    expect(treeHashOf(new Uint8Array(0)).toString('hex')).toBe(expected);
    expect(EMPTY_SHA256.toString('hex')).toBe(expected);
  });

  it.each(Object.entries(SIZES))('matches the documented algorithm and the AWS SDK for %s', async (_name, size) => {
    const data = bytes(size);
    const expected = documentedTreeHash(data);
    expect(new TreeHash().update(data).digestHex()).toBe(expected);
    expect(treeHashOf(data).toString('hex')).toBe(expected);
    expect(await sdkTreeHash(data)).toBe(expected);
  });

  it('matches the values in the AWS SDK Glacier integration tests', () => {
    // aws-sdk-js-v3 clients/client-glacier integration test: 0.25 MB and 2.5 MB of the character "0".
    expect(treeHashOf(Buffer.alloc(0.25 * MIB, '0')).toString('hex')).toBe('6faefade5a638cd3545d638dd5754763658e32209e69420cb559b7650d4bf93a');
    expect(treeHashOf(Buffer.alloc(2.5 * MIB, '0')).toString('hex')).toBe('86118ad0c187fd240db59a37360e0e7f8a3a0c608eed740b4cd7b4271ab45171');
  });

  it.each([1, 7, MIB + 3])('does not depend on how the input is chunked (%i-byte chunks)', (chunkSize) => {
    const data = bytes(2 * MIB + 12345, 2);
    const hash = new TreeHash();
    for (let offset = 0; offset < data.length; offset += chunkSize) hash.update(data.subarray(offset, offset + chunkSize));
    expect(hash.size).toBe(data.length);
    expect(hash.digestHex()).toBe(documentedTreeHash(data));
  });

  it('combines parts of 1, 2 and 4 MiB into the whole-file hash', () => {
    const data = bytes(10 * MIB + 17, 4);
    const whole = documentedTreeHash(data);
    for (const partSize of [MIB, 2 * MIB, 4 * MIB]) {
      const parts: Buffer[] = [];
      for (let offset = 0; offset < data.length; offset += partSize) parts.push(treeHashOf(data.subarray(offset, offset + partSize)));
      expect(combinePartTreeHashes(parts).toString('hex')).toBe(whole);
    }
  });

  it('combines leaf hashes into the tree hash', () => {
    const data = bytes(7 * MIB + 5, 5);
    const leaves: Buffer[] = [];
    for (let offset = 0; offset < data.length; offset += MIB) leaves.push(sha256(data.subarray(offset, offset + MIB)));
    expect(combineTreeHashes(leaves).toString('hex')).toBe(documentedTreeHash(data));
    expect(combineTreeHashes([]).toString('hex')).toBe(EMPTY_SHA256.toString('hex'));
  });

  it('refuses updates after digest', () => {
    const hash = new TreeHash().update(Uint8Array.of(1));
    hash.digest();
    expect(() => hash.update(Uint8Array.of(2))).toThrow();
  });
});

describe('alignment helpers', () => {
  it('recognises part sizes of 1 MiB × 2^n', () => {
    expect([MIB, 2 * MIB, 64 * MIB, 4096 * MIB].every(isPowerOfTwoMiB)).toBe(true);
    expect([0, MIB - 1, 3 * MIB, 1.5 * MIB, 6 * MIB].some(isPowerOfTwoMiB)).toBe(false);
  });

  it('knows which ranges are nodes of the tree (the developer guide 6.5 MB example)', () => {
    const size = 6.5 * MIB;
    expect(isTreeHashAligned(0, size, size)).toBe(true);
    expect(isTreeHashAligned(0, 4 * MIB, size)).toBe(true);
    expect(isTreeHashAligned(4 * MIB, size, size)).toBe(true); // [4 MiB, end) is the right subtree
    expect(isTreeHashAligned(2 * MIB, 4 * MIB, size)).toBe(true);
    expect(isTreeHashAligned(1 * MIB, 3 * MIB, size)).toBe(false); // megabyte aligned, not tree-hash aligned
    expect(isTreeHashAligned(6 * MIB, size, size)).toBe(true);
    expect(isTreeHashAligned(0, 3 * MIB, size)).toBe(false);
  });

  it('agrees with the tree: every aligned range hashes to the root of its own subtree', () => {
    const data = bytes(6.5 * MIB, 6);
    const leaves: Buffer[] = [];
    for (let offset = 0; offset < data.length; offset += MIB) leaves.push(sha256(data.subarray(offset, offset + MIB)));
    // Collect every node of the archive tree with the byte range it covers.
    const nodes = new Map<string, string>();
    let level = leaves.map((hash, i) => ({ hash, start: i * MIB, end: Math.min((i + 1) * MIB, data.length) }));
    for (const n of level) nodes.set(`${n.start}-${n.end}`, n.hash.toString('hex'));
    while (level.length > 1) {
      const next: typeof level = [];
      for (let i = 0; i < level.length; i += 2) {
        next.push(
          i + 1 < level.length ? { hash: sha256(Buffer.concat([level[i].hash, level[i + 1].hash])), start: level[i].start, end: level[i + 1].end } : level[i],
        );
      }
      level = next;
      for (const n of level) nodes.set(`${n.start}-${n.end}`, n.hash.toString('hex'));
    }
    for (let start = 0; start < data.length; start += MIB) {
      for (let end = start + MIB; end <= data.length + MIB; end += MIB) {
        const endExclusive = Math.min(end, data.length);
        expect(isTreeHashAligned(start, endExclusive, data.length)).toBe(nodes.has(`${start}-${endExclusive}`));
        if (nodes.has(`${start}-${endExclusive}`)) {
          expect(treeHashOf(data.subarray(start, endExclusive)).toString('hex')).toBe(nodes.get(`${start}-${endExclusive}`));
        }
      }
    }
  });
});
