// Packing small files into bundles: order kept, every bundle within its bytes and member count, ids from the run and a sequence.
import { bundleIdOf } from '../../../../functions/lib/contract';
import { isBundleCandidate, packBundles, type BundleCandidate } from '../../../../functions/lib/bundle/pack';
import { TAR_BLOCK, TAR_END_BYTES, memberFootprint, tarLayout } from '../../../../functions/lib/bundle/tar';

const UUID = '96c57683-74bf-9d6d-ae7e-f09b097db14a';
const candidate = (i: number, size: number): BundleCandidate => ({ path: `out/f${String(i).padStart(4, '0')}`, bucket: 'b', key: `k${i}`, size });

describe('packBundles', () => {
  it('keeps the order, closes a bundle at its member count, and numbers bundles from the first sequence it is given', () => {
    const files = Array.from({ length: 25 }, (_, i) => candidate(i, 10 + i));
    const { bundles, unbundled } = packBundles(files, { filesBelow: 1000, maxBytes: 1 << 30, maxMembers: 10 }, UUID, 7);
    expect(bundles.map((b) => b.manifest.members.length)).toEqual([10, 10, 5]);
    expect(bundles.map((b) => b.id)).toEqual([7, 8, 9].map((n) => bundleIdOf(UUID, n)));
    expect(bundles.flatMap((b) => b.manifest.members.map((m) => m.path))).toEqual(files.map((f) => f.path));
    expect(unbundled).toEqual([]);
  });

  it('never passes maxBytes, end blocks included, and lays out each bundle as tarLayout does', () => {
    const sizes = [100, 513, 2000, 1, 700, 1500, 64, 999, 3000, 5];
    const files = sizes.map((size, i) => candidate(i, size));
    const policy = { filesBelow: 4000, maxBytes: 6 * TAR_BLOCK + TAR_END_BYTES + 3000, maxMembers: 100 };
    const { bundles, unbundled } = packBundles(files, policy, UUID, 1);
    for (const bundle of bundles) {
      expect(bundle.manifest.size).toBeLessThanOrEqual(policy.maxBytes);
      const layout = tarLayout(bundle.manifest.members);
      expect(bundle.manifest.size).toBe(layout.size);
      expect(bundle.manifest.members.map((m) => m.offset)).toEqual(layout.offsets);
      expect(bundle.bytes).toBe(bundle.manifest.members.reduce((sum, m) => sum + m.size, 0));
    }
    expect([...bundles.flatMap((b) => b.manifest.members.map((m) => m.path)), ...unbundled.map((u) => u.path)].sort()).toEqual(files.map((f) => f.path).sort());
  });

  it('leaves out a file that alone would pass maxBytes, and the lone member of a bundle of one', () => {
    const big = candidate(0, 4000);
    const policy = { filesBelow: 4096, maxBytes: memberFootprint(big) + TAR_END_BYTES - 1, maxMembers: 100 };
    const { bundles, unbundled } = packBundles([candidate(1, 10), big, candidate(2, 10), candidate(3, 10)], policy, UUID, 1);
    expect(unbundled.map((u) => u.path)).toEqual([big.path]);
    expect(bundles).toHaveLength(1);
    expect(packBundles([candidate(1, 10)], policy, UUID, 1)).toEqual({ bundles: [], unbundled: [candidate(1, 10)] });
  });

  it('takes files of one byte up to just below the threshold, never empty ones, and none without a policy', () => {
    const policy = { filesBelow: 100, maxBytes: 1 << 20, maxMembers: 10 };
    expect([0, 1, 99, 100, 101].map((size) => isBundleCandidate(size, policy))).toEqual([false, true, true, false, false]);
    expect(isBundleCandidate(1, undefined)).toBe(false);
  });
});
