import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { Connection } from '@temporalio/client';
import { searchAttributeArgs } from '../domain/search-attributes';
import { freePort } from './free-port';

/** The Temporal CLI's path, building it once into the cache if needed (scripts/install-temporal). */
export function resolveTemporalCli(): string {
  const out = execFileSync(join(__dirname, 'install-temporal'), { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  return out.trim().split('\n').pop()!;
}

export interface TemporalServer {
  address: string;
  uiUrl: string | null;
  stop(): Promise<void>;
}

/**
 * The real Temporal server (the CLI's dev server): SQLite persistence when `dbFile` is given (in memory otherwise),
 * the Web UI unless headless. Ports default to free ones.
 */
export async function startTemporalServer(opts: { port?: number; uiPort?: number; dbFile?: string; headless?: boolean } = {}): Promise<TemporalServer> {
  const cli = resolveTemporalCli();
  // The dev server picks free ports of its own (HTTP API, internal services) and binds them later, so another
  // process can take one in between: it then exits with "address already in use", and a fresh launch on fresh
  // ports is the fix. Ports the caller fixed are kept, so a clash on those is not retried.
  for (let attempt = 1; ; attempt++) {
    try {
      return await launchDevServer(cli, opts);
    } catch (err) {
      if (attempt >= 3 || !(err instanceof PortClash)) throw err;
    }
  }
}

/** A server that exited at start because a port it was given or picked was taken meanwhile: fresh ports fix it. */
export class PortClash extends Error {}

async function launchDevServer(cli: string, opts: { port?: number; uiPort?: number; dbFile?: string; headless?: boolean }): Promise<TemporalServer> {
  const port = opts.port ?? (await freePort());
  const args = [
    'server', 'start-dev', '--ip', '127.0.0.1', '--port', String(port), '--log-level', 'warn',
    // The version check calls out to the internet.
    '--dynamic-config-value', 'frontend.enableServerVersionCheck=false',
    ...searchAttributeArgs(),
  ];
  let uiUrl: string | null = null;
  if (opts.headless) args.push('--headless');
  else {
    const uiPort = opts.uiPort ?? (await freePort());
    args.push('--ui-ip', '127.0.0.1', '--ui-port', String(uiPort));
    uiUrl = `http://127.0.0.1:${uiPort}`;
  }
  if (opts.dbFile) {
    mkdirSync(dirname(opts.dbFile), { recursive: true });
    args.push('--db-filename', opts.dbFile);
  }
  const child = spawn(cli, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const address = `127.0.0.1:${port}`;
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) {
      const message = `the Temporal server exited at start: ${stderr}`;
      throw /address already in use/.test(stderr) ? new PortClash(message) : new Error(message);
    }
    try {
      const connection = await Connection.connect({ address, connectTimeout: 1000 });
      await connection.workflowService.getSystemInfo({});
      await connection.close();
      break;
    } catch (err) {
      if (Date.now() > deadline) {
        child.kill('SIGKILL');
        throw new Error(`the Temporal server did not answer on ${address} within 60s: ${(err as Error).message} ${stderr}`, { cause: err });
      }
      await new Promise((r) => setTimeout(r, 250));
    }
  }
  return {
    address,
    uiUrl,
    async stop() {
      if (child.exitCode === null) {
        child.kill('SIGTERM');
        const killer = setTimeout(() => child.kill('SIGKILL'), 10_000);
        await exited;
        clearTimeout(killer);
      }
    },
  };
}
