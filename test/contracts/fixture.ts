import { MaxUint256, Wallet, id, isCallException, parseUnits, type Interface, type JsonRpcProvider } from 'ethers';
import {
  connectHostRegistry,
  connectJobEscrow,
  connectStorageEscrow,
  connectZansocToken,
  type HostRegistryContract,
  type JobEscrowContract,
  type StorageEscrowContract,
  type ZansocTokenContract,
} from '../../contracts/bindings';
import { buildContracts, type Artifacts } from '../../contracts/build';
import { deployContracts } from '../../contracts/deploy';
import type { Deployment } from '../../contracts/deployment';
import { createProvider } from '../../contracts/provider';
import { ANVIL_KEYS, startAnvil, type Anvil } from '../../scripts/anvil';

export const RECLAIM_GRACE_SECONDS = 3600;
export const UNBONDING_DELAY_SECONDS = 7 * 24 * 3600;
export const zsc = (amount: string): bigint => parseUnits(amount, 18);

export type WalletName =
  | 'deployer'
  | 'settler'
  | 'treasury'
  | 'governor'
  | 'clientA'
  | 'clientB'
  | 'host1'
  | 'host2'
  | 'host3'
  | 'challenger';

/** A fresh anvil with the contracts deployed as users deploy them, and one funded wallet per role. */
export interface ChainFixture {
  anvil: Anvil;
  artifacts: Artifacts;
  deployment: Deployment;
  provider: JsonRpcProvider;
  wallets: Record<WalletName, Wallet>;
  token(as?: Wallet): ZansocTokenContract;
  escrow(as?: Wallet): JobEscrowContract;
  storage(as?: Wallet): StorageEscrowContract;
  registry(as?: Wallet): HostRegistryContract;
  /** Sends `amount` ZSC from the treasury. */
  fund(to: string, amount: bigint): Promise<void>;
  /** Funds `host` with `stake`, lets the registry take it and registers the host with it. */
  registerHost(host: Wallet, stake: bigint): Promise<void>;
  /** Lets both escrows take any amount of `client`'s ZSC. */
  approveEscrows(client: Wallet): Promise<void>;
  /** Fast-forwards the chain clock and mines a block at the new time. */
  increaseTime(seconds: number): Promise<void>;
  latestTimestamp(): Promise<number>;
  /** The chain's state now, to come back to with `revert`. */
  snapshot(): Promise<string>;
  revert(snapshotId: string): Promise<void>;
  stop(): Promise<void>;
}

const WALLET_NAMES: WalletName[] = ['deployer', 'settler', 'treasury', 'governor', 'clientA', 'clientB', 'host1', 'host2', 'host3', 'challenger'];

export async function startChainFixture(): Promise<ChainFixture> {
  const anvil = await startAnvil();
  try {
    const provider = createProvider(anvil.url);
    const wallets = Object.fromEntries(WALLET_NAMES.map((name, i) => [name, new Wallet(ANVIL_KEYS[i], provider)])) as Record<WalletName, Wallet>;
    const artifacts = await buildContracts();
    const deployment = await deployContracts({
      rpcUrl: anvil.url,
      deployerKey: ANVIL_KEYS[0],
      treasury: wallets.treasury.address,
      settler: wallets.settler.address,
      governor: wallets.governor.address,
      reclaimGraceSeconds: RECLAIM_GRACE_SECONDS,
      unbondingDelaySeconds: UNBONDING_DELAY_SECONDS,
    });
    const latestTimestamp = async () => {
      const block = await provider.getBlock('latest');
      if (!block) throw new Error('no latest block');
      return block.timestamp;
    };
    const token = (as?: Wallet) => connectZansocToken(deployment.token, as ?? provider);
    const fund = async (to: string, amount: bigint) => {
      await (await token(wallets.treasury).transfer(to, amount)).wait();
    };
    return {
      anvil,
      artifacts,
      deployment,
      provider,
      wallets,
      token,
      escrow: (as) => connectJobEscrow(deployment.jobEscrow, as ?? provider),
      storage: (as) => connectStorageEscrow(deployment.storageEscrow, as ?? provider),
      registry: (as) => connectHostRegistry(deployment.hostRegistry, as ?? provider),
      fund,
      async registerHost(host, stake) {
        await fund(host.address, stake);
        await (await token(host).approve(deployment.hostRegistry, stake)).wait();
        await (await connectHostRegistry(deployment.hostRegistry, host).register(stake, id(`metadata of ${host.address}`))).wait();
      },
      async approveEscrows(client) {
        await (await token(client).approve(deployment.jobEscrow, MaxUint256)).wait();
        await (await token(client).approve(deployment.storageEscrow, MaxUint256)).wait();
      },
      async increaseTime(seconds) {
        await provider.send('evm_increaseTime', [seconds]);
        await provider.send('evm_mine', []);
      },
      latestTimestamp,
      snapshot: () => provider.send('evm_snapshot', []) as Promise<string>,
      async revert(snapshotId) {
        if (!(await provider.send('evm_revert', [snapshotId]))) throw new Error(`anvil refused to revert to snapshot ${snapshotId}`);
      },
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

/** The custom error `action` reverted with, decoded by the first of `contracts` that knows it. */
export async function revertOf(action: Promise<unknown>, ...contracts: { interface: Interface }[]): Promise<{ name: string; args: unknown[] }> {
  const error = await action.then(
    () => null,
    (err: unknown) => err,
  );
  if (!isCallException(error) || !error.data) throw new Error(`expected a revert, got ${String(error)}`);
  for (const contract of contracts) {
    const decoded = contract.interface.parseError(error.data);
    if (decoded) return { name: decoded.name, args: decoded.args.toArray() };
  }
  throw new Error(`a revert none of the given contracts knows: ${error.data}`);
}

/** Expects `action` to revert with the custom error `name` (and `args`, if given), decoded by `contract`. */
export async function expectRevert(
  action: Promise<unknown>,
  contract: { interface: Interface },
  name: string,
  args?: unknown[],
): Promise<void> {
  const decoded = await revertOf(action, contract);
  expect(decoded.name).toBe(name);
  if (args) expect(decoded.args).toEqual(args);
}

/** The arguments of every event `name` that `contract` emitted in `receipt`. */
export function eventsIn(
  receipt: { logs: readonly { address: string; topics: readonly string[]; data: string }[] } | null,
  contract: { interface: Interface; target: unknown },
  name: string,
): unknown[][] {
  return (receipt?.logs ?? [])
    .filter((log) => log.address.toLowerCase() === String(contract.target).toLowerCase())
    .map((log) => contract.interface.parseLog(log))
    .filter((event) => event?.name === name)
    .map((event) => event!.args.toArray());
}
