import { createHash } from 'node:crypto';
import { execFile, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { promisify } from 'node:util';
import type Dockerode from 'dockerode';
import tar from 'tar-stream';
import { SearchAttributeType } from '@temporalio/common';
import { ALL_SEARCH_ATTRIBUTES } from '../domain/search-attributes';
import { resolveTemporalCli } from './temporal-server';

/**
 * The images of docker-compose.yml, built with no registry: Debian rootfs tarballs made by mmdebstrap from the Debian
 * archive and `docker import`ed, then the project's Dockerfiles on them, each with a build context assembled here
 * from this clone, ~/.cache/zansoc (Zansoc's Temporal server build) and node_modules. Every image is labelled with
 * the hash of its inputs and skipped when an image with that label is there already.
 */
export const STACK_IMAGES = {
  debian: 'zansoc/debian:bookworm',
  node: 'zansoc/node:20',
  app: 'zansoc/app:latest',
  hostWorker: 'zansoc/host-worker:latest',
  temporal: 'zansoc/temporal:1.29.1',
  postgres: 'zansoc/postgres:15',
  prometheus: 'zansoc/prometheus:bookworm',
  chain: 'zansoc/anvil:latest',
} as const;

const ROOT = path.join(__dirname, '..');
const INPUTS_LABEL = 'zansoc.inputs-sha256';
const SUITE = 'bookworm';
const MMDEBSTRAP_ARGS = [
  '--variant=minbase', '--format=tar', '--aptopt=APT::Install-Recommends "false"',
  '--dpkgopt=path-exclude=/usr/share/doc/*', '--dpkgopt=path-exclude=/usr/share/man/*', '--dpkgopt=path-exclude=/usr/share/locale/*',
];
/** The Debian rootfs images: minbase, plus the packages a service runs. */
const ROOTFS = {
  [STACK_IMAGES.debian]: [],
  'zansoc/debian-postgresql:bookworm': ['postgresql-15'],
  'zansoc/debian-prometheus:bookworm': ['prometheus'],
} as Record<string, string[]>;

const run = promisify(execFile);
const sha256 = (data: string | Buffer) => createHash('sha256').update(data).digest('hex');

export function zansocCache(): string {
  return process.env.ZANSOC_CACHE ?? path.join(process.env.XDG_CACHE_HOME ?? path.join(os.homedir(), '.cache'), 'zansoc');
}

export interface BuiltImage { tag: string; id: string; built: boolean; seconds: number }

/** Builds every image of the stack that is missing or out of date, in dependency order, and says what it did. */
export async function buildStackImages(docker: Dockerode, log: (line: string) => void = () => {}): Promise<BuiltImage[]> {
  const done: BuiltImage[] = [];
  const step = async (tag: string, build: () => Promise<{ id: string; built: boolean }>) => {
    const start = Date.now();
    const result = await build();
    const seconds = Math.round((Date.now() - start) / 100) / 10;
    done.push({ tag, ...result, seconds });
    log(`${tag}: ${result.built ? `built in ${seconds} s` : 'up to date'}`);
  };
  for (const [tag, include] of Object.entries(ROOTFS)) await step(tag, () => importRootfs(docker, tag, include));
  await step(STACK_IMAGES.node, () => buildDockerfile(docker, STACK_IMAGES.node, 'deploy/images/node/Dockerfile', { node: process.execPath }));
  await step(STACK_IMAGES.app, () => buildDockerfile(docker, STACK_IMAGES.app, 'Dockerfile', {}, { modules: ['solc'] }));
  await step(STACK_IMAGES.hostWorker, () => buildDockerfile(docker, STACK_IMAGES.hostWorker, 'host-worker/Dockerfile', {}, { modules: [] }));
  await step(STACK_IMAGES.chain, () => buildDockerfile(docker, STACK_IMAGES.chain, 'deploy/images/anvil/Dockerfile', { anvil: anvilBinary() }));
  await step(STACK_IMAGES.postgres, () => buildDockerfile(docker, STACK_IMAGES.postgres, 'deploy/images/postgres/Dockerfile', {
    'entrypoint.sh': path.join(ROOT, 'deploy/images/postgres/entrypoint.sh'),
  }));
  await step(STACK_IMAGES.prometheus, () => buildDockerfile(docker, STACK_IMAGES.prometheus, 'deploy/images/prometheus/Dockerfile', {}));
  await step(STACK_IMAGES.temporal, () => buildDockerfile(docker, STACK_IMAGES.temporal, 'deploy/images/temporal/Dockerfile', temporalSources()));
  return done;
}

/**
 * Imports a Debian rootfs made by mmdebstrap unless an image of the same inputs exists. The tarball is cached in
 * ~/.cache/zansoc/rootfs (made again when it is not there), so a pruned Docker engine imports without downloading.
 */
async function importRootfs(docker: Dockerode, tag: string, include: string[]): Promise<{ id: string; built: boolean }> {
  const args = [...MMDEBSTRAP_ARGS, ...(include.length ? [`--include=${include.join(',')}`] : []), SUITE];
  const key = sha256(JSON.stringify({ args, arch: process.arch }));
  const existing = await inspectImage(docker, tag);
  if (existing?.Config?.Labels?.[INPUTS_LABEL] === key) return { id: existing.Id, built: false };

  const dir = path.join(zansocCache(), 'rootfs');
  const name = tag.replace(/[/:]/g, '_');
  const tarball = path.join(dir, `${name}-${key.slice(0, 16)}.tar`);
  if (!fs.existsSync(tarball)) {
    fs.mkdirSync(dir, { recursive: true });
    for (const old of fs.readdirSync(dir).filter((f) => f.startsWith(`${name}-`))) fs.rmSync(path.join(dir, old), { force: true });
    const partial = `${tarball}.partial`;
    try {
      await run('mmdebstrap', ['--quiet', ...args, partial], { maxBuffer: 64 * 1024 * 1024 });
    } catch (error) {
      fs.rmSync(partial, { force: true });
      const err = error as NodeJS.ErrnoException & { stderr?: string };
      if (err.code === 'ENOENT') throw new Error('mmdebstrap is missing: the stack images are built from a Debian rootfs (apt-get install mmdebstrap, or scripts/setup)', { cause: error });
      throw new Error(`mmdebstrap ${args.join(' ')} failed:\n${err.stderr ?? err.message}`, { cause: error });
    }
    fs.renameSync(partial, tarball);
  }
  await run('docker', ['import', '--change', `LABEL ${INPUTS_LABEL}=${key}`, '--change', 'CMD ["/bin/bash"]', tarball, tag]);
  const imported = await inspectImage(docker, tag);
  if (!imported) throw new Error(`docker import of ${tarball} finished but ${tag} is not there`);
  return { id: imported.Id, built: true };
}

/** A file or folder the context takes from outside the Dockerfile's own COPY sources (context path → host path). */
type Sources = Record<string, string | Buffer>;
interface DockerfileOptions {
  /**
   * `COPY node_modules` gets the packages of package-lock.json the production dependencies need, plus these
   * packages and what they need. Without it node_modules cannot be copied.
   */
  modules?: string[];
}

/**
 * Builds `dockerfile` with a context of what its COPY lines name (from this clone, or `sources` where given) unless
 * an image built from the same inputs (context, Dockerfile, base image) exists. Tests (`*.test.ts`) stay out.
 */
async function buildDockerfile(
  docker: Dockerode, tag: string, dockerfile: string, sources: Sources, opts: DockerfileOptions = {},
): Promise<{ id: string; built: boolean }> {
  const text = fs.readFileSync(path.join(ROOT, dockerfile), 'utf8');
  const base = /^FROM\s+(\S+)/m.exec(text)?.[1];
  const baseImage = base ? await inspectImage(docker, base) : undefined;
  if (!baseImage) throw new Error(`${dockerfile} is built FROM ${base}, which is not there: build the stack's images in order (buildStackImages)`);

  const entries: ContextEntry[] = [{ name: 'Dockerfile', mode: 0o644, content: Buffer.from(text) }];
  for (const src of copySources(text)) {
    if (src === 'node_modules') {
      if (!opts.modules) throw new Error(`${dockerfile} copies node_modules, but ${tag} names no modules to take`);
      entries.push(...nodeModules(opts.modules));
    } else {
      const source = sources[src] ?? path.join(ROOT, src);
      entries.push(...(Buffer.isBuffer(source) ? [{ name: src, mode: 0o644, content: source }] : walk(source, src)));
    }
  }
  const hash = createHash('sha256').update(baseImage.Id);
  for (const entry of entries) hash.update(`${entry.name}\0${entry.mode}\0${entry.linkname ?? ''}\0${entry.type ?? 'file'}\0`).update(contentHash(entry));
  const key = hash.digest('hex');
  const existing = await inspectImage(docker, tag);
  if (existing?.Config?.Labels?.[INPUTS_LABEL] === key) return { id: existing.Id, built: false };

  const stream = await docker.buildImage(packContext(entries), {
    t: tag, networkmode: 'none', labels: { [INPUTS_LABEL]: key }, rm: true, forcerm: true,
  });
  await followBuild(tag, stream);
  const built = await inspectImage(docker, tag);
  if (!built) throw new Error(`the build of ${tag} finished but the image is not there`);
  return { id: built.Id, built: true };
}

/** The sources of the Dockerfile's COPY lines (not `COPY --from`), as context paths. */
function copySources(dockerfile: string): string[] {
  const sources = dockerfile.split('\n')
    .filter((line) => /^COPY\s/i.test(line) && !/--from/i.test(line))
    .flatMap((line) => line.trim().split(/\s+/).slice(1, -1))
    .map((src) => src.replace(/^\.\//, '').replace(/\/$/, ''));
  return [...new Set(sources)];
}

interface ContextEntry {
  name: string;
  mode: number;
  type?: 'directory' | 'symlink';
  linkname?: string;
  /** A file's content, or where to read it. */
  content?: Buffer;
  file?: string;
  size?: number;
}

const contentHashes = new Map<string, string>();
function contentHash(entry: ContextEntry): string {
  if (entry.content) return sha256(entry.content);
  if (!entry.file) return '';
  const stat = fs.statSync(entry.file);
  const cacheKey = `${entry.file}\0${stat.size}\0${stat.mtimeMs}`;
  let hash = contentHashes.get(cacheKey);
  if (!hash) contentHashes.set(cacheKey, (hash = sha256(fs.readFileSync(entry.file))));
  return hash;
}

/** A file or folder (recursively, symlinks kept as they are, a symlinked root followed) as context entries under `name`. */
function walk(source: string, name: string): ContextEntry[] {
  if (!fs.existsSync(source)) throw new Error(`the build context needs ${source}, which is missing`);
  const real = fs.realpathSync(source);
  const entries: ContextEntry[] = [];
  const visit = (file: string, entryName: string) => {
    const stat = fs.lstatSync(file);
    if (stat.isSymbolicLink()) {
      entries.push({ name: entryName, mode: 0o777, type: 'symlink', linkname: fs.readlinkSync(file) });
    } else if (stat.isDirectory()) {
      entries.push({ name: entryName, mode: stat.mode & 0o777, type: 'directory' });
      for (const child of fs.readdirSync(file).sort()) {
        if (/\.test\.ts$/.test(child)) continue;
        visit(path.join(file, child), `${entryName}/${child}`);
      }
    } else if (stat.isFile()) {
      entries.push({ name: entryName, mode: stat.mode & 0o777, file, size: stat.size });
    }
  };
  visit(real, name);
  return entries;
}

interface LockedPackage { dev?: boolean; dependencies?: Record<string, string>; optionalDependencies?: Record<string, string>; peerDependencies?: Record<string, string> }

/**
 * The folders of node_modules that the production dependencies need, plus `extra` packages, resolved through
 * node_modules/.package-lock.json as Node resolves them (nested first, then up the tree).
 */
function nodeModules(extra: string[]): ContextEntry[] {
  const lock = JSON.parse(fs.readFileSync(path.join(ROOT, 'node_modules/.package-lock.json'), 'utf8')) as { packages: Record<string, LockedPackage> };
  const manifest = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
  const resolveFrom = (from: string, name: string): string | undefined => {
    for (let dir = from; ; dir = dir.slice(0, Math.max(0, dir.lastIndexOf('/node_modules/')))) {
      const candidate = `${dir ? `${dir}/` : ''}node_modules/${name}`;
      if (lock.packages[candidate]) return candidate;
      if (!dir) return undefined;
    }
  };
  const needed = new Set<string>();
  const pending = [...Object.keys(manifest.dependencies), ...extra].map((name) => ({ from: '', name, optional: false }));
  while (pending.length) {
    const { from, name, optional } = pending.pop()!;
    const at = resolveFrom(from, name);
    if (!at) {
      if (optional) continue;
      throw new Error(`node_modules lacks ${name} (needed by ${from || 'package.json'}): run npm ci`);
    }
    if (needed.has(at)) continue;
    needed.add(at);
    const pkg = lock.packages[at];
    for (const dep of Object.keys(pkg.dependencies ?? {})) pending.push({ from: at, name: dep, optional: false });
    for (const dep of [...Object.keys(pkg.optionalDependencies ?? {}), ...Object.keys(pkg.peerDependencies ?? {})]) {
      pending.push({ from: at, name: dep, optional: true });
    }
  }
  // Optional dependencies of another platform are in the lock file but were never installed.
  const present = [...needed].filter((at) => fs.existsSync(path.join(ROOT, at))).sort();
  const entries: ContextEntry[] = [{ name: 'node_modules', mode: 0o755, type: 'directory' }];
  const dirs = new Set(['node_modules']);
  for (const at of present) {
    // Parent folders of scoped and nested packages come first, once.
    const parts = at.split('/');
    for (let i = 2; i < parts.length; i++) {
      const parent = parts.slice(0, i).join('/');
      if (!dirs.has(parent)) {
        dirs.add(parent);
        entries.push({ name: parent, mode: 0o755, type: 'directory' });
      }
    }
    dirs.add(at);
    // A nested package's folder is walked with its parent's: take only what is not under another taken package.
    entries.push(...walk(path.join(ROOT, at), at).filter((e) => {
      const nested = e.name.slice(at.length).indexOf('/node_modules/');
      return nested < 0;
    }));
  }
  return entries;
}

/** The entries as a tar stream, files read as they are written, with fixed times and owners. */
function packContext(entries: ContextEntry[]): Readable {
  const pack = tar.pack();
  const fixed = { mtime: new Date(0), uid: 0, gid: 0 };
  void (async () => {
    try {
      for (const entry of entries) {
        if (entry.type) {
          pack.entry({ ...fixed, name: entry.name, mode: entry.mode, type: entry.type, linkname: entry.linkname });
        } else if (entry.content) {
          pack.entry({ ...fixed, name: entry.name, mode: entry.mode }, entry.content);
        } else {
          const data = fs.readFileSync(entry.file!);
          await new Promise<void>((resolve, reject) => pack.entry({ ...fixed, name: entry.name, mode: entry.mode, size: data.length }, data, (err) => (err ? reject(err) : resolve())));
        }
      }
      pack.finalize();
    } catch (error) {
      pack.destroy(error as Error);
    }
  })();
  return Readable.from(pack);
}

/** The Temporal image's context: Zansoc's server build, temporal-sql-tool, the CLI, and the module's schemas. */
function temporalSources(): Sources {
  const installed = (flag: string) => execFileSync(path.join(ROOT, 'scripts/install-temporal'), [flag], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }).trim().split('\n').pop()!;
  const moduleDir = execFileSync('go', ['list', '-m', '-f', '{{.Dir}}', 'go.temporal.io/server'], {
    cwd: path.join(ROOT, 'temporal-server'), encoding: 'utf8', env: { ...process.env, GOFLAGS: '-mod=mod -buildvcs=false' },
  }).trim();
  const cliType: Record<string, string> = { [SearchAttributeType.KEYWORD]: 'Keyword', [SearchAttributeType.KEYWORD_LIST]: 'KeywordList' };
  return {
    'bin/zansoc-temporal-server': installed('--server'),
    'bin/temporal-sql-tool': installed('--sql-tool'),
    'bin/temporal': resolveTemporalCli(),
    schema: path.join(moduleDir, 'schema/postgresql/v12'),
    'search-attributes': Buffer.from(ALL_SEARCH_ATTRIBUTES.map((key) => `${key.name} ${cliType[key.type]}\n`).join('')),
    'entrypoint.sh': path.join(ROOT, 'deploy/images/temporal/entrypoint.sh'),
    'setup.sh': path.join(ROOT, 'deploy/images/temporal/setup.sh'),
    'cli.sh': path.join(ROOT, 'deploy/images/temporal/cli.sh'),
  };
}

function anvilBinary(): string {
  return path.join(path.dirname(require.resolve(`@foundry-rs/anvil-linux-${process.arch === 'x64' ? 'amd64' : process.arch}/package.json`)), 'bin', 'anvil');
}

/** The image `reference`, or undefined when the engine has none. */
export async function inspectImage(docker: Dockerode, reference: string): Promise<Dockerode.ImageInspectInfo | undefined> {
  try {
    return await docker.getImage(reference).inspect();
  } catch (error) {
    if ((error as { statusCode?: number }).statusCode === 404) return undefined;
    throw error;
  }
}

/** The build API answers 200 and reports failures inside the stream, so the stream has to be read to know. */
async function followBuild(tag: string, stream: NodeJS.ReadableStream): Promise<void> {
  let text = '';
  for await (const chunk of stream) text += chunk.toString();
  const events = text.split('\n').filter((line) => line.trim()).map((line) => JSON.parse(line) as { stream?: string; error?: string });
  const failure = events.find((event) => event.error);
  if (failure) throw new Error(`building ${tag} failed: ${failure.error}\n${events.map((event) => event.stream ?? '').join('')}`);
}
