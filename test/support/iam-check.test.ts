// The IAM check's call mapping: the non-obvious SDK operation → IAM action and resource pairs.
import { iamRequestsOf, stateMachineOf } from './iam-check';

const requestsOf = (service: string, operation: string, input: Record<string, string | number | boolean | string[]>) =>
  iamRequestsOf({ principal: 'omics-archiver-ArchiveFiles', service, operation, input }).map((r) => [r.action, r.resource]);

describe('IAM check: what each call is authorized as', () => {
  test('HeadObject is s3:GetObject, and naming a version makes it s3:GetObjectVersion', () => {
    expect(requestsOf('S3', 'HeadObject', { Bucket: 'b', Key: 'a/k' })).toEqual([['s3:GetObject', 'arn:aws:s3:::b/a/k']]);
    expect(requestsOf('S3', 'HeadObject', { Bucket: 'b', Key: 'k', VersionId: 'null' })).toEqual([['s3:GetObjectVersion', 'arn:aws:s3:::b/k']]);
  });

  test('UploadPartCopy writes the destination (s3:PutObject) and reads the decoded source, version included', () => {
    expect(requestsOf('S3', 'UploadPartCopy', { Bucket: 'dst', Key: 'x/y', CopySource: 'src/runs%2F1%2Fa%20b.bam?versionId=v1' })).toEqual([
      ['s3:PutObject', 'arn:aws:s3:::dst/x/y'],
      ['s3:GetObjectVersion', 'arn:aws:s3:::src/runs/1/a b.bam'],
    ]);
  });

  test('CopyObject copies tags unless told to replace them: tagging is read on the source and written on the copy', () => {
    expect(requestsOf('S3', 'CopyObject', { Bucket: 'dst', Key: 'k', CopySource: 'src/k' })).toEqual([
      ['s3:PutObject', 'arn:aws:s3:::dst/k'],
      ['s3:PutObjectTagging', 'arn:aws:s3:::dst/k'],
      ['s3:GetObject', 'arn:aws:s3:::src/k'],
      ['s3:GetObjectTagging', 'arn:aws:s3:::src/k'],
    ]);
    expect(requestsOf('S3', 'CopyObject', { Bucket: 'dst', Key: 'k', CopySource: 'src/k', TaggingDirective: 'REPLACE' })).toEqual([
      ['s3:PutObject', 'arn:aws:s3:::dst/k'],
      ['s3:GetObject', 'arn:aws:s3:::src/k'],
    ]);
  });

  test('multipart steps are s3:PutObject but ListParts and the abort; listing is s3:ListBucket on the bucket', () => {
    expect(requestsOf('S3', 'CreateMultipartUpload', { Bucket: 'b', Key: 'k' })).toEqual([['s3:PutObject', 'arn:aws:s3:::b/k']]);
    expect(requestsOf('S3', 'ListParts', { Bucket: 'b', Key: 'k' })).toEqual([['s3:ListMultipartUploadParts', 'arn:aws:s3:::b/k']]);
    expect(requestsOf('S3', 'AbortMultipartUpload', { Bucket: 'b', Key: 'k' })).toEqual([['s3:AbortMultipartUpload', 'arn:aws:s3:::b/k']]);
    expect(requestsOf('S3', 'ListObjectsV2', { Bucket: 'b', Prefix: 'p/' })).toEqual([['s3:ListBucket', 'arn:aws:s3:::b']]);
  });

  test('DynamoDB, Glacier, HealthOmics, SQS and Step Functions name their resources by ARN', () => {
    expect(requestsOf('DynamoDB', 'Query', { TableName: 't', IndexName: 'runId-index' })).toEqual([
      ['dynamodb:Query', 'arn:aws:dynamodb:us-east-1:123456789012:table/t/index/runId-index'],
    ]);
    expect(requestsOf('Glacier', 'UploadMultipartPart', { accountId: '-', vaultName: 'v' })).toEqual([
      ['glacier:UploadMultipartPart', 'arn:aws:glacier:us-east-1:123456789012:vaults/v'],
    ]);
    expect(requestsOf('Omics', 'ListRunTasks', { id: '1234' })).toEqual([['omics:ListRunTasks', 'arn:aws:omics:us-east-1:123456789012:run/1234']]);
    expect(requestsOf('SQS', 'DeleteMessageBatch', { QueueUrl: 'http://127.0.0.1:4566/123456789012/q' })).toEqual([
      ['sqs:DeleteMessage', 'arn:aws:sqs:us-east-1:123456789012:q'],
    ]);
    expect(requestsOf('SFN', 'SendTaskSuccess', { taskToken: 't' })).toEqual([['states:SendTaskSuccess', '*']]);
  });

  test('an operation with no mapping fails, naming it and its caller, so the mapping cannot silently fall behind the code', () => {
    expect(() => requestsOf('S3', 'PutBucketPolicy', { Bucket: 'b' })).toThrow('no IAM mapping for S3 PutBucketPolicy (called by omics-archiver-ArchiveFiles)');
  });

  test('a Lambda invocation from Step Functions belongs to the one state machine that invokes the function', () => {
    expect(stateMachineOf('arn:aws:lambda:us-east-1:123456789012:function:omics-archiver-ArchiveFiles')).toBe('archiveRun');
    expect(stateMachineOf('omics-archiver-CopyRestoredFile')).toBe('restoreRun');
    expect(() => stateMachineOf('omics-archiver-TriggerArchive')).toThrow(/invoked by 0 state machines/);
  });
});
