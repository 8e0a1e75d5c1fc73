// The IAM check: each AWS call the local cloud saw, as (principal, action, resource), evaluated against the synthesized template's policies.
import { DescribeStateMachineCommand, ListExecutionsCommand, type HistoryEvent } from '@aws-sdk/client-sfn';
import { runSimulation, type Simulation } from '@cloud-copilot/iam-simulate';
import * as clients from '../../functions/lib/runtime/clients';
import type { RecordedCall } from '../../local/call-recorder';
import { LOCAL_ACCOUNT, LOCAL_REGION, type LocalCloud } from '../../local/local-cloud';
import { LAMBDAS, QUEUES, STATE_MACHINES, type StateMachineKey } from '../../stacks/wiring';
import { history } from '../../bin/commands/executions';

/** One authorization AWS makes for a call: the role's principal, the IAM action and the resource ARN. */
export interface IamRequest {
  /** A local function name (`omics-archiver-ArchiveFiles`) or `state-machine:<key>`. */
  principal: string;
  action: string;
  resource: string;
  /** What the call was, for the failure message (`S3 UploadPartCopy`, `state "Plan archive"`). */
  via: string;
}

const ARN = `${LOCAL_REGION}:${LOCAL_ACCOUNT}`;
const s3Object = (bucket: unknown, key: unknown) => `arn:aws:s3:::${String(bucket)}/${String(key)}`;
const table = (name: unknown) => `arn:aws:dynamodb:${ARN}:table/${String(name)}`;
const vault = (name: unknown) => `arn:aws:glacier:${ARN}:vaults/${String(name)}`;
const omicsRun = (id: unknown) => `arn:aws:omics:${ARN}:run/${String(id)}`;
const logGroup = (name: unknown) => `arn:aws:logs:${ARN}:log-group:${String(name)}`;
/** `http://host/123456789012/name` → the queue's ARN. */
const queueArn = (url: unknown) => {
  const [account, name] = new URL(String(url)).pathname.split('/').filter(Boolean);
  return `arn:aws:sqs:${LOCAL_REGION}:${account}:${name}`;
};
const functionArn = (nameOrArn: unknown) =>
  String(nameOrArn).startsWith('arn:') ? String(nameOrArn).split(':').slice(0, 7).join(':') : `arn:aws:lambda:${ARN}:function:${String(nameOrArn)}`;

/** `bucket/key?versionId=v` (URL-encoded, as the SDK sends x-amz-copy-source) → bucket, key and version. */
function copySource(source: unknown): { bucket: string; key: string; versionId?: string } {
  const [location, query] = String(source).replace(/^\//, '').split('?');
  const decoded = decodeURIComponent(location);
  const slash = decoded.indexOf('/');
  const versionId = query ? (new URLSearchParams(query).get('versionId') ?? undefined) : undefined;
  return { bucket: decoded.slice(0, slash), key: decoded.slice(slash + 1), versionId };
}

type Mapping = (input: RecordedCall['input']) => [action: string, resource: string][];

/**
 * SDK operation → the IAM actions AWS authorizes for it and on what, per the Service Authorization Reference. The
 * non-obvious ones: HeadObject is s3:GetObject, a versioned read or delete is the *Version action, every multipart
 * step but the abort and ListParts is s3:PutObject, a copy reads its source (and its tags when they are copied),
 * batch operations are the *Item actions per table, and the SQS batch calls are the single-message actions.
 */
const S3_GET = (i: RecordedCall['input']): [string, string] => [i.VersionId ? 's3:GetObjectVersion' : 's3:GetObject', s3Object(i.Bucket, i.Key)];
const withTagging = (i: RecordedCall['input'], entries: [string, string][]) =>
  i.Tagging ? [...entries, ['s3:PutObjectTagging', s3Object(i.Bucket, i.Key)] as [string, string]] : entries;
const copyReads = (i: RecordedCall['input'], copiesTags: boolean): [string, string][] => {
  const source = copySource(i.CopySource);
  const object = s3Object(source.bucket, source.key);
  const reads: [string, string][] = [[source.versionId ? 's3:GetObjectVersion' : 's3:GetObject', object]];
  if (copiesTags) reads.push([source.versionId ? 's3:GetObjectVersionTagging' : 's3:GetObjectTagging', object]);
  return reads;
};

const MAPPINGS: Record<string, Record<string, Mapping>> = {
  S3: {
    GetObject: (i) => [S3_GET(i)],
    HeadObject: (i) => [S3_GET(i)],
    PutObject: (i) => withTagging(i, [['s3:PutObject', s3Object(i.Bucket, i.Key)]]),
    CreateMultipartUpload: (i) => withTagging(i, [['s3:PutObject', s3Object(i.Bucket, i.Key)]]),
    UploadPart: (i) => [['s3:PutObject', s3Object(i.Bucket, i.Key)]],
    CompleteMultipartUpload: (i) => [['s3:PutObject', s3Object(i.Bucket, i.Key)]],
    UploadPartCopy: (i) => [['s3:PutObject', s3Object(i.Bucket, i.Key)], ...copyReads(i, false)],
    // CopyObject copies the source's tags unless told to replace them: reading and writing tags is then authorized too.
    CopyObject: (i) => {
      const copiesTags = i.TaggingDirective !== 'REPLACE';
      const writes: [string, string][] = [['s3:PutObject', s3Object(i.Bucket, i.Key)]];
      if (copiesTags || i.Tagging) writes.push(['s3:PutObjectTagging', s3Object(i.Bucket, i.Key)]);
      return [...writes, ...copyReads(i, copiesTags)];
    },
    AbortMultipartUpload: (i) => [['s3:AbortMultipartUpload', s3Object(i.Bucket, i.Key)]],
    ListParts: (i) => [['s3:ListMultipartUploadParts', s3Object(i.Bucket, i.Key)]],
    ListMultipartUploads: (i) => [['s3:ListBucketMultipartUploads', `arn:aws:s3:::${String(i.Bucket)}`]],
    DeleteObject: (i) => [[i.VersionId ? 's3:DeleteObjectVersion' : 's3:DeleteObject', s3Object(i.Bucket, i.Key)]],
    RestoreObject: (i) => [['s3:RestoreObject', s3Object(i.Bucket, i.Key)]],
    GetObjectTagging: (i) => [[i.VersionId ? 's3:GetObjectVersionTagging' : 's3:GetObjectTagging', s3Object(i.Bucket, i.Key)]],
    PutObjectTagging: (i) => [['s3:PutObjectTagging', s3Object(i.Bucket, i.Key)]],
    ListObjectsV2: (i) => [['s3:ListBucket', `arn:aws:s3:::${String(i.Bucket)}`]],
    ListObjectVersions: (i) => [['s3:ListBucketVersions', `arn:aws:s3:::${String(i.Bucket)}`]],
    HeadBucket: (i) => [['s3:ListBucket', `arn:aws:s3:::${String(i.Bucket)}`]],
  },
  DynamoDB: {
    ...Object.fromEntries(
      ['GetItem', 'PutItem', 'UpdateItem', 'DeleteItem', 'DescribeTable'].map((op) => [
        op,
        (i: RecordedCall['input']) => [[`dynamodb:${op}`, table(i.TableName)]],
      ]),
    ),
    Query: (i) => [['dynamodb:Query', i.IndexName ? `${table(i.TableName)}/index/${String(i.IndexName)}` : table(i.TableName)]],
    Scan: (i) => [['dynamodb:Scan', i.IndexName ? `${table(i.TableName)}/index/${String(i.IndexName)}` : table(i.TableName)]],
    BatchWriteItem: (i) => (i.RequestItems as string[]).map((name) => ['dynamodb:BatchWriteItem', table(name)]),
    BatchGetItem: (i) => (i.RequestItems as string[]).map((name) => ['dynamodb:BatchGetItem', table(name)]),
  },
  Glacier: Object.fromEntries(
    [
      'UploadArchive',
      'InitiateMultipartUpload',
      'UploadMultipartPart',
      'CompleteMultipartUpload',
      'AbortMultipartUpload',
      'ListParts',
      'ListMultipartUploads',
      'InitiateJob',
      'DescribeJob',
      'GetJobOutput',
      'ListJobs',
    ].map((op) => [op, (i: RecordedCall['input']) => [[`glacier:${op}`, vault(i.vaultName)]]]),
  ),
  Omics: {
    GetRun: (i) => [['omics:GetRun', omicsRun(i.id)]],
    DeleteRun: (i) => [['omics:DeleteRun', omicsRun(i.id)]],
    ListRunTasks: (i) => [['omics:ListRunTasks', omicsRun(i.id)]],
    // The reference lists the task as a second resource; the request names both, the run is what the stack scopes.
    GetRunTask: (i) => [['omics:GetRunTask', omicsRun(i.id)]],
    ListRuns: () => [['omics:ListRuns', '*']],
  },
  CloudWatchLogs: {
    GetLogEvents: (i) => [['logs:GetLogEvents', `${logGroup(i.logGroupName)}:log-stream:${String(i.logStreamName)}`]],
    FilterLogEvents: (i) => [['logs:FilterLogEvents', logGroup(i.logGroupName)]],
    DescribeLogStreams: (i) => [['logs:DescribeLogStreams', logGroup(i.logGroupName)]],
  },
  SFN: {
    StartExecution: (i) => [['states:StartExecution', String(i.stateMachineArn)]],
    DescribeExecution: (i) => [['states:DescribeExecution', String(i.executionArn)]],
    // The reference lists no resource type for the task-token calls: they are authorized on "*".
    SendTaskSuccess: () => [['states:SendTaskSuccess', '*']],
    SendTaskFailure: () => [['states:SendTaskFailure', '*']],
    SendTaskHeartbeat: () => [['states:SendTaskHeartbeat', '*']],
  },
  SNS: { Publish: (i) => [['sns:Publish', String(i.TopicArn)]] },
  SQS: {
    ReceiveMessage: (i) => [['sqs:ReceiveMessage', queueArn(i.QueueUrl)]],
    DeleteMessage: (i) => [['sqs:DeleteMessage', queueArn(i.QueueUrl)]],
    DeleteMessageBatch: (i) => [['sqs:DeleteMessage', queueArn(i.QueueUrl)]],
    ChangeMessageVisibility: (i) => [['sqs:ChangeMessageVisibility', queueArn(i.QueueUrl)]],
    ChangeMessageVisibilityBatch: (i) => [['sqs:ChangeMessageVisibility', queueArn(i.QueueUrl)]],
    SendMessage: (i) => [['sqs:SendMessage', queueArn(i.QueueUrl)]],
    GetQueueAttributes: (i) => [['sqs:GetQueueAttributes', queueArn(i.QueueUrl)]],
  },
  EventBridge: { PutEvents: () => [['events:PutEvents', `arn:aws:events:${ARN}:event-bus/default`]] },
  Lambda: { Invoke: (i) => [['lambda:InvokeFunction', functionArn(i.FunctionName)]] },
};

/** The IAM requests one recorded SDK call makes; an operation with no mapping is an error, so the map stays complete. */
export function iamRequestsOf(call: RecordedCall): IamRequest[] {
  const mapping = MAPPINGS[call.service]?.[call.operation];
  if (!mapping) throw new Error(`no IAM mapping for ${call.service} ${call.operation} (called by ${call.principal}): add it to test/support/iam-check.ts`);
  return mapping(call.input).map(([action, resource]) => ({ principal: call.principal, action, resource, via: `${call.service} ${call.operation}` }));
}

/** The value at a simple reference path (`$.plan.bucket`) of a state's input. */
function atPath(document: unknown, jsonPath: string): unknown {
  return jsonPath
    .replace(/^\$\.?/, '')
    .split('.')
    .filter(Boolean)
    .reduce<unknown>((value, key) => (value as Record<string, unknown> | undefined)?.[key], document);
}

/** ASL Parameters with `.$` paths filled from the state's input. */
function parameters(template: Record<string, unknown>, input: unknown): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(template).map(([name, value]) => (name.endsWith('.$') ? [name.slice(0, -2), atPath(input, String(value))] : [name, value])),
  );
}

interface AslState {
  Type: string;
  Resource?: string;
  ItemReader?: { Resource: string; Parameters: Record<string, unknown> };
  ResultWriter?: { Resource: string; Parameters: Record<string, unknown> };
  ItemProcessor?: { States: Record<string, AslState> };
}

/** `arn:aws:states:::lambda:invoke.waitForTaskToken` → the action its Task makes on the role's behalf. */
function integrationAction(resourceType: string, resource: string): string {
  const operation = resource.replace(/\.(waitForTaskToken|sync(:2)?)$/, '');
  if (resourceType === 'lambda' && operation === 'invoke') return 'lambda:InvokeFunction';
  const service = { s3: 's3', sns: 'sns', sqs: 'sqs', dynamodb: 'dynamodb', events: 'events' }[resourceType];
  if (!service) throw new Error(`no IAM mapping for the ${resourceType}:${resource} integration: add it to test/support/iam-check.ts`);
  return `${service}:${operation.charAt(0).toUpperCase()}${operation.slice(1)}`;
}

function integrationResource(resourceType: string, params: Record<string, unknown>): string {
  if (resourceType === 'lambda') return functionArn(params.FunctionName);
  if (resourceType === 's3') return s3Object(params.Bucket, params.Key);
  if (resourceType === 'sns') return String(params.TopicArn);
  if (resourceType === 'sqs') return queueArn(params.QueueUrl);
  if (resourceType === 'dynamodb') return table(params.TableName);
  throw new Error(`no resource mapping for the ${resourceType} integration`);
}

async function executionArns(stateMachineArn: string): Promise<string[]> {
  const arns: string[] = [];
  let nextToken: string | undefined;
  do {
    const page = await clients.sfnClient().send(new ListExecutionsCommand({ stateMachineArn, nextToken }));
    arns.push(...(page.executions ?? []).map((e) => e.executionArn ?? ''));
    nextToken = page.nextToken;
  } while (nextToken);
  return arns;
}

/**
 * What each state machine's role was asked to authorize, read from every execution's history: each scheduled Task's
 * integration and parameters, and for each Distributed Map run, the ItemReader's object, the ResultWriter's objects
 * and states:StartExecution on the machine itself (the child workflows). Lambda invocations inside a Distributed Map
 * run are not in the parent's history; they are the front door's `step-functions` calls (see stateMachineOf).
 */
export async function stateMachineRequests(cloud: LocalCloud): Promise<IamRequest[]> {
  const requests: IamRequest[] = [];
  for (const key of Object.keys(STATE_MACHINES) as StateMachineKey[]) {
    const principal = `state-machine:${key}`;
    const machineArn = cloud.resources.stateMachines[key];
    // The definition as deployed, substitutions filled in (the ResultWriter's bucket among them).
    const deployed = await clients.sfnClient().send(new DescribeStateMachineCommand({ stateMachineArn: machineArn }));
    const definition = JSON.parse(deployed.definition ?? '{}') as { States: Record<string, AslState> };
    for (const executionArn of await executionArns(machineArn)) {
      const events: HistoryEvent[] = await history(clients.sfnClient(), executionArn);
      let enteredMap: { name: string; input: unknown } | undefined;
      for (const event of events) {
        if (event.type === 'MapStateEntered') {
          enteredMap = { name: event.stateEnteredEventDetails?.name ?? '', input: JSON.parse(event.stateEnteredEventDetails?.input ?? '{}') };
        }
        const scheduled = event.taskScheduledEventDetails;
        if (scheduled?.resourceType && scheduled.resource) {
          const params = JSON.parse(scheduled.parameters ?? '{}') as Record<string, unknown>;
          requests.push({
            principal,
            action: integrationAction(scheduled.resourceType, scheduled.resource),
            resource: integrationResource(scheduled.resourceType, params),
            via: `a ${scheduled.resourceType}:${scheduled.resource} task`,
          });
        }
        const mapRunArn = event.mapRunStartedEventDetails?.mapRunArn;
        if (mapRunArn && enteredMap) {
          const state = definition.States[enteredMap.name];
          requests.push({ principal, action: 'states:StartExecution', resource: machineArn, via: `the Distributed Map "${enteredMap.name}"` });
          if (state?.ItemReader) {
            const reader = parameters(state.ItemReader.Parameters, enteredMap.input);
            requests.push({
              principal,
              action: integrationAction('s3', state.ItemReader.Resource.split(':').pop() ?? ''),
              resource: s3Object(reader.Bucket, reader.Key),
              via: `the ItemReader of "${enteredMap.name}"`,
            });
          }
          if (state?.ResultWriter) {
            // Step Functions writes <Prefix>/<map run id>/manifest.json and the result files next to it.
            const writer = state.ResultWriter.Parameters;
            const runId = mapRunArn.split(':').pop();
            for (const file of ['manifest.json', 'SUCCEEDED_0.json']) {
              requests.push({
                principal,
                action: 's3:PutObject',
                resource: s3Object(writer.Bucket, `${String(writer.Prefix)}/${runId}/${file}`),
                via: `the ResultWriter of "${enteredMap.name}"`,
              });
            }
          }
        }
      }
    }
  }
  return requests;
}

// ---- the template side --------------------------------------------------------------------------------------------

/** A CloudFormation value: a literal, a list, or an intrinsic function (an object with one `Ref`/`Fn::*` key). */
export type CfnValue = string | number | boolean | null | CfnValue[] | { [key: string]: CfnValue };
interface CfnResource {
  Type: string;
  Properties?: Record<string, CfnValue>;
}
/** The part of a synthesized template the check reads. */
export interface CfnTemplate {
  Resources: Record<string, CfnResource>;
}

interface Physical {
  ref: string;
  attributes: Record<string, string>;
}

/** A template literal as text (an unresolved intrinsic as its JSON, so it shows in a message rather than matching). */
const text = (value: CfnValue | undefined): string => (typeof value === 'object' || value === undefined ? JSON.stringify(value) : String(value));
const isObject = (value: CfnValue | undefined): value is { [key: string]: CfnValue } => typeof value === 'object' && value !== null && !Array.isArray(value);
/** The logical id an `Fn::GetAtt` (or `Ref`) points at. */
const getAttTarget = (value: CfnValue | undefined) => (isObject(value) && Array.isArray(value['Fn::GetAtt']) ? text(value['Fn::GetAtt'][0]) : undefined);
const refTarget = (value: CfnValue | undefined) => (isObject(value) && typeof value.Ref === 'string' ? value.Ref : undefined);

/** The local physical names and ARNs of the template's resources, found by the logical id CDK derives from the construct id. */
function localPhysicalResources(template: CfnTemplate, cloud: LocalCloud): Map<string, Physical> {
  const r = cloud.resources;
  const found = new Map<string, Physical>();
  const ids = Object.keys(template.Resources);
  const one = (pattern: RegExp, physical: Physical) => {
    for (const id of ids.filter((i) => pattern.test(i))) found.set(id, physical);
  };
  const hash = '[0-9A-F]{8}$';
  one(new RegExp(`RunIndexTable${hash}`), { ref: r.runIndexTable, attributes: { Arn: table(r.runIndexTable) } });
  one(new RegExp(`SnapshotBucket${hash}`), { ref: r.snapshotBucket, attributes: { Arn: `arn:aws:s3:::${r.snapshotBucket}` } });
  one(new RegExp(`ArchiveBucket${hash}`), { ref: r.archiveBucket, attributes: { Arn: `arn:aws:s3:::${r.archiveBucket}` } });
  one(new RegExp(`ArchiveEventsTopic${hash}`), { ref: r.archiveEventsTopicArn, attributes: { TopicArn: r.archiveEventsTopicArn } });
  one(new RegExp(`VaultNotificationTopic${hash}`), { ref: r.vaultJobsTopicArn, attributes: { TopicArn: r.vaultJobsTopicArn } });
  one(new RegExp(`RestoreEventsTopic${hash}`), { ref: r.restoreEventsTopicArn, attributes: { TopicArn: r.restoreEventsTopicArn } });
  for (const [key, spec] of Object.entries(QUEUES) as [keyof typeof QUEUES, (typeof QUEUES)[keyof typeof QUEUES]][]) {
    one(new RegExp(`${spec.id}Queue${hash}`), { ref: r.queues[key].url, attributes: { Arn: r.queues[key].arn } });
    one(new RegExp(`${spec.id}DeadLetterQueue${hash}`), { ref: r.queues[key].dlqUrl, attributes: { Arn: r.queues[key].dlqArn } });
  }
  for (const spec of Object.values(LAMBDAS)) {
    const name = cloud.lambdas.functionName(spec);
    one(new RegExp(`${spec.id}Function${hash}`), { ref: name, attributes: { Arn: functionArn(name) } });
    one(new RegExp(`${spec.id}Logs${hash}`), { ref: `/aws/lambda/${name}`, attributes: { Arn: `${logGroup(`/aws/lambda/${name}`)}:*` } });
  }
  for (const [id, resource] of Object.entries(template.Resources)) {
    if (resource.Type === 'AWS::IAM::Role') found.set(id, { ref: id, attributes: { Arn: `arn:aws:iam::${LOCAL_ACCOUNT}:role/${id}` } });
    if (resource.Type === 'AWS::StepFunctions::StateMachine') {
      const name = text(resource.Properties?.StateMachineName);
      found.set(id, { ref: `arn:aws:states:${ARN}:stateMachine:${name}`, attributes: { Name: name } });
    }
  }
  return found;
}

const PSEUDO: Record<string, string> = {
  'AWS::Partition': 'aws',
  'AWS::Region': LOCAL_REGION,
  'AWS::AccountId': LOCAL_ACCOUNT,
  'AWS::URLSuffix': 'amazonaws.com',
};

/** Resolves Ref, Fn::GetAtt, Fn::Join and Fn::Sub against the local resources; anything unknown stays visibly unresolved. */
function resolve(value: CfnValue, physical: Map<string, Physical>): CfnValue {
  if (Array.isArray(value)) return value.map((v) => resolve(v, physical));
  if (!isObject(value)) return value;
  const refOf = (id: string) => PSEUDO[id] ?? physical.get(id)?.ref ?? `unresolved:${id}`;
  const attOf = (id: string, attribute: string) => physical.get(id)?.attributes[attribute] ?? `unresolved:${id}.${attribute}`;
  const ref = refTarget(value);
  if (ref) return refOf(ref);
  const getAtt = value['Fn::GetAtt'];
  if (Array.isArray(getAtt)) return attOf(text(getAtt[0]), text(getAtt[1]));
  const join = value['Fn::Join'];
  if (Array.isArray(join)) return (resolve(join[1], physical) as CfnValue[]).map(text).join(text(join[0]));
  const sub = value['Fn::Sub'];
  if (sub !== undefined) {
    const pattern = text(Array.isArray(sub) ? sub[0] : sub);
    return pattern.replace(/\$\{([^}]+)\}/g, (_, name: string) => (name.includes('.') ? attOf(name.split('.')[0], name.split('.')[1]) : refOf(name)));
  }
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, resolve(v, physical)]));
}

/** One principal's role and its identity policies, resolved to local ARNs. */
export interface PrincipalPolicies {
  roleLogicalId: string;
  policies: { name: string; policy: CfnValue }[];
}

export interface TemplatePrincipals {
  principals: Map<string, PrincipalPolicies>;
  /** The vault and the state machines have fixed names in the template: renames the local ones in a recorded ARN. */
  localToDeployed: (arn: string) => string;
}

/**
 * The role of every function and state machine in the template, with its policies (the AWS::IAM::Policy resources
 * attached to it and its inline ones) resolved against the local cloud's resources.
 */
export function templatePrincipals(template: CfnTemplate, cloud: LocalCloud): TemplatePrincipals {
  const physical = localPhysicalResources(template, cloud);
  const resources = template.Resources;
  const roleOf = (logicalIdPattern: RegExp, property: string): string => {
    const ids = Object.keys(resources).filter((id) => logicalIdPattern.test(id));
    if (ids.length !== 1) throw new Error(`expected one resource matching ${logicalIdPattern}, found ${ids.length}`);
    const role = getAttTarget(resources[ids[0]].Properties?.[property]);
    if (!role || resources[role]?.Type !== 'AWS::IAM::Role') throw new Error(`${ids[0]}.${property} is not a role of this template`);
    return role;
  };
  const policiesOf = (roleId: string): PrincipalPolicies => {
    const properties = resources[roleId].Properties ?? {};
    if (Array.isArray(properties.ManagedPolicyArns) && properties.ManagedPolicyArns.length) {
      throw new Error(`${roleId} has managed policies, which this check cannot read`);
    }
    const attached = Object.entries(resources)
      .filter(([, r]) => r.Type === 'AWS::IAM::Policy' && Array.isArray(r.Properties?.Roles) && r.Properties.Roles.some((role) => refTarget(role) === roleId))
      .map(([id, r]) => ({ name: id, policy: resolve(r.Properties?.PolicyDocument ?? null, physical) }));
    const inline = (Array.isArray(properties.Policies) ? properties.Policies : []).filter(isObject).map((p) => ({
      name: text(p.PolicyName),
      policy: resolve(p.PolicyDocument, physical),
    }));
    return { roleLogicalId: roleId, policies: [...attached, ...inline] };
  };

  const principals = new Map<string, PrincipalPolicies>();
  for (const spec of Object.values(LAMBDAS)) {
    principals.set(cloud.lambdas.functionName(spec), policiesOf(roleOf(new RegExp(`${spec.id}Function[0-9A-F]{8}$`), 'Role')));
  }
  const renames: [string, string][] = [];
  for (const [key, machine] of Object.entries(STATE_MACHINES) as [StateMachineKey, (typeof STATE_MACHINES)[StateMachineKey]][]) {
    const machineId = Object.keys(resources).find((id) => new RegExp(`${machine.id}StateMachine[0-9A-F]{8}$`).test(id)) ?? '';
    principals.set(`state-machine:${key}`, policiesOf(roleOf(new RegExp(`^${machineId}$`), 'RoleArn')));
    const localName = cloud.resources.stateMachines[key].split(':').pop() ?? '';
    renames.push([`:${localName}`, `:${text(resources[machineId].Properties?.StateMachineName)}`]);
  }
  for (const created of Object.values(resources).filter((r) => r.Type === 'Custom::GlacierVault')) {
    const name = (JSON.parse(text(created.Properties?.Create)) as { parameters: { vaultName: string } }).parameters.vaultName;
    renames.push([`:vaults/${cloud.resources.vaultName}`, `:vaults/${name}`]);
  }
  const localToDeployed = (arn: string) =>
    renames.reduce(
      (renamed, [local, deployed]) =>
        renamed.includes(`${local}:`) || renamed.includes(`${local}/`) || renamed.endsWith(local) ? renamed.replace(local, deployed) : renamed,
      arn,
    );
  return { principals, localToDeployed };
}

/** The state machine whose definition invokes a function (for the Lambda calls moto's Step Functions makes over HTTP). */
export function stateMachineOf(functionNameOrArn: string): StateMachineKey {
  const functionName = functionNameOrArn.startsWith('arn:') ? functionNameOrArn.split(':')[6] : functionNameOrArn.split(':')[0];
  const owners = (Object.entries(STATE_MACHINES) as [StateMachineKey, (typeof STATE_MACHINES)[StateMachineKey]][]).filter(([, machine]) =>
    (machine.functions as readonly string[]).some((key) => `omics-archiver-${LAMBDAS[key as keyof typeof LAMBDAS].id}` === functionName),
  );
  if (owners.length !== 1) throw new Error(`${functionName} is invoked by ${owners.length} state machines; cannot tell whose role invoked it`);
  return owners[0][0];
}

/** A request the deployed role would be denied, with the decision iam-simulate gave. */
export interface Denial extends IamRequest {
  decision: string;
  role: string;
}

/** Evaluates each distinct request with iam-simulate against its principal's policies; returns the denied ones. */
export async function checkCalls(requests: IamRequest[], template: TemplatePrincipals): Promise<Denial[]> {
  const denials: Denial[] = [];
  const seen = new Set<string>();
  for (const request of requests) {
    const resource = template.localToDeployed(request.resource);
    const key = `${request.principal} ${request.action} ${resource}`;
    if (seen.has(key)) continue;
    seen.add(key);
    const principal = template.principals.get(request.principal);
    if (!principal) {
      denials.push({ ...request, resource, decision: 'no role in the template', role: '-' });
      continue;
    }
    const simulation: Simulation = {
      identityPolicies: principal.policies,
      serviceControlPolicies: [],
      resourceControlPolicies: [],
      request: {
        action: request.action,
        principal: `arn:aws:iam::${LOCAL_ACCOUNT}:role/${principal.roleLogicalId}`,
        resource: { accountId: LOCAL_ACCOUNT, resource },
        contextVariables: {},
      },
    };
    // Validated: an action, resource type or policy iam-simulate does not know is an error, reported as a denial.
    const result = await runSimulation(simulation, {});
    const decision = result.resultType === 'error' ? `simulation error: ${JSON.stringify(result.errors)}` : result.overallResult;
    if (decision !== 'Allowed') denials.push({ ...request, resource, decision, role: principal.roleLogicalId });
  }
  return denials;
}

/** One line per denial: the function (or state machine), the action and the resource, and what made the call. */
export function describeDenials(denials: Denial[]): string {
  return denials.map((d) => `${d.principal} (role ${d.role}) would be denied ${d.action} on ${d.resource} [${d.via}]: ${d.decision}`).join('\n');
}
