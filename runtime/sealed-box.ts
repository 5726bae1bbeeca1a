import { createCipheriv, createDecipheriv, createECDH, hkdfSync, randomBytes } from 'node:crypto';
import { SigningKey } from 'ethers';

/**
 * Sealed boxes: data encrypted to one secp256k1 public key (the client's Ethereum key), which only its private key
 * opens. ECIES: an ephemeral ECDH key per box, HKDF-SHA256 over the shared secret, AES-256-GCM. The sender keeps
 * nothing that could open the box again. Layout: magic `ZSB1` | ephemeral public key (65 bytes, uncompressed) |
 * nonce (12) | ciphertext | tag (16); the magic and ephemeral key are authenticated as associated data.
 */
const MAGIC = Buffer.from('ZSB1');
const EPHEMERAL_BYTES = 65;
const NONCE_BYTES = 12;
const TAG_BYTES = 16;
const HEADER_BYTES = MAGIC.length + EPHEMERAL_BYTES + NONCE_BYTES;
const INFO = Buffer.from('zansoc-sealed-box-v1');

/** A public key as 65 uncompressed bytes, from any form ethers reads (0x04…, compressed 0x02/0x03…). */
function uncompressed(publicKey: string): Buffer {
  let key: string;
  try {
    key = SigningKey.computePublicKey(publicKey, false);
  } catch {
    throw new Error(`recipient public key: not a secp256k1 public key: ${publicKey.slice(0, 20)}…`);
  }
  return Buffer.from(key.slice(2), 'hex');
}

function keyFor(shared: Buffer, ephemeral: Buffer, recipient: Buffer): Buffer {
  return Buffer.from(hkdfSync('sha256', shared, Buffer.concat([ephemeral, recipient]), INFO, 32));
}

export function isSealed(data: Buffer): boolean {
  return data.length >= HEADER_BYTES + TAG_BYTES && data.subarray(0, MAGIC.length).equals(MAGIC);
}

/** Encrypts `plaintext` so that only the holder of `recipientPublicKey`'s private key can read it. */
export function sealTo(recipientPublicKey: string, plaintext: Buffer): Buffer {
  const recipient = uncompressed(recipientPublicKey);
  const ecdh = createECDH('secp256k1');
  const ephemeral = ecdh.generateKeys();
  const shared = ecdh.computeSecret(recipient);
  const nonce = randomBytes(NONCE_BYTES);
  const header = Buffer.concat([MAGIC, ephemeral, nonce]);
  const cipher = createCipheriv('aes-256-gcm', keyFor(shared, ephemeral, recipient), nonce);
  cipher.setAAD(header);
  const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return Buffer.concat([header, body, cipher.getAuthTag()]);
}

/** Opens a box sealed to the public key of `privateKey` (0x-hex); throws when it is not one, or was tampered with. */
export function openSealed(privateKey: string, sealed: Buffer): Buffer {
  if (!isSealed(sealed)) throw new Error('not a sealed box (no ZSB1 header)');
  const signingKey = new SigningKey(privateKey);
  const recipient = uncompressed(signingKey.publicKey);
  const ephemeral = sealed.subarray(MAGIC.length, MAGIC.length + EPHEMERAL_BYTES);
  const nonce = sealed.subarray(MAGIC.length + EPHEMERAL_BYTES, HEADER_BYTES);
  const ecdh = createECDH('secp256k1');
  ecdh.setPrivateKey(Buffer.from(signingKey.privateKey.slice(2), 'hex'));
  let shared: Buffer;
  try {
    shared = ecdh.computeSecret(ephemeral);
  } catch {
    throw new Error('sealed box: its ephemeral key is not on secp256k1');
  }
  const decipher = createDecipheriv('aes-256-gcm', keyFor(shared, ephemeral, recipient), nonce);
  decipher.setAAD(sealed.subarray(0, HEADER_BYTES));
  decipher.setAuthTag(sealed.subarray(sealed.length - TAG_BYTES));
  try {
    return Buffer.concat([decipher.update(sealed.subarray(HEADER_BYTES, sealed.length - TAG_BYTES)), decipher.final()]);
  } catch {
    throw new Error('sealed box: cannot open it with this key (sealed to another key, or tampered with)');
  }
}
