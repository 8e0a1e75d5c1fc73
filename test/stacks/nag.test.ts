// cdk-nag AwsSolutions: no unacknowledged errors or warnings, and every acknowledgement is specific, reasoned and needed.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import type { IConstruct } from 'constructs';
import type { ArchiverConfigInput } from '../../functions/lib/contract';
import { buildStack, EXAMPLE_CONFIG, exampleWith, SHIPPED_CONFIG } from './helpers';

interface Acknowledgement {
  path: string;
  id: string;
  reason: string;
}

/** Acknowledgements recorded anywhere in the tree (cdk-nag 3 reads them from this metadata). */
function acknowledgements(root: IConstruct): Acknowledgement[] {
  return root.node.findAll().flatMap((construct) =>
    construct.node.metadata
      .filter((entry) => entry.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY)
      .flatMap((entry) =>
        // CDK stores ids qualified with a namespace (`Annotation::AwsSolutions-S1`); cdk-nag matches them without it.
        Object.entries(entry.data as Record<string, string>).map(([id, reason]) => ({ path: construct.node.path, id: id.replace(/^[A-Za-z]+::/, ''), reason })),
      ),
  );
}

/** cdk-nag's findings as `rule @ construct path`. */
function findings(root: IConstruct): { rule: string; path: string }[] {
  const report = new AwsSolutionsChecks(undefined, { verbose: true }).validateScope(root);
  return report.violations.flatMap((violation) =>
    violation.violatingResources.map((resource) => ({
      rule: violation.ruleName,
      path: (resource as { constructPath?: string }).constructPath ?? resource.resourceLogicalId ?? '(unknown)',
    })),
  );
}

const variants: [string, ArchiverConfigInput][] = [
  ['the cdk.json example with a vault tier', EXAMPLE_CONFIG],
  ['the cdk.json example as shipped', SHIPPED_CONFIG],
  [
    'everything imported, alarms emailed',
    exampleWith(
      (c) => (
        (c.imports = { vaultName: 'vault', runIndexTableName: 'index', snapshotBucketName: 'snapshots', archiveBucketName: 'archive' }),
        (c.alarmEmail = 'ops@example.org')
      ),
    ),
  ],
  ['s3-glacier only, no vault', exampleWith((c) => ((c.tiers = [c.tiers[1]]), (c.imports = {}), (c.restoreBuckets = ['restores'])))],
  ['the vault created by the stack', exampleWith((c) => (c.imports = {}))],
  [
    'a customer-managed key, Object Lock retention, SSE-KMS output buckets',
    exampleWith((c) => {
      c.imports = {};
      c.customerManagedKey = true;
      c.kmsKeyArns = ['arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab'];
      c.tiers[1].target = { type: 's3-glacier', retainFor: 'P7Y', retentionMode: 'COMPLIANCE' };
    }),
  ],
  [
    'an existing key for the data',
    exampleWith((c) => {
      c.imports = {};
      c.encryptionKeyArn = 'arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab';
    }),
  ],
];

describe.each(variants)('AwsSolutions checks: %s', (_name, config) => {
  it('reports no errors and no warnings', () => {
    const { stack } = buildStack(config);
    expect(findings(stack)).toEqual([]);
  });
});

describe('acknowledgements', () => {
  let acks: Acknowledgement[];
  let unacknowledged: { rule: string; path: string }[];

  beforeAll(() => {
    acks = acknowledgements(buildStack().stack);
    // The same stack with acknowledgements ignored shows what each one excuses.
    const spy = jest.spyOn(Validations.prototype, 'acknowledge').mockImplementation(() => undefined);
    try {
      unacknowledged = findings(buildStack().stack);
    } finally {
      spy.mockRestore();
    }
  });

  it('exist (the stack does need some: X-Ray, log delivery, run-time keys)', () => {
    expect(acks.length).toBeGreaterThan(0);
  });

  it('each name one finding, not a whole rule', () => {
    for (const ack of acks) expect(ack.id).toMatch(/^AwsSolutions-[A-Z0-9]+\[.+\]$/);
  });

  it('each give a specific reason', () => {
    for (const ack of acks) {
      expect(ack.reason.length).toBeGreaterThanOrEqual(40);
      expect(ack.reason).not.toMatch(/^(ok|n\/a|suppress(ed)?|not needed|false positive)\.?$/i);
    }
  });

  it('each excuse a finding on the construct they are attached to (none is stale)', () => {
    for (const ack of acks) {
      const excused = unacknowledged.filter((f) => f.rule === ack.id && (f.path === ack.path || f.path.startsWith(`${ack.path}/`)));
      expect([ack.path, ack.id, excused.length > 0]).toEqual([ack.path, ack.id, true]);
    }
  });

  it('account for every finding there would otherwise be', () => {
    expect(unacknowledged.length).toBeGreaterThan(0);
    for (const finding of unacknowledged) {
      const covered = acks.some((ack) => ack.id === finding.rule && (finding.path === ack.path || finding.path.startsWith(`${ack.path}/`)));
      expect([finding.rule, finding.path, covered]).toEqual([finding.rule, finding.path, true]);
    }
  });
});

it('passes as a CDK validation plugin too, the way `cdk synth` would run it', () => {
  const outdir = fs.mkdtempSync(path.join(os.tmpdir(), 'omics-archiver-nag-'));
  try {
    const { app } = buildStack(EXAMPLE_CONFIG, { outdir });
    Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
    expect(() => app.synth()).not.toThrow();
  } finally {
    fs.rmSync(outdir, { recursive: true, force: true });
  }
});
