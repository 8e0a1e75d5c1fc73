// The restore-events topic in the template: encrypted and TLS-only, only finalize-restore publishes (and is told its ARN), email subscribers from restoreNotificationEmails.
import { Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import type { IConstruct } from 'constructs';
import { ENV } from '../../functions/lib/contract';
import { STACK_OUTPUTS } from '../../stacks/outputs';
import { buildStack, EXAMPLE_CONFIG, exampleWith } from './helpers';

interface Statement {
  Effect: string;
  Action: string | string[];
  Resource: unknown;
}

function synth(config = EXAMPLE_CONFIG) {
  const { stack } = buildStack(config);
  const template = Template.fromStack(stack);
  const json = template.toJSON() as {
    Resources: Record<string, { Type: string; Properties: Record<string, unknown> }>;
    Outputs: Record<string, { Value: unknown }>;
  };
  const logicalId = (construct: IConstruct) => stack.resolve(Stack.of(construct).getLogicalId(construct.node.defaultChild as never)) as string;
  const statements = (role: IConstruct): Statement[] =>
    Object.values(json.Resources)
      .filter((r) => r.Type === 'AWS::IAM::Policy' && JSON.stringify(r.Properties.Roles).includes(`"${logicalId(role)}"`))
      .flatMap((r) => (r.Properties.PolicyDocument as { Statement: Statement[] }).Statement);
  const topicRef = { Ref: logicalId(stack.restore.restoreEventsTopic) };
  const publishes = (role: IConstruct) =>
    statements(role).some(
      (s) =>
        s.Effect === 'Allow' &&
        ([] as string[]).concat(s.Action).includes('sns:Publish') &&
        ([] as unknown[]).concat(s.Resource).some((r) => JSON.stringify(r) === JSON.stringify(topicRef)),
    );
  return { stack, template, json, logicalId, topicRef, publishes };
}

describe('the restore-events topic', () => {
  const s = synth();

  it('is encrypted with the SNS managed key and refuses plain HTTP', () => {
    s.template.hasResourceProperties('AWS::SNS::Topic', {
      DisplayName: 'Omics run restore outcomes',
      KmsMasterKeyId: Match.objectLike({ 'Fn::Join': Match.anyValue() as unknown }),
    });
    s.template.hasResourceProperties('AWS::SNS::TopicPolicy', {
      Topics: [s.topicRef],
      PolicyDocument: {
        Statement: Match.arrayWith([Match.objectLike({ Effect: 'Deny', Action: 'sns:Publish', Condition: { Bool: { 'aws:SecureTransport': 'false' } } })]),
      },
    });
  });

  it('is published to by finalize-restore alone, which is given its ARN', () => {
    const restore = s.stack.restore;
    expect(s.publishes(restore.functions.finalizeRestore.role)).toBe(true);
    for (const fn of [
      ...Object.values(s.stack.archive.functions),
      restore.functions.planRestore,
      restore.functions.copyRestoredFile,
      restore.retrievalNotification,
    ]) {
      expect(s.publishes(fn.role)).toBe(false);
    }
    s.template.hasResourceProperties('AWS::Lambda::Function', {
      Description: Match.stringLikeRegexp('^Records the outcome of a restore request'),
      Environment: { Variables: Match.objectLike({ [ENV.restoreEventsTopicArn]: s.topicRef }) },
    });
  });

  it('is a stack output', () => {
    expect(s.json.Outputs[STACK_OUTPUTS.restoreEventsTopicArn].Value).toEqual(s.topicRef);
  });

  it('has no subscribers unless restoreNotificationEmails names some', () => {
    const subscriptions = s.template.findResources('AWS::SNS::Subscription', { Properties: { TopicArn: s.topicRef } });
    expect(Object.keys(subscriptions)).toEqual([]);
  });
});

describe('restoreNotificationEmails', () => {
  it('subscribes each address to the restore-events topic by email', () => {
    const s = synth(exampleWith((c) => (c.restoreNotificationEmails = ['lab@example.org', 'oncall@example.org'])));
    for (const email of ['lab@example.org', 'oncall@example.org']) {
      s.template.hasResourceProperties('AWS::SNS::Subscription', { Protocol: 'email', Endpoint: email, TopicArn: s.topicRef });
    }
    expect(Object.keys(s.template.findResources('AWS::SNS::Subscription', { Properties: { Protocol: 'email' } }))).toHaveLength(2);
  });
});
