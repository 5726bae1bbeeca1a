import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';

/**
 * Foundry's `cast` from its npm package: a reader of the chain nobody here wrote, so a test that reads money with it
 * does not share our bindings' bugs.
 */
function castBinary(): string {
  const pkg = `@foundry-rs/cast-${process.platform}-${process.arch === 'x64' ? 'amd64' : process.arch}`;
  return path.join(path.dirname(require.resolve(`${pkg}/package.json`)), 'bin', process.platform === 'win32' ? 'cast.exe' : 'cast');
}

export async function cast(...args: string[]): Promise<string> {
  const { stdout } = await promisify(execFile)(castBinary(), args);
  return stdout.trim();
}

/** An ERC-20 balance read with `cast call`, as a bigint. */
export async function castBalanceOf(rpcUrl: string, token: string, holder: string): Promise<bigint> {
  const out = await cast('call', '--rpc-url', rpcUrl, token, 'balanceOf(address)(uint256)', holder);
  // cast prints big numbers with a human hint: "1000000000000000000 [1e18]".
  return BigInt(out.split(/\s/)[0]);
}

/** The native balance (wei) with `cast balance`. */
export async function castEthBalance(rpcUrl: string, holder: string): Promise<bigint> {
  return BigInt(await cast('balance', '--rpc-url', rpcUrl, holder));
}
