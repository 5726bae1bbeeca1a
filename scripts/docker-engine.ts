import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type Dockerode from 'dockerode';
import { connectDocker, DEFAULT_DOCKER_SOCKET } from '../runtime/docker';

const START_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 30_000;
// Nothing Zansoc runs needs container networking, and CI machines refuse the iptables rules a bridge needs.
const DOCKERD_ARGS = ['--bridge=none', '--iptables=false'];
const PID_FILE = path.join(os.tmpdir(), 'zansoc-dockerd.pid');
const LOG_FILE = path.join(os.tmpdir(), 'zansoc-dockerd.log');

export interface DockerEngine {
  docker: Dockerode;
  /** True when no engine answered and this process started dockerd. */
  startedHere: boolean;
  /** Process id of the dockerd started here. */
  pid?: number;
  /** Stops the engine only if it was started here; an engine someone else runs is left alone. */
  stop(): Promise<void>;
}

/** Returns a client to an engine that answers, starting dockerd when none does and this machine can run one. */
export async function ensureDockerEngine(): Promise<DockerEngine> {
  const docker = connectDocker();
  const failure = await pingFailure(docker);
  if (!failure) return { docker, startedHere: false, stop: async () => {} };
  if (failure.code === 'EACCES') {
    throw new Error(`A Docker engine runs but ${process.env.DOCKER_HOST ?? DEFAULT_DOCKER_SOCKET} refuses this user: run as root or join the docker group.`);
  }

  const reason = whyCannotStart();
  if (reason) {
    throw new Error(
      `No Docker engine answers at ${process.env.DOCKER_HOST ?? DEFAULT_DOCKER_SOCKET} and ${reason}. ` +
        `Install Debian's docker.io (apt-get install docker.io) and start it ` +
        `(as root: dockerd ${DOCKERD_ARGS.join(' ')}), or point DOCKER_HOST at a running engine.`,
    );
  }

  const pid = startDockerd();
  try {
    await waitUntil(async () => !(await pingFailure(docker)), START_TIMEOUT_MS, () => isAlive(pid));
  } catch (error) {
    await stopDockerd(pid);
    throw new Error(`dockerd did not answer within ${START_TIMEOUT_MS / 1000} s (${(error as Error).message}); see ${LOG_FILE}`, { cause: error });
  }
  return { docker, startedHere: true, pid, stop: () => stopDockerd(pid) };
}

async function pingFailure(docker: Dockerode): Promise<NodeJS.ErrnoException | undefined> {
  try {
    await docker.ping();
    return undefined;
  } catch (error) {
    return error as NodeJS.ErrnoException;
  }
}

function whyCannotStart(): string | undefined {
  if (process.env.DOCKER_HOST) return 'DOCKER_HOST points at an engine this process cannot start';
  if (!onPath('dockerd')) return 'dockerd is not installed';
  if (process.getuid?.() !== 0) return 'starting dockerd needs root';
  return undefined;
}

function onPath(command: string): boolean {
  return (process.env.PATH ?? '').split(path.delimiter).some((dir) => {
    try {
      fs.accessSync(path.join(dir, command), fs.constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

function startDockerd(): number {
  const log = fs.openSync(LOG_FILE, 'a');
  // Detached in its own process group so the engine outlives this process when the `start` script exits.
  const child = spawn('dockerd', DOCKERD_ARGS, { detached: true, stdio: ['ignore', log, log] });
  fs.closeSync(log);
  child.unref();
  if (child.pid === undefined) throw new Error(`could not start dockerd; see ${LOG_FILE}`);
  return child.pid;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function stopDockerd(pid: number): Promise<void> {
  if (!isAlive(pid)) return;
  process.kill(pid, 'SIGTERM');
  await waitUntil(async () => !isAlive(pid), STOP_TIMEOUT_MS);
}

/** Polls `ready` until it holds; gives up after `timeoutMs`, or early when `stillHopeful` turns false. */
async function waitUntil(ready: () => Promise<boolean>, timeoutMs: number, stillHopeful: () => boolean = () => true): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await ready())) {
    if (!stillHopeful()) throw new Error('the process exited');
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

async function main(command: string | undefined): Promise<void> {
  switch (command) {
    case 'start': {
      const engine = await ensureDockerEngine();
      if (engine.startedHere) {
        fs.writeFileSync(PID_FILE, `${engine.pid}\n`);
        console.log(`Started dockerd (pid ${engine.pid}, log ${LOG_FILE}); stop it with: tsx scripts/docker-engine.ts stop`);
      } else {
        console.log('A Docker engine is already running; nothing started.');
      }
      return;
    }
    case 'stop': {
      if (!fs.existsSync(PID_FILE)) {
        console.log('No Docker engine was started by `docker-engine.ts start`; nothing to stop.');
        return;
      }
      const pid = Number(fs.readFileSync(PID_FILE, 'utf8').trim());
      await stopDockerd(pid);
      fs.rmSync(PID_FILE);
      console.log(`Stopped dockerd (pid ${pid}).`);
      return;
    }
    default:
      throw new Error('usage: tsx scripts/docker-engine.ts start|stop');
  }
}

if (require.main === module) {
  main(process.argv[2]).catch((error: Error) => {
    console.error(error.message);
    process.exit(1);
  });
}
