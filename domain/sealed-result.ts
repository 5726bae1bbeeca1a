import { secp256k1 } from '@noble/curves/secp256k1';
import { keccak_256 } from '@noble/hashes/sha3';
import { bytesToHex, concatBytes, hexToBytes, utf8ToBytes } from '@noble/hashes/utils';
import type { SlotResult } from './execution';

/*
 * A host's result, sealed: its execute step answers only a commitment to the digest, signed with the host's key; once
 * every replica of the round has committed, it reveals the digest and the salt, signed again. Both signatures are
 * EIP-712 typed data, checked here in pure JS (no node built-ins) so that workflow code can check them itself.
 */

/** What a host's execute step answers: a commitment to its digest, signed, and nothing that gives the digest away. */
export interface SignedCommitment {
  executionId: string;
  /** keccak256(abi.encode(bytes32 resultDigest, address host, bytes32 salt)), 0x-hex. */
  commitment: string;
  /** The host's EIP-712 signature of SlotCommitment { jobId, executionId, commitment }. */
  signature: string;
}

/** What the workflow asks a host to reveal, once the round has committed. */
export interface RevealRequest {
  jobId: string;
  executionId: string;
}

/** The host's reveal: the result it committed to, the salt, and its EIP-712 signature of SlotResult. */
export interface SlotReveal {
  result: SlotResult;
  /** 32 bytes, 0x-hex. */
  salt: string;
  signature: string;
}

interface TypedField {
  name: string;
  type: 'string' | 'bytes32' | 'int256' | 'uint256' | 'bool';
}

/** The EIP-712 domain of results; it names the chain so a signature on one deployment means nothing on another. */
export const resultDomain = (chainId: number) => ({ name: 'Zansoc Result', version: '1', chainId });

export const COMMITMENT_TYPES = {
  SlotCommitment: [
    { name: 'jobId', type: 'string' },
    { name: 'executionId', type: 'string' },
    { name: 'commitment', type: 'bytes32' },
  ] satisfies TypedField[],
};

export const RESULT_TYPES = {
  SlotResult: [
    { name: 'jobId', type: 'string' },
    { name: 'executionId', type: 'string' },
    { name: 'commitment', type: 'bytes32' },
    { name: 'resultDigest', type: 'bytes32' },
    { name: 'outputSha256', type: 'bytes32' },
    { name: 'logsSha256', type: 'bytes32' },
    { name: 'exitCode', type: 'int256' },
    { name: 'timedOut', type: 'bool' },
    { name: 'oomKilled', type: 'bool' },
    { name: 'outputBytes', type: 'uint256' },
    { name: 'logsBytes', type: 'uint256' },
  ] satisfies TypedField[],
};

export interface CommitmentMessage {
  jobId: string;
  executionId: string;
  commitment: string;
}

/** The SlotResult message a host signs at its reveal (bytes32 fields 0x-prefixed, as EIP-712 signers take them). */
export function resultMessage(jobId: string, executionId: string, commitment: string, result: SlotResult) {
  return {
    jobId, executionId, commitment, resultDigest: `0x${result.resultDigest}`, outputSha256: `0x${result.outputSha256}`,
    logsSha256: `0x${result.logsSha256}`, exitCode: result.exitCode, timedOut: result.timedOut, oomKilled: result.oomKilled,
    outputBytes: result.outputBytes, logsBytes: result.logsBytes,
  };
}

const BYTES32 = /^0x[0-9a-fA-F]{64}$/;
const WORD = 2n ** 256n;

function word(value: bigint): Uint8Array {
  return hexToBytes(((value % WORD + WORD) % WORD).toString(16).padStart(64, '0'));
}

function bytes32(value: unknown): Uint8Array {
  if (typeof value !== 'string' || !BYTES32.test(value)) throw new Error(`not 32 bytes of hex: ${String(value).slice(0, 80)}`);
  return hexToBytes(value.slice(2));
}

function encodeField(field: TypedField, value: unknown): Uint8Array {
  switch (field.type) {
    case 'string':
      if (typeof value !== 'string') throw new Error(`${field.name}: not a string`);
      return keccak_256(utf8ToBytes(value));
    case 'bytes32':
      return bytes32(value);
    case 'bool':
      if (typeof value !== 'boolean') throw new Error(`${field.name}: not a boolean`);
      return word(value ? 1n : 0n);
    case 'int256':
    case 'uint256':
      if (typeof value !== 'number' || !Number.isSafeInteger(value) || (field.type === 'uint256' && value < 0)) throw new Error(`${field.name}: not a ${field.type}`);
      return word(BigInt(value));
  }
}

function hashStruct(name: string, fields: readonly TypedField[], value: Record<string, unknown>): Uint8Array {
  const typeHash = keccak_256(utf8ToBytes(`${name}(${fields.map((f) => `${f.type} ${f.name}`).join(',')})`));
  return keccak_256(concatBytes(typeHash, ...fields.map((f) => encodeField(f, value[f.name]))));
}

/** The EIP-712 hash a signer signs: keccak256(0x1901 ‖ domain separator ‖ struct hash). */
function typedDataHash(chainId: number, name: string, fields: readonly TypedField[], value: Record<string, unknown>): Uint8Array {
  const domainFields: TypedField[] = [{ name: 'name', type: 'string' }, { name: 'version', type: 'string' }, { name: 'chainId', type: 'uint256' }];
  const separator = hashStruct('EIP712Domain', domainFields, resultDomain(chainId));
  return keccak_256(concatBytes(new Uint8Array([0x19, 0x01]), separator, hashStruct(name, fields, value)));
}

/** The address (lowercase 0x-hex) whose key signed `hash`, or null when the signature is not one. */
function recoverSigner(hash: Uint8Array, signature: unknown): string | null {
  if (typeof signature !== 'string' || !/^0x[0-9a-fA-F]{130}$/.test(signature)) return null;
  const bytes = hexToBytes(signature.slice(2));
  const v = bytes[64];
  const recovery = v >= 27 ? v - 27 : v;
  if (recovery !== 0 && recovery !== 1) return null;
  try {
    const point = secp256k1.Signature.fromCompact(bytes.slice(0, 64)).addRecoveryBit(recovery).recoverPublicKey(hash);
    return `0x${bytesToHex(keccak_256(point.toRawBytes(false).slice(1)).slice(12))}`;
  } catch {
    return null;
  }
}

/** keccak256(abi.encode(bytes32 resultDigest, address host, bytes32 salt)): binds the digest to the host that found it. */
export function commitmentOf(resultDigest: string, host: string, salt: string): string {
  if (!/^0x[0-9a-fA-F]{40}$/.test(host)) throw new Error(`not an address: ${host}`);
  const address = new Uint8Array(32);
  address.set(hexToBytes(host.slice(2)), 12);
  return `0x${bytesToHex(keccak_256(concatBytes(bytes32(`0x${resultDigest}`), address, bytes32(salt))))}`;
}

/** Why a commitment is not `host`'s for this execution of this job, or null when it is. */
export function commitmentFault(chainId: number, jobId: string, executionId: string, host: string, signed: SignedCommitment | null | undefined): string | null {
  if (!signed || typeof signed !== 'object') return 'no commitment';
  if (signed.executionId !== executionId) return `the commitment is for execution ${String(signed.executionId).slice(0, 80)}, not this one`;
  if (typeof signed.commitment !== 'string' || !BYTES32.test(signed.commitment)) return 'the commitment is not 32 bytes of hex';
  const signer = recoverSigner(typedDataHash(chainId, 'SlotCommitment', COMMITMENT_TYPES.SlotCommitment, { jobId, executionId, commitment: signed.commitment }), signed.signature);
  if (signer === null) return 'the commitment carries no valid signature';
  if (signer !== host.toLowerCase()) return `the commitment is signed by ${signer}, not by the host's key ${host.toLowerCase()}`;
  return null;
}

/** Why a reveal does not open `host`'s commitment, or null when it does. */
export function revealFault(chainId: number, jobId: string, host: string, signed: SignedCommitment, reveal: SlotReveal | null | undefined): string | null {
  if (!reveal || typeof reveal !== 'object' || !reveal.result || typeof reveal.result !== 'object') return 'no reveal';
  const { result, salt } = reveal;
  let message: Record<string, unknown>;
  try {
    message = resultMessage(jobId, signed.executionId, signed.commitment, result);
    if (commitmentOf(result.resultDigest, host, salt) !== signed.commitment.toLowerCase()) return 'the revealed digest and salt do not open the commitment';
    const signer = recoverSigner(typedDataHash(chainId, 'SlotResult', RESULT_TYPES.SlotResult, message), reveal.signature);
    if (signer === null) return 'the reveal carries no valid signature';
    if (signer !== host.toLowerCase()) return `the reveal is signed by ${signer}, not by the host's key ${host.toLowerCase()}`;
  } catch (err) {
    return `the reveal is malformed: ${(err as Error).message}`;
  }
  return null;
}
