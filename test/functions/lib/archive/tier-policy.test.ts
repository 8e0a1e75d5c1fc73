// Unit tests for the tier policy: which tier takes a run, and which action each output file gets.
import { TierSchema, type ArchiverConfig, type TierMatch } from '../../../../functions/lib/contract';
import { fileClassifier, matchTier, tierWaits, type OutputFile } from '../../../../functions/lib/archive/tier-policy';

const NOW = new Date('2025-06-01T12:00:00.000Z');
const MIB = 1024 * 1024;

const tier = (name: string, match: TierMatch | Record<string, unknown> = {}, extra: Record<string, unknown> = {}) =>
  TierSchema.parse({ name, match, ...extra });
const config = (...tiers: ReturnType<typeof tier>[]): Pick<ArchiverConfig, 'tiers'> => ({ tiers });
const file = (path: string, size = 1, ageSeconds = 0): OutputFile => ({ path, size, lastModified: new Date(NOW.getTime() - ageSeconds * 1000) });

describe('matchTier', () => {
  const completed = { workflowId: '4074992', runGroupId: '9938959', status: 'COMPLETED', tags: { project: 'p1', lab: 'genomics' } };

  it('takes the first tier whose match holds, not the most specific one', () => {
    const policy = config(tier('everything'), tier('specific', { workflowIds: ['4074992'] }));
    expect(matchTier(policy, completed)?.name).toBe('everything');
  });

  it('skips tiers that do not match and falls through to a later one', () => {
    const policy = config(tier('other-workflow', { workflowIds: ['1'] }), tier('ours', { workflowIds: ['4074992'] }), tier('rest'));
    expect(matchTier(policy, completed)?.name).toBe('ours');
  });

  it('an empty (or absent) match takes every run, whatever it carries', () => {
    const policy = config(TierSchema.parse({ name: 'catch-all' }));
    expect(matchTier(policy, { status: 'CANCELLED' })?.name).toBe('catch-all');
    expect(matchTier(policy, completed)?.name).toBe('catch-all');
  });

  it('matches by workflow id, and a run without one does not match a workflow list', () => {
    const policy = config(tier('wf', { workflowIds: ['a', '4074992'] }));
    expect(matchTier(policy, completed)?.name).toBe('wf');
    expect(matchTier(policy, { ...completed, workflowId: 'b' })).toBeUndefined();
    expect(matchTier(policy, { status: 'COMPLETED' })).toBeUndefined();
  });

  it('matches by run group id, and a run outside any group does not match', () => {
    const policy = config(tier('group', { runGroupIds: ['9938959'] }));
    expect(matchTier(policy, completed)?.name).toBe('group');
    expect(matchTier(policy, { ...completed, runGroupId: undefined })).toBeUndefined();
    expect(matchTier(policy, { ...completed, runGroupId: '1' })).toBeUndefined();
  });

  it('matches by status, so FAILED and CANCELLED runs can follow their own tier', () => {
    const policy = config(tier('failures', { statuses: ['FAILED', 'CANCELLED'] }), tier('completed', { statuses: ['COMPLETED'] }));
    expect(matchTier(policy, { ...completed, status: 'FAILED' })?.name).toBe('failures');
    expect(matchTier(policy, { ...completed, status: 'CANCELLED' })?.name).toBe('failures');
    expect(matchTier(policy, completed)?.name).toBe('completed');
    expect(matchTier(policy, { ...completed, status: 'RUNNING' })).toBeUndefined();
  });

  it('matches by tags only when every listed tag is on the run with that value', () => {
    const policy = config(tier('tagged', { tags: { project: 'p1', lab: 'genomics' } }));
    expect(matchTier(policy, completed)?.name).toBe('tagged');
    // Extra tags on the run do not matter.
    expect(matchTier(policy, { ...completed, tags: { ...completed.tags, owner: 'x' } })?.name).toBe('tagged');
    expect(matchTier(policy, { ...completed, tags: { project: 'p1' } })).toBeUndefined();
    expect(matchTier(policy, { ...completed, tags: { project: 'p1', lab: 'Genomics' } })).toBeUndefined();
    expect(matchTier(policy, { ...completed, tags: undefined })).toBeUndefined();
  });

  it('requires every criterion of a match to hold at once', () => {
    const policy = config(tier('narrow', { workflowIds: ['4074992'], statuses: ['COMPLETED'], tags: { project: 'p1' } }));
    expect(matchTier(policy, completed)?.name).toBe('narrow');
    expect(matchTier(policy, { ...completed, status: 'FAILED' })).toBeUndefined();
    expect(matchTier(policy, { ...completed, workflowId: 'x' })).toBeUndefined();
    expect(matchTier(policy, { ...completed, tags: { project: 'p2' } })).toBeUndefined();
  });

  it('returns undefined when no tier matches', () => {
    expect(matchTier(config(tier('a', { workflowIds: ['1'] }), tier('b', { statuses: ['FAILED'] })), completed)).toBeUndefined();
  });
});

describe('tierWaits', () => {
  it('gives the settle and ageing waits in seconds', () => {
    expect(tierWaits(tier('t', {}, { settleWait: 'PT5M', archiveAfter: 'P7D' }))).toEqual({ settleSeconds: 300, archiveAfterSeconds: 7 * 86400 });
    expect(tierWaits(tier('t', {}, { settleWait: 'PT0S', archiveAfter: 'PT1H30M' }))).toEqual({ settleSeconds: 0, archiveAfterSeconds: 5400 });
  });

  it('counts a month as 30 days and uses the schema defaults (PT5M, P30D)', () => {
    expect(tierWaits(tier('t', {}, { archiveAfter: 'P2M' })).archiveAfterSeconds).toBe(60 * 86400);
    expect(tierWaits(tier('t'))).toEqual({ settleSeconds: 300, archiveAfterSeconds: 30 * 86400 });
  });
});

describe('fileClassifier', () => {
  const rules = {
    defaultAction: 'keep',
    files: [
      { globs: ['**/*.log', '**/.nextflow*'], action: 'skip' },
      { globs: ['**/*.bam', '**/*.cram'], minSize: '1 MiB', minAge: 'P7D', action: 'archive' },
      { globs: ['**/*.bam'], action: 'keep' },
      { globs: ['**/*.vcf.gz'], minSize: 100, action: 'archive' },
    ],
  };
  const classify = fileClassifier(tier('t', {}, rules));

  it('lets the first rule whose globs, minimum size and minimum age all hold decide', () => {
    expect(classify(file('sample/reads.bam', 2 * MIB, 8 * 86400), NOW)).toEqual({ action: 'archive', rule: 1 });
    // Too small for rule 1: the next matching rule decides.
    expect(classify(file('sample/reads.bam', MIB - 1, 8 * 86400), NOW)).toEqual({ action: 'keep', rule: 2 });
    // Too young for rule 1.
    expect(classify(file('sample/reads.bam', 2 * MIB, 6 * 86400), NOW)).toEqual({ action: 'keep', rule: 2 });
  });

  it('holds minimum size and age at the boundary (at least, not more than)', () => {
    expect(classify(file('reads.cram', MIB, 7 * 86400), NOW)).toEqual({ action: 'archive', rule: 1 });
    expect(classify(file('x.vcf.gz', 100), NOW)).toEqual({ action: 'archive', rule: 3 });
    expect(classify(file('x.vcf.gz', 99), NOW)).toEqual({ action: 'keep', rule: -1 });
  });

  it('falls back to the tier default when no rule holds', () => {
    expect(classify(file('notes.txt'), NOW)).toEqual({ action: 'keep', rule: -1 });
    expect(classify(file('reads.cram', MIB - 1, 30 * 86400), NOW)).toEqual({ action: 'keep', rule: -1 });
    const archiveByDefault = fileClassifier(tier('t', {}, { defaultAction: 'archive' }));
    expect(archiveByDefault(file('anything/at/all.bin'), NOW)).toEqual({ action: 'archive', rule: -1 });
  });

  it('matches `**` at any depth, including the top of the output folder', () => {
    expect(classify(file('reads.bam', 2 * MIB, 30 * 86400), NOW).action).toBe('archive');
    expect(classify(file('a/b/c/d/e/f/g/h/i/j/reads.bam', 2 * MIB, 30 * 86400), NOW).action).toBe('archive');
    expect(classify(file('out/logs/task/12345/stdout.log'), NOW).action).toBe('skip');
  });

  it('a glob without `**` matches only at its own depth', () => {
    const topOnly = fileClassifier(tier('t', {}, { files: [{ globs: ['*.bam'], action: 'archive' }] }));
    expect(topOnly(file('reads.bam'), NOW).action).toBe('archive');
    expect(topOnly(file('sample/reads.bam'), NOW).action).toBe('keep');
    const inFolder = fileClassifier(tier('t', {}, { files: [{ globs: ['bam/**'], action: 'archive' }] }));
    expect(inFolder(file('bam/x/y.bam'), NOW).action).toBe('archive');
    expect(inFolder(file('vcf/bam/y.bam'), NOW).action).toBe('keep');
  });

  it("matches a CWL run's `<uuid>/out/…` paths with globs written for `out/…`, and only that folder", () => {
    const uuid = '96c57683-74bf-9d6d-ae7e-f09b097db14a';
    const outBams = fileClassifier(tier('t', {}, { files: [{ globs: ['out/**/*.bam'], action: 'archive' }] }));
    expect(outBams(file(`${uuid}/out/aligned/reads.bam`), NOW).action).toBe('archive');
    expect(outBams(file('out/aligned/reads.bam'), NOW).action).toBe('archive');
    // Only a uuid-named folder directly holding out/ is the CWL layout.
    expect(outBams(file('sample-1/out/aligned/reads.bam'), NOW).action).toBe('keep');
    expect(outBams(file(`${uuid}/logs/reads.bam`), NOW).action).toBe('keep');
    // A glob that names the uuid folder still matches the real path.
    const literal = fileClassifier(tier('t', {}, { files: [{ globs: [`${uuid}/out/*.vcf`], action: 'skip' }] }));
    expect(literal(file(`${uuid}/out/calls.vcf`), NOW).action).toBe('skip');
  });

  it('matches dotfiles and files inside dot folders', () => {
    expect(classify(file('.nextflow.log'), NOW).action).toBe('skip');
    expect(classify(file('work/.nextflow.pid'), NOW).action).toBe('skip');
    const everything = fileClassifier(tier('t', {}, { files: [{ globs: ['**/*'], action: 'archive' }] }));
    expect(everything(file('.hidden'), NOW).action).toBe('archive');
    expect(everything(file('.cache/dir/.x.bai'), NOW).action).toBe('archive');
  });

  it('matches names with spaces and non-ASCII characters', () => {
    expect(classify(file('sample 1/aligned reads.bam', 2 * MIB, 30 * 86400), NOW).action).toBe('archive');
    expect(classify(file('échantillon/données.vcf.gz', 500), NOW).action).toBe('archive');
    expect(classify(file('样本/结果 最终.bam', 2 * MIB, 30 * 86400), NOW).action).toBe('archive');
    const named = fileClassifier(tier('t', {}, { files: [{ globs: ['résumé */*.txt'], action: 'skip' }] }));
    expect(named(file('résumé final/notes.txt'), NOW).action).toBe('skip');
    expect(named(file('resume final/notes.txt'), NOW).action).toBe('keep');
  });

  it('a rule without a minimum age applies even to a file stamped after `now` (clock skew)', () => {
    const noAge = fileClassifier(tier('t', {}, { files: [{ globs: ['**/*.bam'], action: 'archive' }] }));
    expect(noAge(file('reads.bam', 1, -5), NOW)).toEqual({ action: 'archive', rule: 0 });
    // A rule that asks for an age still refuses it.
    expect(classify(file('reads.bam', 2 * MIB, -5), NOW)).toEqual({ action: 'keep', rule: 2 });
  });

  it('with no rules every file takes the default action', () => {
    const none = fileClassifier(tier('t', {}, { defaultAction: 'skip' }));
    expect(none(file('a.bam', 10 * MIB, 365 * 86400), NOW)).toEqual({ action: 'skip', rule: -1 });
  });
});
