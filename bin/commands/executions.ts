// Follows Step Functions executions with the real API: waits for them, and lists the states they entered, in order.
import {
  DescribeExecutionCommand,
  ExecutionDoesNotExist,
  paginateGetExecutionHistory,
  type DescribeExecutionCommandOutput,
  type HistoryEvent,
  type SFNClient,
} from '@aws-sdk/client-sfn';

/** The ARN of an execution, from its state machine's ARN and its name. */
export function executionArnOf(stateMachineArn: string, name: string): string {
  return `${stateMachineArn.replace(':stateMachine:', ':execution:')}:${name}`;
}

export async function history(sfn: SFNClient, executionArn: string): Promise<HistoryEvent[]> {
  const events: HistoryEvent[] = [];
  for await (const page of paginateGetExecutionHistory({ client: sfn }, { executionArn, includeExecutionData: false })) {
    events.push(...(page.events ?? []));
  }
  return events;
}

/** Names of the states entered, in order (a state entered again, as in a loop, appears again). */
export function statesEntered(events: HistoryEvent[]): string[] {
  return events.filter((e) => e.stateEnteredEventDetails?.name).map((e) => e.stateEnteredEventDetails?.name ?? '');
}

/** The failure an execution ended with, from its history: which state, which error, what cause. */
export function failureOf(events: HistoryEvent[]): { state?: string; error?: string; cause?: string } | undefined {
  const failed = events.find((e) => e.type === 'ExecutionFailed');
  if (!failed) return undefined;
  const entered = statesEntered(events);
  return { state: entered[entered.length - 1], error: failed.executionFailedEventDetails?.error, cause: failed.executionFailedEventDetails?.cause };
}

export interface FollowOptions {
  timeoutMs: number;
  pollMs?: number;
  /** Called with each state as the execution enters it. */
  onState?: (name: string) => void;
}

/**
 * Waits for an execution to exist (a trigger may not have started it yet) and to finish, reporting states as they
 * are entered. Throws if it is still running at the timeout, naming the state it is in.
 */
export async function followExecution(sfn: SFNClient, executionArn: string, options: FollowOptions): Promise<DescribeExecutionCommandOutput> {
  const deadline = Date.now() + options.timeoutMs;
  const pollMs = options.pollMs ?? 300;
  let reported = 0;
  const report = async () => {
    if (!options.onState) return;
    const entered = statesEntered(await history(sfn, executionArn));
    for (; reported < entered.length; reported++) options.onState(entered[reported]);
  };
  for (;;) {
    let described: DescribeExecutionCommandOutput | undefined;
    try {
      described = await sfn.send(new DescribeExecutionCommand({ executionArn }));
    } catch (error) {
      if (!(error instanceof ExecutionDoesNotExist)) throw error;
    }
    if (described) await report();
    if (described && described.status !== 'RUNNING') return described;
    if (Date.now() > deadline) {
      const where = described ? `still RUNNING${reported ? ` in "${statesEntered(await history(sfn, executionArn)).pop()}"` : ''}` : 'never started';
      throw new Error(`execution ${executionArn} ${where} after ${Math.round(options.timeoutMs / 1000)} s`);
    }
    await new Promise((r) => setTimeout(r, pollMs));
  }
}
