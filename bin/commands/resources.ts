// Finds the names of the resources a CLI command needs: from flags, then the environment, then the deployed stack's outputs.
import { DescribeStacksCommand, type CloudFormationClient } from '@aws-sdk/client-cloudformation';
import type { Command } from 'commander';
import * as clients from '../../functions/lib/runtime/clients';
import { DEFAULT_STACK_NAME, readStackOutputs, STACK_OUTPUTS, type ArchiverStackOutputs, type StackOutputKey } from '../../stacks/outputs';

export { DEFAULT_STACK_NAME };
export const STACK_NAME_ENV = 'OMICS_ARCHIVER_STACK';

interface ResourceSource {
  /** What an operator calls it, for messages. */
  what: string;
  /** The command-line flag that names it, where there is one. */
  flag?: string;
  /** The option key commander gives that flag. */
  option?: keyof ResourceFlags;
  /** The environment variable `local up` prints for it. */
  env: string;
  output: StackOutputKey;
}

/** Every resource a command may need, and the three places its name can come from. */
export const RESOURCES = {
  table: { what: 'run index table', flag: '--table <name>', option: 'table', env: 'OMICS_ARCHIVER_TABLE', output: 'runIndexTableName' },
  snapshotBucket: {
    what: 'snapshot bucket',
    flag: '--snapshot-bucket <name>',
    option: 'snapshotBucket',
    env: 'OMICS_ARCHIVER_SNAPSHOT_BUCKET',
    output: 'snapshotBucketName',
  },
  vault: { what: 'Glacier vault', env: 'OMICS_ARCHIVER_VAULT', output: 'vaultName' },
  archiveStateMachine: {
    what: 'archive state machine',
    flag: '--archive-state-machine <arn>',
    option: 'archiveStateMachine',
    env: 'OMICS_ARCHIVER_ARCHIVE_STATE_MACHINE',
    output: 'archiveStateMachineArn',
  },
  restoreStateMachine: {
    what: 'restore state machine',
    flag: '--restore-state-machine <arn>',
    option: 'restoreStateMachine',
    env: 'OMICS_ARCHIVER_RESTORE_STATE_MACHINE',
    output: 'restoreStateMachineArn',
  },
} as const satisfies Record<string, ResourceSource>;
export type ResourceName = keyof typeof RESOURCES;

/** The flags commander collects for resources (only those a command declares are present). */
export interface ResourceFlags {
  table?: string;
  snapshotBucket?: string;
  archiveStateMachine?: string;
  restoreStateMachine?: string;
  stackName?: string;
}

/** A name that no flag, variable or stack output provides; the message says where it could come from. */
export class MissingResourceError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MissingResource';
  }
}

export interface ResolverDeps {
  /** Default: process.env. */
  env?: Record<string, string | undefined>;
  /** Default: the shared client factory's (so AWS_ENDPOINT_URL applies). */
  cloudFormation?: () => Pick<CloudFormationClient, 'send'>;
}

/**
 * Resolves resource names on demand, so a command asks only for what it uses and DescribeStacks runs at most once,
 * and only when a flag or variable left something out.
 */
export class ResourceResolver {
  private outputs?: Promise<ArchiverStackOutputs | Error>;
  private readonly env: Record<string, string | undefined>;

  constructor(
    private readonly flags: ResourceFlags = {},
    private readonly deps: ResolverDeps = {},
  ) {
    this.env = deps.env ?? process.env;
  }

  get stackName(): string {
    return this.flags.stackName || this.env[STACK_NAME_ENV] || DEFAULT_STACK_NAME;
  }

  async get(name: ResourceName): Promise<string> {
    const source: ResourceSource = RESOURCES[name];
    const fromFlag = source.option ? this.flags[source.option] : undefined;
    if (fromFlag) return fromFlag;
    const fromEnv = this.env[source.env];
    if (fromEnv) return fromEnv;
    const outputs = await this.stackOutputs();
    const fromStack = outputs instanceof Error ? undefined : outputs.values[source.output];
    if (fromStack) return fromStack;

    const outputName = STACK_OUTPUTS[source.output];
    const flagText = source.flag ? `pass ${source.flag.split(' ')[0]}, ` : '';
    const why = outputs instanceof Error ? `the stack's outputs could not be read (${outputs.message})` : `stack ${this.stackName} has no output ${outputName}`;
    throw new MissingResourceError(
      `no ${source.what} given: ${flagText}set ${source.env} (\`omics-archiver local up\` prints it), or deploy the stack ` +
        `so its output ${outputName} names it (--stack-name or ${STACK_NAME_ENV}, default ${DEFAULT_STACK_NAME}); ${why}`,
    );
  }

  async getAll<K extends ResourceName>(names: readonly K[]): Promise<Record<K, string>> {
    const entries = await Promise.all(names.map(async (name) => [name, await this.get(name)] as const));
    return Object.fromEntries(entries) as Record<K, string>;
  }

  private stackOutputs(): Promise<ArchiverStackOutputs | Error> {
    this.outputs ??= (async () => {
      const cfn = this.deps.cloudFormation?.() ?? clients.cloudFormationClient();
      try {
        const { Stacks } = await cfn.send(new DescribeStacksCommand({ StackName: this.stackName }));
        return readStackOutputs(Stacks?.[0]?.Outputs ?? []);
      } catch (error) {
        // A missing stack, credentials or region are all reasons the operator can act on; keep the first line only.
        return new Error(String((error as Error).message ?? error).split('\n')[0]);
      }
    })();
    return this.outputs;
  }
}

/** Declares the flags for the given resources, and --stack-name, on a command. */
export function resourceOptions(command: Command, names: readonly ResourceName[]): Command {
  for (const name of names) {
    const source: ResourceSource = RESOURCES[name];
    if (source.flag) command.option(source.flag, `${source.what} (default: $${source.env}, else the stack output ${STACK_OUTPUTS[source.output]})`);
  }
  return command.option('--stack-name <name>', `stack whose outputs name the resources (default: $${STACK_NAME_ENV}, else ${DEFAULT_STACK_NAME})`);
}
