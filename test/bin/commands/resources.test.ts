// Unit tests for resource name resolution: flags, then environment, then the stack's outputs (DescribeStacks mocked).
import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { mockClient } from 'aws-sdk-client-mock';
import { Command } from 'commander';
import { DEFAULT_STACK_NAME, MissingResourceError, ResourceResolver, resourceOptions } from '../../../bin/commands/resources';

const cfn = mockClient(CloudFormationClient);
const deps = (env: Record<string, string> = {}) => ({ env, cloudFormation: () => new CloudFormationClient({ region: 'us-east-1' }) });

const outputs = [
  { OutputKey: 'RunIndexTableName', OutputValue: 'stack-table' },
  { OutputKey: 'SnapshotBucketName', OutputValue: 'stack-snapshots' },
  { OutputKey: 'RestoreStateMachineArn', OutputValue: 'arn:aws:states:eu-west-1:111122223333:stateMachine:Restore' },
];

beforeEach(() => {
  cfn.reset();
  cfn
    .on(DescribeStacksCommand)
    .resolves({ Stacks: [{ StackName: DEFAULT_STACK_NAME, CreationTime: new Date(), StackStatus: 'CREATE_COMPLETE', Outputs: outputs }] });
});

describe('ResourceResolver', () => {
  it('takes a flag over the environment over the stack', async () => {
    const env = { OMICS_ARCHIVER_TABLE: 'env-table', OMICS_ARCHIVER_SNAPSHOT_BUCKET: 'env-snapshots' };
    const resolver = new ResourceResolver({ table: 'flag-table' }, deps(env));
    await expect(resolver.get('table')).resolves.toBe('flag-table');
    await expect(resolver.get('snapshotBucket')).resolves.toBe('env-snapshots');
    await expect(resolver.get('restoreStateMachine')).resolves.toBe('arn:aws:states:eu-west-1:111122223333:stateMachine:Restore');
  });

  it('never asks CloudFormation when flags and variables name everything asked for', async () => {
    const resolver = new ResourceResolver({ restoreStateMachine: 'arn:x' }, deps({ OMICS_ARCHIVER_TABLE: 't', OMICS_ARCHIVER_VAULT: 'v' }));
    await expect(resolver.getAll(['table', 'restoreStateMachine', 'vault'])).resolves.toEqual({ table: 't', restoreStateMachine: 'arn:x', vault: 'v' });
    expect(cfn.commandCalls(DescribeStacksCommand)).toHaveLength(0);
  });

  it('describes the stack once, by --stack-name, else OMICS_ARCHIVER_STACK, else the default name', async () => {
    const resolver = new ResourceResolver({}, deps());
    await resolver.getAll(['table', 'snapshotBucket', 'restoreStateMachine']);
    expect(cfn.commandCalls(DescribeStacksCommand)).toHaveLength(1);
    expect(cfn).toHaveReceivedCommandWith(DescribeStacksCommand, { StackName: 'OmicsRunArchiver' });

    cfn.resetHistory();
    await new ResourceResolver({}, deps({ OMICS_ARCHIVER_STACK: 'ArchiverProd' })).get('table');
    expect(cfn).toHaveReceivedCommandWith(DescribeStacksCommand, { StackName: 'ArchiverProd' });

    cfn.resetHistory();
    await new ResourceResolver({ stackName: 'ArchiverTest' }, deps({ OMICS_ARCHIVER_STACK: 'ArchiverProd' })).get('table');
    expect(cfn).toHaveReceivedCommandWith(DescribeStacksCommand, { StackName: 'ArchiverTest' });
  });

  it('says which flag, variable and output provide a name the stack does not have', async () => {
    const error = await new ResourceResolver({}, deps()).get('archiveStateMachine').catch((e: Error) => e);
    expect(error).toBeInstanceOf(MissingResourceError);
    expect((error as Error).message).toContain('--archive-state-machine');
    expect((error as Error).message).toContain('OMICS_ARCHIVER_ARCHIVE_STATE_MACHINE');
    expect((error as Error).message).toContain('ArchiveStateMachineArn');
    expect((error as Error).message).toContain('stack OmicsRunArchiver has no output ArchiveStateMachineArn');
  });

  it('names no flag for the vault, which only the environment or the stack gives', async () => {
    const error = (await new ResourceResolver({}, deps()).get('vault').catch((e: Error) => e)) as Error;
    expect(error.message).toMatch(/^no Glacier vault given: set OMICS_ARCHIVER_VAULT/);
    expect(error.message).toContain('VaultName');
  });

  it('passes on why the stack could not be read', async () => {
    const missing = Object.assign(new Error('Stack with id OmicsRunArchiver does not exist'), { name: 'ValidationError' });
    cfn.on(DescribeStacksCommand).rejects(missing);
    const error = (await new ResourceResolver({}, deps()).get('table').catch((e: Error) => e)) as Error;
    expect(error).toBeInstanceOf(MissingResourceError);
    expect(error.message).toContain('--table');
    expect(error.message).toContain('OMICS_ARCHIVER_TABLE');
    expect(error.message).toContain('Stack with id OmicsRunArchiver does not exist');
  });
});

describe('resourceOptions', () => {
  it('declares only the flags of the resources a command uses, and --stack-name', () => {
    const command = resourceOptions(new Command('x'), ['table', 'restoreStateMachine']);
    expect(command.options.map((o) => o.long)).toEqual(['--table', '--restore-state-machine', '--stack-name']);
    command.parse(['--table', 't', '--restore-state-machine', 'arn', '--stack-name', 's'], { from: 'user' });
    expect(command.opts()).toEqual({ table: 't', restoreStateMachine: 'arn', stackName: 's' });
  });
});
