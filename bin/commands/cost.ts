// `omics-archiver cost`: what archiving a run (or a hypothetical one) to a tier costs, before anything moves.
import { estimateCost, hypotheticalFiles, type CostEstimate } from '../../functions/lib/cost/estimate';
import { formatCost, loadPrices, namedTier } from './cost-display';
import { processIO, type CommandIO } from './display';
import { planPolicy, planRun } from './plan';
import type { ResolverDeps, ResourceFlags } from './resources';

export interface CostOptions extends ResourceFlags {
  /** Hypothetical run: its total size in bytes (parsed by parseCostSize). */
  size?: number;
  /** Hypothetical run: how many files share the size. */
  files?: number;
  tier?: string;
  /** A cdk.json or a bare omicsArchiver object; default ./cdk.json. */
  policy?: string;
  /** A JSON file of prices merged onto the built-in table. */
  prices?: string;
  json?: boolean;
  now?: Date;
}

export interface CostReport {
  /** The run (id or uuid) the files are from; absent for a hypothetical run. */
  run?: string;
  policyFile: string;
  pricesFile?: string;
  estimate: CostEstimate;
}

/** Works the estimate out: for a run, over the files `plan` would archive (the same classification); else over --size/--files. */
export async function costReport(ref: string | undefined, options: CostOptions, deps: ResolverDeps = {}): Promise<CostReport> {
  const hypothetical = options.size !== undefined || options.files !== undefined;
  if (ref !== undefined && hypothetical) throw new Error('give either a run or --size and --files (a hypothetical run), not both');
  if (ref !== undefined) {
    const plan = await planRun(ref, options, deps);
    if (!plan.cost) throw new Error(`no tier of ${plan.policyFile} matches run ${ref}, so the archiver would leave it alone; pass --tier <name> to price one`);
    return { run: ref, policyFile: plan.policyFile, ...(plan.pricesFile ? { pricesFile: plan.pricesFile } : {}), estimate: plan.cost };
  }
  if (options.size === undefined || options.files === undefined) throw new Error('give a run, or both --size and --files for a hypothetical run');
  const { config, file: policyFile } = planPolicy(options.policy);
  // A hypothetical run has no tags or workflow to match a tier by: the policy's only tier, or the one named.
  const tier = options.tier !== undefined ? namedTier(config, options.tier, policyFile) : config.tiers.length === 1 ? config.tiers[0] : undefined;
  if (!tier) throw new Error(`--tier: ${policyFile} has ${config.tiers.length} tiers (${config.tiers.map((t) => t.name).join(', ')}); name the one to price`);
  const prices = loadPrices(options.prices);
  return {
    policyFile,
    ...(prices.file ? { pricesFile: prices.file } : {}),
    estimate: estimateCost(hypotheticalFiles(options.size, options.files), tier, prices.prices),
  };
}

/** `cost`: prints the estimate (tables or one JSON document) and returns it. */
export async function costCommand(ref: string | undefined, options: CostOptions, io: CommandIO = processIO, deps: ResolverDeps = {}): Promise<CostReport> {
  const report = await costReport(ref, options, deps);
  io.out(options.json ? JSON.stringify(report, null, 2) : formatCost(report.estimate, report.pricesFile));
  return report;
}
