// Environment variable names the handlers read and the Powertools identity every function shares.

/** Environment variable names the handlers read (functions/lib/runtime/env.ts validates them). */
export const ENV = {
  runIndexTable: 'RUN_INDEX_TABLE',
  snapshotBucket: 'SNAPSHOT_BUCKET',
  vaultName: 'VAULT_NAME',
  archiveEventsTopicArn: 'ARCHIVE_EVENTS_TOPIC_ARN',
  restoreEventsTopicArn: 'RESTORE_EVENTS_TOPIC_ARN',
  vaultJobsTopicArn: 'VAULT_JOBS_TOPIC_ARN',
  archiveStateMachineArn: 'ARCHIVE_STATE_MACHINE_ARN',
  restoreStateMachineArn: 'RESTORE_STATE_MACHINE_ARN',
  tierPolicy: 'TIER_POLICY',
  archiveBucket: 'ARCHIVE_BUCKET',
  /** "true" (config logRunParameters): log lines keep a run's `parameters`; otherwise they read "[redacted]". Every function gets it. */
  logRunParameters: 'LOG_RUN_PARAMETERS',
} as const;
export type EnvName = (typeof ENV)[keyof typeof ENV];

/** Powertools settings shared by every function. */
export const POWERTOOLS = { serviceName: 'omics-run-archiver', metricsNamespace: 'OmicsRunArchiver' } as const;
