// The optional customer-managed KMS key of the run index and the buckets the stack creates (encryptionKeyArn / customerManagedKey).
import { RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import type { Construct } from 'constructs';
import { acknowledge } from './nag';
import type { ArchiverConfig } from '../functions/lib/contract';

/** The key the configuration asks for: an existing one by ARN, one made here, or none (AWS-managed encryption). */
export function encryptionKeyOf(scope: Construct, config: Pick<ArchiverConfig, 'encryptionKeyArn' | 'customerManagedKey'>): kms.IKey | undefined {
  if (config.encryptionKeyArn) return kms.Key.fromKeyArn(scope, 'EncryptionKey', config.encryptionKeyArn);
  if (!config.customerManagedKey) return undefined;
  return new kms.Key(scope, 'EncryptionKey', {
    description: 'omics-run-archiver: the run index, run snapshots and archived files',
    enableKeyRotation: true,
    // Without its key the index and every archived object would be unreadable: `cdk destroy` keeps it with them.
    removalPolicy: RemovalPolicy.RETAIN,
  });
}

/** KMS actions of an SSE-KMS reader: S3 and DynamoDB decrypt the data key. */
export const KEY_READ_ACTIONS = ['kms:Decrypt'];
/** KMS actions of a writer: a new data key per object (bucket keys make that rare), Decrypt for multipart uploads. */
export const KEY_WRITE_ACTIONS = ['kms:Decrypt', 'kms:Encrypt', 'kms:GenerateDataKey'];

/** The action groups CDK's table and bucket grants ask of a KMS key, which cdk-nag reports as wildcards. */
const KEY_ACTION_GROUPS = ['kms:GenerateDataKey*', 'kms:ReEncrypt*'];

/**
 * Acknowledges AwsSolutions-IAM5 for the KMS action groups in every policy that grants them on the data key, and only
 * there. They come from CDK's grants on the encrypted table and buckets (grantReadWriteData, grantReadWrite): the
 * GenerateDataKey variants and the ReEncrypt pair are what envelope encryption uses, and the resource is the one key.
 * Call it once every grant is made (the end of the stack's constructor).
 */
export function acknowledgeDataKeyGrants(scope: Construct, key: kms.IKey | undefined): void {
  if (!key) return;
  const stack = Stack.of(scope);
  const keyArn = JSON.stringify(stack.resolve(key.keyArn));
  for (const policy of stack.node.findAll().filter((c): c is iam.Policy => c instanceof iam.Policy)) {
    const document = stack.resolve(policy.document.toJSON()) as { Statement?: { Action?: string | string[]; Resource?: unknown }[] } | undefined;
    for (const group of KEY_ACTION_GROUPS) {
      const onKey = (document?.Statement ?? []).some(
        (statement) => [statement.Action ?? []].flat().includes(group) && JSON.stringify(statement.Resource ?? '').includes(keyArn.slice(1, -1)),
      );
      if (onKey) {
        acknowledge(
          policy,
          `AwsSolutions-IAM5[Action::${group}]`,
          'CDK grants on the KMS-encrypted table and buckets: the action group envelope encryption uses, on the data key alone.',
        );
      }
    }
  }
}
