// The layout's arrows, checked: nothing under functions/ reaches stacks/ or the CDK, and local/ and bin/ stay CDK-free outside bin/app.ts.
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as ts from 'typescript';

const ROOT = path.resolve(__dirname, '..', '..');
const CDK_PACKAGES = ['aws-cdk-lib', 'constructs', 'cdk-nag'];
/** The CDK app itself: the one file outside stacks/ that may build constructs. */
const CDK_APP = 'bin/app.ts';

const rel = (file: string) => path.relative(ROOT, file).split(path.sep).join('/');

/** Every .ts file under a folder of the repository, as a path relative to the root. */
function sources(folder: string): string[] {
  const found: string[] = [];
  const walk = (dir: string) => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(full);
      else if (entry.name.endsWith('.ts')) found.push(rel(full));
    }
  };
  walk(path.join(ROOT, folder));
  return found.sort();
}

/** The module specifiers a source names: import and export … from, import type, side-effect imports, require() and import(). */
function specifiers(text: string): string[] {
  return ts.preProcessFile(text, true, true).importedFiles.map((f) => f.fileName);
}

/** The package a bare specifier names (`@scope/name` or `name`), without its subpath. */
const packageOf = (specifier: string) =>
  specifier
    .split('/')
    .slice(0, specifier.startsWith('@') ? 2 : 1)
    .join('/');

/** A relative specifier resolved as Node and TypeScript resolve it here, to a file relative to the root. */
function resolve(from: string, specifier: string): string {
  const base = path.resolve(ROOT, path.dirname(from), specifier);
  const candidates = [base, `${base}.ts`, `${base}.js`, `${base}.json`, path.join(base, 'index.ts')];
  const found = candidates.find((c) => fs.existsSync(c) && fs.statSync(c).isFile());
  if (!found) throw new Error(`${from}: cannot resolve "${specifier}"`);
  return rel(found);
}

interface Edge {
  from: string;
  specifier: string;
  /** The file a relative specifier resolves to, or the package a bare one names. */
  to: string;
  relative: boolean;
}

const cache = new Map<string, Edge[]>();
function edges(file: string): Edge[] {
  let known = cache.get(file);
  if (!known) {
    known = specifiers(fs.readFileSync(path.join(ROOT, file), 'utf8')).map((specifier) => {
      const relative = specifier.startsWith('.');
      return { from: file, specifier, relative, to: relative ? resolve(file, specifier) : packageOf(specifier) };
    });
    cache.set(file, known);
  }
  return known;
}

/** Every import chain from `start`'s files that ends in a forbidden place, as "a → b → c" lines. */
function reaches(start: string[], forbidden: (edge: Edge) => boolean): string[] {
  const found: string[] = [];
  const seen = new Set<string>();
  const visit = (file: string, chain: string[]) => {
    if (seen.has(file)) return;
    seen.add(file);
    for (const edge of edges(file)) {
      if (forbidden(edge)) found.push([...chain, file, edge.relative ? edge.to : `'${edge.specifier}'`].join(' → '));
      else if (edge.relative && edge.to.endsWith('.ts')) visit(edge.to, [...chain, file]);
    }
  };
  for (const file of start) visit(file, []);
  return found;
}

const isCdk = (edge: Edge) => !edge.relative && CDK_PACKAGES.includes(edge.to);
const inStacks = (edge: Edge) => edge.relative && edge.to.startsWith('stacks/');

describe('import boundaries', () => {
  it('reads every kind of import, and resolves relative ones to files', () => {
    const text = [
      "import type { A } from './a';",
      "import {\n  b,\n  type C,\n} from '../b';",
      "export * from './c';",
      "export { d } from 'aws-cdk-lib/aws-s3';",
      "const e = require('constructs');",
      "const f = import('@aws-sdk/client-s3/dist');",
      "import 'cdk-nag';",
      "// import x from 'only-a-comment';",
      "const glob = '**/*.bam'; // not a comment start",
    ].join('\n');
    expect(specifiers(text)).toEqual(['./a', '../b', './c', 'aws-cdk-lib/aws-s3', 'constructs', '@aws-sdk/client-s3/dist', 'cdk-nag']);
    expect(['aws-cdk-lib/aws-s3', '@aws-sdk/client-s3/dist', 'constructs'].map(packageOf)).toEqual(['aws-cdk-lib', '@aws-sdk/client-s3', 'constructs']);
    expect(resolve('functions/plan-archive.ts', './lib/contract')).toBe('functions/lib/contract/index.ts');
    expect(resolve('bin/commands/plan.ts', '../../functions/lib/s3/uri')).toBe('functions/lib/s3/uri.ts');
    // The scan sees what is there: the stack does import the CDK and the contract.
    expect(reaches(['stacks/run-index.ts'], isCdk).length).toBeGreaterThan(0);
    expect(edges('stacks/run-index.ts').some((e) => e.to === 'functions/lib/contract/index.ts')).toBe(true);
  });

  it('keeps functions/ free of stacks/ and the CDK, directly or through anything it imports', () => {
    const files = sources('functions');
    expect(files.length).toBeGreaterThan(30);
    expect(reaches(files, (edge) => inStacks(edge) || isCdk(edge))).toEqual([]);
  });

  it('keeps local/ and bin/ free of the CDK outside the CDK app, directly or through anything they import', () => {
    const files = [...sources('local'), ...sources('bin')].filter((file) => file !== CDK_APP);
    expect(files).toContain('bin/omics-archiver.ts');
    expect(reaches(files, isCdk)).toEqual([]);
  });
});
