import { ApplicationFailure } from '@temporalio/common';
import { getAddress, type Wallet } from 'ethers';
import { ZansocErrorType } from '../../domain/errors';
import {
  BOND_CONSENT_TYPES, chainDealId, chainJobId, escrowDomain, escrowIdOf, JOB_ESCROW_DOMAIN_NAME, STORAGE_ESCROW_DOMAIN_NAME, type BondConsent, type SignedBondConsent,
} from '../../domain/orders';
import type { BondConsentRequest } from './types';

/** How long a consent may be relayed: the bond follows it at once, so an hour is room enough for a slow chain. */
export const CONSENT_TTL_SECONDS = 3600;

export interface ConsentDeps {
  wallet: Pick<Wallet, 'address' | 'signTypedData'>;
  chainId: number;
  /** The escrows this host bonds to, from its deployment file. */
  escrows: { jobEscrow: string; storageEscrow: string };
  /** The most this host lets one job or deal term bond of its stake. */
  maxBond: bigint;
  log?: (line: string) => void;
}

/**
 * The host's side of a bond: its stake is locked only with its signature, for one escrow (a client's job or deal
 * term, named by the client and the id, so the host computes the escrow id itself) and one amount, at most its cap.
 */
export function createConsentActivities({ wallet, chainId, escrows, maxBond, log = () => undefined }: ConsentDeps) {
  return {
    async consentToBond(request: BondConsentRequest): Promise<SignedBondConsent> {
      const amount = BigInt(request.amount);
      if (amount <= 0n || amount > maxBond) {
        throw ApplicationFailure.create({
          type: ZansocErrorType.EscrowFailed,
          nonRetryable: true,
          message: `host ${wallet.address} bonds at most ${maxBond} ZSC base units to one ${request.escrow} (MAX_BOND), not ${amount}`,
        });
      }
      const job = request.escrow === 'job';
      const escrowId = escrowIdOf(getAddress(request.client), job ? chainJobId(request.id) : chainDealId(request.id));
      const consent: BondConsent = {
        escrowId, host: wallet.address, amount: amount.toString(), deadline: Math.floor(Date.now() / 1000) + CONSENT_TTL_SECONDS,
      };
      const domain = escrowDomain(job ? JOB_ESCROW_DOMAIN_NAME : STORAGE_ESCROW_DOMAIN_NAME, chainId, job ? escrows.jobEscrow : escrows.storageEscrow);
      const signature = await wallet.signTypedData(domain, BOND_CONSENT_TYPES, consent);
      log(`consented to bond ${amount} ZSC base units to ${request.escrow} ${request.id} of ${request.client}`);
      return { deadline: consent.deadline, signature };
    },
  };
}
