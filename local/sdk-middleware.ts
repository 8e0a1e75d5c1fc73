// Adds a middleware to every AWS SDK client in this process, for the local cloud's test instruments (recorder, faults).
import { S3Client } from '@aws-sdk/client-s3';

interface MiddlewareStack {
  add(middleware: unknown, options: { step: string; name: string; priority?: string }): void;
}
/** The stacks each named middleware was added to, across install and removal. */
const instrumentedBy = new Map<string, WeakSet<object>>();

type Send = (this: { middlewareStack: MiddlewareStack }, ...args: unknown[]) => unknown;

/**
 * Wraps the one smithy `Client.prototype.send` that every v3 service client inherits, so each client's middleware
 * stack gets `middleware` on its first call. The clients of functions/lib/runtime/clients.ts stay as deployed. A
 * document client shares its inner client's stack, so the stack (not the client) is what is instrumented once.
 * Returns a function that takes the wrapper off again.
 */
export function addToEverySdkClient(middleware: unknown, options: { step: string; name: string; priority?: string }): () => void {
  const base = Object.getPrototypeOf(S3Client.prototype) as { send: Send };
  const original = base.send;
  // A stack keeps a middleware once added (smithy refuses a second of one name), so which stacks have it outlives this call.
  const instrumented = instrumentedBy.get(options.name) ?? new WeakSet<object>();
  instrumentedBy.set(options.name, instrumented);
  base.send = function send(this: { middlewareStack: MiddlewareStack }, ...args: unknown[]) {
    if (!instrumented.has(this.middlewareStack)) {
      instrumented.add(this.middlewareStack);
      this.middlewareStack.add(middleware, options);
    }
    return original.apply(this, args);
  };
  return () => {
    base.send = original;
  };
}
