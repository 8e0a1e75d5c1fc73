// Setup the handler tests share: their environment, a quiet Powertools, SQS events, and a restore item fixture.
import type { SQSEvent, SQSRecord } from 'aws-lambda';
import { logger, metrics } from '../../functions/lib/runtime/observability';
import type { RestoreItem } from '../../functions/lib/contract';

/** The run every handler test works on. */
export const RUN_UUID = '96c57683-74bf-9d6d-ae7e-f09b097db14a';

/**
 * Sets these environment variables before each test (a test may delete or change one; the next test gets it back),
 * and puts back what the process had before the file once all its tests ran.
 */
export function useEnv(values: Record<string, string>): void {
  const saved: Record<string, string | undefined> = {};
  beforeAll(() => {
    for (const name of Object.keys(values)) saved[name] = process.env[name];
  });
  beforeEach(() => {
    Object.assign(process.env, values);
  });
  afterAll(() => {
    for (const [name, value] of Object.entries(saved)) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  });
}

/** The spies of the current test; read them at assertion time, as each test has new ones. */
export interface PowertoolsSpies {
  readonly addMetric: jest.SpiedFunction<typeof metrics.addMetric>;
  readonly logs: {
    readonly info: jest.SpiedFunction<typeof logger.info>;
    readonly warn: jest.SpiedFunction<typeof logger.warn>;
    readonly error: jest.SpiedFunction<typeof logger.error>;
  };
}

/**
 * For each test: silences the Powertools logger (info, warn, error) and keeps EMF off stdout, while spying on
 * `metrics.addMetric` so tests assert the metrics themselves. The spies are restored after each test.
 */
export function quietPowertools(): PowertoolsSpies {
  let current: PowertoolsSpies | undefined;
  let publish: jest.SpiedFunction<typeof metrics.publishStoredMetrics> | undefined;
  const now = (): PowertoolsSpies => {
    if (!current) throw new Error('quietPowertools: the spies exist only while a test runs');
    return current;
  };
  beforeEach(() => {
    current = {
      addMetric: jest.spyOn(metrics, 'addMetric'),
      logs: {
        info: jest.spyOn(logger, 'info').mockImplementation(() => undefined),
        warn: jest.spyOn(logger, 'warn').mockImplementation(() => undefined),
        error: jest.spyOn(logger, 'error').mockImplementation(() => undefined),
      },
    };
    publish = jest.spyOn(metrics, 'publishStoredMetrics').mockImplementation(() => {
      metrics.clearMetrics();
      return metrics;
    });
  });
  afterEach(() => {
    for (const spy of [current?.addMetric, current?.logs.info, current?.logs.warn, current?.logs.error, publish]) spy?.mockRestore();
    current = undefined;
    publish = undefined;
  });
  return {
    get addMetric() {
      return now().addMetric;
    },
    get logs() {
      return now().logs;
    },
  };
}

/**
 * Builds SQS records as Lambda delivers them from the queue named `queue` (in a made-up account), each carrying
 * `messageAttributes`; the receipt attributes are fixed.
 */
export function sqsRecordsFrom(queue: string, messageAttributes: SQSRecord['messageAttributes'] = {}): (messageId: string, body: string) => SQSRecord {
  return (messageId, body) => ({
    messageId,
    receiptHandle: `handle-${messageId}`,
    body,
    attributes: { ApproximateReceiveCount: '1', SentTimestamp: '1717243200000', SenderId: 'AIDAEXAMPLE', ApproximateFirstReceiveTimestamp: '1717243200000' },
    messageAttributes: structuredClone(messageAttributes),
    md5OfBody: '',
    eventSource: 'aws:sqs',
    eventSourceARN: `arn:aws:sqs:us-east-1:123456789012:${queue}`,
    awsRegion: 'us-east-1',
  });
}

/** The SQS event Lambda hands the handler: these records, in order. */
export const sqsBatch = (...records: SQSRecord[]): SQSEvent => ({ Records: records });

/** A vault-job restore item for out/a.bam of RUN_UUID (restore r-1, Bulk, into s3://restores/out/a.bam). */
export function restoreItem(overrides: Partial<RestoreItem> = {}): RestoreItem {
  return {
    runUuid: RUN_UUID,
    restoreId: 'r-1',
    path: 'out/a.bam',
    size: 10,
    retrieval: 'vault-job',
    tier: 'Bulk',
    vaultName: 'archive-vault',
    archiveId: 'archive-1',
    destinationBucket: 'restores',
    destinationKey: 'out/a.bam',
    notificationWaitSeconds: 600,
    pollSeconds: 60,
    ...overrides,
  };
}
