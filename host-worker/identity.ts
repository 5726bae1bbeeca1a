import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { Wallet } from 'ethers';

/** The host's key is its identity (did:ethr). It lives in an encrypted keystore (ethers' JSON wallet, scrypt). */
export const KEYSTORE_FILE = 'host-keystore.json';

/**
 * Loads the keystore in `dataDir`, or creates one on first start (from `importKey` when given). A wrong passphrase
 * fails with a clear message naming `variable`. The CLI keeps a client's key the same way (`zansoc login`).
 */
export async function loadOrCreateHostKey(
  dataDir: string, passphrase: string, opts: { file?: string; variable?: string; importKey?: string } = {},
): Promise<{ wallet: Wallet; created: boolean }> {
  const { file: name = KEYSTORE_FILE, variable = 'HOST_KEY_PASSPHRASE', importKey } = opts;
  if (passphrase.length < 8) throw new Error(`${variable}: must be at least 8 characters`);
  mkdirSync(dataDir, { recursive: true });
  const file = join(dataDir, name);
  if (existsSync(file)) {
    try {
      const wallet = await Wallet.fromEncryptedJson(readFileSync(file, 'utf8'), passphrase);
      return { wallet: new Wallet(wallet.privateKey), created: false };
    } catch (err) {
      const message = (err as Error).message;
      throw new Error(/password|invalid/i.test(message)
        ? `${variable}: does not open the keystore ${file}`
        : `cannot read the keystore ${file}: ${message}`, { cause: err });
    }
  }
  const wallet = importKey ? new Wallet(importKey) : Wallet.createRandom();
  const json = await wallet.encrypt(passphrase);
  // Written whole or not at all: a half-written keystore would lose the host's identity and its stake.
  writeFileSync(`${file}.partial`, json, { mode: 0o600 });
  renameSync(`${file}.partial`, file);
  return { wallet: new Wallet(wallet.privateKey), created: true };
}

/** The passphrase from `variable` (HOST_KEY_PASSPHRASE), or asked for on the terminal (not echoed). */
export async function hostKeyPassphrase(
  env: NodeJS.ProcessEnv = process.env, variable = 'HOST_KEY_PASSPHRASE', what = 'the host key',
): Promise<string> {
  const given = env[variable];
  if (given) return given;
  if (!process.stdin.isTTY) throw new Error(`${variable}: set it, or run in a terminal to be asked for it`);
  const rl = createInterface({ input: process.stdin, output: process.stdout, terminal: true });
  const ask = rl as unknown as { _writeToOutput: (s: string) => void };
  process.stdout.write(`passphrase of ${what}: `);
  ask._writeToOutput = () => undefined;
  const answer = await new Promise<string>((resolve) => rl.question('', resolve));
  rl.close();
  process.stdout.write('\n');
  return answer;
}

export const defaultHostId = (address: string): string => `h-${address.slice(2, 12).toLowerCase()}`;
