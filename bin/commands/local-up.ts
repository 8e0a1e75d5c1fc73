// `omics-archiver local up`: runs the local cloud in the foreground so anyone can explore it with the AWS CLI or an SDK.
import { LOCAL_ACCOUNT, startLocalCloud, type LocalCloud, type LocalCloudOptions } from '../../local/local-cloud';
import { demoWorkflow } from '../../local/omics';
import { loadPolicy } from './policy';

export interface LocalUpOptions {
  port: number;
  dataDir?: string;
  policy?: string;
}

/** Shell lines that point the AWS CLI, any SDK and this CLI at the local cloud. */
export function exportLines(cloud: LocalCloud): string[] {
  const r = cloud.resources;
  const vars: Record<string, string> = {
    ...cloud.env,
    OMICS_ARCHIVER_TABLE: r.runIndexTable,
    OMICS_ARCHIVER_SNAPSHOT_BUCKET: r.snapshotBucket,
    OMICS_ARCHIVER_VAULT: r.vaultName,
    OMICS_ARCHIVER_ARCHIVE_STATE_MACHINE: r.stateMachines.archiveRun,
    OMICS_ARCHIVER_RESTORE_STATE_MACHINE: r.stateMachines.restoreRun,
  };
  return Object.entries(vars).map(([k, v]) => `export ${k}=${v}`);
}

/** The role the walk-through's start-run names: the local HealthOmics checks its shape, not IAM. */
export const LOCAL_OMICS_ROLE_ARN = `arn:aws:iam::${LOCAL_ACCOUNT}:role/OmicsWorkflowRole`;

/** The local cloud as `local up` runs it: with the demo workflow registered, so StartRun has something to run. */
export async function startLocalUpCloud(options: LocalCloudOptions): Promise<LocalCloud> {
  const cloud = await startLocalCloud(options);
  try {
    cloud.omics.addWorkflow(demoWorkflow());
  } catch (error) {
    await cloud.stop();
    throw error;
  }
  return cloud;
}

/** Label/value rows, the values in one column however long the labels get. */
function table(rows: [string, string][]): string[] {
  const width = Math.max(...rows.map(([label]) => label.length)) + 1;
  return rows.map(([label, value]) => `  ${label.padEnd(width)}${value}`);
}

export function describeLocalCloud(cloud: LocalCloud): string {
  const r = cloud.resources;
  const workflows = cloud.omics.workflows();
  const workflowId = workflows[0]?.id ?? '<workflow id>';
  const outputBucket = r.outputBuckets[0] ?? r.archiveBucket;
  const lines = [
    `Local cloud listening on ${cloud.endpoint} (data in ${cloud.dataDir})`,
    '',
    'Resources:',
    ...table([
      ['run index table', r.runIndexTable],
      ['snapshot bucket', r.snapshotBucket],
      ['archive bucket', r.archiveBucket],
      ['output buckets', r.outputBuckets.join(', ')],
      ['Glacier vault', r.vaultName],
      ['archive events topic', r.archiveEventsTopicArn],
      ['restore events topic', r.restoreEventsTopicArn],
      ['vault jobs topic', r.vaultJobsTopicArn],
      ...Object.entries(r.queues).map(([name, q]): [string, string] => [`queue ${name}`, `${q.url} (DLQ ${q.dlqUrl})`]),
      ['run completion rule', r.runCompletionRule],
      ['restore completion rule', r.restoreCompletionRule],
      ['archive state machine', r.stateMachines.archiveRun],
      ['restore state machine', r.stateMachines.restoreRun],
      ...workflows.map((w): [string, string] => [`HealthOmics workflow`, `${w.id} (${w.name})`]),
    ]),
    '',
    'Use it from another shell:',
    ...exportLines(cloud).map((l) => `  ${l}`),
    '  aws omics list-workflows',
    `  aws omics start-run --workflow-id ${workflowId} --role-arn ${LOCAL_OMICS_ROLE_ARN} --output-uri s3://${outputBucket}/runs/ --name demo`,
    '  aws omics get-run --id <run id>          # PENDING, STARTING, RUNNING, then COMPLETED after a few seconds',
    '  npm run cli -- runs list                 # the run once the archive workflow has it',
    '  npm run cli -- runs show <run id>',
    '  npm run cli -- restore <run id> --wait',
    '  aws s3 ls',
    `  aws stepfunctions list-executions --state-machine-arn ${r.stateMachines.archiveRun}`,
    `  aws dynamodb scan --table-name ${r.runIndexTable}`,
    `  aws glacier list-vaults --account-id -`,
    '',
    'Press Ctrl-C to stop everything.',
  ];
  return lines.join('\n');
}

export async function localUp(options: LocalUpOptions): Promise<void> {
  const cloud = await startLocalUpCloud({ config: loadPolicy(options.policy), port: options.port, dataDir: options.dataDir, logLevel: 'INFO' });
  console.log(describeLocalCloud(cloud));
  await new Promise<void>((resolve) => {
    const stop = () => resolve();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  console.log('\nStopping the local cloud...');
  await cloud.stop();
}
