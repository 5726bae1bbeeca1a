import { JsonRpcProvider } from 'ethers';

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
