import { randomBytes } from 'node:crypto';
import { Wallet } from 'ethers';
import { isSealed, openSealed, sealTo } from './sealed-box';

describe('sealed boxes', () => {
  const client = Wallet.createRandom();
  const other = Wallet.createRandom();

  it('opens with the recipient key only', () => {
    const plaintext = randomBytes(100_000);
    const sealed = sealTo(client.signingKey.publicKey, plaintext);
    expect(isSealed(sealed)).toBe(true);
    expect(sealed.includes(plaintext.subarray(0, 32))).toBe(false);
    expect(openSealed(client.privateKey, sealed).equals(plaintext)).toBe(true);
    expect(() => openSealed(other.privateKey, sealed)).toThrow(/sealed to another key, or tampered with/);
  });

  it('takes a compressed key, seals empty data, and never seals the same bytes twice alike', () => {
    const a = sealTo(client.signingKey.compressedPublicKey, Buffer.alloc(0));
    const b = sealTo(client.signingKey.publicKey, Buffer.alloc(0));
    expect(a.equals(b)).toBe(false);
    expect(openSealed(client.privateKey, a).length).toBe(0);
  });

  it('refuses a tampered box, a truncated one and a bad key', () => {
    const sealed = sealTo(client.signingKey.publicKey, Buffer.from('secret output'));
    for (const at of [10, 80, sealed.length - 20, sealed.length - 1]) {
      const tampered = Buffer.from(sealed);
      tampered[at] ^= 1;
      expect(() => openSealed(client.privateKey, tampered)).toThrow(/sealed box/);
    }
    expect(() => openSealed(client.privateKey, sealed.subarray(0, 40))).toThrow(/not a sealed box/);
    expect(() => sealTo('0x1234', Buffer.from('x'))).toThrow(/recipient public key/);
  });
});
