import { randomBytes } from 'node:crypto';
import { Wallet, verifyTypedData } from 'ethers';
import type { SlotResult } from './execution';
import { COMMITMENT_TYPES, commitmentFault, commitmentOf, RESULT_TYPES, resultDomain, resultMessage, revealFault, type SignedCommitment, type SlotReveal } from './sealed-result';

const CHAIN = 31337;
const result: SlotResult = {
  exitCode: 0, timedOut: false, oomKilled: false, outputSha256: 'a'.repeat(64), outputBytes: 1024, resultDigest: 'b'.repeat(64),
  logsSha256: 'c'.repeat(64), logsBytes: 3, logsTruncated: false, durationMs: 2000,
};

/** A host sealing `result` as the real one does (host-worker/activities/compute.ts): ethers signs, the domain code checks. */
async function seal(wallet: Pick<Wallet, 'address' | 'signTypedData'>, jobId: string, executionId: string, r: SlotResult, chainId = CHAIN) {
  const salt = `0x${randomBytes(32).toString('hex')}`;
  const commitment = commitmentOf(r.resultDigest, wallet.address, salt);
  const signed: SignedCommitment = { executionId, commitment, signature: await wallet.signTypedData(resultDomain(chainId), COMMITMENT_TYPES, { jobId, executionId, commitment }) };
  const reveal: SlotReveal = { result: r, salt, signature: await wallet.signTypedData(resultDomain(chainId), RESULT_TYPES, resultMessage(jobId, executionId, commitment, r)) };
  return { signed, reveal };
}

describe('sealed results', () => {
  const host = Wallet.createRandom();
  const other = Wallet.createRandom();

  it('accepts a commitment and a reveal the host signed, checked as ethers checks them', async () => {
    const { signed, reveal } = await seal(host, 'job-1', 'exec-1', result);
    expect(commitmentFault(CHAIN, 'job-1', 'exec-1', host.address, signed)).toBeNull();
    expect(revealFault(CHAIN, 'job-1', host.address, signed, reveal)).toBeNull();
    expect(verifyTypedData(resultDomain(CHAIN), RESULT_TYPES, resultMessage('job-1', 'exec-1', signed.commitment, result), reveal.signature)).toBe(host.address);
    // A negative exit code (a container the engine killed) encodes as int256 too.
    const killed = await seal(host, 'job-1', 'exec-2', { ...result, exitCode: -1 });
    expect(revealFault(CHAIN, 'job-1', host.address, killed.signed, killed.reveal)).toBeNull();
  });

  it('binds the commitment to the host: the same digest commits differently for another host, and nothing shows it', async () => {
    const salt = `0x${'1'.repeat(64)}`;
    expect(commitmentOf(result.resultDigest, host.address, salt)).not.toBe(commitmentOf(result.resultDigest, other.address, salt));
    const { signed } = await seal(host, 'job-1', 'exec-1', result);
    expect(JSON.stringify(signed)).not.toContain(result.resultDigest);
    expect(JSON.stringify(signed)).not.toContain(result.outputSha256);
  });

  it('refuses a commitment signed by another key, for another job, execution or chain, or not signed at all', async () => {
    const { signed } = await seal(other, 'job-1', 'exec-1', result);
    expect(commitmentFault(CHAIN, 'job-1', 'exec-1', host.address, signed)).toMatch(/signed by 0x[0-9a-f]{40}, not by the host's key/);
    const own = (await seal(host, 'job-1', 'exec-1', result)).signed;
    expect(commitmentFault(CHAIN, 'job-2', 'exec-1', host.address, own)).toMatch(/not by the host's key/);
    expect(commitmentFault(CHAIN, 'job-1', 'exec-9', host.address, own)).toMatch(/for execution exec-1, not this one/);
    expect(commitmentFault(1, 'job-1', 'exec-1', host.address, own)).toMatch(/not by the host's key/);
    expect(commitmentFault(CHAIN, 'job-1', 'exec-1', host.address, { ...own, signature: '0x' })).toBe('the commitment carries no valid signature');
    expect(commitmentFault(CHAIN, 'job-1', 'exec-1', host.address, { ...own, signature: undefined as unknown as string })).toBe('the commitment carries no valid signature');
    expect(commitmentFault(CHAIN, 'job-1', 'exec-1', host.address, { ...own, commitment: 'b'.repeat(64) })).toBe('the commitment is not 32 bytes of hex');
    expect(commitmentFault(CHAIN, 'job-1', 'exec-1', host.address, null)).toBe('no commitment');
  });

  it('refuses a reveal of another digest, another salt, a copied result or changed fields', async () => {
    const { signed, reveal } = await seal(host, 'job-1', 'exec-1', result);
    // Revealing another digest (say, one copied from another replica) does not open the commitment.
    const copied = { ...result, resultDigest: 'd'.repeat(64) };
    const lied = await host.signTypedData(resultDomain(CHAIN), RESULT_TYPES, resultMessage('job-1', 'exec-1', signed.commitment, copied));
    expect(revealFault(CHAIN, 'job-1', host.address, signed, { ...reveal, result: copied, signature: lied })).toBe('the revealed digest and salt do not open the commitment');
    expect(revealFault(CHAIN, 'job-1', host.address, signed, { ...reveal, salt: `0x${'2'.repeat(64)}` })).toBe('the revealed digest and salt do not open the commitment');
    // Another host's commitment opened with this host's reveal: the commitment names the host.
    const theirs = await seal(other, 'job-1', 'exec-1', result);
    expect(revealFault(CHAIN, 'job-1', host.address, theirs.signed, theirs.reveal)).toBe('the revealed digest and salt do not open the commitment');
    // Fields the signature covers cannot change after signing.
    expect(revealFault(CHAIN, 'job-1', host.address, signed, { ...reveal, result: { ...result, exitCode: 1 } })).toMatch(/not by the host's key/);
    expect(revealFault(CHAIN, 'job-1', host.address, signed, { ...reveal, result: { ...result, outputSha256: 'e'.repeat(64) } })).toMatch(/not by the host's key/);
    expect(revealFault(CHAIN, 'job-1', host.address, signed, { ...reveal, signature: '0x1234' })).toBe('the reveal carries no valid signature');
    expect(revealFault(CHAIN, 'job-1', host.address, signed, { ...reveal, result: { ...result, resultDigest: 'xyz' } })).toMatch(/malformed/);
    expect(revealFault(CHAIN, 'job-1', host.address, signed, null)).toBe('no reveal');
  });
});
