import fs from 'node:fs/promises';
import path from 'node:path';
import type Dockerode from 'dockerode';
import type { Resources } from '../domain/job-spec';
import type { ResourceLedger } from './ledger';
import { folderBytes, isExecutionInFlight, LABEL_EXECUTION, LABEL_HOST, LABEL_RESOURCES, LABEL_TIMEOUT, slotDirsOf } from './sandbox';
import { diskFileOf, isMountPoint, releaseSlotDisk } from './slot-disk';

export const DEFAULT_RECONCILE_MAX_AGE_MS = 10 * 60_000;

export interface ReconcileOptions {
  /** How long a stopped container waits for its retried activity to collect it before it is removed. */
  maxAgeMs?: number;
  /** Running containers are counted in it until their activity takes the reservation over. */
  ledger?: ResourceLedger;
  /** The host's work folder: `zansoc-*` folders no container mounts, older than maxAgeMs, are removed too. */
  workDir?: string;
  log?: (line: string) => void;
  now?: () => number;
}

/** Execution ids, by what happened to their container. */
export interface ReconcileSummary {
  /** Left running for the retried activity to adopt. */
  running: string[];
  /** Killed: running past their wall-clock limit with no activity watching them. */
  killed: string[];
  /** Stopped recently: kept for the retried activity to collect. */
  kept: string[];
  /** Stopped longer than maxAgeMs ago and never collected: removed with their /out folder. */
  removed: string[];
  /** Work folders left without a container (a crash between removing a container and its folder). */
  removedFolders: string[];
}

/** The engine's zero time, which a container that never ran reports as its FinishedAt. */
const NEVER = Date.parse('0001-01-01T00:00:00Z');

/**
 * Run by the host worker at start (and then now and again): finds the containers this host owns by label. Running
 * ones are left for the retried activity to adopt — counted in the ledger meanwhile, and killed if they outlive
 * their wall-clock limit, since nobody else enforces it. Stopped ones nobody collected within maxAgeMs are removed
 * with their /out folder. Executions this process is running are never touched.
 */
export async function reconcileContainers(docker: Dockerode, hostId: string, opts: ReconcileOptions = {}): Promise<ReconcileSummary> {
  const { maxAgeMs = DEFAULT_RECONCILE_MAX_AGE_MS, ledger, workDir, log = console.log, now = Date.now } = opts;
  const summary: ReconcileSummary = { running: [], killed: [], kept: [], removed: [], removedFolders: [] };
  const owned = await docker.listContainers({ all: true, filters: { label: [`${LABEL_HOST}=${hostId}`] } });

  for (const listed of owned) {
    const executionId = listed.Labels[LABEL_EXECUTION];
    if (!executionId || isExecutionInFlight(executionId)) continue;
    const container = docker.getContainer(listed.Id);
    const info = await inspectIfPresent(container);
    if (!info) continue;

    if (info.State.Running || info.State.Paused || info.State.Restarting) {
      const timeoutSeconds = Number(info.Config.Labels[LABEL_TIMEOUT]);
      if (timeoutSeconds > 0 && now() >= Date.parse(info.State.StartedAt) + timeoutSeconds * 1000) {
        await container.kill().catch(() => undefined);
        ledger?.releaseUnadopted(executionId);
        summary.killed.push(executionId);
        log(`reconcile: killed ${executionId}: past its ${timeoutSeconds}s limit with no activity watching it`);
        continue;
      }
      const inDir = info.Mounts.find((mount) => mount.Destination === '/in')?.Source;
      ledger?.holdForAdoption(executionId, resourcesOf(info), inDir ? await folderBytes(inDir) : 0);
      summary.running.push(executionId);
      log(`reconcile: ${executionId} is still running; its retried activity will adopt it`);
      continue;
    }

    // A stopped container holds no cpu or memory; its activity books them again when it comes to collect.
    ledger?.releaseUnadopted(executionId);
    const finishedAt = Date.parse(info.State.FinishedAt);
    const stoppedAt = Number.isFinite(finishedAt) && finishedAt > NEVER ? finishedAt : Date.parse(info.Created);
    if (now() - stoppedAt < maxAgeMs) {
      summary.kept.push(executionId);
      continue;
    }
    const slotDirs = slotDirsOf(info);
    // Container first, as the sandbox does: a crash in between leaves a stray folder, never a container without /out.
    await container.remove({ force: true }).catch((error: unknown) => {
      if ((error as { statusCode?: number }).statusCode !== 404) throw error;
    });
    for (const slotDir of slotDirs) await releaseSlotDisk(slotDir);
    summary.removed.push(executionId);
    log(`reconcile: removed ${executionId}: stopped ${Math.round((now() - stoppedAt) / 1000)}s ago and never collected`);
  }

  if (workDir) summary.removedFolders = await removeStrayFolders(docker, workDir, maxAgeMs, now());
  return summary;
}

export interface Reconciler {
  /** Resolves once the pass under way, if any, has finished. */
  stop(): Promise<void>;
}

/** Reconciles now and every intervalMs (one pass at a time), until stopped; a failed pass is logged and retried later. */
export function startReconciling(docker: Dockerode, hostId: string, opts: ReconcileOptions & { intervalMs?: number } = {}): Reconciler {
  const { intervalMs = 60_000, log = console.log } = opts;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let pass: Promise<void> = Promise.resolve();
  const run = () => {
    pass = reconcileContainers(docker, hostId, opts).then(
      () => undefined,
      (error: unknown) => log(`reconcile failed: ${(error as Error).message}`),
    ).then(() => {
      if (stopped) return;
      timer = setTimeout(run, intervalMs);
      timer.unref();
    });
  };
  run();
  return {
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await pass;
    },
  };
}

async function inspectIfPresent(container: Dockerode.Container): Promise<Dockerode.ContainerInspectInfo | undefined> {
  try {
    return await container.inspect();
  } catch (error) {
    // Removed between the listing and now, e.g. by the activity that collected it.
    if ((error as { statusCode?: number }).statusCode === 404) return undefined;
    throw error;
  }
}

/** The slot's resources from its label, else from the limits the container runs with. */
function resourcesOf(info: Dockerode.ContainerInspectInfo): Resources {
  const label = info.Config.Labels[LABEL_RESOURCES];
  if (label) {
    try {
      return JSON.parse(label) as Resources;
    } catch {
      // A label that is not JSON was not written by Zansoc; fall back to the limits.
    }
  }
  const tmpfsSize = /size=(\d+)m/.exec(info.HostConfig.Tmpfs?.['/tmp'] ?? '')?.[1];
  return {
    cpu: (info.HostConfig.NanoCpus ?? 0) / 1e9,
    memoryMiB: Math.ceil((info.HostConfig.Memory ?? 0) / (1024 * 1024)),
    diskMiB: Number(tmpfsSize ?? 0),
    gpu: 0,
  };
}

/**
 * Slot folders (and slot disks) no container uses, older than maxAgeMs: left by a crash between removing a container
 * and its folder. A slot disk still mounted is unmounted before its folder goes, so its contents never spill.
 */
async function removeStrayFolders(docker: Dockerode, workDir: string, maxAgeMs: number, now: number): Promise<string[]> {
  // Any Zansoc container on the engine, whichever host owns it: a folder something still mounts is never stray.
  const all = await docker.listContainers({ all: true, filters: { label: [LABEL_EXECUTION] } });
  const inUse = new Set(all.flatMap((c) => slotDirsOf({ Mounts: c.Mounts as Dockerode.ContainerInspectInfo['Mounts'] }).map((dir) => path.resolve(dir))));
  const removed: string[] = [];
  const entries = await fs.readdir(workDir, { withFileTypes: true }).catch(() => []);
  const names = new Set(entries.map((entry) => entry.name));
  for (const entry of entries) {
    if (!entry.name.startsWith('zansoc-')) continue;
    const isFolder = entry.isDirectory();
    // A disk file whose folder has gone is stray on its own; one with its folder goes with it.
    const isLoneDisk = entry.isFile() && entry.name.endsWith('.disk') && !names.has(entry.name.slice(0, -'.disk'.length));
    if (!isFolder && !isLoneDisk) continue;
    const slotDir = path.resolve(workDir, isFolder ? entry.name : entry.name.slice(0, -'.disk'.length));
    if (inUse.has(slotDir)) continue;
    // A mounted disk's mount point takes the disk's times; its file's modification time is when it was last written.
    const stamp = (await isMountPoint(slotDir)) ? diskFileOf(slotDir) : path.resolve(workDir, entry.name);
    const stat = await fs.stat(stamp).catch(() => undefined);
    if (!stat || now - stat.mtimeMs < maxAgeMs) continue;
    await releaseSlotDisk(slotDir);
    removed.push(entry.name);
  }
  return removed;
}
