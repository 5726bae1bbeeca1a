import { spawn, type ChildProcessByStdio } from 'node:child_process';
import path from 'node:path';
import type { Readable } from 'node:stream';

export { ANVIL_KEYS } from '../contracts/well-known-keys';

export interface Anvil {
  url: string;
  port: number;
  stop(): Promise<void>;
}

const STARTUP_TIMEOUT_MS = 15_000;
const STOP_TIMEOUT_MS = 5_000;

/**
 * The anvil binary of this platform. Spawned directly: killing the `npx anvil` wrapper leaves the real node running.
 */
function anvilBinary(): string {
  const pkg = `@foundry-rs/anvil-${process.platform}-${process.arch === 'x64' ? 'amd64' : process.arch}`;
  const exe = process.platform === 'win32' ? 'anvil.exe' : 'anvil';
  try {
    return path.join(path.dirname(require.resolve(`${pkg}/package.json`)), 'bin', exe);
  } catch {
    throw new Error(`anvil is not installed for ${process.platform}/${process.arch}: expected the npm package ${pkg}`);
  }
}

/**
 * Starts a local chain on 127.0.0.1 (a free port unless `port` is given) and resolves once it answers RPC.
 * @param blockTime seconds between blocks; without it every transaction is mined at once.
 * @param chainId the chain id it answers (31337 by default); another one plays a public chain.
 */
export async function startAnvil(opts: { port?: number; blockTime?: number; chainId?: number } = {}): Promise<Anvil> {
  const args = ['--host', '127.0.0.1', '--port', String(opts.port ?? 0)];
  if (opts.blockTime !== undefined) args.push('--block-time', String(opts.blockTime));
  if (opts.chainId !== undefined) args.push('--chain-id', String(opts.chainId));
  const child = spawn(anvilBinary(), args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  // A test runner that dies without calling stop() must not leave a chain running.
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);

  const stop = async () => {
    process.off('exit', killOnExit);
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
    await exited;
    clearTimeout(timer);
  };

  try {
    const port = await listeningPort(child);
    // anvil logs every request; drain its pipes so it never blocks writing to a full one.
    child.stdout.resume();
    child.stderr.resume();
    const url = `http://127.0.0.1:${port}`;
    await waitForRpc(url);
    return { url, port, stop };
  } catch (err) {
    process.off('exit', killOnExit);
    child.kill('SIGKILL');
    throw err;
  }
}

/** anvil prints the port it bound, which is how `--port 0` becomes a real port. */
function listeningPort(child: ChildProcessByStdio<null, Readable, Readable>): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    let output = '';
    const timer = setTimeout(() => finish(new Error(`anvil did not start within ${STARTUP_TIMEOUT_MS} ms:\n${output.slice(-2000)}`)), STARTUP_TIMEOUT_MS);
    const onOutput = (chunk: Buffer) => {
      output += chunk.toString();
      const listening = /Listening on 127\.0\.0\.1:(\d+)/.exec(output);
      if (listening) finish(Number(listening[1]));
    };
    const onExit = (code: number | null, signal: string | null) =>
      finish(new Error(`anvil exited (${signal ?? `code ${code}`}) before listening:\n${output.slice(-2000)}`));
    const onError = (err: Error) => finish(err);
    function finish(result: number | Error) {
      clearTimeout(timer);
      child.stdout.off('data', onOutput);
      child.stderr.off('data', onOutput);
      child.off('exit', onExit);
      child.off('error', onError);
      if (typeof result === 'number') resolve(result);
      else reject(result);
    }
    child.stdout.on('data', onOutput);
    child.stderr.on('data', onOutput);
    child.on('exit', onExit);
    child.on('error', onError);
  });
}

async function waitForRpc(url: string): Promise<void> {
  const deadline = Date.now() + STARTUP_TIMEOUT_MS;
  for (;;) {
    try {
      const res = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'eth_chainId', params: [] }),
      });
      if (res.ok) return;
    } catch {
      // not accepting connections yet
    }
    if (Date.now() > deadline) throw new Error(`anvil at ${url} did not answer eth_chainId within ${STARTUP_TIMEOUT_MS} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

if (require.main === module) {
  startAnvil({ port: Number(process.env.ANVIL_PORT ?? 8545) }).then(
    (anvil) => {
      console.log(`anvil listening on ${anvil.url} (Ctrl-C to stop)`);
      const shutdown = () => void anvil.stop().then(() => process.exit(0));
      process.once('SIGINT', shutdown);
      process.once('SIGTERM', shutdown);
    },
    (err: unknown) => {
      console.error(err instanceof Error ? err.message : err);
      process.exitCode = 1;
    },
  );
}
