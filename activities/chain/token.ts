import { ApplicationFailure } from '@temporalio/common';
import { ZansocErrorType } from '../../domain/errors';
import type { ChainClient } from './client';
import { explainRevert, parseAddress, parseAmount } from './common';

export interface FundClientInput {
  address: string;
  amount: string;
}

/** The treasury's activities: it holds the ZSC supply, funds clients on the devnet and receives what nobody else earned. */
export function createTokenActivities({ chain }: { chain: ChainClient }) {
  /** Devnet faucet: sends ZSC from the treasury. Sends once per call; calling it twice pays twice. */
  async function fundClient({ address, amount }: FundClientInput): Promise<{ txHash: string }> {
    const treasury = chain.treasury;
    if (!treasury) throw new Error('fundClient needs the treasury key: pass treasuryKey to connectChain');
    const to = parseAddress('address', address);
    const value = parseAmount('amount', amount);
    try {
      const receipt = await treasury.send(() => treasury.token.transfer(to, value));
      return { txHash: receipt.hash };
    } catch (err) {
      throw explainRevert(err, `funding ${to} with ${value}`);
    }
  }

  /** Where slashed bonds of dishonest hosts go when nobody else earned them. */
  async function treasuryAddress(): Promise<string> {
    return chain.deployment.treasury;
  }

  return { fundClient, treasuryAddress };
}

/** Refuses, as insufficient funds, a payment of `wanted` the client's balance cannot cover. */
export async function requireBalance({ token, client }: ChainClient, wanted: bigint, purpose: string): Promise<void> {
  const balance = await token.balanceOf(client.address);
  if (balance < wanted) {
    throw ApplicationFailure.create({
      type: ZansocErrorType.InsufficientFunds,
      nonRetryable: true,
      message: `client ${client.address} holds ${balance} ZSC base units but ${purpose} needs ${wanted}`,
    });
  }
}

/** Approves `spender` for `amount` (default: just what is wanted) when the client's allowance is short of `wanted`. */
export async function approveIfNeeded({ token, client }: ChainClient, spender: string, wanted: bigint, amount: bigint = wanted): Promise<void> {
  if ((await token.allowance(client.address, spender)) < wanted) {
    await client.send(() => client.token.approve(spender, amount));
  }
}
