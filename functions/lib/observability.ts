// Powertools logger and metrics shared by every handler: structured JSON logs and EMF metrics in one namespace.
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { POWERTOOLS } from '../../stacks/wiring';

export { MetricUnit };

export const logger = new Logger({ serviceName: POWERTOOLS.serviceName });
export const metrics = new Metrics({ namespace: POWERTOOLS.metricsNamespace, serviceName: POWERTOOLS.serviceName });

/** The part of Lambda's context the handlers use. */
export interface InvocationContext {
  awsRequestId?: string;
  getRemainingTimeInMillis?: () => number;
}

/** Wraps a handler so each invocation logs with its context and flushes its metrics, whatever happens. */
export function instrumented<E, R>(
  name: string,
  handler: (event: E, context: InvocationContext) => Promise<R>,
): (event: E, context?: InvocationContext) => Promise<R> {
  return async (event, context = {}) => {
    logger.resetKeys();
    logger.appendKeys({ function: name, requestId: context.awsRequestId });
    try {
      return await handler(event, context);
    } finally {
      if (metrics.hasStoredMetrics()) metrics.publishStoredMetrics();
    }
  };
}
