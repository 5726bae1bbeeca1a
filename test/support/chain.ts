import { NonceManager, parseUnits, Wallet } from 'ethers';
import { createWalletService, type WalletService } from '../../api/wallet';
import { connectZansocToken } from '../../contracts/bindings';
import { deployContracts } from '../../contracts/deploy';
import { saveDeployment, type Deployment } from '../../contracts/deployment';
import { createProvider } from '../../contracts/provider';
import { ANVIL_KEYS, startAnvil } from '../../scripts/anvil';

/** The deployment's roles, one key each as deployContracts demands, in the devnet's order (scripts/devnet.ts). */
export const TEST_CHAIN_KEYS = { deployer: ANVIL_KEYS[0], settler: ANVIL_KEYS[1], treasury: ANVIL_KEYS[2], governor: ANVIL_KEYS[4] } as const;

/** A local chain with the contracts deployed as users deploy them, and the API's view of it. */
export interface TestChain {
  rpcUrl: string;
  deployment: Deployment;
  /** What the API reads balances, allowances, nonces and escrows with (`deps.wallet`); no faucet. */
  wallet: WalletService;
  /** Sends `zsc` whole ZSC (a decimal, e.g. '2.5') from the treasury to `address`, and waits for it to be mined. */
  fund(address: string, zsc: string): Promise<void>;
  stop(): Promise<void>;
}

/** Starts anvil, deploys the contracts and writes the deployment file into `dir` (`<dir>/<chainId>.json`). */
export async function startTestChain(dir: string): Promise<TestChain> {
  const anvil = await startAnvil();
  const provider = createProvider(anvil.url);
  try {
    const deployment = await deployContracts({
      rpcUrl: anvil.url,
      deployerKey: TEST_CHAIN_KEYS.deployer,
      treasury: new Wallet(TEST_CHAIN_KEYS.treasury).address,
      settler: new Wallet(TEST_CHAIN_KEYS.settler).address,
      governor: new Wallet(TEST_CHAIN_KEYS.governor).address,
    });
    const wallet = createWalletService({ rpcUrl: anvil.url, deploymentFile: saveDeployment(deployment, dir), faucetAmount: '0' });
    // One nonce sequence for the treasury: tests fund several wallets at once.
    const treasury = connectZansocToken(deployment.token, new NonceManager(new Wallet(TEST_CHAIN_KEYS.treasury, provider)));
    return {
      rpcUrl: anvil.url,
      deployment,
      wallet,
      async fund(address, zsc) {
        await (await treasury.transfer(address, parseUnits(zsc, 18))).wait();
      },
      async stop() {
        provider.destroy();
        await anvil.stop();
      },
    };
  } catch (err) {
    provider.destroy();
    await anvil.stop();
    throw err;
  }
}
