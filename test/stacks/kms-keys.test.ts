// kmsKeyArns: SSE-KMS output and restore buckets. Readers of outputs may Decrypt, restore writers also GenerateDataKey,
// only through S3; alias ARNs reach their keys through kms:ResourceAliases; nobody else gets a KMS action.
import type { CfnElement } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import type { IConstruct } from 'constructs';
import { ConfigError, parseConfig } from '../../functions/lib/contract';
import { buildStack, exampleWith } from './helpers';

const KEY = 'arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab';
const ALIAS = 'arn:aws:kms:eu-west-1:111122223333:alias/lab-outputs';

interface Statement {
  Action: string | string[];
  Resource: unknown;
  Condition?: Record<string, Record<string, unknown>>;
}

function kmsStatements(configChange: Parameters<typeof exampleWith>[0]) {
  const { stack } = buildStack(exampleWith(configChange));
  const json = Template.fromStack(stack).toJSON() as { Resources: Record<string, { Type: string; Properties: Record<string, unknown> }> };
  /** The KMS statements of the policies attached to a role. */
  const of = (role: IConstruct): Statement[] => {
    const roleId = stack.getLogicalId(role.node.defaultChild as CfnElement);
    return Object.values(json.Resources)
      .filter((r) => r.Type === 'AWS::IAM::Policy' && JSON.stringify(r.Properties.Roles).includes(JSON.stringify({ Ref: roleId })))
      .flatMap((r) => (r.Properties.PolicyDocument as { Statement: Statement[] }).Statement)
      .filter((s) => ([] as string[]).concat(s.Action).some((a) => a.startsWith('kms:')));
  };
  const roles = {
    planArchive: stack.archive.functions.planArchive.role,
    archiveFiles: stack.archive.functions.archiveFiles.role,
    copyRestoredFile: stack.restore.functions.copyRestoredFile.role,
  };
  return { stack, of, roles, json };
}

const actions = (s: Statement) => ([] as string[]).concat(s.Action).sort();

describe('kmsKeyArns', () => {
  it('grants kms:Decrypt to the functions that read outputs and Decrypt + GenerateDataKey to the restore copy, via S3 only', () => {
    const { of, roles } = kmsStatements((c) => (c.kmsKeyArns = [KEY]));
    const via = { StringEquals: { 'kms:ViaService': 's3.eu-west-1.amazonaws.com' } };
    for (const role of [roles.planArchive, roles.archiveFiles]) {
      expect(of(role)).toEqual([{ Effect: 'Allow', Action: 'kms:Decrypt', Resource: KEY, Condition: via }]);
    }
    const copy = of(roles.copyRestoredFile);
    expect(copy).toHaveLength(1);
    expect(actions(copy[0])).toEqual(['kms:Decrypt', 'kms:GenerateDataKey']);
    expect(copy[0]).toMatchObject({ Resource: KEY, Condition: via });
  });

  it('grants an alias ARN as the keys of its account and region that carry the alias (IAM does not take alias ARNs for keys)', () => {
    const { of, roles } = kmsStatements((c) => (c.kmsKeyArns = [ALIAS]));
    const [statement] = of(roles.copyRestoredFile);
    expect(statement).toMatchObject({
      Resource: 'arn:aws:kms:eu-west-1:111122223333:key/*',
      Condition: {
        StringEquals: { 'kms:ViaService': 's3.eu-west-1.amazonaws.com' },
        'ForAnyValue:StringEquals': { 'kms:ResourceAliases': 'alias/lab-outputs' },
      },
    });
    expect(JSON.stringify(of(roles.archiveFiles))).not.toContain(ALIAS);
  });

  it('grants no KMS action anywhere without kmsKeyArns, and only these three roles get one with it', () => {
    const none = kmsStatements(() => undefined);
    for (const role of Object.values(none.roles)) expect(none.of(role)).toEqual([]);
    const withKeys = kmsStatements((c) => (c.kmsKeyArns = [KEY]));
    const holders = Object.values(withKeys.json.Resources)
      .filter((r) => r.Type === 'AWS::IAM::Policy')
      .filter((r) => JSON.stringify(r.Properties.PolicyDocument).includes(KEY))
      .flatMap((r) => r.Properties.Roles as { Ref: string }[])
      .map((ref) => ref.Ref)
      .sort();
    const expected = Object.values(withKeys.roles)
      .map((role) => withKeys.stack.getLogicalId(role.node.defaultChild as CfnElement))
      .sort();
    expect(holders).toEqual(expected);
  });

  it.each([
    ['a bare key id', '1234abcd-12ab-34cd-56ef-1234567890ab'],
    ['an alias name without its ARN', 'alias/lab-outputs'],
    ['another service', 'arn:aws:s3:::lab-outputs'],
    ['a key ARN without an account', 'arn:aws:kms:eu-west-1::key/1234abcd'],
  ])('refuses %s, naming the key', (_name, value) => {
    const config = exampleWith((c) => (c.kmsKeyArns = [KEY, value]));
    expect(() => parseConfig(config)).toThrow(ConfigError);
    expect(() => parseConfig(config)).toThrow(/omicsArchiver\.kmsKeyArns\[1\]: must be a KMS key ARN .* or alias ARN/);
  });

  it('takes key and alias ARNs of other partitions', () => {
    const config = parseConfig(
      exampleWith((c) => (c.kmsKeyArns = ['arn:aws-us-gov:kms:us-gov-west-1:111122223333:key/abcd', 'arn:aws-cn:kms:cn-north-1:111122223333:alias/a/b_c-d'])),
    );
    expect(config.kmsKeyArns).toHaveLength(2);
  });
});
