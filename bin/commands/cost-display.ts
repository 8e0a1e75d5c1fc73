// What `cost` and `plan` share for the estimate: the --prices file, the tier by name, --size, and the estimate as tables.
import * as fs from 'node:fs';
import { InvalidArgumentError } from 'commander';
import { DEFAULT_PRICES, pricesWith, type PriceTable } from '../../functions/lib/cost/prices';
import type { CostEstimate } from '../../functions/lib/cost/estimate';
import { sizeBytes, type ArchiverConfig, type Tier } from '../../functions/lib/contract';
import { formatBytes, table } from './display';

/** The built-in price table, or it with a `--prices` JSON file merged on. */
export function loadPrices(file: string | undefined): { prices: PriceTable; file?: string } {
  if (!file) return { prices: DEFAULT_PRICES };
  let raw: unknown;
  try {
    raw = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (error) {
    throw new Error(`cannot read price file ${file}: ${(error as Error).message}`, { cause: error });
  }
  return { prices: pricesWith(raw, `price file ${file}`), file };
}

/** `--tier <name>`: one of the policy's tiers. */
export function namedTier(config: ArchiverConfig, name: string, policyFile: string): Tier {
  const tier = config.tiers.find((t) => t.name === name);
  if (!tier) throw new Error(`--tier: no tier named "${name}" in ${policyFile} (tiers: ${config.tiers.map((t) => t.name).join(', ')})`);
  return tier;
}

/**
 * `--size`: the contract's sizes ("512 KiB", "1.5 GiB", bytes), and "100GB" as AWS's price pages write it: AWS bills
 * a GB as 2^30 bytes, so KB/MB/GB/TB here are the binary units.
 */
export function parseCostSize(value: string): number {
  const normalized = value
    .replace(/^\s*(\d+(?:\.\d+)?)\s*([KMGT])i?B\s*$/i, (_, n: string, unit: string) => `${n} ${unit.toUpperCase()}iB`)
    .replace(/^\s*(\d+)\s*B\s*$/i, '$1');
  try {
    const bytes = /^\d+$/.test(normalized) ? Number(normalized) : sizeBytes(normalized);
    if (bytes <= 0) throw new Error('not positive');
    return bytes;
  } catch {
    throw new InvalidArgumentError('must be a size such as 100GB, "1.5 TiB" or 500MiB (a GB is 2^30 bytes, as AWS bills it)');
  }
}

/** `--files`: a positive whole number. */
export function parseFileCount(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('must be a whole number of files, at least 1');
  return n;
}

const CLASS_NAMES: Record<CostEstimate['archiveClass'], string> = {
  GLACIER: 'S3 Glacier Flexible Retrieval (GLACIER)',
  DEEP_ARCHIVE: 'S3 Glacier Deep Archive (DEEP_ARCHIVE)',
  GLACIER_IR: 'S3 Glacier Instant Retrieval (GLACIER_IR)',
  VAULT: 'Glacier vault',
};

/** Dollars to four places: the per-request prices are fractions of a cent. */
export const usd = (value: number) => `$${value.toFixed(4)}`;

/** The estimate as text: what it covers, one table of storage and one-time costs, one of the restore tiers. */
export function formatCost(estimate: CostEstimate, pricesFile?: string): string {
  const f = estimate.files;
  const p = estimate.prices;
  const lines = [
    `Cost estimate for tier ${estimate.tier} → ${CLASS_NAMES[estimate.archiveClass]}; deletes archived sources: ${estimate.deleteSources ? 'yes' : 'no'}`,
    `Prices: ${p.region} list prices in ${p.currency} as of ${p.asOf}${pricesFile ? `, with ${pricesFile}` : ''} (${p.source})`,
    `Files: ${f.total} (${formatBytes(f.bytes)}); archived ${f.archived} (${formatBytes(f.archivedBytes)}); left in S3 Standard ${f.remaining} (${formatBytes(f.remainingBytes)})`,
    ...(estimate.bundles
      ? [
          `Bundles: ${estimate.bundles.files} small files in ${estimate.bundles.count} bundle${estimate.bundles.count === 1 ? '' : 's'} (${formatBytes(estimate.bundles.bytes)} of tar), one archive each`,
        ]
      : []),
    table(
      ['item', 'cost'],
      [
        ['storage per month now (S3 Standard)', usd(estimate.monthly.now)],
        ['storage per month after', usd(estimate.monthly.after)],
        ['  in the archive (overheads included)', usd(estimate.monthly.afterArchive)],
        ['  left in S3 Standard', usd(estimate.monthly.afterStandard)],
        ['saving per month', usd(estimate.monthly.saving)],
        [`one-time: ${estimate.oneTime.requests} archive requests`, usd(estimate.oneTime.requestCost)],
        [`minimum-duration commitment (${estimate.minimumCommitment.days} days of storage)`, usd(estimate.minimumCommitment.cost)],
      ],
    ),
    'Restoring every archived file:',
    table(
      ['tier', 'retrieved as', 'retrieval', 'requests', 'copy back', 'temporary copy', 'total'],
      estimate.restore.map((r) => [r.tier, r.retrievalTier, usd(r.retrieval), usd(r.requests), usd(r.copyBack), usd(r.temporaryCopy), usd(r.total)]),
    ),
  ];
  return lines.join('\n');
}
