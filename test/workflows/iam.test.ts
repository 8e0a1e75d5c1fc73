// IAM against what the code really calls: every AWS call of an archive, deletion and restore, checked against the template's policies.
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { StartExecutionCommand } from '@aws-sdk/client-sfn';
import { CreateMultipartUploadCommand } from '@aws-sdk/client-s3';
import { InitiateMultipartUploadCommand } from '@aws-sdk/client-glacier';
import { archiveDescription } from '../../functions/lib/archive/archive-files';
import { abortStrayS3Uploads, abortStrayVaultUploads } from '../../functions/lib/archive/stray-uploads';
import { asPrincipal } from '../../local/call-recorder';
import * as clients from '../../functions/lib/runtime/clients';
import type { RecordedCall } from '../../local/call-recorder';
import { LAMBDAS } from '../../stacks/wiring';
import { synthTemplate } from '../stacks/helpers';
import { archiveExecution, finished, index, loadRun, runReaches, useLocalCloud, writeOutputsFolder } from '../support/local-cloud';
import { OUTPUT_BUCKET, RESTORE_BUCKET, WORKFLOW_POLICY } from '../support/policies';
import {
  checkCalls,
  describeDenials,
  iamRequestsOf,
  stateMachineOf,
  stateMachineRequests,
  templatePrincipals,
  type CfnTemplate,
  type IamRequest,
} from '../support/iam-check';

jest.setTimeout(180_000);
const calls: RecordedCall[] = [];
const cloud = useLocalCloud(WORKFLOW_POLICY, { onAwsCall: (call) => calls.push(call) });

const MIB = 1024 * 1024;
const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'iam-test-'));
afterAll(() => fs.rmSync(scratch, { recursive: true, force: true }));

async function restore(name: string, request: Record<string, unknown>) {
  const machine = cloud().resources.stateMachines.restoreRun;
  await clients.sfnClient().send(new StartExecutionCommand({ stateMachineArn: machine, name, input: JSON.stringify(request) }));
  return finished(machine, name);
}

// The template the local cloud mirrors: the same configuration, so the same buckets are granted.
let template: CfnTemplate;
let requests: IamRequest[] = [];
/** How each workflow ended; asserted by the first test, so a failed step does not hide the IAM check of the rest. */
const outcomes: { name: string; status?: string; failure?: unknown }[] = [];

beforeAll(async () => {
  template = synthTemplate(WORKFLOW_POLICY).toJSON() as CfnTemplate;
  // A vault archive (multipart: parts of 1 MiB), an S3 Glacier archive with a copy above multipartAbove
  // (UploadPartCopy), both deleting their run, and a Deep Archive one (a small CopyObject each) to restore from S3.
  // Bundles too, to each target: a manifest read beside the plan, digests written there, member lists read back.
  const smallFiles = (name: string) =>
    writeOutputsFolder(scratch, name, { 'qc/a.json': randomBytes(3000), 'qc/b.json': randomBytes(4000), 'qc/c.json': randomBytes(5000) });
  const [vaultRun, multipartRun, deepArchiveRun, vaultBundleRun, s3BundleRun] = await Promise.all([
    loadRun(
      cloud(),
      { outputs: [], outputsFolder: writeOutputsFolder(scratch, 'vault', { 'reads/two-parts.cram': randomBytes(2 * MIB + 3), 'small.txt': randomBytes(100) }) },
      { outputBucket: OUTPUT_BUCKET },
    ),
    loadRun(
      cloud(),
      {
        outputs: [],
        outputsFolder: writeOutputsFolder(scratch, 's3-multipart', { 'aligned/big.bam': randomBytes(6 * MIB + 1), 'small.txt': randomBytes(100) }),
        tags: { policy: 's3-multipart' },
      },
      { outputBucket: OUTPUT_BUCKET },
    ),
    loadRun(
      cloud(),
      {
        outputs: [],
        outputsFolder: writeOutputsFolder(scratch, 's3-deep', { 'aligned/sample.bam': randomBytes(MIB + 7), 'small.txt': randomBytes(100) }),
        tags: { policy: 's3' },
      },
      { outputBucket: OUTPUT_BUCKET },
    ),
    loadRun(cloud(), { outputs: [], outputsFolder: smallFiles('vault-bundle'), tags: { policy: 'bundle-vault' } }, { outputBucket: OUTPUT_BUCKET }),
    loadRun(cloud(), { outputs: [], outputsFolder: smallFiles('s3-bundle'), tags: { policy: 'bundle-s3' } }, { outputBucket: OUTPUT_BUCKET }),
  ]);
  const archives = [
    ['vault archive', vaultRun, 'RUN_DELETED'],
    ['s3-glacier multipart archive', multipartRun, 'RUN_DELETED'],
    ['s3-glacier deep archive', deepArchiveRun, 'ARCHIVED'],
    ['vault bundle archive', vaultBundleRun, 'ARCHIVED'],
    ['s3-glacier bundle archive', s3BundleRun, 'ARCHIVED'],
  ] as const;
  for (const [name, run, settled] of archives) {
    const execution = await archiveExecution(cloud(), run.id, run.uuid);
    // The tiers that delete the run do so once archived (the run-deletion queue and DeleteRun).
    const state = (await runReaches(cloud(), run.uuid, [settled]))?.archiveState;
    outcomes.push({ name, status: `${execution.status} ${state}`, failure: execution.failure });
  }
  const restored = [
    ['vault restore', vaultRun],
    ['s3-glacier restore', deepArchiveRun],
    ['vault bundle restore', vaultBundleRun],
    ['s3-glacier bundle restore', s3BundleRun],
  ] as const;
  const restores = await Promise.all(
    restored.map(([name, run]) => restore(`iam-${name.replace(/ /g, '-')}-${Date.now()}`, { run: run.id, destination: `s3://${RESTORE_BUCKET}/${run.id}/` })),
  );
  for (const [i, [name, run]] of restored.entries()) {
    const execution = restores[i];
    const restoreId = execution.arn.split(':').pop() ?? '';
    // A file that was not restored says why on its record: the first thing to read when this fails.
    const notRestored = (await index(cloud()).listRestores(run.uuid)).files
      .filter((f) => f.restoreId === restoreId && f.state !== 'RESTORED')
      .map((f) => `${f.path}: ${f.failureReason ?? f.state}`);
    outcomes.push({ name, status: execution.status, failure: notRestored.length ? notRestored : execution.failure });
  }
  // A file's next claimant after a crash aborts the uploads the crashed attempt left unrecorded (stray-uploads.ts). No
  // crash happens above, so the strays are made here and the sweep is run as ArchiveFiles runs it, under its role.
  const strayKey = `runs/${multipartRun.uuid}/out/stray.bam`;
  await clients.s3Client().send(new CreateMultipartUploadCommand({ Bucket: cloud().resources.archiveBucket, Key: strayKey, StorageClass: 'DEEP_ARCHIVE' }));
  const strayDescription = archiveDescription(vaultRun.uuid, 'out/stray.bam');
  await clients.glacierClient().send(
    new InitiateMultipartUploadCommand({
      accountId: '-',
      vaultName: cloud().resources.vaultName,
      archiveDescription: strayDescription,
      partSize: String(MIB),
    }),
  );
  const aborted = await asPrincipal(cloud().lambdas.functionName(LAMBDAS.archiveFiles), async () => [
    await abortStrayS3Uploads(clients.s3Client(), cloud().resources.archiveBucket, strayKey),
    await abortStrayVaultUploads(clients.glacierClient(), cloud().resources.vaultName, strayDescription),
  ]);
  outcomes.push({ name: 'stray-upload sweep', status: `aborted ${aborted.join(' + ')}`, failure: undefined });

  // The daily sweep, invoked as its schedule would (the Scheduler's own lambda:InvokeFunction is not seen here).
  const sweep = await cloud().lambdas.invoke(cloud().lambdas.functionName(LAMBDAS.reconcileRuns), '{}');
  outcomes.push({ name: 'reconcile sweep', status: sweep.functionError ? 'FAILED' : 'SUCCEEDED', failure: sweep.functionError ? sweep.payload : undefined });

  const functionRequests = calls.flatMap((call) =>
    iamRequestsOf(call.principal === 'step-functions' ? { ...call, principal: `state-machine:${stateMachineOf(String(call.input.FunctionName))}` } : call),
  );
  requests = [...functionRequests, ...(await stateMachineRequests(cloud()))];
}, 180_000);

const actionsOf = (principal: string) => new Set(requests.filter((r) => r.principal === principal).map((r) => r.action));

describe('IAM: the calls the code makes, against the synthesized policies', () => {
  test('the scenario made the calls worth checking: vault and S3 Glacier archives, multipart copies, deletion, both restores', () => {
    expect(outcomes).toEqual([
      { name: 'vault archive', status: 'SUCCEEDED RUN_DELETED', failure: undefined },
      { name: 's3-glacier multipart archive', status: 'SUCCEEDED RUN_DELETED', failure: undefined },
      { name: 's3-glacier deep archive', status: 'SUCCEEDED ARCHIVED', failure: undefined },
      { name: 'vault bundle archive', status: 'SUCCEEDED ARCHIVED', failure: undefined },
      { name: 's3-glacier bundle archive', status: 'SUCCEEDED ARCHIVED', failure: undefined },
      { name: 'vault restore', status: 'SUCCEEDED', failure: undefined },
      { name: 's3-glacier restore', status: 'SUCCEEDED', failure: undefined },
      { name: 'vault bundle restore', status: 'SUCCEEDED', failure: undefined },
      { name: 's3-glacier bundle restore', status: 'SUCCEEDED', failure: undefined },
      { name: 'stray-upload sweep', status: 'aborted 1 + 1', failure: undefined },
      { name: 'reconcile sweep', status: 'SUCCEEDED', failure: undefined },
    ]);
    const expected: [string, string][] = [
      ['omics-archiver-SnapshotRun', 'omics:GetRun'],
      ['omics-archiver-SnapshotRun', 'logs:GetLogEvents'],
      ['omics-archiver-PlanArchive', 's3:ListBucket'],
      ['omics-archiver-ArchiveFiles', 'glacier:UploadMultipartPart'],
      ['omics-archiver-ArchiveFiles', 's3:PutObject'],
      ['omics-archiver-ArchiveFiles', 's3:DeleteObject'],
      ['omics-archiver-ArchiveFiles', 's3:ListBucketMultipartUploads'],
      ['omics-archiver-ArchiveFiles', 'glacier:ListMultipartUploads'],
      ['omics-archiver-ArchiveFiles', 'glacier:AbortMultipartUpload'],
      ['omics-archiver-DeleteRun', 'omics:DeleteRun'],
      ['omics-archiver-DeleteRun', 'sqs:ReceiveMessage'],
      ['omics-archiver-RequestRetrieval', 'glacier:InitiateJob'],
      ['omics-archiver-RequestRetrieval', 's3:RestoreObject'],
      ['omics-archiver-CopyRestoredFile', 'glacier:GetJobOutput'],
      ['omics-archiver-TriggerArchive', 'states:StartExecution'],
      ['omics-archiver-ReconcileRuns', 'omics:ListRuns'],
      ['state-machine:archiveRun', 'lambda:InvokeFunction'],
      ['state-machine:archiveRun', 'sns:Publish'],
      ['state-machine:archiveRun', 's3:GetObject'],
      ['state-machine:restoreRun', 'states:StartExecution'],
    ];
    for (const [principal, action] of expected)
      expect(`${principal} ${[...actionsOf(principal)].includes(action) ? action : 'never called it'}`).toBe(`${principal} ${action}`);
    expect(requests.some((r) => r.via === 'S3 UploadPartCopy')).toBe(true);
    // The bundles' own calls: the archive step reads manifests and writes digests beside the plans, the copy reads member lists.
    const snapshot = `arn:aws:s3:::${cloud().resources.snapshotBucket}`;
    const onSnapshots = (principal: string, action: string, prefix: string) =>
      requests.some((r) => r.principal === principal && r.action === action && r.resource.startsWith(`${snapshot}/${prefix}`));
    expect(onSnapshots('omics-archiver-ArchiveFiles', 's3:GetObject', 'plans/')).toBe(true);
    expect(onSnapshots('omics-archiver-ArchiveFiles', 's3:PutObject', 'plans/')).toBe(true);
    expect(onSnapshots('omics-archiver-CopyRestoredFile', 's3:GetObject', 'restores/')).toBe(true);
  });

  test('every recorded call is allowed by its principal’s policies in the template', async () => {
    const denials = await checkCalls(requests, templatePrincipals(template, cloud()));
    expect(describeDenials(denials)).toBe('');
  });

  const escape = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  test.each([
    ['omics-archiver-ArchiveFiles', 'ArchiveFilesRoleDefaultPolicy', 's3:GetObject', `arn:aws:s3:::${OUTPUT_BUCKET}/runs/`],
    ['omics-archiver-RequestRetrieval', 'RequestRetrievalRoleDefaultPolicy', 'glacier:InitiateJob', 'arn:aws:glacier:us-east-1:123456789012:vaults/'],
    ['omics-archiver-ArchiveFiles', 'ArchiveFilesRoleDefaultPolicy', 's3:ListBucketMultipartUploads', 'arn:aws:s3:::omics-archiver-'],
    ['state-machine:archiveRun', 'ArchiveRunStateMachineRoleDefaultPolicy', 'lambda:InvokeFunction', 'arn:aws:lambda:us-east-1:123456789012:function:'],
  ])(
    'a grant removed from the template is caught: %s, its %s without %s, is named with the action and a resource under %s',
    async (principal, policyId, action, resourcePrefix) => {
      const broken = structuredClone(template);
      const [, policy] = Object.entries(broken.Resources).find(([id, r]) => r.Type === 'AWS::IAM::Policy' && id.includes(policyId)) ?? [];
      const document = policy?.Properties?.PolicyDocument as { Statement: { Action: string | string[] }[] } | undefined;
      const statement = document?.Statement.find((s) => [s.Action].flat().includes(action));
      expect(statement).toBeDefined();
      statement!.Action = [statement!.Action].flat().filter((granted) => granted !== action);

      const denials = await checkCalls(requests, templatePrincipals(broken, cloud()));
      expect(denials.length).toBeGreaterThan(0);
      expect(denials.filter((d) => d.principal !== principal || d.action !== action)).toEqual([]);
      expect(describeDenials(denials)).toMatch(
        new RegExp(
          `^${escape(principal)} \\(role \\w+\\) would be denied ${escape(action)} on ${escape(resourcePrefix)}\\S+ \\[[^\\]]+\\]: ImplicitlyDenied$`,
          'm',
        ),
      );
    },
  );
});
