// Retry and Catch as named policies: every retrier in every ASL file is one of statemachines/retry-policies.ts, every
// Task has a Catch (or a reason below why not), and every custom error name the ASL matches on is one a handler throws.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { ERROR_NAMES, RESTORE_REQUEST_ERRORS } from '../../functions/lib/contract/errors';
import { RETRY_POLICIES, THROTTLING_ERRORS, type Retrier, type RetryPolicyName } from '../../statemachines/retry-policies';

const REPO_ROOT = path.resolve(__dirname, '..', '..');

interface Catcher {
  ErrorEquals: string[];
  Next: string;
}
interface AslState {
  Type: string;
  Retry?: Retrier[];
  Catch?: Catcher[];
  ItemProcessor?: { States: Record<string, AslState> };
  Iterator?: { States: Record<string, AslState> };
  Branches?: { States: Record<string, AslState> }[];
}

/** Every state of a definition, Map and Parallel children included, at any depth. */
function statesOf(states: Record<string, AslState>): [string, AslState][] {
  return Object.entries(states).flatMap(([name, state]) => [
    [name, state] as [string, AslState],
    ...[state.ItemProcessor, state.Iterator, ...(state.Branches ?? [])].flatMap((child) => (child ? statesOf(child.States) : [])),
  ]);
}

/** The named policy a retrier is, field for field (key order aside), or undefined. */
function policyOf(retrier: Retrier): RetryPolicyName | undefined {
  return (Object.keys(RETRY_POLICIES) as RetryPolicyName[]).find((name) => isDeepStrictEqual(RETRY_POLICIES[name], retrier));
}

/** What is wrong with a state's Retry: a Task without one, a retrier that is no named policy, a policy twice, States.ALL not last. */
function retryProblems(name: string, state: AslState): string[] {
  const retry = state.Retry ?? [];
  const problems: string[] = [];
  if (state.Type === 'Task' && !retry.length) problems.push(`"${name}" is a Task without a Retry`);
  const policies = retry.map((retrier, i) => {
    const policy = policyOf(retrier);
    if (!policy) problems.push(`"${name}" Retry[${i}] is no named retry policy: ${JSON.stringify(retrier)}`);
    return policy;
  });
  for (const policy of new Set(policies.filter((p) => p !== undefined)))
    if (policies.filter((p) => p === policy).length > 1) problems.push(`"${name}" uses ${policy} twice`);
  const all = retry.findIndex((r) => r.ErrorEquals.includes('States.ALL'));
  if (all >= 0 && all !== retry.length - 1) problems.push(`"${name}" Retry[${all}] matches States.ALL but is not the last retrier`);
  return problems;
}

/**
 * Tasks without a Catch, each with why its failure should go where it goes instead (keyed `<file>: <state>`).
 * A Task here that gains a Catch, or disappears, is reported, so the list stays true.
 */
const WITHOUT_CATCH: Record<string, string> = {
  'statemachines/archive-run.asl.json: Record files not archived':
    "Its failure fails the Map item, and the Map's Catch records the run FAILED (Record archive failure).",
  'statemachines/archive-run.asl.json: Publish run archived':
    'The outcome is in the index already; an unsent announcement fails the execution visibly and deletes nothing, where a Catch into Record archive failure would overwrite it with FAILED.',
  'statemachines/archive-run.asl.json: Publish archive failure': 'Already the failure path, about to end in Archive failed: nowhere further to go.',
  'statemachines/restore-run.asl.json: Find files to restore':
    'A refused request fails the execution directly with its own error name (RESTORE_REQUEST_ERRORS), before anything is retrieved or recorded.',
  'statemachines/restore-run.asl.json: Record file not restored': "Its failure fails the Map item, and the Map's Catch goes on to Record restore.",
  'statemachines/restore-run.asl.json: Record restore':
    'The last step, which settles the restore: its failure fails the execution, there being nothing left to record it.',
};

/** States.* error names the ASL spec defines (a typo there would silently never match). */
const STATES_ERRORS = [
  'States.ALL',
  'States.HeartbeatTimeout',
  'States.Timeout',
  'States.TaskFailed',
  'States.Permissions',
  'States.ResultPathMatchFailure',
  'States.ParameterPathFailure',
  'States.QueryEvaluationError',
  'States.BranchFailed',
  'States.NoChoiceMatched',
  'States.IntrinsicFailure',
  'States.ExceedToleratedFailureThreshold',
  'States.ItemReaderFailed',
  'States.ResultWriterFailed',
  'States.Runtime',
];
/** Errors the Lambda service or runtime, or another service integration, reports under its own prefix. */
const SERVICE_ERROR = /^(Lambda|Glacier|S3|SFN|SNS|DynamoDB)\.[A-Za-z]+$|^Sandbox\.Timedout$/;
/**
 * Unprefixed names the AWS SDK gives a service's exception, which the handlers let through (no handler throws them
 * itself, so the scan below cannot find them): each with the service that answers it.
 */
const SDK_ERRORS: Record<string, string> = {
  ...Object.fromEntries(THROTTLING_ERRORS.map((name) => [name, 'a service throttling the handler (see THROTTLING_ERRORS)'])),
  ServiceUnavailable: "S3's 503 error code (snapshot and plan write and list S3)",
};

/**
 * Error names the handlers really throw: names in the contract's registry (functions/lib/contract/errors.ts) that
 * some handler module under functions/ sets on an error. The registry is imported; whether a handler uses a name is
 * found by scanning functions/**\/*.ts with fs for `.name = 'X'`, `.name = ERROR_NAMES.key`, `new FooError('X'` or
 * `new FooError(ERROR_NAMES.key` (the registry file itself left out).
 */
function thrownErrorNames(): Set<string> {
  const registry = new Set<string>([...Object.values(ERROR_NAMES), ...RESTORE_REQUEST_ERRORS]);
  const byKey = ERROR_NAMES as Record<string, string>;
  const registryFile = path.join(REPO_ROOT, 'functions', 'lib', 'contract', 'errors.ts');
  const thrown = new Set<string>();
  const sources = (fs.readdirSync(path.join(REPO_ROOT, 'functions'), { recursive: true }) as string[])
    .filter((file) => file.endsWith('.ts'))
    .map((file) => path.join(REPO_ROOT, 'functions', file))
    .filter((file) => file !== registryFile);
  for (const file of sources) {
    const text = fs.readFileSync(file, 'utf8');
    for (const match of text.matchAll(/(?:\.name\s*=\s*|new\s+\w*Error\(\s*)(?:'([A-Za-z]+)'|ERROR_NAMES\.(\w+))/g)) {
      const name = match[1] ?? byKey[match[2]];
      if (name && registry.has(name)) thrown.add(name);
    }
  }
  return thrown;
}

/** What is wrong with the error names a state matches on, in Retry and Catch alike. */
function errorNameProblems(name: string, state: AslState, thrown: Set<string>): string[] {
  const names = [...(state.Retry ?? []), ...(state.Catch ?? [])].flatMap((r) => r.ErrorEquals);
  return names.flatMap((error) => {
    if (error.startsWith('States.')) return STATES_ERRORS.includes(error) ? [] : [`"${name}" matches ${error}, which is no States error`];
    if (SERVICE_ERROR.test(error) || error in SDK_ERRORS || thrown.has(error)) return [];
    return [`"${name}" matches ${error}, which no handler throws (not in functions/lib/contract/errors.ts, or never set on an error)`];
  });
}

const files = fs
  .readdirSync(path.join(REPO_ROOT, 'statemachines'))
  .filter((name) => name.endsWith('.asl.json'))
  .map((name) => `statemachines/${name}`);
const definitions = files.map((file) => {
  const definition = JSON.parse(fs.readFileSync(path.join(REPO_ROOT, file), 'utf8')) as { States: Record<string, AslState> };
  return [file, statesOf(definition.States)] as const;
});

it('finds the workflows and their Tasks, Map children included', () => {
  expect(files).toEqual(expect.arrayContaining(['statemachines/archive-run.asl.json', 'statemachines/restore-run.asl.json']));
  const tasks = definitions.flatMap(([, states]) => states.filter(([, s]) => s.Type === 'Task').map(([name]) => name));
  expect(tasks).toEqual(expect.arrayContaining(['Archive files', 'Record files not archived', 'Copy to destination', 'Record file not restored']));
});

describe.each(definitions)('%s', (file, states) => {
  const thrown = thrownErrorNames();

  it.each(states.filter(([, s]) => s.Retry || s.Type === 'Task').map(([name]) => name))('"%s" retries only by named policies', (name) => {
    expect(retryProblems(name, states.find(([n]) => n === name)![1])).toEqual([]);
  });

  it.each(states.filter(([, s]) => s.Type === 'Task').map(([name]) => name))('"%s" has a Catch, or a reason on the allow-list', (name) => {
    const state = states.find(([n]) => n === name)![1];
    const reason = WITHOUT_CATCH[`${file}: ${name}`];
    // Exactly one of the two: a Task that gains a Catch leaves the list, so the list never claims what is not so.
    expect({ name, hasCatch: Boolean(state.Catch?.length) }).toEqual({ name, hasCatch: reason === undefined });
  });

  it('matches only error names that are States errors, service errors, or names a handler throws', () => {
    expect(states.flatMap(([name, state]) => errorNameProblems(name, state, thrown))).toEqual([]);
  });
});

it('lists no Task on the Catch allow-list that is not in a workflow', () => {
  const tasks = new Set(definitions.flatMap(([file, states]) => states.filter(([, s]) => s.Type === 'Task').map(([name]) => `${file}: ${name}`)));
  expect(Object.keys(WITHOUT_CATCH).filter((key) => !tasks.has(key))).toEqual([]);
  for (const reason of Object.values(WITHOUT_CATCH)) expect(reason.trim().length).toBeGreaterThan(20);
});

it('uses every named policy somewhere (a policy no state uses is dead)', () => {
  const used = new Set(definitions.flatMap(([, states]) => states.flatMap(([, s]) => (s.Retry ?? []).map(policyOf))));
  expect(Object.keys(RETRY_POLICIES).filter((name) => !used.has(name as RetryPolicyName))).toEqual([]);
});

it('finds the names the workflows match on among those the handlers throw', () => {
  expect([...thrownErrorNames()]).toEqual(expect.arrayContaining([ERROR_NAMES.fileClaimed, ERROR_NAMES.stateConflict, ERROR_NAMES.archiveInProgress]));
});

describe('the checkers report what they should', () => {
  const lambdaTask = (retry: Retrier[]): AslState => ({ Type: 'Task', Retry: retry, Catch: [{ ErrorEquals: ['States.ALL'], Next: 'x' }] });

  it('passes a Task whose retriers are all named policies', () => {
    expect(retryProblems('ok', lambdaTask([RETRY_POLICIES['lambda-transient'], RETRY_POLICIES['lambda-throttled'], RETRY_POLICIES['any-error']]))).toEqual([]);
  });

  it('reports a retrier that is no named policy, even one attempt off', () => {
    const offByOne = { ...RETRY_POLICIES['lambda-transient'], MaxAttempts: 5 };
    const extraError = { ...RETRY_POLICIES['file-claimed'], ErrorEquals: ['FileClaimed', 'StateConflict'] };
    const noJitter: Retrier = { ErrorEquals: ['Lambda.TooManyRequestsException'], IntervalSeconds: 60, MaxAttempts: 12, BackoffRate: 2, MaxDelaySeconds: 600 };
    const problems = retryProblems('bad', lambdaTask([offByOne, extraError, noJitter]));
    expect(problems).toEqual([
      expect.stringContaining('Retry[0] is no named retry policy') as string,
      expect.stringContaining('Retry[1] is no named retry policy') as string,
      expect.stringContaining('Retry[2] is no named retry policy') as string,
    ]);
  });

  it('reports a Task without Retry, a policy used twice, and States.ALL before another retrier', () => {
    expect(retryProblems('none', { Type: 'Task' })).toEqual(['"none" is a Task without a Retry']);
    expect(retryProblems('twice', lambdaTask([RETRY_POLICIES['file-claimed'], RETRY_POLICIES['file-claimed']]))).toEqual(['"twice" uses file-claimed twice']);
    expect(retryProblems('order', lambdaTask([RETRY_POLICIES['any-error'], RETRY_POLICIES['file-claimed']]))).toEqual([
      '"order" Retry[0] matches States.ALL but is not the last retrier',
    ]);
  });

  it('reports a custom error name no handler throws, and a misspelt States error', () => {
    const state: AslState = {
      Type: 'Task',
      Retry: [{ ErrorEquals: ['FileClaimd', 'Lambda.ServiceException', 'SlowDown'] }],
      Catch: [{ ErrorEquals: ['StateConflict', 'States.Timeot'], Next: 'x' }],
    };
    expect(errorNameProblems('names', state, thrownErrorNames())).toEqual([
      expect.stringContaining('matches FileClaimd, which no handler throws') as string,
      '"names" matches States.Timeot, which is no States error',
    ]);
  });
});
