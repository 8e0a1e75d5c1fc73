// Lambda: SQS (EventBridge `Run Status Change`) → one archive execution per terminal run.
import { ENV } from './lib/contract';
import { omicsClient, sfnClient } from './lib/runtime/clients';
import { parseRunEvent, triggerArchive } from './lib/archive/trigger-archive';
import { requireEnv, tierPolicy } from './lib/runtime/env';
import { logger, metrics, MetricUnit } from './lib/runtime/observability';
import { sqsConsumer } from './lib/runtime/sqs-batch';

export const handler = sqsConsumer({
  name: 'trigger-archive',
  messageKind: 'run event',
  malformedMetric: 'MalformedRunEvents',
  parse: parseRunEvent,
  handle: async (event) => {
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
  },
});
