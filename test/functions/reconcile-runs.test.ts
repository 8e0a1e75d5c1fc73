// The scheduled reconciliation handler: sweeps the configured window and reports what it started.
import { ListRunsCommand, OmicsClient } from '@aws-sdk/client-omics';
import { SFNClient } from '@aws-sdk/client-sfn';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { handler } from '../../functions/reconcile-runs';
import { ENV } from '../../functions/lib/contract';
import { useEnv } from '../support/handlers';

const omics = mockClient(OmicsClient);
mockClient(SFNClient);
mockClient(DynamoDBDocumentClient);
useEnv({
  [ENV.runIndexTable]: 'index',
  [ENV.archiveStateMachineArn]: 'arn:aws:states:us-east-1:123456789012:stateMachine:archive',
  [ENV.tierPolicy]: JSON.stringify({ outputBuckets: ['out'], tiers: [{ name: 'all' }], reconcileLookbackDays: 3 }),
});

beforeEach(() => {
  omics.reset();
  omics.on(ListRunsCommand).resolves({ items: [] });
});

test('sweeps every terminal status and reports nothing started when every run is known', async () => {
  await expect(handler({})).resolves.toEqual({ listed: 0, known: 0, started: 0 });
  expect(
    omics
      .commandCalls(ListRunsCommand)
      .map((c) => c.args[0].input.status)
      .sort(),
  ).toEqual(['CANCELLED', 'COMPLETED', 'FAILED']);
});

test('fails naming the state machine variable when it is missing', async () => {
  delete process.env[ENV.archiveStateMachineArn];
  await expect(handler({})).rejects.toThrow(`environment variable ${ENV.archiveStateMachineArn} is not set`);
});
