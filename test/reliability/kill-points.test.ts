// Crash and resume on the local cloud: archive invocations killed at AWS calls drawn at random (seeded) still end
// with every file archived once, nothing left open, and the index and the archive agreeing.
import { ListMultipartUploadsCommand, ListObjectVersionsCommand } from '@aws-sdk/client-s3';
import * as clients from '../../functions/lib/runtime/clients';
import { executionName } from '../../functions/lib/archive/trigger-archive';
import { injectFault, type FaultRule } from '../../local/faults';
import { announceRunStatus, finished, index, loadRun, useLocalCloud } from '../support/local-cloud';
import { OUTPUT_BUCKET, WORKFLOW_POLICY } from '../support/policies';
import { mulberry32 } from '../support/random';

/** Replay a failure with RELIABILITY_SEED=<the seed in the test's name>. */
const SEED = Number(process.env.RELIABILITY_SEED ?? 20261202);
const KILL_POINTS = 20;
const RUNS_AT_ONCE = Number(process.env.RELIABILITY_RUNS_AT_ONCE ?? 10);
const ARCHIVE_FILES = 'omics-archiver-ArchiveFiles';

jest.setTimeout(600_000);
// A short ArchiveFiles timeout keeps a crashed worker's claim short (its deadline plus CLAIM_SLACK_MS), as the claim
// must outlive the invocation; the 30-second deadline margin leaves each invocation a few seconds of work.
const cloud = useLocalCloud(WORKFLOW_POLICY, { functionTimeoutSeconds: { archiveFiles: 34 } });

type Target = 'vault' | 's3';
interface KillPoint {
  target: Target;
  service: string;
  operation: string;
  when: 'before' | 'after';
  nth: number;
}

/** Where an archive can die, with how many such calls a run of the fixture surely makes (nth is drawn up to it). */
const CATALOGUE: Record<Target, { service: string; operation: string; upTo: number }[]> = {
  vault: [
    { service: 'Glacier', operation: 'InitiateMultipartUpload', upTo: 6 },
    { service: 'Glacier', operation: 'UploadMultipartPart', upTo: 6 },
    { service: 'Glacier', operation: 'CompleteMultipartUpload', upTo: 6 },
    { service: 'DynamoDB', operation: 'UpdateItem', upTo: 10 },
    { service: 'S3', operation: 'GetObject', upTo: 5 },
    { service: 'S3', operation: 'DeleteObject', upTo: 5 },
  ],
  s3: [
    { service: 'S3', operation: 'CopyObject', upTo: 4 },
    { service: 'S3', operation: 'UploadPartCopy', upTo: 2 },
    { service: 'S3', operation: 'CreateMultipartUpload', upTo: 1 },
    { service: 'S3', operation: 'CompleteMultipartUpload', upTo: 1 },
    { service: 'DynamoDB', operation: 'UpdateItem', upTo: 10 },
    { service: 'S3', operation: 'DeleteObject', upTo: 4 },
  ],
};

function drawKillPoints(seed: number, count: number): KillPoint[] {
  const random = mulberry32(seed);
  const pick = <T>(items: readonly T[]) => items[Math.floor(random() * items.length)];
  return Array.from({ length: count }, (_, i) => {
    const target: Target = i % 2 === 0 ? 'vault' : 's3';
    const call = pick(CATALOGUE[target]);
    return { target, service: call.service, operation: call.operation, when: pick(['before', 'after'] as const), nth: 1 + Math.floor(random() * call.upTo) };
  });
}

const describePoint = (p: KillPoint) => `${p.target}: crash ${p.when} ${p.service} ${p.operation} #${p.nth}`;

/** Archives one run with one crash armed, and reads back what the index, the vault and the archive bucket hold. */
async function archiveWithCrash(point: KillPoint) {
  const run = await loadRun(cloud(), point.target === 's3' ? { tags: { policy: 's3-multipart' } } : {}, { outputBucket: OUTPUT_BUCKET, publishEvent: false });
  const rule: FaultRule = {
    functionName: ARCHIVE_FILES,
    runUuid: run.uuid,
    service: point.service,
    operation: point.operation,
    nth: point.nth,
    fault: { kind: 'crash', when: point.when },
  };
  const armed = injectFault(rule);
  try {
    await announceRunStatus(run);
    const started = Date.now();
    const execution = await finished(cloud().resources.stateMachines.archiveRun, executionName(run.id, run.uuid), 240_000);
    if (process.env.RELIABILITY_TIMES) process.stderr.write(`${describePoint(point)}: ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
    return { run, execution, fired: armed.fired() };
  } finally {
    armed.disarm();
  }
}

test(`${KILL_POINTS} archive invocations killed at AWS calls drawn with seed ${SEED}: no file lost, none archived twice, nothing left open`, async () => {
  // RELIABILITY_ONLY=3,7 replays just those draws of the seed.
  const only = process.env.RELIABILITY_ONLY?.split(',').map(Number);
  const points = drawKillPoints(SEED, KILL_POINTS).filter((_, i) => !only || only.includes(i));
  // A few runs at a time: each waits out a crashed worker's claim, and moto slows down past a handful of runs at once.
  const outcomes: Awaited<ReturnType<typeof archiveWithCrash>>[] = [];
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < points.length; i = next++) outcomes[i] = await archiveWithCrash(points[i]);
  };
  await Promise.all(Array.from({ length: RUNS_AT_ONCE }, worker));

  const problems: string[] = [];
  const vaultName = cloud().resources.vaultName;
  const bucket = cloud().resources.archiveBucket;
  for (const [i, { run, execution, fired }] of outcomes.entries()) {
    const point = describePoint(points[i]);
    if (fired !== 1) problems.push(`${point}: the crash fired ${fired} times`);
    if (execution.status !== 'SUCCEEDED' || !execution.states.includes('Run archived')) {
      problems.push(`${point}: execution ${execution.status} (${JSON.stringify(execution.failure)})`);
    }
    const files = (await index(cloud()).listFiles(run.uuid)).filter((f) => f.action === 'archive');
    for (const f of files) {
      if (f.state !== 'ARCHIVED') problems.push(`${point}: ${f.path} is ${f.state} (${f.failureReason})`);
      if (f.claimOwner || f.completingTreeHash || f.completingCrc64nvme) problems.push(`${point}: ${f.path} keeps a claim or an intent`);
      if (!f.sourceDeleted) problems.push(`${point}: ${f.path} source not recorded deleted`);
    }
    const nonEmpty = files.filter((f) => f.size > 0);
    if (points[i].target === 'vault') {
      const archives = cloud()
        .glacier.archivesIn(vaultName)
        .filter((a) => a.description.includes(run.uuid));
      const recorded = new Set(nonEmpty.map((f) => f.archiveId));
      if (archives.length !== nonEmpty.length) problems.push(`${point}: ${archives.length} archives in the vault for ${nonEmpty.length} files`);
      for (const a of archives) if (!recorded.has(a.archiveId)) problems.push(`${point}: archive ${a.description} is in the vault but not in the index`);
    } else {
      const listed = await clients.s3Client().send(new ListObjectVersionsCommand({ Bucket: bucket, Prefix: `runs/${run.uuid}/` }));
      const versions = (listed.Versions ?? []).map((v) => v.Key ?? '');
      if (versions.length !== files.length) problems.push(`${point}: ${versions.length} object versions for ${files.length} files`);
      const open = await clients.s3Client().send(new ListMultipartUploadsCommand({ Bucket: bucket, Prefix: `runs/${run.uuid}/` }));
      if ((open.Uploads ?? []).length) problems.push(`${point}: ${(open.Uploads ?? []).length} multipart uploads left open`);
    }
  }
  if (cloud().glacier.openUploads(vaultName).length) problems.push(`${cloud().glacier.openUploads(vaultName).length} vault uploads left open`);
  expect(problems).toEqual([]);
});
