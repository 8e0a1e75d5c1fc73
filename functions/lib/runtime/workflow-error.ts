// Reads the error object a Step Functions Catch puts in the state, for the reason recorded in the index.

/** What a Catch with `ResultPath` puts in the state (a task failed without a cause may carry `null`). */
export interface WorkflowError {
  Error?: string | null;
  Cause?: string | null;
}

/** `Error: message`; a Lambda error's Cause is its JSON payload, whose errorMessage is what a person wants to read. */
export function describeWorkflowError(error: WorkflowError | undefined, maxLength = 4000): string {
  const cause = error?.Cause ?? '';
  let message = cause;
  try {
    const parsed = JSON.parse(cause) as { errorMessage?: string };
    if (parsed && typeof parsed.errorMessage === 'string') message = parsed.errorMessage;
  } catch {
    // the cause is plain text
  }
  return `${error?.Error ?? 'Error'}: ${message || 'no cause given'}`.slice(0, maxLength);
}
