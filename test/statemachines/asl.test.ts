// Every deployed ASL file: valid JSON, every `${Key}` provided by the stack's substitutions, valid ASL once filled in.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { definitionSubstitutions, LAMBDAS, type LambdaKey, STATE_MACHINES, type StateMachineKey, substitute } from '../../stacks/wiring';

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

  it('passes asl-validator once substituted', () => {
    const definition = JSON.parse(substitute(text, substitutionsFor(machineOf(file)!))) as unknown;
    const result = aslValidator(definition, { checkPaths: true, checkArn: true });
    if (!result.isValid) throw new Error(`${file} is not valid ASL:\n${result.errorsText('\n')}`);
    expect(result.isValid).toBe(true);
  });
});
