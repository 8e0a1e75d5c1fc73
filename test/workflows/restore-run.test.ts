// The restore workflow end to end on the local cloud: archived runs brought back, verified, and refused when they cannot be.
import { DeleteObjectCommand, GetObjectCommand, ListMultipartUploadsCommand, ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
import { ListTargetsByRuleCommand, PutTargetsCommand, RemoveTargetsCommand } from '@aws-sdk/client-eventbridge';
import { ListJobsCommand } from '@aws-sdk/client-glacier';
import { StartExecutionCommand } from '@aws-sdk/client-sfn';
import { randomBytes, randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as clients from '../../functions/lib/runtime/clients';
import type { RestoreItem } from '../../functions/lib/contract';
import type { RestoreFileRecord } from '../../functions/lib/index/run-index';
import type { StoredRun } from '../../local/omics/model';
import { archiveExecution, finished, index, loadRun, objectExists, useLocalCloud, writeOutputsFolder, type FinishedExecution } from '../support/local-cloud';
import { OUTPUT_BUCKET, RESTORE_BUCKET, WORKFLOW_POLICY } from '../support/policies';

jest.setTimeout(120_000);
const cloud = useLocalCloud(WORKFLOW_POLICY);

const MIB = 1024 * 1024;
const ROUND_TRIP_OUTPUTS: Record<string, Buffer> = {
  'markers/empty.done': Buffer.alloc(0),
  'aligned/exactly-1mib.bam': randomBytes(MIB),
  'aligned/1mib-plus-1.bam': randomBytes(MIB + 1),
  // More than one of the archive-all tier's 1 MiB parts, and not a whole number of them.
  'reads/multi-part.cram': randomBytes(9 * MIB + 5),
};
const S3_OUTPUTS: Record<string, Buffer> = {
  'markers/empty.done': Buffer.alloc(0),
  'reports/small.txt': randomBytes(1024),
  'aligned/sample.bam': randomBytes(2 * MIB + 7),
};
/** A second s3-glacier run, never restored before the test whose Object Restore Completed events are lost. */
const S3_LOST_EVENT_OUTPUTS: Record<string, Buffer> = {
  'reports/lost-event.txt': randomBytes(2048),
  'aligned/lost-event.bam': randomBytes(MIB + 3),
};
const PARTIAL_OUTPUTS: Record<string, Buffer> = {
  'kept/fine.txt': randomBytes(100),
  'lost/never-archived.bin': randomBytes(200),
};
const LOST_PATH = 'out/lost/never-archived.bin';

interface ArchivedRun {
  run: StoredRun;
  /** Every object the run had under its output folder before the archive (outputs and logs), by index path. */
  originals: Map<string, Buffer>;
}

const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'restore-run-test-'));
afterAll(() => fs.rmSync(scratch, { recursive: true, force: true }));

async function bytesOf(bucket: string, key: string): Promise<Buffer> {
  const { Body } = await clients.s3Client().send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  return Buffer.from(await Body!.transformToByteArray());
}

async function keysUnder(bucket: string, prefix: string): Promise<string[]> {
  const { Contents = [] } = await clients.s3Client().send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix }));
  return Contents.map((o) => o.Key ?? '').sort();
}

/** Loads a run, remembers its objects, archives it and waits for the archive workflow to finish. */
async function archiveRun(label: string, files: Record<string, Buffer>, tags: Record<string, string> = {}): Promise<ArchivedRun> {
  const run = await loadRun(cloud(), { outputs: [], outputsFolder: writeOutputsFolder(scratch, label, files), tags }, { outputBucket: OUTPUT_BUCKET });
  const prefix = `runs/${run.id}/`;
  const originals = new Map<string, Buffer>();
  for (const key of await keysUnder(OUTPUT_BUCKET, prefix)) originals.set(key.slice(prefix.length), await bytesOf(OUTPUT_BUCKET, key));
  await archiveExecution(cloud(), run.id, run.uuid);
  return { run, originals };
}

let names = 0;
/** Starts the restore workflow as an operator would and waits for it; the execution name is the restore id. */
async function restore(label: string, request: Record<string, unknown>): Promise<FinishedExecution & { restoreId: string }> {
  const restoreId = `restore-${label}-${Date.now()}-${names++}`;
  await clients
    .sfnClient()
    .send(new StartExecutionCommand({ stateMachineArn: cloud().resources.stateMachines.restoreRun, name: restoreId, input: JSON.stringify(request) }));
  return { ...(await finished(cloud().resources.stateMachines.restoreRun, restoreId)), restoreId };
}

async function restoreRecords(runUuid: string, restoreId: string) {
  const { requests, files } = await index(cloud()).listRestores(runUuid);
  return { request: requests.find((r) => r.restoreId === restoreId), files: files.filter((f) => f.restoreId === restoreId) };
}

async function vaultJobCount(): Promise<number> {
  let count = 0;
  let marker: string | undefined;
  do {
    const page = await clients.glacierClient().send(new ListJobsCommand({ accountId: '-', vaultName: cloud().resources.vaultName, marker }));
    count += page.JobList?.length ?? 0;
    marker = page.Marker ?? undefined;
  } while (marker);
  return count;
}

// Distributed Map iterations run as child executions, whose states are not in the parent's history (on AWS they are
// separate executions; moto does not expose them). What an iteration did is seen through the functions it invoked.
const checkRetrievalCalls: RestoreItem[] = [];
const notificationsDelivered: { JobId?: string }[] = [];
/** The Object Restore Completed events that reached the retrieval-notification function, by object key. */
const s3EventsDelivered: string[] = [];

let roundTrip: ArchivedRun;
let s3Run: ArchivedRun;
let s3LostEventRun: ArchivedRun;
let partialRun: ArchivedRun;

/** How long an execution took, from its history. */
function durationMs(execution: FinishedExecution): number {
  const started = execution.events.find((e) => e.type === 'ExecutionStarted')?.timestamp;
  const ended = execution.events.find((e) => e.type === 'ExecutionSucceeded' || e.type === 'ExecutionFailed')?.timestamp;
  return ended!.getTime() - started!.getTime();
}

/** The restore's outcome, as Record restore returned it (the execution's output). */
function outcomeOf(execution: FinishedExecution): { files: { path: string; retrievalTier?: string; tierFallback?: string }[] } {
  const output = execution.events.find((e) => e.type === 'ExecutionSucceeded')?.executionSucceededEventDetails?.output;
  return JSON.parse(output ?? '{}') as { files: { path: string; retrievalTier?: string; tierFallback?: string }[] };
}

beforeAll(async () => {
  cloud().lambdas.intercept('checkRetrieval', (event) => {
    checkRetrievalCalls.push((event as { item: RestoreItem }).item);
  });
  cloud().lambdas.intercept('retrievalNotification', (event) => {
    for (const record of (event as { Records: { body: string }[] }).Records) {
      const body = JSON.parse(record.body) as { JobId?: string; 'detail-type'?: string; detail?: { object: { key: string } } };
      if (body['detail-type'] === 'Object Restore Completed') s3EventsDelivered.push(body.detail!.object.key);
      else notificationsDelivered.push(body);
    }
  });
  // One file of the partial run loses its source just before its item is archived, so it is never archived.
  cloud().lambdas.intercept('archiveFiles', async (event) => {
    const input = event as { mode: string; item: { files: { path: string; bucket: string; key: string }[] } };
    if (input.mode !== 'archive') return;
    for (const file of input.item.files.filter((f) => f.path === LOST_PATH)) {
      await clients.s3Client().send(new DeleteObjectCommand({ Bucket: file.bucket, Key: file.key }));
    }
  });
  [roundTrip, s3Run, s3LostEventRun, partialRun] = await Promise.all([
    archiveRun('round-trip', ROUND_TRIP_OUTPUTS),
    archiveRun('s3-glacier', S3_OUTPUTS, { policy: 's3' }),
    archiveRun('s3-glacier-lost-event', S3_LOST_EVENT_OUTPUTS, { policy: 's3' }),
    archiveRun('partial', PARTIAL_OUTPUTS),
  ]);
}, 120_000);

describe('restore workflow', () => {
  test('round trip: every file of a vault-archived run comes back byte for byte, recorded as RESTORED, resumed by the vault notification', async () => {
    const { run, originals } = roundTrip;
    const files = await index(cloud()).listFiles(run.uuid);
    expect(files.map((f) => f.path).sort()).toEqual([...originals.keys()].sort());
    for (const file of files) {
      expect(file).toMatchObject({ state: 'ARCHIVED', sourceDeleted: true });
      expect(await objectExists(OUTPUT_BUCKET, file.sourceKey)).toBe(false);
    }
    expect(files.find((f) => f.path === 'out/reads/multi-part.cram')).toMatchObject({ size: 9 * MIB + 5, partSize: MIB });

    const prefix = `round-trip-${run.id}/`;
    const execution = await restore('round-trip', { run: run.id, destination: `s3://${RESTORE_BUCKET}/${prefix}` });
    expect(execution.failure).toBeUndefined();
    expect(execution.status).toBe('SUCCEEDED');
    const order = ['Find files to restore', 'Restore files', 'Record restore', 'Files restored'];
    expect(execution.states.filter((s) => order.includes(s))).toEqual(order);

    expect(await keysUnder(RESTORE_BUCKET, prefix)).toEqual([...originals.keys()].map((p) => `${prefix}${p}`).sort());
    for (const [file, original] of originals) {
      const restored = await bytesOf(RESTORE_BUCKET, `${prefix}${file}`);
      expect(restored.length).toBe(original.length);
      expect(restored.equals(original)).toBe(true);
    }
    expect(originals.get('out/reads/multi-part.cram')?.length).toBe(9 * MIB + 5);

    const records = await restoreRecords(run.uuid, execution.restoreId);
    expect(records.request).toMatchObject({ state: 'RESTORED', tier: 'Expedited', fileCount: originals.size, restored: originals.size, failed: 0 });
    expect(records.files.map((f) => f.path).sort()).toEqual([...originals.keys()].sort());
    for (const file of records.files) {
      expect(file).toMatchObject({ state: 'RESTORED', destination: `s3://${RESTORE_BUCKET}/${prefix}${file.path}` });
    }

    // The normal path: each vault job's completion notification resumed its waiting task; nothing was polled.
    expect(checkRetrievalCalls.filter((item) => item.restoreId === execution.restoreId)).toEqual([]);
    const jobIds = records.files.map((f) => f.jobId).filter((id): id is string => Boolean(id));
    expect(jobIds.length).toBe(originals.size - 1); // the empty file has nothing to retrieve
    expect(notificationsDelivered.map((n) => n.JobId)).toEqual(expect.arrayContaining(jobIds));
  });

  test('no destination: the files come back where they were after their sources were deleted', async () => {
    const { run, originals } = roundTrip;
    for (const file of originals.keys()) expect(await objectExists(OUTPUT_BUCKET, `runs/${run.id}/${file}`)).toBe(false);

    const execution = await restore('original', { run: run.uuid });
    expect(execution.status).toBe('SUCCEEDED');
    for (const [file, original] of originals) expect((await bytesOf(OUTPUT_BUCKET, `runs/${run.id}/${file}`)).equals(original)).toBe(true);
    const records = await restoreRecords(run.uuid, execution.restoreId);
    expect(records.request).toMatchObject({ state: 'RESTORED', destination: 'original location' });
    for (const file of records.files) expect(file).toMatchObject({ state: 'RESTORED', destination: `s3://${OUTPUT_BUCKET}/runs/${run.id}/${file.path}` });
  });

  test('a glob selects a subset, matching paths with or without the leading out/', async () => {
    const { run, originals } = roundTrip;
    const prefix = `glob-${run.id}/`;
    const execution = await restore('glob', { run: run.id, files: ['aligned/*.bam'], destination: `s3://${RESTORE_BUCKET}/${prefix}` });
    expect(execution.status).toBe('SUCCEEDED');
    const selected = ['out/aligned/1mib-plus-1.bam', 'out/aligned/exactly-1mib.bam'];
    expect(await keysUnder(RESTORE_BUCKET, prefix)).toEqual(selected.map((p) => `${prefix}${p}`));
    for (const file of selected) expect((await bytesOf(RESTORE_BUCKET, `${prefix}${file}`)).equals(originals.get(file)!)).toBe(true);
    const records = await restoreRecords(run.uuid, execution.restoreId);
    expect(records.files.map((f) => f.path).sort()).toEqual(selected);
    expect(records.request).toMatchObject({ state: 'RESTORED', fileCount: 2 });
  });

  test('a notification that never arrives: the task-token wait times out and the workflow polls the job instead', async () => {
    const { run, originals } = roundTrip;
    const prefix = `poll-${run.id}/`;
    const file = 'out/aligned/exactly-1mib.bam';
    cloud().glacier.pauseNotifications();
    const notificationsBefore = notificationsDelivered.length;
    let execution;
    try {
      execution = await restore('poll', {
        run: run.uuid,
        files: [file],
        destination: `s3://${RESTORE_BUCKET}/${prefix}`,
        notificationWaitSeconds: 2,
        pollSeconds: 1,
      });
    } finally {
      cloud().glacier.pauseNotifications(false);
    }
    expect(execution.failure).toBeUndefined();
    expect(execution.status).toBe('SUCCEEDED');
    expect((await bytesOf(RESTORE_BUCKET, `${prefix}${file}`)).equals(originals.get(file)!)).toBe(true);

    // "Check retrieval" ran for this restore: the wait ended by its timeout, not by a resumed token.
    const records = await restoreRecords(run.uuid, execution.restoreId);
    expect(records.files).toEqual([expect.objectContaining({ path: file, state: 'RESTORED', jobId: expect.any(String) as string })]);
    const polls = checkRetrievalCalls.filter((item) => item.restoreId === execution.restoreId);
    expect(polls.length).toBeGreaterThanOrEqual(1);
    expect(polls[0]).toMatchObject({ path: file, retrieval: 'vault-job', notificationWaitSeconds: 2, pollSeconds: 1 });
    expect(notificationsDelivered.slice(notificationsBefore).map((n) => n.JobId)).not.toContain(records.files[0].jobId);
  });

  test('a corrupted range fails that file (no object written, not even part of one); the others are restored; the restore FAILS', async () => {
    const { run, originals } = roundTrip;
    const prefix = `corrupt-${run.id}/`;
    const victim = 'out/reads/multi-part.cram';
    const corrupted: string[] = [];
    const release = cloud().lambdas.intercept('copyRestoredFile', async (event) => {
      const { item } = event as { item: RestoreItem };
      if (item.path !== victim || !item.destinationKey.startsWith(prefix)) return;
      const record = await index(cloud()).getRestoreFile(item.runUuid, item.restoreId, item.path);
      if (!record?.jobId) throw new Error(`no job recorded for ${item.path}`);
      if (!corrupted.includes(record.jobId)) cloud().glacier.corruptJobOutput(record.jobId, 5 * MIB + 3);
      corrupted.push(record.jobId);
    });
    let execution;
    try {
      execution = await restore('corrupt', { run: run.id, destination: `s3://${RESTORE_BUCKET}/${prefix}` });
    } finally {
      release();
    }
    expect(corrupted.length).toBeGreaterThanOrEqual(1);
    expect(execution.status).toBe('FAILED');
    expect(execution.failure?.error).toBe('RestoreIncomplete');

    const records = await restoreRecords(run.uuid, execution.restoreId);
    const byPath = new Map<string, RestoreFileRecord>(records.files.map((f) => [f.path, f]));
    expect(byPath.get(victim)).toMatchObject({ state: 'FAILED', failureReason: expect.stringMatching(/TreeHashMismatch|tree hash/i) as string });
    expect(await objectExists(RESTORE_BUCKET, `${prefix}${victim}`)).toBe(false);
    const uploads = await clients.s3Client().send(new ListMultipartUploadsCommand({ Bucket: RESTORE_BUCKET, Prefix: `${prefix}${victim}` }));
    expect(uploads.Uploads ?? []).toEqual([]);
    for (const [file, original] of originals) {
      if (file === victim) continue;
      expect(byPath.get(file)).toMatchObject({ state: 'RESTORED' });
      expect((await bytesOf(RESTORE_BUCKET, `${prefix}${file}`)).equals(original)).toBe(true);
    }
    expect(records.request).toMatchObject({ state: 'FAILED', restored: originals.size - 1, failed: 1 });
  });

  describe('requests refused before anything is retrieved', () => {
    /** Runs a request expected to fail in the planning step, and checks nothing was retrieved or recorded per file. */
    async function refused(label: string, request: Record<string, unknown>, runUuid?: string) {
      const jobsBefore = await vaultJobCount();
      const execution = await restore(label, request);
      expect(execution.status).toBe('FAILED');
      expect(execution.states).toEqual(['Find files to restore']);
      const started = execution.events.find((e) => e.type === 'ExecutionStarted')?.timestamp;
      const ended = execution.events.find((e) => e.type === 'ExecutionFailed')?.timestamp;
      expect(ended!.getTime() - started!.getTime()).toBeLessThan(10_000);
      expect(await vaultJobCount()).toBe(jobsBefore);
      if (runUuid) expect((await restoreRecords(runUuid, execution.restoreId)).files).toEqual([]);
      return execution.failure ?? {};
    }

    test('an unknown run id: RunNotFound', async () => {
      const failure = await refused('unknown-id', { run: '9999999999' });
      expect(failure.error).toBe('RunNotFound');
      expect(failure.cause).toContain('no run with id 9999999999');
    });

    test('an unknown run uuid: RunNotFound', async () => {
      const uuid = randomUUID();
      const failure = await refused('unknown-uuid', { run: uuid });
      expect(failure.error).toBe('RunNotFound');
      expect(failure.cause).toContain(`no run with uuid ${uuid}`);
    });

    test('no archived file matches: NoMatchingFiles', async () => {
      const failure = await refused('no-match', { run: roundTrip.run.uuid, files: ['nothing/**/*.vcf'] }, roundTrip.run.uuid);
      expect(failure.error).toBe('NoMatchingFiles');
      expect(failure.cause).toContain('nothing/**/*.vcf');
    });

    test('a file that was never archived: FileNotArchived, naming it', async () => {
      const files = new Map((await index(cloud()).listFiles(partialRun.run.uuid)).map((f) => [f.path, f]));
      expect(files.get(LOST_PATH)).toMatchObject({ state: 'FAILED' });
      expect(files.get('out/kept/fine.txt')).toMatchObject({ state: 'ARCHIVED' });
      expect((await index(cloud()).getRun(partialRun.run.uuid))?.archiveState).toBe('PARTIAL');

      const failure = await refused('not-archived', { run: partialRun.run.uuid, files: ['lost/*'] }, partialRun.run.uuid);
      expect(failure.error).toBe('FileNotArchived');
      expect(failure.cause).toContain(LOST_PATH);
      const all = await refused('not-archived-all', { run: partialRun.run.uuid }, partialRun.run.uuid);
      expect(all.error).toBe('FileNotArchived');
    });

    test('a destination bucket outside outputBuckets and restoreBuckets: BadDestination', async () => {
      const bucket = cloud().resources.snapshotBucket;
      const failure = await refused('bad-bucket', { run: roundTrip.run.uuid, destination: `s3://${bucket}/restored/` }, roundTrip.run.uuid);
      expect(failure.error).toBe('BadDestination');
      expect(failure.cause).toContain(`cannot restore into ${bucket}`);
    });

    test('a destination that already holds the object: BadDestination, naming it', async () => {
      const prefix = `occupied-${roundTrip.run.id}/`;
      const existing = `${prefix}out/aligned/exactly-1mib.bam`;
      await clients.s3Client().send(new PutObjectCommand({ Bucket: RESTORE_BUCKET, Key: existing, Body: 'someone else’s file' }));
      const failure = await refused('occupied', { run: roundTrip.run.uuid, destination: `s3://${RESTORE_BUCKET}/${prefix}` }, roundTrip.run.uuid);
      expect(failure.error).toBe('BadDestination');
      expect(failure.cause).toContain(`s3://${RESTORE_BUCKET}/${existing}`);
      expect((await bytesOf(RESTORE_BUCKET, existing)).toString()).toBe('someone else’s file');
      expect(await keysUnder(RESTORE_BUCKET, prefix)).toEqual([existing]);
    });

    test('a malformed request (tier "Fast"): BadRestoreRequest', async () => {
      const failure = await refused('bad-tier', { run: roundTrip.run.uuid, tier: 'Fast' }, roundTrip.run.uuid);
      expect(failure.error).toBe('BadRestoreRequest');
      expect(failure.cause).toContain('tier');
    });
  });

  test('s3-glacier target: DEEP_ARCHIVE copies come back as soon as S3 says so (its event resumes the task), not at the next poll', async () => {
    const { run, originals } = s3Run;
    const files = (await index(cloud()).listFiles(run.uuid)).filter((f) => f.action === 'archive');
    expect(files.length).toBe(Object.keys(S3_OUTPUTS).length);
    for (const file of files) {
      expect(file).toMatchObject({ state: 'ARCHIVED', target: 's3-glacier', sourceDeleted: true });
      expect(await objectExists(OUTPUT_BUCKET, file.sourceKey)).toBe(false);
    }
    const restoredObjects = files.filter((f) => f.size > 0);

    // The tier policy's Standard timing: 6 hours for the event, then a poll every 15 minutes.
    const prefix = `s3-${run.id}/`;
    const execution = await restore('s3', { run: run.uuid, destination: `s3://${RESTORE_BUCKET}/${prefix}` });
    expect(execution.failure).toBeUndefined();
    expect(execution.status).toBe('SUCCEEDED');
    expect(durationMs(execution)).toBeLessThan(30_000);
    for (const file of files) {
      expect((await bytesOf(RESTORE_BUCKET, `${prefix}${file.path}`)).equals(originals.get(file.path)!)).toBe(true);
    }
    const records = await restoreRecords(run.uuid, execution.restoreId);
    expect(records.request).toMatchObject({ state: 'RESTORED', restored: files.length });
    for (const file of records.files.filter((f) => restoredObjects.some((o) => o.path === f.path))) {
      expect(file).toMatchObject({ state: 'RESTORED', retrievalTier: 'Standard' });
      expect(file.tierFallback).toBeUndefined();
    }

    // Nothing was polled: each object's Object Restore Completed event came through the rule and the queue and
    // resumed its waiting task, and its waiter is gone.
    expect(checkRetrievalCalls.filter((item) => item.restoreId === execution.restoreId)).toEqual([]);
    expect(s3EventsDelivered).toEqual(expect.arrayContaining(restoredObjects.map((f) => f.archiveKey)));
    expect(await index(cloud()).listRunRestoreWaiters(run.uuid)).toEqual([]);
  });

  test('s3-glacier target, restored again at Expedited: Deep Archive falls back to Standard (recorded, and in the outcome), and the copies already restored resume at once', async () => {
    const { run, originals } = s3Run;
    const prefix = `s3-again-${run.id}/`;
    const archived = (await index(cloud()).listFiles(run.uuid)).filter((f) => f.action === 'archive');
    const eventsBefore = s3EventsDelivered.length;
    const execution = await restore('s3-again', { run: run.uuid, tier: 'Expedited', destination: `s3://${RESTORE_BUCKET}/${prefix}` });
    expect(execution.failure).toBeUndefined();
    expect(execution.status).toBe('SUCCEEDED');
    expect(durationMs(execution)).toBeLessThan(30_000);
    for (const file of archived) expect((await bytesOf(RESTORE_BUCKET, `${prefix}${file.path}`)).equals(originals.get(file.path)!)).toBe(true);

    const fallback = { retrievalTier: 'Standard', tierFallback: 'DEEP_ARCHIVE has no Expedited retrieval' };
    const restoredObjects = archived.filter((f) => f.size > 0).map((f) => f.path);
    expect(restoredObjects.length).toBe(2);
    const records = await restoreRecords(run.uuid, execution.restoreId);
    expect(records.request).toMatchObject({ state: 'RESTORED', tier: 'Expedited' });
    for (const path of restoredObjects) expect(records.files.find((f) => f.path === path)).toMatchObject({ state: 'RESTORED', ...fallback });
    expect(
      outcomeOf(execution)
        .files.filter((f) => f.tierFallback)
        .map((f) => f.path)
        .sort(),
    ).toEqual(restoredObjects.sort());
    expect(outcomeOf(execution).files.find((f) => f.path === restoredObjects[0])).toMatchObject(fallback);

    // RestoreObject answered 200 (the copies were still there): no event, no poll, the task resumed by the request itself.
    expect(s3EventsDelivered.length).toBe(eventsBefore);
    expect(checkRetrievalCalls.filter((item) => item.restoreId === execution.restoreId)).toEqual([]);
  });

  test('s3-glacier target, the restore events lost: the task-token wait times out and the workflow polls HeadObject instead', async () => {
    const { run, originals } = s3LostEventRun;
    const archived = (await index(cloud()).listFiles(run.uuid)).filter((f) => f.action === 'archive');
    expect(archived.map((f) => f.path).sort()).toEqual(
      Object.keys(S3_LOST_EVENT_OUTPUTS)
        .map((p) => `out/${p}`)
        .sort(),
    );
    const events = clients.eventsClient();
    const rule = cloud().resources.restoreCompletionRule;
    const { Targets = [] } = await events.send(new ListTargetsByRuleCommand({ Rule: rule }));
    expect(Targets.map((t) => t.Arn)).toEqual([cloud().resources.queues.retrievalNotifications.arn]);
    // The rule delivers to nothing while this restore runs: S3's events for these objects go nowhere.
    await events.send(new RemoveTargetsCommand({ Rule: rule, Ids: Targets.map((t) => t.Id!) }));
    const eventsBefore = s3EventsDelivered.length;
    const prefix = `s3-lost-${run.id}/`;
    let execution;
    try {
      execution = await restore('s3-lost', {
        run: run.uuid,
        destination: `s3://${RESTORE_BUCKET}/${prefix}`,
        notificationWaitSeconds: 2,
        pollSeconds: 1,
      });
    } finally {
      await events.send(new PutTargetsCommand({ Rule: rule, Targets }));
    }
    expect(execution.failure).toBeUndefined();
    expect(execution.status).toBe('SUCCEEDED');
    for (const file of archived) expect((await bytesOf(RESTORE_BUCKET, `${prefix}${file.path}`)).equals(originals.get(file.path)!)).toBe(true);

    const polls = checkRetrievalCalls.filter((item) => item.restoreId === execution.restoreId);
    expect(new Set(polls.map((item) => item.path))).toEqual(new Set(archived.map((f) => f.path)));
    expect(polls[0]).toMatchObject({ retrieval: 's3-restore', notificationWaitSeconds: 2, pollSeconds: 1 });
    expect(s3EventsDelivered.length).toBe(eventsBefore);
    const records = await restoreRecords(run.uuid, execution.restoreId);
    expect(records.request).toMatchObject({ state: 'RESTORED', restored: archived.length });
    // No event resolved the waiters; the restore removed them when it settled.
    expect(await index(cloud()).listRunRestoreWaiters(run.uuid)).toEqual([]);
  });
});
