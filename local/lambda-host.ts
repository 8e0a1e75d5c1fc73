// Runs the real Lambda handlers in process for the local cloud, with Lambda's invoke contract (errors, timeouts, sizes).
import { randomUUID } from 'node:crypto';
import * as path from 'node:path';
import type { Context } from 'aws-lambda';
import { LAMBDAS, type LambdaKey, type LambdaSpec } from '../stacks/wiring';
import { asPrincipal } from './call-recorder';
import { InvocationCrashed, asInvocation } from './faults';

/** The run an invocation works for, where its event names one (Step Functions tasks do), for scoping injected faults. */
function runUuidOf(event: unknown): string | undefined {
  const e = event as { runUuid?: unknown; item?: { runUuid?: unknown } } | null;
  const uuid = e?.runUuid ?? e?.item?.runUuid;
  return typeof uuid === 'string' ? uuid : undefined;
}

/** Lambda's synchronous payload limit, request and response alike. */
const MAX_PAYLOAD_BYTES = 6 * 1024 * 1024;
const REPO_ROOT = path.resolve(__dirname, '..');

// Handlers receive events of many shapes; the host only moves JSON between Step Functions, SQS and them.
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- each handler types its own event; the host passes any of them
type Handler = (event: any, context: Context) => Promise<unknown>;

/** What Lambda's Invoke API returns, before it is put on the wire. */
export interface InvokeOutcome {
  statusCode: number;
  payload: string;
  /** Set when the function failed: Lambda's `X-Amz-Function-Error` (`Unhandled`). */
  functionError?: string;
}

export interface LambdaHostOptions {
  accountId: string;
  region: string;
  /** Multiplies each function's timeout; tests of slow paths may shorten or stretch it. */
  timeoutScale?: number;
  /** Per-function timeouts instead of the deployed ones (reliability tests shorten ArchiveFiles' to keep claims short). */
  timeoutSeconds?: Partial<Record<LambdaKey, number>>;
  /** Called after every invocation, for the CLI's trace and for tests. */
  onInvoke?: (record: { functionName: string; durationMs: number; error?: string }) => void;
}

/** Lambda's error payload: Step Functions takes `errorType` as the error name its Retry and Catch match. */
function errorPayload(error: unknown): string {
  const err = error instanceof Error ? error : new Error(String(error));
  return JSON.stringify({
    errorType: err.name && err.name !== 'Error' ? err.name : (err.constructor?.name ?? 'Error'),
    errorMessage: err.message,
    trace: (err.stack ?? '').split('\n'),
  });
}

/** Runs before a function's handler with its event; throwing makes the invocation fail as the handler would. */
export type InvocationHook = (event: unknown) => void | Promise<void>;

export class LambdaHost {
  private readonly handlers = new Map<string, Handler>();
  private readonly hooks = new Map<string, InvocationHook>();
  private readonly byName = new Map<string, LambdaSpec>();

  constructor(private readonly options: LambdaHostOptions) {
    for (const spec of Object.values(LAMBDAS)) this.byName.set(this.functionName(spec), spec);
  }

  /** The local function name of a spec; the same one its ARN ends with. */
  functionName(spec: LambdaSpec): string {
    return `omics-archiver-${spec.id}`;
  }

  functionArn(key: LambdaKey): string {
    return `arn:aws:lambda:${this.options.region}:${this.options.accountId}:function:${this.functionName(LAMBDAS[key])}`;
  }

  /** ARNs for every function, as the ASL substitutions want them. */
  functionArns(): Record<LambdaKey, string> {
    return Object.fromEntries((Object.keys(LAMBDAS) as LambdaKey[]).map((key) => [key, this.functionArn(key)])) as Record<LambdaKey, string>;
  }

  /** Resolves a name, partial ARN or full ARN (with or without a qualifier) the way Lambda does. */
  resolve(nameOrArn: string): LambdaSpec | undefined {
    const decoded = decodeURIComponent(nameOrArn);
    const name = decoded.startsWith('arn:') ? decoded.split(':')[6] : decoded.split(':')[0];
    return this.byName.get(name);
  }

  private handlerFor(spec: LambdaSpec): Handler {
    let handler = this.handlers.get(spec.id);
    if (!handler) {
      // Loaded on first use, so the local cloud has set the environment the handler reads at module load.
      // eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded lazily, after the local cloud has set the handler's environment
      const module = require(path.join(REPO_ROOT, spec.entry)) as { handler?: Handler };
      if (typeof module.handler !== 'function') throw new Error(`${spec.entry} does not export a handler`);
      handler = module.handler;
      this.handlers.set(spec.id, handler);
    }
    return handler;
  }

  /**
   * Fault injection for reliability tests: `hook` runs before every invocation of the function (to change the world
   * under it, or throw as it would). Returns a function that removes the hook.
   */
  intercept(key: LambdaKey, hook: InvocationHook): () => void {
    const id = LAMBDAS[key].id;
    this.hooks.set(id, hook);
    return () => {
      if (this.hooks.get(id) === hook) this.hooks.delete(id);
    };
  }

  /** Invokes a function synchronously (RequestResponse), as Lambda's Invoke API does. */
  async invoke(nameOrArn: string, payload: string): Promise<InvokeOutcome> {
    const spec = this.resolve(nameOrArn);
    if (!spec) {
      return {
        statusCode: 404,
        payload: JSON.stringify({ Type: 'User', message: `Function not found: ${nameOrArn}` }),
        functionError: 'ResourceNotFoundException',
      };
    }
    if (Buffer.byteLength(payload) > MAX_PAYLOAD_BYTES) {
      return {
        statusCode: 413,
        payload: JSON.stringify({ Type: 'User', message: `Request must be smaller than ${MAX_PAYLOAD_BYTES} bytes for the InvokeFunction operation` }),
        functionError: 'RequestEntityTooLargeException',
      };
    }
    const functionName = this.functionName(spec);
    const key = (Object.keys(LAMBDAS) as LambdaKey[]).find((k) => LAMBDAS[k].id === spec.id);
    const timeoutMs = (this.options.timeoutSeconds?.[key!] ?? spec.timeoutSeconds) * 1000 * (this.options.timeoutScale ?? 1);
    const started = Date.now();
    const deadline = started + timeoutMs;
    const context = {
      functionName,
      functionVersion: '$LATEST',
      invokedFunctionArn: `arn:aws:lambda:${this.options.region}:${this.options.accountId}:function:${functionName}`,
      memoryLimitInMB: String(spec.memoryMiB),
      awsRequestId: randomUUID(),
      logGroupName: `/aws/lambda/${functionName}`,
      logStreamName: 'local',
      callbackWaitsForEmptyEventLoop: false,
      getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
      done: () => undefined,
      fail: () => undefined,
      succeed: () => undefined,
    } satisfies Context;

    let timer: NodeJS.Timeout | undefined;
    try {
      const event: unknown = payload.length ? JSON.parse(payload) : {};
      const timedOut = new Promise<never>((_, reject) => {
        timer = setTimeout(() => {
          const err = new Error(`Task timed out after ${(timeoutMs / 1000).toFixed(2)} seconds`);
          err.name = 'Sandbox.Timedout';
          reject(err);
        }, timeoutMs);
      });
      const hook = this.hooks.get(spec.id);
      const run = async () => {
        if (hook) await hook(event);
        // The handler's SDK calls are its role's (call-recorder.ts); a test's hook above is not.
        const ended = await asInvocation(
          functionName,
          runUuidOf(event),
          () => asPrincipal(functionName, () => this.handlerFor(spec)(event, context)),
          timeoutMs,
        );
        // A crash (faults.ts) ends the invocation however the handler took it: what it did after never happened.
        if (ended.crashedAt) throw new InvocationCrashed(ended.crashedAt);
        // eslint-disable-next-line @typescript-eslint/only-throw-error -- rethrows what the handler threw, as it threw it (Lambda reports its name)
        if ('error' in ended && ended.error !== undefined) throw ended.error;
        return ended.result;
      };
      const result = await Promise.race([run(), timedOut]);
      const body = result === undefined ? 'null' : JSON.stringify(result);
      if (Buffer.byteLength(body) > MAX_PAYLOAD_BYTES) {
        const err = new Error(`Response payload size exceeded maximum allowed payload size (${MAX_PAYLOAD_BYTES} bytes).`);
        err.name = 'Function.ResponseSizeTooLarge';
        throw err;
      }
      this.options.onInvoke?.({ functionName, durationMs: Date.now() - started });
      return { statusCode: 200, payload: body };
    } catch (error) {
      const body = errorPayload(error);
      this.options.onInvoke?.({ functionName, durationMs: Date.now() - started, error: (JSON.parse(body) as { errorType: string }).errorType });
      return { statusCode: 200, payload: body, functionError: 'Unhandled' };
    } finally {
      clearTimeout(timer);
    }
  }
}
