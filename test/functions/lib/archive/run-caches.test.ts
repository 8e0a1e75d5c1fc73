// Unit tests for finding a run's caches: from ListRunTasks while HealthOmics has the run, from its snapshot after.
import { ListRunTasksCommand, OmicsClient } from '@aws-sdk/client-omics';
import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { cacheUrisOf, listRunCacheUris, snapshotCacheUris } from '../../../../functions/lib/archive/run-caches';

const omicsMock = mockClient(OmicsClient);
const s3Mock = mockClient(S3Client);

beforeEach(() => {
  omicsMock.reset();
  s3Mock.reset();
});

describe('run caches', () => {
  it('keeps each cache location once, in the order the tasks name them', () => {
    expect(cacheUrisOf([{ cacheS3Uri: 's3://c/b/' }, {}, { cacheS3Uri: 's3://c/a/' }, { cacheS3Uri: 's3://c/b/' }])).toEqual(['s3://c/b/', 's3://c/a/']);
  });

  it('reads every page of ListRunTasks', async () => {
    omicsMock
      .on(ListRunTasksCommand, { id: '1234', startingToken: undefined })
      .resolves({ items: [{ taskId: '1', cacheS3Uri: 's3://cache/run/1/' }, { taskId: '2' }], nextToken: 'next' })
      .on(ListRunTasksCommand, { id: '1234', startingToken: 'next' })
      .resolves({ items: [{ taskId: '3', cacheS3Uri: 's3://cache/run/3/' }] });
    await expect(listRunCacheUris(new OmicsClient({}), '1234')).resolves.toEqual(['s3://cache/run/1/', 's3://cache/run/3/']);
  });

  it("reads the snapshot's tasks.jsonl.gz under its location", async () => {
    const lines = [{ taskId: '1', cacheS3Uri: 's3://cache/run/1/' }, { taskId: '2' }].map((t) => JSON.stringify(t)).join('\n');
    s3Mock.on(GetObjectCommand, { Bucket: 'snapshots', Key: 'runs/u-1/tasks.jsonl.gz' }).resolves({
      // The one method of the SDK's stream mixin the reader uses.
      Body: Object.assign(Readable.from([]), { transformToByteArray: () => Promise.resolve(new Uint8Array(gzipSync(`${lines}\n`))) }) as never,
    });
    await expect(snapshotCacheUris(new S3Client({}), 's3://snapshots/runs/u-1/')).resolves.toEqual(['s3://cache/run/1/']);
  });
});
