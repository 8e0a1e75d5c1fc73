// Run fixtures: validation names the bad field; loading writes outputs, logs and the status event where HealthOmics would.
import {
  CloudWatchLogsClient,
  CreateLogGroupCommand,
  CreateLogStreamCommand,
  PutLogEventsCommand,
  ResourceAlreadyExistsException,
  type InputLogEvent,
} from '@aws-sdk/client-cloudwatch-logs';
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { CompleteMultipartUploadCommand, CreateMultipartUploadCommand, PutObjectCommand, S3Client, UploadPartCommand } from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { FixtureError, OmicsEmulator, generate, loadRunFixture, parseRunFixture, syntheticRun, type RunFixtureInput } from '../../../local/omics';

const NOW = new Date('2025-06-01T12:00:00.000Z');
const s3 = new S3Client({ region: 'us-east-1' });
const logs = new CloudWatchLogsClient({ region: 'us-east-1' });
const events = new EventBridgeClient({ region: 'us-east-1' });
const s3Mock = mockClient(s3);
const logsMock = mockClient(logs);
const eventsMock = mockClient(events);

/** What landed in the mocked S3: whole objects by key (multipart parts joined). */
let objects: Map<string, Buffer>;
let parts: Map<string, Buffer[]>;
let logBatches: { stream: string; events: InputLogEvent[] }[];

function bodyBytes(body: unknown): Buffer {
  if (Buffer.isBuffer(body)) return body;
  if (body instanceof Uint8Array) return Buffer.from(body);
  if (typeof body === 'string') return Buffer.from(body);
  throw new Error(`unexpected body type ${typeof body}`);
}

beforeEach(() => {
  objects = new Map();
  parts = new Map();
  logBatches = [];
  s3Mock.reset();
  logsMock.reset();
  eventsMock.reset();
  s3Mock.on(PutObjectCommand).callsFake((input: { Key: string; Body?: unknown }) => {
    objects.set(input.Key, bodyBytes(input.Body));
    return Promise.resolve({ ETag: '"e"' });
  });
  s3Mock.on(CreateMultipartUploadCommand).callsFake((input: { Key: string }) => Promise.resolve({ UploadId: `upload:${input.Key}` }));
  s3Mock.on(UploadPartCommand).callsFake((input: { Key: string; PartNumber: number; Body?: unknown }) => {
    const list = parts.get(input.Key) ?? [];
    list[input.PartNumber - 1] = bodyBytes(input.Body);
    parts.set(input.Key, list);
    return Promise.resolve({ ETag: `"${input.PartNumber}"` });
  });
  s3Mock.on(CompleteMultipartUploadCommand).callsFake((input: { Key: string }) => {
    objects.set(input.Key, Buffer.concat(parts.get(input.Key) ?? []));
    return Promise.resolve({});
  });
  logsMock.on(CreateLogGroupCommand).resolves({});
  logsMock.on(CreateLogStreamCommand).resolves({});
  logsMock.on(PutLogEventsCommand).callsFake((input: { logStreamName: string; logEvents: InputLogEvent[] }) => {
    logBatches.push({ stream: input.logStreamName, events: input.logEvents });
    return Promise.resolve({});
  });
  eventsMock.on(PutEventsCommand).resolves({ FailedEntryCount: 0, Entries: [{ EventId: 'e1' }] });
});

const load = (fixture: RunFixtureInput, emulator = new OmicsEmulator({ now: () => NOW }), extra = {}) =>
  loadRunFixture(fixture, { emulator, s3, logs, events, now: () => NOW, ...extra });

function eventsOf(stream: string): InputLogEvent[] {
  return logBatches.filter((b) => b.stream === stream).flatMap((b) => b.events);
}

describe('fixture validation', () => {
  const valid: RunFixtureInput = { name: 'r', workflowId: '1', outputUri: 's3://bucket/prefix/' };

  it.each([
    [{ workflowId: '1', outputUri: 's3://bucket/p/' }, /name: Invalid input/],
    [{ ...valid, workflowId: undefined }, /workflowId: /],
    [{ ...valid, outputUri: 'https://bucket/p' }, /outputUri: must be an s3:\/\/bucket\/prefix\/ URI/],
    [{ ...valid, tasks: [{ name: 'a' }, {}] }, /tasks\[1\]\.name: /],
    [{ ...valid, outputs: [{ path: 'a.txt' }] }, /outputs\[0\]\.size: give size or content/],
    [{ ...valid, outputs: [{ path: '../escape', size: 1 }] }, /outputs\[0\]\.path: must be a relative path/],
    [{ ...valid, outputs: [{ path: 'a', size: '12 parsecs' }] }, /outputs\[0\]\.size: must be a number of bytes/],
    [{ ...valid, outputs: [{ path: 'a', size: 3, content: 'four' }] }, /outputs\[0\]\.size: is 3 but content has 4 bytes/],
    [{ ...valid, status: 'DONE' }, /status: /],
    [{ ...valid, stopTime: 'yesterday' }, /stopTime: must be an ISO-8601 date-time/],
    [{ ...valid, colour: 'red' }, /colour|Unrecognized key/],
  ])('names the field: %j', (fixture, message) => {
    expect(() => parseRunFixture(fixture)).toThrow(FixtureError);
    expect(() => parseRunFixture(fixture)).toThrow(message);
  });

  it('fills defaults and accepts sizes with units', () => {
    const parsed = parseRunFixture({ ...valid, outputs: [{ path: 'x.bam', size: '1.5 MiB' }] });
    expect(parsed).toMatchObject({ status: 'COMPLETED', workflowType: 'PRIVATE', storageType: 'DYNAMIC', logLevel: 'ALL', tasks: [], tags: {} });
    expect(parsed.outputs[0].size).toBe(1.5 * 1024 * 1024);
  });
});

describe('loadRunFixture', () => {
  it('loads the synthetic demo run where HealthOmics puts things', async () => {
    const emulator = new OmicsEmulator({ accountId: '111122223333', now: () => NOW });
    const run = await load(syntheticRun(), emulator);
    const prefix = `output/${run.id}`;

    // Registered: GetRun will serve it, its tasks have ids.
    expect(emulator.runs().map((r) => r.uuid)).toContain(run.uuid);
    const tasks = emulator.tasks(run.id);
    expect(tasks).toHaveLength(4);
    expect(run.runOutputUri).toBe(`s3://omics-run-outputs/${prefix}`);

    // Outputs under <runOutputUri>/out/, with the mixed sizes the demo promises.
    const fixture = parseRunFixture(syntheticRun());
    for (const file of fixture.outputs) {
      const body = objects.get(`${prefix}/out/${file.path}`);
      expect(body).toBeDefined();
      expect(body!.length).toBe(file.size ?? Buffer.byteLength(file.content ?? ''));
      if (file.content !== undefined) expect(body!.toString()).toBe(file.content);
    }
    expect(objects.get(`${prefix}/out/markers/empty.done`)!.length).toBe(0);
    expect(objects.has(`${prefix}/out/results/résumé final — 測試 (v2).txt`)).toBe(true);
    expect(parts.get(`${prefix}/out/aligned/sample-2.bam`)!.length).toBeGreaterThan(1); // over 5 MiB: multipart
    // Generated bytes are deterministic and differ between files.
    expect(objects.get(`${prefix}/out/aligned/sample-1.bam`)!.subarray(0, 64)).not.toEqual(objects.get(`${prefix}/out/aligned/sample-2.bam`)!.subarray(0, 64));

    // Engine log and outputs.json beside out/.
    expect(objects.get(`${prefix}/logs/engine.log`)!.toString().split('\n').filter(Boolean)).toHaveLength(200);
    const outputsJson = JSON.parse(objects.get(`${prefix}/logs/outputs.json`)!.toString()) as Record<string, string[]>;
    expect(outputsJson['germline-variant-calling.outputs']).toContain(`s3://omics-run-outputs/${prefix}/out/reports/summary.txt`);

    // Log streams in /aws/omics/WorkflowLog, named as HealthOmics names them.
    expect(logsMock).toHaveReceivedCommandWith(CreateLogGroupCommand, { logGroupName: '/aws/omics/WorkflowLog' });
    const streams = logsMock.commandCalls(CreateLogStreamCommand).map((c) => c.args[0].input.logStreamName);
    expect(streams).toEqual(
      expect.arrayContaining([
        `run/${run.id}/engine`,
        `run/${run.id}`,
        `manifest/run/${run.id}/${run.uuid}`,
        ...tasks.map((t) => `run/${run.id}/task/${t.taskId}`),
      ]),
    );
    expect(eventsOf(`run/${run.id}/engine`)).toHaveLength(200);
    expect(eventsOf(`run/${run.id}/task/${tasks[0].taskId}`)).toHaveLength(20);
    const manifest = eventsOf(`manifest/run/${run.id}/${run.uuid}`).map((e) => JSON.parse(e.message!) as { arn: string; metrics: object });
    expect(manifest).toHaveLength(5);
    expect(manifest[0].arn).toBe(run.arn);
    expect(manifest[1]).toMatchObject({ arn: `arn:aws:omics:us-east-1:111122223333:task/${tasks[0].taskId}`, metrics: { cpusReserved: 1 } });

    // Task log timestamps sit inside the task's own start..stop.
    const taskEvents = eventsOf(`run/${run.id}/task/${tasks[1].taskId}`);
    expect(taskEvents[0].timestamp).toBeGreaterThanOrEqual(Date.parse(tasks[1].startTime!));
    expect(taskEvents.at(-1)!.timestamp).toBeLessThanOrEqual(Date.parse(tasks[1].stopTime!));

    // The Run Status Change event, as HealthOmics sends it.
    expect(eventsMock).toHaveReceivedCommandTimes(PutEventsCommand, 1);
    const entry = eventsMock.commandCalls(PutEventsCommand)[0].args[0].input.Entries![0];
    expect(entry).toMatchObject({ Source: 'aws.omics', DetailType: 'Run Status Change', Resources: [run.arn] });
    expect(JSON.parse(entry.Detail!)).toEqual({
      omicsVersion: '1.0.0',
      arn: run.arn,
      status: 'COMPLETED',
      uuid: run.uuid,
      runId: run.id,
      runName: 'synthetic-germline-run',
      runOutputUri: run.runOutputUri,
      workflowId: '4074992',
      workflowName: 'germline-variant-calling',
    });
  });

  it('loads 1,000 generated tasks and a big engine log in PutLogEvents batches within AWS limits', async () => {
    const run = await load({
      name: 'big',
      workflowId: '42',
      outputUri: 's3://bucket/',
      tasks: generate.tasks(1000, { logLines: 2 }),
      engineLog: generate.log(25_000, `${'x'.repeat(90)} engine line {i}`),
      outputs: generate.outputs(30, { prefix: 'shards/part-', size: (i) => i * 100 }),
    });
    expect(run.runOutputUri).toBe(`s3://bucket/${run.id}`);
    expect(logsMock.commandCalls(CreateLogStreamCommand)).toHaveLength(1003);
    const engine = logBatches.filter((b) => b.stream === `run/${run.id}/engine`);
    expect(engine.length).toBeGreaterThanOrEqual(3); // 25,000 events: over 10,000 a batch and over 1 MB
    expect(engine.reduce((n, b) => n + b.events.length, 0)).toBe(25_000);
    for (const batch of logBatches) {
      expect(batch.events.length).toBeLessThanOrEqual(10_000);
      expect(batch.events.reduce((n, e) => n + Buffer.byteLength(e.message!) + 26, 0)).toBeLessThanOrEqual(1_048_576);
      const times = batch.events.map((e) => e.timestamp!);
      expect(times).toEqual([...times].sort((a, b) => a - b));
      expect(times.at(-1)! - times[0]).toBeLessThan(24 * 3600_000);
    }
    expect([...objects.keys()].filter((k) => k.startsWith(`${run.id}/out/shards/`))).toHaveLength(30);
  });

  it('moves the log timestamps of an old run into the window CloudWatch Logs accepts', async () => {
    const run = await load({ name: 'old', workflowId: '1', outputUri: 's3://bucket/o/', stopTime: '2025-01-01T00:00:00Z', tasks: [{ name: 'a' }] });
    const fourteenDaysAgo = NOW.getTime() - 14 * 24 * 3600_000;
    for (const batch of logBatches) {
      for (const e of batch.events) {
        expect(e.timestamp).toBeGreaterThan(fourteenDaysAgo);
        expect(e.timestamp).toBeLessThanOrEqual(NOW.getTime());
      }
    }
    expect(run.stopTime).toBe('2025-01-01T00:00:00.000Z');
  });

  it('uploads a local folder with relative paths kept', async () => {
    const folder = mkdtempSync(path.join(tmpdir(), 'omics-fixture-'));
    try {
      mkdirSync(path.join(folder, 'nested', 'déjà vu'), { recursive: true });
      writeFileSync(path.join(folder, 'top.txt'), 'top');
      writeFileSync(path.join(folder, 'nested', 'déjà vu', 'inner file.csv'), 'a,b\n1,2\n');
      const run = await load({ name: 'folder', workflowId: '1', outputUri: 's3://bucket/f/', outputsFolder: folder });
      expect(objects.get(`f/${run.id}/out/top.txt`)!.toString()).toBe('top');
      expect(objects.get(`f/${run.id}/out/nested/déjà vu/inner file.csv`)!.toString()).toBe('a,b\n1,2\n');
    } finally {
      rmSync(folder, { recursive: true, force: true });
    }
  });

  it("writes a CWL run's outputs one folder deeper, under <runOutputUri>/<uuid>/out/, and lists them so in outputs.json", async () => {
    const run = await load({ name: 'cwl', workflowId: '1', outputUri: 's3://bucket/c/', engine: 'CWL', outputs: [{ path: 'calls.vcf', content: 'v' }] });
    expect(objects.get(`c/${run.id}/${run.uuid}/out/calls.vcf`)!.toString()).toBe('v');
    expect(objects.has(`c/${run.id}/out/calls.vcf`)).toBe(false);
    expect(objects.get(`c/${run.id}/logs/outputs.json`)!.toString()).toContain(`s3://bucket/c/${run.id}/${run.uuid}/out/calls.vcf`);
  });

  it('tolerates a log group and streams that already exist, and can skip the event', async () => {
    logsMock.on(CreateLogGroupCommand).rejects(new ResourceAlreadyExistsException({ message: 'exists', $metadata: {} }));
    logsMock.on(CreateLogStreamCommand).rejects(new ResourceAlreadyExistsException({ message: 'exists', $metadata: {} }));
    await load({ name: 'again', workflowId: '1', outputUri: 's3://bucket/a/' }, undefined, { publishEvent: false });
    expect(logBatches.length).toBeGreaterThan(0);
    expect(eventsMock).toHaveReceivedCommandTimes(PutEventsCommand, 0);
  });

  it('writes no logs for a run whose log level is OFF, and fails loudly if EventBridge refuses the event', async () => {
    eventsMock.on(PutEventsCommand).resolves({ FailedEntryCount: 1, Entries: [{ ErrorCode: 'X', ErrorMessage: 'no' }] });
    await expect(load({ name: 'quiet', workflowId: '1', outputUri: 's3://bucket/q/', logLevel: 'OFF' })).rejects.toThrow(/refused/);
    expect(logsMock.calls()).toHaveLength(0);
  });

  it('writes no manifest for a run that has not finished', async () => {
    const run = await load({ name: 'active', workflowId: '1', outputUri: 's3://bucket/r/', status: 'RUNNING', tasks: [{ name: 'a' }] });
    const streams = logsMock.commandCalls(CreateLogStreamCommand).map((c) => c.args[0].input.logStreamName);
    expect(streams).not.toContain(`manifest/run/${run.id}/${run.uuid}`);
    expect((JSON.parse(eventsMock.commandCalls(PutEventsCommand)[0].args[0].input.Entries![0].Detail!) as { status: string }).status).toBe('RUNNING');
  });
});
