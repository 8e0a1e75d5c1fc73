// Exactly once under concurrency, on the local cloud: executions of one run started at once, twin events and an
// overlapping invocation leave one archive per file, no open upload, one DeleteRun and no failure announced.
import { ListMultipartUploadsCommand, ListObjectVersionsCommand } from '@aws-sdk/client-s3';
import { PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { StartExecutionCommand } from '@aws-sdk/client-sfn';
import * as clients from '../../functions/lib/runtime/clients';
import { executionName } from '../../functions/lib/archive/trigger-archive';
import { parseConfig, type ArchiveExecutionInput, type Tier } from '../../functions/lib/contract';
import { finished, index, loadRun, observeArchiveEvents, runReaches, useLocalCloud, type FinishedExecution } from '../support/local-cloud';
import { OUTPUT_BUCKET, WORKFLOW_POLICY } from '../support/policies';

jest.setTimeout(240_000);
const cloud = useLocalCloud(WORKFLOW_POLICY);
const config = parseConfig(WORKFLOW_POLICY);
const tierNamed = (name: string) => config.tiers.find((t) => t.name === name) as Tier;

type LoadedRun = Awaited<ReturnType<typeof loadRun>>;

/** Three operator starts and five twin events of one run, all at once; resolves when every execution has ended. */
async function raceArchives(run: LoadedRun, tier: Tier): Promise<FinishedExecution[]> {
  const stateMachineArn = cloud().resources.stateMachines.archiveRun;
  const input: ArchiveExecutionInput = {
    runId: run.id,
    runUuid: run.uuid,
    runArn: run.arn,
    status: 'COMPLETED',
    tier,
    waits: { settleSeconds: 0, archiveAfterSeconds: 0 },
    settings: { archiveConcurrency: config.archiveConcurrency, groupMaxFiles: config.groupMaxFiles, groupMaxBytes: 4 * 1024 * 1024 },
  };
  const operatorNames = [1, 2, 3].map((i) => `run-${run.id}-${run.uuid}-operator-${i}`);
  const event = {
    Source: 'aws.omics',
    DetailType: 'Run Status Change',
    Detail: JSON.stringify({ arn: run.arn, runId: run.id, status: 'COMPLETED', uuid: run.uuid }),
  };
  await Promise.all([
    ...operatorNames.map((name) => clients.sfnClient().send(new StartExecutionCommand({ stateMachineArn, name, input: JSON.stringify(input) }))),
    ...Array.from({ length: 5 }, () => clients.eventsClient().send(new PutEventsCommand({ Entries: [event] }))),
  ]);
  return Promise.all([executionName(run.id, run.uuid), ...operatorNames].map((name) => finished(stateMachineArn, name, 180_000)));
}

/** Counts the emulator's DeleteRun calls for one run id. */
function countDeletions(runId: string): { count: () => number; restore: () => void } {
  // The emulator's DeleteRun handler is private API: a spy is the least intrusive way to count what reached it.
  const omics = cloud().omics as unknown as { deleteRun(id: string): unknown };
  const spy = jest.spyOn(omics, 'deleteRun');
  return { count: () => spy.mock.calls.filter(([id]) => id === runId).length, restore: () => spy.mockRestore() };
}

/** Each execution either archived the run or stood down; exactly one archived it; nobody announced a failure. */
async function expectOneArchiver(
  executions: FinishedExecution[],
  published: () => Promise<{ body: Record<string, unknown>; attributes: Record<string, string> }[]>,
  runUuid: string,
) {
  for (const execution of executions)
    expect({ name: execution.arn.split(':').pop(), status: execution.status, failure: execution.failure }).toMatchObject({ status: 'SUCCEEDED' });
  expect(executions.filter((e) => e.states.includes('Run archived'))).toHaveLength(1);
  for (const execution of executions.filter((e) => !e.states.includes('Run archived'))) {
    expect(execution.states.some((s) => s === 'Another execution is archiving this run' || s === 'Run already archived')).toBe(true);
    expect(execution.states).not.toContain('Archive output files');
  }
  const events = (await published()).filter((e) => e.body.runUuid === runUuid);
  expect(events.map((e) => e.attributes.event)).toEqual(['RUN_ARCHIVED']);
}

describe('concurrent archives of one run', () => {
  test('vault: 3 executions at once plus 5 twin events leave one archive per file, no open upload and one DeleteRun', async () => {
    const published = await observeArchiveEvents(cloud(), 'observer-concurrent-vault');
    const run = await loadRun(cloud(), {}, { outputBucket: OUTPUT_BUCKET, publishEvent: false });
    const deletions = countDeletions(run.id);
    try {
      const executions = await raceArchives(run, tierNamed('archive-all'));
      await expectOneArchiver(executions, published, run.uuid);

      expect(await runReaches(cloud(), run.uuid, ['RUN_DELETED'], 30_000)).toMatchObject({ archiveState: 'RUN_DELETED' });
      expect(deletions.count()).toBe(1);

      const files = (await index(cloud()).listFiles(run.uuid)).filter((f) => f.action === 'archive');
      expect(files.length).toBeGreaterThan(5);
      for (const file of files)
        expect({ path: file.path, state: file.state, claimOwner: file.claimOwner }).toEqual({ path: file.path, state: 'ARCHIVED', claimOwner: undefined });
      const inVault = cloud()
        .glacier.archivesIn(cloud().resources.vaultName)
        .filter((a) => a.description.includes(run.uuid));
      const nonEmpty = files.filter((f) => f.size > 0);
      expect(inVault).toHaveLength(nonEmpty.length);
      expect(new Set(inVault.map((a) => a.archiveId))).toEqual(new Set(nonEmpty.map((f) => f.archiveId)));
      expect(cloud().glacier.openUploads(cloud().resources.vaultName)).toEqual([]);
    } finally {
      deletions.restore();
    }
  });

  test('s3-glacier: the same race leaves one object version per file and no open multipart upload', async () => {
    const published = await observeArchiveEvents(cloud(), 'observer-concurrent-s3');
    const run = await loadRun(cloud(), { tags: { policy: 's3-multipart' } }, { outputBucket: OUTPUT_BUCKET, publishEvent: false });
    const deletions = countDeletions(run.id);
    try {
      const executions = await raceArchives(run, tierNamed('s3-multipart'));
      await expectOneArchiver(executions, published, run.uuid);
      expect(await runReaches(cloud(), run.uuid, ['RUN_DELETED'], 30_000)).toMatchObject({ archiveState: 'RUN_DELETED' });
      expect(deletions.count()).toBe(1);

      const files = (await index(cloud()).listFiles(run.uuid)).filter((f) => f.action === 'archive');
      expect(files.some((f) => f.copyMethod === 'multipart')).toBe(true);
      const bucket = cloud().resources.archiveBucket;
      const listed = await clients.s3Client().send(new ListObjectVersionsCommand({ Bucket: bucket, Prefix: `runs/${run.uuid}/` }));
      const versions = (listed.Versions ?? []).map((v) => v.Key);
      expect(versions.sort()).toEqual(files.map((f) => f.archiveKey).sort());
      const open = await clients.s3Client().send(new ListMultipartUploadsCommand({ Bucket: bucket, Prefix: `runs/${run.uuid}/` }));
      expect(open.Uploads ?? []).toEqual([]);
    } finally {
      deletions.restore();
    }
  });

  test('an invocation that overlaps another of the same item (a retry while the first still runs): one archive per file', async () => {
    const run = await loadRun(cloud(), {}, { outputBucket: OUTPUT_BUCKET });
    const functionArn = cloud().lambdas.functionArn('archiveFiles');
    const overlapping: Promise<unknown>[] = [];
    let twinned = false;
    const release = cloud().lambdas.intercept('archiveFiles', (event) => {
      const payload = event as { runUuid?: string; mode?: string };
      if (payload.runUuid !== run.uuid || payload.mode === 'record-failure' || twinned) return;
      twinned = true;
      // The same invocation again, at the same moment: its outcome goes nowhere, as a timed-out task's would.
      overlapping.push(cloud().lambdas.invoke(functionArn, JSON.stringify(event)));
    });
    try {
      const execution = await finished(cloud().resources.stateMachines.archiveRun, executionName(run.id, run.uuid), 180_000);
      await Promise.all(overlapping);
      expect(execution.status).toBe('SUCCEEDED');
      expect(execution.states).toContain('Run archived');
      const files = (await index(cloud()).listFiles(run.uuid)).filter((f) => f.action === 'archive' && f.size > 0);
      const inVault = cloud()
        .glacier.archivesIn(cloud().resources.vaultName)
        .filter((a) => a.description.includes(run.uuid));
      expect(inVault).toHaveLength(files.length);
      expect(cloud().glacier.openUploads(cloud().resources.vaultName)).toEqual([]);
    } finally {
      release();
    }
  });
});
