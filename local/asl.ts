// Checks a state machine definition with asl-validator before moto sees it: moto answers a definition it cannot parse
// with `__type: null`, which the JS SDK turns into an unhelpful TypeError.

// asl-validator ships no type declarations; this is the part of its API used here.
// eslint-disable-next-line @typescript-eslint/no-require-imports -- asl-validator ships no type declarations to import
const aslValidator = require('asl-validator') as (
  definition: unknown,
  options?: { checkPaths?: boolean; checkArn?: boolean },
) => { isValid: boolean; errors: { 'Error code': string; Message: string }[]; errorsText: (separator?: string) => string };

export class InvalidDefinitionError extends Error {
  constructor(file: string, detail: string) {
    super(`${file} is not a valid state machine definition:\n${detail}`);
    this.name = 'InvalidDefinitionError';
  }
}

/** Throws InvalidDefinitionError listing every problem asl-validator finds in the (substituted) definition. */
export function validateDefinition(file: string, definition: string): void {
  let parsed: unknown;
  try {
    parsed = JSON.parse(definition);
  } catch (error) {
    throw new InvalidDefinitionError(file, `not JSON: ${(error as Error).message}`);
  }
  // The validator annotates the object it is given; hand it a copy.
  const result = aslValidator(structuredClone(parsed), { checkPaths: true, checkArn: true });
  if (!result.isValid) throw new InvalidDefinitionError(file, result.errorsText('\n'));
}
