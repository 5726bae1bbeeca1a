import { id } from 'ethers';

/** The on-chain id of one fault of a deal (e.g. `period-7/host-3`): a fault is slashed at most once. */
export function chainFaultId(faultKey: string): string {
  return id(`fault:${faultKey}`);
}
