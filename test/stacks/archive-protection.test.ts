// What protects the archives: everything that holds data outlives `cdk destroy`, the vault denies DeleteArchive to all
// but ArchiveFiles, a tier's retainFor turns on Object Lock, and the optional customer-managed key encrypts the data.
import type { CfnElement } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { ConfigError, parseConfig } from '../../functions/lib/contract';
import { buildStack, exampleWith } from './helpers';

const KEY = 'arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab';

type Resources = Record<string, { Type: string; DeletionPolicy?: string; UpdateReplacePolicy?: string; Properties: Record<string, unknown> }>;
const resourcesOf = (template: Template) => (template.toJSON() as { Resources: Resources }).Resources;

/** The example (a vault tier and two s3-glacier tiers), one of them retaining its archives, with a key the stack makes. */
const protectedConfig = exampleWith((c) => {
  c.customerManagedKey = true;
  const tier = c.tiers.find((t) => t.target?.type === 's3-glacier') ?? c.tiers[0];
  tier.target = { type: 's3-glacier', retainFor: 'P7Y', retentionMode: 'COMPLIANCE' };
});

describe('cdk destroy keeps everything that holds data', () => {
  it.each([
    ['the example', exampleWith(() => undefined)],
    ['the example with retention and a customer-managed key', protectedConfig],
  ])('%s: every table, bucket and KMS key is Retain on delete and on replacement', (_name, config) => {
    const resources = resourcesOf(Template.fromStack(buildStack(config).stack));
    const holders = Object.entries(resources).filter(([, r]) => ['AWS::DynamoDB::Table', 'AWS::S3::Bucket', 'AWS::KMS::Key'].includes(r.Type));
    expect(holders.map(([, r]) => r.Type)).toEqual(expect.arrayContaining(['AWS::DynamoDB::Table', 'AWS::S3::Bucket']));
    for (const [id, resource] of holders) {
      expect({ id, DeletionPolicy: resource.DeletionPolicy, UpdateReplacePolicy: resource.UpdateReplacePolicy }).toEqual({
        id,
        DeletionPolicy: 'Retain',
        UpdateReplacePolicy: 'Retain',
      });
    }
  });

  it('no vault custom resource has a Delete call: the vault, its policy and its archives stay', () => {
    const resources = resourcesOf(Template.fromStack(buildStack(protectedConfig).stack));
    const vaultResources = Object.values(resources).filter((r) => r.Type.startsWith('Custom::GlacierVault'));
    expect(vaultResources.map((r) => r.Type).sort()).toEqual(['Custom::GlacierVault', 'Custom::GlacierVaultAccessPolicy', 'Custom::GlacierVaultNotifications']);
    for (const resource of vaultResources) expect(resource.Properties).not.toHaveProperty('Delete');
  });
});

describe('the vault access policy', () => {
  it('denies glacier:DeleteArchive to every principal but the ArchiveFiles role, with SetVaultAccessPolicy (never Vault Lock)', () => {
    const { stack } = buildStack(protectedConfig);
    const resources = resourcesOf(Template.fromStack(stack));
    const [policy] = Object.values(resources).filter((r) => r.Type === 'Custom::GlacierVaultAccessPolicy');
    const roleId = stack.getLogicalId(stack.archive.functions.archiveFiles.role.node.defaultChild as CfnElement);
    const call = JSON.stringify(policy.Properties.Create);
    expect(call).toContain('"action\\":\\"setVaultAccessPolicy\\"');
    expect(call).toContain('glacier:DeleteArchive');
    expect(call).toContain('\\\\\\"Effect\\\\\\":\\\\\\"Deny\\\\\\"');
    expect(call).toContain('\\\\\\"Principal\\\\\\":\\\\\\"*\\\\\\"');
    expect(call).toContain('aws:PrincipalArn');
    expect(call).toContain(roleId);
    expect(JSON.stringify(resources)).not.toMatch(/initiateVaultLock|completeVaultLock/i);
  });

  it("leaves an imported vault's policy alone", () => {
    const resources = resourcesOf(Template.fromStack(buildStack(exampleWith((c) => (c.imports = { ...c.imports, vaultName: 'theirs' }))).stack));
    expect(Object.values(resources).filter((r) => r.Type === 'Custom::GlacierVaultAccessPolicy')).toEqual([]);
  });
});

describe('S3 Object Lock on the archive bucket', () => {
  it('is on, versioned, without a default retention, when a tier sets retainFor; ArchiveFiles may PutObjectRetention, never bypass', () => {
    const template = Template.fromStack(buildStack(protectedConfig).stack);
    template.hasResourceProperties('AWS::S3::Bucket', {
      ObjectLockEnabled: true,
      VersioningConfiguration: { Status: 'Enabled' },
      ObjectLockConfiguration: Match.absent(),
    });
    const json = JSON.stringify(template.toJSON());
    expect(json).toContain('s3:PutObjectRetention');
    expect(json).not.toContain('s3:BypassGovernanceRetention');
  });

  it('is off when no tier retains', () => {
    const template = Template.fromStack(buildStack(exampleWith(() => undefined)).stack);
    expect(template.findResources('AWS::S3::Bucket', { Properties: { ObjectLockEnabled: true } })).toEqual({});
  });

  it.each([
    [{ retainFor: 'P0D' }, /omicsArchiver\.tiers\[0\]\.target\.retainFor: must be longer than zero/],
    [{ retainFor: 'P101Y' }, /omicsArchiver\.tiers\[0\]\.target\.retainFor: must be longer than zero and at most 100 years/],
    [{ retainFor: 'seven years' }, /omicsArchiver\.tiers\[0\]\.target\.retainFor: must be an ISO-8601 duration/],
    [{ retentionMode: 'GOVERNANCE' }, /omicsArchiver\.tiers\[0\]\.target\.retentionMode: applies only with retainFor/],
    [{ retainFor: 'P1Y', retentionMode: 'LEGAL_HOLD' }, /omicsArchiver\.tiers\[0\]\.target\.retentionMode: must be one of "GOVERNANCE", "COMPLIANCE"/],
  ])('refuses %j, naming the key', (target, message) => {
    const config = exampleWith((c) => (c.tiers[0].target = { type: 's3-glacier', ...target } as never));
    expect(() => parseConfig(config)).toThrow(ConfigError);
    expect(() => parseConfig(config)).toThrow(message);
  });
});

describe('the customer-managed key', () => {
  it('customerManagedKey: a rotated key encrypts the table and the snapshot and archive buckets (bucket keys); access logs stay SSE-S3', () => {
    const template = Template.fromStack(buildStack(protectedConfig).stack);
    const ours = Object.keys(template.findResources('AWS::KMS::Key')).filter((id) => id.startsWith('EncryptionKey'));
    expect(ours).toHaveLength(1);
    const keyId = ours[0];
    expect(template.findResources('AWS::KMS::Key')[keyId].Properties).toMatchObject({ EnableKeyRotation: true });
    template.hasResourceProperties('AWS::DynamoDB::Table', {
      SSESpecification: { SSEEnabled: true, SSEType: 'KMS', KMSMasterKeyId: { 'Fn::GetAtt': [keyId, 'Arn'] } },
    });
    const encryptions = Object.values(template.findResources('AWS::S3::Bucket')).map(
      (r) => (r.Properties as { BucketEncryption: { ServerSideEncryptionConfiguration: unknown[] } }).BucketEncryption.ServerSideEncryptionConfiguration[0],
    );
    const kmsRule = { BucketKeyEnabled: true, ServerSideEncryptionByDefault: { SSEAlgorithm: 'aws:kms', KMSMasterKeyID: { 'Fn::GetAtt': [keyId, 'Arn'] } } };
    expect(encryptions).toEqual(expect.arrayContaining([kmsRule, kmsRule, { ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }]));
  });

  it('encryptionKeyArn: the given key, granted to the functions that use the table and buckets', () => {
    const { stack } = buildStack(exampleWith((c) => (c.encryptionKeyArn = KEY)));
    const template = Template.fromStack(stack);
    expect(Object.keys(template.findResources('AWS::KMS::Key')).filter((id) => id.startsWith('EncryptionKey'))).toEqual([]);
    template.hasResourceProperties('AWS::DynamoDB::Table', { SSESpecification: { SSEType: 'KMS', KMSMasterKeyId: KEY } });
    const roleId = stack.getLogicalId(stack.archive.functions.archiveFiles.role.node.defaultChild as CfnElement);
    const statements = Object.values(resourcesOf(template))
      .filter((r) => r.Type === 'AWS::IAM::Policy' && JSON.stringify(r.Properties.Roles).includes(roleId))
      .flatMap((r) => (r.Properties.PolicyDocument as { Statement: { Action: string | string[]; Resource: unknown }[] }).Statement)
      .filter((s) => s.Resource === KEY);
    const actions = new Set(statements.flatMap((s) => ([] as string[]).concat(s.Action)));
    for (const action of ['kms:Decrypt', 'kms:Encrypt', 'kms:GenerateDataKey']) expect(actions).toContain(action);
  });

  it('refuses both at once, and an alias ARN, naming the key', () => {
    expect(() => parseConfig(exampleWith((c) => Object.assign(c, { encryptionKeyArn: KEY, customerManagedKey: true })))).toThrow(
      /omicsArchiver\.customerManagedKey: set either customerManagedKey or encryptionKeyArn, not both/,
    );
    expect(() => parseConfig(exampleWith((c) => (c.encryptionKeyArn = 'arn:aws:kms:eu-west-1:111122223333:alias/lab')))).toThrow(
      /omicsArchiver\.encryptionKeyArn: must be a key ARN/,
    );
  });
});
