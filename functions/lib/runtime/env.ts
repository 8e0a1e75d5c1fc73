// Reads the environment a handler was deployed with, failing with the variable's name when one is missing.
import { parseConfig, type ArchiverConfig } from '../contract';
import { ENV, type EnvName } from '../contract';

export function requireEnv(name: EnvName): string {
  const value = process.env[name];
  if (!value) throw new Error(`environment variable ${name} is not set; the stack (or the local cloud) sets it for this function`);
  return value;
}

let cachedPolicy: { raw: string; config: ArchiverConfig } | undefined;

/**
 * The tier policy the stack was synthesized with, validated again so a hand-edited value fails loudly. Deployed, it
 * is baked into the bundle (esbuild `define` replaces this very expression, `process.env.TIER_POLICY`), because a
 * policy of a few tiers outgrows Lambda's 4 KB of environment; locally and in tests it is an ordinary variable.
 */
export function tierPolicy(): ArchiverConfig {
  const raw = process.env.TIER_POLICY;
  if (!raw) throw new Error(`the tier policy (${ENV.tierPolicy}) is not set; the stack bakes it into the bundle, the local cloud sets the variable`);
  if (cachedPolicy?.raw !== raw) cachedPolicy = { raw, config: parseConfig(JSON.parse(raw), `environment variable ${ENV.tierPolicy}`) };
  return cachedPolicy.config;
}
