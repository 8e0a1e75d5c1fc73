// Applies the tier policy: which tier a run falls in, and what happens to each of its output files.
import picomatch from 'picomatch';
import { durationSeconds, layoutPath, sizeBytes, type ArchiverConfig, type FileAction, type FileRule, type Tier } from '../contract';

/** What the policy needs to know of a run to choose its tier. */
export interface RunFacts {
  workflowId?: string;
  runGroupId?: string;
  status: string;
  tags?: Record<string, string>;
}

/** The first tier whose match holds for the run; an empty match takes every run. */
export function matchTier(config: Pick<ArchiverConfig, 'tiers'>, run: RunFacts): Tier | undefined {
  return config.tiers.find((tier) => {
    const m = tier.match;
    if (m.workflowIds && !(run.workflowId && m.workflowIds.includes(run.workflowId))) return false;
    if (m.runGroupIds && !(run.runGroupId && m.runGroupIds.includes(run.runGroupId))) return false;
    if (m.statuses && !m.statuses.includes(run.status as (typeof m.statuses)[number])) return false;
    if (m.tags && !Object.entries(m.tags).every(([key, value]) => run.tags?.[key] === value)) return false;
    return true;
  });
}

/** The waits a tier asks for, in seconds, as the Wait states take them. */
export function tierWaits(tier: Tier): { settleSeconds: number; archiveAfterSeconds: number } {
  return { settleSeconds: durationSeconds(tier.settleWait), archiveAfterSeconds: durationSeconds(tier.archiveAfter) };
}

export interface OutputFile {
  /** Path relative to the run's output folder. */
  path: string;
  size: number;
  lastModified: Date;
}

export interface FileDecision {
  action: FileAction;
  /** Index of the rule that decided, or -1 for the tier's default action. */
  rule: number;
}

interface CompiledRule {
  matches: (path: string) => boolean;
  minSize: number;
  minAgeSeconds: number;
  action: FileAction;
}

/** A path matcher that also takes a CWL run's `<uuid>/out/…` for the `out/…` the globs are written against. */
function bothLayouts(match: (path: string) => boolean): (path: string) => boolean {
  return (path) => {
    if (match(path)) return true;
    const layout = layoutPath(path);
    return layout !== path && match(layout);
  };
}

/** Compiles a tier's file rules once, for classifying many files. */
export function fileClassifier(tier: Pick<Tier, 'files' | 'defaultAction'>): (file: OutputFile, now: Date) => FileDecision {
  const rules: CompiledRule[] = tier.files.map((rule: FileRule) => ({
    // dot: true, because genomics outputs often start with a dot (.bai indexes live beside their BAMs, but also .nextflow.log).
    matches: bothLayouts(picomatch(rule.globs, { dot: true })),
    minSize: rule.minSize === undefined ? 0 : sizeBytes(rule.minSize),
    minAgeSeconds: rule.minAge === undefined ? 0 : durationSeconds(rule.minAge),
    action: rule.action,
  }));
  return (file, now) => {
    const ageSeconds = (now.getTime() - file.lastModified.getTime()) / 1000;
    // A rule without a minimum age ignores age: an object stamped a moment after `now` (clock skew, or written while
    // the plan lists) must not fall through to the default action.
    const rule = rules.findIndex((r) => r.matches(file.path) && file.size >= r.minSize && (r.minAgeSeconds === 0 || ageSeconds >= r.minAgeSeconds));
    return rule === -1 ? { action: tier.defaultAction, rule } : { action: rules[rule].action, rule };
  };
}
