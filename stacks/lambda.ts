// Makes every Lambda function the same way from its wiring LambdaSpec: bundling, runtime, logs, tracing, role, environment.
import * as path from 'node:path';
import { Duration, Stack, Token } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { LogLevel, NodejsFunction, OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { type ArchiverConfig, ConfigError, CONTEXT_KEY } from '../functions/lib/contract';
import { acknowledge } from './nag';
import { ENV, type EnvName, POWERTOOLS } from '../functions/lib/contract';
import { type LambdaSpec } from './wiring';

/** The repository root: wiring paths (handler entries, ASL files) are relative to it. */
export const REPO_ROOT = path.resolve(__dirname, '..');

/** The newest Node.js runtime this aws-cdk-lib knows, which is what cdk-nag's AwsSolutions-L1 asks for. */
export const LAMBDA_RUNTIME = lambda.Runtime.NODEJS_24_X;

/** Lambda refuses a function whose variables (names and values together) exceed 4 KB. */
export const LAMBDA_ENVIRONMENT_LIMIT_BYTES = 4096;

/**
 * Bytes reserved for a value only known at deploy time (a generated name or an ARN). Generated names are
 * `<stack>-<logicalId>-<suffix>`, so 256 covers any stack name CloudFormation accepts in practice.
 */
export const UNRESOLVED_VALUE_BYTES = 256;

/** Lambda function names are at most 64 characters. */
export const MAX_FUNCTION_NAME = 64;

/**
 * The fixed name of a function a state machine invokes, or undefined for the others (CloudFormation names them).
 * An execution keeps the definition it started with, ARNs included, for as long as it runs: an archive execution waits
 * out its tier's archiveAfter (months, for some tiers) before it archives. A fixed name keeps the ARN in that definition valid across every redeploy; CloudFormation
 * cannot replace a named function under the same name, so a change that would need a new function (and a new ARN)
 * fails the deploy instead of stranding executions in flight. A `live` alias would not help: its ARN contains the
 * function's name, which a replacement changes just the same.
 */
export function fixedFunctionName(stack: Stack, spec: LambdaSpec): string | undefined {
  if (!spec.substitution) return undefined;
  const name = `${stack.stackName}-${spec.id}`;
  if (name.length > MAX_FUNCTION_NAME) {
    throw new ConfigError('cdk context "stackName"', [
      `stackName: "${stack.stackName}" makes the function name "${name}" longer than ${MAX_FUNCTION_NAME} characters; choose a shorter stack name`,
    ]);
  }
  return name;
}

/** The values for the wiring's environment variable names, filled in as the stack creates each resource. */
export type FunctionEnvironment = Partial<Record<EnvName, string>>;

/**
 * Variables a function may go without: there is an archive bucket only when a tier uses the s3-glacier target or one is
 * imported, and a vault only when one is imported. A handler reads them only for a file whose target needs them.
 */
export const OPTIONAL_ENV: ReadonlySet<EnvName> = new Set<EnvName>([ENV.archiveBucket, ENV.vaultName, ENV.vaultJobsTopicArn]);

export interface ArchiverFunctionProps {
  readonly spec: LambdaSpec;
  readonly config: ArchiverConfig;
  /** Values for the names in `spec.env`; TIER_POLICY is filled from `config` here. */
  readonly environment: FunctionEnvironment;
  /** Reserved concurrency (`reservedConcurrency` in the configuration); absent: the function shares the account's pool. */
  readonly reservedConcurrency?: number;
}

/** One handler from functions/: its function, its own role (no managed policies) and its own log group. */
export class ArchiverFunction extends Construct {
  readonly function: NodejsFunction;
  readonly role: iam.Role;
  readonly logGroup: logs.LogGroup;
  /** The validated configuration as JSON, compiled into the bundle of functions that read the tier policy. */
  readonly tierPolicy?: string;

  constructor(scope: Construct, props: ArchiverFunctionProps) {
    const { spec, config } = props;
    super(scope, spec.id);

    const environment = functionEnvironment(spec, props.environment);
    // The policy is compiled into the bundle rather than passed as a variable: Lambda's 4 KB of environment would
    // cap it at a handful of tiers (functions/lib/env.ts reads exactly `process.env.TIER_POLICY`).
    const readsPolicy = spec.env.includes(ENV.tierPolicy);
    this.tierPolicy = readsPolicy ? JSON.stringify(config) : undefined;

    this.logGroup = new logs.LogGroup(this, 'Logs', {
      retention: config.logRetentionDays as logs.RetentionDays,
    });
    // A role of its own instead of AWSLambdaBasicExecutionRole: logs go only to this function's group.
    this.role = new iam.Role(this, 'Role', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: `${spec.id}: ${spec.description}`.slice(0, 1000),
    });
    this.logGroup.grantWrite(this.role);

    this.function = new NodejsFunction(this, 'Function', {
      functionName: fixedFunctionName(Stack.of(this), spec),
      entry: path.join(REPO_ROOT, spec.entry),
      handler: 'handler',
      projectRoot: REPO_ROOT,
      depsLockFilePath: path.join(REPO_ROOT, 'package-lock.json'),
      description: spec.description,
      runtime: LAMBDA_RUNTIME,
      architecture: lambda.Architecture.ARM_64,
      memorySize: spec.memoryMiB,
      timeout: Duration.seconds(spec.timeoutSeconds),
      tracing: lambda.Tracing.ACTIVE,
      reservedConcurrentExecutions: props.reservedConcurrency,
      role: this.role,
      logGroup: this.logGroup,
      environment,
      bundling: {
        format: OutputFormat.CJS,
        minify: true,
        sourceMap: true,
        sourcesContent: false,
        // The SDK is bundled, not taken from the runtime, so what runs is the version the tests ran.
        externalModules: [],
        logLevel: LogLevel.WARNING,
        ...(this.tierPolicy ? { define: { 'process.env.TIER_POLICY': JSON.stringify(this.tierPolicy) } } : {}),
      },
    });
    // Lambda's X-Ray integration needs these two actions, which accept no resource narrower than "*".
    acknowledge(
      this.role,
      'AwsSolutions-IAM5[Resource::*]',
      'X-Ray PutTraceSegments/PutTelemetryRecords (active tracing) support no resource-level permissions.',
    );
  }
}

/** The variables a function is deployed with (not the tier policy, which is compiled in); ConfigError past Lambda's 4 KB. */
export function functionEnvironment(spec: LambdaSpec, values: FunctionEnvironment): Record<string, string> {
  const variables: Record<string, string> = {};
  for (const name of spec.env) {
    if (name === ENV.tierPolicy) continue; // compiled into the bundle instead
    const value = values[name];
    if (value === undefined) {
      if (OPTIONAL_ENV.has(name)) continue;
      throw new Error(`${spec.id} reads ${name}, but the stack provides no value for it`);
    }
    variables[name] = value;
  }
  // Every function logs, so every one is told whether a run's parameters may appear in its logs.
  const logRunParameters = values[ENV.logRunParameters];
  if (logRunParameters !== undefined) variables[ENV.logRunParameters] = logRunParameters;
  Object.assign(variables, {
    POWERTOOLS_SERVICE_NAME: POWERTOOLS.serviceName,
    POWERTOOLS_METRICS_NAMESPACE: POWERTOOLS.metricsNamespace,
    NODE_OPTIONS: '--enable-source-maps',
  });
  const size = environmentBytes(variables);
  if (size > LAMBDA_ENVIRONMENT_LIMIT_BYTES) {
    throw new ConfigError(`cdk context "${CONTEXT_KEY}"`, [
      `${CONTEXT_KEY}: function ${spec.id}'s environment would be about ${size} bytes; Lambda allows ${LAMBDA_ENVIRONMENT_LIMIT_BYTES} ` +
        '(imported resource names count in full: shorten them)',
    ]);
  }
  return variables;
}

/** Names and values together, as Lambda counts them; a deploy-time value counts as UNRESOLVED_VALUE_BYTES. */
export function environmentBytes(variables: Record<string, string>): number {
  return Object.entries(variables).reduce(
    (total, [name, value]) => total + Buffer.byteLength(name) + (Token.isUnresolved(value) ? UNRESOLVED_VALUE_BYTES : Buffer.byteLength(value)),
    0,
  );
}
