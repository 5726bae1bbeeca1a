import { copyFileSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { ContractFactory, NonceManager, Wallet, getAddress, parseUnits } from 'ethers';
import { z } from 'zod';
import { connectHostRegistry } from './bindings';
import { artifactOf, buildContracts } from './build';
import { address, deploymentSchema, saveDeployment, type Deployment } from './deployment';
import { createProvider } from './provider';

export interface DeployOptions {
  rpcUrl: string;
  deployerKey: string;
  /** Receives the whole ZSC supply and every commission. */
  treasury: string;
  /** The orchestrator's address: the only one allowed to bond, settle and slash. */
  settler: string;
  /** May change the commission; defaults to the deployer. */
  governor?: string;
  /** Seconds after a job's or deal's deadline before it may be reclaimed; defaults to one day. */
  reclaimGraceSeconds?: number;
  /** Seconds between a host's request to unbond and its withdrawal; defaults to seven days. */
  unbondingDelaySeconds?: number;
}

/** One billion ZSC: the whole supply there will ever be. */
const TOTAL_SUPPLY = parseUnits('1000000000', 18);
const DEFAULT_RECLAIM_GRACE_SECONDS = 24 * 3600;
const DEFAULT_UNBONDING_DELAY_SECONDS = 7 * 24 * 3600;

/**
 * Builds (if needed) and deploys ZansocToken, HostRegistry, JobEscrow and StorageEscrow, then lets both escrows
 * lock and slash host stake (ESCROW_ROLE on the registry). The deployer keeps DEFAULT_ADMIN_ROLE everywhere.
 */
export async function deployContracts(opts: DeployOptions): Promise<Deployment> {
  const artifacts = await buildContracts();
  const provider = createProvider(opts.rpcUrl);
  try {
    const deployer = new NonceManager(new Wallet(opts.deployerKey, provider));
    const deployerAddress = await deployer.getAddress();
    const treasury = getAddress(opts.treasury);
    const settler = getAddress(opts.settler);
    const governor = getAddress(opts.governor ?? deployerAddress);
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
    const registry = await deploy('HostRegistry', token.address, deployerAddress, unbondingDelay);
    const escrowArgs = [token.address, treasury, registry.address, deployerAddress, governor, settler, reclaimGrace];
    const jobEscrow = await deploy('JobEscrow', ...escrowArgs);
    const storageEscrow = await deploy('StorageEscrow', ...escrowArgs);

    const registryAsAdmin = connectHostRegistry(registry.address, deployer);
    const escrowRole = await registryAsAdmin.ESCROW_ROLE();
    for (const escrow of [jobEscrow.address, storageEscrow.address]) {
      await (await registryAsAdmin.grantRole(escrowRole, escrow)).wait();
    }

    const { chainId } = await provider.getNetwork();
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
      blockNumber: token.blockNumber,
    });
  } finally {
    provider.destroy();
  }
}

async function main(): Promise<void> {
  const seconds = z.coerce.number().int().nonnegative();
  const env = z
    .object({
      RPC_URL: z.string().url(),
      DEPLOYER_KEY: z.string().regex(/^(0x)?[0-9a-fA-F]{64}$/, 'must be a 32-byte hex private key'),
      TREASURY_ADDRESS: address.optional(),
      SETTLER_ADDRESS: address.optional(),
      GOVERNOR_ADDRESS: address.optional(),
      RECLAIM_GRACE_SECONDS: seconds.optional(),
      UNBONDING_DELAY_SECONDS: seconds.optional(),
      /** Also write the deployment to this file (docker-compose shares it with the other services). */
      DEPLOYMENT_OUT: z.string().min(1).optional(),
    })
    .safeParse(process.env);
  if (!env.success) {
    throw new Error(env.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('\n'));
  }
  const { RPC_URL, DEPLOYER_KEY, TREASURY_ADDRESS, SETTLER_ADDRESS, GOVERNOR_ADDRESS } = env.data;
  const deployer = new Wallet(DEPLOYER_KEY).address;
  const deployment = await deployContracts({
    rpcUrl: RPC_URL,
    deployerKey: DEPLOYER_KEY,
    treasury: TREASURY_ADDRESS ?? deployer,
    settler: SETTLER_ADDRESS ?? deployer,
    governor: GOVERNOR_ADDRESS,
    reclaimGraceSeconds: env.data.RECLAIM_GRACE_SECONDS,
    unbondingDelaySeconds: env.data.UNBONDING_DELAY_SECONDS,
  });
  const file = saveDeployment(deployment, path.join(__dirname, '..', 'deployments'));
  console.log(`deployed to chain ${deployment.chainId}:`);
  console.log(`  ZansocToken ${deployment.token}\n  HostRegistry ${deployment.hostRegistry}`);
  console.log(`  JobEscrow ${deployment.jobEscrow}\n  StorageEscrow ${deployment.storageEscrow}`);
  console.log(`  treasury ${deployment.treasury}, settler ${deployment.settler}, governor ${deployment.governor}, admin ${deployment.deployer}`);
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
