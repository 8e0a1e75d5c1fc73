// Unit tests of the reconciliation sweep: only terminal runs the index does not know are handed to the trigger.
import { GetRunCommand, ListRunsCommand, OmicsClient } from '@aws-sdk/client-omics';
import { DescribeExecutionCommand, ExecutionDoesNotExist, SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn';
import { mockClient } from 'aws-sdk-client-mock';
import { reconcileRuns } from '../../../../functions/lib/archive/reconcile-runs';
import type { RunIndex, RunRecord } from '../../../../functions/lib/index/run-index';
import { parseConfig } from '../../../../functions/lib/contract';

const omics = mockClient(OmicsClient);
const sfn = mockClient(SFNClient);
const config = parseConfig({ outputBuckets: ['out'], tiers: [{ name: 'all', settleWait: 'PT1S', archiveAfter: 'PT0S' }] });
const MACHINE = 'arn:aws:states:us-east-1:123456789012:stateMachine:archive';

const stopped = (iso: string) => new Date(iso);
/** A fake index that knows the given (runId, stopTime) pairs. */
function indexKnowing(known: { runId: string; stopTime: string }[]): RunIndex {
  return { findRunsById: (runId: string) => Promise.resolve(known.filter((k) => k.runId === runId) as unknown as RunRecord[]) } as unknown as RunIndex;
}

beforeEach(() => {
  omics.reset();
  sfn.reset();
  omics.on(ListRunsCommand).resolves({ items: [] });
  omics.on(ListRunsCommand, { status: 'COMPLETED' }).resolves({
    items: [
      { id: '1000001', status: 'COMPLETED', stopTime: stopped('2026-11-01T00:00:00Z') },
      { id: '1000002', status: 'COMPLETED', stopTime: stopped('2026-11-20T00:00:00Z') },
      { id: '1000003', status: 'COMPLETED', stopTime: stopped('2026-11-21T00:00:00Z') },
    ],
  });
  omics
    .on(GetRunCommand)
    .callsFake(({ id }: { id: string }) =>
      Promise.resolve({ id, uuid: `uuid-${id}`, status: 'COMPLETED', arn: `arn:aws:omics:us-east-1:123456789012:run/${id}` }),
    );
  sfn.on(DescribeExecutionCommand).rejects(new ExecutionDoesNotExist({ message: 'no', $metadata: {} }));
  sfn.on(StartExecutionCommand).callsFake(({ name }: { name: string }) => Promise.resolve({ executionArn: `${MACHINE}:${name}`, startDate: new Date() }));
});

const args = (index: RunIndex, extra = {}) => ({ omics: new OmicsClient({}), sfn: new SFNClient({}), index, stateMachineArn: MACHINE, config, ...extra });

describe('reconcileRuns', () => {
  it('starts the archive of terminal runs the index does not know, through the trigger (deterministic names)', async () => {
    const report = await reconcileRuns(args(indexKnowing([{ runId: '1000001', stopTime: '2026-11-01T00:00:00.000Z' }])));
    expect(report.listed).toBe(3);
    expect(report.known).toBe(1);
    expect(report.missing.map((m) => [m.runId, m.outcome])).toEqual([
      ['1000002', 'started'],
      ['1000003', 'started'],
    ]);
    expect(sfn.commandCalls(StartExecutionCommand).map((c) => c.args[0].input.name)).toEqual(['run-1000002-uuid-1000002', 'run-1000003-uuid-1000003']);
    // Every terminal status is swept.
    expect(
      omics
        .commandCalls(ListRunsCommand)
        .map((c) => c.args[0].input.status)
        .sort(),
    ).toEqual(['CANCELLED', 'COMPLETED', 'FAILED']);
  });

  it('treats an id the index knows with another stop time as a different run (ids are reused)', async () => {
    const report = await reconcileRuns(args(indexKnowing([{ runId: '1000002', stopTime: '2025-01-01T00:00:00.000Z' }])));
    expect(report.missing.map((m) => m.runId)).toContain('1000002');
  });

  it('a run whose archive already started is a duplicate, not a second archive', async () => {
    sfn.on(DescribeExecutionCommand).resolves({ status: 'RUNNING' });
    const report = await reconcileRuns(args(indexKnowing([])));
    expect(report.missing.every((m) => m.outcome === 'duplicate')).toBe(true);
    expect(sfn.commandCalls(StartExecutionCommand)).toHaveLength(0);
  });

  it('honours --since, --dry-run and a cap on how many it starts', async () => {
    const dry = await reconcileRuns(args(indexKnowing([]), { since: new Date('2026-11-15T00:00:00Z'), dryRun: true }));
    expect(dry.missing.map((m) => [m.runId, m.outcome])).toEqual([
      ['1000002', 'would-start'],
      ['1000003', 'would-start'],
    ]);
    expect(sfn.commandCalls(StartExecutionCommand)).toHaveLength(0);
    const capped = await reconcileRuns(args(indexKnowing([]), { maxStarts: 1 }));
    expect(capped.missing.map((m) => m.outcome)).toEqual(['started', 'deferred', 'deferred']);
    const dryCapped = await reconcileRuns(args(indexKnowing([]), { maxStarts: 2, dryRun: true }));
    expect(dryCapped.missing.map((m) => m.outcome)).toEqual(['would-start', 'would-start', 'deferred']);
  });
});
