import { Wallet } from 'ethers';
import { createProvider } from './provider';

/**
 * Addresses of the first ten accounts of anvil's default mnemonic ("test test … junk"). Anyone can derive their keys,
 * so they are fit only for a local chain: every process that holds a key refuses one of these anywhere else. Only
 * the addresses live here; the keys themselves are the devnet's and the tests' (scripts/anvil.ts).
 */
export const WELL_KNOWN_ADDRESSES = [
  '0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266',
  '0x70997970C51812dc3A010C7d01b50e0d17dc79C8',
  '0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC',
  '0x90F79bf6EB2c4f870365E785982E1f101E93b906',
  '0x15d34AAf54267DB7D7c367839AAf71A00a2C6A65',
  '0x9965507D1a55bcC2695C58ba16FB37d819B0A4dc',
  '0x976EA74026E726554dB657fA54763abd0C3a0aa9',
  '0x14dC79964da2C08b23698B3D3cc7Ca32193d9955',
  '0x23618e81E3f5cdF7f54C3d65f7FBc0aBf5B21E8f',
  '0xa0Ee7A142d267C1f36714E4a8F75612F20a79720',
] as const;

/** anvil's chain id, the devnet's: the only chain the well-known keys may sign on. */
export const LOCAL_CHAIN_ID = 31337;

/** One message per key in `keys` (variable name → private key) that is a well-known key while `chainId` is not local. */
export function wellKnownKeyProblems(chainId: number | bigint, keys: Record<string, string | undefined>): string[] {
  if (BigInt(chainId) === BigInt(LOCAL_CHAIN_ID)) return [];
  return Object.entries(keys).flatMap(([variable, key]) => {
    if (key === undefined) return [];
    const index = WELL_KNOWN_ADDRESSES.indexOf(addressOf(key) as (typeof WELL_KNOWN_ADDRESSES)[number]);
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

/** The address of a private key, or null when it is not one (the caller's own validation names that). */
function addressOf(key: string): string | null {
  try {
    return new Wallet(`0x${key.replace(/^0x/i, '').toLowerCase()}`).address;
  } catch {
    return null;
  }
}
