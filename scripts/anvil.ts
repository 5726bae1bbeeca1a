import { spawn, type ChildProcessByStdio } from 'node:child_process';
import path from 'node:path';
import type { Readable } from 'node:stream';

/**
 * Private keys of the first ten accounts of anvil's default mnemonic: the devnet's and the tests' accounts. Production
 * code refuses them off the local chain by their addresses (contracts/well-known-keys.ts).
 */
export const ANVIL_KEYS = [
  '0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80',
  '0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d',
  '0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a',
  '0x7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6',
  '0x47e179ec197488593b187f80a00eb0da91f1b9d0b13f8733639f19c30a34926a',
  '0x8b3a350cf5c34c9194ca85829a2df0ec3153be0318b5e2d3348e872092edffba',
  '0x92db14e403b83dfe3df233f83dfa3a0d7096f21ca9b0d6d6b8d88b2b4ec1564e',
  '0x4bbbf85ce3377467afe5d46f804f221813b2bb87f24d81f60f1fcdbf7cbf4356',
  '0xdbda1821b80551c9d65939329250298aa3472ba22feea921c0cf5d620ea67b97',
  '0x2a871d0798f97d79848a013d4936a73bf4cc922c825d33c1cf7073dff6d409c6',
] as const;

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
