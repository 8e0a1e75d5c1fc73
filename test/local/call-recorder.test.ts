// The call recorder: SDK calls made on a principal's behalf are recorded with their operation and identifying input, others are not.
import { GetObjectCommand, S3Client, UploadPartCopyCommand } from '@aws-sdk/client-s3';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { BatchWriteCommand, DynamoDBDocumentClient, PutCommand } from '@aws-sdk/lib-dynamodb';
import { asPrincipal, recordAwsCalls, type RecordedCall } from '../../local/call-recorder';

// Nothing listens on port 1: every call fails after the recorder has seen it, without leaving the machine.
const settings = { endpoint: 'http://127.0.0.1:1', region: 'us-east-1', credentials: { accessKeyId: 'a', secretAccessKey: 'b' }, maxAttempts: 1 };
const s3 = new S3Client({ ...settings, forcePathStyle: true });
const documents = DynamoDBDocumentClient.from(new DynamoDBClient(settings));

const calls: RecordedCall[] = [];
let stop: () => void;
beforeAll(() => {
  stop = recordAwsCalls((call) => calls.push(call));
});
afterAll(() => stop());
beforeEach(() => calls.splice(0));

const attempt = (work: Promise<unknown>) =>
  work.then(
    () => undefined,
    () => undefined,
  );

describe('call recorder', () => {
  test('a call inside asPrincipal is recorded with its service, operation and scalar input (bodies left out)', async () => {
    await asPrincipal('omics-archiver-ArchiveFiles', () =>
      attempt(
        s3.send(
          new UploadPartCopyCommand({ Bucket: 'archive', Key: 'runs/a.bam', UploadId: 'u', PartNumber: 2, CopySource: 'outputs/runs%2Fa.bam?versionId=v1' }),
        ),
      ),
    );
    expect(calls).toEqual([
      {
        principal: 'omics-archiver-ArchiveFiles',
        service: 'S3',
        operation: 'UploadPartCopy',
        input: { Bucket: 'archive', Key: 'runs/a.bam', UploadId: 'u', PartNumber: 2, CopySource: 'outputs/runs%2Fa.bam?versionId=v1' },
      },
    ]);
  });

  test('calls outside any principal (the test, the local cloud itself) are not recorded', async () => {
    await attempt(s3.send(new GetObjectCommand({ Bucket: 'b', Key: 'k' })));
    expect(calls).toEqual([]);
  });

  test('document client calls are recorded as the DynamoDB operation they become, batch tables by name', async () => {
    await asPrincipal('omics-archiver-PlanArchive', async () => {
      await attempt(documents.send(new PutCommand({ TableName: 'run-index', Item: { pk: 'a', sk: 'b' } })));
      await attempt(documents.send(new BatchWriteCommand({ RequestItems: { 'run-index': [{ PutRequest: { Item: { pk: 'a', sk: 'c' } } }] } })));
    });
    expect(calls.map((c) => [c.principal, c.service, c.operation, c.input])).toEqual([
      ['omics-archiver-PlanArchive', 'DynamoDB', 'PutItem', { TableName: 'run-index' }],
      ['omics-archiver-PlanArchive', 'DynamoDB', 'BatchWriteItem', { RequestItems: ['run-index'] }],
    ]);
  });
});
