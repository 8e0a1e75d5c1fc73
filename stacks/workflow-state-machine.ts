// One Step Functions workflow from its ASL file, the wiring's substitutions, and the permissions its states need.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ArnFormat, Fn, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import type * as sns from 'aws-cdk-lib/aws-sns';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import type { ArchiveStorage } from './archive-storage';
import { ConfigError, type ArchiverConfig } from '../functions/lib/contract';
import { REPO_ROOT } from './lambda';
import { acknowledge, acknowledgeWildcardResources } from './nag';
import type { RunIndexTable } from './run-index';
import { definitionSubstitutions, type LambdaKey, STATE_MACHINES, type StateMachineKey, substitute } from './wiring';

/** Step Functions names are at most 80 characters. */
const MAX_STATE_MACHINE_NAME = 80;

/** The name a workflow is deployed under: fixed, so its ARN is known before it exists (no dependency cycles). */
export function stateMachineName(stack: Stack, key: StateMachineKey): string {
  const name = `${stack.stackName}-${STATE_MACHINES[key].id}`;
  if (name.length > MAX_STATE_MACHINE_NAME) {
    throw new ConfigError('cdk context "stackName"', [
      `stackName: "${stack.stackName}" makes the state machine name "${name}" longer than ${MAX_STATE_MACHINE_NAME} characters; choose a shorter stack name`,
    ]);
  }
  return name;
}

/** The ARN of a state machine by name, without referring to the resource. */
export function stateMachineArn(stack: Stack, name: string): string {
  return stack.formatArn({ service: 'states', resource: 'stateMachine', resourceName: name, arnFormat: ArnFormat.COLON_RESOURCE_NAME });
}

/** The log group prefix CloudWatch Logs grants vended-log delivery for without a per-group resource policy statement. */
export const VENDED_LOGS_PREFIX = '/aws/vendedlogs/states/';

/**
 * A log group under `/aws/vendedlogs/states/`: for any other name, log delivery adds a statement per group to the
 * account's CloudWatch Logs resource policy, and past its 5,120-character limit CreateStateMachine fails (Step Functions
 * guide, "Avoiding CloudWatch Logs resource policy size restrictions"). The stack id's suffix keeps the name unique per
 * stack instance, so a group retained by an earlier `cdk destroy` does not block the next deploy. The logging ARN must
 * stay within 256 characters: 80 for the name and 36 for the suffix leave room.
 */
export function stateMachineLogGroupName(stack: Stack, stateMachineName: string): string {
  const stackUuid = Fn.select(2, Fn.split('/', stack.stackId));
  return `${VENDED_LOGS_PREFIX}${stateMachineName}-${stackUuid}`;
}

export interface WorkflowStateMachineProps {
  readonly key: StateMachineKey;
  readonly config: ArchiverConfig;
  /** The functions the workflow's states invoke, by wiring key; each gets a `${...FunctionArn}` substitution. */
  readonly functions: Partial<Record<LambdaKey, lambda.IFunction>>;
  readonly runIndex: RunIndexTable;
  readonly storage: ArchiveStorage;
  readonly archiveEventsTopic: sns.ITopic;
}

export class WorkflowStateMachine extends Construct {
  readonly stateMachine: sfn.StateMachine;
  readonly logGroup: logs.LogGroup;
  readonly stateMachineName: string;

  constructor(scope: Construct, id: string, props: WorkflowStateMachineProps) {
    super(scope, id);
    const stack = Stack.of(this);
    const machine = STATE_MACHINES[props.key];
    const definitionFile = path.join(REPO_ROOT, machine.definitionFile);
    this.stateMachineName = stateMachineName(stack, props.key);

    const functionArns: Partial<Record<LambdaKey, string>> = {};
    for (const [key, fn] of Object.entries(props.functions) as [LambdaKey, lambda.IFunction][]) functionArns[key] = fn.functionArn;
    const substitutions = definitionSubstitutions({
      functionArns,
      snapshotBucket: props.storage.snapshotBucket.bucketName,
      runIndexTable: props.runIndex.table.tableName,
      archiveEventsTopicArn: props.archiveEventsTopic.topicArn,
    });
    const definition = fs.readFileSync(definitionFile, 'utf8');
    // CloudFormation would only fail at deploy time on a `${Key}` nobody provides; fail the synth instead.
    try {
      substitute(definition, substitutions);
    } catch (error) {
      throw new Error(`${machine.definitionFile}: ${(error as Error).message}`, { cause: error });
    }
    const uses = (key: string) => definition.includes(`\${${key}}`);

    this.logGroup = new logs.LogGroup(this, 'Logs', {
      logGroupName: stateMachineLogGroupName(stack, this.stateMachineName),
      retention: props.config.logRetentionDays as logs.RetentionDays,
    });
    this.stateMachine = new sfn.StateMachine(this, 'StateMachine', {
      stateMachineName: this.stateMachineName,
      definitionBody: sfn.DefinitionBody.fromFile(definitionFile),
      definitionSubstitutions: substitutions,
      stateMachineType: sfn.StateMachineType.STANDARD,
      // Execution data holds run metadata and task tokens; ALL events without it still show every transition.
      logs: { destination: this.logGroup, level: sfn.LogLevel.ALL, includeExecutionData: props.config.logExecutionData },
      tracingEnabled: true,
    });

    for (const fn of Object.values(props.functions)) {
      iam.Grant.addToPrincipal({ grantee: this.stateMachine, actions: ['lambda:InvokeFunction'], resourceArns: [fn.functionArn] });
    }
    // The Distributed Map reads its items from, and writes its results to, the snapshot bucket.
    props.storage.grantWorkflowItems(this.stateMachine);
    this.grantDistributedMap(stack);
    // Direct service integrations get access only if the definition names their resource.
    if (uses('RunIndexTable')) props.runIndex.grantRecords(this.stateMachine);
    if (uses('ArchiveEventsTopicArn')) {
      iam.Grant.addToPrincipal({ grantee: this.stateMachine, actions: ['sns:Publish'], resourceArns: [props.archiveEventsTopic.topicArn] });
    }

    acknowledge(
      this.stateMachine,
      'AwsSolutions-IAM5[Resource::*]',
      'Step Functions log delivery (logs:*LogDelivery, resource policies) and X-Ray tracing accept no resource narrower than "*".',
    );
  }

  /** Starts executions (a deterministic name per run makes a duplicate start fail with ExecutionAlreadyExists). */
  grantStartExecution(grantee: iam.IGrantable): iam.Grant {
    return this.stateMachine.grantStartExecution(grantee);
  }

  /** Describes this workflow's executions, e.g. to tell a duplicate start from a real one. */
  grantDescribeExecutions(grantee: iam.IGrantable): void {
    const executions = this.executionArn(`${this.stateMachineName}:*`);
    iam.Grant.addToPrincipal({ grantee, actions: ['states:DescribeExecution'], resourceArns: [executions] });
    acknowledgeWildcardResources(grantee, [executions], 'Execution names are derived from run ids at run time.');
  }

  /**
   * Resumes (or fails) a task waiting with .waitForTaskToken in this workflow. The tokens come from Distributed Map
   * children, whose state machine ARN is the labelled `stateMachine:<name>/<map label>`, not this one. And the Service
   * Authorization Reference lists no resource type for SendTaskSuccess/SendTaskFailure/SendTaskHeartbeat: they support
   * no resource-level permissions, so "*" is the only resource that works. The task token itself is the capability.
   */
  grantTaskResponse(grantee: iam.IGrantable): iam.Grant {
    const grant = iam.Grant.addToPrincipal({
      grantee,
      actions: ['states:SendTaskSuccess', 'states:SendTaskFailure'],
      resourceArns: ['*'],
    });
    acknowledgeWildcardResources(
      grantee,
      ['*'],
      'states:SendTaskSuccess/SendTaskFailure support no resource-level permissions (Service Authorization Reference); only the holder of a task token can use them.',
    );
    return grant;
  }

  private executionArn(resourceName: string): string {
    return Stack.of(this).formatArn({ service: 'states', resource: 'execution', resourceName, arnFormat: ArnFormat.COLON_RESOURCE_NAME });
  }

  /**
   * A Distributed Map starts child executions of this very state machine. Naming the ARNs by the fixed name
   * (not the resource's attributes) keeps the role's policy from depending on the state machine it belongs to.
   */
  private grantDistributedMap(stack: Stack): void {
    const name = this.stateMachineName;
    const executions = (resourceName: string) => this.executionArn(resourceName);
    iam.Grant.addToPrincipal({ grantee: this.stateMachine, actions: ['states:StartExecution'], resourceArns: [stateMachineArn(stack, name)] });
    // Child executions are `execution:<name>/<map run label>:<id>`; the parent's own are `execution:<name>:<id>`.
    const executionArns = [executions(`${name}:*`), executions(`${name}/*`)];
    iam.Grant.addToPrincipal({
      grantee: this.stateMachine,
      actions: ['states:DescribeExecution', 'states:StopExecution'],
      resourceArns: executionArns,
    });
    acknowledgeWildcardResources(this.stateMachine, executionArns, 'Distributed Map child executions get their names at run time.');
  }
}
