// The stack's part in the event-driven S3 restore wait: EventBridge notifications on the archive bucket, the rule that
// routes its Object Restore Completed events to the retrieval-notification queue, and what the functions may do.
import { Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import type { IConstruct } from 'constructs';
import { s3RestoreCompletedPattern } from '../../functions/lib/contract';
import { buildStack, EXAMPLE_CONFIG, exampleWith, SHIPPED_CONFIG, VAULT_TIER } from './helpers';

interface Statement {
  Effect: string;
  Action: string | string[];
  Resource: unknown;
  Principal?: unknown;
  Condition?: unknown;
}

function synth(config = EXAMPLE_CONFIG) {
  const { stack } = buildStack(config);
  const template = Template.fromStack(stack);
  const json = template.toJSON() as { Resources: Record<string, { Type: string; Properties: Record<string, unknown> }> };
  const logicalId = (construct: IConstruct) => stack.resolve(Stack.of(construct).getLogicalId(construct.node.defaultChild as never)) as string;
  /** The statements of every policy attached to the role. */
  const statements = (role: IConstruct): Statement[] =>
    Object.values(json.Resources)
      .filter((r) => r.Type === 'AWS::IAM::Policy' && JSON.stringify(r.Properties.Roles).includes(`"${logicalId(role)}"`))
      .flatMap((r) => (r.Properties.PolicyDocument as { Statement: Statement[] }).Statement);
  const allows = (role: IConstruct, action: string, resource: unknown) =>
    statements(role).some((s) => {
      const actions = ([] as string[]).concat(s.Action);
      const resources = ([] as unknown[]).concat(s.Resource);
      return s.Effect === 'Allow' && actions.includes(action) && resources.some((r) => JSON.stringify(r) === JSON.stringify(stack.resolve(resource)));
    });
  /** Actions granted to the role on anything (the task-response grant names the state machine by a formatted ARN). */
  const actions = (role: IConstruct) => new Set(statements(role).flatMap((st) => ([] as string[]).concat(st.Action)));
  const rules = () =>
    template.findResources('AWS::Events::Rule', { Properties: { EventPattern: { source: ['aws.s3'] } } }) as Record<
      string,
      { Properties: Record<string, unknown> }
    >;
  return { stack, template, json, logicalId, allows, actions, rules };
}

describe.each([
  ['the cdk.json example as shipped', SHIPPED_CONFIG],
  ['with a vault tier too', EXAMPLE_CONFIG],
])('a created archive bucket (%s)', (_name, config) => {
  const s = synth(config);
  const bucket = s.stack.storage.archiveBucket!;

  it('has EventBridge notifications on', () => {
    s.template.hasResourceProperties('Custom::S3BucketNotifications', {
      BucketName: { Ref: s.logicalId(bucket) },
      NotificationConfiguration: { EventBridgeConfiguration: {} },
    });
  });

  it('routes its Object Restore Completed events, the contract’s pattern, to the retrieval-notification queue', () => {
    const queue = s.stack.restore.notificationQueue.queue;
    expect(Object.values(s.rules())).toEqual([
      expect.objectContaining({
        Properties: expect.objectContaining({
          State: 'ENABLED',
          EventPattern: s.stack.resolve(s3RestoreCompletedPattern(bucket.bucketName)) as unknown,
          Targets: [expect.objectContaining({ Arn: { 'Fn::GetAtt': [s.logicalId(queue), 'Arn'] } })],
        }) as Record<string, unknown>,
      }),
    ]);
    // EventBridge may deliver to the queue, from that rule only.
    s.template.hasResourceProperties('AWS::SQS::QueuePolicy', {
      Queues: [{ Ref: s.logicalId(queue) }],
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Effect: 'Allow',
            Principal: { Service: 'events.amazonaws.com' },
            Action: Match.arrayWith(['sqs:SendMessage']),
            Condition: { ArnEquals: { 'aws:SourceArn': { 'Fn::GetAtt': [s.logicalId(s.stack.restore.restoreCompletedRule!), 'Arn'] } } },
          }),
        ]),
      },
    });
  });

  it('lets request-retrieval look at the archived version (HeadObject after RestoreAlreadyInProgress) and resume its task', () => {
    const role = s.stack.restore.functions.requestRetrieval.role;
    expect(s.allows(role, 's3:RestoreObject', bucket.arnForObjects('*'))).toBe(true);
    expect(s.allows(role, 's3:GetObjectVersion', bucket.arnForObjects('*'))).toBe(true);
    expect(s.actions(role).has('states:SendTaskSuccess')).toBe(true);
    expect(s.allows(role, 'dynamodb:PutItem', s.stack.runIndex.table.tableArn)).toBe(true);
  });

  it('lets retrieval-notification find and remove waiters and resume their tasks, and nothing in S3', () => {
    const role = s.stack.restore.retrievalNotification.role;
    const table = s.stack.runIndex.table.tableArn;
    for (const action of ['dynamodb:Query', 'dynamodb:GetItem', 'dynamodb:DeleteItem']) expect(s.allows(role, action, table)).toBe(true);
    expect(s.actions(role).has('states:SendTaskSuccess')).toBe(true);
    expect([...s.actions(role)].filter((action) => action.startsWith('s3:'))).toEqual([]);
  });
});

describe('an imported archive bucket', () => {
  const s = synth(exampleWith((c) => (c.imports = { archiveBucketName: 'existing-archive' })));

  it('is left alone (the operator turns its EventBridge notifications on) and still has its events routed', () => {
    s.template.resourceCountIs('Custom::S3BucketNotifications', 0);
    expect(Object.values(s.rules()).map((r) => r.Properties.EventPattern)).toEqual([s3RestoreCompletedPattern('existing-archive')]);
  });
});

describe('no archive bucket (every tier archives to a vault)', () => {
  const s = synth(exampleWith((c) => (c.tiers = [VAULT_TIER])));

  it('has no S3 restore rule and no bucket notifications', () => {
    expect(s.stack.storage.archiveBucket).toBeUndefined();
    expect(s.stack.restore.restoreCompletedRule).toBeUndefined();
    expect(s.rules()).toEqual({});
    s.template.resourceCountIs('Custom::S3BucketNotifications', 0);
  });
});
