// Records every AWS SDK call made on behalf of a local function (its principal), so a test can check it against IAM.
import { AsyncLocalStorage } from 'node:async_hooks';
import { addToEverySdkClient } from './sdk-middleware';

/** One SDK call: who made it (the local function name), the service and operation, and the input's identifying fields. */
export interface RecordedCall {
  principal: string;
  /** The SDK client's name without `Client`: `S3`, `DynamoDB`, `Glacier`, `Omics`, `SFN`, ... */
  service: string;
  /** The operation without `Command`: `GetObject`, `PutItem`, ... */
  operation: string;
  /** Scalar input fields (bodies dropped), and the table names of a batch's `RequestItems`. */
  input: Record<string, string | number | boolean | string[]>;
}

const principals = new AsyncLocalStorage<string>();

/** Runs `work` on behalf of `principal`: every SDK call inside it (awaited or not) is attributed to it. */
export function asPrincipal<T>(principal: string, work: () => T): T {
  return principals.run(principal, work);
}

/** The fields that name what a call touches; bodies and streams are left out. */
function identifyingInput(input: unknown): RecordedCall['input'] {
  const kept: RecordedCall['input'] = {};
  for (const [name, value] of Object.entries((input ?? {}) as Record<string, unknown>)) {
    if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') kept[name] = value;
    else if (name === 'RequestItems' && value && typeof value === 'object') kept[name] = Object.keys(value);
  }
  return kept;
}

interface HandlerContext {
  clientName?: string;
  commandName?: string;
}
type BuildHandler = (args: { input: unknown }) => Promise<unknown>;

let listener: ((call: RecordedCall) => void) | undefined;

function recorderMiddleware(next: BuildHandler, context: HandlerContext): BuildHandler {
  return (args) => {
    const principal = principals.getStore();
    if (principal && listener) {
      listener({
        principal,
        service: (context.clientName ?? 'Unknown').replace(/Client$/, ''),
        operation: (context.commandName ?? 'Unknown').replace(/Command$/, ''),
        input: identifyingInput(args.input),
      });
    }
    return next(args);
  };
}

/**
 * Starts recording: every SDK client's middleware stack gets the recorder on its first call. The clients of
 * functions/lib/runtime/clients.ts are left as they are (deployed code stays untouched); only the shared smithy
 * `Client.prototype.send` is wrapped, here, so it works for every service client at once. Returns a stop function.
 */
export function recordAwsCalls(onCall: (call: RecordedCall) => void): () => void {
  listener = onCall;
  const remove = addToEverySdkClient(recorderMiddleware, { step: 'build', name: 'localCallRecorder', priority: 'high' });
  return () => {
    remove();
    listener = undefined;
  };
}
