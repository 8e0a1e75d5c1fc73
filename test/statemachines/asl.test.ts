// Every deployed ASL file: valid JSON, every `${Key}` provided by the stack's substitutions, valid ASL once filled in.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { definitionSubstitutions, LAMBDAS, type LambdaKey, STATE_MACHINES, type StateMachineKey, substitute } from '../../stacks/wiring';
// Error names the handlers surface when a service throttles them (the SDK's own retries spent).
import { THROTTLING_ERRORS } from '../../statemachines/retry-policies';

interface AslValidation {
  isValid: boolean;
  errorsText: (separator?: string) => string;
}
// asl-validator ships no type declarations; this is the shape of its documented JS API.
// eslint-disable-next-line @typescript-eslint/no-require-imports -- asl-validator ships no type declarations to import
const aslValidator = require('asl-validator') as (definition: unknown, options?: { checkPaths?: boolean; checkArn?: boolean }) => AslValidation;

const REPO_ROOT = path.resolve(__dirname, '..', '..');
const ACCOUNT = '123456789012';
const REGION = 'us-east-1';

/** What the stack substitutes into a workflow, with dummy ARNs and names in place of the deploy-time values. */
function substitutionsFor(key: StateMachineKey): Record<string, string> {
  const functionArns: Partial<Record<LambdaKey, string>> = {};
  for (const fn of STATE_MACHINES[key].functions as readonly LambdaKey[]) {
    functionArns[fn] = `arn:aws:lambda:${REGION}:${ACCOUNT}:function:OmicsRunArchiver-${LAMBDAS[fn].id}`;
  }
  return definitionSubstitutions({
    functionArns,
    snapshotBucket: 'omicsrunarchiver-snapshotbucket-1a2b3c4d5e6f',
    runIndexTable: 'OmicsRunArchiver-RunIndexTable-1A2B3C4D5E6F',
    archiveEventsTopicArn: `arn:aws:sns:${REGION}:${ACCOUNT}:OmicsRunArchiver-ArchiveEventsTopic-1A2B3C4D5E6F`,
  });
}

const files = fs
  .readdirSync(path.join(REPO_ROOT, 'statemachines'))
  .filter((name) => name.endsWith('.asl.json'))
  .map((name) => `statemachines/${name}`);

interface Retrier {
  ErrorEquals: string[];
  IntervalSeconds?: number;
  MaxAttempts?: number;
  BackoffRate?: number;
  MaxDelaySeconds?: number;
  JitterStrategy?: string;
}
interface AslState {
  Type: string;
  Resource?: string;
  Retry?: Retrier[];
  ItemProcessor?: { States: Record<string, AslState> };
}

/** Every state of a definition, Map children included, by name. */
function statesOf(states: Record<string, AslState>): [string, AslState][] {
  return Object.entries(states).flatMap(([name, state]) => [
    [name, state] as [string, AslState],
    ...(state.ItemProcessor ? statesOf(state.ItemProcessor.States) : []),
  ]);
}

/** The longest a retrier waits in all, before jitter takes its share: each delay doubles up to MaxDelaySeconds. */
function longestWaitSeconds(retrier: Retrier): number {
  let total = 0;
  let delay = retrier.IntervalSeconds ?? 1;
  for (let attempt = 0; attempt < (retrier.MaxAttempts ?? 3); attempt++) {
    total += Math.min(delay, retrier.MaxDelaySeconds ?? Infinity);
    delay *= retrier.BackoffRate ?? 2;
  }
  return total;
}

const machineOf = (file: string) => (Object.keys(STATE_MACHINES) as StateMachineKey[]).find((key) => STATE_MACHINES[key].definitionFile === file);

it('has a definition file for every state machine the stack deploys', () => {
  for (const machine of Object.values(STATE_MACHINES)) expect(files).toContain(machine.definitionFile);
});

describe.each(files)('%s', (file) => {
  const text = fs.readFileSync(path.join(REPO_ROOT, file), 'utf8');

  it('is deployed by a state machine in wiring', () => {
    expect(machineOf(file)).toBeDefined();
  });

  it('is valid JSON before substitution (placeholders sit inside strings)', () => {
    expect((): unknown => JSON.parse(text)).not.toThrow();
  });

  it('uses only `${Key}`s that the stack provides for this workflow', () => {
    const provided = Object.keys(substitutionsFor(machineOf(file)!));
    const used = [...new Set([...text.matchAll(/\$\{([A-Za-z0-9_]+)\}/g)].map((match) => match[1]))];
    expect(used.length).toBeGreaterThan(0);
    expect(used.filter((key) => !provided.includes(key))).toEqual([]);
  });

  const lambdaTasks = statesOf((JSON.parse(text) as { States: Record<string, AslState> }).States).filter(
    ([, state]) => state.Type === 'Task' && state.Resource?.startsWith('arn:aws:states:::lambda:invoke'),
  );

  it.each(lambdaTasks.map(([name]) => name))(
    '"%s" backs off for minutes, about an hour in all, when Lambda or a service throttles (a backfill slows down, files do not fail)',
    (name) => {
      const retry = lambdaTasks.find(([n]) => n === name)![1].Retry ?? [];
      const first = (error: string) => retry.findIndex((r) => r.ErrorEquals.includes(error) || r.ErrorEquals.includes('States.ALL'));
      for (const error of ['Lambda.TooManyRequestsException', ...THROTTLING_ERRORS]) {
        // Step Functions uses the first retrier that matches: it must be the long one, not a States.ALL after it.
        const retrier = retry[first(error)];
        expect([error, retrier?.ErrorEquals.includes(error)]).toEqual([error, true]);
        expect(retrier.IntervalSeconds).toBeGreaterThanOrEqual(60);
        expect(retrier.BackoffRate).toBe(2);
        expect(retrier.JitterStrategy).toBe('FULL');
        expect(retrier.MaxDelaySeconds).toBeGreaterThanOrEqual(retrier.IntervalSeconds!);
        // Full jitter waits half the computed delay on average: twice an hour makes about an hour.
        expect(longestWaitSeconds(retrier)).toBeGreaterThanOrEqual(3600);
      }
      // Lambda's own transient errors keep a short retry of their own, separate from throttling.
      const service = retry[first('Lambda.ServiceException')];
      expect(service.ErrorEquals.includes('Lambda.TooManyRequestsException')).toBe(false);
      if (!service.ErrorEquals.includes('States.ALL'))
        expect(service.ErrorEquals).toEqual(['Lambda.ServiceException', 'Lambda.AWSLambdaException', 'Lambda.SdkClientException']);
      // States.ALL, where present, is the last retrier (Step Functions requires it).
      const all = retry.findIndex((r) => r.ErrorEquals.includes('States.ALL'));
      if (all >= 0) expect(all).toBe(retry.length - 1);
    },
  );

  it('passes asl-validator once substituted', () => {
    const definition = JSON.parse(substitute(text, substitutionsFor(machineOf(file)!))) as unknown;
    const result = aslValidator(definition, { checkPaths: true, checkArn: true });
    if (!result.isValid) throw new Error(`${file} is not valid ASL:\n${result.errorsText('\n')}`);
    expect(result.isValid).toBe(true);
  });
});
