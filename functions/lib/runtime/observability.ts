// Powertools logger, metrics and tracer shared by every handler: structured JSON logs, EMF metrics in one namespace, X-Ray.
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { Tracer } from '@aws-lambda-powertools/tracer';
import { POWERTOOLS } from '../contract';

export { MetricUnit };

export const logger = new Logger({ serviceName: POWERTOOLS.serviceName });
export const metrics = new Metrics({ namespace: POWERTOOLS.metricsNamespace, serviceName: POWERTOOLS.serviceName });
/** X-Ray through Powertools: off outside Lambda (the CLI, the local cloud, tests), on in deployed functions. */
export const tracer = new Tracer({ serviceName: POWERTOOLS.serviceName });

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
