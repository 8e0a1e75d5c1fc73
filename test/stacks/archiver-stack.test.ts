// Fine-grained assertions on the synthesized template: what each construct creates, how it is wired, and who may do what.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { CfnElement, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import type { IConstruct } from 'constructs';
import type { OmicsRunArchiverStack } from '../../stacks/archiver-stack';
import { ConfigError, parseConfig } from '../../functions/lib/contract';
import { LAMBDA_RUNTIME } from '../../stacks/lambda';
import { DLQ_URL_OUTPUTS, STACK_OUTPUTS } from '../../stacks/outputs';
import { ENV, POWERTOOLS, RUN_DELETION_FILTER_POLICY, RUN_INDEX, RUN_TERMINAL_EVENT_PATTERN } from '../../functions/lib/contract';
import { LAMBDAS, type LambdaKey, QUEUES, STATE_MACHINES } from '../../stacks/wiring';
import { buildStack, EXAMPLE_CONFIG, exampleWith, REPO_ROOT, SHIPPED_CONFIG, VAULT_TIER } from './helpers';

interface Statement {
  Effect: string;
  Action: string[];
  Resource: unknown[];
}

/** A synthesized template's JSON (Template.toJSON and findResources type it `any`), as far as these assertions read it. */
interface TemplateJson {
  Resources: Record<string, { Type: string; Properties: Record<string, unknown> }>;
  Outputs: Record<string, { Value: unknown }>;
}
const templateJson = (template: Template) => template.toJSON() as TemplateJson;
const resourcesOf = (template: Template, type: string) => template.findResources(type) as TemplateJson['Resources'];

/** The synthesized stack with lookups by construct, so assertions name resources the way the code does. */
class Synth {
  readonly template: Template;
  private readonly json: TemplateJson;

  constructor(readonly stack: OmicsRunArchiverStack) {
    this.template = Template.fromStack(stack);
    this.json = templateJson(this.template);
  }

  logicalId(construct: IConstruct): string {
    const element = (construct.node.defaultChild ?? construct) as CfnElement;
    return this.stack.getLogicalId(element);
  }

  resource(construct: IConstruct) {
    const resource = this.json.Resources[this.logicalId(construct)];
    if (!resource) throw new Error(`no resource for ${construct.node.path}`);
    return resource;
  }

  /** Every construct a wiring function key maps to in the stack. */
  fn(key: LambdaKey) {
    const all = {
      ...this.stack.archive.functions,
      ...this.stack.restore.functions,
      triggerArchive: this.stack.trigger.triggerArchive,
      reconcileRuns: this.stack.trigger.reconcileRuns,
      deleteRun: this.stack.cleanup.deleteRun,
      retrievalNotification: this.stack.restore.retrievalNotification,
    };
    return all[key];
  }

  /** The Allow statements of every policy attached to a role. */
  statements(role: IConstruct): Statement[] {
    const roleId = this.logicalId(role);
    return Object.values(this.json.Resources)
      .filter((r) => r.Type === 'AWS::IAM::Policy' && (r.Properties.Roles as unknown[]).some((ref) => JSON.stringify(ref) === JSON.stringify({ Ref: roleId })))
      .flatMap((r) => (r.Properties.PolicyDocument as { Statement: Record<string, unknown>[] }).Statement)
      .filter((s) => s.Effect === 'Allow')
      .map((s) => ({ Effect: 'Allow', Action: ([] as string[]).concat(s.Action as string), Resource: ([] as unknown[]).concat(s.Resource) }));
  }

  /** Whether the role may do every one of `actions` on `resource` (a token or a literal ARN). */
  allows(role: IConstruct, actions: string[], resource: string): boolean {
    const expected = JSON.stringify(this.stack.resolve(resource));
    return actions.every((action) => this.statements(role).some((s) => s.Action.includes(action) && s.Resource.some((r) => JSON.stringify(r) === expected)));
  }

  /** Every action granted to the role, on anything. */
  actions(role: IConstruct): Set<string> {
    return new Set(this.statements(role).flatMap((s) => s.Action));
  }

  env(key: LambdaKey): Record<string, unknown> {
    return (this.resource(this.fn(key).function).Properties.Environment as { Variables: Record<string, unknown> }).Variables;
  }
}

const arn = (stack: Stack, service: string, resource: string) => `arn:${stack.partition}:${service}:${stack.region}:${stack.account}:${resource}`;

describe('the example configuration (cdk.json, with a vault tier added)', () => {
  let s: Synth;
  beforeAll(() => {
    s = new Synth(buildStack().stack);
  });

  describe('run index', () => {
    it('is one on-demand table keyed pk/sk with point-in-time recovery, retained on destroy', () => {
      const table = s.resource(s.stack.runIndex.table);
      expect(table.Type).toBe('AWS::DynamoDB::Table');
      s.template.hasResource('AWS::DynamoDB::Table', {
        DeletionPolicy: 'Retain',
        UpdateReplacePolicy: 'Retain',
        Properties: Match.objectLike({
          KeySchema: [
            { AttributeName: RUN_INDEX.partitionKey, KeyType: 'HASH' },
            { AttributeName: RUN_INDEX.sortKey, KeyType: 'RANGE' },
          ],
          BillingMode: 'PAY_PER_REQUEST',
          PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
        }),
      });
    });

    it('has the sparse runId and archiveState GSIs, sorted by stop time, projecting everything', () => {
      const table = s.resource(s.stack.runIndex.table);
      expect(table.Properties.GlobalSecondaryIndexes).toEqual([
        {
          IndexName: 'runId-index',
          KeySchema: [
            { AttributeName: 'runId', KeyType: 'HASH' },
            { AttributeName: 'stopTime', KeyType: 'RANGE' },
          ],
          Projection: { ProjectionType: 'ALL' },
        },
        {
          IndexName: 'archiveState-index',
          KeySchema: [
            { AttributeName: 'archiveState', KeyType: 'HASH' },
            { AttributeName: 'stopTime', KeyType: 'RANGE' },
          ],
          Projection: { ProjectionType: 'ALL' },
        },
      ]);
      expect(table.Properties.AttributeDefinitions).toEqual(
        expect.arrayContaining(['pk', 'sk', 'runId', 'stopTime', 'archiveState'].map((name) => ({ AttributeName: name, AttributeType: 'S' }))),
      );
    });
  });

  describe('buckets', () => {
    it('makes the snapshot bucket private, encrypted, versioned, access-logged and retained, with its lifecycle', () => {
      const bucket = s.resource(s.stack.storage.snapshotBucket);
      s.template.hasResource('AWS::S3::Bucket', { DeletionPolicy: 'Retain', UpdateReplacePolicy: 'Retain' });
      expect(bucket.Properties).toMatchObject({
        BucketEncryption: { ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }] },
        PublicAccessBlockConfiguration: { BlockPublicAcls: true, BlockPublicPolicy: true, IgnorePublicAcls: true, RestrictPublicBuckets: true },
        VersioningConfiguration: { Status: 'Enabled' },
        LoggingConfiguration: { DestinationBucketName: { Ref: s.logicalId(s.stack.storage.accessLogsBucket!) }, LogFilePrefix: 'snapshot-bucket/' },
      });
      expect((bucket.Properties.LifecycleConfiguration as { Rules: unknown[] }).Rules).toEqual(
        expect.arrayContaining([
          expect.objectContaining({ AbortIncompleteMultipartUpload: { DaysAfterInitiation: 7 }, Status: 'Enabled' }),
          expect.objectContaining({ NoncurrentVersionExpiration: { NoncurrentDays: 90 }, Status: 'Enabled' }),
        ]),
      );
    });

    it('refuses plain-HTTP requests on every bucket it creates', () => {
      const created = [s.stack.storage.snapshotBucket, s.stack.storage.archiveBucket!, s.stack.storage.accessLogsBucket!];
      for (const bucket of created) {
        s.template.hasResourceProperties('AWS::S3::BucketPolicy', {
          Bucket: { Ref: s.logicalId(bucket) },
          PolicyDocument: {
            Statement: Match.arrayWith([
              Match.objectLike({ Effect: 'Deny', Action: 's3:*', Condition: { Bool: { 'aws:SecureTransport': 'false' } }, Principal: { AWS: '*' } }),
            ]),
          },
        });
      }
    });

    it('creates the s3-glacier archive bucket (the research tier uses it), versioned and retained', () => {
      const bucket = templateJson(s.template).Resources[s.logicalId(s.stack.storage.archiveBucket!)];
      expect(bucket).toMatchObject({ DeletionPolicy: 'Retain', Properties: { VersioningConfiguration: { Status: 'Enabled' } } });
      expect((bucket.Properties.LifecycleConfiguration as { Rules: unknown[] }).Rules).toEqual([
        expect.objectContaining({ AbortIncompleteMultipartUpload: { DaysAfterInitiation: 7 } }),
      ]);
    });

    it('makes only the snapshot, archive and access-log buckets', () => {
      s.template.resourceCountIs('AWS::S3::Bucket', 3);
    });
  });

  describe('the Glacier vault', () => {
    it('is created with the Glacier API (CloudFormation has no vault type any more), named after the stack, never deleted', () => {
      expect(Object.values(templateJson(s.template).Resources).some((r) => r.Type.startsWith('AWS::Glacier::'))).toBe(false);
      expect(s.stack.storage.vaultName).toBe('OmicsRunArchiver-archive');
      const [vault] = Object.values(s.template.findResources('Custom::GlacierVault')) as { Properties: { Create: unknown; Delete?: unknown } }[];
      const create = JSON.stringify(vault.Properties.Create);
      expect(create).toMatch(/createVault/);
      expect(create).toMatch(/OmicsRunArchiver-archive/);
      expect(vault.Properties.Delete).toBeUndefined();
    });

    it('announces each job once: no vault notification configuration, the job names the topic (an earlier configuration is cleared)', () => {
      // Glacier sends a job's notification to its SNSTopic and to the vault's configured topic; both set means two.
      const text = JSON.stringify(s.stack.resolve(templateJson(s.template).Resources));
      expect(text).not.toMatch(/setVaultNotifications/);
      const [config] = Object.values(s.template.findResources('Custom::GlacierVaultNotifications')) as { Properties: { Create: unknown; Update: unknown } }[];
      for (const call of [config.Properties.Create, config.Properties.Update]) {
        expect(JSON.stringify(s.stack.resolve(call))).toMatch(/deleteVaultNotifications/);
      }
      // The topic reaches Glacier through each InitiateJob instead.
      expect(s.env('requestRetrieval')[ENV.vaultJobsTopicArn]).toEqual(s.stack.resolve(s.stack.storage.vaultNotificationTopic!.topicArn));
    });

    it('is imported by name instead when imports.vaultName names one', () => {
      const imported = new Synth(buildStack(exampleWith((c) => (c.imports = { vaultName: 'omics-run-archive' }))).stack);
      imported.template.resourceCountIs('Custom::GlacierVault', 0);
      expect(imported.stack.storage.vaultName).toBe('omics-run-archive');
    });

    it('has a job-notification topic, kept on destroy, that only Glacier (and only over TLS) may publish to', () => {
      const topic = s.resource(s.stack.storage.vaultNotificationTopic!);
      // Not KMS-encrypted on purpose: Glacier does not publish vault notifications to encrypted topics.
      expect(topic.Properties.KmsMasterKeyId).toBeUndefined();
      s.template.hasResource('AWS::SNS::Topic', { DeletionPolicy: 'Retain' });
      s.template.hasResourceProperties('AWS::SNS::TopicPolicy', {
        Topics: [{ Ref: s.logicalId(s.stack.storage.vaultNotificationTopic!) }],
        PolicyDocument: {
          Statement: Match.arrayWith([
            Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
            Match.objectLike({
              Effect: 'Allow',
              Action: 'sns:Publish',
              Principal: { Service: 'glacier.amazonaws.com' },
              Condition: { StringEquals: { 'AWS:SourceOwner': { Ref: 'AWS::AccountId' } } },
            }),
          ]),
        },
      });
    });
  });

  it('encrypts every topic but the vault notification topic, and refuses plain-HTTP publishing to all', () => {
    const topics = resourcesOf(s.template, 'AWS::SNS::Topic');
    // Vault notifications, archive events, restore events, alarms.
    expect(Object.keys(topics)).toHaveLength(4);
    for (const [id, topic] of Object.entries(topics)) {
      if (id !== s.logicalId(s.stack.storage.vaultNotificationTopic!)) expect(topic.Properties.KmsMasterKeyId).toBeDefined();
      s.template.hasResourceProperties('AWS::SNS::TopicPolicy', {
        Topics: [{ Ref: id }],
        PolicyDocument: { Statement: Match.arrayWith([Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } })]) },
      });
    }
  });

  describe('queues', () => {
    const consumers = () => ({
      runCompletion: s.stack.trigger.queue,
      runDeletion: s.stack.cleanup.queue,
      retrievalNotifications: s.stack.restore.notificationQueue,
    });

    it.each(Object.keys(QUEUES) as (keyof typeof QUEUES)[])('%s is encrypted, TLS-only, and redrives to its DLQ after the wiring count', (key) => {
      const spec = QUEUES[key];
      const { queue, deadLetterQueue } = consumers()[key];
      expect(s.resource(queue).Properties).toEqual({
        SqsManagedSseEnabled: true,
        VisibilityTimeout: spec.visibilityTimeoutSeconds,
        RedrivePolicy: { deadLetterTargetArn: { 'Fn::GetAtt': [s.logicalId(deadLetterQueue), 'Arn'] }, maxReceiveCount: spec.maxReceiveCount },
      });
      expect(s.resource(deadLetterQueue).Properties).toEqual({ SqsManagedSseEnabled: true, MessageRetentionPeriod: 14 * 86400 });
      for (const q of [queue, deadLetterQueue]) {
        s.template.hasResourceProperties('AWS::SQS::QueuePolicy', {
          Queues: [{ Ref: s.logicalId(q) }],
          PolicyDocument: { Statement: Match.arrayWith([Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } })]) },
        });
      }
    });

    it.each(Object.keys(QUEUES) as (keyof typeof QUEUES)[])('%s feeds its consumer in batches, with partial batch responses', (key) => {
      const spec = QUEUES[key];
      s.template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
        EventSourceArn: { 'Fn::GetAtt': [s.logicalId(consumers()[key].queue), 'Arn'] },
        FunctionName: { Ref: s.logicalId(s.fn(spec.consumer).function) },
        BatchSize: spec.batchSize,
        FunctionResponseTypes: ['ReportBatchItemFailures'],
      });
    });

    it('has exactly one event source mapping per wiring queue', () => {
      s.template.resourceCountIs('AWS::Lambda::EventSourceMapping', Object.keys(QUEUES).length);
    });
  });

  it('routes terminal run events (the wiring pattern, unchanged) to the run-completion queue', () => {
    const rule = s.resource(s.stack.trigger.rule);
    expect(rule.Properties.EventPattern).toEqual(RUN_TERMINAL_EVENT_PATTERN);
    expect(rule.Properties.State).toBe('ENABLED');
    expect(rule.Properties.Targets).toEqual([expect.objectContaining({ Arn: { 'Fn::GetAtt': [s.logicalId(s.stack.trigger.queue.queue), 'Arn'] } })]);
    // EventBridge may deliver to the queue, and only from this rule.
    s.template.hasResourceProperties('AWS::SQS::QueuePolicy', {
      Queues: [{ Ref: s.logicalId(s.stack.trigger.queue.queue) }],
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Effect: 'Allow',
            Principal: { Service: 'events.amazonaws.com' },
            Condition: { ArnEquals: { 'aws:SourceArn': { 'Fn::GetAtt': [s.logicalId(s.stack.trigger.rule), 'Arn'] } } },
          }),
        ]),
      },
    });
  });

  it('subscribes the run-deletion queue to archive events with the wiring filter policy and raw delivery', () => {
    s.template.hasResourceProperties('AWS::SNS::Subscription', {
      Protocol: 'sqs',
      TopicArn: { Ref: s.logicalId(s.stack.archive.archiveEventsTopic) },
      Endpoint: { 'Fn::GetAtt': [s.logicalId(s.stack.cleanup.queue.queue), 'Arn'] },
      RawMessageDelivery: true,
      FilterPolicy: RUN_DELETION_FILTER_POLICY,
    });
  });

  it('subscribes the retrieval-notification queue to the vault topic, unfiltered, with raw delivery', () => {
    s.template.hasResourceProperties('AWS::SNS::Subscription', {
      Protocol: 'sqs',
      TopicArn: { Ref: s.logicalId(s.stack.storage.vaultNotificationTopic!) },
      Endpoint: { 'Fn::GetAtt': [s.logicalId(s.stack.restore.notificationQueue.queue), 'Arn'] },
      RawMessageDelivery: true,
      FilterPolicy: Match.absent(),
    });
  });

  describe('state machines', () => {
    const machines = () => ({ archiveRun: s.stack.archive.workflow, restoreRun: s.stack.restore.workflow });

    it.each(Object.keys(STATE_MACHINES) as (keyof typeof STATE_MACHINES)[])(
      '%s is STANDARD, named after the stack, logs ALL events without execution data, and is traced',
      (key) => {
        const workflow = machines()[key];
        expect(s.resource(workflow.stateMachine).Properties).toMatchObject({
          StateMachineName: `OmicsRunArchiver-${STATE_MACHINES[key].id}`,
          StateMachineType: 'STANDARD',
          LoggingConfiguration: {
            Level: 'ALL',
            IncludeExecutionData: false,
            Destinations: [{ CloudWatchLogsLogGroup: { LogGroupArn: { 'Fn::GetAtt': [s.logicalId(workflow.logGroup), 'Arn'] } } }],
          },
          TracingConfiguration: { Enabled: true },
          DefinitionS3Location: expect.anything() as unknown,
        });
      },
    );

    it.each(Object.keys(STATE_MACHINES) as (keyof typeof STATE_MACHINES)[])(
      '%s logs to a group under /aws/vendedlogs/states/ (no per-group statement in the account log resource policy)',
      (key) => {
        const workflow = machines()[key];
        const name = JSON.stringify(s.resource(workflow.logGroup).Properties.LogGroupName);
        expect(name).toContain(`/aws/vendedlogs/states/OmicsRunArchiver-${STATE_MACHINES[key].id}-`);
        // Unique per stack instance: a group retained by an earlier destroy must not collide with the next deploy's.
        expect(name).toContain('AWS::StackId');
      },
    );

    it('log execution data too when logExecutionData asks for it', () => {
      const verbose = new Synth(buildStack(exampleWith((c) => (c.logExecutionData = true))).stack);
      for (const workflow of [verbose.stack.archive.workflow, verbose.stack.restore.workflow]) {
        expect(verbose.resource(workflow.stateMachine).Properties.LoggingConfiguration).toMatchObject({ Level: 'ALL', IncludeExecutionData: true });
      }
    });

    it.each(Object.keys(STATE_MACHINES) as (keyof typeof STATE_MACHINES)[])("%s's substitutions name its functions and the shared resources", (key) => {
      const workflow = machines()[key];
      const substitutions = s.resource(workflow.stateMachine).Properties.DefinitionSubstitutions as Record<string, unknown>;
      const expected: Record<string, unknown> = {
        SnapshotBucket: { Ref: s.logicalId(s.stack.storage.snapshotBucket) },
        RunIndexTable: { Ref: s.logicalId(s.stack.runIndex.table) },
        ArchiveEventsTopicArn: { Ref: s.logicalId(s.stack.archive.archiveEventsTopic) },
      };
      for (const fnKey of STATE_MACHINES[key].functions) {
        expected[LAMBDAS[fnKey].substitution!] = { 'Fn::GetAtt': [s.logicalId(s.fn(fnKey).function), 'Arn'] };
      }
      expect(substitutions).toEqual(expected);
    });

    it.each(Object.keys(STATE_MACHINES) as (keyof typeof STATE_MACHINES)[])('%s may run a Distributed Map over itself', (key) => {
      const workflow = machines()[key];
      const name = `OmicsRunArchiver-${STATE_MACHINES[key].id}`;
      const stack = s.stack;
      const role = workflow.stateMachine.role;
      expect(s.allows(role, ['states:StartExecution'], arn(stack, 'states', `stateMachine:${name}`))).toBe(true);
      for (const executions of [`execution:${name}:*`, `execution:${name}/*`]) {
        expect(s.allows(role, ['states:DescribeExecution', 'states:StopExecution'], arn(stack, 'states', executions))).toBe(true);
      }
      // ItemReader reads the plan, ResultWriter writes results, both in the snapshot bucket.
      expect(s.allows(role, ['s3:GetObject', 's3:PutObject'], `${s.stack.storage.snapshotBucket.bucketArn}/*`)).toBe(true);
      for (const fnKey of STATE_MACHINES[key].functions) {
        expect(s.allows(role, ['lambda:InvokeFunction'], s.fn(fnKey).function.functionArn)).toBe(true);
      }
    });

    it.each(Object.keys(STATE_MACHINES) as (keyof typeof STATE_MACHINES)[])(
      '%s may use the index and the archive-events topic exactly when its definition names them',
      (key) => {
        const definition = fs.readFileSync(path.join(REPO_ROOT, STATE_MACHINES[key].definitionFile), 'utf8');
        const role = machines()[key].stateMachine.role;
        const table = s.stack.runIndex.table.tableArn;
        expect(s.allows(role, ['dynamodb:UpdateItem'], table)).toBe(definition.includes('${RunIndexTable}'));
        expect(s.allows(role, ['sns:Publish'], s.stack.archive.archiveEventsTopic.topicArn)).toBe(definition.includes('${ArchiveEventsTopicArn}'));
      },
    );

    it('never refers to its own ARN in its role (no dependency cycle)', () => {
      for (const workflow of Object.values(machines())) {
        const id = s.logicalId(workflow.stateMachine);
        expect(JSON.stringify(s.statements(workflow.stateMachine.role))).not.toContain(id);
      }
    });
  });

  describe('functions', () => {
    const config = parseConfig(EXAMPLE_CONFIG);

    it.each(Object.keys(LAMBDAS) as LambdaKey[])('%s runs the wiring spec on the latest Node.js, ARM64, traced, with its own log group', (key) => {
      const spec = LAMBDAS[key];
      const fn = s.fn(key);
      expect(s.resource(fn.function).Properties).toMatchObject({
        Runtime: LAMBDA_RUNTIME.name,
        Architectures: ['arm64'],
        Handler: 'index.handler',
        MemorySize: spec.memoryMiB,
        Timeout: spec.timeoutSeconds,
        Description: spec.description,
        TracingConfig: { Mode: 'Active' },
        LoggingConfig: { LogGroup: { Ref: s.logicalId(fn.logGroup) } },
        Role: { 'Fn::GetAtt': [s.logicalId(fn.role), 'Arn'] },
      });
      expect(s.resource(fn.logGroup).Properties.RetentionInDays).toBe(config.logRetentionDays);
      // Its role carries no managed policy (AWSLambdaBasicExecutionRole would let it write to any log group).
      expect(s.resource(fn.role).Properties.ManagedPolicyArns).toBeUndefined();
    });

    it.each(Object.keys(LAMBDAS) as LambdaKey[])('%s has a fixed name exactly when a state machine invokes it (a stable ARN)', (key) => {
      const name = s.resource(s.fn(key).function).Properties.FunctionName;
      // An execution keeps the ARNs it started with for up to 90 days of waiting; a generated name would change on replacement.
      if (LAMBDAS[key].substitution) expect(name).toBe(`OmicsRunArchiver-${LAMBDAS[key].id}`);
      else expect(name).toBeUndefined();
    });

    it.each(Object.keys(LAMBDAS) as LambdaKey[])('%s gets the variables its spec names, and only those', (key) => {
      const env = s.env(key);
      expect(Object.keys(env).sort()).toEqual(
        // The tier policy is compiled into the bundle, not passed as a variable (Lambda's environment holds 4 KB).
        [...LAMBDAS[key].env.filter((name) => name !== ENV.tierPolicy), 'POWERTOOLS_SERVICE_NAME', 'POWERTOOLS_METRICS_NAMESPACE', 'NODE_OPTIONS'].sort(),
      );
      expect(env).toMatchObject({
        POWERTOOLS_SERVICE_NAME: POWERTOOLS.serviceName,
        POWERTOOLS_METRICS_NAMESPACE: POWERTOOLS.metricsNamespace,
        NODE_OPTIONS: '--enable-source-maps',
      });
    });

    it('maps each variable to the real resource', () => {
      const resolve = (value: string): unknown => s.stack.resolve(value);
      const expected: Record<string, unknown> = {
        [ENV.runIndexTable]: resolve(s.stack.runIndex.table.tableName),
        [ENV.snapshotBucket]: resolve(s.stack.storage.snapshotBucket.bucketName),
        [ENV.vaultName]: 'OmicsRunArchiver-archive',
        [ENV.archiveBucket]: resolve(s.stack.storage.archiveBucket!.bucketName),
        [ENV.archiveEventsTopicArn]: resolve(s.stack.archive.archiveEventsTopic.topicArn),
        [ENV.vaultJobsTopicArn]: resolve(s.stack.storage.vaultNotificationTopic!.topicArn),
        [ENV.archiveStateMachineArn]: resolve(arn(s.stack, 'states', 'stateMachine:OmicsRunArchiver-ArchiveRun')),
        [ENV.restoreStateMachineArn]: resolve(arn(s.stack, 'states', 'stateMachine:OmicsRunArchiver-RestoreRun')),
      };
      for (const key of Object.keys(LAMBDAS) as LambdaKey[]) {
        for (const [name, value] of Object.entries(s.env(key))) {
          if (name in expected) expect([key, name, value]).toEqual([key, name, expected[name]]);
        }
      }
    });

    it('compiles the validated configuration, defaults filled in, into the functions that read the tier policy, and no other', () => {
      for (const key of Object.keys(LAMBDAS) as LambdaKey[]) {
        const readsPolicy = (LAMBDAS[key].env as readonly string[]).includes(ENV.tierPolicy);
        const baked = s.fn(key).tierPolicy;
        if (readsPolicy) expect(parseConfig(JSON.parse(baked as string))).toEqual(config);
        else expect(baked).toBeUndefined();
        expect(s.env(key)[ENV.tierPolicy]).toBeUndefined();
      }
    });
  });

  describe('permissions', () => {
    const runs = () => arn(s.stack, 'omics', 'run/*');
    const outputs = () => `arn:${s.stack.partition}:s3:::my-omics-outputs`;
    const vault = () => arn(s.stack, 'glacier', 'vaults/OmicsRunArchiver-archive');
    const role = (key: LambdaKey) => s.fn(key).role;

    it('trigger-archive starts and describes ArchiveRun executions, reads runs, keeps the index', () => {
      const workflow = s.stack.archive.workflow;
      expect(s.allows(role('triggerArchive'), ['states:StartExecution'], workflow.stateMachine.stateMachineArn)).toBe(true);
      expect(s.allows(role('triggerArchive'), ['states:DescribeExecution'], arn(s.stack, 'states', 'execution:OmicsRunArchiver-ArchiveRun:*'))).toBe(true);
      expect(s.allows(role('triggerArchive'), ['omics:GetRun'], runs())).toBe(true);
      expect(s.actions(role('triggerArchive'))).not.toContain('omics:DeleteRun');
    });

    it('snapshot-run reads runs, tasks and the HealthOmics log group, and writes snapshots under runs/', () => {
      expect(s.allows(role('snapshotRun'), ['omics:GetRun', 'omics:ListRunTasks', 'omics:GetRunTask'], runs())).toBe(true);
      const logGroup = arn(s.stack, 'logs', 'log-group:/aws/omics/WorkflowLog');
      for (const resource of [logGroup, `${logGroup}:*`]) {
        expect(s.allows(role('snapshotRun'), ['logs:GetLogEvents', 'logs:DescribeLogStreams', 'logs:FilterLogEvents'], resource)).toBe(true);
      }
      expect(s.allows(role('snapshotRun'), ['s3:PutObject'], `${s.stack.storage.snapshotBucket.bucketArn}/runs/*`)).toBe(true);
    });

    it('plan-archive lists and reads the output buckets and reads/writes plans', () => {
      expect(s.allows(role('planArchive'), ['s3:ListBucket'], outputs())).toBe(true);
      expect(s.allows(role('planArchive'), ['s3:GetObject'], `${outputs()}/*`)).toBe(true);
      expect(s.allows(role('planArchive'), ['s3:GetObject', 's3:PutObject'], `${s.stack.storage.snapshotBucket.bucketArn}/plans/*`)).toBe(true);
      expect(s.actions(role('planArchive'))).not.toContain('s3:DeleteObject');
    });

    it('archive-files reads and deletes sources, uploads to the vault and copies into the archive bucket', () => {
      expect(
        s.allows(
          role('archiveFiles'),
          ['s3:GetObject', 's3:GetObjectVersion', 's3:GetObjectTagging', 's3:DeleteObject', 's3:DeleteObjectVersion'],
          `${outputs()}/*`,
        ),
      ).toBe(true);
      const upload = [
        'glacier:UploadArchive',
        'glacier:InitiateMultipartUpload',
        'glacier:UploadMultipartPart',
        'glacier:CompleteMultipartUpload',
        'glacier:AbortMultipartUpload',
        'glacier:ListParts',
      ];
      expect(s.allows(role('archiveFiles'), upload, vault())).toBe(true);
      expect(s.allows(role('archiveFiles'), ['s3:PutObject'], `${s.stack.storage.archiveBucket!.bucketArn}/*`)).toBe(true);
      // Bundles: the manifest is read from beside the plan, the members' SHA-256s written there.
      expect(s.allows(role('archiveFiles'), ['s3:GetObject', 's3:PutObject'], `${s.stack.storage.snapshotBucket.bucketArn}/plans/*`)).toBe(true);
      expect(s.allows(role('archiveFiles'), ['s3:GetObject'], `${s.stack.storage.snapshotBucket.bucketArn}/runs/*`)).toBe(false);
      expect(s.actions(role('archiveFiles'))).not.toContain('glacier:DeleteArchive');
    });

    it('delete-run reads and deletes runs; nothing else may delete a run', () => {
      expect(s.allows(role('deleteRun'), ['omics:GetRun', 'omics:DeleteRun'], runs())).toBe(true);
      for (const key of Object.keys(LAMBDAS) as LambdaKey[]) {
        if (key !== 'deleteRun') expect([key, s.actions(role(key)).has('omics:DeleteRun')]).toEqual([key, false]);
      }
    });

    it('the restore functions check destinations, retrieve, poll and copy back', () => {
      const archived = `${s.stack.storage.archiveBucket!.bucketArn}/*`;
      expect(s.allows(role('planRestore'), ['s3:ListBucket'], outputs())).toBe(true);
      expect(s.allows(role('planRestore'), ['s3:GetObject'], `${outputs()}/*`)).toBe(true);
      expect(s.allows(role('planRestore'), ['s3:PutObject'], `${s.stack.storage.snapshotBucket.bucketArn}/restores/*`)).toBe(true);
      expect(s.allows(role('requestRetrieval'), ['glacier:InitiateJob', 'glacier:DescribeJob'], vault())).toBe(true);
      expect(s.allows(role('requestRetrieval'), ['s3:RestoreObject'], archived)).toBe(true);
      expect(s.allows(role('checkRetrieval'), ['glacier:DescribeJob'], vault())).toBe(true);
      expect(s.allows(role('checkRetrieval'), ['s3:GetObject', 's3:GetObjectVersion'], archived)).toBe(true);
      expect(s.allows(role('copyRestoredFile'), ['glacier:GetJobOutput', 'glacier:DescribeJob'], vault())).toBe(true);
      expect(s.allows(role('copyRestoredFile'), ['s3:GetObject', 's3:GetObjectVersion', 's3:GetObjectTagging'], archived)).toBe(true);
      expect(s.allows(role('copyRestoredFile'), ['s3:PutObject', 's3:AbortMultipartUpload', 's3:ListMultipartUploadParts'], `${outputs()}/*`)).toBe(true);
      // A bundle's restore item names the list of its members, beside the restore's items.
      for (const key of ['copyRestoredFile', 'finalizeRestore'] as const) {
        expect(s.allows(role(key), ['s3:GetObject'], `${s.stack.storage.snapshotBucket.bucketArn}/restores/*`)).toBe(true);
        expect(s.allows(role(key), ['s3:PutObject'], `${s.stack.storage.snapshotBucket.bucketArn}/restores/*`)).toBe(false);
      }
      // Restores never delete an object or an archive.
      for (const key of STATE_MACHINES.restoreRun.functions) {
        expect([...s.actions(role(key))].filter((a) => a.startsWith('s3:Delete') || a.startsWith('glacier:Delete'))).toEqual([]);
      }
    });

    it('retrieval-notification resumes (or fails) RestoreRun tasks, including those of Distributed Map children', () => {
      // The tokens come from Map children (`stateMachine:<name>/<label>`), and the actions support no resource-level
      // permissions: a grant on the state machine's own ARN would be refused for every one of them.
      expect(s.allows(role('retrievalNotification'), ['states:SendTaskSuccess', 'states:SendTaskFailure'], '*')).toBe(true);
      // So does a retried retrieval that finds its job already finished.
      expect(s.allows(role('requestRetrieval'), ['states:SendTaskSuccess', 'states:SendTaskFailure'], '*')).toBe(true);
      for (const key of ['retrievalNotification', 'requestRetrieval'] as const) {
        const taskResponses = s.statements(role(key)).filter((st) => st.Action.some((a) => a.startsWith('states:SendTask')));
        expect(taskResponses.flatMap((st) => st.Resource)).toEqual(['*']);
      }
    });

    it.each(Object.keys(LAMBDAS) as LambdaKey[])('%s reads and writes index items, GSIs included', (key) => {
      const table = s.stack.runIndex.table.tableArn;
      expect(s.allows(role(key), ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:Query'], table)).toBe(true);
      expect(s.allows(role(key), ['dynamodb:Query'], `${table}/index/*`)).toBe(true);
    });

    it.each(Object.keys(LAMBDAS) as LambdaKey[])('%s writes only to its own log group', (key) => {
      const fn = s.fn(key);
      expect(s.allows(fn.role, ['logs:CreateLogStream', 'logs:PutLogEvents'], fn.logGroup.logGroupArn)).toBe(true);
      const logWrites = s.statements(fn.role).filter((st) => st.Action.includes('logs:PutLogEvents'));
      expect(logWrites.flatMap((st) => st.Resource)).toEqual([s.stack.resolve(fn.logGroup.logGroupArn)]);
    });
  });

  describe('monitoring', () => {
    it('alarms on every DLQ, on failed and timed-out executions of both workflows, and on every function error', () => {
      const alarms = Object.values(resourcesOf(s.template, 'AWS::CloudWatch::Alarm')).map((a) => a.Properties);
      const count = (metric: string, namespace: string) => alarms.filter((a) => a.MetricName === metric && a.Namespace === namespace).length;
      expect(count('ApproximateNumberOfMessagesVisible', 'AWS/SQS')).toBe(Object.keys(QUEUES).length);
      expect(count('ExecutionsFailed', 'AWS/States')).toBe(2);
      expect(count('ExecutionsTimedOut', 'AWS/States')).toBe(2);
      expect(count('Errors', 'AWS/Lambda')).toBe(Object.keys(LAMBDAS).length);
      const topic = { Ref: s.logicalId(s.stack.monitoring.alarmTopic) };
      for (const alarm of alarms) expect(alarm).toMatchObject({ AlarmActions: [topic], Threshold: 0, ComparisonOperator: 'GreaterThanThreshold' });
    });

    it('watches the dead-letter queues, not the work queues', () => {
      const dlqs = [s.stack.trigger.queue, s.stack.cleanup.queue, s.stack.restore.notificationQueue].map((q) => s.logicalId(q.deadLetterQueue));
      const watched = Object.values(resourcesOf(s.template, 'AWS::CloudWatch::Alarm'))
        .filter((a) => a.Properties.Namespace === 'AWS/SQS')
        .map((a) => (a.Properties.Dimensions as { Value: { 'Fn::GetAtt': [string, string] } }[])[0].Value['Fn::GetAtt'][0]);
      expect(watched.sort()).toEqual(dlqs.sort());
    });

    it('has a dashboard and an encrypted alarm topic CloudWatch may publish to, without a subscription unless asked', () => {
      s.template.resourceCountIs('AWS::CloudWatch::Dashboard', 1);
      s.template.resourceCountIs('AWS::SNS::Subscription', 2); // the two SQS subscriptions, no email
      s.template.hasResourceProperties('AWS::KMS::Key', {
        KeyPolicy: { Statement: Match.arrayWith([Match.objectLike({ Principal: { Service: 'cloudwatch.amazonaws.com' } })]) },
      });
    });
  });

  it('emits every output the CLI reads', () => {
    const outputs = s.template.toJSON().Outputs as Record<string, { Value: unknown }>;
    const names = [...Object.values(STACK_OUTPUTS), ...Object.values(DLQ_URL_OUTPUTS)];
    expect(Object.keys(outputs).sort()).toEqual(names.sort());
    expect(outputs[STACK_OUTPUTS.archiveStateMachineArn].Value).toEqual({ Ref: s.logicalId(s.stack.archive.stateMachine) });
    expect(outputs[DLQ_URL_OUTPUTS.runDeletion].Value).toEqual({ Ref: s.logicalId(s.stack.cleanup.queue.deadLetterQueue) });
  });
});

describe('imports replace what they name', () => {
  it('an imported run index: no table is created; grants cover the named table and its GSIs', () => {
    const s = new Synth(buildStack(exampleWith((c) => (c.imports = { ...c.imports, runIndexTableName: 'existing-run-index' }))).stack);
    s.template.resourceCountIs('AWS::DynamoDB::Table', 0);
    expect(s.env('finalizeArchive')[ENV.runIndexTable]).toBe('existing-run-index');
    const table = arn(s.stack, 'dynamodb', 'table/existing-run-index');
    expect(s.allows(s.fn('finalizeArchive').role, ['dynamodb:UpdateItem'], table)).toBe(true);
    expect(s.allows(s.fn('finalizeArchive').role, ['dynamodb:Query'], `${table}/index/*`)).toBe(true);
  });

  it('an imported snapshot bucket: only the archive and access-log buckets are created', () => {
    const s = new Synth(buildStack(exampleWith((c) => (c.imports = { ...c.imports, snapshotBucketName: 'existing-snapshots' }))).stack);
    s.template.resourceCountIs('AWS::S3::Bucket', 2);
    expect(s.env('snapshotRun')[ENV.snapshotBucket]).toBe('existing-snapshots');
    const substitutions = s.resource(s.stack.archive.stateMachine).Properties.DefinitionSubstitutions as Record<string, unknown>;
    expect(substitutions.SnapshotBucket).toBe('existing-snapshots');
    expect(s.allows(s.fn('snapshotRun').role, ['s3:PutObject'], `arn:${s.stack.partition}:s3:::existing-snapshots/runs/*`)).toBe(true);
  });

  it('an imported archive bucket: none is created, and ARCHIVE_BUCKET names it', () => {
    const s = new Synth(buildStack(exampleWith((c) => (c.imports = { ...c.imports, archiveBucketName: 'existing-archive' }))).stack);
    s.template.resourceCountIs('AWS::S3::Bucket', 2); // snapshot and access logs
    expect(templateJson(s.template).Outputs[STACK_OUTPUTS.archiveBucketName].Value).toBe('existing-archive');
    for (const key of Object.keys(LAMBDAS) as LambdaKey[]) {
      if ((LAMBDAS[key].env as readonly string[]).includes(ENV.archiveBucket)) expect(s.env(key)[ENV.archiveBucket]).toBe('existing-archive');
    }
    expect(s.allows(s.fn('archiveFiles').role, ['s3:PutObject'], `arn:${s.stack.partition}:s3:::existing-archive/*`)).toBe(true);
  });

  it('everything imported: no table and no buckets at all, not even for access logs', () => {
    const s = new Synth(
      buildStack(
        exampleWith((c) => (c.imports = { vaultName: 'vault', runIndexTableName: 'index', snapshotBucketName: 'snapshots', archiveBucketName: 'archive' })),
      ).stack,
    );
    s.template.resourceCountIs('AWS::DynamoDB::Table', 0);
    s.template.resourceCountIs('AWS::S3::Bucket', 0);
    expect(s.stack.storage.accessLogsBucket).toBeUndefined();
    expect(s.env('copyRestoredFile')[ENV.vaultName]).toBe('vault');
  });
});

describe('targets decide what storage exists', () => {
  it('vault-only tiers make no archive bucket and leave ARCHIVE_BUCKET unset', () => {
    const s = new Synth(buildStack(exampleWith((c) => (c.tiers = [VAULT_TIER]))).stack);
    expect(s.stack.storage.archiveBucket).toBeUndefined();
    s.template.resourceCountIs('AWS::S3::Bucket', 2);
    expect(s.env('archiveFiles')[ENV.archiveBucket]).toBeUndefined();
    expect(templateJson(s.template).Outputs[STACK_OUTPUTS.archiveBucketName]).toBeUndefined();
  });

  it('s3-glacier-only tiers need no vault: no VAULT_NAME, no Glacier permissions', () => {
    const s = new Synth(buildStack(exampleWith((c) => ((c.tiers = [c.tiers[1]]), (c.imports = {})))).stack);
    expect(s.env('archiveFiles')[ENV.vaultName]).toBeUndefined();
    for (const key of Object.keys(LAMBDAS) as LambdaKey[]) {
      expect([...s.actions(s.fn(key).role)].filter((a) => a.startsWith('glacier:'))).toEqual([]);
    }
    expect(templateJson(s.template).Outputs[STACK_OUTPUTS.vaultName]).toBeUndefined();
  });

  it('the configuration cdk.json ships (storage classes only, as for an account new to Glacier) creates no vault and no vault topic', () => {
    const s = new Synth(buildStack(SHIPPED_CONFIG).stack);
    s.template.resourceCountIs('Custom::GlacierVault', 0);
    expect(s.stack.storage.vaultName).toBeUndefined();
    expect(s.env('archiveFiles')[ENV.vaultName]).toBeUndefined();
    expect(s.env('requestRetrieval')[ENV.vaultJobsTopicArn]).toBeUndefined();
  });

  it('s3-glacier-only tiers create no vault', () => {
    const s = new Synth(buildStack(exampleWith((c) => ((c.tiers = [c.tiers[1]]), (c.imports = {})))).stack);
    s.template.resourceCountIs('Custom::GlacierVault', 0);
  });
});

describe('other options', () => {
  it('emails alarms when alarmEmail is set', () => {
    const s = new Synth(buildStack(exampleWith((c) => (c.alarmEmail = 'oncall@example.org'))).stack);
    s.template.hasResourceProperties('AWS::SNS::Subscription', {
      Protocol: 'email',
      Endpoint: 'oncall@example.org',
      TopicArn: { Ref: s.logicalId(s.stack.monitoring.alarmTopic) },
    });
  });

  it('lets restores write to restoreBuckets as well as the output buckets', () => {
    const s = new Synth(buildStack(exampleWith((c) => (c.restoreBuckets = ['restores-scratch']))).stack);
    const restores = `arn:${s.stack.partition}:s3:::restores-scratch`;
    expect(s.allows(s.fn('copyRestoredFile').role, ['s3:PutObject'], `${restores}/*`)).toBe(true);
    expect(s.allows(s.fn('planRestore').role, ['s3:ListBucket'], restores)).toBe(true);
    // Restore destinations are not archive sources.
    expect(s.allows(s.fn('archiveFiles').role, ['s3:DeleteObject'], `${restores}/*`)).toBe(false);
  });

  it('names the state machines after the stack', () => {
    const s = new Synth(buildStack(EXAMPLE_CONFIG, { stackName: 'ArchiverStaging' }).stack);
    expect(s.resource(s.stack.archive.stateMachine).Properties.StateMachineName).toBe('ArchiverStaging-ArchiveRun');
  });

  it('refuses a stack name that makes a state machine name too long', () => {
    expect(() => buildStack(EXAMPLE_CONFIG, { stackName: `S${'x'.repeat(75)}` })).toThrow(ConfigError);
    expect(() => buildStack(EXAMPLE_CONFIG, { stackName: `S${'x'.repeat(75)}` })).toThrow(/stackName: .* longer than 80 characters/);
  });

  it('reserves no concurrency unless asked: a new account may not have enough to reserve', () => {
    const s = new Synth(buildStack().stack);
    for (const key of Object.keys(LAMBDAS) as LambdaKey[]) expect(s.resource(s.fn(key).function).Properties.ReservedConcurrentExecutions).toBeUndefined();
  });

  it('reserves concurrency for the fan-out functions when reservedConcurrency sets it, and for no other', () => {
    const s = new Synth(buildStack(exampleWith((c) => (c.reservedConcurrency = { archiveFiles: 200, copyRestoredFile: 50 }))).stack);
    const reserved = (key: LambdaKey) => s.resource(s.fn(key).function).Properties.ReservedConcurrentExecutions;
    expect(reserved('archiveFiles')).toBe(200);
    expect(reserved('copyRestoredFile')).toBe(50);
    for (const key of Object.keys(LAMBDAS) as LambdaKey[]) {
      if (key !== 'archiveFiles' && key !== 'copyRestoredFile') expect(reserved(key)).toBeUndefined();
    }
  });

  it('refuses a stack name that makes a function name longer than Lambda allows', () => {
    const longest = Math.max(...Object.values(LAMBDAS).map((spec) => ('substitution' in spec ? spec.id.length : 0)));
    const stackName = `S${'x'.repeat(64 - longest - 1)}`;
    expect(() => buildStack(EXAMPLE_CONFIG, { stackName })).toThrow(/stackName: .* function name .* longer than 64 characters/);
    expect(() => buildStack(EXAMPLE_CONFIG, { stackName: stackName.slice(1) })).not.toThrow();
  });

  it('takes a policy of many tiers: it is compiled into the bundle, not squeezed into 4 KB of environment', () => {
    const many = exampleWith((c) => {
      c.tiers = Array.from({ length: 40 }, (_, i) => ({
        name: `tier-${i}`,
        match: { tags: { project: `project-number-${i}` } },
        files: [{ globs: ['**/*.bam', '**/*.cram'], action: 'archive' as const }],
      }));
    });
    const s = new Synth(buildStack(many).stack);
    expect(parseConfig(JSON.parse(s.fn('triggerArchive').tierPolicy as string)).tiers).toHaveLength(40);
  });
});
