// What the archiver hears and says: HealthOmics run statuses and events, the archive- and restore-events topics' attributes.

/** The statuses after which a HealthOmics run never changes again (DELETED aside). */
export const TERMINAL_RUN_STATUSES = ['COMPLETED', 'FAILED', 'CANCELLED'] as const;
export type TerminalRunStatus = (typeof TERMINAL_RUN_STATUSES)[number];

export const isTerminalRunStatus = (status: string | undefined): status is TerminalRunStatus =>
  (TERMINAL_RUN_STATUSES as readonly (string | undefined)[]).includes(status);

/** EventBridge pattern for HealthOmics runs that reached a terminal status. */
export const RUN_TERMINAL_EVENT_PATTERN = {
  source: ['aws.omics'],
  'detail-type': ['Run Status Change'],
  detail: { status: [...TERMINAL_RUN_STATUSES] },
} as const;

/** What S3 puts on the default bus when a restored copy of a Glacier-class object is ready (its `detail-type`). */
export const S3_RESTORE_COMPLETED = { source: 'aws.s3', detailType: 'Object Restore Completed' } as const;

/**
 * EventBridge pattern for finished restores of the archive bucket's objects: the stack's rule and the local cloud's
 * route them to the retrieval-notification queue. The bucket must have EventBridge notifications on.
 */
export const s3RestoreCompletedPattern = (archiveBucket: string) =>
  ({
    source: [S3_RESTORE_COMPLETED.source],
    'detail-type': [S3_RESTORE_COMPLETED.detailType],
    detail: { bucket: { name: [archiveBucket] } },
  }) as const;

/** SNS message attribute values the archive workflow publishes with (`event`, `tier`, `deleteRun`). */
export const ARCHIVE_EVENTS = {
  archived: 'RUN_ARCHIVED',
  partial: 'RUN_ARCHIVE_PARTIAL',
  failed: 'RUN_ARCHIVE_FAILED',
} as const;

/**
 * SNS message attribute values the restore workflow publishes with, on the restore-events topic: RESTORE_COMPLETED
 * when every file came back, RESTORE_FAILED otherwise (some or all files not restored).
 */
export const RESTORE_EVENTS = {
  completed: 'RESTORE_COMPLETED',
  failed: 'RESTORE_FAILED',
} as const;
export type RestoreEventName = (typeof RESTORE_EVENTS)[keyof typeof RESTORE_EVENTS];

/** The message attributes of a restore event, so a subscription's filter policy can choose by any of them. */
export const RESTORE_EVENT_ATTRIBUTES = ['event', 'runId', 'runUuid', 'tier', 'retrievalTier'] as const;

/**
 * A restore event's message stays under this many bytes: SNS takes at most 256 KiB (262,144 bytes) for the message and
 * its attributes together; beyond it the file list is cut and the message points at the index for the rest.
 */
export const RESTORE_EVENT_MAX_BYTES = 200 * 1024;

/** The run-deletion queue takes only archived runs whose tier deletes the HealthOmics run. */
export const RUN_DELETION_FILTER_POLICY = { event: [ARCHIVE_EVENTS.archived], deleteRun: ['true'] } as const;

/** CloudWatch Logs group HealthOmics writes run logs to. */
export const OMICS_LOG_GROUP = '/aws/omics/WorkflowLog';
