// The CDK app: validates the `omicsArchiver` context and synthesizes the archiver stack (`npx cdk synth`).
import { App } from 'aws-cdk-lib';
import { OmicsRunArchiverStack } from '../stacks/archiver-stack';
import { ConfigError, CONTEXT_KEY, parseConfig } from '../functions/lib/contract';
import { DEFAULT_STACK_NAME } from '../stacks/outputs';

/** Context key for the stack name, e.g. `npx cdk deploy -c stackName=OmicsRunArchiverProd`. */
const STACK_NAME_CONTEXT_KEY = 'stackName';

function main(): void {
  const app = new App();
  try {
    const config = parseConfig(contextValue(app.node.tryGetContext(CONTEXT_KEY)));
    const stackName = String(app.node.tryGetContext(STACK_NAME_CONTEXT_KEY) ?? DEFAULT_STACK_NAME);
    new OmicsRunArchiverStack(app, stackName, {
      config,
      stackName,
      // Unset without credentials: the stack is then environment-agnostic, which is all synth needs.
      env: { account: process.env.CDK_DEFAULT_ACCOUNT, region: process.env.CDK_DEFAULT_REGION },
    });
    app.synth();
  } catch (error) {
    // A configuration mistake is the operator's to fix: say which keys, not where in our code it was noticed.
    if (error instanceof ConfigError) {
      process.stderr.write(`${error.message}\nSee docs/configuration.md.\n`);
      process.exit(1);
    }
    throw error;
  }
}

/** `-c omicsArchiver='{…}'` arrives as a string; cdk.json gives an object. */
function contextValue(raw: unknown): unknown {
  if (typeof raw !== 'string') return raw;
  try {
    return JSON.parse(raw) as unknown;
  } catch (error) {
    throw new ConfigError(`cdk context "${CONTEXT_KEY}"`, [`${CONTEXT_KEY}: given as text that is not JSON (${(error as Error).message})`]);
  }
}

main();
