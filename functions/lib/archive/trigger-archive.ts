// Turns a HealthOmics `Run Status Change` event into exactly one archive execution per run (id and uuid).
import { GetRunCommand, ResourceNotFoundException, type OmicsClient } from '@aws-sdk/client-omics';
import { DescribeExecutionCommand, ExecutionAlreadyExists, ExecutionDoesNotExist, StartExecutionCommand, type SFNClient } from '@aws-sdk/client-sfn';
import { z } from 'zod';
import { TERMINAL_RUN_STATUSES, sizeBytes, type ArchiveExecutionInput, type ArchiverConfig } from '../contract';
import { matchTier, tierWaits } from './tier-policy';

const RUN_ARN = /^arn:aws[a-z-]*:omics:[a-z0-9-]+:\d{12}:run\/(\d+)$/;

/** The parts of the EventBridge event the trigger relies on; anything else in it is ignored. */
export const RunStatusChangeEventSchema = z.object({
  source: z.literal('aws.omics'),
  'detail-type': z.literal('Run Status Change'),
  detail: z
    .object({
      arn: z.string().regex(RUN_ARN).optional(),
      runId: z.string().regex(/^\d+$/).optional(),
      status: z.string(),
    })
    .refine((d) => d.arn || d.runId, { message: 'needs detail.arn or detail.runId' }),
});
export type RunStatusChangeEvent = z.infer<typeof RunStatusChangeEventSchema>;

/** An event that can never be acted on; retrying it would not help. */
export class MalformedEventError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MalformedEvent';
  }
}

export function parseRunEvent(body: string): { runId: string; status: string } {
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    throw new MalformedEventError(`not JSON: ${body.slice(0, 200)}`);
  }
  const parsed = RunStatusChangeEventSchema.safeParse(json);
  if (!parsed.success) {
    throw new MalformedEventError(parsed.error.issues.map((i) => `${i.path.join('.') || 'event'}: ${i.message}`).join('; '));
  }
  const { detail } = parsed.data;
  // The ARN first: the example event in the HealthOmics guide (docs.aws.amazon.com/omics/latest/dev/eventbridge.html,
  // "Event message examples") carries a `runId` that differs from the id in its `arn`, and GetRun takes the ARN's.
  const runId = RUN_ARN.exec(detail.arn ?? '')?.[1] ?? detail.runId ?? '';
  return { runId, status: detail.status };
}

/** Execution names are deterministic, so a duplicate event finds the execution its twin started. */
export function executionName(runId: string, runUuid: string): string {
  return `run-${runId}-${runUuid}`;
}

/** What the archive workflow receives is the contract's (functions/lib/contract/payloads.ts). */
export type { ArchiveExecutionInput } from '../contract';

export type TriggerOutcome =
  | { outcome: 'started'; executionArn: string; input: ArchiveExecutionInput }
  | { outcome: 'duplicate'; executionArn: string }
  | { outcome: 'not-terminal' | 'run-gone' | 'no-tier'; detail: string };

export interface TriggerArgs {
  omics: OmicsClient;
  sfn: SFNClient;
  stateMachineArn: string;
  config: ArchiverConfig;
  runId: string;
  status: string;
}

export async function triggerArchive(args: TriggerArgs): Promise<TriggerOutcome> {
  if (!(TERMINAL_RUN_STATUSES as readonly string[]).includes(args.status)) {
    return { outcome: 'not-terminal', detail: `status ${args.status} is not terminal` };
  }
  let run;
  try {
    run = await args.omics.send(new GetRunCommand({ id: args.runId }));
  } catch (error) {
    if (error instanceof ResourceNotFoundException) return { outcome: 'run-gone', detail: `run ${args.runId} no longer exists` };
    throw error;
  }
  const runUuid = run.uuid ?? '';
  const status = run.status ?? args.status;
  if (status === 'DELETED') return { outcome: 'run-gone', detail: `run ${args.runId} was deleted from HealthOmics` };
  if (!(TERMINAL_RUN_STATUSES as readonly string[]).includes(status)) {
    // The id was reused by a newer run that is still going; the old run's own event will not come again.
    return { outcome: 'not-terminal', detail: `run ${args.runId} is ${status} now` };
  }
  const tier = matchTier(args.config, { workflowId: run.workflowId, runGroupId: run.runGroupId, status, tags: run.tags });
  if (!tier) return { outcome: 'no-tier', detail: `no tier matches run ${args.runId} (workflow ${run.workflowId ?? '-'})` };

  const name = executionName(args.runId, runUuid);
  const executionArn = args.stateMachineArn.replace(':stateMachine:', ':execution:') + `:${name}`;
  try {
    await args.sfn.send(new DescribeExecutionCommand({ executionArn }));
    return { outcome: 'duplicate', executionArn };
  } catch (error) {
    if (!(error instanceof ExecutionDoesNotExist)) throw error;
  }
  const input: ArchiveExecutionInput = {
    runId: args.runId,
    runUuid,
    runArn: run.arn ?? '',
    status,
    tier,
    waits: tierWaits(tier),
    settings: {
      archiveConcurrency: args.config.archiveConcurrency,
      groupMaxFiles: args.config.groupMaxFiles,
      groupMaxBytes: sizeBytes(args.config.groupMaxBytes),
    },
  };
  try {
    const started = await args.sfn.send(new StartExecutionCommand({ stateMachineArn: args.stateMachineArn, name, input: JSON.stringify(input) }));
    return { outcome: 'started', executionArn: started.executionArn ?? executionArn, input };
  } catch (error) {
    if (error instanceof ExecutionAlreadyExists) return { outcome: 'duplicate', executionArn };
    throw error;
  }
}
