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

/**
 * Refuses, as insufficient funds, an order of `wanted` that `client`'s balance cannot cover, or that the escrow may
 * not pull: neither the client's allowance nor its permit covers it.
 */
export async function requireFunds(
  { token }: ChainClient, client: string, spender: string, wanted: bigint, permitValue: bigint, purpose: string,
): Promise<void> {
  const balance = await token.balanceOf(client);
  const refuse = (message: string) => {
    throw ApplicationFailure.create({ type: ZansocErrorType.InsufficientFunds, nonRetryable: true, message });
  };
  if (balance < wanted) refuse(`client ${client} holds ${balance} ZSC base units but ${purpose} needs ${wanted}`);
  const allowance = await token.allowance(client, spender);
  if (allowance < wanted && permitValue < wanted) {
    refuse(`client ${client} allows the escrow ${allowance} ZSC base units and its permit ${permitValue}, but ${purpose} needs ${wanted}`);
  }
}
