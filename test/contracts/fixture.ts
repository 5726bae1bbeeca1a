import { MaxUint256, Signature, Wallet, id, isCallException, parseUnits, type ContractTransactionReceipt, type Interface, type JsonRpcProvider } from 'ethers';
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
import {
  BOND_CONSENT_TYPES,
  DEAL_ORDER_TYPES,
  JOB_ESCROW_DOMAIN_NAME,
  JOB_ORDER_TYPES,
  NO_PERMIT,
  PERMIT_TYPES,
  STORAGE_ESCROW_DOMAIN_NAME,
  dealOrderAmount,
  escrowDomain,
  escrowIdOf,
  jobOrderAmount,
  tokenDomain,
  type BondConsent,
  type DealOrder,
  type JobOrder,
  type PermitSignature,
} from '../../domain/orders';
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

/** Which escrow an order or consent is for. */
export type EscrowKind = 'job' | 'storage';

/** How a relayed order pays: a permit for exactly its amount, one for any amount, or the allowance already there. */
export type PermitMode = 'exact' | 'max' | 'none';

export interface JobOrderOptions {
  jobId?: string;
  pricePerSlot?: bigint;
  slots?: number;
  deadline?: number;
  nonce?: bigint;
  specHash?: string;
}

export interface DealOrderOptions {
  dealId?: string;
  ratePerHostPeriod?: bigint;
  replicas?: number;
  periods?: number;
  deadline?: number;
  nonce?: bigint;
  specHash?: string;
}

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
  chainId: number;
  /** A job order of `client`, its fields defaulting to one slot of 1 ZSC, a fresh job id and a deadline in 10 minutes. */
  jobOrder(client: string, opts?: JobOrderOptions): Promise<JobOrder>;
  /** A deal order of `client`, defaulting to 2 ZSC × 3 replicas × 4 periods, a fresh deal id, a deadline in an hour. */
  dealOrder(client: string, opts?: DealOrderOptions): Promise<DealOrder>;
  /** `signer`'s EIP-712 signature of `order` for JobEscrow. */
  signJobOrder(signer: Wallet, order: JobOrder): Promise<string>;
  /** `signer`'s EIP-712 signature of `order` for StorageEscrow. */
  signDealOrder(signer: Wallet, order: DealOrder): Promise<string>;
  /** `owner`'s EIP-2612 permit of `value` for the escrow of `kind`, with the owner's current token nonce. */
  signPermit(owner: Wallet, kind: EscrowKind, value: bigint, deadline?: number): Promise<PermitSignature>;
  /** `host`'s consent to bond `amount` to `escrowId` of the escrow of `kind`, relayable for 10 minutes by default. */
  signConsent(host: Wallet, kind: EscrowKind, escrowId: string, amount: bigint, deadline?: number): Promise<{ consent: BondConsent; signature: string }>;
  /** Signs `client`'s job order and permit and has the settler relay them; returns the escrow id and the receipt. */
  openJobFor(client: Wallet, opts?: JobOrderOptions & { permit?: PermitMode; relayer?: Wallet }): Promise<{ escrowId: string; order: JobOrder; amount: bigint; receipt: ContractTransactionReceipt | null }>;
  /** Signs `client`'s deal order and permit and has the settler relay them. */
  depositFor(client: Wallet, opts?: DealOrderOptions & { permit?: PermitMode; relayer?: Wallet }): Promise<{ escrowId: string; order: DealOrder; amount: bigint; receipt: ContractTransactionReceipt | null }>;
  /** Has `host` consent to bond `amount` to `escrowId` and the settler (or `as`) relay it. */
  bondWithConsent(kind: EscrowKind, escrowId: string, host: Wallet, amount: bigint, as?: Wallet): Promise<ContractTransactionReceipt | null>;
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
    const chainId = Number((await provider.getNetwork()).chainId);
    const domainOf = (kind: EscrowKind) =>
      kind === 'job'
        ? escrowDomain(JOB_ESCROW_DOMAIN_NAME, chainId, deployment.jobEscrow)
        : escrowDomain(STORAGE_ESCROW_DOMAIN_NAME, chainId, deployment.storageEscrow);
    let orderCounter = 0;
    const jobOrder = async (client: string, opts: JobOrderOptions = {}): Promise<JobOrder> => ({
      client,
      jobId: opts.jobId ?? id(`fixture-job-${++orderCounter}`),
      specHash: opts.specHash ?? id('spec'),
      pricePerSlot: String(opts.pricePerSlot ?? zsc('1')),
      slots: opts.slots ?? 1,
      deadline: opts.deadline ?? (await latestTimestamp()) + 600,
      nonce: String(opts.nonce ?? 0n),
    });
    const dealOrder = async (client: string, opts: DealOrderOptions = {}): Promise<DealOrder> => ({
      client,
      dealId: opts.dealId ?? id(`fixture-deal-${++orderCounter}`),
      specHash: opts.specHash ?? id('spec'),
      ratePerHostPeriod: String(opts.ratePerHostPeriod ?? zsc('2')),
      replicas: opts.replicas ?? 3,
      periods: opts.periods ?? 4,
      deadline: opts.deadline ?? (await latestTimestamp()) + 3600,
      nonce: String(opts.nonce ?? 0n),
    });
    const signJobOrder = (signer: Wallet, order: JobOrder) => signer.signTypedData(domainOf('job'), JOB_ORDER_TYPES, order);
    const signDealOrder = (signer: Wallet, order: DealOrder) => signer.signTypedData(domainOf('storage'), DEAL_ORDER_TYPES, order);
    const signPermit = async (owner: Wallet, kind: EscrowKind, value: bigint, deadline?: number): Promise<PermitSignature> => {
      const spender = kind === 'job' ? deployment.jobEscrow : deployment.storageEscrow;
      const permitDeadline = deadline ?? (await latestTimestamp()) + 600;
      const nonce = await token().nonces(owner.address);
      const { v, r, s } = Signature.from(
        await owner.signTypedData(tokenDomain(chainId, deployment.token), PERMIT_TYPES, { owner: owner.address, spender, value, nonce, deadline: permitDeadline }),
      );
      return { value: String(value), deadline: permitDeadline, v, r, s };
    };
    const permitFor = (mode: PermitMode, owner: Wallet, kind: EscrowKind, amount: bigint) =>
      mode === 'none' ? NO_PERMIT : signPermit(owner, kind, mode === 'max' ? MaxUint256 : amount);
    const signConsent = async (host: Wallet, kind: EscrowKind, escrowId: string, amount: bigint, deadline?: number) => {
      const consent: BondConsent = { escrowId, host: host.address, amount: String(amount), deadline: deadline ?? (await latestTimestamp()) + 600 };
      return { consent, signature: await host.signTypedData(domainOf(kind), BOND_CONSENT_TYPES, consent) };
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
      chainId,
      jobOrder,
      dealOrder,
      signJobOrder,
      signDealOrder,
      signPermit,
      signConsent,
      async openJobFor(client, opts = {}) {
        const order = await jobOrder(client.address, opts);
        const amount = jobOrderAmount(order);
        const [signature, permit] = await Promise.all([signJobOrder(client, order), permitFor(opts.permit ?? 'exact', client, 'job', amount)]);
        const escrow = connectJobEscrow(deployment.jobEscrow, opts.relayer ?? wallets.settler);
        const receipt = await (await escrow.openJobFor(order, signature, permit)).wait();
        return { escrowId: escrowIdOf(client.address, order.jobId), order, amount, receipt };
      },
      async depositFor(client, opts = {}) {
        const order = await dealOrder(client.address, opts);
        const amount = dealOrderAmount(order);
        const [signature, permit] = await Promise.all([signDealOrder(client, order), permitFor(opts.permit ?? 'exact', client, 'storage', amount)]);
        const storage = connectStorageEscrow(deployment.storageEscrow, opts.relayer ?? wallets.settler);
        const receipt = await (await storage.depositFor(order, signature, permit)).wait();
        return { escrowId: escrowIdOf(client.address, order.dealId), order, amount, receipt };
      },
      async bondWithConsent(kind, escrowId, host, amount, as) {
        const { consent, signature } = await signConsent(host, kind, escrowId, amount);
        const escrow = kind === 'job' ? connectJobEscrow(deployment.jobEscrow, as ?? wallets.settler) : connectStorageEscrow(deployment.storageEscrow, as ?? wallets.settler);
        return (await escrow.bond(escrowId, host.address, amount, consent.deadline, signature)).wait();
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
