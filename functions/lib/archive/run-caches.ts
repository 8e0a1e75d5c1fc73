// The run caches a run's tasks used (each task's cacheS3Uri): the archive leaves them alone, even under the output folder.
import { paginateListRunTasks, type OmicsClient } from '@aws-sdk/client-omics';
import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { gunzipSync } from 'node:zlib';
import { parseS3Uri } from '../s3/uri';

/** Each distinct cacheS3Uri, in the order the tasks name them. */
export function cacheUrisOf(tasks: Iterable<{ cacheS3Uri?: string }>): string[] {
  const uris = new Set<string>();
  for (const task of tasks) if (task.cacheS3Uri) uris.add(task.cacheS3Uri);
  return [...uris];
}

/** From HealthOmics, while it has the run: ListRunTasks names each task's cache location. */
export async function listRunCacheUris(omics: OmicsClient, runId: string): Promise<string[]> {
  const tasks: { cacheS3Uri?: string }[] = [];
  for await (const page of paginateListRunTasks({ client: omics, pageSize: 100 }, { id: runId })) tasks.push(...(page.items ?? []));
  return cacheUrisOf(tasks);
}

/** From the run's snapshot (`<location>tasks.jsonl.gz`, one task a line), once HealthOmics no longer has the run. */
export async function snapshotCacheUris(s3: S3Client, snapshotLocation: string): Promise<string[]> {
  const { bucket, prefix } = parseS3Uri(snapshotLocation);
  const key = `${prefix}tasks.jsonl.gz`;
  const object = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  if (!object.Body) throw new Error(`s3://${bucket}/${key} has no body`);
  // A task line is a few KB: even a run of thousands of tasks is a few MB, read whole.
  const text = gunzipSync(await object.Body.transformToByteArray()).toString('utf8');
  const tasks = text
    .split('\n')
    .filter((line) => line.trim())
    .map((line) => JSON.parse(line) as { cacheS3Uri?: string });
  return cacheUrisOf(tasks);
}
