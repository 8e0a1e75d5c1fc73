// Unit tests for the plan-archive handler: validated input, the ARCHIVING transition, and the plan it writes.
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { BatchWriteCommand, DynamoDBDocumentClient, QueryCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { ZodError } from 'zod';
import { handler } from '../../functions/plan-archive';
import { StateConflictError } from '../../functions/lib/index/run-index';
import { ENV } from '../../functions/lib/contract';
import { RUN_UUID as UUID, quietPowertools, useEnv } from '../support/handlers';

const TABLE = 'run-index';
const BUCKET = 'snapshots';
const ddbMock = mockClient(DynamoDBDocumentClient);
const s3Mock = mockClient(S3Client);
quietPowertools();
useEnv({ [ENV.runIndexTable]: TABLE, [ENV.snapshotBucket]: BUCKET });

/** The plan-archive input as the workflow passes it: the tier travels, already parsed, in the execution input. */
const input = (overrides: Record<string, unknown> = {}) => ({
  runUuid: UUID,
  runOutputUri: 's3://outputs/out/7830534',
  excludeUris: ['s3://outputs/out/7830534/cache'],
  executionName: `run-7830534-${UUID}`,
  tier: { name: 'standard', files: [{ globs: ['**/*.bam'], action: 'archive' }], defaultAction: 'keep' },
  settings: { groupMaxFiles: 100, groupMaxBytes: 256 * 1024 * 1024 },
  ...overrides,
});

beforeEach(() => {
  ddbMock.reset();
  s3Mock.reset();
  ddbMock.on(UpdateCommand).resolves({ Attributes: { archiveState: 'ARCHIVING' } });
  ddbMock.on(QueryCommand).resolves({ Items: [] });
  ddbMock.on(BatchWriteCommand).resolves({});
  s3Mock.on(ListObjectsV2Command).resolves({
    Contents: [
      { Key: 'out/7830534/', Size: 0 },
      { Key: 'out/7830534/reads/a.bam', Size: 1000, ETag: '"a"', LastModified: new Date('2025-01-01') },
      { Key: 'out/7830534/reads/a.bam.bai', Size: 10, ETag: '"b"', LastModified: new Date('2025-01-01') },
      { Key: 'out/7830534/cache/x.bam', Size: 5, ETag: '"c"', LastModified: new Date('2025-01-01') },
    ],
    IsTruncated: false,
  });
  s3Mock.on(PutObjectCommand).resolves({ ETag: '"plan"' });
});

describe('plan-archive handler', () => {
  it.each([
    ['an output location that is not s3://', input({ runOutputUri: 'https://outputs.s3.amazonaws.com/out' })],
    ['no run uuid', input({ runUuid: undefined })],
    ['no execution name', input({ executionName: '' })],
    ['a tier with an unknown key', input({ tier: { name: 'standard', deleteEverything: true } })],
    ['a tier with a bad glob rule', input({ tier: { name: 'standard', files: [{ globs: [], action: 'archive' }] } })],
    ['group settings that are not positive integers', input({ settings: { groupMaxFiles: 0, groupMaxBytes: 10 } })],
    ['group bytes given as a string', input({ settings: { groupMaxFiles: 10, groupMaxBytes: '256 MiB' } })],
    ['no settings', input({ settings: undefined })],
  ])('rejects %s with a ZodError, touching nothing', async (_, event) => {
    await expect(handler(event)).rejects.toBeInstanceOf(ZodError);
    expect(ddbMock.calls()).toHaveLength(0);
    expect(s3Mock.calls()).toHaveLength(0);
  });

  it('moves the run to ARCHIVING, plans its outputs and writes the plan under the execution', async () => {
    const result = await handler(input());

    const transition = ddbMock.commandCalls(UpdateCommand)[0].args[0].input;
    expect(transition).toMatchObject({ TableName: TABLE, Key: { pk: `RUN#${UUID}`, sk: 'META' } });
    expect(transition.ExpressionAttributeValues).toMatchObject({ ':from0': 'INDEXED', ':from1': 'ARCHIVING' });
    expect(Object.values(transition.ExpressionAttributeValues!)).toContain('ARCHIVING');

    expect(s3Mock).toHaveReceivedCommandWith(ListObjectsV2Command, { Bucket: 'outputs', Prefix: 'out/7830534/' });
    const planKey = `plans/${UUID}/run-7830534-${UUID}/items.json`;
    const put = s3Mock.commandCalls(PutObjectCommand)[0].args[0].input;
    expect(put).toMatchObject({ Bucket: BUCKET, Key: planKey });
    expect(JSON.parse(Buffer.from(put.Body as Uint8Array).toString())).toEqual([
      { files: [{ path: 'reads/a.bam', bucket: 'outputs', key: 'out/7830534/reads/a.bam', size: 1000, etag: '"a"' }], bytes: 1000 },
    ]);

    expect(result).toEqual({
      bucket: BUCKET,
      key: planKey,
      itemCount: 1,
      counts: { files: 2, archive: 1, keep: 1, skip: 0, archived: 0, failed: 0 },
      bytes: { total: 1010, archive: 1000 },
      resultPrefix: `plans/${UUID}/run-7830534-${UUID}/results`,
    });
    const registered = ddbMock.commandCalls(BatchWriteCommand).flatMap((c) => c.args[0].input.RequestItems![TABLE].map((r) => r.PutRequest!.Item!.path));
    expect(registered.sort()).toEqual(['reads/a.bam', 'reads/a.bam.bai']);
  });

  it('plans nothing for a run that is already further along than ARCHIVING', async () => {
    ddbMock.on(UpdateCommand).rejects(new ConditionalCheckFailedException({ message: 'The conditional request failed', $metadata: {} }));
    await expect(handler(input())).rejects.toBeInstanceOf(StateConflictError);
    expect(s3Mock.calls()).toHaveLength(0);
  });

  it('fails naming the variable when the snapshot bucket is not configured', async () => {
    delete process.env[ENV.snapshotBucket];
    await expect(handler(input())).rejects.toThrow(`environment variable ${ENV.snapshotBucket} is not set`);
  });
});
