// `omics-archiver local up`: runs the local cloud in the foreground so anyone can explore it with the AWS CLI or an SDK.
import { startLocalCloud, type LocalCloud } from '../../local/local-cloud';
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

export function describeLocalCloud(cloud: LocalCloud): string {
  const r = cloud.resources;
  const lines = [
    `Local cloud listening on ${cloud.endpoint} (data in ${cloud.dataDir})`,
    '',
    'Resources:',
    `  run index table         ${r.runIndexTable}`,
    `  snapshot bucket         ${r.snapshotBucket}`,
    `  archive bucket          ${r.archiveBucket}`,
    `  output buckets          ${r.outputBuckets.join(', ')}`,
    `  Glacier vault           ${r.vaultName}`,
    `  archive events topic    ${r.archiveEventsTopicArn}`,
    `  vault jobs topic        ${r.vaultJobsTopicArn}`,
    ...Object.entries(r.queues).map(([name, q]) => `  queue ${name.padEnd(18)}${q.url} (DLQ ${q.dlqUrl})`),
    `  run completion rule     ${r.runCompletionRule}`,
    `  restore completion rule ${r.restoreCompletionRule}`,
    `  archive state machine   ${r.stateMachines.archiveRun}`,
    `  restore state machine   ${r.stateMachines.restoreRun}`,
    '',
    'Use it from another shell:',
    ...exportLines(cloud).map((l) => `  ${l}`),
    '  aws s3 ls',
    `  aws stepfunctions list-executions --state-machine-arn ${r.stateMachines.archiveRun}`,
    `  aws dynamodb scan --table-name ${r.runIndexTable}`,
    `  aws glacier list-vaults --account-id -`,
    '  npm run cli -- runs list',
    '',
    'Press Ctrl-C to stop everything.',
  ];
  return lines.join('\n');
}

export async function localUp(options: LocalUpOptions): Promise<void> {
  const cloud = await startLocalCloud({ config: loadPolicy(options.policy), port: options.port, dataDir: options.dataDir, logLevel: 'INFO' });
  console.log(describeLocalCloud(cloud));
  await new Promise<void>((resolve) => {
    const stop = () => resolve();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  console.log('\nStopping the local cloud...');
  await cloud.stop();
}
