// Fault injection for reliability tests: a local function's invocation crashes, or an AWS call fails or is slow, at a chosen call.
import { AsyncLocalStorage } from 'node:async_hooks';
import { addToEverySdkClient } from './sdk-middleware';

/** One invocation of a local function, as the fault injector sees it. */
interface Invocation {
  functionName: string;
  runUuid?: string;
  /** Set once a crash fault fired: the invocation makes no further call, as a dead process would not. */
  crashedAt?: string;
}

const invocations = new AsyncLocalStorage<Invocation>();

/**
 * Runs one invocation of `functionName`; returns whether (and where) a crash fault ended it, with its result or error.
 * After `timeoutMs` the invocation is dead as Lambda leaves it at its timeout: the handler's promise may still run
 * here, but none of its later AWS calls is sent (a worker past its deadline must not write after its claim expired).
 */
export async function asInvocation<T>(
  functionName: string,
  runUuid: string | undefined,
  work: () => Promise<T>,
  timeoutMs?: number,
): Promise<{ result?: T; error?: unknown; crashedAt?: string }> {
  installed ??= install();
  const invocation: Invocation = { functionName, runUuid };
  const timer =
    timeoutMs === undefined
      ? undefined
      : setTimeout(() => {
          invocation.crashedAt ??= `its timeout (${timeoutMs / 1000} s)`;
        }, timeoutMs);
  try {
    const result = await invocations.run(invocation, work);
    return { result, crashedAt: invocation.crashedAt };
  } catch (error) {
    return { error, crashedAt: invocation.crashedAt };
  } finally {
    clearTimeout(timer);
  }
}

export type Fault =
  /** The invocation dies here: this call (before) or the code after it (after) never runs, nor does any later call. */
  | { kind: 'crash'; when: 'before' | 'after' }
  /** The service answers with this error (after the SDK's own retries, like a real one that persists). */
  | { kind: 'error'; name: string; statusCode: number; message?: string }
  /** The service takes this long to answer. */
  | { kind: 'delay'; ms: number }
  /** Something else happens just before the call is sent (an operator deletes the run), then the call goes on. */
  | { kind: 'meanwhile'; run: () => Promise<void> };

export interface FaultRule {
  /** The local function whose calls it applies to (`omics-archiver-ArchiveFiles`); any when absent. */
  functionName?: string;
  /** Only invocations working for this run (their event's `runUuid`), so runs in flight at once each get their own. */
  runUuid?: string;
  /** The SDK client's service (`Glacier`, `S3`, `DynamoDB`, `Omics`, `CloudWatchLogs`, `SFN`, ...) and operation. */
  service: string;
  operation: string;
  /** The matching call it fires on, counting from 1 (default 1); later matching calls are left alone. */
  nth?: number;
  /** How many matching calls in a row it fires on, from the nth (default 1). */
  times?: number;
  fault: Fault;
}

/** What a crash looks like from outside: Lambda ending the invocation, which Step Functions sees as a timeout. */
export class InvocationCrashed extends Error {
  constructor(at: string) {
    super(`the invocation crashed at ${at} (fault injection)`);
    this.name = 'Sandbox.Timedout';
  }
}

interface ArmedRule {
  rule: FaultRule;
  seen: number;
  fired: number;
}

type Handler = (args: unknown) => Promise<unknown>;

const rules = new Set<ArmedRule>();
let installed: (() => void) | undefined;

function serviceError(fault: Extract<Fault, { kind: 'error' }>, at: string): Error {
  return Object.assign(new Error(fault.message ?? `${fault.name} injected at ${at}`), {
    name: fault.name,
    $fault: fault.statusCode >= 500 ? 'server' : 'client',
    $metadata: { httpStatusCode: fault.statusCode, attempts: 1 },
  });
}

function firing(service: string, operation: string, invocation: Invocation | undefined): FaultRule | undefined {
  for (const armed of rules) {
    const { rule } = armed;
    if (rule.service !== service || rule.operation !== operation) continue;
    if (rule.functionName !== undefined && rule.functionName !== invocation?.functionName) continue;
    if (rule.runUuid !== undefined && rule.runUuid !== invocation?.runUuid) continue;
    armed.seen += 1;
    const first = rule.nth ?? 1;
    if (armed.seen >= first && armed.fired < (rule.times ?? 1)) {
      armed.fired += 1;
      return rule;
    }
  }
  return undefined;
}

function faultMiddleware(next: Handler, context: { clientName?: string; commandName?: string }): Handler {
  const service = (context.clientName ?? '').replace(/Client$/, '');
  const operation = (context.commandName ?? '').replace(/Command$/, '');
  const at = `${service} ${operation}`;
  return async (args) => {
    const invocation = invocations.getStore();
    if (invocation?.crashedAt) throw new InvocationCrashed(invocation.crashedAt);
    const rule = firing(service, operation, invocation);
    const fault = rule?.fault;
    if (fault?.kind === 'delay') await new Promise((resolve) => setTimeout(resolve, fault.ms));
    if (fault?.kind === 'meanwhile') await fault.run();
    if (fault?.kind === 'error') throw serviceError(fault, at);
    if (fault?.kind === 'crash' && fault.when === 'before') {
      if (invocation) invocation.crashedAt = `${at} (before it was sent)`;
      throw new InvocationCrashed(`${at} (before it was sent)`);
    }
    const result = await next(args);
    if (fault?.kind === 'crash' && fault.when === 'after') {
      if (invocation) invocation.crashedAt = `${at} (after it succeeded)`;
      throw new InvocationCrashed(`${at} (after it succeeded)`);
    }
    return result;
  };
}

/**
 * Arms a rule until the returned function disarms it. The first rule installs the injector in every SDK client of
 * this process (the shared smithy `Client.prototype.send`, as the call recorder does); deployed code is untouched.
 */
export function injectFault(rule: FaultRule): { fired: () => number; disarm: () => void } {
  installed ??= install();
  const armed: ArmedRule = { rule, seen: 0, fired: 0 };
  rules.add(armed);
  return { fired: () => armed.fired, disarm: () => rules.delete(armed) };
}

function install(): () => void {
  // Inside the SDK's retry loop (finalizeRequest wraps deserialize), so injected throttles are retried as real ones are.
  return addToEverySdkClient(faultMiddleware, { step: 'deserialize', name: 'localFaultInjector', priority: 'high' });
}
