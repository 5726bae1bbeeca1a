import { Wallet, isCallException, parseUnits, type Interface, type JsonRpcProvider } from 'ethers';
import { connectJobEscrow, connectZansocToken, type JobEscrowContract, type ZansocTokenContract } from '../../contracts/bindings';
import { buildContracts, type Artifacts } from '../../contracts/build';
import { deployContracts, type Deployment } from '../../contracts/deploy';
import { createProvider } from '../../contracts/provider';
import { ANVIL_KEYS, startAnvil, type Anvil } from '../../scripts/anvil';

export const RECLAIM_GRACE_SECONDS = 3600;
export const zsc = (amount: string): bigint => parseUnits(amount, 18);

/** A fresh anvil with the contracts deployed as users deploy them, and one funded wallet per role. */
export interface ChainFixture {
  anvil: Anvil;
  artifacts: Artifacts;
  deployment: Deployment;
  provider: JsonRpcProvider;
  wallets: Record<'deployer' | 'settler' | 'treasury' | 'governor' | 'clientA' | 'clientB' | 'host1' | 'host2' | 'host3', Wallet>;
  token(as?: Wallet): ZansocTokenContract;
  escrow(as?: Wallet): JobEscrowContract;
  /** Fast-forwards the chain clock and mines a block at the new time. */
  increaseTime(seconds: number): Promise<void>;
  latestTimestamp(): Promise<number>;
  stop(): Promise<void>;
}

export async function startChainFixture(): Promise<ChainFixture> {
  const anvil = await startAnvil();
  try {
    const provider = createProvider(anvil.url);
    const wallet = (i: number) => new Wallet(ANVIL_KEYS[i], provider);
    const wallets = {
      deployer: wallet(0),
      settler: wallet(1),
      treasury: wallet(2),
      governor: wallet(3),
      clientA: wallet(4),
      clientB: wallet(5),
      host1: wallet(6),
      host2: wallet(7),
      host3: wallet(8),
    };
    const artifacts = await buildContracts();
    const deployment = await deployContracts({
      rpcUrl: anvil.url,
      deployerKey: ANVIL_KEYS[0],
      treasury: wallets.treasury.address,
      settler: wallets.settler.address,
      governor: wallets.governor.address,
      reclaimGraceSeconds: RECLAIM_GRACE_SECONDS,
    });
    const latestTimestamp = async () => {
      const block = await provider.getBlock('latest');
      if (!block) throw new Error('no latest block');
      return block.timestamp;
    };
    return {
      anvil,
      artifacts,
      deployment,
      provider,
      wallets,
      token: (as) => connectZansocToken(deployment.token, as ?? provider),
      escrow: (as) => connectJobEscrow(deployment.jobEscrow, as ?? provider),
      async increaseTime(seconds) {
        await provider.send('evm_increaseTime', [seconds]);
        await provider.send('evm_mine', []);
      },
      latestTimestamp,
      async stop() {
        provider.destroy();
        await anvil.stop();
      },
    };
  } catch (err) {
    await anvil.stop();
    throw err;
  }
}

/** Expects `action` to revert with the custom error `name` (and `args`, if given), decoded by `contract`. */
export async function expectRevert(
  action: Promise<unknown>,
  contract: { interface: Interface },
  name: string,
  args?: unknown[],
): Promise<void> {
  const error = await action.then(
    () => null,
    (err: unknown) => err,
  );
  if (!isCallException(error) || !error.data) throw new Error(`expected a revert with ${name}, got ${String(error)}`);
  const decoded = contract.interface.parseError(error.data);
  expect(decoded?.name).toBe(name);
  if (args) expect(decoded?.args.toArray()).toEqual(args);
}
