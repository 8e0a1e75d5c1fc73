// Conformance: a real OmicsClient against the HealthOmics emulator accepts what the SDK sends and rejects what AWS rejects.
import {
  CancelRunCommand,
  ConflictException,
  DeleteRunCommand,
  GetRunCommand,
  GetRunTaskCommand,
  ListRunTasksCommand,
  ListRunsCommand,
  OmicsClient,
  ResourceNotFoundException,
  ValidationException,
  paginateListRunTasks,
  paginateListRuns,
} from '@aws-sdk/client-omics';
import { serveOmics } from './helpers';
import { OmicsEmulator, type RunFixtureInput } from '../../../local/omics';

const NOW = new Date('2025-06-01T12:00:00.000Z');

let emulator: OmicsEmulator;
let stop: () => Promise<void>;
let client: OmicsClient;

const run = (overrides: Partial<RunFixtureInput> = {}): RunFixtureInput => ({
  name: 'conformance',
  workflowId: '1234567',
  outputUri: 's3://omics-outputs/runs/',
  ...overrides,
});

beforeAll(async () => {
  emulator = new OmicsEmulator({ accountId: '111122223333', region: 'us-east-1', now: () => NOW });
  ({ client, stop } = await serveOmics(emulator));
});

afterAll(() => stop());

describe('GetRun', () => {
  it('returns every field the SDK models, with dates the SDK parses', async () => {
    const stored = emulator.addRun(
      run({
        name: 'full',
        runGroupId: '9938959',
        priority: 5,
        storageCapacity: 1200,
        storageType: 'STATIC',
        parameters: { sample: 'NA12878', nested: { n: 1 } },
        tags: { project: 'p1' },
        workflowVersionName: '3.0.0',
        cacheId: '1111111',
        cacheBehavior: 'CACHE_ON_FAILURE',
        engineVersion: '24.10.4',
        tasks: [{ name: 'align' }],
      }),
    );
    const got = await client.send(new GetRunCommand({ id: stored.id }));
    expect(got).toMatchObject({
      arn: `arn:aws:omics:us-east-1:111122223333:run/${stored.id}`,
      id: stored.id,
      runId: stored.id,
      uuid: stored.uuid,
      status: 'COMPLETED',
      workflowId: '1234567',
      workflowType: 'PRIVATE',
      workflowVersionName: '3.0.0',
      runGroupId: '9938959',
      name: 'full',
      priority: 5,
      parameters: { sample: 'NA12878', nested: { n: 1 } },
      storageCapacity: 1200,
      storageType: 'STATIC',
      outputUri: 's3://omics-outputs/runs/',
      runOutputUri: `s3://omics-outputs/runs/${stored.id}`,
      logLevel: 'ALL',
      logLocation: {
        engineLogStream: `arn:aws:logs:us-east-1:111122223333:log-group:/aws/omics/WorkflowLog:log-stream:run/${stored.id}/engine`,
        runLogStream: `arn:aws:logs:us-east-1:111122223333:log-group:/aws/omics/WorkflowLog:log-stream:run/${stored.id}`,
      },
      retentionMode: 'RETAIN',
      roleArn: 'arn:aws:iam::111122223333:role/OmicsWorkflowRole',
      tags: { project: 'p1' },
      cacheId: '1111111',
      cacheBehavior: 'CACHE_ON_FAILURE',
      engineVersion: '24.10.4',
    });
    expect(got.startedBy).toBeTruthy();
    expect(got.digest).toMatch(/^sha256:/);
    expect(got.creationTime).toBeInstanceOf(Date);
    expect(got.stopTime?.toISOString()).toBe(stored.stopTime);
    expect(got.creationTime!.getTime()).toBeLessThan(got.startTime!.getTime());
    expect(got.startTime!.getTime()).toBeLessThan(got.stopTime!.getTime());
  });

  it('is ResourceNotFoundException for an unknown run and ValidationException for a malformed id', async () => {
    await expect(client.send(new GetRunCommand({ id: '9999999' }))).rejects.toBeInstanceOf(ResourceNotFoundException);
    const bad = client.send(new GetRunCommand({ id: 'abc' }));
    await expect(bad).rejects.toBeInstanceOf(ValidationException);
    await expect(bad).rejects.toThrow(/at 'id' failed to satisfy constraint/);
    await expect(client.send(new GetRunCommand({ id: '1'.repeat(19) }))).rejects.toBeInstanceOf(ValidationException);
  });
});

describe('ListRuns', () => {
  const group = '7777777';
  beforeAll(() => {
    for (let i = 0; i < 23; i++) emulator.addRun(run({ name: `paged-${i}`, runGroupId: group, status: i % 3 === 0 ? 'FAILED' : 'COMPLETED' }));
  });

  it('pages with the SDK paginator, each run once', async () => {
    const ids: string[] = [];
    let pages = 0;
    for await (const page of paginateListRuns({ client, pageSize: 5 }, { runGroupId: group })) {
      pages++;
      expect(page.items!.length).toBeLessThanOrEqual(5);
      for (const item of page.items ?? []) {
        ids.push(item.id!);
        expect(item.creationTime).toBeInstanceOf(Date);
        expect(Object.keys(item)).not.toContain('uuid'); // RunListItem has no uuid: callers must GetRun
      }
    }
    expect(pages).toBe(5);
    expect(ids).toHaveLength(23);
    expect(new Set(ids).size).toBe(23);
  });

  it('filters by name, run group and status', async () => {
    const byName = await client.send(new ListRunsCommand({ name: 'paged-4' }));
    expect(byName.items?.map((r) => r.name)).toEqual(['paged-4']);
    const failed = [];
    for await (const page of paginateListRuns({ client }, { runGroupId: group, status: 'FAILED' })) failed.push(...(page.items ?? []));
    expect(failed).toHaveLength(8);
    expect(failed.every((r) => r.status === 'FAILED')).toBe(true);
  });

  it('rejects a token it did not issue, and bad maxResults, as AWS does', async () => {
    await expect(client.send(new ListRunsCommand({ startingToken: 'made-up-token' }))).rejects.toBeInstanceOf(ValidationException);
    await expect(client.send(new ListRunsCommand({ maxResults: 0 }))).rejects.toBeInstanceOf(ValidationException);
    await expect(client.send(new ListRunsCommand({ maxResults: 101 }))).rejects.toThrow(/less than or equal to 100/);
    await expect(client.send(new ListRunsCommand({ status: 'BOGUS' as never }))).rejects.toBeInstanceOf(ValidationException);
    await expect(client.send(new ListRunsCommand({ runGroupId: 'x1' }))).rejects.toBeInstanceOf(ValidationException);
  });

  it('rejects a token from one list used on another', async () => {
    const first = await client.send(new ListRunsCommand({ runGroupId: group, maxResults: 2 }));
    expect(first.nextToken).toBeDefined();
    await expect(client.send(new ListRunsCommand({ maxResults: 2, startingToken: first.nextToken }))).rejects.toBeInstanceOf(ValidationException);
  });
});

describe('ListRunTasks and GetRunTask', () => {
  it('pages 250 tasks and serves every GetRunTask field', async () => {
    const stored = emulator.addRun(
      run({
        name: 'many-tasks',
        tasks: Array.from({ length: 250 }, (_, i) => ({
          name: `t-${i}`,
          status: i === 7 ? ('FAILED' as const) : undefined,
          failureReason: i === 7 ? 'OutOfMemory' : undefined,
          statusMessage: i === 7 ? 'Task ran out of memory' : undefined,
          cpus: 4,
          memory: 16,
          gpus: 0,
          cacheHit: false,
          imageDetails: { image: 'repo/img:1', imageDigest: 'sha256:abc', sourceImage: 'docker.io/img:1' },
        })),
      }),
    );
    const tasks = [];
    for await (const page of paginateListRunTasks({ client, pageSize: 100 }, { id: stored.id })) tasks.push(...(page.items ?? []));
    expect(tasks).toHaveLength(250);
    expect(new Set(tasks.map((t) => t.taskId)).size).toBe(250);
    expect(tasks[0]).not.toHaveProperty('logStream'); // TaskListItem has no logStream

    const failed = await client.send(new ListRunTasksCommand({ id: stored.id, status: 'FAILED' }));
    expect(failed.items?.map((t) => t.name)).toEqual(['t-7']);

    const detail = await client.send(new GetRunTaskCommand({ id: stored.id, taskId: failed.items![0].taskId }));
    expect(detail).toMatchObject({
      taskId: failed.items![0].taskId,
      status: 'FAILED',
      name: 't-7',
      cpus: 4,
      memory: 16,
      gpus: 0,
      instanceType: 'omics.c.large',
      cacheHit: false,
      statusMessage: 'Task ran out of memory',
      failureReason: 'OutOfMemory',
      logStream: `arn:aws:logs:us-east-1:111122223333:log-group:/aws/omics/WorkflowLog:log-stream:run/${stored.id}/task/${failed.items![0].taskId}`,
      imageDetails: { image: 'repo/img:1', imageDigest: 'sha256:abc', sourceImage: 'docker.io/img:1' },
    });
    expect(detail.creationTime).toBeInstanceOf(Date);
    expect(detail.startTime).toBeInstanceOf(Date);
    expect(detail.stopTime).toBeInstanceOf(Date);

    await expect(client.send(new GetRunTaskCommand({ id: stored.id, taskId: '1' }))).rejects.toBeInstanceOf(ResourceNotFoundException);
    await expect(client.send(new ListRunTasksCommand({ id: stored.id, maxResults: 1000 }))).rejects.toBeInstanceOf(ValidationException);
    await expect(client.send(new ListRunTasksCommand({ id: stored.id, startingToken: 'nope' }))).rejects.toBeInstanceOf(ValidationException);
  });
});

describe('DeleteRun and id reuse', () => {
  it('refuses to delete a RUNNING run (ConflictException)', async () => {
    const running = emulator.addRun(run({ name: 'running', status: 'RUNNING' }));
    expect(running.stopTime).toBeUndefined();
    const attempt = client.send(new DeleteRunCommand({ id: running.id }));
    await expect(attempt).rejects.toBeInstanceOf(ConflictException);
    await expect(attempt).rejects.toMatchObject({ $metadata: { httpStatusCode: 409 } });
    emulator.setRunStatus(running.id, 'COMPLETED');
    const after = await client.send(new GetRunCommand({ id: running.id }));
    expect(after.status).toBe('COMPLETED');
    expect(after.stopTime?.toISOString()).toBe(NOW.toISOString());
  });

  it('deletes a finished run (202); afterwards GetRun, ListRunTasks and DeleteRun are ResourceNotFound', async () => {
    const done = emulator.addRun(run({ name: 'to-delete', tasks: [{ name: 'a' }] }));
    const deleted = await client.send(new DeleteRunCommand({ id: done.id }));
    expect(deleted.$metadata.httpStatusCode).toBe(202);
    await expect(client.send(new GetRunCommand({ id: done.id }))).rejects.toBeInstanceOf(ResourceNotFoundException);
    await expect(client.send(new ListRunTasksCommand({ id: done.id }))).rejects.toBeInstanceOf(ResourceNotFoundException);
    await expect(client.send(new DeleteRunCommand({ id: done.id }))).rejects.toBeInstanceOf(ResourceNotFoundException);
    expect(emulator.runs().map((r) => r.id)).not.toContain(done.id);
  });

  it('reuses a deleted run id for the next run, with a different uuid', async () => {
    const first = emulator.addRun(run({ name: 'first-holder', status: 'FAILED' }));
    await client.send(new DeleteRunCommand({ id: first.id }));
    const second = emulator.addRun(run({ name: 'second-holder' }));
    expect(second.id).toBe(first.id);
    expect(second.uuid).not.toBe(first.uuid);
    const got = await client.send(new GetRunCommand({ id: first.id }));
    expect(got.name).toBe('second-holder');
    expect(got.uuid).toBe(second.uuid);
  });

  it('cancels an active run and refuses to cancel a finished one', async () => {
    const active = emulator.addRun(run({ name: 'cancel-me', status: 'RUNNING' }));
    const cancelled = await client.send(new CancelRunCommand({ id: active.id }));
    expect(cancelled.$metadata.httpStatusCode).toBe(202);
    expect((await client.send(new GetRunCommand({ id: active.id }))).status).toBe('CANCELLED');
    await expect(client.send(new CancelRunCommand({ id: active.id }))).rejects.toBeInstanceOf(ConflictException);
  });
});

describe('addRun', () => {
  it('refuses an explicit id already in use and names the bad field of a fixture', () => {
    const held = emulator.addRun(run({ name: 'held' }));
    expect(() => emulator.addRun(run({ id: held.id }))).toThrow(/already in use/);
    expect(() => emulator.addRun({ workflowId: '1', outputUri: 's3://b/x/' } as RunFixtureInput)).toThrow(/name: /);
  });
});
