// The optional customer-managed KMS key of the run index and the buckets the stack creates (encryptionKeyArn / customerManagedKey).
import { RemovalPolicy } from 'aws-cdk-lib';
import * as kms from 'aws-cdk-lib/aws-kms';
import type { Construct } from 'constructs';
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
