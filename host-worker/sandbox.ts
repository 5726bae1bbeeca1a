import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import type Dockerode from 'dockerode';
import tar from 'tar-stream';
import { ZansocErrorType } from '../domain/errors';
import { resultDigestInput, type SlotExecution, type SlotResult } from '../domain/execution';
import { advertisesImage, parseImageReference } from '../domain/images';
import { createSlotDisk, prepareWorkDir, releaseSlotDisk, remountSlotDisk, SANDBOX_GID, SANDBOX_UID, slotDiskBytes, slotFolders } from './slot-disk';

/** Labels every job container carries, so a host can find the containers it owns after a restart. */
export const LABEL_EXECUTION = 'zansoc.execution';
export const LABEL_HOST = 'zansoc.host';
export const LABEL_JOB = 'zansoc.job';
/** The slot's resources (JSON) and wall-clock limit, so a restarted host can count and bound a container nobody adopts. */
export const LABEL_RESOURCES = 'zansoc.resources';
export const LABEL_TIMEOUT = 'zansoc.timeout-seconds';

const PIDS_LIMIT = 256;
const PROGRESS_INTERVAL_MS = 2_000;
export const DEFAULT_OUTPUT_POLL_MS = 500;
const MiB = 1024 * 1024;
const TAR_BLOCK = 512;
const TAR_END_BYTES = 2 * TAR_BLOCK;
const LOG_FRAME_HEADER_BYTES = 8;

export interface SandboxProgress {
  elapsedMs: number;
  logBytes: number;
}

export interface SandboxOptions {
  hostId: string;
  /** Parent of the per-execution slot folders; must be a path the Docker engine sees as well. */
  workDir: string;
  /**
   * The host's allow-list, as it advertises it (`name@sha256:<digest>`): a job's image runs only when the local image
   * it names has one of these digests. Anything else is refused before a container exists.
   */
  allowedImages: readonly string[];
  logLimitBytes: number;
  /**
   * Largest /out archive, and largest file. /out sits on the slot's own filesystem, sized to this or the job's diskMiB
   * (the smaller), so the kernel stops writes past it; a running job whose /out packs to more is killed at the next poll.
   */
  outputLimitBytes: number;
  /** Slot folders on loop-mounted filesystems of their own (true unless set): SLOT_DISK_QUOTA=off turns it off. */
  diskQuota?: boolean;
  /**
   * Books the bytes of the slot's input files (fetched, not yet written) beside its other resources; throws to refuse
   * them. `adopted`: the files are on disk already, from a run this one adopts, so they must be counted, fitting or not.
   */
  reserveInputs?: (bytes: number, adopted: boolean) => void;
  /** How often the size of /out is measured while the job runs; 500 ms unless set. */
  outputPollMs?: number;
  onProgress?: (progress: SandboxProgress) => void;
  /** Reads an input blob by its sha256 (checked); needed only by slots with inputs. */
  fetchInput?: (sha256: string) => Promise<Buffer>;
  /** Aborting kills and removes the container. */
  signal?: AbortSignal;
}

export interface SandboxRun {
  result: SlotResult;
  logs: Buffer;
  outputArchive: Buffer;
}

export const containerName = (executionId: string): string => `zansoc-${executionId.replace(/[^a-zA-Z0-9_.-]/g, '_')}`;

/** One run per execution in this process: a second caller joins it instead of collecting and removing it twice. */
interface SharedRun {
  run: Promise<SandboxRun>;
  abort: AbortController;
  listeners: Set<(progress: SandboxProgress) => void>;
  callers: number;
}
const runsInFlight = new Map<string, SharedRun>();

/** True while this process runs or collects the execution, so a cleanup pass leaves its container alone. */
export const isExecutionInFlight = (executionId: string): boolean => runsInFlight.has(executionId);

/**
 * Runs one slot in a locked-down container and collects its exit code, logs and canonical /out archive.
 * Restart-safe: an existing container of the same execution is adopted (running: awaited; exited: collected),
 * never duplicated. The container and its /out folder are removed once the result is collected or the run is aborted,
 * and kept when the engine fails mid-run, so a retry can adopt them.
 */
export function runSandboxed(docker: Dockerode, exec: SlotExecution, opts: SandboxOptions): Promise<SandboxRun> {
  if (opts.signal?.aborted) return Promise.reject(opts.signal.reason);
  let shared = runsInFlight.get(exec.executionId);
  if (!shared) {
    const abort = new AbortController();
    const listeners = new Set<(progress: SandboxProgress) => void>();
    const run = runExecution(docker, exec, opts, abort.signal, (progress) => listeners.forEach((listener) => listener(progress)));
    shared = { run, abort, listeners, callers: 0 };
    runsInFlight.set(exec.executionId, shared);
    const forget = () => runsInFlight.delete(exec.executionId);
    run.then(forget, forget);
  }
  return join(shared, opts);
}

function join(shared: SharedRun, { onProgress, signal }: SandboxOptions): Promise<SandboxRun> {
  shared.callers += 1;
  if (onProgress) shared.listeners.add(onProgress);
  return new Promise<SandboxRun>((resolve, reject) => {
    const leave = () => {
      if (onProgress) shared.listeners.delete(onProgress);
      signal?.removeEventListener('abort', onAbort);
    };
    // The container dies only when every caller has given up; the last one waits until it is gone.
    const onAbort = () => {
      leave();
      shared.callers -= 1;
      if (shared.callers === 0) shared.abort.abort(signal?.reason);
      else reject(signal?.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    shared.run.then(
      (run) => {
        leave();
        resolve(run);
      },
      (error: unknown) => {
        leave();
        reject(error);
      },
    );
  });
}

async function runExecution(
  docker: Dockerode,
  exec: SlotExecution,
  opts: SandboxOptions,
  signal: AbortSignal,
  onProgress: (progress: SandboxProgress) => void,
): Promise<SandboxRun> {
  try {
    const container = await findOrCreateContainer(docker, exec, opts);
    signal.throwIfAborted();
    const started = await startIfCreated(container);
    const outDir = outDirOf(started);

    const supervised: Supervised = neverStarted(started)
      ? { logs: Buffer.from(`zansoc: the container could not start: ${started.State.Error}\n`), logsTruncated: false, killedForTimeout: false }
      : await supervise(container, started, { ...opts, timeoutSeconds: exec.timeoutSeconds, outDir, signal, onProgress });
    signal.throwIfAborted();

    const finished = await container.inspect();
    try {
      if (supervised.outputOverLimit !== undefined) throw outputTooLarge(supervised.outputOverLimit, opts.outputLimitBytes, true);
      const outputArchive = await canonicalArchive(outDir, opts.outputLimitBytes);
      return { result: slotResult(finished, exec.timeoutSeconds, supervised, outputArchive), logs: supervised.logs, outputArchive };
    } finally {
      await discardExecution(docker, exec.executionId);
    }
  } catch (error) {
    if (!signal.aborted) throw error;
    await discardExecution(docker, exec.executionId);
    throw signal.reason;
  }
}

function slotResult(finished: Dockerode.ContainerInspectInfo, timeoutSeconds: number, supervised: Supervised, outputArchive: Buffer): SlotResult {
  const durationMs = neverStarted(finished) ? 0 : runDurationMs(finished.State);
  const exitCode = finished.State.ExitCode;
  const outputSha256 = sha256(outputArchive);
  return {
    exitCode,
    // A container that overran while no host was watching it counts as timed out too.
    timedOut: supervised.killedForTimeout || durationMs >= timeoutSeconds * 1000,
    oomKilled: finished.State.OOMKilled,
    outputSha256,
    outputBytes: outputArchive.length,
    resultDigest: sha256(resultDigestInput(outputSha256, exitCode)),
    logsSha256: sha256(supervised.logs),
    logsBytes: supervised.logs.length,
    logsTruncated: supervised.logsTruncated,
    durationMs,
  };
}

async function findOrCreateContainer(docker: Dockerode, exec: SlotExecution, opts: SandboxOptions): Promise<Dockerode.Container> {
  const existing = await findExecutionContainer(docker, exec.executionId);
  if (existing) {
    await adoptSlotFolders(await existing.inspect(), opts);
    return existing;
  }

  const imageId = await allowedLocalImage(docker, exec.image, opts.allowedImages);
  const name = containerName(exec.executionId);
  const slotDir = path.join(opts.workDir, name);
  await prepareWorkDir(opts.workDir);
  // Read before anything lands on disk, so their bytes are booked before they take room.
  const inputs = await fetchInputs(exec.inputs ?? {}, opts.fetchInput);
  const inputSizes = inputs.map(({ data }) => data.length);
  opts.reserveInputs?.(inputSizes.reduce((total, size) => total + size, 0), false);
  const folders = await createSlotDisk(slotDir, slotDiskBytes(outputCapBytes(exec, opts), inputSizes), opts.diskQuota ?? true);
  try {
    const inDir = inputs.length > 0 ? folders.inDir : null;
    if (inDir) await writeInputs(inDir, inputs);
    return await docker.createContainer(containerSpec(exec, opts, name, imageId, folders.outDir, inDir));
  } catch (error) {
    // Another process created it between our look and our create: adopt theirs.
    if (statusCode(error) === 409) {
      const raced = await findExecutionContainer(docker, exec.executionId);
      if (raced) return raced;
      throw new Error(`container name ${name} is taken by a container of another execution`, { cause: error });
    }
    await releaseSlotDisk(slotDir);
    if (statusCode(error) === 404) throw imageNotFound(exec.image);
    throw error;
  }
}

/** What /out may hold: the host's output cap, or less when the job asked for less disk. */
const outputCapBytes = (exec: SlotExecution, opts: SandboxOptions): number => Math.min(opts.outputLimitBytes, exec.resources.diskMiB * MiB);

/** A container found from an earlier run keeps its slot disk: mounted again if the machine restarted, its inputs booked. */
async function adoptSlotFolders(info: Dockerode.ContainerInspectInfo, opts: SandboxOptions): Promise<void> {
  for (const slotDir of slotDirsOf(info)) await remountSlotDisk(slotDir);
  const inDir = info.Mounts.find((mount) => mount.Destination === '/in')?.Source;
  if (inDir) opts.reserveInputs?.(await folderBytes(inDir), true);
}

/** The bytes of the files under a folder (0 when it is gone). */
export async function folderBytes(dir: string): Promise<number> {
  const dirents = await fs.readdir(dir, { withFileTypes: true, recursive: true }).catch(() => []);
  let total = 0;
  for (const dirent of dirents) {
    if (dirent.isFile()) total += (await fs.lstat(path.join(dirent.parentPath, dirent.name)).catch(() => ({ size: 0 }))).size;
  }
  return total;
}

async function findExecutionContainer(docker: Dockerode, executionId: string): Promise<Dockerode.Container | undefined> {
  const found = await docker.listContainers({ all: true, filters: { label: [`${LABEL_EXECUTION}=${executionId}`] } });
  return found.length > 0 ? docker.getContainer(found[0].Id) : undefined;
}

/**
 * The local image the job names, when its digest (image ID or repository digest) is on the host's allow-list; its
 * ID, which the container is created from, so a tag moved after this check cannot swap in other bytes. Images are
 * never pulled.
 */
async function allowedLocalImage(docker: Dockerode, image: string, allowed: readonly string[]): Promise<string> {
  let info: Dockerode.ImageInspectInfo;
  try {
    info = await docker.getImage(image).inspect();
  } catch (error) {
    if (statusCode(error) !== 404) throw error;
    // Advertised but gone is the host's failure; never allowed is the job's image being refused.
    throw advertisedImage(allowed, image) ? imageNotFound(image) : imageNotAllowed(image, null);
  }
  const local = new Set([info.Id, ...(info.RepoDigests ?? []).map((repoDigest) => repoDigest.slice(repoDigest.indexOf('@') + 1))]);
  if (!allowed.some((entry) => local.has(digestOf(entry) ?? ''))) throw imageNotAllowed(image, info.Id);
  return info.Id;
}

function advertisedImage(allowed: readonly string[], image: string): boolean {
  try {
    return advertisesImage(allowed, image);
  } catch {
    return false;
  }
}

const digestOf = (entry: string): string | null => parseImageReference(entry).digest;

/** Images are never pulled: a host runs only what it already holds. */
function imageNotFound(image: string): ApplicationFailure {
  return ApplicationFailure.create({
    type: ZansocErrorType.ImageNotFound,
    message: `image ${image} is not present on this host, and hosts never pull images`,
    nonRetryable: true,
  });
}

function imageNotAllowed(image: string, localId: string | null): ApplicationFailure {
  return ApplicationFailure.create({
    type: ZansocErrorType.ImageNotAllowed,
    message: localId
      ? `image ${image} is ${localId} here, a digest not on this host's allow-list (ALLOWED_IMAGES): refused before any container was created`
      : `image ${image} is not on this host's allow-list (ALLOWED_IMAGES): refused before any container was created`,
    nonRetryable: true,
  });
}

interface InputFile {
  name: string;
  data: Buffer;
}

async function fetchInputs(inputs: Record<string, string>, fetchInput: SandboxOptions['fetchInput']): Promise<InputFile[]> {
  const entries = Object.entries(inputs);
  if (entries.length === 0) return [];
  if (!fetchInput) throw new Error('this slot has input files but the sandbox was given no way to fetch them');
  const files: InputFile[] = [];
  for (const [name, sha256] of entries) files.push({ name, data: await fetchInput(sha256) });
  return files;
}

/** Writes the slot's input files, read-only, into the slot's /in folder; the job's user may only read them. */
async function writeInputs(inDir: string, inputs: InputFile[]): Promise<void> {
  for (const { name, data } of inputs) {
    const file = path.join(inDir, name);
    // The spec's schema allows only plain relative paths; this guards the host against anything else all the same.
    if (!file.startsWith(`${inDir}${path.sep}`)) throw new Error(`input path ${name} leaves /in`);
    await fs.mkdir(path.dirname(file), { recursive: true, mode: 0o755 });
    await fs.writeFile(file, data, { mode: 0o444 });
  }
  await fs.chown(inDir, SANDBOX_UID, SANDBOX_GID);
  await fs.chmod(inDir, 0o500);
}

/**
 * What confines every slot's container, whatever it runs: no network, no capabilities, an unprivileged user, a
 * read-only root, and the slot's limits (pids, memory without swap, cpus, /tmp, the largest file). `npm run bench`
 * runs `docker run --rm` with exactly this too, as the fair floor a slot is compared with.
 */
export function slotIsolation(resources: SlotExecution['resources'], outputLimitBytes: number) {
  const memoryBytes = resources.memoryMiB * MiB;
  return {
    User: `${SANDBOX_UID}:${SANDBOX_GID}`,
    HostConfig: {
      NetworkMode: 'none',
      CapDrop: ['ALL'],
      SecurityOpt: ['no-new-privileges'],
      ReadonlyRootfs: true,
      PidsLimit: PIDS_LIMIT,
      Memory: memoryBytes,
      // Equal to Memory: no swap, so the memory limit is a real limit and a hog is OOM-killed.
      MemorySwap: memoryBytes,
      NanoCpus: Math.round(resources.cpu * 1e9),
      // A tmpfs has its size for a quota (and is counted in the memory limit).
      Tmpfs: { '/tmp': `rw,nosuid,nodev,noexec,size=${resources.diskMiB}m` },
      // No single file may outgrow the output cap, in /out or /tmp.
      Ulimits: [{ Name: 'fsize', Soft: outputLimitBytes, Hard: outputLimitBytes }],
    },
  } satisfies Pick<Dockerode.ContainerCreateOptions, 'User' | 'HostConfig'>;
}

function containerSpec(
  exec: SlotExecution, opts: SandboxOptions, name: string, imageId: string, outDir: string, inDir: string | null,
): Dockerode.ContainerCreateOptions {
  const isolation = slotIsolation(exec.resources, opts.outputLimitBytes);
  return {
    name,
    // By ID: the bytes the allow-list check saw, whatever the name points at by now.
    Image: imageId,
    Cmd: exec.command,
    Env: Object.entries(exec.env).map(([key, value]) => `${key}=${value}`),
    User: isolation.User,
    Tty: false,
    Labels: {
      [LABEL_EXECUTION]: exec.executionId,
      [LABEL_HOST]: opts.hostId,
      [LABEL_JOB]: exec.jobId,
      [LABEL_RESOURCES]: JSON.stringify(exec.resources),
      [LABEL_TIMEOUT]: String(exec.timeoutSeconds),
    },
    HostConfig: {
      ...isolation.HostConfig,
      // Mounts, unlike Binds, fail instead of creating a root-owned folder when the source has gone.
      Mounts: [
        { Type: 'bind', Source: outDir, Target: '/out', ReadOnly: false },
        ...(inDir ? [{ Type: 'bind' as const, Source: inDir, Target: '/in', ReadOnly: true }] : []),
      ],
      // The logs are read live and capped; rotation only bounds what a chatty job can put on the host's disk.
      LogConfig: { Type: 'json-file', Config: { 'max-size': `${Math.ceil((4 * opts.logLimitBytes) / MiB)}m`, 'max-file': '2' } },
      RestartPolicy: { Name: 'no' },
    },
  };
}

async function startIfCreated(container: Dockerode.Container): Promise<Dockerode.ContainerInspectInfo> {
  const info = await container.inspect();
  if (info.State.Status !== 'created' || neverStarted(info)) return info;
  try {
    await container.start();
  } catch (error) {
    const failed = await container.inspect();
    // 304: someone else started it; an exit code on a created container: the engine could not start the command.
    if (statusCode(error) !== 304 && !neverStarted(failed)) throw error;
  }
  return container.inspect();
}

/**
 * How long the container ran, by the engine's clock, not ours: an adopted container's duration includes the time
 * before our restart. The engine stamps StartedAt after the process is already running, so a container that exits
 * at once can show FinishedAt at or before StartedAt (seen: -1 ms); such a run counts as 1 ms, never as free.
 */
export function runDurationMs(state: { StartedAt: string; FinishedAt: string }): number {
  return Math.max(1, Date.parse(state.FinishedAt) - Date.parse(state.StartedAt));
}

/** The engine records a failed start (e.g. command not found: 127) as an exit code on a container that never ran. */
function neverStarted(info: Dockerode.ContainerInspectInfo): boolean {
  return info.State.Status === 'created' && info.State.ExitCode !== 0;
}

function outDirOf(info: Dockerode.ContainerInspectInfo): string {
  const mount = info.Mounts.find((candidate) => candidate.Destination === '/out');
  if (!mount) throw new Error(`container ${info.Name} has no /out mount`);
  return mount.Source;
}

interface Supervised {
  logs: Buffer;
  logsTruncated: boolean;
  killedForTimeout: boolean;
  /** Projected archive size of /out when the job was killed for growing it past the limit. */
  outputOverLimit?: number;
}

interface Supervision {
  timeoutSeconds: number;
  logLimitBytes: number;
  outDir: string;
  outputLimitBytes: number;
  outputPollMs?: number;
  signal: AbortSignal;
  onProgress: (progress: SandboxProgress) => void;
}

/**
 * Waits for the container to stop while its logs are read live, killing it at its deadline, on abort, or as soon as
 * its /out grows past the output limit (the slot disk under /out holds the cap plus ext4's room, so a full one packs
 * to more than the cap: killing it early saves the job's time, not the host's disk).
 */
async function supervise(container: Dockerode.Container, info: Dockerode.ContainerInspectInfo, supervision: Supervision): Promise<Supervised> {
  const { timeoutSeconds, logLimitBytes, outDir, outputLimitBytes, outputPollMs = DEFAULT_OUTPUT_POLL_MS, signal, onProgress } = supervision;
  // A kill can race the container's own exit; if the engine is gone instead, wait() fails and so does the run.
  const kill = () => container.kill().catch(() => undefined);
  signal.addEventListener('abort', kill);
  // The deadline counts from the engine's start time, so an adopted container keeps its original limit.
  const startedAt = Date.parse(info.State.StartedAt);
  let killedForTimeout = false;
  // An adopted container that has already exited has no deadline left to enforce.
  const deadline = info.State.Running
    ? setTimeout(() => {
        killedForTimeout = true;
        void kill();
      }, Math.max(0, startedAt + timeoutSeconds * 1000 - Date.now()))
    : undefined;
  const collector = new LogCollector(logLimitBytes);
  const progress = setInterval(() => onProgress({ elapsedMs: Date.now() - startedAt, logBytes: collector.bytes }), PROGRESS_INTERVAL_MS);
  const outputWatch = info.State.Running ? watchOutput(outDir, outputLimitBytes, outputPollMs, kill) : undefined;
  let outputOverLimit: number | undefined;
  try {
    if (signal.aborted) await kill();
    // Logs are read from the start of the container, so an adopted one yields them all too.
    const stream = await container.logs({ follow: true, stdout: true, stderr: true });
    await Promise.all([container.wait(), collector.drain(stream)]);
  } finally {
    clearTimeout(deadline);
    clearInterval(progress);
    signal.removeEventListener('abort', kill);
    outputOverLimit = await outputWatch?.stop();
  }
  return { logs: collector.logs(), logsTruncated: collector.truncated, killedForTimeout, outputOverLimit };
}

/**
 * Measures /out every `pollMs` and kills the job the first time it exceeds the limit. One walk at a time, and a walk
 * stops as soon as it passes the limit, so its cost is bounded by the limit (every entry counts at least a tar block);
 * a job that keeps /out full of tiny files just under the limit is walked less often, so the host spends at most a
 * fifth of a core on it. Between two polls a job can write as fast as the disk takes it, up to what its slot disk
 * holds (with SLOT_DISK_QUOTA=off, up to the limit plus what it writes in one interval).
 */
function watchOutput(outDir: string, limitBytes: number, pollMs: number, kill: () => Promise<unknown>): { stop: () => Promise<number | undefined> } {
  let stopped = false;
  let overLimit: number | undefined;
  let timer: NodeJS.Timeout | undefined;
  let walking: Promise<void> = Promise.resolve();
  const poll = () => {
    const started = Date.now();
    walking = projectedArchiveBytes(outDir, limitBytes).then(async (bytes) => {
      if (bytes > limitBytes) {
        overLimit = bytes;
        await kill();
      } else if (!stopped) {
        timer = setTimeout(poll, Math.max(pollMs, 4 * (Date.now() - started)));
      }
    });
  };
  timer = setTimeout(poll, pollMs);
  return {
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await walking;
      return overLimit;
    },
  };
}

/** Demultiplexes Docker's log stream (8-byte frame headers) into stdout and stderr interleaved as they arrived. */
class LogCollector {
  bytes = 0;
  truncated = false;
  private readonly kept: Buffer[] = [];
  private pending = Buffer.alloc(0);

  constructor(private readonly limit: number) {}

  async drain(stream: NodeJS.ReadableStream): Promise<void> {
    for await (const chunk of stream) {
      this.pending = Buffer.concat([this.pending, chunk as Buffer]);
      while (this.pending.length >= LOG_FRAME_HEADER_BYTES) {
        const end = LOG_FRAME_HEADER_BYTES + this.pending.readUInt32BE(4);
        if (this.pending.length < end) break;
        this.keep(this.pending.subarray(LOG_FRAME_HEADER_BYTES, end));
        this.pending = this.pending.subarray(end);
      }
      // Leaving the loop closes the stream: past the cap there is nothing worth reading.
      if (this.truncated) return;
    }
  }

  logs(): Buffer {
    return Buffer.concat(this.kept);
  }

  private keep(payload: Buffer): void {
    const room = this.limit - this.bytes;
    if (payload.length > room) this.truncated = true;
    const kept = payload.subarray(0, room);
    this.kept.push(kept);
    this.bytes += kept.length;
  }
}

interface OutputEntry {
  name: string;
  absolute: string;
  type: 'file' | 'directory';
  mode: number;
  size: number;
}

/**
 * The tar of /out that honest replicas agree on byte for byte: entries sorted by the bytes of their path, and
 * nothing that depends on the host or the clock (mtime 0, owner 0:0 without names, modes 0644/0755).
 */
async function canonicalArchive(root: string, limitBytes: number): Promise<Buffer> {
  const entries = await listOutput(root);
  // Refuse before reading: a job must not make the host load an oversized output into memory.
  const projected = entries.reduce((total, entry) => total + tarEntryBytes(entry.size), TAR_END_BYTES);
  if (projected > limitBytes) throw outputTooLarge(projected, limitBytes);

  const pack = tar.pack();
  for (const entry of entries) {
    const fixed = { type: entry.type, mode: entry.mode, mtime: new Date(0), uid: 0, gid: 0, uname: '', gname: '' };
    // Directory names end in '/' as tar tools write them; tar-stream leaves that to the caller.
    if (entry.type === 'directory') pack.entry({ ...fixed, name: `${entry.name}/` });
    else pack.entry({ ...fixed, name: entry.name }, await fs.readFile(entry.absolute));
  }
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const chunk of pack) chunks.push(chunk as Buffer);
  const archive = Buffer.concat(chunks);
  // Long or non-ASCII names add pax headers the projection leaves out.
  if (archive.length > limitBytes) throw outputTooLarge(archive.length, limitBytes);
  return archive;
}

async function listOutput(root: string): Promise<OutputEntry[]> {
  const entries: OutputEntry[] = [];
  const pendingDirs = [''];
  for (let dir = pendingDirs.pop(); dir !== undefined; dir = pendingDirs.pop()) {
    for (const dirent of await fs.readdir(path.join(root, dir), { withFileTypes: true })) {
      const name = dir ? `${dir}/${dirent.name}` : dirent.name;
      const absolute = path.join(root, name);
      if (dirent.isDirectory()) {
        entries.push({ name, absolute, type: 'directory', mode: 0o755, size: 0 });
        pendingDirs.push(name);
      } else if (dirent.isFile()) {
        const stat = await fs.lstat(absolute);
        entries.push({ name, absolute, type: 'file', mode: stat.mode & 0o111 ? 0o755 : 0o644, size: stat.size });
      }
      // Symlinks, fifos, sockets and devices are left out: following a link would read the host's files.
    }
  }
  return entries.sort((a, b) => Buffer.compare(Buffer.from(a.name), Buffer.from(b.name)));
}

/** A header block plus the content rounded up to whole blocks: what one file or folder adds to the archive. */
const tarEntryBytes = (size: number): number => TAR_BLOCK + Math.ceil(size / TAR_BLOCK) * TAR_BLOCK;

/**
 * The archive size /out would pack to, as far as the walk got: it stops once past `stopAbove`. Files come and go while
 * the job runs, so an entry that vanished mid-walk is skipped; links are never followed.
 */
async function projectedArchiveBytes(root: string, stopAbove: number): Promise<number> {
  let total = TAR_END_BYTES;
  const pendingDirs = [root];
  for (let dir = pendingDirs.pop(); dir !== undefined && total <= stopAbove; dir = pendingDirs.pop()) {
    const dirents = await fs.readdir(dir, { withFileTypes: true }).catch(() => []);
    for (const dirent of dirents) {
      const absolute = path.join(dir, dirent.name);
      if (dirent.isDirectory()) {
        total += TAR_BLOCK;
        pendingDirs.push(absolute);
      } else if (dirent.isFile()) {
        const stat = await fs.lstat(absolute).catch(() => undefined);
        if (stat) total += tarEntryBytes(stat.size);
      }
      if (total > stopAbove) break;
    }
  }
  return total;
}

function outputTooLarge(bytes: number, limitBytes: number, killedWhileRunning = false): ApplicationFailure {
  const message = killedWhileRunning
    ? `the job's /out grew past ${bytes} archive bytes while it ran, over this host's limit of ${limitBytes} bytes: the job was killed`
    : `the job's /out archive is ${bytes} bytes, over this host's limit of ${limitBytes} bytes`;
  return ApplicationFailure.create({ type: ZansocErrorType.OutputTooLarge, message, nonRetryable: true });
}

async function discardExecution(docker: Dockerode, executionId: string): Promise<void> {
  const container = await findExecutionContainer(docker, executionId);
  if (!container) return;
  const slotDirs = slotDirsOf(await container.inspect());
  // Container first: a crash in between leaves a stray folder, never a container whose /out has vanished.
  await container.remove({ force: true });
  for (const slotDir of slotDirs) await releaseSlotDisk(slotDir);
}

/**
 * The execution's own folders on the host: the slot folder its /out and /in are on (a slot disk's mount point), or,
 * for a container from before slot disks, its /out and /in folders themselves.
 */
export function slotDirsOf(info: Pick<Dockerode.ContainerInspectInfo, 'Mounts'>): string[] {
  const sources = info.Mounts.filter((m) => m.Destination === '/out' || m.Destination === '/in').map((m) => m.Source);
  const dirs = sources.map((source) => {
    const slotDir = path.dirname(source);
    const onSlotDisk = path.basename(slotDir).startsWith('zansoc-') && source === slotFolders(slotDir)[path.basename(source) === 'in' ? 'inDir' : 'outDir'];
    return onSlotDisk ? slotDir : source;
  });
  return [...new Set(dirs)];
}

function sha256(data: Buffer | string): string {
  return createHash('sha256').update(data).digest('hex');
}

function statusCode(error: unknown): number | undefined {
  return (error as { statusCode?: number }).statusCode;
}
