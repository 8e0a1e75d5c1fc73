// The local cloud's plumbing: moto's ASL interpreter → front door → real handlers, SQS task tokens, routing, errors, stop().
import { GetVaultNotificationsCommand, InitiateJobCommand, ListVaultsCommand } from '@aws-sdk/client-glacier';
import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { ListRunsCommand } from '@aws-sdk/client-omics';
import { CreateBucketCommand, GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { CreateStateMachineCommand, SendTaskSuccessCommand, StartExecutionCommand } from '@aws-sdk/client-sfn';
import { SubscribeCommand } from '@aws-sdk/client-sns';
import { CreateQueueCommand, DeleteMessageCommand, GetQueueAttributesCommand, ReceiveMessageCommand } from '@aws-sdk/client-sqs';
import * as fs from 'node:fs';
import * as clients from '../../functions/lib/runtime/clients';
import type { RestoreItem } from '../../functions/lib/contract';
import { syntheticRun } from '../../local/omics';
import { finished, useLocalCloud } from '../support/local-cloud';
import { WORKFLOW_POLICY } from '../support/policies';
import { alive, portIsFree } from '../support/processes';

jest.setTimeout(60_000);
const cloud = useLocalCloud(WORKFLOW_POLICY);

const ITEMS_BUCKET = 'smoke-chain-items';
const ROLE = 'arn:aws:iam::123456789012:role/smoke';

/** Items as the restore workflow's planner writes them; `retrieval: 'none'` makes check-retrieval answer without AWS. */
function items(count: number, tag: string): RestoreItem[] {
  return Array.from({ length: count }, (_, i) => ({
    runUuid: '00000000-0000-4000-8000-000000000000',
    restoreId: `smoke-${tag}`,
    path: `out/file-${i}.txt`,
    size: 0,
    retrieval: 'none',
    tier: 'Expedited',
    destinationBucket: ITEMS_BUCKET,
    destinationKey: `restored/file-${i}.txt`,
    notificationWaitSeconds: 60,
    pollSeconds: 1,
  }));
}

/** Distributed Map over a JSON array in S3, each item through a real handler, then an SQS task-token wait. */
function chainDefinition(queueUrl: string, checkRetrievalArn: string): string {
  return JSON.stringify({
    StartAt: 'Check each item',
    States: {
      'Check each item': {
        Type: 'Map',
        ItemReader: {
          Resource: 'arn:aws:states:::s3:getObject',
          ReaderConfig: { InputType: 'JSON' },
          Parameters: { 'Bucket.$': '$.bucket', 'Key.$': '$.key' },
        },
        ItemSelector: { 'item.$': '$$.Map.Item.Value' },
        MaxConcurrency: 2,
        ItemProcessor: {
          ProcessorConfig: { Mode: 'DISTRIBUTED', ExecutionType: 'STANDARD' },
          StartAt: 'Check retrieval',
          States: {
            'Check retrieval': {
              Type: 'Task',
              Resource: 'arn:aws:states:::lambda:invoke',
              Parameters: { FunctionName: checkRetrievalArn, Payload: { 'item.$': '$.item' } },
              ResultSelector: { 'ready.$': '$.Payload.ready', 'status.$': '$.Payload.status' },
              End: true,
            },
          },
        },
        ResultPath: '$.checks',
        Next: 'Wait for approval',
      },
      'Wait for approval': {
        Type: 'Task',
        Resource: 'arn:aws:states:::sqs:sendMessage.waitForTaskToken',
        Parameters: { QueueUrl: queueUrl, MessageBody: { 'token.$': '$$.Task.Token', 'execution.$': '$$.Execution.Name' } },
        TimeoutSeconds: 30,
        ResultPath: '$.approval',
        End: true,
      },
    },
  });
}

/** A task whose function is chosen by the input; Catch clauses on the error names the handlers throw. */
const ERRORS_DEFINITION = JSON.stringify({
  StartAt: 'Invoke',
  States: {
    Invoke: {
      Type: 'Task',
      Resource: 'arn:aws:states:::lambda:invoke',
      Parameters: { 'FunctionName.$': '$.function', 'Payload.$': '$.payload' },
      Catch: [
        { ErrorEquals: ['ZodError'], ResultPath: '$.error', Next: 'Caught ZodError' },
        { ErrorEquals: ['RunNotFound'], ResultPath: '$.error', Next: 'Caught RunNotFound' },
      ],
      End: true,
    },
    'Caught ZodError': { Type: 'Succeed' },
    'Caught RunNotFound': { Type: 'Succeed' },
  },
});

async function createStateMachine(name: string, definition: string): Promise<string> {
  const created = await clients.sfnClient().send(new CreateStateMachineCommand({ name, definition, roleArn: ROLE, type: 'STANDARD' }));
  return created.stateMachineArn ?? '';
}

async function startExecution(stateMachineArn: string, name: string, input: unknown): Promise<void> {
  await clients.sfnClient().send(new StartExecutionCommand({ stateMachineArn, name, input: JSON.stringify(input) }));
}

/** Receives the task token the execution sent to the queue (long polls, bounded). */
async function tokenFrom(queueUrl: string, execution: string): Promise<string> {
  const sqs = clients.sqsClient();
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    const { Messages = [] } = await sqs.send(new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 1, WaitTimeSeconds: 1 }));
    for (const message of Messages) {
      await sqs.send(new DeleteMessageCommand({ QueueUrl: queueUrl, ReceiptHandle: message.ReceiptHandle }));
      const body = JSON.parse(message.Body ?? '{}') as { token?: string; execution?: string };
      if (body.execution === execution && body.token) return body.token;
    }
  }
  throw new Error(`no task token from ${execution} arrived on ${queueUrl}`);
}

/** moto's own view of its models, by service and model name (unsigned requests through the front door go to moto). */
async function motoState(): Promise<Record<string, Record<string, Record<string, unknown>[]>>> {
  const response = await fetch(`${cloud().endpoint}/moto-api/data.json`);
  expect(response.status).toBe(200);
  return (await response.json()) as Record<string, Record<string, Record<string, unknown>[]>>;
}

/** moto_server's process, a child of this one, found by its launcher script; its port is on its command line. */
function motoProcess(): { pid: number; port: number } {
  const found: { pid: number; port: number }[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      const argv = fs.readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
      if (ppid === process.pid && argv.some((a) => a.endsWith('moto_launcher.py')))
        found.push({ pid: Number(entry), port: Number(argv[argv.indexOf('--port') + 1]) });
    } catch {
      // the process ended while we looked
    }
  }
  expect(found).toHaveLength(1);
  return found[0];
}

describe('local cloud', () => {
  test('chain: S3 ItemReader → Distributed Map → real handler through the front door → SQS task token, three executions in a row', async () => {
    const s3 = clients.s3Client();
    await s3.send(new CreateBucketCommand({ Bucket: ITEMS_BUCKET }));
    const queueUrl = (await clients.sqsClient().send(new CreateQueueCommand({ QueueName: 'smoke-approvals' }))).QueueUrl ?? '';
    const machine = await createStateMachine('smoke-chain', chainDefinition(queueUrl, cloud().lambdas.functionArn('checkRetrieval')));

    // moto 5.2 fails every StartExecution after the first unless the launcher's fix is in place: three, one after another.
    for (const [n, name] of ['first', 'second', 'third'].entries()) {
      const key = `items/${name}.json`;
      const count = n + 1;
      await s3.send(new PutObjectCommand({ Bucket: ITEMS_BUCKET, Key: key, Body: JSON.stringify(items(count, name)), ContentType: 'application/json' }));
      const execution = `smoke-${name}-${Date.now()}`;
      await startExecution(machine, execution, { bucket: ITEMS_BUCKET, key });
      const token = await tokenFrom(queueUrl, execution);
      await clients.sfnClient().send(new SendTaskSuccessCommand({ taskToken: token, output: JSON.stringify({ approvedFor: name }) }));

      const result = await finished(machine, execution, 30_000);
      expect(result.failure).toBeUndefined();
      expect(result.status).toBe('SUCCEEDED');
      expect(result.states).toEqual(['Check each item', 'Wait for approval']);
      const succeeded = result.events.find((e) => e.type === 'ExecutionSucceeded');
      const output = JSON.parse(succeeded?.executionSucceededEventDetails?.output ?? '{}') as unknown;
      expect(output).toEqual({
        bucket: ITEMS_BUCKET,
        key,
        checks: Array.from({ length: count }, () => ({ ready: true, status: 'nothing to retrieve' })),
        approval: { approvedFor: name },
      });
    }
  });

  test('the front door routes by credential scope: Glacier and HealthOmics to the emulators, S3 to moto', async () => {
    const vaults = await clients.glacierClient().send(new ListVaultsCommand({ accountId: '-' }));
    expect(vaults.VaultList?.map((v) => v.VaultName)).toEqual([cloud().resources.vaultName]);

    const run = cloud().omics.addRun(syntheticRun({ name: 'routing-probe-run', outputUri: 's3://routing-probe/' }));
    const runs = await clients.omicsClient().send(new ListRunsCommand({ name: 'routing-probe-run' }));
    expect(runs.items?.map((r) => r.id)).toEqual([run.id]);

    const bucket = 'routing-probe-bucket';
    await clients.s3Client().send(new CreateBucketCommand({ Bucket: bucket }));
    await clients.s3Client().send(new PutObjectCommand({ Bucket: bucket, Key: 'probe.txt', Body: 'moto holds this' }));
    const { Body } = await clients.s3Client().send(new GetObjectCommand({ Bucket: bucket, Key: 'probe.txt' }));
    expect(await Body?.transformToString()).toBe('moto holds this');

    // moto's own view: it has the bucket, and neither the vault nor the run (those live in the emulators).
    const state = await motoState();
    expect((state.s3?.FakeBucket ?? []).map((b) => b.name)).toEqual(expect.arrayContaining([bucket, cloud().resources.snapshotBucket]));
    expect(state.glacier?.Vault ?? []).toEqual([]);
    expect(Object.values(state.omics ?? {}).flat()).toEqual([]);
  });

  test('the vault announces each job once: it has no notification configuration, the job names the topic', async () => {
    const { vaultName, vaultJobsTopicArn } = cloud().resources;
    const glacier = clients.glacierClient();
    await expect(glacier.send(new GetVaultNotificationsCommand({ accountId: '-', vaultName }))).rejects.toMatchObject({ name: 'ResourceNotFoundException' });

    const sqs = clients.sqsClient();
    const queueUrl = (await sqs.send(new CreateQueueCommand({ QueueName: 'vault-job-notifications-probe' }))).QueueUrl ?? '';
    const { Attributes } = await sqs.send(new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['QueueArn'] }));
    await clients
      .snsClient()
      .send(new SubscribeCommand({ TopicArn: vaultJobsTopicArn, Protocol: 'sqs', Endpoint: Attributes?.QueueArn, Attributes: { RawMessageDelivery: 'true' } }));
    // An inventory job needs no archive; request-retrieval names the topic on its archive retrievals the same way.
    const { jobId } = await glacier.send(
      new InitiateJobCommand({ accountId: '-', vaultName, jobParameters: { Type: 'inventory-retrieval', SNSTopic: vaultJobsTopicArn } }),
    );
    await cloud().glacier.completeJobNow(jobId ?? '');

    // completeJobNow resolves once every notification is published: whatever is coming is on the queue now.
    const received: string[] = [];
    for (let empty = 0; empty < 2;) {
      const { Messages = [] } = await sqs.send(new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1 }));
      if (Messages.length === 0) empty += 1;
      for (const message of Messages) received.push(message.Body ?? '');
    }
    expect(received.map((body) => (JSON.parse(body) as { JobId?: string }).JobId)).toEqual([jobId]);
  });

  test('a handler error keeps its name: Lambda reports it as errorType, and Step Functions Catch matches it', async () => {
    const lambda = new LambdaClient({
      endpoint: cloud().endpoint,
      region: cloud().env.AWS_REGION,
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    });
    try {
      const zod = await lambda.send(
        new InvokeCommand({ FunctionName: cloud().lambdas.functionArn('checkRetrieval'), Payload: Buffer.from(JSON.stringify({ item: {} })) }),
      );
      expect(zod.StatusCode).toBe(200);
      expect(zod.FunctionError).toBe('Unhandled');
      expect(JSON.parse(Buffer.from(zod.Payload ?? []).toString())).toMatchObject({
        errorType: 'ZodError',
        errorMessage: expect.stringContaining('runUuid') as string,
      });

      const named = await lambda.send(
        new InvokeCommand({
          FunctionName: cloud().lambdas.functionArn('planRestore').split(':').pop(),
          Payload: Buffer.from(JSON.stringify({ request: { run: '987654321' }, restoreId: 'smoke' })),
        }),
      );
      expect(named.FunctionError).toBe('Unhandled');
      expect(JSON.parse(Buffer.from(named.Payload ?? []).toString())).toMatchObject({
        errorType: 'RunNotFound',
        errorMessage: expect.stringContaining('987654321') as string,
      });
    } finally {
      lambda.destroy();
    }

    const machine = await createStateMachine('smoke-errors', ERRORS_DEFINITION);
    const cases = [
      {
        name: 'zod',
        input: { function: cloud().lambdas.functionArn('checkRetrieval'), payload: { item: { path: 1 } } },
        state: 'Caught ZodError',
        error: 'ZodError',
      },
      {
        name: 'named',
        input: { function: cloud().lambdas.functionArn('planRestore'), payload: { request: { run: '987654321' }, restoreId: 'smoke-named' } },
        state: 'Caught RunNotFound',
        error: 'RunNotFound',
      },
    ];
    for (const c of cases) {
      const execution = `smoke-error-${c.name}-${Date.now()}`;
      await startExecution(machine, execution, c.input);
      const result = await finished(machine, execution, 30_000);
      expect(result.status).toBe('SUCCEEDED');
      expect(result.states).toEqual(['Invoke', c.state]);
      const output = JSON.parse(result.events.find((e) => e.type === 'ExecutionSucceeded')?.executionSucceededEventDetails?.output ?? '{}') as {
        error?: { Error?: string; Cause?: string };
      };
      expect(output.error?.Error).toBe(c.error);
      expect(JSON.parse(output.error?.Cause ?? '{}')).toMatchObject({ errorType: c.error });
    }
  });

  // Last: it stops the file's cloud (afterAll's stop() then finds nothing left to do).
  test('stop() ends moto_server and frees the ports', async () => {
    const moto = motoProcess();
    const frontDoorPort = Number(new URL(cloud().endpoint).port);
    expect(alive(moto.pid)).toBe(true);
    expect(await portIsFree(moto.port)).toBe(false);
    expect(await portIsFree(frontDoorPort)).toBe(false);

    await cloud().stop();
    expect(alive(moto.pid)).toBe(false);
    expect(await portIsFree(moto.port)).toBe(true);
    expect(await portIsFree(frontDoorPort)).toBe(true);
    expect(fs.existsSync(cloud().dataDir)).toBe(false);
    await expect(cloud().stop()).resolves.toBeUndefined();
  });
});
