import { copyFileSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { ContractFactory, NonceManager, Wallet, ZeroAddress, getAddress, parseUnits } from 'ethers';
import { z } from 'zod';
import { connectHostRegistry, connectJobEscrow, connectStorageEscrow } from './bindings';
import { artifactOf, buildContracts } from './build';
import { address, deploymentSchema, saveDeployment, type Deployment } from './deployment';
import { createProvider } from './provider';
import { LOCAL_CHAIN_ID, refuseWellKnownKeys } from './well-known-keys';

export interface DeployOptions {
  rpcUrl: string;
  deployerKey: string;
  /** Receives the whole ZSC supply and every commission. */
  treasury: string;
  /** The orchestrator's address: the only one allowed to bond, settle and slash. */
  settler: string;
  /** May change the commission: directly, or with a timelock by proposing and executing through it. */
  governor: string;
  /** Seconds after a job's or deal's deadline before it may be reclaimed; defaults to one day. */
  reclaimGraceSeconds?: number;
  /** Seconds between a host's request to unbond and its withdrawal; defaults to seven days. */
  unbondingDelaySeconds?: number;
  /**
   * When given, a TimelockController with this delay holds DEFAULT_ADMIN_ROLE on the registry and both escrows and
   * GOVERNOR_ROLE on the escrows, the governor as its only proposer and executor, and the deployer keeps no role.
   * Required, at least one day, on any chain but anvil's.
   */
  timelockDelaySeconds?: number;
}

/** One billion ZSC: the whole supply there will ever be. */
const TOTAL_SUPPLY = parseUnits('1000000000', 18);
const DEFAULT_RECLAIM_GRACE_SECONDS = 24 * 3600;
const DEFAULT_UNBONDING_DELAY_SECONDS = 7 * 24 * 3600;
const MIN_PRODUCTION_TIMELOCK_SECONDS = 24 * 3600;

/**
 * Refuses two roles on one address: each role's powers are checks on the others (the governor sets the commission the
 * treasury earns, the settler pays out), so one key holding two of them holds both sides of that check.
 */
function refuseSharedRoles(roles: Record<string, string>): void {
  const seen = new Map<string, string>();
  for (const [role, holder] of Object.entries(roles)) {
    const other = seen.get(holder);
    if (other) throw new Error(`the ${other} and the ${role} share the address ${holder}: each role needs a key of its own`);
    seen.set(holder, role);
  }
}

/**
 * Refuses a deployment off anvil's chain whose admin and governor act at once: there, every change of roles or
 * commission must be announced a day ahead, so clients and hosts can leave before it applies.
 */
function refuseProductionWithoutTimelock(chainId: bigint, delaySeconds: number | undefined): void {
  if (chainId === BigInt(LOCAL_CHAIN_ID)) return;
  if (delaySeconds === undefined || delaySeconds < MIN_PRODUCTION_TIMELOCK_SECONDS) {
    throw new Error(
      `chain ${chainId} needs a timelock of at least ${MIN_PRODUCTION_TIMELOCK_SECONDS} seconds (--timelock-delay or TIMELOCK_DELAY_SECONDS), got ${delaySeconds ?? 'none'}`,
    );
  }
}

/**
 * Builds (if needed) and deploys ZansocToken, HostRegistry, JobEscrow and StorageEscrow, then lets both escrows
 * lock and slash host stake (ESCROW_ROLE on the registry). Without a timelock the deployer keeps DEFAULT_ADMIN_ROLE
 * everywhere; with one (`timelockDelaySeconds`), the timelock holds it and GOVERNOR_ROLE, and the deployer renounces.
 * Refuses anvil's well-known deployer key off anvil's chain, a production chain without a timelock, and two roles on
 * one address, before sending anything.
 */
export async function deployContracts(opts: DeployOptions): Promise<Deployment> {
  const artifacts = await buildContracts();
  const provider = createProvider(opts.rpcUrl);
  try {
    const deployer = new NonceManager(new Wallet(opts.deployerKey, provider));
    const deployerAddress = await deployer.getAddress();
    const treasury = getAddress(opts.treasury);
    const settler = getAddress(opts.settler);
    const governor = getAddress(opts.governor);
    const { chainId } = await provider.getNetwork();
    refuseWellKnownKeys(chainId, { DEPLOYER_KEY: opts.deployerKey });
    refuseProductionWithoutTimelock(chainId, opts.timelockDelaySeconds);
    refuseSharedRoles({ 'admin (the deployer)': deployerAddress, governor, treasury, settler });
    const reclaimGrace = opts.reclaimGraceSeconds ?? DEFAULT_RECLAIM_GRACE_SECONDS;
    const unbondingDelay = opts.unbondingDelaySeconds ?? DEFAULT_UNBONDING_DELAY_SECONDS;

    const deploy = async (name: string, ...args: unknown[]) => {
      const artifact = artifactOf(artifacts, name);
      const contract = await new ContractFactory(artifact.abi, artifact.bytecode, deployer).deploy(...args);
      const receipt = await contract.deploymentTransaction()?.wait();
      if (!receipt) throw new Error(`${name} deployment produced no receipt`);
      return { address: await contract.getAddress(), blockNumber: receipt.blockNumber };
    };

    const token = await deploy('ZansocToken', treasury, TOTAL_SUPPLY);
    // No admin of its own (zero): only the timelock, through its own delay, changes who proposes and executes.
    const timelock =
      opts.timelockDelaySeconds === undefined
        ? undefined
        : await deploy('ZansocTimelock', opts.timelockDelaySeconds, [governor], [governor], ZeroAddress);
    const registry = await deploy('HostRegistry', token.address, deployerAddress, unbondingDelay);
    const escrowGovernor = timelock?.address ?? governor;
    const escrowArgs = [token.address, treasury, registry.address, deployerAddress, escrowGovernor, settler, reclaimGrace];
    const jobEscrow = await deploy('JobEscrow', ...escrowArgs);
    const storageEscrow = await deploy('StorageEscrow', ...escrowArgs);

    const registryAsAdmin = connectHostRegistry(registry.address, deployer);
    const escrowRole = await registryAsAdmin.ESCROW_ROLE();
    for (const escrow of [jobEscrow.address, storageEscrow.address]) {
      await (await registryAsAdmin.grantRole(escrowRole, escrow)).wait();
    }
    if (timelock) {
      const adminRole = await registryAsAdmin.DEFAULT_ADMIN_ROLE();
      const contracts = [registryAsAdmin, connectJobEscrow(jobEscrow.address, deployer), connectStorageEscrow(storageEscrow.address, deployer)];
      for (const asAdmin of contracts) {
        await (await asAdmin.grantRole(adminRole, timelock.address)).wait();
        await (await asAdmin.renounceRole(adminRole, deployerAddress)).wait();
      }
    }

    return deploymentSchema.parse({
      chainId: Number(chainId),
      token: token.address,
      hostRegistry: registry.address,
      jobEscrow: jobEscrow.address,
      storageEscrow: storageEscrow.address,
      deployer: deployerAddress,
      treasury,
      settler,
      governor,
      ...(timelock && { timelock: timelock.address }),
      blockNumber: token.blockNumber,
    });
  } finally {
    provider.destroy();
  }
}

async function main(): Promise<void> {
  const seconds = z.coerce.number().int().nonnegative();
  const { values: flags } = parseArgs({ options: { 'timelock-delay': { type: 'string' } } });
  const env = z
    .object({
      RPC_URL: z.string().url(),
      DEPLOYER_KEY: z.string().regex(/^(0x)?[0-9a-fA-F]{64}$/, 'must be a 32-byte hex private key'),
      TREASURY_ADDRESS: address,
      SETTLER_ADDRESS: address,
      GOVERNOR_ADDRESS: address,
      RECLAIM_GRACE_SECONDS: seconds.optional(),
      UNBONDING_DELAY_SECONDS: seconds.optional(),
      /** Overridden by `--timelock-delay <seconds>`. */
      TIMELOCK_DELAY_SECONDS: seconds.optional(),
      /** Also write the deployment to this file (docker-compose shares it with the other services). */
      DEPLOYMENT_OUT: z.string().min(1).optional(),
    })
    .safeParse({ ...process.env, ...(flags['timelock-delay'] !== undefined && { TIMELOCK_DELAY_SECONDS: flags['timelock-delay'] }) });
  if (!env.success) {
    throw new Error(env.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('\n'));
  }
  const { RPC_URL, DEPLOYER_KEY, TREASURY_ADDRESS, SETTLER_ADDRESS, GOVERNOR_ADDRESS } = env.data;
  const deployment = await deployContracts({
    rpcUrl: RPC_URL,
    deployerKey: DEPLOYER_KEY,
    treasury: TREASURY_ADDRESS,
    settler: SETTLER_ADDRESS,
    governor: GOVERNOR_ADDRESS,
    reclaimGraceSeconds: env.data.RECLAIM_GRACE_SECONDS,
    unbondingDelaySeconds: env.data.UNBONDING_DELAY_SECONDS,
    timelockDelaySeconds: env.data.TIMELOCK_DELAY_SECONDS,
  });
  const file = saveDeployment(deployment, path.join(__dirname, '..', 'deployments'));
  console.log(`deployed to chain ${deployment.chainId}:`);
  console.log(`  ZansocToken ${deployment.token}\n  HostRegistry ${deployment.hostRegistry}`);
  console.log(`  JobEscrow ${deployment.jobEscrow}\n  StorageEscrow ${deployment.storageEscrow}`);
  console.log(`  treasury ${deployment.treasury}, settler ${deployment.settler}, governor ${deployment.governor}`);
  console.log(deployment.timelock ? `  admin and governor role: timelock ${deployment.timelock}` : `  admin ${deployment.deployer}`);
  console.log(`wrote ${file}`);
  if (env.data.DEPLOYMENT_OUT) {
    mkdirSync(path.dirname(env.data.DEPLOYMENT_OUT), { recursive: true });
    copyFileSync(file, env.data.DEPLOYMENT_OUT);
    console.log(`wrote ${env.data.DEPLOYMENT_OUT}`);
  }
}

if (require.main === module) {
  main().catch((err: unknown) => {
    console.error(err instanceof Error ? err.message : err);
    process.exitCode = 1;
  });
}
