// ListWorkflows and StartRun through a real OmicsClient, and the run driver moving started runs along on its timers.
import {
  CancelRunCommand,
  GetRunCommand,
  ListRunTasksCommand,
  ListWorkflowsCommand,
  OmicsClient,
  ResourceNotFoundException,
  StartRunCommand,
  ValidationException,
  paginateListWorkflows,
  type StartRunCommandInput,
} from '@aws-sdk/client-omics';
import type { CloudWatchLogsClient } from '@aws-sdk/client-cloudwatch-logs';
import type { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import type { S3Client } from '@aws-sdk/client-s3';
import { serveOmics } from './helpers';
import { OmicsEmulator, RunDriver, demoWorkflow, type StoredRun } from '../../../local/omics';

const ROLE = 'arn:aws:iam::111122223333:role/OmicsWorkflowRole';

let emulator: OmicsEmulator;
let stop: () => Promise<void>;
let client: OmicsClient;
let workflowId: string;

beforeAll(async () => {
  emulator = new OmicsEmulator({ accountId: '111122223333', region: 'us-east-1' });
  workflowId = emulator.addWorkflow(demoWorkflow()).id;
  ({ client, stop } = await serveOmics(emulator));
});

afterAll(() => stop());

const start = (input: Partial<StartRunCommandInput> = {}) =>
  client.send(new StartRunCommand({ workflowId, roleArn: ROLE, outputUri: 's3://omics-outputs/runs/', name: 'started', ...input }));

describe('ListWorkflows', () => {
  it('lists registered workflows as WorkflowListItems, pages, and filters by name and type', async () => {
    for (let i = 0; i < 4; i++) emulator.addWorkflow({ name: `extra-${i}` });
    const all = await client.send(new ListWorkflowsCommand({}));
    expect(all.items).toHaveLength(5);
    const demo = all.items!.find((w) => w.id === workflowId)!;
    expect(demo).toEqual({
      arn: `arn:aws:omics:us-east-1:111122223333:workflow/${workflowId}`,
      id: workflowId,
      name: 'germline-variant-calling',
      status: 'ACTIVE',
      type: 'PRIVATE',
      digest: expect.stringMatching(/^sha256:/) as string,
      creationTime: expect.any(Date) as Date,
    });
    const ids: string[] = [];
    for await (const page of paginateListWorkflows({ client, pageSize: 2 }, {})) ids.push(...(page.items ?? []).map((w) => w.id!));
    expect(new Set(ids).size).toBe(5);
    expect((await client.send(new ListWorkflowsCommand({ name: 'extra-2' }))).items!.map((w) => w.name)).toEqual(['extra-2']);
    expect((await client.send(new ListWorkflowsCommand({ type: 'READY2RUN' }))).items).toEqual([]);
    await expect(client.send(new ListWorkflowsCommand({ maxResults: 0 }))).rejects.toBeInstanceOf(ValidationException);
  });
});

describe('StartRun', () => {
  it('answers 201 with arn, id, status PENDING, uuid, runOutputUri and tags; GetRun then finds the run', async () => {
    const started = await start({ tags: { project: 'p1' }, parameters: { sample_name: 'NA12878' } });
    expect(started).toMatchObject({
      arn: `arn:aws:omics:us-east-1:111122223333:run/${started.id}`,
      id: expect.stringMatching(/^\d+$/) as string,
      status: 'PENDING',
      uuid: expect.any(String) as string,
      runOutputUri: `s3://omics-outputs/runs/${started.id}`,
      tags: { project: 'p1' },
    });
    const got = await client.send(new GetRunCommand({ id: started.id }));
    expect(got).toMatchObject({ status: 'PENDING', workflowId, roleArn: ROLE, name: 'started', parameters: { sample_name: 'NA12878' } });
    expect(got.startTime).toBeUndefined();
    const tasks = await client.send(new ListRunTasksCommand({ id: started.id }));
    expect(tasks.items!.map((t) => t.status)).toEqual(['PENDING', 'PENDING', 'PENDING', 'PENDING']);
  });

  it('starts a run once per requestId (the SDK fills one in; a retry with it gets the same run)', async () => {
    const first = await start({ requestId: 'retry-me' });
    const again = await start({ requestId: 'retry-me' });
    expect(again.id).toBe(first.id);
    expect(again.uuid).toBe(first.uuid);
    const other = await start();
    expect(other.id).not.toBe(first.id);
  });

  it('refuses what AWS refuses, with the modeled errors', async () => {
    const refused = async (input: Partial<StartRunCommandInput>, type: unknown, message: RegExp) => {
      const call = start(input);
      await expect(call).rejects.toBeInstanceOf(type);
      await expect(call).rejects.toThrow(message);
    };
    await refused({ workflowId: '9999999' }, ResourceNotFoundException, /Workflow 9999999 not found/);
    await refused({ workflowId: undefined }, ValidationException, /workflowId or runId/);
    await refused(
      { workflowId: 'abc' },
      ValidationException,
      /at 'workflowId' failed to satisfy constraint: Member must satisfy regular expression pattern: \[0-9\]\+/,
    );
    await refused({ roleArn: 'not-an-arn' }, ValidationException, /at 'roleArn' failed to satisfy constraint/);
    await refused({ roleArn: 'arn:aws:s3:::bucket' }, ValidationException, /must be an IAM role ARN/);
    await refused({ outputUri: 'https://bucket/prefix/' }, ValidationException, /must be an S3 URI/);
    await refused({ outputUri: undefined }, ValidationException, /Value null at 'outputUri' failed to satisfy constraint: Member must not be null/);
    await refused({ priority: -1, storageType: 'TAPE' as 'STATIC' }, ValidationException, /^2 validation errors detected/);
    await refused({ parameters: { typo: 1 } }, ValidationException, /not in the workflow's parameter template: typo/);
    await refused({ runGroupId: '1234567' }, ResourceNotFoundException, /Run group 1234567/);
    await refused({ workflowType: 'READY2RUN' }, ResourceNotFoundException, /Ready2Run/);
    await refused({ runId: '9999999', workflowId: undefined }, ResourceNotFoundException, /Run 9999999/);
  });

  it('duplicates a run given its runId, keeping its workflow and parameters', async () => {
    const original = await start({ parameters: { sample_name: 'dup' } });
    const copy = await start({ workflowId: undefined, runId: original.id, name: undefined });
    const got = await client.send(new GetRunCommand({ id: copy.id }));
    expect(got).toMatchObject({ workflowId, name: 'started', parameters: { sample_name: 'dup' } });
  });
});

describe('RunDriver', () => {
  /** Clients that only record: a run with logLevel OFF and no outputs writes nothing to S3 or CloudWatch Logs. */
  function recordingClients() {
    const events: { status: string; runId: string }[] = [];
    const send = jest.fn((command: { input: { Entries?: { Detail?: string }[] } }) => {
      for (const entry of command.input.Entries ?? []) events.push(JSON.parse(entry.Detail ?? '{}') as { status: string; runId: string });
      return Promise.resolve({ FailedEntryCount: 0 });
    });
    const unused = { send: jest.fn(() => Promise.reject(new Error('not expected'))) };
    return {
      events,
      eventsClient: { send } as unknown as EventBridgeClient,
      s3: unused as unknown as S3Client,
      logs: unused as unknown as CloudWatchLogsClient,
    };
  }

  async function until(check: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!check()) {
      if (Date.now() > deadline) throw new Error(`no ${what} within ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  it('moves a started run PENDING → STARTING → RUNNING → COMPLETED, one event per status, tasks and times with it', async () => {
    const local = new OmicsEmulator({ accountId: '111122223333' });
    const workflow = local.addWorkflow({ name: 'quiet', tasks: [{ name: 'a' }, { name: 'b' }] });
    const recorded = recordingClients();
    const driver = new RunDriver({
      emulator: local,
      s3: recorded.s3,
      logs: recorded.logs,
      events: recorded.eventsClient,
      delays: { pendingMs: 20, startingMs: 20, runningMs: 20 },
    });
    try {
      const seen: string[] = [];
      const { client: c, stop: stopLocal } = await serveOmics(local);
      try {
        const started = await c.send(
          new StartRunCommand({ workflowId: workflow.id, roleArn: ROLE, outputUri: 's3://out-bucket/', logLevel: 'OFF', requestId: 'r1' }),
        );
        const status = () => local.runs().find((r: StoredRun) => r.id === started.id)!.status;
        await until(() => {
          if (seen.at(-1) !== status()) seen.push(status());
          return status() === 'COMPLETED';
        }, 'COMPLETED');
        await until(() => recorded.events.length === 4, 'four events');
        expect(recorded.events.map((e) => e.status)).toEqual(['PENDING', 'STARTING', 'RUNNING', 'COMPLETED']);
        expect(seen[seen.length - 1]).toBe('COMPLETED');
        const run = await c.send(new GetRunCommand({ id: started.id }));
        expect(run.startTime!.getTime()).toBeLessThanOrEqual(run.stopTime!.getTime());
        const tasks = local.tasks(started.id!);
        expect(tasks.map((t) => t.status)).toEqual(['COMPLETED', 'COMPLETED']);
        expect(tasks.every((t) => t.startTime && t.stopTime)).toBe(true);
        expect(driver.active).toBe(0);

        // CancelRun while it runs: the driver reports CANCELLED and does not complete it.
        const second = await c.send(
          new StartRunCommand({ workflowId: workflow.id, roleArn: ROLE, outputUri: 's3://out-bucket/', logLevel: 'OFF', requestId: 'r2' }),
        );
        await until(() => local.runs().find((r) => r.id === second.id)!.status === 'STARTING', 'STARTING');
        await c.send(new CancelRunCommand({ id: second.id }));
        await until(() => recorded.events.some((e) => e.runId === second.id && e.status === 'CANCELLED'), 'the CANCELLED event');
        expect(local.runs().find((r) => r.id === second.id)!.status).toBe('CANCELLED');
      } finally {
        await stopLocal();
      }
    } finally {
      await driver.close();
    }
  });

  it('close() stops every timer: a run started before it stays where it was', async () => {
    const local = new OmicsEmulator();
    const workflow = local.addWorkflow({ name: 'slow' });
    const recorded = recordingClients();
    const driver = new RunDriver({ emulator: local, s3: recorded.s3, logs: recorded.logs, events: recorded.eventsClient, delays: { pendingMs: 60_000 } });
    const run = local.addRun({ name: 'x', workflowId: workflow.id, outputUri: 's3://out-bucket/', status: 'PENDING' });
    driver.start(run.id);
    await until(() => recorded.events.length === 1, 'the PENDING event');
    expect(driver.active).toBe(1);
    await driver.close();
    expect(driver.active).toBe(0);
    expect(local.runs()[0].status).toBe('PENDING');
  });
});
