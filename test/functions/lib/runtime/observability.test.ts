// The one handler wrapper: logger with the Lambda context and cold start, a traced subsegment per invocation (only in Lambda), metrics flushed.
import type { Context } from 'aws-lambda';
import { Segment, type Subsegment } from 'aws-xray-sdk-core';

type Observability = typeof import('../../../../functions/lib/runtime/observability');

const UUID = '96c57683-74bf-9d6d-ae7e-f09b097db14a';
const LAMBDA_ENV = [
  'AWS_EXECUTION_ENV',
  'AWS_LAMBDA_INITIALIZATION_TYPE',
  'POWERTOOLS_TRACE_ENABLED',
  'POWERTOOLS_TRACER_CAPTURE_HTTPS_REQUESTS',
  'POWERTOOLS_DEV',
];
const saved = Object.fromEntries(LAMBDA_ENV.map((name) => [name, process.env[name]]));

/**
 * A fresh copy of the module, made under `env` as Lambda (or a test, or the local cloud) would have it: Powertools
 * reads the environment when its utilities are built, and each keeps its own cold-start flag.
 */
function load(env: Record<string, string>): Observability {
  for (const name of LAMBDA_ENV) delete process.env[name];
  Object.assign(process.env, env);
  let loaded: Observability | undefined;
  jest.isolateModules(() => {
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- a fresh module instance per environment
    loaded = require('../../../../functions/lib/runtime/observability') as Observability;
  });
  return loaded!;
}

/** What Lambda (and the local cloud's host) passes as the context. */
const lambdaContext = (requestId: string): Context => ({
  functionName: 'OmicsRunArchiver-PlanArchive',
  functionVersion: '$LATEST',
  invokedFunctionArn: 'arn:aws:lambda:us-east-1:123456789012:function:OmicsRunArchiver-PlanArchive',
  memoryLimitInMB: '1024',
  awsRequestId: requestId,
  logGroupName: '/aws/lambda/OmicsRunArchiver-PlanArchive',
  logStreamName: 'stream',
  callbackWaitsForEmptyEventLoop: false,
  getRemainingTimeInMillis: () => 60_000,
  done: () => undefined,
  fail: () => undefined,
  succeed: () => undefined,
});

/** Powertools writes logs and EMF straight to stdout: each JSON line written while `fn` runs. */
async function stdoutLines(fn: () => Promise<unknown>): Promise<Record<string, unknown>[]> {
  const lines: Record<string, unknown>[] = [];
  const write = jest.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    for (const line of chunk.toString().split('\n')) if (line.trim().startsWith('{')) lines.push(JSON.parse(line) as Record<string, unknown>);
    return true;
  });
  try {
    await fn().catch(() => undefined);
  } finally {
    write.mockRestore();
  }
  return lines;
}

const isEmf = (line: Record<string, unknown>) => '_aws' in line;
const metricNames = (line: Record<string, unknown>) =>
  (line._aws as { CloudWatchMetrics: { Metrics: { Name: string }[] }[] }).CloudWatchMetrics.flatMap((m) => m.Metrics.map((x) => x.Name));

afterEach(() => {
  jest.restoreAllMocks();
  for (const [name, value] of Object.entries(saved)) {
    if (value === undefined) delete process.env[name];
    else process.env[name] = value;
  }
});

describe('instrumented, outside Lambda', () => {
  it('keeps tracing off in tests and in the local cloud, and touches no segment', async () => {
    const test = load({});
    expect(test.tracer.isTracingEnabled()).toBe(false);
    // The local cloud's functions run with Lambda-like variables, and POWERTOOLS_TRACE_ENABLED=false turns tracing off.
    expect(load({ AWS_EXECUTION_ENV: 'AWS_Lambda_nodejs20.x', POWERTOOLS_TRACE_ENABLED: 'false' }).tracer.isTracingEnabled()).toBe(false);

    const getSegment = jest.spyOn(test.tracer.provider, 'getSegment');
    const setSegment = jest.spyOn(test.tracer.provider, 'setSegment');
    jest.spyOn(test.logger, 'info').mockImplementation(() => undefined);
    const handler = test.instrumented('plan-archive', (event: { n: number }) => {
      test.annotateRun(UUID);
      return Promise.resolve(event.n + 1);
    });
    await expect(handler({ n: 1 })).resolves.toBe(2);
    await expect(handler({ n: 2 }, lambdaContext('req-1'))).resolves.toBe(3);
    expect(getSegment).not.toHaveBeenCalled();
    expect(setSegment).not.toHaveBeenCalled();
  });
});

describe('instrumented, in Lambda', () => {
  it("logs with the Lambda context and cold start, and each invocation's keys only", async () => {
    const o = load({ AWS_LAMBDA_INITIALIZATION_TYPE: 'on-demand' });
    const handler = o.instrumented('plan-archive', (event: { run?: string }) => {
      if (event.run) o.annotateRun(event.run, { runId: '1234567' });
      o.logger.info('Archive planned');
      return Promise.resolve();
    });

    const first = (await stdoutLines(() => handler({ run: UUID }, lambdaContext('req-1')))).filter((l) => !isEmf(l));
    expect(first).toEqual([
      expect.objectContaining({
        message: 'Archive planned',
        cold_start: true,
        function_name: 'OmicsRunArchiver-PlanArchive',
        function_request_id: 'req-1',
        function: 'plan-archive',
        requestId: 'req-1',
        runUuid: UUID,
        runId: '1234567',
      }),
    ]);
    const second = (await stdoutLines(() => handler({}, lambdaContext('req-2')))).filter((l) => !isEmf(l));
    expect(second).toEqual([expect.objectContaining({ cold_start: false, function_request_id: 'req-2', requestId: 'req-2' })]);
    expect(second[0]).not.toHaveProperty('runUuid');
    expect(second[0]).not.toHaveProperty('runId');
  });

  it('counts the cold start once and flushes the metrics of every invocation, even one that throws', async () => {
    const o = load({ AWS_LAMBDA_INITIALIZATION_TYPE: 'on-demand' });
    const warn = jest.spyOn(console, 'warn').mockImplementation(() => undefined);
    const handler = o.instrumented('archive-files', (event: { fail?: boolean; files?: number }) => {
      if (event.files) o.metrics.addMetric('FilesArchived', o.MetricUnit.Count, event.files);
      return event.fail ? Promise.reject(new Error('boom')) : Promise.resolve();
    });

    const first = (await stdoutLines(() => handler({ files: 3 }, lambdaContext('req-1')))).filter(isEmf);
    expect(first.map(metricNames)).toEqual([['ColdStart'], ['FilesArchived']]);
    expect(first[0]).toMatchObject({ function_name: 'OmicsRunArchiver-PlanArchive', service: 'omics-run-archiver', ColdStart: 1 });
    expect(first[1]).toMatchObject({ FilesArchived: 3 });

    const failing = (await stdoutLines(() => handler({ files: 2, fail: true }, lambdaContext('req-2')))).filter(isEmf);
    expect(failing.map(metricNames)).toEqual([['FilesArchived']]);
    await expect(handler({ fail: true }, lambdaContext('req-3'))).rejects.toThrow('boom');

    // An invocation without metrics publishes nothing, and Powertools is not made to warn about it.
    expect((await stdoutLines(() => handler({}, lambdaContext('req-4')))).filter(isEmf)).toEqual([]);
    expect(warn).not.toHaveBeenCalled();
  });

  it('traces each invocation in its own subsegment, annotated with ColdStart, Service and the run uuid', async () => {
    const o = load({
      AWS_EXECUTION_ENV: 'AWS_Lambda_nodejs20.x',
      AWS_LAMBDA_INITIALIZATION_TYPE: 'on-demand',
      POWERTOOLS_TRACER_CAPTURE_HTTPS_REQUESTS: 'false',
    });
    expect(o.tracer.isTracingEnabled()).toBe(true);
    // Lambda's facade segment, and the X-Ray context that holds the active (sub)segment.
    const facade = new Segment('facade');
    let active: Segment | Subsegment = facade;
    jest.spyOn(o.tracer.provider, 'getSegment').mockImplementation(() => active);
    jest.spyOn(o.tracer.provider, 'setSegment').mockImplementation((segment) => {
      active = segment;
    });
    jest.spyOn(process.stdout, 'write').mockImplementation(() => true); // the cold-start EMF line
    const seen: (Segment | Subsegment)[] = [];
    const handler = o.instrumented('plan-archive', (event: { fail?: boolean }) => {
      seen.push(active);
      o.annotateRun(UUID);
      if (event.fail) return Promise.reject(new Error('listing failed'));
      return Promise.resolve({ itemCount: 1 });
    });

    await expect(handler({}, lambdaContext('req-1'))).resolves.toEqual({ itemCount: 1 });
    await expect(handler({ fail: true }, lambdaContext('req-2'))).rejects.toThrow('listing failed');

    // What a subsegment records; the SDK's types leave these fields out.
    type Recorded = Subsegment & { annotations?: object; metadata?: object; fault?: boolean; cause?: unknown; end_time?: number };
    const [first, second] = facade.subsegments as Recorded[];
    expect(facade.subsegments).toHaveLength(2);
    expect(seen).toEqual([first, second]);
    expect(first.name).toBe('## plan-archive');
    expect(first.annotations).toEqual({ ColdStart: true, Service: 'omics-run-archiver', runUuid: UUID });
    expect(first.metadata).toMatchObject({ 'omics-run-archiver': { 'plan-archive response': { itemCount: 1 } } });
    expect(second.annotations).toEqual({ ColdStart: false, Service: 'omics-run-archiver', runUuid: UUID });
    expect(second.fault).toBe(true);
    expect(JSON.stringify(second.cause)).toContain('listing failed');
    // Both closed, and the facade is the active segment again between invocations.
    for (const sub of [first, second]) expect(sub.end_time).toBeGreaterThan(0);
    expect(active).toBe(facade);
  });
});
