// StartRun's request as the service checks it: the model's constraints in AWS's wording, then what must exist.
import { OmicsError, constraintError } from './errors';
import { NUMERIC_ID } from './model';

/** A StartRun body that passed the model's constraints (the emulator then checks workflow, run group, parameters). */
export interface StartRunRequest {
  requestId: string;
  roleArn: string;
  outputUri: string;
  workflowId?: string;
  workflowType?: 'PRIVATE' | 'READY2RUN';
  runId?: string;
  name?: string;
  cacheId?: string;
  cacheBehavior?: 'CACHE_ON_FAILURE' | 'CACHE_ALWAYS';
  runGroupId?: string;
  priority?: number;
  parameters?: Record<string, unknown>;
  storageCapacity?: number;
  storageType?: 'STATIC' | 'DYNAMIC';
  logLevel?: 'OFF' | 'FATAL' | 'ERROR' | 'ALL';
  retentionMode?: 'RETAIN' | 'REMOVE';
  tags?: Record<string, string>;
  workflowOwnerId?: string;
  workflowVersionName?: string;
  networkingMode?: 'RESTRICTED' | 'VPC';
  configurationName?: string;
}

/** `[\p{L}||\p{M}||\p{Z}||\p{S}||\p{N}||\p{P}]+` in the model: printable text, no control characters. */
const PRINTABLE = /^[\p{L}\p{M}\p{Z}\p{S}\p{N}\p{P}]+$/u;
const VERSION_NAME = /^[A-Za-z0-9][A-Za-z0-9\-._]*$/;
/** An IAM role ARN; the model only asks for `arn:.+`, the service then refuses anything that is not a role. */
export const ROLE_ARN = /^arn:aws[a-z-]*:iam::[0-9]{12}:role\/[\w+=,.@/-]{1,512}$/;
/** `s3://bucket` or `s3://bucket/prefix`, with a bucket name S3 would accept. */
export const OUTPUT_URI = /^s3:\/\/[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](\/.*)?$/;

const ENUMS = {
  workflowType: ['PRIVATE', 'READY2RUN'],
  cacheBehavior: ['CACHE_ON_FAILURE', 'CACHE_ALWAYS'],
  storageType: ['STATIC', 'DYNAMIC'],
  logLevel: ['OFF', 'FATAL', 'ERROR', 'ALL'],
  retentionMode: ['RETAIN', 'REMOVE'],
  networkingMode: ['RESTRICTED', 'VPC'],
} as const;

const validationErrors = (errors: string[]) =>
  new OmicsError('ValidationException', `${errors.length} validation error${errors.length === 1 ? '' : 's'} detected: ${errors.join('; ')}`);

/**
 * Checks a StartRun body against the model (required members, lengths, patterns, enums, ranges), collecting every
 * failure into one ValidationException as AWS does; then the run-specific rules (workflowId or runId, a role ARN,
 * an s3:// output URI).
 */
export function parseStartRun(body: unknown): StartRunRequest {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new OmicsError('ValidationException', 'The request body must be a JSON object');
  }
  const input = body as Record<string, unknown>;
  const errors: string[] = [];
  const fail = (field: string, value: unknown, constraint: string) =>
    errors.push(constraintError(field, value, constraint).message.replace(/^1 validation error detected: /, ''));
  const str = (field: string, options: { required?: boolean; min?: number; max: number; pattern?: RegExp; patternText?: string }) => {
    const value = input[field];
    if (value === undefined || value === null) {
      if (options.required) errors.push(`Value null at '${field}' failed to satisfy constraint: Member must not be null`);
      return undefined;
    }
    if (typeof value !== 'string') {
      fail(field, value, 'Member must be a string');
      return undefined;
    }
    const min = options.min ?? 1;
    if (value.length < min || value.length > options.max) fail(field, value, `Member must have length between ${min} and ${options.max}`);
    else if (options.pattern && !options.pattern.test(value)) fail(field, value, `Member must satisfy regular expression pattern: ${options.patternText}`);
    return value;
  };
  const int = (field: string, min: number, max: number) => {
    const value = input[field];
    if (value === undefined || value === null) return undefined;
    if (typeof value !== 'number' || !Number.isInteger(value)) fail(field, value, 'Member must be an integer');
    else if (value < min) fail(field, value, `Member must have value greater than or equal to ${min}`);
    else if (value > max) fail(field, value, `Member must have value less than or equal to ${max}`);
    return value as number;
  };
  const oneOf = <K extends keyof typeof ENUMS>(field: K) => {
    const value = str(field, { max: 64 });
    if (value !== undefined && !(ENUMS[field] as readonly string[]).includes(value)) {
      fail(field, value, `Member must satisfy enum value set: [${ENUMS[field].join(', ')}]`);
    }
    return value as (typeof ENUMS)[K][number] | undefined;
  };
  const id = (field: string) => str(field, { max: 18, pattern: NUMERIC_ID, patternText: '[0-9]+' });
  const printable = { pattern: PRINTABLE, patternText: '[\\p{L}||\\p{M}||\\p{Z}||\\p{S}||\\p{N}||\\p{P}]+' };

  const request: StartRunRequest = {
    requestId: str('requestId', { required: true, max: 128, ...printable }) ?? '',
    roleArn: str('roleArn', { required: true, max: 128, pattern: /^arn:.+$/, patternText: 'arn:.+' }) ?? '',
    outputUri: str('outputUri', { required: true, max: 750, ...printable }) ?? '',
    workflowId: id('workflowId'),
    workflowType: oneOf('workflowType'),
    runId: id('runId'),
    name: str('name', { max: 128, ...printable }),
    cacheId: id('cacheId'),
    cacheBehavior: oneOf('cacheBehavior'),
    runGroupId: id('runGroupId'),
    priority: int('priority', 0, 100000),
    storageCapacity: int('storageCapacity', 0, 100000),
    storageType: oneOf('storageType'),
    logLevel: oneOf('logLevel'),
    retentionMode: oneOf('retentionMode'),
    workflowOwnerId: str('workflowOwnerId', { min: 0, max: 12, pattern: /^[0-9]{12}$/, patternText: '[0-9]{12}' }),
    workflowVersionName: str('workflowVersionName', { max: 64, pattern: VERSION_NAME, patternText: '[A-Za-z0-9][A-Za-z0-9\\-\\._]*' }),
    networkingMode: oneOf('networkingMode'),
    configurationName: str('configurationName', { max: 128, pattern: VERSION_NAME, patternText: '[A-Za-z0-9][A-Za-z0-9\\-\\._]*' }),
  };
  const parameters = input.parameters;
  if (parameters !== undefined && parameters !== null) {
    if (typeof parameters !== 'object' || Array.isArray(parameters)) fail('parameters', JSON.stringify(parameters), 'Member must be a JSON object');
    else request.parameters = parameters as Record<string, unknown>;
  }
  const tags = input.tags;
  if (tags !== undefined && tags !== null) {
    if (typeof tags !== 'object' || Array.isArray(tags)) fail('tags', JSON.stringify(tags), 'Member must be a map');
    else {
      for (const [key, value] of Object.entries(tags as Record<string, unknown>)) {
        if (key.length < 1 || key.length > 128) fail(`tags.${key}.member.key`, key, 'Member must have length between 1 and 128');
        if (typeof value !== 'string' || value.length > 256) fail(`tags.${key}.member.value`, value, 'Member must have length less than or equal to 256');
      }
      request.tags = tags as Record<string, string>;
    }
  }
  if (errors.length > 0) throw validationErrors(errors);

  // Beyond the model: what the service itself refuses before it looks anything up.
  if (request.workflowId === undefined && request.runId === undefined) {
    throw new OmicsError('ValidationException', 'Either workflowId or runId must be provided');
  }
  if (!ROLE_ARN.test(request.roleArn)) {
    throw new OmicsError('ValidationException', `Invalid roleArn '${request.roleArn}': must be an IAM role ARN (arn:aws:iam::<account>:role/<name>)`);
  }
  if (!OUTPUT_URI.test(request.outputUri)) {
    throw new OmicsError('ValidationException', `Invalid outputUri '${request.outputUri}': must be an S3 URI (s3://bucket/prefix/)`);
  }
  if (request.tags && Object.keys(request.tags).length > 50) {
    throw new OmicsError('ValidationException', `A run can have at most 50 tags; got ${Object.keys(request.tags).length}`);
  }
  return request;
}
