import { ApplicationFailure } from '@temporalio/common';
import { Wallet, verifyTypedData } from 'ethers';
import { ZansocErrorType } from '../../domain/errors';
import {
  BOND_CONSENT_TYPES,
  JOB_ESCROW_DOMAIN_NAME,
  STORAGE_ESCROW_DOMAIN_NAME,
  chainDealId,
  chainJobId,
  dealEscrowId,
  escrowDomain,
  escrowIdOf,
  jobEscrowId,
  type BondConsent,
} from '../../domain/orders';
import { CONSENT_TTL_SECONDS, createConsentActivities } from './consent';

const CHAIN_ID = 31337;
const ESCROWS = { jobEscrow: Wallet.createRandom().address, storageEscrow: Wallet.createRandom().address };
const CLIENT = Wallet.createRandom().address;
const MAX_BOND = 1000n;

const host = Wallet.createRandom();
const lines: string[] = [];
const { consentToBond } = createConsentActivities({ wallet: host, chainId: CHAIN_ID, escrows: ESCROWS, maxBond: MAX_BOND, log: (line) => lines.push(line) });

const jobDomain = escrowDomain(JOB_ESCROW_DOMAIN_NAME, CHAIN_ID, ESCROWS.jobEscrow);
const storageDomain = escrowDomain(STORAGE_ESCROW_DOMAIN_NAME, CHAIN_ID, ESCROWS.storageEscrow);
const signerOf = (domain: typeof jobDomain, consent: BondConsent, signature: string) => verifyTypedData(domain, BOND_CONSENT_TYPES, consent, signature);
const nowSeconds = () => Math.floor(Date.now() / 1000);

async function failureOf(action: Promise<unknown>): Promise<ApplicationFailure> {
  const error = await action.then(
    () => null,
    (err: unknown) => err,
  );
  if (!(error instanceof ApplicationFailure)) throw new Error(`expected an ApplicationFailure, got ${String(error)}`);
  return error;
}

it("signs the BondConsent of a job's escrow, for JobEscrow's domain, with the host's key", async () => {
  const before = nowSeconds();
  const { deadline, signature } = await consentToBond({ escrow: 'job', client: CLIENT, id: 'job-1', amount: '250' });
  const escrowId = escrowIdOf(CLIENT, chainJobId('job-1'));
  expect(escrowId).toBe(jobEscrowId(CLIENT, 'job-1'));

  expect(signerOf(jobDomain, { escrowId, host: host.address, amount: '250', deadline }, signature)).toBe(host.address);
  expect(deadline).toBeGreaterThanOrEqual(before + CONSENT_TTL_SECONDS);
  expect(deadline).toBeLessThanOrEqual(nowSeconds() + CONSENT_TTL_SECONDS);

  // The signature binds every field and the domain: any other one recovers someone else.
  for (const other of [
    { escrowId: escrowIdOf(CLIENT, chainDealId('job-1')), host: host.address, amount: '250', deadline },
    { escrowId: jobEscrowId(Wallet.createRandom().address, 'job-1'), host: host.address, amount: '250', deadline },
    { escrowId, host: host.address, amount: '251', deadline },
    { escrowId, host: host.address, amount: '250', deadline: deadline + 1 },
  ]) {
    expect(signerOf(jobDomain, other, signature)).not.toBe(host.address);
  }
  expect(signerOf(storageDomain, { escrowId, host: host.address, amount: '250', deadline }, signature)).not.toBe(host.address);
  expect(signerOf({ ...jobDomain, chainId: 1 }, { escrowId, host: host.address, amount: '250', deadline }, signature)).not.toBe(host.address);
});

it("signs the BondConsent of a deal term's escrow for StorageEscrow's domain, keyed by the term", async () => {
  const { deadline, signature } = await consentToBond({ escrow: 'storage', client: CLIENT, id: 'deal-7/term-2', amount: String(MAX_BOND) });
  const escrowId = escrowIdOf(CLIENT, chainDealId('deal-7/term-2'));
  expect(escrowId).toBe(dealEscrowId(CLIENT, 'deal-7/term-2'));
  expect(escrowId).not.toBe(dealEscrowId(CLIENT, 'deal-7'));

  expect(signerOf(storageDomain, { escrowId, host: host.address, amount: String(MAX_BOND), deadline }, signature)).toBe(host.address);
  expect(signerOf(jobDomain, { escrowId, host: host.address, amount: String(MAX_BOND), deadline }, signature)).not.toBe(host.address);
  expect(signerOf(storageDomain, { escrowId: dealEscrowId(CLIENT, 'deal-7'), host: host.address, amount: String(MAX_BOND), deadline }, signature)).not.toBe(
    host.address,
  );
});

it("names the client's escrow whatever the case of its address", async () => {
  const { deadline, signature } = await consentToBond({ escrow: 'job', client: CLIENT.toLowerCase(), id: 'job-2', amount: '1' });
  expect(signerOf(jobDomain, { escrowId: jobEscrowId(CLIENT, 'job-2'), host: host.address, amount: '1', deadline }, signature)).toBe(host.address);
});

it('refuses for good, naming MAX_BOND, to consent to nothing or to more than the cap', async () => {
  for (const [escrow, amount] of [['job', String(MAX_BOND + 1n)], ['storage', String(MAX_BOND + 1n)], ['job', '0']] as const) {
    const failure = await failureOf(consentToBond({ escrow, client: CLIENT, id: 'job-3', amount }));
    expect(failure).toMatchObject({ type: ZansocErrorType.EscrowFailed, nonRetryable: true });
    expect(failure.message).toContain('MAX_BOND');
    expect(failure.message).toContain(`at most ${MAX_BOND}`);
    expect(failure.message).toContain(`not ${amount}`);
  }
});

it('logs each consent it gives', async () => {
  lines.length = 0;
  await consentToBond({ escrow: 'storage', client: CLIENT, id: 'deal-8', amount: '3' });
  expect(lines).toEqual([`consented to bond 3 ZSC base units to storage deal-8 of ${CLIENT}`]);
});
