// cdk-nag acknowledgements: cdk-nag 3 reads CDK's Validations metadata (its old NagSuppressions API is gone).
import { Stack, Validations } from 'aws-cdk-lib';
import type * as iam from 'aws-cdk-lib/aws-iam';
import { Construct, type IConstruct } from 'constructs';

/**
 * Acknowledges one cdk-nag finding on the construct it excuses (and that construct's children). `id` is a rule id,
 * or a rule id with its finding, e.g. `AwsSolutions-IAM5[Resource::*]`; `reason` says why it is acceptable here.
 */
export function acknowledge(construct: IConstruct, id: string, reason: string): void {
  Validations.of(construct).acknowledge({ id, reason });
}

/**
 * Acknowledges AwsSolutions-IAM5 for each wildcard resource ARN granted to `grantee`, next to the grant that makes it.
 * ARNs are flattened the way cdk-nag names its findings (`<Bucket.Arn>/plans/*`), so the acknowledgement matches
 * exactly that finding and no other.
 */
export function acknowledgeWildcardResources(grantee: iam.IGrantable, resourceArns: readonly string[], reason: string): void {
  const principal = grantee.grantPrincipal;
  if (!Construct.isConstruct(principal)) return; // a service principal carries no policy of ours
  const stack = Stack.of(principal);
  for (const arn of resourceArns) {
    const flat = flattenReference(stack.resolve(arn));
    if (flat.includes('*')) acknowledge(principal, `AwsSolutions-IAM5[Resource::${flat}]`, reason);
  }
}

/** cdk-nag's rendering of a resolved CloudFormation value: `{Ref: X}` → `<X>`, GetAtt → `<X.Attr>`, joins flattened. */
function flattenReference(node: unknown): string {
  if (node === undefined) return '';
  if (typeof node === 'string') return node.replace(/\$\{/g, '<').replace(/\}/g, '>');
  if (node && typeof node === 'object') {
    const value = node as Record<string, unknown>;
    if (value['Fn::Join']) {
      const [delimiter, items] = value['Fn::Join'] as [string, unknown[]];
      return items.map(flattenReference).join(delimiter);
    }
    if (value['Fn::Sub']) return flattenReference(value['Fn::Sub']);
    if (value['Fn::GetAtt']) {
      const [resource, attribute] = value['Fn::GetAtt'] as [unknown, unknown];
      return `<${flattenReference(resource)}.${flattenReference(attribute)}>`;
    }
    if (value['Fn::ImportValue']) return flattenReference(value['Fn::ImportValue']);
    if (value.Ref) return `<${flattenReference(value.Ref)}>`;
  }
  return JSON.stringify(node);
}

/** The id CDK gives the one Lambda function behind every AwsCustomResource in a stack. */
const AWS_CUSTOM_RESOURCE_PROVIDER_ID = 'AWS679f53fac002430cb0da5b7982bd2287';

/** Acknowledges what cdk-nag finds on the CDK's own AwsCustomResource provider function, which we do not write. */
export function acknowledgeCustomResourceProvider(scope: IConstruct): void {
  const provider = Stack.of(scope).node.tryFindChild(AWS_CUSTOM_RESOURCE_PROVIDER_ID);
  if (!provider) return;
  acknowledge(
    provider,
    'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]',
    "The CDK's custom-resource provider (it creates the Glacier vault once) only writes its own logs; the basic execution role is exactly that.",
  );
}

/** The id CDK gives the one Lambda function that applies bucket notification configurations (`eventBridgeEnabled`). */
const BUCKET_NOTIFICATIONS_HANDLER_ID = 'BucketNotificationsHandler050a0587b7544547bf325f094a3db834';

/** Acknowledges what cdk-nag finds on the CDK's own bucket-notifications handler, which we do not write. */
export function acknowledgeBucketNotificationsHandler(scope: IConstruct): void {
  const handler = Stack.of(scope).node.tryFindChild(BUCKET_NOTIFICATIONS_HANDLER_ID);
  if (!handler) return;
  acknowledge(
    handler,
    'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]',
    "The CDK's bucket-notifications handler (it turns on the archive bucket's EventBridge notifications at deploy time) only writes its own logs; the basic execution role is exactly that.",
  );
}
