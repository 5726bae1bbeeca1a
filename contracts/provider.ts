import { JsonRpcProvider, type TransactionReceipt } from 'ethers';

/**
 * The one way Zansoc opens a chain connection.
 * - No batching: ethers' default 10 ms batching made sequential sends ~5× slower against anvil.
 * - No response cache: ethers reuses an identical call's answer for 250 ms, so a read right after a send (is the job
 *   settled? what is the pending nonce?) could see the state before it; every chain step decides from such reads.
 * - The network is fixed per URL, so it is detected once rather than before every request.
 * - Polling every second instead of every four keeps waiting for a confirmation from dominating a short job.
 */
export function createProvider(rpcUrl: string): JsonRpcProvider {
  return new JsonRpcProvider(rpcUrl, undefined, {
    batchMaxCount: 1,
    cacheTimeout: -1,
    staticNetwork: true,
    pollingInterval: 1000,
  });
}

/**
 * Waits for a sent transaction's receipt by asking for it, and throws if it reverted; what `tx.wait()` does, but with
 * no block poller left running: a short-lived provider can be destroyed right after, which with `wait()` could leave a
 * poll in flight whose rejection nobody handles (and an unhandled rejection ends a Node process).
 */
export async function confirmTransaction(provider: JsonRpcProvider, hash: string, pollMs = 200): Promise<TransactionReceipt> {
  for (;;) {
    const receipt = await provider.getTransactionReceipt(hash);
    if (receipt) {
      if (receipt.status !== 1) throw new Error(`transaction ${hash} reverted`);
      return receipt;
    }
    await new Promise((r) => setTimeout(r, pollMs));
  }
}
