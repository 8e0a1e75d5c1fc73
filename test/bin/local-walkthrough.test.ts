// The README's walk-through on the local cloud `local up` runs: start a run with the AWS SDK, watch it archive, list, show, restore.
import { GetLogEventsCommand } from '@aws-sdk/client-cloudwatch-logs';
import { GetRunCommand, ListWorkflowsCommand, OmicsClient, StartRunCommand } from '@aws-sdk/client-omics';
import { GetObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { bufferIO } from '../../bin/commands/display';
import { exportLines, LOCAL_OMICS_ROLE_ARN, startLocalUpCloud } from '../../bin/commands/local-up';
import { DEMO_OUTPUT_BUCKET, loadPolicy } from '../../bin/commands/policy';
import { restoreCommand } from '../../bin/commands/restore';
import { runsList, runsShow } from '../../bin/commands/runs';
import * as clients from '../../functions/lib/runtime/clients';
import { WORKFLOW_LOG_GROUP } from '../../local/omics';
import type { LocalCloud } from '../../local/local-cloud';
import { runReaches } from '../support/local-cloud';

jest.setTimeout(90_000);

let cloud: LocalCloud;
let omics: OmicsClient;
/** What the operator's second shell has after pasting the printed `export` lines. */
let shell: Record<string, string>;
const folder = fs.mkdtempSync(path.join(os.tmpdir(), 'walkthrough-outputs-'));
const files: Record<string, string> = { 'calls/sample.vcf': 'chr1\t100\tA\tG\n', 'qc/report.txt': 'all good\n', 'empty.done': '' };

beforeAll(async () => {
  for (const [name, content] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(folder, name)), { recursive: true });
    fs.writeFileSync(path.join(folder, name), content);
  }
  cloud = await startLocalUpCloud({
    config: loadPolicy(),
    logLevel: 'SILENT',
    // Seconds in `local up`; a few tenths here, so the walk-through stays well inside the test's bound.
    omicsRunDelayMs: { pendingMs: 200, startingMs: 200, runningMs: 300 },
    s3RestoreDelayMs: { Standard: 300 },
  });
  shell = Object.fromEntries(exportLines(cloud).map((line) => /^export ([A-Z0-9_]+)=(.*)$/.exec(line)!.slice(1, 3) as [string, string]));
  omics = new OmicsClient({
    endpoint: shell.AWS_ENDPOINT_URL,
    region: shell.AWS_REGION,
    credentials: { accessKeyId: shell.AWS_ACCESS_KEY_ID, secretAccessKey: shell.AWS_SECRET_ACCESS_KEY },
    // What AWS_DISABLE_HOST_PREFIX_INJECTION=true does for the AWS CLI: no `workflows-` host prefix on 127.0.0.1.
    disableHostPrefix: true,
  });
}, 60_000);

afterAll(async () => {
  omics?.destroy();
  await cloud?.stop();
  fs.rmSync(folder, { recursive: true, force: true });
}, 30_000);

test('local up prints the host-prefix switch the AWS CLI needs, and lists the demo workflow', () => {
  expect(shell.AWS_DISABLE_HOST_PREFIX_INJECTION).toBe('true');
  expect(cloud.omics.workflows().map((w) => w.name)).toEqual(['germline-variant-calling']);
});

test('start-run → COMPLETED with outputs and logs → archived → runs list, runs show → restore --wait', async () => {
  const { items } = await omics.send(new ListWorkflowsCommand({}));
  const workflow = items!.find((w) => w.name === 'germline-variant-calling')!;
  const outputUri = `s3://${DEMO_OUTPUT_BUCKET}/runs/`;
  const [synthetic, fromFolder] = await Promise.all([
    omics.send(new StartRunCommand({ workflowId: workflow.id, roleArn: LOCAL_OMICS_ROLE_ARN, outputUri, name: 'demo' })),
    omics.send(
      new StartRunCommand({ workflowId: workflow.id, roleArn: LOCAL_OMICS_ROLE_ARN, outputUri, name: 'demo-folder', parameters: { outputsFrom: folder } }),
    ),
  ]);
  expect(synthetic.status).toBe('PENDING');

  // get-run, polled: the statuses it passes through, up to COMPLETED.
  const seen: string[] = [];
  const deadline = Date.now() + 20_000;
  for (;;) {
    const { status } = await omics.send(new GetRunCommand({ id: fromFolder.id }));
    if (seen.at(-1) !== status) seen.push(status!);
    if (status === 'COMPLETED' || Date.now() > deadline) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  expect(seen).toEqual(expect.arrayContaining(['STARTING', 'RUNNING', 'COMPLETED']));
  expect(seen.indexOf('STARTING')).toBeLessThan(seen.indexOf('RUNNING'));

  // Outputs where HealthOmics puts them, and the run's logs, before the archive deletes the sources.
  const done = await omics.send(new GetRunCommand({ id: fromFolder.id }));
  expect(done.runOutputUri).toBe(`${outputUri}${fromFolder.id}`);
  const listed = await clients.s3Client().send(new ListObjectsV2Command({ Bucket: DEMO_OUTPUT_BUCKET, Prefix: `runs/${fromFolder.id}/` }));
  expect(listed.Contents?.map((o) => o.Key)).toEqual(
    expect.arrayContaining([...Object.keys(files).map((f) => `runs/${fromFolder.id}/out/${f}`), `runs/${fromFolder.id}/logs/engine.log`]),
  );
  const engineLog = await clients
    .logsClient()
    .send(new GetLogEventsCommand({ logGroupName: WORKFLOW_LOG_GROUP, logStreamName: `run/${fromFolder.id}/engine` }));
  expect(engineLog.events?.length).toBeGreaterThan(0);

  // Its COMPLETED event reached the archive trigger: the demo tier archives and then deletes the run.
  const archived = await runReaches(cloud, fromFolder.uuid!, ['RUN_DELETED', 'FAILED'], 45_000);
  expect(archived?.archiveState).toBe('RUN_DELETED');
  const syntheticArchived = await runReaches(cloud, synthetic.uuid!, ['RUN_DELETED', 'FAILED'], 30_000);
  expect(syntheticArchived?.archiveState).toBe('RUN_DELETED');

  // npm run cli -- runs list / runs show <id>, with the printed exports as the environment.
  const deps = { env: shell };
  const listIO = bufferIO();
  const runs = await runsList({}, listIO, deps);
  expect(runs.map((r) => r.runUuid)).toEqual(expect.arrayContaining([synthetic.uuid, fromFolder.uuid]));
  expect(listIO.stdout.join('\n')).toContain(fromFolder.id);
  const showIO = bufferIO();
  const details = await runsShow(fromFolder.id!, {}, showIO, deps);
  expect(details.run.runUuid).toBe(fromFolder.uuid);
  // The demo tier archives everything under the run's folder: its outputs and the engine log and outputs.json beside them.
  const archivedPaths = [...Object.keys(files).map((f) => `out/${f}`), 'logs/engine.log', 'logs/outputs.json'].sort();
  expect(details.files.map((f) => f.path).sort()).toEqual(archivedPaths);
  expect(details.files.every((f) => f.state === 'ARCHIVED')).toBe(true);

  // npm run cli -- restore <id> --wait: every file back where it was, byte for byte.
  const restoreIO = bufferIO();
  const result = await restoreCommand(fromFolder.id!, { wait: true, poll: 0.5, timeout: 60 }, restoreIO, deps);
  expect(result.status).toBe('SUCCEEDED');
  expect(result.ok).toBe(true);
  expect(result.files?.map((f) => f.path).sort()).toEqual(archivedPaths);
  expect(result.files?.every((f) => f.state === 'RESTORED')).toBe(true);
  for (const [name, content] of Object.entries(files)) {
    const { Body } = await clients.s3Client().send(new GetObjectCommand({ Bucket: DEMO_OUTPUT_BUCKET, Key: `runs/${fromFolder.id}/out/${name}` }));
    expect(await Body!.transformToString()).toBe(content);
  }
});
