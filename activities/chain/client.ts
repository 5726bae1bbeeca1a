import {
  NonceManager,
  Wallet,
  type ContractTransactionReceipt,
  type ContractTransactionResponse,
  type JsonRpcProvider,
} from 'ethers';
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
import type { Deployment } from '../../contracts/deployment';
import { createProvider } from '../../contracts/provider';

export interface ConnectChainOptions {
  rpcUrl: string;
  deployment: Deployment;
  /** The orchestrator's key; must hold SETTLER_ROLE on both escrows. */
  settlerKey: string;
  /** Funds clients from the treasury (the devnet faucet); without it `fundClient` refuses. */
  treasuryKey?: string;
  /** Blocks to wait for after every transaction; 1 means mined. */
  confirmations?: number;
}

/** One key the orchestrator sends with, shared by every activity that uses it. */
export interface ChainAccount {
  readonly address: string;
  readonly token: ZansocTokenContract;
  readonly escrow: JobEscrowContract;
  readonly storageEscrow: StorageEscrowContract;
  readonly registry: HostRegistryContract;
  /** Runs a read-then-send sequence of this account with no other such sequence of it in between. */
  exclusive<T>(work: () => Promise<T>): Promise<T>;
  /** Broadcasts the transaction `sendTx` makes and waits for the configured confirmations. */
  send(sendTx: () => Promise<ContractTransactionResponse>): Promise<ContractTransactionReceipt>;
}

export interface ChainClient {
  readonly provider: JsonRpcProvider;
  readonly deployment: Deployment;
  /** Read-only handles. */
  readonly token: ZansocTokenContract;
  readonly escrow: JobEscrowContract;
  readonly storageEscrow: StorageEscrowContract;
  readonly registry: HostRegistryContract;
  /** Relays clients' signed orders and hosts' signed consents, pays their gas, settles. It never pays for work. */
  readonly settler: ChainAccount;
  readonly treasury: ChainAccount | null;
  /** Stops the provider's polling; the client is unusable afterwards. */
  close(): void;
}

/** Connects to the chain of `deployment`, refusing an RPC that serves another chain or lacks the contracts. */
export async function connectChain(opts: ConnectChainOptions): Promise<ChainClient> {
  const { deployment } = opts;
  const confirmations = opts.confirmations ?? 1;
  if (!Number.isInteger(confirmations) || confirmations < 1) throw new Error(`confirmations must be a whole number ≥ 1, got ${confirmations}`);
  const provider = createProvider(opts.rpcUrl);
  try {
    const { chainId } = await provider.getNetwork();
    if (Number(chainId) !== deployment.chainId) {
      throw new Error(`${opts.rpcUrl} serves chain ${chainId}, but the deployment is for chain ${deployment.chainId}`);
    }
    const contracts = { ZansocToken: deployment.token, HostRegistry: deployment.hostRegistry, JobEscrow: deployment.jobEscrow, StorageEscrow: deployment.storageEscrow };
    for (const [name, address] of Object.entries(contracts)) {
      if ((await provider.getCode(address)) === '0x') {
        throw new Error(`no ${name} at ${address} on chain ${chainId}: is the deployment file from an earlier chain?`);
      }
    }
  } catch (err) {
    provider.destroy();
    throw err;
  }

  // Two nonce managers for one address would hand out the same nonce, so keys that repeat share one account.
  const accounts = new Map<string, ChainAccount>();
  const accountOf = (key: string): ChainAccount => {
    const wallet = new Wallet(key, provider);
    const existing = accounts.get(wallet.address);
    if (existing) return existing;
    const account = createAccount(wallet, deployment, confirmations);
    accounts.set(wallet.address, account);
    return account;
  };

  return {
    provider,
    deployment,
    token: connectZansocToken(deployment.token, provider),
    escrow: connectJobEscrow(deployment.jobEscrow, provider),
    storageEscrow: connectStorageEscrow(deployment.storageEscrow, provider),
    registry: connectHostRegistry(deployment.hostRegistry, provider),
    settler: accountOf(opts.settlerKey),
    treasury: opts.treasuryKey ? accountOf(opts.treasuryKey) : null,
    close: () => provider.destroy(),
  };
}

function createAccount(wallet: Wallet, deployment: Deployment, confirmations: number): ChainAccount {
  const signer = new NonceManager(wallet);
  const broadcast = createMutex();
  return {
    address: wallet.address,
    token: connectZansocToken(deployment.token, signer),
    escrow: connectJobEscrow(deployment.jobEscrow, signer),
    storageEscrow: connectStorageEscrow(deployment.storageEscrow, signer),
    registry: connectHostRegistry(deployment.hostRegistry, signer),
    exclusive: createMutex(),
    async send(sendTx) {
      // Sends of one key go out one at a time, so a failed one can reset the nonce without racing another.
      const tx = await broadcast(async () => {
        try {
          return await sendTx();
        } catch (err) {
          // NonceManager counted a nonce even if gas estimation reverted; the node would hold every later send.
          signer.reset();
          throw err;
        }
      });
      const receipt = await tx.wait(confirmations);
      if (!receipt) throw new Error(`transaction ${tx.hash} has no receipt`);
      return receipt;
    },
  };
}

/** Runs the given tasks one after another, in call order; a failed task does not block the next. */
function createMutex(): <T>(work: () => Promise<T>) => Promise<T> {
  let tail: Promise<unknown> = Promise.resolve();
  return <T>(work: () => Promise<T>): Promise<T> => {
    const result = tail.then(work);
    tail = result.catch(() => undefined);
    return result;
  };
}
