// The one place AWS SDK clients are made, so one setting (AWS_ENDPOINT_URL) points all of them at the local cloud.
import { CloudFormationClient } from '@aws-sdk/client-cloudformation';
import { CloudWatchLogsClient } from '@aws-sdk/client-cloudwatch-logs';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { GlacierClient } from '@aws-sdk/client-glacier';
import { OmicsClient } from '@aws-sdk/client-omics';
import { S3Client } from '@aws-sdk/client-s3';
import { SFNClient } from '@aws-sdk/client-sfn';
import { SNSClient } from '@aws-sdk/client-sns';
import { SQSClient } from '@aws-sdk/client-sqs';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { glacierBodyChecksums } from '../glacier/body-checksums';

/** Settings every client shares; the local endpoint needs path-style S3 and no host prefixes. */
export interface ClientSettings {
  endpoint?: string;
  region?: string;
}

function baseConfig(settings: ClientSettings = {}) {
  const endpoint = settings.endpoint ?? process.env.AWS_ENDPOINT_URL;
  const region = settings.region ?? process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION ?? (endpoint ? 'us-east-1' : undefined);
  return {
    ...(endpoint ? { endpoint } : {}),
    ...(region ? { region } : {}),
    // The local cloud accepts any credentials; without this a fresh machine has none to sign with.
    ...(endpoint && !process.env.AWS_ACCESS_KEY_ID && !process.env.AWS_PROFILE ? { credentials: { accessKeyId: 'local', secretAccessKey: 'local' } } : {}),
    maxAttempts: Number(process.env.AWS_MAX_ATTEMPTS ?? 5),
  };
}

const cache = new Map<string, unknown>();

/**
 * In a deployed function (active tracing), every client's calls become X-Ray subsegments through Powertools' Tracer.
 * Loaded only there: the CLI and the local cloud have no use for the X-Ray SDK.
 */
function traced<T>(client: T): T {
  if (!process.env.AWS_LAMBDA_FUNCTION_NAME || process.env.POWERTOOLS_TRACE_ENABLED === 'false') return client;
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- lazy on purpose: only a traced Lambda loads the X-Ray SDK
  const { tracer } = require('./observability') as typeof import('./observability');
  return tracer.captureAWSv3Client(client);
}

/** Clients are cached per endpoint and region, so a handler can ask for one on every invocation for free. */
function cached<T>(kind: string, settings: ClientSettings | undefined, make: () => T): T {
  const config = baseConfig(settings);
  const key = `${kind}|${config.endpoint ?? ''}|${config.region ?? ''}`;
  let client = cache.get(key) as T | undefined;
  if (!client) {
    client = traced(make());
    cache.set(key, client);
  }
  return client;
}

export const s3Client = (s?: ClientSettings) =>
  cached('s3', s, () => {
    const config = baseConfig(s);
    return new S3Client({ ...config, forcePathStyle: Boolean(config.endpoint) });
  });
export const omicsClient = (s?: ClientSettings) =>
  cached('omics', s, () => {
    const config = baseConfig(s);
    // HealthOmics prefixes hosts with `workflows-`/`storage-`; a single local endpoint has no such hosts.
    return new OmicsClient({ ...config, disableHostPrefix: Boolean(config.endpoint) });
  });
// Body checksums from what the vault upload already hashed, rather than the SDK hashing each part twice more.
export const glacierClient = (s?: ClientSettings) =>
  cached('glacier', s, () => new GlacierClient({ ...baseConfig(s), bodyChecksumGenerator: glacierBodyChecksums }));
export const dynamoClient = (s?: ClientSettings) => cached('dynamodb', s, () => new DynamoDBClient(baseConfig(s)));
export const documentClient = (s?: ClientSettings) => {
  const config = baseConfig(s);
  const key = `dynamodb-document|${config.endpoint ?? ''}|${config.region ?? ''}`;
  // Built on the (already traced) DynamoDB client, so it is cached here rather than traced twice.
  let client = cache.get(key) as DynamoDBDocumentClient | undefined;
  if (!client) {
    client = DynamoDBDocumentClient.from(dynamoClient(s), { marshallOptions: { removeUndefinedValues: true } });
    cache.set(key, client);
  }
  return client;
};
export const snsClient = (s?: ClientSettings) => cached('sns', s, () => new SNSClient(baseConfig(s)));
export const sqsClient = (s?: ClientSettings) => cached('sqs', s, () => new SQSClient(baseConfig(s)));
export const sfnClient = (s?: ClientSettings) => cached('sfn', s, () => new SFNClient(baseConfig(s)));
export const logsClient = (s?: ClientSettings) => cached('logs', s, () => new CloudWatchLogsClient(baseConfig(s)));
export const eventsClient = (s?: ClientSettings) => cached('events', s, () => new EventBridgeClient(baseConfig(s)));
export const cloudFormationClient = (s?: ClientSettings) => cached('cloudformation', s, () => new CloudFormationClient(baseConfig(s)));
