import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { Wallet } from 'ethers';

/** The host's key is its identity (did:ethr). It lives in an encrypted keystore (ethers' JSON wallet, scrypt). */
export const KEYSTORE_FILE = 'host-keystore.json';

/** Loads the keystore in `dataDir`, or creates one on first start. A wrong passphrase fails with a clear message. */
export async function loadOrCreateHostKey(dataDir: string, passphrase: string): Promise<{ wallet: Wallet; created: boolean }> {
  if (passphrase.length < 8) throw new Error('HOST_KEY_PASSPHRASE: must be at least 8 characters');
  mkdirSync(dataDir, { recursive: true });
  const file = join(dataDir, KEYSTORE_FILE);
  if (existsSync(file)) {
    try {
      const wallet = await Wallet.fromEncryptedJson(readFileSync(file, 'utf8'), passphrase);
      return { wallet: new Wallet(wallet.privateKey), created: false };
    } catch (err) {
      const message = (err as Error).message;
      throw new Error(/password|invalid/i.test(message)
        ? `HOST_KEY_PASSPHRASE: does not open the keystore ${file}`
        : `cannot read the keystore ${file}: ${message}`);
    }
  }
  const wallet = Wallet.createRandom();
  const json = await wallet.encrypt(passphrase);
  // Written whole or not at all: a half-written keystore would lose the host's identity and its stake.
  writeFileSync(`${file}.partial`, json, { mode: 0o600 });
  renameSync(`${file}.partial`, file);
  return { wallet: new Wallet(wallet.privateKey), created: true };
}

/** The passphrase from HOST_KEY_PASSPHRASE, or asked for on the terminal (not echoed). */
export async function hostKeyPassphrase(env: NodeJS.ProcessEnv = process.env): Promise<string> {
  if (env.HOST_KEY_PASSPHRASE) return env.HOST_KEY_PASSPHRASE;
  if (!process.stdin.isTTY) throw new Error('HOST_KEY_PASSPHRASE: set it, or run in a terminal to be asked for it');
  const rl = createInterface({ input: process.stdin, output: process.stdout, terminal: true });
  const ask = rl as unknown as { _writeToOutput: (s: string) => void };
  process.stdout.write('passphrase of the host key: ');
  ask._writeToOutput = () => undefined;
  const answer = await new Promise<string>((resolve) => rl.question('', resolve));
  rl.close();
  process.stdout.write('\n');
  return answer;
}

export const didOf = (chainId: number, address: string): string => `did:ethr:${chainId}:${address}`;
export const defaultHostId = (address: string): string => `h-${address.slice(2, 12).toLowerCase()}`;
