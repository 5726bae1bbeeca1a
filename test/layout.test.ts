import { builtinModules } from 'node:module';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import ts from 'typescript';

/**
 * The folders are the architecture: dependencies point down. Production code never imports the tooling (scripts/,
 * bench/, test/), workflows take only types from the processes that run activities, and the host-worker image holds
 * every module the host process loads.
 */
const ROOT = resolve(__dirname, '..');
const PRODUCTION = ['activities', 'api', 'cli', 'contracts', 'db', 'domain', 'host-worker', 'orchestrator', 'workflows', 'dashboards', 'metrics', 'runtime'];
const TOOLING = ['scripts', 'bench', 'test'];
/** What a workflow may take values from: everything else it imports must be `import type`, or it lands in the bundle. */
const WORKFLOW_VALUE_SOURCES = ['workflows', 'domain'];

interface Import {
  specifier: string;
  /** Erased at compile time (`import type`, `export type`, `typeof import(…)`): loads nothing at run time. */
  typeOnly: boolean;
}

function importsOf(file: string): Import[] {
  const source = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, true);
  const found: Import[] = [];
  const visit = (node: ts.Node): void => {
    if (ts.isImportDeclaration(node) && ts.isStringLiteral(node.moduleSpecifier)) {
      const clause = node.importClause;
      const bindings = clause?.namedBindings;
      const onlyTypeSpecifiers = !!clause && !clause.name && !!bindings && ts.isNamedImports(bindings) &&
        bindings.elements.length > 0 && bindings.elements.every((e) => e.isTypeOnly);
      found.push({ specifier: node.moduleSpecifier.text, typeOnly: !!clause?.isTypeOnly || onlyTypeSpecifiers });
    } else if (ts.isExportDeclaration(node) && node.moduleSpecifier && ts.isStringLiteral(node.moduleSpecifier)) {
      found.push({ specifier: node.moduleSpecifier.text, typeOnly: node.isTypeOnly });
    } else if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument) && ts.isStringLiteral(node.argument.literal)) {
      found.push({ specifier: node.argument.literal.text, typeOnly: true });
    } else if (ts.isCallExpression(node) && node.arguments.length === 1 && ts.isStringLiteral(node.arguments[0]) &&
      (node.expression.kind === ts.SyntaxKind.ImportKeyword || (ts.isIdentifier(node.expression) && node.expression.text === 'require'))) {
      found.push({ specifier: node.arguments[0].text, typeOnly: false });
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found;
}

const isFile = (path: string) => existsSync(path) && statSync(path).isFile();

/**
 * The repository path a relative import names (as Node and tsx resolve it), or null for a package. A path not built
 * yet (generated/) stays as written: its folder is all the checks look at.
 */
function resolveLocal(from: string, specifier: string): string | null {
  if (!specifier.startsWith('.')) return null;
  const base = resolve(dirname(from), specifier);
  const hit = [base, `${base}.ts`, `${base}.js`, `${base}.json`, join(base, 'index.ts'), join(base, 'index.js')].find(isFile) ?? base;
  return relative(ROOT, hit).split(sep).join('/');
}

function sourceFiles(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return entry.name === 'node_modules' ? [] : sourceFiles(path);
    return /\.[cm]?[jt]s$/.test(entry.name) && !entry.name.endsWith('.d.ts') ? [path] : [];
  });
}

const topFolder = (path: string) => path.split('/')[0];

/** Every file and package `entry` loads at run time, following value imports only. */
function runtimeClosure(entry: string): { files: Set<string>; packages: Set<string> } {
  const files = new Set<string>();
  const packages = new Set<string>();
  const pending = [entry];
  while (pending.length) {
    const file = pending.pop()!;
    if (files.has(file)) continue;
    files.add(file);
    if (!/\.[cm]?[jt]s$/.test(file) || !isFile(join(ROOT, file))) continue;
    for (const { specifier, typeOnly } of importsOf(join(ROOT, file))) {
      if (typeOnly) continue;
      const local = resolveLocal(join(ROOT, file), specifier);
      if (local) pending.push(local);
      else packages.add(specifier.startsWith('@') ? specifier.split('/').slice(0, 2).join('/') : specifier.split('/')[0]);
    }
  }
  return { files, packages };
}

describe('the layout', () => {
  it('production code imports nothing from scripts/, bench/ or test/', () => {
    const offending = PRODUCTION.flatMap((folder) => sourceFiles(join(ROOT, folder)).flatMap((file) =>
      importsOf(file).flatMap(({ specifier }) => {
        const target = resolveLocal(file, specifier);
        return target && TOOLING.includes(topFolder(target)) ? [`${relative(ROOT, file)} imports ${target}`] : [];
      })));
    expect(offending).toEqual([]);
  });

  it('workflows take values only from workflows/ and domain/, and only types from the processes that run activities', () => {
    const offending = sourceFiles(join(ROOT, 'workflows')).flatMap((file) =>
      importsOf(file).flatMap(({ specifier, typeOnly }) => {
        const target = resolveLocal(file, specifier);
        return target && !typeOnly && !WORKFLOW_VALUE_SOURCES.includes(topFolder(target)) ? [`${relative(ROOT, file)} imports ${target}`] : [];
      }));
    expect(offending).toEqual([]);
  });

  describe('host-worker/Dockerfile', () => {
    const { files, packages } = runtimeClosure('host-worker/main.ts');

    it('copies every module the host process loads', () => {
      const copied = readFileSync(join(ROOT, 'host-worker/Dockerfile'), 'utf8').split('\n')
        .filter((line) => /^COPY\s/i.test(line) && !/--from/i.test(line))
        .flatMap((line) => line.trim().split(/\s+/).slice(1, -1))
        .map((src) => src.replace(/^\.\//, '').replace(/\/$/, ''));
      const missing = [...files].filter((file) => !copied.some((src) => file === src || file.startsWith(`${src}/`)));
      expect(missing).toEqual([]);
    });

    it('needs no package the image leaves out (it installs production dependencies only)', () => {
      const { dependencies } = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
      const builtins = new Set(builtinModules);
      const missing = [...packages].filter((p) => !p.startsWith('node:') && !builtins.has(p) && !(p in dependencies));
      expect(missing).toEqual([]);
    });
  });
});
