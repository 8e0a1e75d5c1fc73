// Glacier's error responses: the HTTP status, `code`/`message`/`type` JSON body and x-amzn-ErrorType header AWS sends.
import type { ServerResponse } from 'node:http';

/** Status and fault type per code, from the Glacier developer guide's "Error Responses" table. */
const ERRORS = {
  AccessDeniedException: { status: 403, type: 'Client' },
  InsufficientCapacityException: { status: 503, type: 'Server' },
  InvalidParameterValueException: { status: 400, type: 'Client' },
  InvalidSignatureException: { status: 403, type: 'Client' },
  LimitExceededException: { status: 400, type: 'Client' },
  MissingParameterValueException: { status: 400, type: 'Client' },
  NoLongerSupportedException: { status: 400, type: 'Client' },
  ResourceNotFoundException: { status: 404, type: 'Client' },
  SerializationException: { status: 400, type: 'Client' },
  ServiceUnavailableException: { status: 500, type: 'Server' },
} as const;

export type GlacierErrorCode = keyof typeof ERRORS;

export class GlacierError extends Error {
  readonly status: number;
  readonly type: 'Client' | 'Server';
  constructor(
    readonly code: GlacierErrorCode,
    message: string,
  ) {
    super(message);
    this.status = ERRORS[code].status;
    this.type = ERRORS[code].type;
  }
}

export const invalidParameter = (message: string) => new GlacierError('InvalidParameterValueException', message);
export const missingParameter = (message: string) => new GlacierError('MissingParameterValueException', message);
export const notFound = (message: string) => new GlacierError('ResourceNotFoundException', message);

export function sendError(res: ServerResponse, error: GlacierError, requestId: string): void {
  if (res.headersSent) {
    res.destroy(error);
    return;
  }
  const body = JSON.stringify({ code: error.code, message: error.message, type: error.type });
  res.writeHead(error.status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(body),
    'x-amzn-errortype': error.code,
    'x-amzn-requestid': requestId,
  });
  res.end(body);
}
