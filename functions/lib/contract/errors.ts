// The error names the handlers throw and the workflows' Retry and Catch match on (Step Functions reads `error.name`).

export const ERROR_NAMES = {
  /** A conditional write found the item in another state than expected. */
  stateConflict: 'StateConflict',
  /** GetRun answered with another uuid than the execution was started for: the run id was reused. */
  runUuidMismatch: 'RunUuidMismatch',
  treeHashMismatch: 'TreeHashMismatch',
  checksumMismatch: 'ChecksumMismatch',
  /** A Glacier retrieval job ended Failed. */
  retrievalFailed: 'RetrievalFailed',
  /** A Glacier job's output expired before its copy finished: the workflow starts a new retrieval and the copy resumes. */
  retrievalExpired: 'RetrievalExpired',
  sourceChanged: 'SourceChanged',
  sourceTooLarge: 'SourceTooLarge',
  malformedEvent: 'MalformedEvent',
  runNotDeletable: 'RunNotDeletable',
  /** Another execution, still running, archives this run: this one stands down (Succeeds without archiving). */
  archiveInProgress: 'ArchiveInProgress',
  /** Another worker holds a live claim on a file (or restore file): retried until it finishes or its claim expires. */
  fileClaimed: 'FileClaimed',
} as const;

/** Why a restore request is refused before anything is retrieved; the execution fails with this name. */
export const RESTORE_REQUEST_ERRORS = ['RunNotFound', 'AmbiguousRun', 'NoMatchingFiles', 'FileNotArchived', 'BadDestination', 'BadRestoreRequest'] as const;
export type RestoreRequestErrorName = (typeof RESTORE_REQUEST_ERRORS)[number];
