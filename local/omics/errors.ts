// HealthOmics error responses, shaped so the SDK's restJson1 parser raises the same modeled exceptions AWS would.

/** The modeled HealthOmics errors and their HTTP statuses (from the SDK's schema and the API reference). */
export const ERROR_STATUS = {
  ValidationException: 400,
  AccessDeniedException: 403,
  ResourceNotFoundException: 404,
  RequestTimeoutException: 408,
  ConflictException: 409,
  ServiceQuotaExceededException: 402,
  ThrottlingException: 429,
  InternalServerException: 500,
  // Not modeled: what an AWS REST front end answers for a path no operation owns.
  UnknownOperationException: 404,
} as const;
export type OmicsErrorCode = keyof typeof ERROR_STATUS;

/** An error the emulator answers with: `x-amzn-errortype` names it, the JSON body carries `message`. */
export class OmicsError extends Error {
  readonly status: number;
  constructor(
    readonly code: OmicsErrorCode,
    message: string,
  ) {
    super(message);
    this.name = code;
    this.status = ERROR_STATUS[code];
  }
}

/**
 * AWS's own wording for a failed constraint ("1 validation error detected: Value 'x' at 'id' failed to satisfy
 * constraint: ..."), so messages in logs look like the real ones.
 */
export function constraintError(field: string, value: unknown, constraint: string): OmicsError {
  return new OmicsError(
    'ValidationException',
    `1 validation error detected: Value '${String(value)}' at '${field}' failed to satisfy constraint: ${constraint}`,
  );
}

export const notFound = (what: string) => new OmicsError('ResourceNotFoundException', `${what} not found`);
export const conflict = (message: string) => new OmicsError('ConflictException', message);
