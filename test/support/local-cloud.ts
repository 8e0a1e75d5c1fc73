// Test support: one local cloud per test file, and the waits and observers workflow tests share.
import { CreateQueueCommand, GetQueueAttributesCommand, ReceiveMessageCommand, DeleteMessageBatchCommand } from '@aws-sdk/client-sqs';
import { SubscribeCommand } from '@aws-sdk/client-sns';
import { PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { HeadObjectCommand } from '@aws-sdk/client-s3';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ListExecutionsCommand, type HistoryEvent } from '@aws-sdk/client-sfn';
import { executionName } from '../../functions/lib/archive/trigger-archive';
import * as clients from '../../functions/lib/runtime/clients';
import { RunIndex, type ArchiveState, type RunRecord } from '../../functions/lib/index/run-index';
import { parseConfig, type ArchiverConfigInput } from '../../functions/lib/contract';
import { startLocalCloud, type LocalCloud, type LocalCloudOptions } from '../../local/local-cloud';
import { loadRunFixture, syntheticRun, type RunFixtureInput } from '../../local/omics';
import { executionArnOf, failureOf, followExecution, history, statesEntered } from '../../bin/commands/executions';

/** Starts a local cloud before the file's tests and stops it after; the getter fails loudly if used too early. */
export function useLocalCloud(policy: ArchiverConfigInput, options: Partial<Omit<LocalCloudOptions, 'config'>> = {}): () => LocalCloud {
  let cloud: LocalCloud | undefined;
  beforeAll(async () => {
    cloud = await startLocalCloud({
      config: parseConfig(policy, 'the test policy'),
      // Handler logs are noise in a passing run; LOCAL_CLOUD_LOG_LEVEL=INFO shows them when one fails.
      logLevel: (process.env.LOCAL_CLOUD_LOG_LEVEL as LocalCloudOptions['logLevel']) ?? 'SILENT',
      ...options,
    });
  }, 60_000);
  afterAll(async () => {
    await cloud?.stop();
  }, 30_000);
  return () => {
    if (!cloud) throw new Error('the local cloud is not running (did beforeAll fail?)');
    return cloud;
  };
}

export const index = (cloud: LocalCloud) => new RunIndex(clients.documentClient(), cloud.resources.runIndexTable);

/** Loads a synthetic run (outputs, logs, status event) and returns it; the event starts the archive through the trigger. */
export async function loadRun(cloud: LocalCloud, overrides: Partial<RunFixtureInput> = {}, options: { publishEvent?: boolean; outputBucket: string }) {
  const fixture = syntheticRun({ outputUri: `s3://${options.outputBucket}/runs/`, overrides });
  return loadRunFixture(fixture, {
    emulator: cloud.omics,
    s3: clients.s3Client(),
    logs: clients.logsClient(),
    events: clients.eventsClient(),
    publishEvent: options.publishEvent,
  });
}

export interface FinishedExecution {
  arn: string;
  status: string;
  states: string[];
  events: HistoryEvent[];
  failure?: { state?: string; error?: string; cause?: string };
}

/** Waits for an execution (started by the trigger or by the test) to finish, and reads its history. */
export async function finished(stateMachineArn: string, name: string, timeoutMs = 90_000): Promise<FinishedExecution> {
  const sfn = clients.sfnClient();
  const arn = executionArnOf(stateMachineArn, name);
  const described = await followExecution(sfn, arn, { timeoutMs });
  const events = await history(sfn, arn);
  return { arn, status: described.status ?? 'UNKNOWN', states: statesEntered(events), events, failure: failureOf(events) };
}

export const archiveExecution = (cloud: LocalCloud, runId: string, runUuid: string, timeoutMs?: number) =>
  finished(cloud.resources.stateMachines.archiveRun, executionName(runId, runUuid), timeoutMs);

export async function executionsNamed(stateMachineArn: string, prefix: string): Promise<string[]> {
  const names: string[] = [];
  let nextToken: string | undefined;
  do {
    const page = await clients.sfnClient().send(new ListExecutionsCommand({ stateMachineArn, nextToken }));
    names.push(...(page.executions ?? []).map((e) => e.name ?? '').filter((n) => n.startsWith(prefix)));
    nextToken = page.nextToken;
  } while (nextToken);
  return names;
}

/** Polls the index until the run reaches one of `states` (or the timeout passes) and returns its record. */
export async function runReaches(cloud: LocalCloud, runUuid: string, states: ArchiveState[], timeoutMs = 30_000): Promise<RunRecord | undefined> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const record = await index(cloud).getRun(runUuid);
    if ((record && states.includes(record.archiveState)) || Date.now() > deadline) return record;
    await new Promise((r) => setTimeout(r, 250));
  }
}

export interface PublishedEvent {
  body: Record<string, unknown>;
  attributes: Record<string, string>;
}

/** An SQS queue subscribed to the archive-events topic with no filter: every announcement the workflow makes. */
export async function observeArchiveEvents(cloud: LocalCloud, name = `observer-${Date.now()}`): Promise<() => Promise<PublishedEvent[]>> {
  return observeTopic(cloud.resources.archiveEventsTopicArn, name);
}

/** An SQS queue subscribed to the restore-events topic with no filter: every RESTORE_COMPLETED and RESTORE_FAILED. */
export async function observeRestoreEvents(cloud: LocalCloud, name = `restore-observer-${Date.now()}`): Promise<() => Promise<PublishedEvent[]>> {
  return observeTopic(cloud.resources.restoreEventsTopicArn, name);
}

/** An SQS queue subscribed to a topic with raw delivery (attributes arrive as SQS attributes), as the stack subscribes queues. */
async function observeTopic(topicArn: string, name: string): Promise<() => Promise<PublishedEvent[]>> {
  const sqs = clients.sqsClient();
  const url = (await sqs.send(new CreateQueueCommand({ QueueName: name }))).QueueUrl ?? '';
  const arn = (await sqs.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['QueueArn'] }))).Attributes?.QueueArn ?? '';
  await clients.snsClient().send(new SubscribeCommand({ TopicArn: topicArn, Protocol: 'sqs', Endpoint: arn, Attributes: { RawMessageDelivery: 'true' } }));
  const seen: PublishedEvent[] = [];
  return async () => {
    for (;;) {
      const { Messages = [] } = await sqs.send(
        new ReceiveMessageCommand({ QueueUrl: url, MaxNumberOfMessages: 10, MessageAttributeNames: ['All'], WaitTimeSeconds: 0 }),
      );
      if (!Messages.length) return seen;
      for (const m of Messages) {
        seen.push({
          body: JSON.parse(m.Body ?? '{}') as Record<string, unknown>,
          attributes: Object.fromEntries(Object.entries(m.MessageAttributes ?? {}).map(([k, v]) => [k, v.StringValue ?? ''])),
        });
      }
      await sqs.send(new DeleteMessageBatchCommand({ QueueUrl: url, Entries: Messages.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle })) }));
    }
  };
}

/** Waits until `check` holds, polling; returns its last value. */
export async function eventually<T>(check: () => Promise<T>, ok: (value: T) => boolean, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (ok(value) || Date.now() > deadline) return value;
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** Whether the object is there (HeadObject), as the tests check a source kept or removed and a restore written. */
export async function objectExists(bucket: string, key: string): Promise<boolean> {
  try {
    await clients.s3Client().send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
    return true;
  } catch (error) {
    if ((error as Error).name === 'NotFound' || (error as Error).name === 'NoSuchKey') return false;
    throw error;
  }
}

/** Puts HealthOmics' Run Status Change event for the run on the bus, as HealthOmics does when the run ends. */
export async function announceRunStatus(run: { arn: string; id: string; uuid: string }, status = 'COMPLETED'): Promise<void> {
  await clients.eventsClient().send(
    new PutEventsCommand({
      Entries: [{ Source: 'aws.omics', DetailType: 'Run Status Change', Detail: JSON.stringify({ arn: run.arn, runId: run.id, status, uuid: run.uuid }) }],
    }),
  );
}

/** Writes files to `<root>/<name>/` for a fixture's `outputsFolder`, so a run's files carry these bytes (a fixture's `content` is text). */
export function writeOutputsFolder(root: string, name: string, files: Record<string, Buffer>): string {
  const folder = path.join(root, name);
  for (const [file, bytes] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(folder, file)), { recursive: true });
    fs.writeFileSync(path.join(folder, file), bytes);
  }
  return folder;
}
