// A HealthOmics run's parameters never reach a log line unless logRunParameters (LOG_RUN_PARAMETERS=true) says so.
import { ENV } from '../../../../functions/lib/contract';
import { REDACTED, logger, redactRunParameters } from '../../../../functions/lib/runtime/observability';

const run = { id: '7830534', status: 'COMPLETED', parameters: { sample_name: 'NA12878', ref_fasta: 's3://refs/GRCh38.fasta' } };
/** What the logger writes for `attributes`: its own JSON replacer, ours chained after Powertools' defaults. */
// getJsonReplacer is protected: the logger's own write path is what is under test, so it is reached past the type.
const replacer = (logger as unknown as { getJsonReplacer(): (key: string, value: unknown) => unknown }).getJsonReplacer();
const written = (attributes: unknown) => JSON.parse(JSON.stringify(attributes, replacer)) as Record<string, unknown>;

afterEach(() => delete process.env[ENV.logRunParameters]);

describe('run parameters in logs', () => {
  it('are "[redacted]" by default, at any depth, and the rest of the run is kept', () => {
    expect(written({ message: 'Run snapshotted', run })).toEqual({ message: 'Run snapshotted', run: { ...run, parameters: REDACTED } });
    expect(written({ runs: [{ detail: { run } }] })).toEqual({ runs: [{ detail: { run: { ...run, parameters: REDACTED } } }] });
  });

  it('are logged whole when LOG_RUN_PARAMETERS is "true"', () => {
    process.env[ENV.logRunParameters] = 'true';
    expect(written({ run })).toEqual({ run });
    process.env[ENV.logRunParameters] = 'false';
    expect(written({ run })).toEqual({ run: { ...run, parameters: REDACTED } });
  });

  it('leaves other keys and non-object values alone (a Glacier jobParameters, a count named parameters)', () => {
    expect(redactRunParameters('jobParameters', { Tier: 'Bulk' })).toEqual({ Tier: 'Bulk' });
    expect(redactRunParameters('parameters', 3)).toBe(3);
  });
});
