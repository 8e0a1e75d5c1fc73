// Reads the environment a handler was deployed with, failing with the variable's name when one is missing.
import { parseConfig, type ArchiverConfig } from '../../stacks/config';
import { ENV, type EnvName } from '../../stacks/wiring';

export function requireEnv(name: EnvName): string {
  const value = process.env[name];
  if (!value) throw new Error(`environment variable ${name} is not set; the stack (or the local cloud) sets it for this function`);
  return value;
}

let cachedPolicy: { raw: string; config: ArchiverConfig } | undefined;

/** The tier policy the stack was synthesized with, validated again so a hand-edited variable fails loudly. */
export function tierPolicy(): ArchiverConfig {
  const raw = requireEnv(ENV.tierPolicy);
  if (cachedPolicy?.raw !== raw) cachedPolicy = { raw, config: parseConfig(JSON.parse(raw), `environment variable ${ENV.tierPolicy}`) };
  return cachedPolicy.config;
}
