// Grants on what the stack does not own: HealthOmics runs and their log group, and the lab's output/restore buckets.
import { ArnFormat, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import { Construct } from 'constructs';
import { acknowledgeWildcardResources } from './nag';
import { OMICS_LOG_GROUP } from '../functions/lib/contract';

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

function bucketArn(grantee: iam.IGrantable, name: string): string {
  return stackOf(grantee).formatArn({ service: 's3', region: '', account: '', resource: name });
}

/** The stack of the grantee's role, so ARNs carry its partition, region and account. */
function stackOf(grantee: iam.IGrantable): Stack {
  const principal = grantee.grantPrincipal;
  if (!Construct.isConstruct(principal)) throw new Error('grants here go to roles of this stack');
  return Stack.of(principal);
}
