// The named retry policies of the workflows. Every Retry entry in statemachines/*.asl.json is one of these, written
// exactly as ASL writes it (test/statemachines/retry-policies.test.ts checks it); a new Task picks from here.
// ASL has no way to reference a retrier by name, so the ASL files repeat them and the test holds them to this set.

/** One ASL retrier, field for field as it stands in a state's `Retry` list. */
export interface Retrier {
  readonly ErrorEquals: readonly string[];
  readonly IntervalSeconds?: number;
  readonly MaxAttempts?: number;
  readonly BackoffRate?: number;
  readonly MaxDelaySeconds?: number;
  readonly JitterStrategy?: 'FULL' | 'NONE';
}

/**
 * Error names the AWS SDK gives a service's throttling answer, once the SDK's own retries are spent and the handler
 * lets it through: HealthOmics, Glacier, Step Functions, SNS, CloudWatch Logs (ThrottlingException), Lambda and Logs
 * (TooManyRequestsException), DynamoDB (ProvisionedThroughputExceededException), EC2-style APIs (RequestLimitExceeded),
 * S3 (SlowDown).
 */
export const THROTTLING_ERRORS = [
  'ThrottlingException',
  'TooManyRequestsException',
  'ProvisionedThroughputExceededException',
  'RequestLimitExceeded',
  'SlowDown',
] as const;

/** Long backoff for throttling: minutes apart, full jitter, 12 attempts, about an hour in all (a backfill slows down, files do not fail). */
const THROTTLED_BACKOFF = { IntervalSeconds: 60, MaxAttempts: 12, BackoffRate: 2, MaxDelaySeconds: 600, JitterStrategy: 'FULL' } as const;

export const RETRY_POLICIES = {
  /** Lambda's own transient invoke errors: a short retry, kept apart from throttling. */
  'lambda-transient': {
    ErrorEquals: ['Lambda.ServiceException', 'Lambda.AWSLambdaException', 'Lambda.SdkClientException'],
    IntervalSeconds: 2,
    MaxAttempts: 6,
    BackoffRate: 2,
  },
  /** Lambda refused the invoke (reserved or account concurrency spent): wait minutes, for about an hour. */
  'lambda-throttled': { ErrorEquals: ['Lambda.TooManyRequestsException'], ...THROTTLED_BACKOFF },
  /** A service the handler called throttled it: the same long backoff, with an attempt count of its own. */
  'service-throttled': { ErrorEquals: [...THROTTLING_ERRORS], ...THROTTLED_BACKOFF },
  /** The function ran past its timeout (Sandbox.Timedout), or S3 answered 503 ServiceUnavailable: a few retries seconds apart. */
  'task-timeout': {
    ErrorEquals: ['ServiceUnavailable', 'Sandbox.Timedout'],
    IntervalSeconds: 5,
    MaxAttempts: 5,
    BackoffRate: 2,
  },
  /**
   * Another worker holds a live claim on the file: retried until it finishes or its claim expires (that worker's
   * Lambda deadline plus CLAIM_SLACK_MS): up to about 17 minutes of waits, before jitter.
   */
  'file-claimed': {
    ErrorEquals: ['FileClaimed'],
    IntervalSeconds: 15,
    MaxAttempts: 12,
    BackoffRate: 1.5,
    MaxDelaySeconds: 120,
    JitterStrategy: 'FULL',
  },
  /** Anything else, briefly, on a work step whose Catch records the failure: a lasting error fails the item soon. */
  'any-error': { ErrorEquals: ['States.ALL'], IntervalSeconds: 2, MaxAttempts: 3, BackoffRate: 2 },
  /** Anything else, harder, on a step that records or announces an outcome: if it gives up, the outcome is lost or unannounced. */
  'record-outcome': { ErrorEquals: ['States.ALL'], IntervalSeconds: 2, MaxAttempts: 6, BackoffRate: 2 },
} as const satisfies Record<string, Retrier>;

export type RetryPolicyName = keyof typeof RETRY_POLICIES;
