import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { ContractFactory, NonceManager, Wallet, getAddress, parseUnits } from 'ethers';
import { z } from 'zod';
import { artifactOf, buildContracts } from './build';
import { createProvider } from './provider';

export interface DeployOptions {
  rpcUrl: string;
  deployerKey: string;
  /** Receives the whole ZSC supply and every commission. */
  treasury: string;
  /** The orchestrator's address: the only one allowed to settle. */
  settler: string;
  /** May change the commission; defaults to the deployer. */
  governor?: string;
  /** Seconds after a job's deadline before its client may reclaim it; defaults to one day. */
  reclaimGraceSeconds?: number;
}

const address = z.string().transform((s, ctx) => {
  try {
    return getAddress(s);
  } catch {
    ctx.addIssue({ code: z.ZodIssueCode.custom, message: `not an address: ${s}` });
    return z.NEVER;
  }
});

const deploymentSchema = z.object({
  chainId: z.number().int().positive(),
  token: address,
  jobEscrow: address,
  deployer: address,
  treasury: address,
  settler: address,
  governor: address,
  /** First block of the deployment: where to start reading the contracts' events. */
  blockNumber: z.number().int().nonnegative(),
});

/** Where the contracts of one chain live and who holds which role. */
export type Deployment = z.infer<typeof deploymentSchema>;

/** One billion ZSC: the whole supply there will ever be. */
const TOTAL_SUPPLY = parseUnits('1000000000', 18);
const DEFAULT_RECLAIM_GRACE_SECONDS = 24 * 3600;

/** Builds (if needed) and deploys ZansocToken and JobEscrow, granting the escrow's roles. */
export async function deployContracts(opts: DeployOptions): Promise<Deployment> {
  const artifacts = await buildContracts();
  const provider = createProvider(opts.rpcUrl);
  try {
    const deployer = new NonceManager(new Wallet(opts.deployerKey, provider));
    const deployerAddress = await deployer.getAddress();
    const treasury = getAddress(opts.treasury);
    const settler = getAddress(opts.settler);
    const governor = getAddress(opts.governor ?? deployerAddress);

    const tokenArtifact = artifactOf(artifacts, 'ZansocToken');
    const token = await new ContractFactory(tokenArtifact.abi, tokenArtifact.bytecode, deployer).deploy(treasury, TOTAL_SUPPLY);
    const tokenReceipt = await token.deploymentTransaction()?.wait();
    if (!tokenReceipt) throw new Error('ZansocToken deployment produced no receipt');

    const escrowArtifact = artifactOf(artifacts, 'JobEscrow');
    const escrow = await new ContractFactory(escrowArtifact.abi, escrowArtifact.bytecode, deployer).deploy(
      await token.getAddress(),
      treasury,
      deployerAddress,
      governor,
      settler,
      opts.reclaimGraceSeconds ?? DEFAULT_RECLAIM_GRACE_SECONDS,
    );
    await escrow.deploymentTransaction()?.wait();

    const { chainId } = await provider.getNetwork();
    return deploymentSchema.parse({
      chainId: Number(chainId),
      token: await token.getAddress(),
      jobEscrow: await escrow.getAddress(),
      deployer: deployerAddress,
      treasury,
      settler,
      governor,
      blockNumber: tokenReceipt.blockNumber,
    });
  } finally {
    provider.destroy();
  }
}

/** Writes `<dir>/<chainId>.json` and returns its path. */
export function saveDeployment(deployment: Deployment, dir: string): string {
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `${deployment.chainId}.json`);
  writeFileSync(file, `${JSON.stringify(deployment, null, 2)}\n`);
  return file;
}

/** Reads a deployment file, refusing one with a missing or malformed field. */
export function loadDeployment(file: string): Deployment {
  const parsed = deploymentSchema.safeParse(JSON.parse(readFileSync(file, 'utf8')));
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
    throw new Error(`invalid deployment file ${file}: ${problems}`);
  }
  return parsed.data;
}

async function main(): Promise<void> {
  const env = z
    .object({
      RPC_URL: z.string().url(),
      DEPLOYER_KEY: z.string().regex(/^(0x)?[0-9a-fA-F]{64}$/, 'must be a 32-byte hex private key'),
      TREASURY_ADDRESS: address.optional(),
      SETTLER_ADDRESS: address.optional(),
    })
    .safeParse(process.env);
  if (!env.success) {
    throw new Error(env.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('\n'));
  }
  const { RPC_URL, DEPLOYER_KEY, TREASURY_ADDRESS, SETTLER_ADDRESS } = env.data;
  const deployer = new Wallet(DEPLOYER_KEY).address;
  const deployment = await deployContracts({
    rpcUrl: RPC_URL,
    deployerKey: DEPLOYER_KEY,
    treasury: TREASURY_ADDRESS ?? deployer,
    settler: SETTLER_ADDRESS ?? deployer,
  });
  const file = saveDeployment(deployment, path.join(__dirname, '..', 'deployments'));
  console.log(`deployed to chain ${deployment.chainId}: ZansocToken ${deployment.token}, JobEscrow ${deployment.jobEscrow}`);
  console.log(`wrote ${file}`);
}

if (require.main === module) {
  main().catch((err: unknown) => {
    console.error(err instanceof Error ? err.message : err);
    process.exitCode = 1;
  });
}
