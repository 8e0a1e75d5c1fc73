// Jest test sequencer: the suites known to take minutes start first, so a fresh clone (no timing cache) never ends on one alone.
const Sequencer = require('@jest/test-sequencer').default;

/**
 * Longest first, as measured in CI (docs/development.md). Jest orders by the durations it cached on earlier runs and,
 * without a cache, by file size, which put the kill-point test (small file, ~5 minutes) last: one worker then ran it
 * alone while the other sat idle. The rest keep Jest's own order.
 */
const SLOW_FIRST = [
  'test/reliability/kill-points.test.ts',
  'test/reliability/faults.test.ts',
  'test/workflows/restore-run.test.ts',
  'test/workflows/archive-failures.test.ts',
  'test/workflows/archive-run.test.ts',
];

class SlowFirstSequencer extends Sequencer {
  async sort(tests) {
    const sorted = await super.sort(tests);
    const rank = (test) => {
      const i = SLOW_FIRST.findIndex((suffix) => test.path.replace(/\\/g, '/').endsWith(suffix));
      return i < 0 ? SLOW_FIRST.length : i;
    };
    return [...sorted].sort((a, b) => rank(a) - rank(b));
  }
}

module.exports = SlowFirstSequencer;
