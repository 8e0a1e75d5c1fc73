// The embedded default: moto_server, the strict emulators and the real handlers behind one endpoint, wired as the stack is.
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { CreateTableCommand, type GlobalSecondaryIndex } from '@aws-sdk/client-dynamodb';
import { PutRuleCommand, PutTargetsCommand } from '@aws-sdk/client-eventbridge';
import { CreateVaultCommand } from '@aws-sdk/client-glacier';
import { CreateBucketCommand, PutBucketNotificationConfigurationCommand } from '@aws-sdk/client-s3';
import { CreateStateMachineCommand } from '@aws-sdk/client-sfn';
import { CreateTopicCommand, PublishCommand, SubscribeCommand } from '@aws-sdk/client-sns';
import { CreateQueueCommand, GetQueueAttributesCommand } from '@aws-sdk/client-sqs';
import type { ArchiverConfig } from '../functions/lib/contract';
import { ENV, OMICS_LOG_GROUP, RUN_DELETION_FILTER_POLICY, RUN_INDEX, RUN_TERMINAL_EVENT_PATTERN, s3RestoreCompletedPattern } from '../functions/lib/contract';
import { definitionSubstitutions, LAMBDAS, QUEUES, STATE_MACHINES, substitute, type LambdaKey, type QueueSpec } from '../stacks/wiring';
import * as clients from '../functions/lib/runtime/clients';
import { FrontDoor, type FrontDoorOptions } from './front-door';
import { GlacierEmulator } from './glacier';
import { LambdaHost } from './lambda-host';
import { startMoto, type MotoServer, type S3RestoreTier } from './moto';
import { OmicsEmulator, RunDriver, type RunDelays } from './omics';
import { SqsPoller } from './sqs-poller';
import { validateDefinition } from './asl';
import { recordAwsCalls, type RecordedCall } from './call-recorder';

export const LOCAL_ACCOUNT = '123456789012';
export const LOCAL_REGION = 'us-east-1';
const REPO_ROOT = path.resolve(__dirname, '..');
/** S3 restores locally: seconds, not hours, and in the tiers' order. */
export const DEFAULT_S3_RESTORE_DELAY_MS: Record<S3RestoreTier, number> = { Expedited: 1000, Standard: 2000, Bulk: 3000 };

export interface LocalCloudOptions {
  config: ArchiverConfig;
  /** Front door port; 0 (default) picks a free one. */
  port?: number;
  /** Where Glacier archives, logs and scratch files go; default a temporary folder removed on stop. */
  dataDir?: string;
  /** How long each Glacier retrieval tier takes locally. */
  glacierJobDelayMs?: Partial<Record<'Expedited' | 'Standard' | 'Bulk' | 'inventory', number>>;
  /**
   * How long an S3 RestoreObject of a Glacier-class object takes per tier before HeadObject reports it restored and
   * the archive bucket's `Object Restore Completed` event is sent (default Expedited 1 s, Standard 2 s, Bulk 3 s).
   */
  s3RestoreDelayMs?: Partial<Record<S3RestoreTier, number>>;
  /** Seconds before a failed SQS message is retried (Lambda uses the queue's visibility timeout). */
  sqsRetryDelaySeconds?: number;
  /**
   * How long a run started with StartRun stays PENDING, STARTING and RUNNING before the next status (default 1 s,
   * 2 s, 3 s); its outputs, logs and Run Status Change events are written on the way.
   */
  omicsRunDelayMs?: Partial<RunDelays>;
  /** Handler log level (Powertools); the demo keeps them quiet. */
  logLevel?: 'DEBUG' | 'INFO' | 'WARN' | 'ERROR' | 'SILENT';
  onInvoke?: (record: { functionName: string; durationMs: number; error?: string }) => void;
  /** Per-function timeouts instead of the deployed ones, in seconds (see LambdaHostOptions). */
  functionTimeoutSeconds?: Partial<Record<LambdaKey, number>>;
  /** Called for every AWS SDK call a function makes (its event source mapping's too), for the IAM check. */
  onAwsCall?: (call: RecordedCall) => void;
}

export interface QueueResource {
  url: string;
  arn: string;
  dlqUrl: string;
  dlqArn: string;
}

/** Names and ARNs of everything the local cloud created, as the stack's outputs would name them. */
export interface LocalResources {
  runIndexTable: string;
  snapshotBucket: string;
  archiveBucket: string;
  outputBuckets: string[];
  vaultName: string;
  archiveEventsTopicArn: string;
  /** RESTORE_COMPLETED / RESTORE_FAILED, as the stack's restore-events topic. */
  restoreEventsTopicArn: string;
  vaultJobsTopicArn: string;
  queues: Record<keyof typeof QUEUES, QueueResource>;
  stateMachines: Record<keyof typeof STATE_MACHINES, string>;
  runCompletionRule: string;
  /** The archive bucket's Object Restore Completed events → the retrieval-notification queue. */
  restoreCompletionRule: string;
  omicsLogGroup: string;
}

export interface LocalCloud {
  endpoint: string;
  dataDir: string;
  resources: LocalResources;
  glacier: GlacierEmulator;
  omics: OmicsEmulator;
  /** Moves runs started through StartRun along on timers; stop() stops it first. */
  omicsRuns: RunDriver;
  lambdas: LambdaHost;
  poller: SqsPoller;
  /** Environment a process needs to reach this cloud with any AWS SDK or the AWS CLI. */
  env: Record<string, string>;
  stop(): Promise<void>;
}

/** A port nothing listens on now, for a server started next (moto_server takes its port as an argument). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

const NAMES = {
  runIndexTable: 'omics-archiver-run-index',
  snapshotBucket: 'omics-archiver-snapshots',
  archiveBucket: 'omics-archiver-archive',
  vaultName: 'omics-archiver-vault',
  archiveEventsTopic: 'omics-archiver-archive-events',
  restoreEventsTopic: 'omics-archiver-restore-events',
  vaultJobsTopic: 'omics-archiver-vault-jobs',
  runCompletionRule: 'omics-archiver-run-completion',
  restoreCompletionRule: 'omics-archiver-restore-completion',
} as const;

async function createQueue(spec: QueueSpec): Promise<QueueResource> {
  const sqs = clients.sqsClient();
  const arnOf = async (url: string) =>
    (await sqs.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['QueueArn'] }))).Attributes?.QueueArn ?? '';
  const dlqUrl = (await sqs.send(new CreateQueueCommand({ QueueName: `omics-archiver-${spec.id}-dlq` }))).QueueUrl ?? '';
  const dlqArn = await arnOf(dlqUrl);
  const url =
    (
      await sqs.send(
        new CreateQueueCommand({
          QueueName: `omics-archiver-${spec.id}`,
          Attributes: {
            VisibilityTimeout: String(spec.visibilityTimeoutSeconds),
            RedrivePolicy: JSON.stringify({ deadLetterTargetArn: dlqArn, maxReceiveCount: spec.maxReceiveCount }),
          },
        }),
      )
    ).QueueUrl ?? '';
  return { url, arn: await arnOf(url), dlqUrl, dlqArn };
}

async function createResources(config: ArchiverConfig, lambdas: LambdaHost, motoLog: string): Promise<LocalResources> {
  const s3 = clients.s3Client();
  const sns = clients.snsClient();
  const outputBuckets = [...new Set([...config.outputBuckets, ...config.restoreBuckets])];
  for (const bucket of [NAMES.snapshotBucket, NAMES.archiveBucket, ...outputBuckets]) {
    // The archive bucket as the stack makes it for a tier with retainFor: versioned, with Object Lock (moto turns
    // versioning on with it), so PutObjectRetention on an archived version works here as it does in AWS.
    await s3.send(new CreateBucketCommand({ Bucket: bucket, ...(bucket === NAMES.archiveBucket && { ObjectLockEnabledForBucket: true }) }));
  }
  // S3 sends the archive bucket's events (Object Restore Completed among them) to the default EventBridge bus.
  await s3.send(new PutBucketNotificationConfigurationCommand({ Bucket: NAMES.archiveBucket, NotificationConfiguration: { EventBridgeConfiguration: {} } }));

  const gsi = (index: { name: string; partitionKey: string; sortKey: string }): GlobalSecondaryIndex => ({
    IndexName: index.name,
    KeySchema: [
      { AttributeName: index.partitionKey, KeyType: 'HASH' },
      { AttributeName: index.sortKey, KeyType: 'RANGE' },
    ],
    Projection: { ProjectionType: 'ALL' },
  });
  const indexes = Object.values(RUN_INDEX.indexes);
  const attributeNames = [...new Set([RUN_INDEX.partitionKey, RUN_INDEX.sortKey, ...indexes.flatMap((i) => [i.partitionKey, i.sortKey])])];
  await clients.dynamoClient().send(
    new CreateTableCommand({
      TableName: NAMES.runIndexTable,
      BillingMode: 'PAY_PER_REQUEST',
      AttributeDefinitions: attributeNames.map((name) => ({ AttributeName: name, AttributeType: 'S' })),
      KeySchema: [
        { AttributeName: RUN_INDEX.partitionKey, KeyType: 'HASH' },
        { AttributeName: RUN_INDEX.sortKey, KeyType: 'RANGE' },
      ],
      GlobalSecondaryIndexes: indexes.map(gsi),
    }),
  );

  const archiveEventsTopicArn = (await sns.send(new CreateTopicCommand({ Name: NAMES.archiveEventsTopic }))).TopicArn ?? '';
  const restoreEventsTopicArn = (await sns.send(new CreateTopicCommand({ Name: NAMES.restoreEventsTopic }))).TopicArn ?? '';
  const vaultJobsTopicArn = (await sns.send(new CreateTopicCommand({ Name: NAMES.vaultJobsTopic }))).TopicArn ?? '';

  const glacier = clients.glacierClient();
  // As the stack does: no vault notification configuration, since each InitiateJob names the topic and Glacier would
  // announce every job twice if both did (stacks/archive-storage.ts).
  await glacier.send(new CreateVaultCommand({ accountId: '-', vaultName: NAMES.vaultName }));

  const queues = {} as Record<keyof typeof QUEUES, QueueResource>;
  for (const [key, spec] of Object.entries(QUEUES) as [keyof typeof QUEUES, QueueSpec][]) queues[key] = await createQueue(spec);

  // SNS → SQS with raw delivery, so message attributes arrive as SQS message attributes, as the stack subscribes them.
  await sns.send(
    new SubscribeCommand({
      TopicArn: archiveEventsTopicArn,
      Protocol: 'sqs',
      Endpoint: queues.runDeletion.arn,
      Attributes: { FilterPolicy: JSON.stringify(RUN_DELETION_FILTER_POLICY), RawMessageDelivery: 'true' },
    }),
  );
  await sns.send(
    new SubscribeCommand({
      TopicArn: vaultJobsTopicArn,
      Protocol: 'sqs',
      Endpoint: queues.retrievalNotifications.arn,
      Attributes: { RawMessageDelivery: 'true' },
    }),
  );

  const events = clients.eventsClient();
  await events.send(new PutRuleCommand({ Name: NAMES.runCompletionRule, EventPattern: JSON.stringify(RUN_TERMINAL_EVENT_PATTERN), State: 'ENABLED' }));
  await events.send(new PutTargetsCommand({ Rule: NAMES.runCompletionRule, Targets: [{ Id: 'RunCompletionQueue', Arn: queues.runCompletion.arn }] }));
  // Finished S3 restores of the archive bucket's objects reach the queue the vault's job notifications reach.
  await events.send(
    new PutRuleCommand({ Name: NAMES.restoreCompletionRule, EventPattern: JSON.stringify(s3RestoreCompletedPattern(NAMES.archiveBucket)), State: 'ENABLED' }),
  );
  await events.send(
    new PutTargetsCommand({ Rule: NAMES.restoreCompletionRule, Targets: [{ Id: 'RetrievalNotificationsQueue', Arn: queues.retrievalNotifications.arn }] }),
  );

  const substitutions = definitionSubstitutions({
    functionArns: lambdas.functionArns(),
    snapshotBucket: NAMES.snapshotBucket,
    runIndexTable: NAMES.runIndexTable,
    archiveEventsTopicArn,
  });
  const stateMachines = {} as Record<keyof typeof STATE_MACHINES, string>;
  for (const [key, machine] of Object.entries(STATE_MACHINES) as [keyof typeof STATE_MACHINES, (typeof STATE_MACHINES)[keyof typeof STATE_MACHINES]][]) {
    const definition = substitute(fs.readFileSync(path.join(REPO_ROOT, machine.definitionFile), 'utf8'), substitutions);
    validateDefinition(machine.definitionFile, definition);
    try {
      const created = await clients.sfnClient().send(
        new CreateStateMachineCommand({
          name: `omics-archiver-${machine.id}`,
          definition,
          roleArn: `arn:aws:iam::${LOCAL_ACCOUNT}:role/omics-archiver-${machine.id}`,
          type: 'STANDARD',
        }),
      );
      stateMachines[key] = created.stateMachineArn ?? '';
    } catch (error) {
      // moto answers a definition its interpreter cannot parse with `__type: null`, which the SDK reports as a
      // deserialization TypeError; say what was being created and where moto's own message is.
      throw new Error(
        `moto could not create the state machine from ${machine.definitionFile} (${(error as Error).message.split('\n')[0]}). ` +
          `It passed asl-validator, so moto's interpreter rejects something it does not support; its log is ${motoLog}`,
        { cause: error },
      );
    }
  }

  return {
    runIndexTable: NAMES.runIndexTable,
    snapshotBucket: NAMES.snapshotBucket,
    archiveBucket: NAMES.archiveBucket,
    outputBuckets,
    vaultName: NAMES.vaultName,
    archiveEventsTopicArn,
    restoreEventsTopicArn,
    vaultJobsTopicArn,
    queues,
    stateMachines,
    runCompletionRule: NAMES.runCompletionRule,
    restoreCompletionRule: NAMES.restoreCompletionRule,
    omicsLogGroup: OMICS_LOG_GROUP,
  };
}

/**
 * The in-process functions never call Lambda, so an Invoke reaching the front door comes from moto's Step Functions
 * (or a test): recorded as the `step-functions` principal, for the IAM check to attribute to a state machine.
 */
function lambdaInvokesOverHttp(onAwsCall: LocalCloudOptions['onAwsCall']): FrontDoorOptions['onRequest'] {
  if (!onAwsCall) return undefined;
  return ({ service, method, path: requestPath }) => {
    const invoked = /^\/2015-03-31\/functions\/([^/]+)\/invocations/.exec(requestPath);
    if (service === 'lambda' && method === 'POST' && invoked) {
      onAwsCall({ principal: 'step-functions', service: 'Lambda', operation: 'Invoke', input: { FunctionName: decodeURIComponent(invoked[1]) } });
    }
  };
}

/** Starts the local cloud; stop() ends every process and server it started. */
export async function startLocalCloud(options: LocalCloudOptions): Promise<LocalCloud> {
  const dataDir = options.dataDir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'omics-archiver-'));
  const removeDataDir = options.dataDir === undefined;
  fs.mkdirSync(dataDir, { recursive: true });

  const lambdas = new LambdaHost({
    accountId: LOCAL_ACCOUNT,
    region: LOCAL_REGION,
    onInvoke: options.onInvoke,
    timeoutSeconds: options.functionTimeoutSeconds,
  });
  const glacier = new GlacierEmulator({
    dataDir: path.join(dataDir, 'glacier'),
    accountId: LOCAL_ACCOUNT,
    region: LOCAL_REGION,
    jobDelayMs: { Expedited: 500, Standard: 1500, Bulk: 3000, inventory: 1000, ...options.glacierJobDelayMs },
    publish: async (topicArn, message, subject) => {
      await clients.snsClient().send(new PublishCommand({ TopicArn: topicArn, Message: message, Subject: subject }));
    },
  });
  const omics = new OmicsEmulator({ accountId: LOCAL_ACCOUNT, region: LOCAL_REGION });

  const motoLog = path.join(dataDir, 'moto.log');
  let moto: MotoServer | undefined;
  let poller: SqsPoller | undefined;
  let omicsRuns: RunDriver | undefined;
  const motoPort = await freePort();
  const frontDoor = new FrontDoor({
    port: options.port ?? 0,
    motoPort,
    lambdas,
    emulators: { glacier, omics },
    onRequest: lambdaInvokesOverHttp(options.onAwsCall),
  });
  const stopRecording = options.onAwsCall ? recordAwsCalls(options.onAwsCall) : undefined;
  const stop = async () => {
    // Runs in flight write to S3 and EventBridge: stop driving them before anything they write to goes away.
    await omicsRuns?.close();
    await poller?.stop();
    stopRecording?.();
    await glacier.close();
    await frontDoor.close();
    await moto?.stop();
    if (removeDataDir) fs.rmSync(dataDir, { recursive: true, force: true });
  };

  try {
    await frontDoor.listen();
    moto = await startMoto({
      port: motoPort,
      frontDoorPort: frontDoor.port,
      logFile: motoLog,
      s3RestoreDelayMs: { ...DEFAULT_S3_RESTORE_DELAY_MS, ...options.s3RestoreDelayMs },
    });

    const env: Record<string, string> = {
      AWS_ENDPOINT_URL: frontDoor.endpoint,
      AWS_REGION: LOCAL_REGION,
      AWS_DEFAULT_REGION: LOCAL_REGION,
      AWS_ACCESS_KEY_ID: 'local',
      AWS_SECRET_ACCESS_KEY: 'local',
      // The AWS CLI (botocore) would send HealthOmics calls to workflows-127.0.0.1 (the model's hostPrefix); the SDK
      // clients here set disableHostPrefix themselves (functions/lib/runtime/clients.ts).
      AWS_DISABLE_HOST_PREFIX_INJECTION: 'true',
    };
    // The handlers run in this process and read the same variables a deployed function would.
    Object.assign(process.env, env, {
      POWERTOOLS_SERVICE_NAME: 'omics-run-archiver',
      POWERTOOLS_LOG_LEVEL: options.logLevel ?? 'WARN',
      POWERTOOLS_METRICS_DISABLED: 'true',
      POWERTOOLS_TRACE_ENABLED: 'false',
    });
    const resources = await createResources(options.config, lambdas, motoLog);
    Object.assign(process.env, {
      [ENV.runIndexTable]: resources.runIndexTable,
      [ENV.snapshotBucket]: resources.snapshotBucket,
      [ENV.vaultName]: resources.vaultName,
      [ENV.archiveEventsTopicArn]: resources.archiveEventsTopicArn,
      [ENV.restoreEventsTopicArn]: resources.restoreEventsTopicArn,
      [ENV.vaultJobsTopicArn]: resources.vaultJobsTopicArn,
      [ENV.archiveStateMachineArn]: resources.stateMachines.archiveRun,
      [ENV.restoreStateMachineArn]: resources.stateMachines.restoreRun,
      [ENV.tierPolicy]: JSON.stringify(options.config),
      [ENV.archiveBucket]: resources.archiveBucket,
    });

    poller = new SqsPoller(
      (Object.keys(QUEUES) as (keyof typeof QUEUES)[]).map((key) => ({
        queueUrl: resources.queues[key].url,
        queueArn: resources.queues[key].arn,
        functionName: lambdas.functionName(LAMBDAS[QUEUES[key].consumer]),
        batchSize: QUEUES[key].batchSize,
      })),
      { sqs: clients.sqsClient(), lambdas, region: LOCAL_REGION, retryDelaySeconds: options.sqsRetryDelaySeconds ?? 1 },
    );
    poller.start();
    omicsRuns = new RunDriver({
      emulator: omics,
      s3: clients.s3Client(),
      logs: clients.logsClient(),
      events: clients.eventsClient(),
      delays: options.omicsRunDelayMs,
      onError: (runId, error) => console.error(`local HealthOmics: run ${runId} could not move on: ${error.message}`),
    });

    return { endpoint: frontDoor.endpoint, dataDir, resources, glacier, omics, omicsRuns, lambdas, poller, env, stop };
  } catch (error) {
    await stop().catch(() => undefined);
    throw error;
  }
}
