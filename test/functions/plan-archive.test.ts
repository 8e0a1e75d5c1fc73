// Unit tests for the plan-archive handler: validated input, the ARCHIVING transition, and the plan it writes.
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { GetRunCommand, OmicsClient, ResourceNotFoundException } from '@aws-sdk/client-omics';
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
const omicsMock = mockClient(OmicsClient);
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
  omicsMock.reset();
  ddbMock.on(UpdateCommand).resolves({ Attributes: { archiveState: 'ARCHIVING', runId: '7830534', runUuid: UUID } });
  // HealthOmics still has the run under its id.
  omicsMock.on(GetRunCommand).resolves({ id: '7830534', uuid: UUID, creationTime: new Date('2024-12-31') });
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
      bundles: { items: 0, files: 0 },
      key: planKey,
      itemCount: 1,
      counts: { files: 2, archive: 1, keep: 1, skip: 0, archived: 0, failed: 0 },
      bytes: { total: 1010, archive: 1000 },
      resultPrefix: `plans/${UUID}/run-7830534-${UUID}/results`,
    });
    const registered = ddbMock
      .commandCalls(BatchWriteCommand)
      .flatMap((c) => c.args[0].input.RequestItems![TABLE].map((r) => r.PutRequest!.Item!.path as string));
    expect(registered.sort()).toEqual(['reads/a.bam', 'reads/a.bam.bai']);
  });

  it('leaves out what a newer run wrote after HealthOmics gave it this run id, and says so', async () => {
    // The run was deleted while its outputs aged, and its id went to a run created on 1 March.
    const newer = { uuid: '11111111-2222-4333-8444-555555555555', creationTime: new Date('2025-03-01T00:00:00Z') };
    omicsMock.on(GetRunCommand).resolves({ id: '7830534', ...newer });
    s3Mock.on(ListObjectsV2Command).resolves({
      Contents: [
        { Key: 'out/7830534/reads/a.bam', Size: 1000, ETag: '"a"', LastModified: new Date('2025-01-01') },
        { Key: 'out/7830534/reads/b.bam', Size: 2000, ETag: '"b"', LastModified: new Date('2025-03-01T00:00:00Z') },
        { Key: 'out/7830534/reads/c.bam.bai', Size: 20, ETag: '"c"', LastModified: new Date('2025-03-02') },
      ],
      IsTruncated: false,
    });

    const result = await handler(input());

    expect(omicsMock).toHaveReceivedCommandWith(GetRunCommand, { id: '7830534' });
    const put = s3Mock.commandCalls(PutObjectCommand)[0].args[0].input;
    const items = JSON.parse(Buffer.from(put.Body as Uint8Array).toString()) as { files: { path: string }[] }[];
    expect(items.flatMap((i) => i.files.map((f) => f.path))).toEqual(['reads/a.bam']);
    expect(result).toMatchObject({
      itemCount: 1,
      counts: { files: 1, archive: 1, keep: 0 },
      bytes: { total: 1000, archive: 1000 },
      newerRunObjects: { runUuid: newer.uuid, since: newer.creationTime.toISOString(), files: 2, bytes: 2020 },
    });
    const registered = ddbMock
      .commandCalls(BatchWriteCommand)
      .flatMap((c) => c.args[0].input.RequestItems![TABLE].map((r) => r.PutRequest!.Item!.path as string));
    expect(registered).toEqual(['reads/a.bam']);
  });

  it("takes the whole listing as the run's own when HealthOmics has no run under the id any more", async () => {
    omicsMock.on(GetRunCommand).rejects(new ResourceNotFoundException({ message: 'run not found', $metadata: {} }));
    const result = await handler(input());
    expect(result).toMatchObject({ itemCount: 1, counts: { files: 2, archive: 1, keep: 1 } });
    expect(result).not.toHaveProperty('newerRunObjects');
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
