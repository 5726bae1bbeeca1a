import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { didOf } from '../api/signing';
import { defaultHostId, KEYSTORE_FILE, loadOrCreateHostKey } from './identity';

describe('host identity', () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'zansoc-id-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('creates an encrypted keystore once and opens it again with the passphrase', async () => {
    const first = await loadOrCreateHostKey(dir, 'correct horse');
    expect(first.created).toBe(true);
    const file = join(dir, KEYSTORE_FILE);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(readFileSync(file, 'utf8')).not.toContain(first.wallet.privateKey.slice(2));
    const again = await loadOrCreateHostKey(dir, 'correct horse');
    expect(again).toMatchObject({ created: false });
    expect(again.wallet.address).toBe(first.wallet.address);
  });

  it('refuses a wrong or short passphrase naming the variable', async () => {
    await loadOrCreateHostKey(dir, 'correct horse');
    await expect(loadOrCreateHostKey(dir, 'wrong horse')).rejects.toThrow(/^HOST_KEY_PASSPHRASE: does not open the keystore/);
    await expect(loadOrCreateHostKey(dir, 'short')).rejects.toThrow('HOST_KEY_PASSPHRASE: must be at least 8 characters');
  });

  it('names the host by its did:ethr', () => {
    const address = '0xA3ad89bfc574B74d68506426a72713Dc542acC4e';
    expect(didOf(31337, address)).toBe('did:ethr:31337:0xa3ad89bfc574b74d68506426a72713dc542acc4e');
    expect(defaultHostId(address)).toBe('h-a3ad89bfc5');
  });
});
