// Unit tests for the archive trigger: parsing run events, and one archive execution per run (id and uuid).
import { GetRunCommand, OmicsClient, ResourceNotFoundException } from '@aws-sdk/client-omics';
import { DescribeExecutionCommand, ExecutionAlreadyExists, ExecutionDoesNotExist, SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn';
import { mockClient } from 'aws-sdk-client-mock';
import { parseConfig } from '../../../../functions/lib/contract';
import {
  MalformedEventError,
  executionName,
  parseRunEvent,
  triggerArchive,
  type ArchiveExecutionInput,
} from '../../../../functions/lib/archive/trigger-archive';

const RUN_ID = '7830534';
const UUID = '96c57683-74bf-9d6d-ae7e-f09b097db14a';
const RUN_ARN = `arn:aws:omics:us-west-2:123456789012:run/${RUN_ID}`;
const STATE_MACHINE = 'arn:aws:states:us-west-2:123456789012:stateMachine:ArchiveRun';
const EXECUTION = `arn:aws:states:us-west-2:123456789012:execution:ArchiveRun:run-${RUN_ID}-${UUID}`;

const omics = new OmicsClient({ region: 'us-west-2' });
const sfn = new SFNClient({ region: 'us-west-2' });
const omicsMock = mockClient(OmicsClient);
const sfnMock = mockClient(SFNClient);

const config = parseConfig({
  outputBuckets: ['amzn-s3-demo-bucket'],
  archiveConcurrency: 20,
  groupMaxFiles: 50,
  groupMaxBytes: '64 MiB',
  tiers: [
    { name: 'failures', match: { statuses: ['FAILED', 'CANCELLED'] }, settleWait: 'PT1M', archiveAfter: 'P1D', defaultAction: 'skip' },
    {
      name: 'genomics',
      match: { workflowIds: ['4074992'] },
      settleWait: 'PT10M',
      archiveAfter: 'P14D',
      files: [{ globs: ['**/*.bam'], action: 'archive' }],
      deleteRun: true,
    },
  ],
});

const event = (detail: Record<string, unknown>, overrides: Record<string, unknown> = {}) =>
  JSON.stringify({
    version: '0',
    id: 'e0a1b2c3',
    source: 'aws.omics',
    'detail-type': 'Run Status Change',
    account: '123456789012',
    region: 'us-west-2',
    time: '2025-05-30T12:05:00Z',
    resources: [],
    detail: { omicsVersion: '1.0.0', ...detail },
    ...overrides,
  });

function getRun(overrides: Record<string, unknown> = {}) {
  omicsMock
    .on(GetRunCommand)
    .resolves({ id: RUN_ID, arn: RUN_ARN, uuid: UUID, status: 'COMPLETED', workflowId: '4074992', runGroupId: '9938959', tags: {}, ...overrides });
}

const notFound = (message: string) => new ResourceNotFoundException({ message, $metadata: {} });
const args = (status = 'COMPLETED') => ({ omics, sfn, stateMachineArn: STATE_MACHINE, config, runId: RUN_ID, status });

beforeEach(() => {
  omicsMock.reset();
  sfnMock.reset();
  getRun();
  sfnMock.on(DescribeExecutionCommand).rejects(new ExecutionDoesNotExist({ message: 'Execution Does Not Exist', $metadata: {} }));
  sfnMock.on(StartExecutionCommand).resolves({ executionArn: EXECUTION, startDate: new Date() });
});

describe('parseRunEvent', () => {
  it('takes the run id from detail.arn', () => {
    expect(parseRunEvent(event({ arn: RUN_ARN, status: 'COMPLETED' }))).toEqual({ runId: RUN_ID, status: 'COMPLETED' });
  });

  it('takes the run id from detail.runId when the event has no arn', () => {
    expect(parseRunEvent(event({ runId: '42', status: 'FAILED' }))).toEqual({ runId: '42', status: 'FAILED' });
  });

  it('takes the run id from detail.arn over a detail.runId that differs, as in the documented example event', () => {
    // The HealthOmics guide's example Run Status Change event has a runId that is not the id in its ARN.
    expect(parseRunEvent(event({ runId: '42', arn: RUN_ARN, status: 'FAILED' }))).toEqual({ runId: RUN_ID, status: 'FAILED' });
  });

  it('accepts run ARNs of other partitions', () => {
    expect(parseRunEvent(event({ arn: 'arn:aws-cn:omics:cn-northwest-1:123456789012:run/99', status: 'CANCELLED' })).runId).toBe('99');
    expect(parseRunEvent(event({ arn: 'arn:aws-us-gov:omics:us-gov-west-1:123456789012:run/7', status: 'COMPLETED' })).runId).toBe('7');
  });

  it('passes non-terminal statuses through (the trigger decides)', () => {
    expect(parseRunEvent(event({ arn: RUN_ARN, status: 'RUNNING' })).status).toBe('RUNNING');
  });

  const malformed: [string, string, RegExp][] = [
    ['not JSON', '{"source": "aws.omics"', /^not JSON: \{"source"/],
    ['JSON null', 'null', /^event: /],
    ['the wrong source', event({ arn: RUN_ARN, status: 'COMPLETED' }, { source: 'aws.s3' }), /^source: /],
    ['the wrong detail-type', event({ arn: RUN_ARN, status: 'COMPLETED' }, { 'detail-type': 'Run Task Status Change' }), /^detail-type: /],
    ['no detail', event({}, { detail: undefined }), /^detail: /],
    ['neither arn nor runId', event({ status: 'COMPLETED' }), /^detail: needs detail\.arn or detail\.runId$/],
    ['an arn that is not a run', event({ arn: 'arn:aws:omics:us-west-2:123456789012:workflow/1', status: 'COMPLETED' }), /^detail\.arn: /],
    ['a non-numeric runId', event({ runId: 'abc', status: 'COMPLETED' }), /^detail\.runId: /],
    ['no status', event({ arn: RUN_ARN }), /^detail\.status: /],
  ];
  it.each(malformed)('rejects %s with MalformedEventError naming the field', (_, body, message) => {
    let error: unknown;
    try {
      parseRunEvent(body);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(MalformedEventError);
    expect((error as Error).message).toMatch(message);
  });

  it('cuts a huge non-JSON body short in the message', () => {
    expect(() => parseRunEvent('x'.repeat(10_000))).toThrow(/^not JSON: x{200}$/);
  });
});

describe('executionName', () => {
  it('is run-<id>-<uuid>, within Step Functions’ 80 characters even for the longest run id', () => {
    expect(executionName(RUN_ID, UUID)).toBe(`run-${RUN_ID}-${UUID}`);
    expect(executionName('9'.repeat(18), UUID).length).toBeLessThanOrEqual(80);
    expect(executionName(RUN_ID, UUID)).toMatch(/^[A-Za-z0-9_-]+$/);
  });
});

describe('triggerArchive', () => {
  it.each(['RUNNING', 'PENDING', 'STOPPING', 'STARTING'])('ignores a %s event without calling anything', async (status) => {
    expect(await triggerArchive(args(status))).toEqual({ outcome: 'not-terminal', detail: `status ${status} is not terminal` });
    expect(omicsMock.calls()).toHaveLength(0);
    expect(sfnMock.calls()).toHaveLength(0);
  });

  it('reports a run that no longer exists as run-gone', async () => {
    omicsMock.on(GetRunCommand).rejects(notFound(`Run ${RUN_ID} not found`));
    expect(await triggerArchive(args())).toEqual({ outcome: 'run-gone', detail: `run ${RUN_ID} no longer exists` });
    expect(sfnMock).not.toHaveReceivedCommand(StartExecutionCommand);
  });

  it('passes other GetRun errors through (the message is retried)', async () => {
    const throttled = Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException' });
    omicsMock.on(GetRunCommand).rejects(throttled);
    await expect(triggerArchive(args())).rejects.toBe(throttled);
  });

  it('does not archive when the id now names a run that is still going (id reused)', async () => {
    getRun({ uuid: 'another-uuid', status: 'RUNNING' });
    expect(await triggerArchive(args())).toEqual({ outcome: 'not-terminal', detail: `run ${RUN_ID} is RUNNING now` });
    expect(sfnMock.calls()).toHaveLength(0);
  });

  it('reports no-tier when no tier matches the run', async () => {
    getRun({ workflowId: '1111111' });
    const result = await triggerArchive(args());
    expect(result).toEqual({ outcome: 'no-tier', detail: `no tier matches run ${RUN_ID} (workflow 1111111)` });
    expect(sfnMock.calls()).toHaveLength(0);
  });

  it('matches the tier on GetRun’s status, not the event’s', async () => {
    getRun({ status: 'CANCELLED' });
    const result = await triggerArchive(args('COMPLETED'));
    expect(result.outcome).toBe('started');
    expect((result as { input: ArchiveExecutionInput }).input).toMatchObject({ status: 'CANCELLED', tier: { name: 'failures' } });
  });

  it('treats an existing execution as a duplicate and starts nothing', async () => {
    sfnMock.on(DescribeExecutionCommand).resolves({ executionArn: EXECUTION, status: 'RUNNING', stateMachineArn: STATE_MACHINE, startDate: new Date() });
    expect(await triggerArchive(args())).toEqual({ outcome: 'duplicate', executionArn: EXECUTION });
    expect(sfnMock).toHaveReceivedCommandWith(DescribeExecutionCommand, { executionArn: EXECUTION });
    expect(sfnMock).not.toHaveReceivedCommand(StartExecutionCommand);
  });

  it('treats ExecutionAlreadyExists from a racing twin as a duplicate', async () => {
    sfnMock.on(StartExecutionCommand).rejects(new ExecutionAlreadyExists({ message: 'Execution Already Exists', $metadata: {} }));
    expect(await triggerArchive(args())).toEqual({ outcome: 'duplicate', executionArn: EXECUTION });
  });

  it('passes other DescribeExecution and StartExecution errors through', async () => {
    const denied = Object.assign(new Error('denied'), { name: 'AccessDeniedException' });
    sfnMock
      .on(DescribeExecutionCommand)
      .rejectsOnce(denied)
      .rejects(new ExecutionDoesNotExist({ message: 'Execution Does Not Exist', $metadata: {} }));
    await expect(triggerArchive(args())).rejects.toBe(denied);
    const throttled = Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException' });
    sfnMock.on(StartExecutionCommand).rejects(throttled);
    await expect(triggerArchive(args())).rejects.toBe(throttled);
  });

  it('starts the execution with a deterministic name and everything the tier says in its input', async () => {
    const result = await triggerArchive(args());
    expect(result.outcome).toBe('started');
    const { executionArn, input } = result as { executionArn: string; input: ArchiveExecutionInput };
    expect(executionArn).toBe(EXECUTION);

    expect(omicsMock).toHaveReceivedCommandWith(GetRunCommand, { id: RUN_ID });
    expect(sfnMock).toHaveReceivedCommandTimes(StartExecutionCommand, 1);
    const start = sfnMock.commandCalls(StartExecutionCommand)[0].args[0].input;
    expect(start.stateMachineArn).toBe(STATE_MACHINE);
    expect(start.name).toBe(`run-${RUN_ID}-${UUID}`);
    const sent = JSON.parse(start.input!) as ArchiveExecutionInput;
    expect(sent).toEqual(input);
    expect(sent).toEqual({
      runId: RUN_ID,
      runUuid: UUID,
      runArn: RUN_ARN,
      status: 'COMPLETED',
      tier: config.tiers[1],
      waits: { settleSeconds: 600, archiveAfterSeconds: 14 * 86400 },
      settings: { archiveConcurrency: 20, groupMaxFiles: 50, groupMaxBytes: 64 * 1024 * 1024 },
    });
    expect(sent.tier).toMatchObject({
      name: 'genomics',
      deleteRun: true,
      target: { type: 's3-glacier', storageClass: 'DEEP_ARCHIVE' },
      files: [{ globs: ['**/*.bam'], action: 'archive' }],
    });
  });

  it('names the same execution for the same run every time, and a new one for a reused id', async () => {
    await triggerArchive(args());
    await triggerArchive(args());
    getRun({ uuid: 'b1c2d3e4-0000-0000-0000-000000000000' });
    await triggerArchive(args());
    const names = sfnMock.commandCalls(StartExecutionCommand).map((c) => c.args[0].input.name);
    expect(names).toEqual([`run-${RUN_ID}-${UUID}`, `run-${RUN_ID}-${UUID}`, `run-${RUN_ID}-b1c2d3e4-0000-0000-0000-000000000000`]);
  });
});
