// Faults on the local cloud: throttling, 5xx and slow answers from every service the archiver calls are retried to a
// clean archive; a run deleted mid-snapshot, an account without vault access and an expired job output end as they should.
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DeleteRunCommand } from '@aws-sdk/client-omics';
import { GetObjectCommand, ListMultipartUploadsCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { StartExecutionCommand } from '@aws-sdk/client-sfn';
import * as clients from '../../functions/lib/runtime/clients';
import { executionName } from '../../functions/lib/archive/trigger-archive';
import { injectFault, type Fault, type FaultRule } from '../../local/faults';
import {
  announceRunStatus,
  finished,
  index,
  loadRun,
  objectExists,
  observeArchiveEvents,
  observeRestoreEvents,
  runReaches,
  useLocalCloud,
} from '../support/local-cloud';
import { OUTPUT_BUCKET, RESTORE_BUCKET, WORKFLOW_POLICY } from '../support/policies';

jest.setTimeout(300_000);
const cloud = useLocalCloud(WORKFLOW_POLICY);
const MIB = 1024 * 1024;

const error = (name: string, statusCode: number): Fault => ({ kind: 'error', name, statusCode });
const fn = (id: string) => `omics-archiver-${id}`;

async function keysUnder(bucket: string, prefix: string): Promise<string[]> {
  const { Contents = [] } = await clients.s3Client().send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix }));
  return Contents.map((o) => o.Key ?? '').sort();
}

/** Arms the rules for the duration of `work`; returns how often each fired. */
async function withFaults<T>(rules: FaultRule[], work: () => Promise<T>): Promise<{ result: T; fired: number[] }> {
  const armed = rules.map((rule) => injectFault(rule));
  try {
    const result = await work();
    return { result, fired: armed.map((a) => a.fired()) };
  } finally {
    for (const a of armed) a.disarm();
  }
}

test('throttling, 5xx and slow answers from HealthOmics, CloudWatch Logs, S3, DynamoDB and Glacier: archived once, verified, then deleted', async () => {
  const run = await loadRun(cloud(), {}, { outputBucket: OUTPUT_BUCKET, publishEvent: false });
  // Each fault fires a few times in a row, fewer than the SDK's attempts (clients.ts), as a passing throttle does.
  const rules: FaultRule[] = [
    { functionName: fn('SnapshotRun'), runUuid: run.uuid, service: 'Omics', operation: 'GetRun', times: 3, fault: error('ThrottlingException', 429) },
    { functionName: fn('SnapshotRun'), runUuid: run.uuid, service: 'Omics', operation: 'ListRunTasks', times: 2, fault: error('InternalServerException', 500) },
    { functionName: fn('SnapshotRun'), runUuid: run.uuid, service: 'Omics', operation: 'GetRunTask', fault: { kind: 'delay', ms: 1500 } },
    {
      functionName: fn('SnapshotRun'),
      runUuid: run.uuid,
      service: 'CloudWatchLogs',
      operation: 'GetLogEvents',
      times: 3,
      fault: error('ThrottlingException', 400),
    },
    {
      functionName: fn('SnapshotRun'),
      runUuid: run.uuid,
      service: 'DynamoDB',
      operation: 'PutItem',
      times: 2,
      fault: error('ProvisionedThroughputExceededException', 400),
    },
    { functionName: fn('ArchiveFiles'), runUuid: run.uuid, service: 'S3', operation: 'GetObject', times: 3, fault: error('SlowDown', 503) },
    { functionName: fn('ArchiveFiles'), runUuid: run.uuid, service: 'S3', operation: 'GetObject', nth: 5, fault: { kind: 'delay', ms: 1500 } },
    {
      functionName: fn('ArchiveFiles'),
      runUuid: run.uuid,
      service: 'Glacier',
      operation: 'UploadMultipartPart',
      times: 2,
      fault: error('ServiceUnavailableException', 500),
    },
    {
      functionName: fn('ArchiveFiles'),
      runUuid: run.uuid,
      service: 'Glacier',
      operation: 'InitiateMultipartUpload',
      times: 2,
      fault: error('ThrottlingException', 400),
    },
    { functionName: fn('ArchiveFiles'), runUuid: run.uuid, service: 'Glacier', operation: 'CompleteMultipartUpload', fault: { kind: 'delay', ms: 1500 } },
    { functionName: fn('ArchiveFiles'), runUuid: run.uuid, service: 'DynamoDB', operation: 'UpdateItem', times: 3, fault: error('InternalServerError', 500) },
    { functionName: fn('DeleteRun'), service: 'Omics', operation: 'DeleteRun', times: 2, fault: error('ThrottlingException', 429) },
  ];
  const { result: execution, fired } = await withFaults(rules, async () => {
    await announceRunStatus(run);
    const done = await finished(cloud().resources.stateMachines.archiveRun, executionName(run.id, run.uuid), 240_000);
    await runReaches(cloud(), run.uuid, ['RUN_DELETED'], 60_000);
    return done;
  });

  // Every fault was met (the test would prove nothing otherwise).
  expect(rules.map((r, i) => `${r.service} ${r.operation}: ${fired[i]}`)).toEqual(rules.map((r) => `${r.service} ${r.operation}: ${r.times ?? 1}`));
  expect(execution.status).toBe('SUCCEEDED');
  expect(execution.states).toContain('Run archived');
  const files = (await index(cloud()).listFiles(run.uuid)).filter((f) => f.action === 'archive');
  expect(files.length).toBeGreaterThan(0);
  for (const f of files) expect(f).toMatchObject({ state: 'ARCHIVED', sourceDeleted: true });
  const archives = cloud()
    .glacier.archivesIn(cloud().resources.vaultName)
    .filter((a) => a.description.includes(run.uuid));
  expect(archives).toHaveLength(files.filter((f) => f.size > 0).length);
  expect(await index(cloud()).getRun(run.uuid)).toMatchObject({ archiveState: 'RUN_DELETED' });
});

test('the run is deleted from HealthOmics mid-snapshot: FAILED with the reason on the record and in the failure event; no output touched', async () => {
  const events = await observeArchiveEvents(cloud(), 'observer-deleted-mid-snapshot');
  const run = await loadRun(cloud(), {}, { outputBucket: OUTPUT_BUCKET, publishEvent: false });
  const outputs = await keysUnder(OUTPUT_BUCKET, `runs/${run.id}/`);
  expect(outputs.length).toBeGreaterThan(0);
  // Someone deletes the run after the snapshot has read it, just before it reads the run's tasks.
  const meanwhile: FaultRule = {
    functionName: fn('SnapshotRun'),
    runUuid: run.uuid,
    service: 'Omics',
    operation: 'ListRunTasks',
    fault: {
      kind: 'meanwhile',
      run: async () => {
        await clients.omicsClient().send(new DeleteRunCommand({ id: run.id }));
      },
    },
  };
  const { result: execution, fired } = await withFaults([meanwhile], async () => {
    await announceRunStatus(run);
    return finished(cloud().resources.stateMachines.archiveRun, executionName(run.id, run.uuid), 120_000);
  });
  expect(fired).toEqual([1]);
  expect(execution.status).toBe('FAILED');
  expect(execution.states).not.toContain('Plan archive');
  const record = await index(cloud()).getRun(run.uuid);
  expect(record).toMatchObject({ archiveState: 'FAILED' });
  expect(record?.failureReason).toMatch(/ResourceNotFoundException/);
  const failed = (await events()).filter((e) => e.attributes.event === 'RUN_ARCHIVE_FAILED' && JSON.stringify(e.body).includes(run.uuid));
  expect(failed).toHaveLength(1);
  expect(JSON.stringify(failed[0].body)).toMatch(/ResourceNotFoundException/);
  // Nothing was archived, so nothing was removed: every output is where HealthOmics wrote it.
  expect(await keysUnder(OUTPUT_BUCKET, `runs/${run.id}/`)).toEqual(outputs);
});

test('an account Glacier no longer serves (NoLongerSupportedException): each file FAILED saying so, the run kept, no source deleted', async () => {
  const run = await loadRun(cloud(), {}, { outputBucket: OUTPUT_BUCKET, publishEvent: false });
  cloud().glacier.setVaultAccess(false);
  let execution;
  try {
    await announceRunStatus(run);
    execution = await finished(cloud().resources.stateMachines.archiveRun, executionName(run.id, run.uuid), 120_000);
  } finally {
    cloud().glacier.setVaultAccess(true);
  }
  expect(execution.states).toContain('Record archive');
  const files = (await index(cloud()).listFiles(run.uuid)).filter((f) => f.action === 'archive' && f.size > 0);
  expect(files.length).toBeGreaterThan(0);
  for (const f of files) {
    expect(f.state).toBe('FAILED');
    expect(f.failureReason).toMatch(/NoLongerSupportedException.*S3 Glacier storage classes/);
    expect(f.sourceDeleted).toBeFalsy();
    expect(await objectExists(f.sourceBucket, f.sourceKey)).toBe(true);
  }
  const record = await index(cloud()).getRun(run.uuid);
  expect(['FAILED', 'PARTIAL']).toContain(record?.archiveState);
});

test("a vault retrieval job that ends Failed: that file not restored, with Glacier's message, announced as RESTORE_FAILED", async () => {
  const run = await loadRun(cloud(), {}, { outputBucket: OUTPUT_BUCKET, publishEvent: false });
  await announceRunStatus(run);
  expect((await finished(cloud().resources.stateMachines.archiveRun, executionName(run.id, run.uuid), 120_000)).status).toBe('SUCCEEDED');
  const [first] = (await index(cloud()).listFiles(run.uuid)).filter((f) => f.state === 'ARCHIVED' && f.size > 0);
  const events = await observeRestoreEvents(cloud(), 'observer-failed-job');

  cloud().glacier.failRetrievals(1, 'the archive could not be read (injected)');
  const name = `restore-failed-job-${run.id}`;
  // By uuid: the emulator reuses the ids of deleted runs, as HealthOmics does.
  const request = { runUuid: run.uuid, files: [first.path], destination: `s3://${RESTORE_BUCKET}/failed-job-${run.id}/`, tier: 'Expedited' };
  await clients
    .sfnClient()
    .send(new StartExecutionCommand({ stateMachineArn: cloud().resources.stateMachines.restoreRun, name, input: JSON.stringify(request) }));
  const execution = await finished(cloud().resources.stateMachines.restoreRun, name, 120_000);

  expect(execution.status).toBe('FAILED');
  const { files } = await index(cloud()).listRestores(run.uuid);
  expect(files).toHaveLength(1);
  expect(files[0]).toMatchObject({ path: first.path, state: 'FAILED' });
  expect(files[0].failureReason).toMatch(/RetrievalFailed.*the archive could not be read \(injected\)/);
  expect(await objectExists(RESTORE_BUCKET, `failed-job-${run.id}/${first.path}`)).toBe(false);
  const announced = (await events()).filter((e) => e.attributes.event === 'RESTORE_FAILED');
  expect(announced).toHaveLength(1);
  expect(JSON.stringify(announced[0].body)).toMatch(/the archive could not be read/);
});

describe('a vault job output that expires mid-copy', () => {
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'faults-test-'));
  afterAll(() => fs.rmSync(scratch, { recursive: true, force: true }));

  test('a new retrieval is started and the copy done again from its output: the file comes back whole, once, nothing left open', async () => {
    // Over the 64 MiB job-output range (jobOutputRangeSize), so the copy takes two ranges and the output can expire between them.
    const bytes = randomBytes(64 * MIB + 11);
    fs.mkdirSync(path.join(scratch, 'reads'), { recursive: true });
    fs.writeFileSync(path.join(scratch, 'reads', 'expiring.cram'), bytes);
    const run = await loadRun(cloud(), { outputs: [], outputsFolder: scratch }, { outputBucket: OUTPUT_BUCKET, publishEvent: false });
    await announceRunStatus(run);
    const archived = await finished(cloud().resources.stateMachines.archiveRun, executionName(run.id, run.uuid), 120_000);
    expect(archived.status).toBe('SUCCEEDED');

    // The first ranged GetJobOutput of the copy finds the output already a day old: Glacier has let it go.
    let outputReads = 0;
    const glacier = cloud().glacier;
    const handle = glacier.handle.bind(glacier);
    glacier.handle = async (req, res) => {
      if (req.method === 'GET' && /\/jobs\/[^/]+\/output$/.test(new URL(req.url ?? '/', 'http://x').pathname) && ++outputReads === 2) {
        glacier.advanceClock(25 * 60 * 60 * 1000);
      }
      return handle(req, res);
    };
    const prefix = `expired-${run.id}/`;
    const retrievals: string[] = [];
    const counting = cloud().lambdas.intercept('requestRetrieval', (event) => {
      retrievals.push((event as { item: { path: string } }).item.path);
    });
    let execution;
    try {
      const name = `restore-expired-${run.id}`;
      // By uuid: the emulator reuses the ids of deleted runs, as HealthOmics does.
      const request = { runUuid: run.uuid, files: ['out/reads/expiring.cram'], destination: `s3://${RESTORE_BUCKET}/${prefix}`, tier: 'Expedited' };
      await clients
        .sfnClient()
        .send(new StartExecutionCommand({ stateMachineArn: cloud().resources.stateMachines.restoreRun, name, input: JSON.stringify(request) }));
      execution = await finished(cloud().resources.stateMachines.restoreRun, name, 120_000);
    } finally {
      glacier.handle = handle;
      counting();
    }
    expect(execution.status).toBe('SUCCEEDED');
    // Range 1, range 2 refused (expired), then both ranges of the new job: a file this small keeps no resumable
    // SHA-256 (only files from 64 GiB do, job-output-copy.ts), so its copy starts over; its upload is replaced, not left.
    expect(outputReads).toBe(4);
    // The Map's children are not in moto's history; the function's invocations show the second retrieval.
    expect(retrievals).toEqual(['out/reads/expiring.cram', 'out/reads/expiring.cram']);
    const restored = await clients.s3Client().send(new GetObjectCommand({ Bucket: RESTORE_BUCKET, Key: `${prefix}out/reads/expiring.cram` }));
    expect(Buffer.from(await restored.Body!.transformToByteArray()).equals(bytes)).toBe(true);
    const open = await clients.s3Client().send(new ListMultipartUploadsCommand({ Bucket: RESTORE_BUCKET, Prefix: prefix }));
    expect(open.Uploads ?? []).toEqual([]);
    const { files } = await index(cloud()).listRestores(run.uuid);
    expect(files).toHaveLength(1);
    expect(files[0]).toMatchObject({ path: 'out/reads/expiring.cram', state: 'RESTORED', expiredJobs: 1 });
  });
});
