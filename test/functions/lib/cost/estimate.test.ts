// The cost estimator and its price table, with every number worked out by hand in the comments.
import { estimateCost, hypotheticalFiles, type CostTier } from '../../../../functions/lib/cost/estimate';
import { DEFAULT_PRICES, pricesWith } from '../../../../functions/lib/cost/prices';

const GiB = 1024 ** 3;
const MiB = 1024 ** 2;
const KiB = 1024;

const deepArchive: CostTier = {
  name: 'research',
  target: { type: 's3-glacier', storageClass: 'DEEP_ARCHIVE', multipartAbove: '1 GiB', sha256: true },
  deleteSources: true,
};

describe('estimateCost', () => {
  it('Deep Archive, sources deleted: one 100 GiB file archived in 1,600 parts, a 1 GiB file kept', () => {
    const e = estimateCost(
      [
        { size: 100 * GiB, action: 'archive' },
        { size: GiB, action: 'keep' },
      ],
      deepArchive,
      DEFAULT_PRICES,
    );
    expect(e.archiveClass).toBe('DEEP_ARCHIVE');
    expect(e.files).toEqual({ total: 2, bytes: 101 * GiB, archived: 1, archivedBytes: 100 * GiB, remaining: 1, remainingBytes: GiB });
    // now: 101 GB × $0.023 = $2.323. After: (100 GB + 32 KB) × $0.00099 = $0.099000030; (1 GB + 8 KB) × $0.023 = $0.023000175.
    expect(e.monthly).toEqual({ now: 2.323, after: 0.122, afterArchive: 0.099, afterStandard: 0.023, saving: 2.201 });
    // Above multipartAbove (1 GiB): create + 100 GiB / 64 MiB = 1,600 part copies + complete = 1,602 requests × $0.05 / 1,000.
    expect(e.oneTime).toEqual({ requests: 1602, requestCost: 0.0801 });
    // 180 days = 6 months of $0.099000030.
    expect(e.minimumCommitment).toEqual({ days: 180, cost: 0.594 });
    // Standard: 100 GB × $0.02 = $2; 1 request × $0.10 / 1,000 = $0.0001; copy back 1,600 ranges × $0.005 / 1,000 = $0.008;
    // the restored copy 3 days in S3 Standard: 100 GB × $0.023 × 3/30 = $0.23.
    const standard = { retrievalTier: 'Standard', retrieval: 2, requests: 0.0001, copyBack: 0.008, temporaryCopy: 0.23, total: 2.2381 };
    expect(e.restore).toEqual([
      // Deep Archive has no Expedited: Standard retrieves, at Standard's prices.
      { tier: 'Expedited', ...standard },
      { tier: 'Standard', ...standard },
      // Bulk: 100 GB × $0.0025 = $0.25; 1 × $0.025 / 1,000 = $0.000025.
      { tier: 'Bulk', retrievalTier: 'Bulk', retrieval: 0.25, requests: 0.000025, copyBack: 0.008, temporaryCopy: 0.23, total: 0.488025 },
    ]);
  });

  it('a vault, sources kept: an empty file uploads nothing, 100 MiB goes in two 64 MiB parts, 10 MiB in one (always multipart)', () => {
    const vault: CostTier = { name: 'vault', target: { type: 'glacier-vault' }, deleteSources: false };
    const e = estimateCost(
      [
        { size: 0, action: 'archive' },
        { size: 100 * MiB, action: 'archive' },
        { size: 10 * MiB, action: 'archive' },
      ],
      vault,
      DEFAULT_PRICES,
    );
    expect(e.archiveClass).toBe('VAULT');
    // 0 + (initiate + 2 parts + complete) + (initiate + 1 part + complete) = 7 requests × $0.05 / 1,000 = $0.00035: the
    // archive step uploads even one part as a multipart upload, which it can complete again after a crash.
    expect(e.oneTime).toEqual({ requests: 7, requestCost: 0.00035 });
    // 110 MiB = 0.107421875 GB × $0.023 = $0.002470703 now, and after (the sources stay; a vault has no 8 KB S3 overhead).
    // Archive: (110 MiB + 3 × 32 KiB) = 0.107513428 GB × $0.0036 = $0.000387048.
    expect(e.monthly).toEqual({ now: 0.002471, after: 0.002858, afterArchive: 0.000387, afterStandard: 0.002471, saving: -0.000387 });
    expect(e.minimumCommitment).toEqual({ days: 90, cost: 0.001161 });
    // Expedited: 0.107421875 GB × $0.03 = $0.003222656; 2 retrievals (the empty file has none) × $10 / 1,000 = $0.02;
    // copy back 1 + 2 + 1 ranges × $0.005 / 1,000 = $0.00002; no temporary copy for a vault.
    expect(e.restore[0]).toEqual({
      tier: 'Expedited',
      retrievalTier: 'Expedited',
      retrieval: 0.003223,
      requests: 0.02,
      copyBack: 0.00002,
      temporaryCopy: 0,
      total: 0.023243,
    });
    // Bulk from a vault (Flexible Retrieval prices) is free: only the copy back is paid.
    expect(e.restore[2]).toMatchObject({ tier: 'Bulk', retrieval: 0, requests: 0, total: 0.00002 });
  });

  it('Glacier Instant Retrieval bills small objects as 128 KB and reads them in place at one price for every tier', () => {
    const ir: CostTier = { ...deepArchive, name: 'instant', target: { type: 's3-glacier', storageClass: 'GLACIER_IR', multipartAbove: '1 GiB', sha256: true } };
    const e = estimateCost(
      Array.from({ length: 1000 }, () => ({ size: KiB, action: 'archive' as const })),
      ir,
      DEFAULT_PRICES,
    );
    // 1,000 × 128 KiB = 0.1220703125 GB × $0.004 = $0.000488281.
    expect(e.monthly.afterArchive).toBe(0.000488);
    // 1,000 copies × $0.02 / 1,000.
    expect(e.oneTime).toEqual({ requests: 1000, requestCost: 0.02 });
    // 1,000 KiB = 0.000953674 GB × $0.03 = $0.0000286; 1,000 GETs × $0.01 / 1,000 = $0.01; copy back 1,000 × $0.005 / 1,000.
    for (const r of e.restore) expect(r).toMatchObject({ retrievalTier: 'Instant', retrieval: 0.000029, requests: 0.01, copyBack: 0.005, total: 0.015029 });
  });

  it('only archive files move: keep and skip files stay in S3 Standard and cost no requests', () => {
    const e = estimateCost(
      [
        { size: GiB, action: 'keep' },
        { size: GiB, action: 'skip' },
      ],
      deepArchive,
      DEFAULT_PRICES,
    );
    expect(e.monthly).toEqual({ now: 0.046, after: 0.046, afterArchive: 0, afterStandard: 0.046, saving: 0 });
    expect(e.oneTime.requests).toBe(0);
    expect(e.restore.every((r) => r.total === 0)).toBe(true);
  });
});

describe('estimateCost with bundling', () => {
  const deep = (bundling: Partial<CostTier>): CostTier => ({
    name: 'deep',
    target: { type: 's3-glacier', storageClass: 'DEEP_ARCHIVE', multipartAbove: '1 GiB', sha256: true },
    deleteSources: true,
    ...bundling,
  });
  const smallFiles = hypotheticalFiles(10_000 * 10_000, 10_000);

  it('10,000 files of 10 KB: one bundle, one object’s overhead instead of 10,000, a few requests instead of 10,000', () => {
    const single = estimateCost(smallFiles, deep({}), DEFAULT_PRICES);
    const bundled = estimateCost(smallFiles, deep({ bundleFilesBelow: '1 MiB' }), DEFAULT_PRICES);
    expect(single.bundles).toBeUndefined();
    expect(single.oneTime.requests).toBe(10_000);
    // 10,000 members of 512 bytes of header and 10,240 of padded data, and the end blocks: 107,521,024 bytes of tar,
    // above one 64 MiB part: create, two parts, complete.
    expect(bundled.bundles).toEqual({ files: 10_000, count: 1, bytes: 10_000 * (512 + 10_240) + 1024 });
    expect(bundled.oneTime.requests).toBe(4);
    // The per-object overhead: 32 KB at Deep Archive's rate and 8 KB at Standard's, per object.
    const overhead = (objects: number) => objects * ((32 * 1024) / 1024 ** 3) * 0.00099 + objects * ((8 * 1024) / 1024 ** 3) * 0.023;
    expect(single.monthly.after - bundled.monthly.after).toBeCloseTo(overhead(10_000) - overhead(1) - (107_521_024 - 100_000_000) * (0.00099 / 1024 ** 3), 5);
    // Restoring every file restores the bundle once: one request instead of 10,000.
    expect(bundled.restore[1].requests).toBeCloseTo(0.0001, 6);
    expect(single.restore[1].requests).toBeCloseTo(1, 6);
  });

  it('files at or above the threshold, and empty ones, stay archives of their own; a vault bundle is one multipart upload', () => {
    const files = [
      { size: 0, action: 'archive' as const },
      { size: 2 * 1024 * 1024, action: 'archive' as const },
      ...Array.from({ length: 3 }, () => ({ size: 1000, action: 'archive' as const })),
    ];
    const e = estimateCost(files, { name: 'v', target: { type: 'glacier-vault' }, deleteSources: true, bundleFilesBelow: '1 MiB' }, DEFAULT_PRICES);
    expect(e.bundles).toEqual({ files: 3, count: 1, bytes: 3 * (512 + 1024) + 1024 });
    // The empty file: nothing; the 2 MiB file: initiate + part + complete; the bundle: the same.
    expect(e.oneTime.requests).toBe(6);
  });
});

describe('hypotheticalFiles', () => {
  it('splits the size over the files, the remainder on the first', () => {
    expect(hypotheticalFiles(10, 3)).toEqual([
      { size: 4, action: 'archive' },
      { size: 3, action: 'archive' },
      { size: 3, action: 'archive' },
    ]);
  });
});

describe('pricesWith', () => {
  it('merges a partial override onto the defaults', () => {
    const prices = pricesWith({ region: 'eu-west-1', classes: { DEEP_ARCHIVE: { storagePerGbMonth: 0.0018, retrieval: { Bulk: { perGb: 0.003 } } } } }, 'test');
    expect(prices.region).toBe('eu-west-1');
    expect(prices.classes.DEEP_ARCHIVE.storagePerGbMonth).toBe(0.0018);
    expect(prices.classes.DEEP_ARCHIVE.retrieval.Bulk).toEqual({ perGb: 0.003, per1000Requests: 0.025 });
    expect(prices.classes.DEEP_ARCHIVE.minimumDays).toBe(180);
    expect(prices.classes.GLACIER).toEqual(DEFAULT_PRICES.classes.GLACIER);
  });

  it('names the file and each bad key', () => {
    const bad = () => pricesWith({ classes: { GLACIER: { storagePerGbMonth: -1 }, GLACIER_DEEP: {} }, standard: { put: 1 } }, 'price file p.json');
    expect(bad).toThrow(/^price file p\.json: invalid price table:/);
    expect(bad).toThrow(/classes\.GLACIER\.storagePerGbMonth: .*>=0/);
    expect(bad).toThrow(/classes: Unrecognized key: "GLACIER_DEEP"/);
    expect(bad).toThrow(/standard: Unrecognized key: "put"/);
  });
});
