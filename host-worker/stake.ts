import { keccak256, NonceManager, toUtf8Bytes, type Wallet } from 'ethers';
import { connectHostRegistry, connectZansocToken } from '../contracts/bindings';
import type { Deployment } from '../contracts/deployment';
import { confirmTransaction, createProvider } from '../contracts/provider';
import { refuseWellKnownKeys } from '../contracts/well-known-keys';
import type { HostOffer } from '../domain/capabilities';

/** The hash a host commits on chain for its offer: keccak256 of the offer as JSON with sorted keys. */
export function offerHash(offer: HostOffer): string {
  const sorted = Object.fromEntries(Object.entries(offer).sort(([a], [b]) => a.localeCompare(b)));
  return keccak256(toUtf8Bytes(JSON.stringify(sorted)));
}

/**
 * Makes sure the host is registered on HostRegistry with at least `stake` ZSC staked and its current offer's hash.
 * Reads first and sends only what is missing, so a restart sends nothing. A short balance is refused with what to fund,
 * and anvil's well-known keys off anvil's chain (a host could have imported one) before anything is sent.
 */
export async function ensureHostStake(opts: {
  rpcUrl: string; deployment: Deployment; wallet: Wallet; stake: bigint; offer: HostOffer;
}): Promise<{ staked: bigint; sent: string[] }> {
  const provider = createProvider(opts.rpcUrl);
  try {
    refuseWellKnownKeys((await provider.getNetwork()).chainId, { 'host key': opts.wallet.privateKey });
    const signer = new NonceManager(opts.wallet.connect(provider));
    const registry = connectHostRegistry(opts.deployment.hostRegistry, signer);
    const token = connectZansocToken(opts.deployment.token, signer);
    const address = opts.wallet.address;
    const metadataHash = offerHash(opts.offer);
    const [registered, staked, , , , committedHash] = await registry.hostOf(address);
    const need = opts.stake > staked ? opts.stake - staked : 0n;
    const sent: string[] = [];
    const send = async (tx: Promise<{ hash: string }>) => {
      sent.push((await confirmTransaction(provider, (await tx).hash)).hash);
    };
    if (need > 0n) {
      const balance = await token.balanceOf(address);
      if (balance < need) {
        throw new Error(`STAKE: host ${address} holds ${balance} ZSC base units and needs ${need} more to stake ${opts.stake}; fund it first`);
      }
      if ((await token.allowance(address, opts.deployment.hostRegistry)) < need) {
        await send(token.approve(opts.deployment.hostRegistry, need));
      }
      await send(registered ? registry.addStake(need) : registry.register(need, metadataHash));
    }
    if (registered && committedHash !== metadataHash) await send(registry.updateMetadata(metadataHash));
    return { staked: staked + need, sent };
  } finally {
    provider.destroy();
  }
}
