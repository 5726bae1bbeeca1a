import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { JsonFragment } from 'ethers';
import solc from 'solc';

/** What deploying or talking to one contract needs. */
export interface Artifact {
  abi: JsonFragment[];
  bytecode: string;
}

/** Artifacts by contract name, e.g. `artifacts.JobEscrow`. */
export type Artifacts = Record<string, Artifact>;

const SOURCES_DIR = path.join(__dirname, 'src');
const BUILD_DIR = path.join(__dirname, 'build');
const MANIFEST_FILE = path.join(BUILD_DIR, 'manifest.json');

const SETTINGS = {
  optimizer: { enabled: true, runs: 200 },
  // Pinned rather than solc's default, so a newer solc cannot start emitting opcodes an L2 we deploy to lacks.
  evmVersion: 'cancun',
  outputSelection: { '*': { '*': ['abi', 'evm.bytecode.object'] } },
};

interface Manifest {
  hash: string;
  contracts: string[];
}

interface SolcOutput {
  errors?: { severity: 'error' | 'warning' | 'info'; message: string; formattedMessage?: string; sourceLocation?: { file: string } }[];
  contracts?: Record<string, Record<string, { abi: JsonFragment[]; evm: { bytecode: { object: string } } }>>;
}

type ImportResult = { contents: string } | { error: string };

// solc-js ships its API typed as `any`; these are the two calls used here.
const compileStandardJson = solc.compile as (input: string, callbacks: { import: (p: string) => ImportResult }) => string;
const solcVersion = solc.version as () => string;

/**
 * Compiles every contracts/src/*.sol into contracts/build/<Name>.json, or loads what is there when neither the sources,
 * the compiler, OpenZeppelin nor the settings changed since the last build.
 */
export async function buildContracts(): Promise<Artifacts> {
  return (await build()).artifacts;
}

/** The artifact of `name`, with an error that says which contracts exist when it is missing. */
export function artifactOf(artifacts: Artifacts, name: string): Artifact {
  const artifact = artifacts[name];
  if (!artifact) throw new Error(`no contract ${name} in contracts/src/ (built: ${Object.keys(artifacts).join(', ')})`);
  return artifact;
}

async function build(): Promise<{ artifacts: Artifacts; compiled: boolean }> {
  const sources = readSources();
  const hash = buildHash(sources);
  const cached = loadCached(hash);
  if (cached) return { artifacts: cached, compiled: false };

  const artifacts = compile(sources);
  mkdirSync(BUILD_DIR, { recursive: true });
  for (const [name, artifact] of Object.entries(artifacts)) {
    writeAtomically(path.join(BUILD_DIR, `${name}.json`), JSON.stringify(artifact, null, 2));
  }
  // Written last: a build interrupted before this point is redone next time.
  const manifest: Manifest = { hash, contracts: Object.keys(artifacts) };
  writeAtomically(MANIFEST_FILE, JSON.stringify(manifest, null, 2));
  return { artifacts, compiled: true };
}

function readSources(): Record<string, { content: string }> {
  const files = readdirSync(SOURCES_DIR).filter((f) => f.endsWith('.sol')).sort();
  if (files.length === 0) throw new Error(`no .sol files in ${SOURCES_DIR}`);
  return Object.fromEntries(
    files.map((f) => [`contracts/src/${f}`, { content: readFileSync(path.join(SOURCES_DIR, f), 'utf8') }]),
  );
}

function buildHash(sources: Record<string, { content: string }>): string {
  const openzeppelin = (JSON.parse(readFileSync(require.resolve('@openzeppelin/contracts/package.json'), 'utf8')) as { version: string }).version;
  return createHash('sha256')
    .update(JSON.stringify({ solc: solcVersion(), openzeppelin, settings: SETTINGS, sources }))
    .digest('hex');
}

function loadCached(hash: string): Artifacts | null {
  try {
    const manifest = JSON.parse(readFileSync(MANIFEST_FILE, 'utf8')) as Manifest;
    if (manifest.hash !== hash) return null;
    return Object.fromEntries(
      manifest.contracts.map((name) => [name, JSON.parse(readFileSync(path.join(BUILD_DIR, `${name}.json`), 'utf8')) as Artifact]),
    );
  } catch {
    return null; // no build yet, or a partial one: compile again
  }
}

function compile(sources: Record<string, { content: string }>): Artifacts {
  const input = { language: 'Solidity', sources, settings: SETTINGS };
  const output = JSON.parse(compileStandardJson(JSON.stringify(input), { import: resolveImport })) as SolcOutput;

  const diagnostics = output.errors ?? [];
  const errors = diagnostics.filter((d) => d.severity === 'error');
  // Warnings about OpenZeppelin's own sources (e.g. that its transient reentrancy guard uses tstore) are not ours to fix.
  const ours = diagnostics.filter((d) => d.severity !== 'error' && !d.sourceLocation?.file.startsWith('@openzeppelin/'));
  for (const warning of ours) console.warn(warning.formattedMessage ?? warning.message);
  if (errors.length > 0) {
    throw new Error(`solc ${solcVersion()} failed with ${errors.length} error(s):\n\n${errors.map((e) => e.formattedMessage ?? e.message).join('\n')}`);
  }

  const artifacts: Artifacts = {};
  for (const source of Object.keys(sources)) {
    for (const [name, contract] of Object.entries(output.contracts?.[source] ?? {})) {
      if (!contract.evm.bytecode.object) continue; // abstract: nothing to deploy or connect to
      if (artifacts[name]) throw new Error(`two contracts are named ${name}; names must be unique across contracts/src/`);
      artifacts[name] = { abi: contract.abi, bytecode: `0x${contract.evm.bytecode.object}` };
    }
  }
  return artifacts;
}

/** Imports that are not one of our sources come from node_modules, e.g. `@openzeppelin/contracts/...`. */
function resolveImport(importPath: string): ImportResult {
  try {
    return { contents: readFileSync(require.resolve(importPath), 'utf8') };
  } catch {
    return { error: `cannot resolve import "${importPath}" from node_modules` };
  }
}

/** Several test files build at once; a reader must never see a half-written artifact. */
function writeAtomically(file: string, content: string): void {
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, `${content}\n`);
  renameSync(tmp, file);
}

if (require.main === module) {
  build().then(
    ({ artifacts, compiled }) => {
      const names = Object.keys(artifacts).join(', ');
      console.log(compiled ? `compiled ${names} into ${BUILD_DIR}` : `${names} up to date in ${BUILD_DIR}`);
    },
    (err: unknown) => {
      console.error(err instanceof Error ? err.message : err);
      process.exitCode = 1;
    },
  );
}
