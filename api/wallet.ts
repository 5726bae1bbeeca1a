import { NonceManager, Wallet } from 'ethers';
import { connectHostRegistry, connectJobEscrow, connectStorageEscrow, connectZansocToken } from '../contracts/bindings';
import { loadDeployment, type Deployment } from '../contracts/deployment';
import { createProvider } from '../contracts/provider';

/** What the API can tell and give about ZSC: a caller's balance, what its orders need, and on a devnet a faucet. */
export interface WalletService {
  /** The chain and the contracts that orders and permits are signed for. */
  readonly deployment: Pick<Deployment, 'chainId' | 'token' | 'jobEscrow' | 'storageEscrow'>;
  balanceOf(address: string): Promise<string>;
  /** What `owner` lets `spender` (an escrow) pull, and its next EIP-2612 permit nonce. */
  allowance(owner: string, spender: string): Promise<bigint>;
  permitNonce(owner: string): Promise<bigint>;
  /** The client's order floor on an escrow: orders signed below it are revoked. */
  minNonceOf(escrow: 'job' | 'storage', client: string): Promise<bigint>;
  /** What an escrow holds locked: the amount of an open one, 0 for one that is closed, null for one never opened. */
  escrowOf(escrow: 'job' | 'storage', escrowId: string): Promise<{ open: boolean; amount: bigint } | null>;
  /** What `address` has staked on HostRegistry, in base units ('0' when it is not registered there). */
  stakeOf(address: string): Promise<string>;
  /** Sends `amount` ZSC base units to `address`; null when this API has no faucet. */
  faucet: ((address: string) => Promise<{ txHash: string; amount: string }>) | null;
}

/** Faucet grants per address are at most one per this long. */
export const FAUCET_INTERVAL_MS = 60 * 60_000;

/** Anyone may ask the faucet, so its key must hold nothing but what it gives: no role of the deployment. */
function refuseFaucetHoldingARole(faucet: string, deployment: Deployment): void {
  for (const role of ['deployer', 'treasury', 'settler', 'governor'] as const) {
    if (deployment[role] === faucet) {
      throw new Error(`FAUCET_KEY: is the key of the deployment's ${role} (${faucet}); the faucet needs a wallet of its own`);
    }
  }
}

export function createWalletService(opts: { rpcUrl: string; deploymentFile: string; faucetKey?: string; faucetAmount: string }): WalletService {
  const deployment = loadDeployment(opts.deploymentFile);
  if (opts.faucetKey) refuseFaucetHoldingARole(new Wallet(opts.faucetKey).address, deployment);
  const provider = createProvider(opts.rpcUrl);
  const token = connectZansocToken(deployment.token, provider);
  const registry = connectHostRegistry(deployment.hostRegistry, provider);
  const jobs = connectJobEscrow(deployment.jobEscrow, provider);
  const deals = connectStorageEscrow(deployment.storageEscrow, provider);
  const granted = new Map<string, number>();
  const signer = opts.faucetKey ? new NonceManager(new Wallet(opts.faucetKey, provider)) : null;
  return {
    deployment,
    async balanceOf(address) {
      return (await token.balanceOf(address)).toString();
    },
    allowance: (owner, spender) => token.allowance(owner, spender),
    permitNonce: (owner) => token.nonces(owner),
    minNonceOf: (escrow, client) => (escrow === 'job' ? jobs : deals).minNonceOf(client),
    async escrowOf(escrow, escrowId) {
      if (escrow === 'job') {
        const [, amount, , , status] = await jobs.jobOf(escrowId);
        return status === 0n ? null : { open: status === 1n, amount: status === 1n ? amount : 0n };
      }
      const [, remaining, , , , , , status] = await deals.dealOf(escrowId);
      return status === 0n ? null : { open: status === 1n, amount: status === 1n ? remaining : 0n };
    },
    async stakeOf(address) {
      const [registered, staked] = await registry.hostOf(address);
      return registered ? staked.toString() : '0';
    },
    faucet: signer ? async (address) => {
      const last = granted.get(address.toLowerCase());
      if (last && Date.now() - last < FAUCET_INTERVAL_MS) {
        throw new Error(`the faucet gave ${address} ZSC less than an hour ago; try again after ${new Date(last + FAUCET_INTERVAL_MS).toISOString()}`);
      }
      granted.set(address.toLowerCase(), Date.now());
      try {
        const tx = await connectZansocToken(deployment.token, signer).transfer(address, BigInt(opts.faucetAmount));
        const receipt = await tx.wait();
        return { txHash: receipt!.hash, amount: opts.faucetAmount };
      } catch (err) {
        granted.delete(address.toLowerCase());
        throw err;
      }
    } : null,
  };
}
