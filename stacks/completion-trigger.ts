// Starts ArchiveRun when a HealthOmics run ends: EventBridge rule → run-completion queue → trigger-archive function.
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as schedulerTargets from 'aws-cdk-lib/aws-scheduler-targets';
import { Construct } from 'constructs';
import type { ArchiverConfig } from '../functions/lib/contract';
import { ConsumerQueue } from './consumer-queue';
import { grantOmicsRuns } from './external-access';
import { ArchiverFunction, type FunctionEnvironment } from './lambda';
import type { RunIndexTable } from './run-index';
import { acknowledge, acknowledgeWildcardResources } from './nag';
import { RUN_TERMINAL_EVENT_PATTERN } from '../functions/lib/contract';
import { LAMBDAS, QUEUES, RECONCILE_SCHEDULE } from './wiring';
import type { WorkflowStateMachine } from './workflow-state-machine';

export interface CompletionTriggerProps {
  readonly config: ArchiverConfig;
  readonly runIndex: RunIndexTable;
  readonly archiveWorkflow: WorkflowStateMachine;
  readonly environment: FunctionEnvironment;
}

export class CompletionTrigger extends Construct {
  readonly rule: events.Rule;
  readonly queue: ConsumerQueue;
  readonly triggerArchive: ArchiverFunction;
  /** The safety net for lost events: a daily sweep of ListRuns for terminal runs the index does not know. */
  readonly reconcileRuns: ArchiverFunction;
  readonly reconcileSchedule: scheduler.Schedule;

  constructor(scope: Construct, id: string, props: CompletionTriggerProps) {
    super(scope, id);
    const spec = QUEUES.runCompletion;

    this.queue = new ConsumerQueue(this, spec);
    this.rule = new events.Rule(this, 'RunTerminalRule', {
      description: 'HealthOmics runs that reached a terminal status (COMPLETED, FAILED, CANCELLED)',
      eventPattern: toEventPattern(RUN_TERMINAL_EVENT_PATTERN),
      targets: [new targets.SqsQueue(this.queue.queue)],
    });

    this.triggerArchive = new ArchiverFunction(this, { spec: LAMBDAS[spec.consumer], config: props.config, environment: props.environment });
    this.queue.feed(this.triggerArchive.function);

    const role = this.triggerArchive.role;
    props.archiveWorkflow.grantStartExecution(role);
    // DescribeExecution tells a duplicate event (ExecutionAlreadyExists) from a real start of the same run.
    props.archiveWorkflow.grantDescribeExecutions(role);
    grantOmicsRuns(role, ['omics:GetRun']);
    props.runIndex.grantRecords(role);

    this.reconcileRuns = new ArchiverFunction(this, { spec: LAMBDAS.reconcileRuns, config: props.config, environment: props.environment });
    const sweeper = this.reconcileRuns.role;
    props.archiveWorkflow.grantStartExecution(sweeper);
    props.archiveWorkflow.grantDescribeExecutions(sweeper);
    grantOmicsRuns(sweeper, ['omics:GetRun']);
    // ListRuns acts on no resource of its own: IAM takes only "*" for it.
    sweeper.addToPrincipalPolicy(new iam.PolicyStatement({ actions: ['omics:ListRuns'], resources: ['*'] }));
    acknowledge(
      sweeper,
      'AwsSolutions-IAM5[Resource::*]',
      'omics:ListRuns supports no resource-level permission; it lists the runs of this account and Region only.',
    );
    props.runIndex.grantRecords(sweeper);
    const schedulerRole = new iam.Role(this, 'ReconcileScheduleRole', { assumedBy: new iam.ServicePrincipal('scheduler.amazonaws.com') });
    this.reconcileSchedule = new scheduler.Schedule(this, 'ReconcileSchedule', {
      description: 'Archives terminal HealthOmics runs that no Run Status Change event announced',
      schedule: scheduler.ScheduleExpression.expression(RECONCILE_SCHEDULE),
      target: new schedulerTargets.LambdaInvoke(this.reconcileRuns.function, { retryAttempts: 2, role: schedulerRole }),
    });
    acknowledgeWildcardResources(
      schedulerRole,
      [`${this.reconcileRuns.function.functionArn}:*`],
      "The CDK's Lambda grant covers the function's versions and aliases too (`<function arn>:*`); the schedule invokes only this function.",
    );
  }
}

/** EventBridge patterns are written in their JSON form in wiring; the CDK wants camelCase top-level keys. */
export function toEventPattern(pattern: Readonly<Record<string, unknown>>): events.EventPattern {
  const result: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(pattern)) {
    const camel = key.replace(/-([a-z])/g, (_, letter: string) => letter.toUpperCase());
    result[camel] = JSON.parse(JSON.stringify(value)); // a mutable copy of the `as const` data
  }
  return result;
}
