import { createProvider } from './provider';

/**
 * Private keys of the first ten accounts of anvil's default mnemonic ("test test … junk"). Anyone can sign with them,
 * so they are fit only for a local chain: every process that holds a key refuses them anywhere else.
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

/** anvil's chain id, the devnet's: the only chain the well-known keys may sign on. */
export const LOCAL_CHAIN_ID = 31337;

/** One message per key in `keys` (variable name → private key) that is a well-known key while `chainId` is not local. */
export function wellKnownKeyProblems(chainId: number | bigint, keys: Record<string, string | undefined>): string[] {
  if (BigInt(chainId) === BigInt(LOCAL_CHAIN_ID)) return [];
  return Object.entries(keys).flatMap(([variable, key]) => {
    if (key === undefined) return [];
    const normalized = `0x${key.replace(/^0x/i, '').toLowerCase()}`;
    const index = ANVIL_KEYS.findIndex((known) => known === normalized);
    return index < 0 ? [] : [`${variable}: anvil's well-known key #${index} must not be used on chain ${chainId}`];
  });
}

/** Throws when any of `keys` is a well-known key on `chainId`, before the caller sends anything with it. */
export function refuseWellKnownKeys(chainId: number | bigint, keys: Record<string, string | undefined>): void {
  const problems = wellKnownKeyProblems(chainId, keys);
  if (problems.length) throw new Error(problems.join('; '));
}

/** The chain `rpcUrl` serves, as it answers: a variable could claim any chain. */
export async function chainIdAt(rpcUrl: string): Promise<bigint> {
  const provider = createProvider(rpcUrl);
  try {
    return (await provider.getNetwork()).chainId;
  } catch (err) {
    throw new Error(`RPC_URL: ${rpcUrl} does not say which chain it serves: ${(err as Error).message}`, { cause: err });
  } finally {
    provider.destroy();
  }
}
