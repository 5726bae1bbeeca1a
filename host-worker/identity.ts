import { existsSync, readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { Wallet } from 'ethers';

/**
 * The host's key is its identity (did:ethr). It is created on first start and kept in the data folder (mode 0600).
 * Encrypting it with a passphrase comes with the host-worker issue.
 */
export function loadOrCreateHostKey(dataDir: string): Wallet {
  mkdirSync(dataDir, { recursive: true });
  const file = join(dataDir, 'host-key');
  if (existsSync(file)) return new Wallet(readFileSync(file, 'utf8').trim());
  const wallet = Wallet.createRandom();
  writeFileSync(file, `${wallet.privateKey}\n`, { mode: 0o600 });
  return new Wallet(wallet.privateKey);
}

export const didOf = (chainId: number, address: string): string => `did:ethr:${chainId}:${address}`;
export const defaultHostId = (address: string): string => `h-${address.slice(2, 12).toLowerCase()}`;
