// Grants on what the stack does not own: HealthOmics runs and their log group, and the lab's output/restore buckets.
import { ArnFormat, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import { Construct } from 'constructs';
import { acknowledgeWildcardResources } from './nag';
import { OMICS_LOG_GROUP, parseKmsKeyArn, type KmsKeyRef } from '../functions/lib/contract';

/** HealthOmics actions on runs; run ids arrive in events, so the grant covers the account's runs. */
export function grantOmicsRuns(grantee: iam.IGrantable, actions: string[]): void {
  const runs = stackOf(grantee).formatArn({ service: 'omics', resource: 'run', resourceName: '*', arnFormat: ArnFormat.SLASH_RESOURCE_NAME });
  iam.Grant.addToPrincipal({ grantee, actions, resourceArns: [runs] });
  acknowledgeWildcardResources(grantee, [runs], 'Run ids come from HealthOmics events at run time; any run of this account may be archived.');
}

/** Reads the run engine, task and manifest log streams HealthOmics writes to /aws/omics/WorkflowLog. */
export function grantOmicsRunLogs(grantee: iam.IGrantable): void {
  const stack = stackOf(grantee);
  const group = stack.formatArn({ service: 'logs', resource: 'log-group', resourceName: OMICS_LOG_GROUP, arnFormat: ArnFormat.COLON_RESOURCE_NAME });
  const streams = `${group}:*`;
  iam.Grant.addToPrincipal({
    grantee,
    actions: ['logs:DescribeLogStreams', 'logs:FilterLogEvents', 'logs:GetLogEvents'],
    resourceArns: [group, streams],
  });
  acknowledgeWildcardResources(grantee, [streams], `Log streams in ${OMICS_LOG_GROUP} are named per run and task at run time.`);
}

/** s3:ListBucket on each named bucket. */
export function grantBucketListing(grantee: iam.IGrantable, bucketNames: readonly string[]): void {
  if (bucketNames.length === 0) return;
  iam.Grant.addToPrincipal({ grantee, actions: ['s3:ListBucket'], resourceArns: bucketNames.map((name) => bucketArn(grantee, name)) });
}

/** Object actions anywhere in each named bucket: run outputs and restore destinations are named at run time. */
export function grantBucketObjects(grantee: iam.IGrantable, bucketNames: readonly string[], actions: string[], reason: string): void {
  if (bucketNames.length === 0) return;
  const resourceArns = bucketNames.map((name) => `${bucketArn(grantee, name)}/*`);
  iam.Grant.addToPrincipal({ grantee, actions, resourceArns });
  acknowledgeWildcardResources(grantee, resourceArns, reason);
}

/** What S3 asks KMS for on the caller's behalf: reading SSE-KMS objects, and writing them. */
export const KMS_READ_ACTIONS = ['kms:Decrypt'];
/**
 * GenerateDataKey for every new object; Decrypt too, since S3 decrypts the parts' data key to complete a multipart
 * upload (and UploadPartCopy) into an SSE-KMS bucket.
 */
export const KMS_WRITE_ACTIONS = ['kms:Decrypt', 'kms:GenerateDataKey'];

/**
 * KMS actions on the labs' bucket keys (`kmsKeyArns`), only through S3 (kms:ViaService). IAM names keys only by key
 * ARN, so an alias ARN becomes the account's keys in its region that carry that alias (kms:ResourceAliases).
 */
export function grantKmsKeys(grantee: iam.IGrantable, keyArns: readonly string[], actions: string[]): void {
  const refs = keyArns.map((arn) => {
    const ref = parseKmsKeyArn(arn);
    if (!ref) throw new Error(`not a KMS key or alias ARN: ${arn} (parseConfig should have refused it)`);
    return ref;
  });
  const viaS3 = (regions: readonly string[]) => ({ 'kms:ViaService': oneOrMany([...new Set(regions)].map((region) => `s3.${region}.amazonaws.com`)) });
  const keys = refs.filter((ref) => ref.kind === 'key');
  if (keys.length) {
    iam.Grant.addToPrincipal({
      grantee,
      actions,
      resourceArns: keys.map(kmsArn),
      conditions: { StringEquals: viaS3(keys.map((k) => k.region)) },
    });
  }
  const aliasesByScope = new Map<string, KmsKeyRef[]>();
  for (const ref of refs.filter((r) => r.kind === 'alias')) {
    const scope = kmsArn({ ...ref, resource: 'key/*' });
    aliasesByScope.set(scope, [...(aliasesByScope.get(scope) ?? []), ref]);
  }
  for (const [scope, aliases] of aliasesByScope) {
    iam.Grant.addToPrincipal({
      grantee,
      actions,
      resourceArns: [scope],
      conditions: {
        StringEquals: viaS3(aliases.map((a) => a.region)),
        'ForAnyValue:StringEquals': { 'kms:ResourceAliases': oneOrMany(aliases.map((a) => a.resource)) },
      },
    });
    acknowledgeWildcardResources(
      grantee,
      [scope],
      `kmsKeyArns names ${aliases.map((a) => a.resource).join(', ')}: IAM reaches a key by alias only through kms:ResourceAliases.`,
    );
  }
}

const oneOrMany = (values: string[]) => (values.length === 1 ? values[0] : values);
const kmsArn = (ref: KmsKeyRef) => `arn:${ref.partition}:kms:${ref.region}:${ref.account}:${ref.resource}`;

function bucketArn(grantee: iam.IGrantable, name: string): string {
  return stackOf(grantee).formatArn({ service: 's3', region: '', account: '', resource: name });
}

/** The stack of the grantee's role, so ARNs carry its partition, region and account. */
function stackOf(grantee: iam.IGrantable): Stack {
  const principal = grantee.grantPrincipal;
  if (!Construct.isConstruct(principal)) throw new Error('grants here go to roles of this stack');
  return Stack.of(principal);
}
