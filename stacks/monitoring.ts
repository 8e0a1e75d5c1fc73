// Alarms (to a topic, optionally emailed) on dead letters, failed workflows and function errors, and one dashboard.
import { Duration, Stack } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import type * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';

export interface MonitoringProps {
  /** Where alarms are emailed; absent: the topic has no subscription (subscribe to it yourself). */
  readonly alarmEmail?: string;
  /** Dead-letter queues by a readable name, e.g. `RunCompletion`. */
  readonly deadLetterQueues: Readonly<Record<string, sqs.IQueue>>;
  readonly stateMachines: Readonly<Record<string, sfn.IStateMachine>>;
  readonly functions: Readonly<Record<string, lambda.IFunction>>;
}

const PERIOD = Duration.minutes(5);

export class Monitoring extends Construct {
  readonly alarmTopic: sns.Topic;
  readonly alarms: cloudwatch.Alarm[] = [];
  readonly dashboard: cloudwatch.Dashboard;

  constructor(scope: Construct, id: string, props: MonitoringProps) {
    super(scope, id);

    // CloudWatch publishes alarms as a service principal, which only a key of our own can admit.
    const key = new kms.Key(this, 'AlarmTopicKey', { description: 'Encrypts the omics-run-archiver alarm topic', enableKeyRotation: true });
    key.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'CloudWatchPublishesAlarms',
        principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
        actions: ['kms:GenerateDataKey*', 'kms:Decrypt'],
        resources: ['*'],
      }),
    );
    this.alarmTopic = new sns.Topic(this, 'AlarmTopic', { displayName: 'omics-run-archiver alarms', masterKey: key, enforceSSL: true });
    if (props.alarmEmail) this.alarmTopic.addSubscription(new subscriptions.EmailSubscription(props.alarmEmail));
    const notify = new actions.SnsAction(this.alarmTopic);

    const alarm = (alarmId: string, metric: cloudwatch.IMetric, description: string) => {
      const created = new cloudwatch.Alarm(this, alarmId, {
        metric,
        threshold: 0,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluationPeriods: 1,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        alarmDescription: description,
      });
      created.addAlarmAction(notify);
      this.alarms.push(created);
      return created;
    };

    for (const [name, queue] of Object.entries(props.deadLetterQueues)) {
      alarm(
        `${name}DeadLetters`,
        queue.metricApproximateNumberOfMessagesVisible({ period: PERIOD, statistic: cloudwatch.Stats.MAXIMUM }),
        `Messages in the ${name} dead-letter queue: their processing failed every retry. See docs/operations.md (the DLQ runbook).`,
      );
    }
    for (const [name, machine] of Object.entries(props.stateMachines)) {
      alarm(`${name}ExecutionsFailed`, machine.metricFailed({ period: PERIOD, statistic: cloudwatch.Stats.SUM }), `${name} executions failed.`);
      alarm(`${name}ExecutionsTimedOut`, machine.metricTimedOut({ period: PERIOD, statistic: cloudwatch.Stats.SUM }), `${name} executions timed out.`);
    }
    for (const [name, fn] of Object.entries(props.functions)) {
      alarm(`${name}Errors`, fn.metricErrors({ period: PERIOD, statistic: cloudwatch.Stats.SUM }), `The ${name} function returned errors.`);
    }

    this.dashboard = new cloudwatch.Dashboard(this, 'Dashboard', {
      dashboardName: `${Stack.of(this).stackName}-overview`,
      defaultInterval: Duration.days(7),
    });
    this.dashboard.addWidgets(new cloudwatch.AlarmStatusWidget({ title: 'Alarms', alarms: this.alarms, width: 24, height: 4 }));
    for (const [name, machine] of Object.entries(props.stateMachines)) {
      this.dashboard.addWidgets(
        new cloudwatch.GraphWidget({
          title: `${name} executions`,
          width: 12,
          left: [
            machine.metricStarted({ period: PERIOD, label: 'started' }),
            machine.metricSucceeded({ period: PERIOD, label: 'succeeded' }),
            machine.metricFailed({ period: PERIOD, label: 'failed' }),
            machine.metricTimedOut({ period: PERIOD, label: 'timed out' }),
          ],
        }),
        new cloudwatch.GraphWidget({
          title: `${name} execution time`,
          width: 12,
          left: [machine.metricTime({ period: PERIOD, statistic: cloudwatch.Stats.p(90), label: 'p90' })],
        }),
      );
    }
    this.dashboard.addWidgets(
      new cloudwatch.GraphWidget({
        title: 'Dead-letter queue depth',
        width: 12,
        left: Object.entries(props.deadLetterQueues).map(([name, queue]) =>
          queue.metricApproximateNumberOfMessagesVisible({ period: PERIOD, statistic: cloudwatch.Stats.MAXIMUM, label: name }),
        ),
      }),
      new cloudwatch.GraphWidget({
        title: 'Function errors',
        width: 12,
        left: Object.entries(props.functions).map(([name, fn]) => fn.metricErrors({ period: PERIOD, statistic: cloudwatch.Stats.SUM, label: name })),
      }),
      new cloudwatch.GraphWidget({
        title: 'Function duration (p90)',
        width: 12,
        left: Object.entries(props.functions).map(([name, fn]) => fn.metricDuration({ period: PERIOD, statistic: cloudwatch.Stats.p(90), label: name })),
      }),
      new cloudwatch.GraphWidget({
        title: 'Function throttles',
        width: 12,
        left: Object.entries(props.functions).map(([name, fn]) => fn.metricThrottles({ period: PERIOD, statistic: cloudwatch.Stats.SUM, label: name })),
      }),
    );
  }
}
