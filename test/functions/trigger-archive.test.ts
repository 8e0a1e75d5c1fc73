// Unit tests for the trigger-archive handler: an SQS batch of run events, partial batch failures, malformed events dropped.
import { GetRunCommand, OmicsClient } from '@aws-sdk/client-omics';
import { DescribeExecutionCommand, ExecutionDoesNotExist, SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn';
import type { SQSEvent, SQSRecord } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { handler } from '../../functions/trigger-archive';
import { logger, metrics } from '../../functions/lib/observability';
import { ENV } from '../../stacks/wiring';

const STATE_MACHINE = 'arn:aws:states:us-east-1:123456789012:stateMachine:ArchiveRun';
const omicsMock = mockClient(OmicsClient);
const sfnMock = mockClient(SFNClient);

const POLICY = {
  outputBuckets: ['amzn-s3-demo-bucket'],
  tiers: [{ name: 'standard', settleWait: 'PT5M', archiveAfter: 'P30D', defaultAction: 'archive', deleteRun: true }],
};

function sqsRecord(messageId: string, body: string): SQSRecord {
  return {
    messageId,
    receiptHandle: `handle-${messageId}`,
    body,
    attributes: { ApproximateReceiveCount: '1', SentTimestamp: '1717243200000', SenderId: 'AIDAEXAMPLE', ApproximateFirstReceiveTimestamp: '1717243200000' },
    messageAttributes: {},
    md5OfBody: '',
    eventSource: 'aws:sqs',
    eventSourceARN: 'arn:aws:sqs:us-east-1:123456789012:RunCompletion',
    awsRegion: 'us-east-1',
  };
}

const runEvent = (runId: string, status = 'COMPLETED') =>
  JSON.stringify({
    version: '0',
    source: 'aws.omics',
    'detail-type': 'Run Status Change',
    detail: { omicsVersion: '1.0.0', arn: `arn:aws:omics:us-east-1:123456789012:run/${runId}`, status },
  });

const batch = (...records: SQSRecord[]): SQSEvent => ({ Records: records });
const throttling = () => Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException', $metadata: { httpStatusCode: 400 } });

const saved: Record<string, string | undefined> = {};
let logs: { error: jest.SpyInstance; warn: jest.SpyInstance; info: jest.SpyInstance };
let addMetric: jest.SpyInstance;

beforeAll(() => {
  for (const name of [ENV.archiveStateMachineArn, ENV.tierPolicy, ENV.runIndexTable]) saved[name] = process.env[name];
});

afterAll(() => {
  for (const [name, value] of Object.entries(saved)) {
    if (value === undefined) delete process.env[name];
    else process.env[name] = value;
  }
});

beforeEach(() => {
  process.env[ENV.archiveStateMachineArn] = STATE_MACHINE;
  process.env[ENV.tierPolicy] = JSON.stringify(POLICY);
  process.env[ENV.runIndexTable] = 'run-index';
  omicsMock.reset();
  sfnMock.reset();
  omicsMock.on(GetRunCommand).callsFake((input: { id: string }) => ({ id: input.id, arn: `arn:aws:omics:us-east-1:123456789012:run/${input.id}`, uuid: `uuid-${input.id}`, status: 'COMPLETED', workflowId: '1' }));
  sfnMock.on(DescribeExecutionCommand).rejects(new ExecutionDoesNotExist({ message: 'Execution Does Not Exist', $metadata: {} }));
  sfnMock.on(StartExecutionCommand).callsFake((input: { name: string }) => ({ executionArn: `arn:aws:states:us-east-1:123456789012:execution:ArchiveRun:${input.name}`, startDate: new Date() }));
  logs = {
    error: jest.spyOn(logger, 'error').mockImplementation(() => undefined),
    warn: jest.spyOn(logger, 'warn').mockImplementation(() => undefined),
    info: jest.spyOn(logger, 'info').mockImplementation(() => undefined),
  };
  addMetric = jest.spyOn(metrics, 'addMetric');
  // EMF output would only clutter the test log; the metrics themselves are asserted through addMetric.
  jest.spyOn(metrics, 'publishStoredMetrics').mockImplementation(() => {
    metrics.clearMetrics();
    return metrics;
  });
});

afterEach(() => jest.restoreAllMocks());

describe('trigger-archive handler', () => {
  it('starts the good run, drops the malformed event, and reports only the throttled one for retry', async () => {
    sfnMock.on(StartExecutionCommand, { name: 'run-3-uuid-3' }).rejects(throttling());

    const result = await handler(batch(sqsRecord('msg-1', runEvent('1')), sqsRecord('msg-2', '{"source":"aws.omics","detail-type":"Run Status Change"}'), sqsRecord('msg-3', runEvent('3'))));

    expect(result).toEqual({ batchItemFailures: [{ itemIdentifier: 'msg-3' }] });
    expect(sfnMock).toHaveReceivedCommandWith(StartExecutionCommand, { stateMachineArn: STATE_MACHINE, name: 'run-1-uuid-1' });
    expect(sfnMock).toHaveReceivedCommandWith(StartExecutionCommand, { name: 'run-3-uuid-3' });
    expect(sfnMock).toHaveReceivedCommandTimes(StartExecutionCommand, 2);
    // The malformed event never reached HealthOmics; it was logged whole and counted.
    expect(omicsMock).toHaveReceivedCommandTimes(GetRunCommand, 2);
    expect(logs.error).toHaveBeenCalledWith('Malformed run event dropped', expect.objectContaining({ messageId: 'msg-2', reason: expect.stringContaining('detail') }));
    expect(addMetric).toHaveBeenCalledWith('MalformedRunEvents', 'Count', 1);
    expect(addMetric).toHaveBeenCalledWith('ArchivesStarted', 'Count', 1);

    const input = JSON.parse(sfnMock.commandCalls(StartExecutionCommand, { name: 'run-1-uuid-1' })[0].args[0].input.input!);
    expect(input).toMatchObject({ runId: '1', runUuid: 'uuid-1', tier: { name: 'standard' }, waits: { settleSeconds: 300, archiveAfterSeconds: 2592000 } });
  });

  it('drops a body that is not JSON without failing the batch', async () => {
    const result = await handler(batch(sqsRecord('bad', 'not json at all')));
    expect(result).toEqual({ batchItemFailures: [] });
    expect(omicsMock.calls()).toHaveLength(0);
  });

  it('treats duplicates and non-terminal events as handled', async () => {
    sfnMock.on(DescribeExecutionCommand, { executionArn: `arn:aws:states:us-east-1:123456789012:execution:ArchiveRun:run-5-uuid-5` }).resolves({ status: 'RUNNING' });
    const result = await handler(batch(sqsRecord('dup', runEvent('5')), sqsRecord('running', runEvent('6', 'RUNNING'))));
    expect(result).toEqual({ batchItemFailures: [] });
    expect(sfnMock).not.toHaveReceivedCommand(StartExecutionCommand);
    expect(addMetric).toHaveBeenCalledWith('DuplicateRunEvents', 'Count', 1);
    expect(addMetric).toHaveBeenCalledWith('RunEventsIgnored', 'Count', 1);
  });

  it('retries (does not drop) every record when the function is misconfigured', async () => {
    delete process.env[ENV.archiveStateMachineArn];
    const result = await handler(batch(sqsRecord('a', runEvent('1')), sqsRecord('b', runEvent('2'))));
    expect(result).toEqual({ batchItemFailures: [{ itemIdentifier: 'a' }, { itemIdentifier: 'b' }] });
    expect(sfnMock).not.toHaveReceivedCommand(StartExecutionCommand);
  });
});
