// The archive workflow's failure paths on the local cloud: each records FAILED or PARTIAL, announces it, and deletes nothing more.
import { randomUUID } from 'node:crypto';
import { DeleteObjectCommand } from '@aws-sdk/client-s3';
import { GetRunCommand } from '@aws-sdk/client-omics';
import { StartExecutionCommand } from '@aws-sdk/client-sfn';
import * as clients from '../../functions/lib/runtime/clients';
import type { ArchiveExecutionInput } from '../../functions/lib/archive/trigger-archive';
import { parseConfig, type Tier } from '../../functions/lib/contract';
import { archiveExecution, finished, index, loadRun, objectExists, observeArchiveEvents, useLocalCloud } from '../support/local-cloud';
import { OUTPUT_BUCKET, WORKFLOW_POLICY } from '../support/policies';

jest.setTimeout(120_000);
const cloud = useLocalCloud(WORKFLOW_POLICY);
const archiveAll = parseConfig(WORKFLOW_POLICY).tiers.find((t) => t.name === 'archive-all') as Tier;

/** Starts the archive workflow directly, as an operator (or a trigger) would, for a run the test chooses. */
async function startArchive(input: Partial<ArchiveExecutionInput> & { runId: string; runUuid: string }) {
  const name = `run-${input.runId}-${input.runUuid}`;
  const full: ArchiveExecutionInput = {
    runArn: `arn:aws:omics:us-east-1:123456789012:run/${input.runId}`,
    status: 'COMPLETED',
    tier: archiveAll,
    waits: { settleSeconds: 0, archiveAfterSeconds: 0 },
    settings: { archiveConcurrency: 2, groupMaxFiles: 5, groupMaxBytes: 4 * 1024 * 1024 },
    ...input,
  };
  await clients.sfnClient().send(new StartExecutionCommand({ stateMachineArn: cloud().resources.stateMachines.archiveRun, name, input: JSON.stringify(full) }));
  return finished(cloud().resources.stateMachines.archiveRun, name);
}

const FAILURE_PATH = ['Record archive failure', 'Publish archive failure', 'Archive failed'];

describe('archive workflow failure paths', () => {
  test('snapshot fails (the run is gone from HealthOmics): FAILED recorded and announced, nothing deleted', async () => {
    const events = await observeArchiveEvents(cloud(), 'observer-gone');
    const runUuid = randomUUID();
    const execution = await startArchive({ runId: '8888888', runUuid });
    expect(execution.status).toBe('FAILED');
    expect(execution.failure?.error).toBe('ArchiveFailed');
    expect(execution.states.slice(-3)).toEqual(FAILURE_PATH);
    expect(execution.states).not.toContain('Plan archive');
    const record = await index(cloud()).getRun(runUuid);
    expect(record).toMatchObject({ archiveState: 'FAILED', runId: '8888888' });
    expect(record?.failureReason).toMatch(/ResourceNotFoundException/);
    const published = await events();
    expect(published.map((e) => e.attributes)).toEqual([{ event: 'RUN_ARCHIVE_FAILED', deleteRun: 'false', tier: 'archive-all' }]);
  });

  test('the run id now names another run (uuid mismatch): the snapshot refuses, the newer run is untouched', async () => {
    const run = await loadRun(cloud(), { tags: { policy: 'keep' } }, { outputBucket: OUTPUT_BUCKET, publishEvent: false });
    const staleUuid = randomUUID();
    const execution = await startArchive({ runId: run.id, runUuid: staleUuid });
    expect(execution.status).toBe('FAILED');
    expect((await index(cloud()).getRun(staleUuid))?.failureReason).toMatch(/RunUuidMismatch/);
    expect(await index(cloud()).getRun(run.uuid)).toBeUndefined();
    expect((await clients.omicsClient().send(new GetRunCommand({ id: run.id }))).uuid).toBe(run.uuid);
  });

  test('planning fails: FAILED with the reason, no file touched, run not deleted', async () => {
    const release = cloud().lambdas.intercept('planArchive', () => {
      const error = new Error('Access Denied listing the run outputs');
      error.name = 'AccessDenied';
      throw error;
    });
    try {
      const run = await loadRun(cloud(), {}, { outputBucket: OUTPUT_BUCKET });
      const execution = await archiveExecution(cloud(), run.id, run.uuid);
      expect(execution.status).toBe('FAILED');
      expect(execution.states).toContain('Plan archive');
      expect(execution.states.slice(-3)).toEqual(FAILURE_PATH);
      const record = await index(cloud()).getRun(run.uuid);
      expect(record).toMatchObject({ archiveState: 'FAILED' });
      expect(record?.failureReason).toMatch(/AccessDenied: Access Denied listing the run outputs/);
      expect(await index(cloud()).listFiles(run.uuid)).toEqual([]);
      expect(await objectExists(OUTPUT_BUCKET, `runs/${run.id}/out/aligned/sample-1.bam`)).toBe(true);
      expect((await clients.omicsClient().send(new GetRunCommand({ id: run.id }))).uuid).toBe(run.uuid);
    } finally {
      release();
    }
  });

  test('a source vanishes before it is archived: that file FAILED with its reason, the rest archived, run PARTIAL and kept', async () => {
    const events = await observeArchiveEvents(cloud(), 'observer-partial');
    let removed = false;
    const release = cloud().lambdas.intercept('archiveFiles', async (event) => {
      const item = (event as { item: { files: { bucket: string; key: string; path: string }[] } }).item;
      const victim = item.files.find((f) => f.path === 'out/aligned/sample-1.bam');
      if (victim && !removed) {
        removed = true;
        await clients.s3Client().send(new DeleteObjectCommand({ Bucket: victim.bucket, Key: victim.key }));
      }
    });
    try {
      const run = await loadRun(cloud(), {}, { outputBucket: OUTPUT_BUCKET });
      const execution = await archiveExecution(cloud(), run.id, run.uuid);
      expect(removed).toBe(true);
      expect(execution.status).toBe('FAILED');
      expect(execution.failure?.error).toBe('ArchiveIncomplete');
      expect(execution.states).toEqual(expect.arrayContaining(['Archive output files', 'Record archive', 'Publish run archived', 'Run not fully archived']));

      const files = await index(cloud()).listFiles(run.uuid);
      const failed = files.filter((f) => f.state !== 'ARCHIVED');
      expect(failed.map((f) => f.path)).toEqual(['out/aligned/sample-1.bam']);
      expect(failed[0]).toMatchObject({ state: 'FAILED', failureReason: expect.stringMatching(/NoSuchKey/) as string });
      const record = await index(cloud()).getRun(run.uuid);
      expect(record).toMatchObject({
        archiveState: 'PARTIAL',
        failedFiles: [{ path: 'out/aligned/sample-1.bam', reason: expect.stringMatching(/NoSuchKey/) as string }],
      });
      expect(record?.counts).toMatchObject({ archived: files.length - 1, failed: 1 });

      // Announced as partial, so the deletion queue's filter keeps it away: the run stays in HealthOmics.
      expect((await events()).map((e) => e.attributes)).toEqual([{ event: 'RUN_ARCHIVE_PARTIAL', deleteRun: 'false', tier: 'archive-all' }]);
      await new Promise((r) => setTimeout(r, 2000));
      expect((await clients.omicsClient().send(new GetRunCommand({ id: run.id }))).uuid).toBe(run.uuid);
    } finally {
      release();
    }
  });

  test('an item keeps failing after its retries: its files are recorded FAILED with the error, the run FAILED, nothing deleted', async () => {
    const release = cloud().lambdas.intercept('archiveFiles', (event) => {
      if ((event as { mode: string }).mode !== 'archive') return;
      const error = new Error('Glacier is not answering');
      error.name = 'ServiceUnavailableException';
      throw error;
    });
    try {
      const run = await loadRun(cloud(), { outputs: [{ path: 'only.bam', size: 2048 }] }, { outputBucket: OUTPUT_BUCKET });
      const execution = await archiveExecution(cloud(), run.id, run.uuid);
      expect(execution.status).toBe('FAILED');
      const files = await index(cloud()).listFiles(run.uuid);
      expect(files.length).toBeGreaterThan(0);
      for (const file of files) {
        expect(file).toMatchObject({
          state: 'FAILED',
          failureReason: expect.stringMatching(/ServiceUnavailableException: Glacier is not answering/) as string,
        });
        expect(await objectExists(file.sourceBucket, file.sourceKey)).toBe(true);
      }
      expect(await index(cloud()).getRun(run.uuid)).toMatchObject({ archiveState: 'FAILED' });
      expect((await clients.omicsClient().send(new GetRunCommand({ id: run.id }))).uuid).toBe(run.uuid);
    } finally {
      release();
    }
  });

  test('an operator re-runs a PARTIAL archive: archived files are not archived again, the missing one is retried', async () => {
    let removed = false;
    const release = cloud().lambdas.intercept('archiveFiles', async (event) => {
      const item = (event as { item: { files: { bucket: string; key: string; path: string }[] } }).item;
      const victim = item.files.find((f) => f.path === 'out/reports/summary.txt');
      if (victim && !removed) {
        removed = true;
        await clients.s3Client().send(new DeleteObjectCommand({ Bucket: victim.bucket, Key: victim.key }));
      }
    });
    const run = await loadRun(cloud(), { tags: { policy: 'mixed', rerun: 'yes' } }, { outputBucket: OUTPUT_BUCKET, publishEvent: false });
    const mixed = parseConfig(WORKFLOW_POLICY).tiers.find((t) => t.name === 'mixed') as Tier;
    const mixedKeepingSummary: Tier = { ...mixed, files: [{ globs: ['out/reports/**'], action: 'archive' }, ...mixed.files] };
    try {
      const first = await startArchive({ runId: run.id, runUuid: run.uuid, tier: mixedKeepingSummary });
      expect(first.status).toBe('FAILED');
      expect(await index(cloud()).getRun(run.uuid)).toMatchObject({ archiveState: 'PARTIAL' });
    } finally {
      release();
    }
    const before = new Map((await index(cloud()).listFiles(run.uuid)).map((f) => [f.path, f]));
    const name = `run-${run.id}-${run.uuid}-retry`;
    await clients.sfnClient().send(
      new StartExecutionCommand({
        stateMachineArn: cloud().resources.stateMachines.archiveRun,
        name,
        input: JSON.stringify({
          runId: run.id,
          runUuid: run.uuid,
          runArn: run.arn,
          status: 'COMPLETED',
          tier: mixedKeepingSummary,
          waits: { settleSeconds: 0, archiveAfterSeconds: 0 },
          settings: { archiveConcurrency: 2, groupMaxFiles: 5, groupMaxBytes: 4 * 1024 * 1024 },
        }),
      }),
    );
    const second = await finished(cloud().resources.stateMachines.archiveRun, name);
    // The vanished file is still gone, so the run stays PARTIAL; the archived ones kept their archives.
    expect(second.status).toBe('FAILED');
    const after = new Map((await index(cloud()).listFiles(run.uuid)).map((f) => [f.path, f]));
    for (const [path, file] of before) {
      if (file.state === 'ARCHIVED') expect(after.get(path)?.archiveId).toBe(file.archiveId);
    }
    expect(after.get('out/reports/summary.txt')).toMatchObject({ state: 'FAILED' });
  });
});
