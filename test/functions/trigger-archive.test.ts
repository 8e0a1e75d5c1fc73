// Unit tests for the trigger-archive handler: an SQS batch of run events, partial batch failures, malformed events dropped.
import { GetRunCommand, OmicsClient } from '@aws-sdk/client-omics';
import { DescribeExecutionCommand, ExecutionDoesNotExist, SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn';
import { mockClient } from 'aws-sdk-client-mock';
import { handler } from '../../functions/trigger-archive';
import { ENV } from '../../functions/lib/contract';
import { quietPowertools, sqsBatch, sqsRecordsFrom, useEnv } from '../support/handlers';

const STATE_MACHINE = 'arn:aws:states:us-east-1:123456789012:stateMachine:ArchiveRun';
const omicsMock = mockClient(OmicsClient);
const sfnMock = mockClient(SFNClient);

const POLICY = {
  outputBuckets: ['amzn-s3-demo-bucket'],
  tiers: [{ name: 'standard', settleWait: 'PT5M', archiveAfter: 'P30D', defaultAction: 'archive', deleteRun: true }],
};

const sqsRecord = sqsRecordsFrom('RunCompletion');

const runEvent = (runId: string, status = 'COMPLETED') =>
  JSON.stringify({
    version: '0',
    source: 'aws.omics',
    'detail-type': 'Run Status Change',
    detail: { omicsVersion: '1.0.0', arn: `arn:aws:omics:us-east-1:123456789012:run/${runId}`, status },
  });

const throttling = () => Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException', $metadata: { httpStatusCode: 400 } });

const powertools = quietPowertools();
useEnv({ [ENV.archiveStateMachineArn]: STATE_MACHINE, [ENV.tierPolicy]: JSON.stringify(POLICY), [ENV.runIndexTable]: 'run-index' });

beforeEach(() => {
  omicsMock.reset();
  sfnMock.reset();
  omicsMock.on(GetRunCommand).callsFake((input: { id: string }) => ({
    id: input.id,
    arn: `arn:aws:omics:us-east-1:123456789012:run/${input.id}`,
    uuid: `uuid-${input.id}`,
    status: 'COMPLETED',
    workflowId: '1',
  }));
  sfnMock.on(DescribeExecutionCommand).rejects(new ExecutionDoesNotExist({ message: 'Execution Does Not Exist', $metadata: {} }));
  sfnMock.on(StartExecutionCommand).callsFake((input: { name: string }) => ({
    executionArn: `arn:aws:states:us-east-1:123456789012:execution:ArchiveRun:${input.name}`,
    startDate: new Date(),
  }));
});

describe('trigger-archive handler', () => {
  it('starts the good run, drops the malformed event, and reports only the throttled one for retry', async () => {
    sfnMock.on(StartExecutionCommand, { name: 'run-3-uuid-3' }).rejects(throttling());

    const result = await handler(
      sqsBatch(
        sqsRecord('msg-1', runEvent('1')),
        sqsRecord('msg-2', '{"source":"aws.omics","detail-type":"Run Status Change"}'),
        sqsRecord('msg-3', runEvent('3')),
      ),
    );

    expect(result).toEqual({ batchItemFailures: [{ itemIdentifier: 'msg-3' }] });
    expect(sfnMock).toHaveReceivedCommandWith(StartExecutionCommand, { stateMachineArn: STATE_MACHINE, name: 'run-1-uuid-1' });
    expect(sfnMock).toHaveReceivedCommandWith(StartExecutionCommand, { name: 'run-3-uuid-3' });
    expect(sfnMock).toHaveReceivedCommandTimes(StartExecutionCommand, 2);
    // The malformed event never reached HealthOmics; it was logged whole and counted.
    expect(omicsMock).toHaveReceivedCommandTimes(GetRunCommand, 2);
    expect(powertools.logs.error).toHaveBeenCalledWith(
      'Malformed run event dropped',
      expect.objectContaining({ messageId: 'msg-2', reason: expect.stringContaining('detail') as string }),
    );
    expect(powertools.addMetric).toHaveBeenCalledWith('MalformedRunEvents', 'Count', 1);
    expect(powertools.addMetric).toHaveBeenCalledWith('ArchivesStarted', 'Count', 1);

    const input = JSON.parse(sfnMock.commandCalls(StartExecutionCommand, { name: 'run-1-uuid-1' })[0].args[0].input.input!) as Record<string, unknown>;
    expect(input).toMatchObject({ runId: '1', runUuid: 'uuid-1', tier: { name: 'standard' }, waits: { settleSeconds: 300, archiveAfterSeconds: 2592000 } });
  });

  it('drops a body that is not JSON without failing the batch', async () => {
    const result = await handler(sqsBatch(sqsRecord('bad', 'not json at all')));
    expect(result).toEqual({ batchItemFailures: [] });
    expect(omicsMock.calls()).toHaveLength(0);
  });

  it('treats duplicates and non-terminal events as handled', async () => {
    sfnMock
      .on(DescribeExecutionCommand, { executionArn: `arn:aws:states:us-east-1:123456789012:execution:ArchiveRun:run-5-uuid-5` })
      .resolves({ status: 'RUNNING' });
    const result = await handler(sqsBatch(sqsRecord('dup', runEvent('5')), sqsRecord('running', runEvent('6', 'RUNNING'))));
    expect(result).toEqual({ batchItemFailures: [] });
    expect(sfnMock).not.toHaveReceivedCommand(StartExecutionCommand);
    expect(powertools.addMetric).toHaveBeenCalledWith('DuplicateRunEvents', 'Count', 1);
    expect(powertools.addMetric).toHaveBeenCalledWith('RunEventsIgnored', 'Count', 1);
  });

  it('retries (does not drop) every record when the function is misconfigured', async () => {
    delete process.env[ENV.archiveStateMachineArn];
    const result = await handler(sqsBatch(sqsRecord('a', runEvent('1')), sqsRecord('b', runEvent('2'))));
    expect(result).toEqual({ batchItemFailures: [{ itemIdentifier: 'a' }, { itemIdentifier: 'b' }] });
    expect(sfnMock).not.toHaveReceivedCommand(StartExecutionCommand);
  });
});
