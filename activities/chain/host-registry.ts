import type { SignedBondConsent } from '../../domain/orders';
import type { ChainClient } from './client';
import { escrowFailed, parseAddress, parseAmount, sendOnce } from './common';

export interface BondResult {
  /** The bond transaction, or null when the host was already bonded. */
  txHash: string | null;
  alreadyBonded: boolean;
}

/**
 * Bonds part of a host's free stake in the HostRegistry, with the host's signed consent, to an open job of JobEscrow
 * or deal of StorageEscrow (both bond as Escrow.sol does); does nothing if the host is bonded to it already.
 */
export function bondFreeStake(
  chain: ChainClient,
  bond: {
    escrow: 'escrow' | 'storageEscrow';
    /** The job's or deal's id on chain. */
    id: string;
    /** What the stake is bonded to, e.g. `job 7`. */
    to: string;
    isOpen: () => Promise<boolean>;
    host: string;
    /** ZSC base units, decimal string. */
    amount: string;
    /** The host's signed consent to exactly this bond; without it nothing is sent. */
    consent: SignedBondConsent | null;
  },
): Promise<BondResult> {
  const host = parseAddress('host', bond.host);
  const { consent } = bond;
  const wanted = parseAmount('amount', bond.amount);
  const what = `host ${host} to ${bond.to}`;
  /** The consent to send with, refused before sending when there is none or it expired (a bond already made needs none). */
  const usableConsent = (): SignedBondConsent => {
    if (!consent) throw escrowFailed(`cannot bond ${what}: the host has not consented`);
    if (consent.deadline <= Math.floor(Date.now() / 1000)) throw escrowFailed(`cannot bond ${what}: the host's consent expired at ${consent.deadline}`);
    return consent;
  };
  return sendOnce({
    doing: `bonding ${what}`,
    read: () => chain[bond.escrow].bondOf(bond.id, host),
    already: (bonded): BondResult | null => {
      if (bonded === 0n) return null;
      if (bonded !== wanted) throw escrowFailed(`${what} is already bonded for ${bonded}, not ${wanted}`);
      return { txHash: null, alreadyBonded: true };
    },
    check: async () => {
      if (!(await bond.isOpen())) throw escrowFailed(`cannot bond ${what}: it is not open`);
      const free = await chain.registry.freeStakeOf(host);
      if (free < wanted) throw escrowFailed(`cannot bond ${what}: the host has ${free} ZSC base units of free stake, ${wanted} needed`);
      usableConsent();
    },
    send: async () => {
      const { deadline, signature } = usableConsent();
      const receipt = await chain.settler.send(() => chain.settler[bond.escrow].bond(bond.id, host, wanted, deadline, signature));
      return { txHash: receipt.hash, alreadyBonded: false };
    },
  });
}
