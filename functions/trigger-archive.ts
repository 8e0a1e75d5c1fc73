// Lambda: SQS (EventBridge `Run Status Change`) → one archive execution per terminal run.
import { BatchProcessor, EventType, processPartialResponse } from '@aws-lambda-powertools/batch';
import type { SQSEvent, SQSRecord } from 'aws-lambda';
import { ENV } from '../stacks/wiring';
import { omicsClient, sfnClient } from './lib/aws-clients';
import { MalformedEventError, parseRunEvent, triggerArchive } from './lib/archive-trigger';
import { requireEnv, tierPolicy } from './lib/env';
import { instrumented, logger, metrics, MetricUnit } from './lib/observability';

const processor = new BatchProcessor(EventType.SQS);

async function handleRecord(record: SQSRecord): Promise<void> {
  let event;
  try {
    event = parseRunEvent(record.body);
  } catch (error) {
    if (!(error instanceof MalformedEventError)) throw error;
    // Retrying cannot fix it: log the whole message (the record of it), count it, and let it go.
    logger.error('Malformed run event dropped', { reason: error.message, messageId: record.messageId, body: record.body });
    metrics.addMetric('MalformedRunEvents', MetricUnit.Count, 1);
    return;
  }
  const result = await triggerArchive({
    omics: omicsClient(),
    sfn: sfnClient(),
    stateMachineArn: requireEnv(ENV.archiveStateMachineArn),
    config: tierPolicy(),
    ...event,
  });
  if (result.outcome === 'started') {
    logger.info('Archive started', { runId: event.runId, runUuid: result.input.runUuid, tier: result.input.tier.name, executionArn: result.executionArn });
    metrics.addMetric('ArchivesStarted', MetricUnit.Count, 1);
  } else if (result.outcome === 'duplicate') {
    logger.info('Duplicate run event: archive already started', { runId: event.runId, executionArn: result.executionArn });
    metrics.addMetric('DuplicateRunEvents', MetricUnit.Count, 1);
  } else {
    logger.warn('Run not archived', { runId: event.runId, outcome: result.outcome, detail: result.detail });
    metrics.addMetric(result.outcome === 'no-tier' ? 'RunsWithoutTier' : 'RunEventsIgnored', MetricUnit.Count, 1);
  }
}

export const handler = instrumented('trigger-archive', (event: SQSEvent) =>
  processPartialResponse(event, handleRecord, processor, { throwOnFullBatchFailure: false }),
);
