// The bundle's byte stream: the tar the layout promised, read in ranges of any size, members a bounded few ahead, hashed on the way.
import { createHash } from 'node:crypto';
import { bundleSource, BundleMemberError } from '../../../../functions/lib/bundle/bundle-source';
import { packBundles } from '../../../../functions/lib/bundle/pack';
import { TAR_END_BYTES, memberHeaders, paddingAfter } from '../../../../functions/lib/bundle/tar';
import type { BundleManifest, BundleMember } from '../../../../functions/lib/contract';
import { testBytes } from '../../../local/glacier/helpers';

const UUID = '96c57683-74bf-9d6d-ae7e-f09b097db14a';
const sha256 = (data: Uint8Array) => createHash('sha256').update(data).digest('hex');

function manifestOf(sizes: number[]): { manifest: BundleManifest; data: Map<string, Buffer> } {
  const candidates = sizes.map((size, i) => ({ path: `out/m${i}.txt`, bucket: 'b', key: `k/m${i}.txt`, size, etag: `"e${i}"`, lastModified: new Date(1e12) }));
  const [bundle] = packBundles(candidates, { filesBelow: 1 << 30, maxBytes: 1 << 30, maxMembers: 10_000 }, UUID, 1).bundles;
  return { manifest: bundle.manifest, data: new Map(candidates.map((c, i) => [c.key, testBytes(c.size, i + 1)])) };
}

/** The whole tar as the layout describes it, built from its pieces in one go. */
function expectedTar(manifest: BundleManifest, data: Map<string, Buffer>): Buffer {
  const parts = manifest.members.flatMap((m) => [memberHeaders(m), data.get(m.key)!, Buffer.alloc(paddingAfter(m.size))]);
  return Buffer.concat([...parts, Buffer.alloc(TAR_END_BYTES)]);
}

async function readRanges(source: ReturnType<typeof bundleSource>, rangeSize: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for (let start = 0; start < source.size; start += rangeSize) {
    for await (const chunk of await source.read(start, Math.min(start + rangeSize, source.size) - 1)) chunks.push(Buffer.from(chunk));
  }
  return Buffer.concat(chunks);
}

/** Serves each member in small chunks, counting how many reads are open at once and how many bytes are held ahead. */
function instrumented(data: Map<string, Buffer>) {
  const stats = { open: 0, mostOpen: 0, reads: [] as string[] };
  const readMember = (member: BundleMember) => {
    stats.reads.push(member.key);
    stats.open++;
    stats.mostOpen = Math.max(stats.mostOpen, stats.open);
    const body = data.get(member.key)!;
    async function* chunks() {
      for (let at = 0; at < body.length; at += 1000) {
        await new Promise((r) => setImmediate(r));
        yield body.subarray(at, at + 1000);
      }
      stats.open--;
    }
    return Promise.resolve(chunks());
  };
  return { stats, readMember };
}

describe('bundleSource', () => {
  test.each([512, 1000, 4096, 1 << 20])(
    'serves the tar the layout promised in consecutive ranges of %i bytes, and each member’s SHA-256',
    async (rangeSize) => {
      const { manifest, data } = manifestOf([1, 511, 512, 513, 5000, 20_000, 3]);
      const { readMember } = instrumented(data);
      const source = bundleSource({ manifest, readMember });
      expect(source.size).toBe(manifest.size);
      const tar = await readRanges(source, rangeSize);
      expect(tar.equals(expectedTar(manifest, data))).toBe(true);
      expect(source.memberSha256()).toEqual(manifest.members.map((m) => sha256(data.get(m.key)!)));
    },
  );

  test('reads members in manifest order, at most the read-ahead at once, and each once per pass', async () => {
    const { manifest, data } = manifestOf(Array.from({ length: 40 }, () => 3000));
    const { stats, readMember } = instrumented(data);
    const source = bundleSource({ manifest, readMember, readAhead: { members: 4, bytes: 1 << 20 } });
    await readRanges(source, 64 * 1024);
    expect(stats.reads).toEqual(manifest.members.map((m) => m.key));
    expect(stats.mostOpen).toBeLessThanOrEqual(4);
    expect(stats.mostOpen).toBeGreaterThan(1);
  });

  test('keeps the bytes read ahead within its bound, but always reads the next member, however large', async () => {
    const { manifest, data } = manifestOf([50_000, 50_000, 50_000]);
    const { stats, readMember } = instrumented(data);
    const tar = await readRanges(bundleSource({ manifest, readMember, readAhead: { members: 16, bytes: 60_000 } }), 8192);
    // Two would hold 100,000 bytes ahead: one at a time, then, and every one read.
    expect(stats.mostOpen).toBe(1);
    expect(tar.equals(expectedTar(manifest, data))).toBe(true);
  });

  test('starts over from byte 0 (a restarted or resumed upload), and refuses reads out of order', async () => {
    const { manifest, data } = manifestOf([700, 900, 1100]);
    const { stats, readMember } = instrumented(data);
    const source = bundleSource({ manifest, readMember });
    for await (const chunk of await source.read(0, 999)) expect(chunk.length).toBeGreaterThan(0);
    expect(() => source.memberSha256()).toThrow(/has not been read to its end/);
    await expect(source.read(2000, 2999)).rejects.toThrow(/read in order: asked for 2000-2999 at 1000/);
    const whole = await readRanges(source, 1500);
    expect(whole.equals(expectedTar(manifest, data))).toBe(true);
    expect(source.memberSha256()).toHaveLength(3);
    expect(stats.reads.filter((k) => k === 'k/m0.txt').length).toBe(2);
  });

  test('a member missing, or not the planned size, fails the read with an error that names it and keeps the cause’s name', async () => {
    const { manifest, data } = manifestOf([700, 900]);
    const gone = Object.assign(new Error('The specified key does not exist.'), { name: 'NoSuchKey' });
    const failing = bundleSource({ manifest, readMember: (m) => (m.key === 'k/m1.txt' ? Promise.reject(gone) : instrumented(data).readMember(m)) });
    const error = await readRanges(failing, 4096).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BundleMemberError);
    expect(error).toMatchObject({ name: 'NoSuchKey', member: 'out/m1.txt', message: 'member out/m1.txt: NoSuchKey: The specified key does not exist.' });

    const short = new Map(data);
    short.set('k/m0.txt', data.get('k/m0.txt')!.subarray(0, 600));
    const truncated = await readRanges(bundleSource({ manifest, readMember: instrumented(short).readMember }), 4096).catch((e: unknown) => e);
    expect(truncated).toMatchObject({ name: 'SourceChanged', message: expect.stringContaining('k/m0.txt has 600 bytes, 700 were planned') as string });
  });
});
