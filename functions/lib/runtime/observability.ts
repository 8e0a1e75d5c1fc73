// Powertools logger, metrics and tracer shared by every handler, and the one wrapper (`instrumented`) every handler goes through.
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { Tracer } from '@aws-lambda-powertools/tracer';
import type { Context } from 'aws-lambda';
import { ENV, POWERTOOLS } from '../contract';

export { MetricUnit };

/** The placeholder a run's `parameters` are logged as unless `logRunParameters` is set. */
export const REDACTED = '[redacted]';

/**
 * A HealthOmics run's `parameters` (GetRun's and StartRun's inputs: sample names, patient-derived paths) may be
 * sensitive: wherever a log line carries one, at any depth, it is written as "[redacted]" unless the stack sets
 * LOG_RUN_PARAMETERS=true (config logRunParameters). Read per line, so a test or the local cloud can switch it.
 */
export function redactRunParameters(key: string, value: unknown): unknown {
  if (key !== 'parameters' || value === null || typeof value !== 'object') return value;
  return process.env[ENV.logRunParameters] === 'true' ? value : REDACTED;
}

export const logger = new Logger({ serviceName: POWERTOOLS.serviceName, jsonReplacerFn: redactRunParameters });
export const metrics = new Metrics({ namespace: POWERTOOLS.metricsNamespace, serviceName: POWERTOOLS.serviceName });
/**
 * X-Ray through Powertools: on in deployed functions, off outside Lambda. Powertools turns it off itself when
 * AWS_EXECUTION_ENV is unset (tests, the CLI) or POWERTOOLS_TRACE_ENABLED=false (the local cloud sets it).
 */
export const tracer = new Tracer({ serviceName: POWERTOOLS.serviceName });

/** Lambda's context as the handlers get it: all of it in Lambda and the local cloud, what a test passes (often nothing) elsewhere. */
export type InvocationContext = Partial<Context>;

/**
 * Names the run this invocation works on: a `runUuid` key (and any other `keys`) on every log line from here on,
 * and a `runUuid` annotation on the invocation's trace, so X-Ray finds a run's invocations by uuid.
 */
export function annotateRun(runUuid: string, keys: Record<string, string> = {}): void {
  logger.appendKeys({ runUuid, ...keys });
  tracer.putAnnotation('runUuid', runUuid);
}

/**
 * Runs the invocation in a subsegment of its own (`## <name>`), annotated with ColdStart and the service, the response
 * or error as metadata, as Powertools' `captureLambdaHandler` does. Nothing at all when tracing is off.
 */
async function traced<R>(name: string, invoke: () => Promise<R>): Promise<R> {
  if (!tracer.isTracingEnabled()) return invoke();
  const segment = tracer.getSegment(); // Lambda's facade segment, which cannot carry annotations itself
  const subsegment = segment?.addNewSubsegment(`## ${name}`);
  if (subsegment) tracer.setSegment(subsegment);
  tracer.annotateColdStart();
  tracer.addServiceNameAnnotation();
  try {
    const result = await invoke();
    tracer.addResponseAsMetadata(result, name);
    return result;
  } catch (error) {
    tracer.addErrorAsMetadata(error as Error);
    throw error;
  } finally {
    subsegment?.close();
    if (segment) tracer.setSegment(segment);
  }
}

/**
 * Wraps a handler as Powertools' examples wire theirs: the logger gets the Lambda context (request id, function,
 * cold start) and this invocation's keys only, the tracer captures the invocation, a cold start is counted once
 * (the ColdStart metric), and the metrics are flushed when the invocation ends, whatever happens.
 */
export function instrumented<E, R>(
  name: string,
  handler: (event: E, context: InvocationContext) => Promise<R>,
): (event: E, context?: InvocationContext) => Promise<R> {
  return async (event, context = {}) => {
    logger.resetKeys(); // the previous invocation's keys (runUuid, ...) end with it
    // Lambda's own context has every field Powertools reads; elsewhere the missing ones are left out of the log.
    logger.addContext(context as Context);
    logger.appendKeys({ function: name, requestId: context.awsRequestId });
    metrics.captureColdStartMetric(context.functionName);
    try {
      return await traced(name, () => handler(event, context));
    } finally {
      // Only when there is something: an empty flush makes Powertools warn on every invocation.
      if (metrics.hasStoredMetrics()) metrics.publishStoredMetrics();
    }
  };
}
