// Names of the CloudFormation outputs the stack emits; CDK-free so the operator CLI can read a deployed stack by them.
import { QUEUES } from './wiring';

export type QueueKey = keyof typeof QUEUES;

/** Output names (also their logical ids) for the resources an operator or the CLI needs to find. */
export const STACK_OUTPUTS = {
  runIndexTableName: 'RunIndexTableName',
  snapshotBucketName: 'SnapshotBucketName',
  /** Present when a tier archives to a vault: the one the stack created, or the one `imports.vaultName` names. */
  vaultName: 'VaultName',
  /** Present only when a tier uses the s3-glacier target or `imports.archiveBucketName` names a bucket. */
  archiveBucketName: 'ArchiveBucketName',
  archiveStateMachineArn: 'ArchiveStateMachineArn',
  restoreStateMachineArn: 'RestoreStateMachineArn',
  archiveEventsTopicArn: 'ArchiveEventsTopicArn',
  restoreEventsTopicArn: 'RestoreEventsTopicArn',
  vaultNotificationTopicArn: 'VaultNotificationTopicArn',
  alarmTopicArn: 'AlarmTopicArn',
} as const;
export type StackOutputKey = keyof typeof STACK_OUTPUTS;

/** Output name of each queue's dead-letter queue URL, e.g. `RunCompletionDlqUrl`. */
export const DLQ_URL_OUTPUTS = Object.fromEntries((Object.keys(QUEUES) as QueueKey[]).map((key) => [key, `${QUEUES[key].id}DlqUrl`])) as Record<
  QueueKey,
  string
>;

/** What the CLI gets back from a deployed stack's outputs, keyed by the names above. */
export interface ArchiverStackOutputs {
  values: Partial<Record<StackOutputKey, string>>;
  deadLetterQueueUrls: Partial<Record<QueueKey, string>>;
}

/** Sorts a DescribeStacks `Outputs` list into the stack's named outputs; unknown outputs are ignored. */
export function readStackOutputs(outputs: readonly { OutputKey?: string; OutputValue?: string }[]): ArchiverStackOutputs {
  const byName = new Map(outputs.filter((o) => o.OutputKey && o.OutputValue !== undefined).map((o) => [o.OutputKey, o.OutputValue as string]));
  const values: ArchiverStackOutputs['values'] = {};
  for (const [key, name] of Object.entries(STACK_OUTPUTS) as [StackOutputKey, string][]) {
    const value = byName.get(name);
    if (value !== undefined) values[key] = value;
  }
  const deadLetterQueueUrls: ArchiverStackOutputs['deadLetterQueueUrls'] = {};
  for (const [key, name] of Object.entries(DLQ_URL_OUTPUTS) as [QueueKey, string][]) {
    const value = byName.get(name);
    if (value !== undefined) deadLetterQueueUrls[key] = value;
  }
  return { values, deadLetterQueueUrls };
}

/** The stack name `cdk deploy` uses unless `-c stackName=...` says otherwise; the CLI looks for this stack's outputs. */
export const DEFAULT_STACK_NAME = 'OmicsRunArchiver';
