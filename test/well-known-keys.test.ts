import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Wallet } from 'ethers';
import { deployContracts } from '../contracts/deploy';
import { saveDeployment, type Deployment } from '../contracts/deployment';
import { createProvider } from '../contracts/provider';
import { ensureHostStake } from '../host-worker/stake';
import { ANVIL_KEYS, startAnvil, type Anvil } from '../scripts/anvil';

/**
 * On a chain that is not anvil's own, every process that holds a key refuses anvil's well-known ones at start, before
 * it sends anything: anyone can sign with them. The chain is a real anvil answering chain id 8453, as Base would.
 */
const run = promisify(execFile);
const ROOT = join(__dirname, '..');
const CHAIN_ID = 8453;

let anvil: Anvil;
let dir: string;
let deployment: Deployment;
let deploymentFile: string;

beforeAll(async () => {
  anvil = await startAnvil({ chainId: CHAIN_ID });
  dir = mkdtempSync(join(tmpdir(), 'zansoc-well-known-'));
  const provider = createProvider(anvil.url);
  const deployer = Wallet.createRandom();
  await provider.send('anvil_setBalance', [deployer.address, '0x' + (10n ** 20n).toString(16)]);
  provider.destroy();
  const [treasury, settler, governor] = [0, 1, 2].map(() => Wallet.createRandom().address);
  // Off anvil's chain a deployment needs its timelock (a day at least), as a real one has.
  deployment = await deployContracts({ rpcUrl: anvil.url, deployerKey: deployer.privateKey, treasury, settler, governor, timelockDelaySeconds: 24 * 3600 });
  deploymentFile = saveDeployment(deployment, dir);
});

afterAll(async () => {
  await anvil?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** Runs a process's entry point the way the devnet does, expecting it to exit; resolves to its exit code and output. */
async function start(entry: string, env: Record<string, string>): Promise<{ code: number; output: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, ['--require', 'tsx/cjs', join(ROOT, entry)], {
      cwd: ROOT, env: { ...process.env, ...env }, timeout: 60_000,
    });
    return { code: 0, output: stdout + stderr };
  } catch (err) {
    const { code, stdout, stderr } = err as { code: number; stdout: string; stderr: string };
    return { code, output: stdout + stderr };
  }
}

const nonceOf = async (key: string) => {
  const provider = createProvider(anvil.url);
  try {
    return await provider.getTransactionCount(new Wallet(key).address);
  } finally {
    provider.destroy();
  }
};

it('the orchestrator refuses them', async () => {
  const { code, output } = await start('orchestrator/main.ts', {
    RPC_URL: anvil.url, DEPLOYMENT_FILE: deploymentFile, DATABASE_URL: `file:${join(dir, 'orchestrator.db')}`,
    TEMPORAL_ADDRESS: '127.0.0.1:1', SETTLER_KEY: ANVIL_KEYS[1],
  });
  expect(code).toBe(1);
  expect(output).toContain(`SETTLER_KEY: anvil's well-known key #1 must not be used on chain ${CHAIN_ID}`);
  expect(await nonceOf(ANVIL_KEYS[1])).toBe(0);
});

it('the API refuses one as its faucet', async () => {
  const { code, output } = await start('api/main.ts', {
    RPC_URL: anvil.url, DEPLOYMENT_FILE: deploymentFile, DATABASE_URL: `file:${join(dir, 'api.db')}`,
    TEMPORAL_ADDRESS: '127.0.0.1:1', CHAIN_ID: String(CHAIN_ID), API_PORT: '0', FAUCET_KEY: ANVIL_KEYS[2],
  });
  expect(code).toBe(1);
  expect(output).toContain(`FAUCET_KEY: anvil's well-known key #2 must not be used on chain ${CHAIN_ID}`);
});

it('a host refuses to stake with one', async () => {
  const offer = {
    arch: 'x86_64', cpus: 1, memoryMiB: 1024, diskMiB: 1024, gpus: 0, gpuModel: null, maxSlots: 1,
    pricePerCpuSecond: '1', pricePerGibSecond: '1', pricePerGpuSecond: '1',
  };
  await expect(ensureHostStake({ rpcUrl: anvil.url, deployment, wallet: new Wallet(ANVIL_KEYS[5]), stake: 1n, offer }))
    .rejects.toThrow(`host key: anvil's well-known key #5 must not be used on chain ${CHAIN_ID}`);
  expect(await nonceOf(ANVIL_KEYS[5])).toBe(0);
});

it('a process that cannot ask its RPC which chain it serves names RPC_URL', async () => {
  const { code, output } = await start('orchestrator/main.ts', {
    RPC_URL: 'http://127.0.0.1:1', DEPLOYMENT_FILE: deploymentFile, DATABASE_URL: `file:${join(dir, 'orchestrator.db')}`,
    TEMPORAL_ADDRESS: '127.0.0.1:1', SETTLER_KEY: Wallet.createRandom().privateKey,
  });
  expect(code).toBe(1);
  expect(output).toContain('RPC_URL: http://127.0.0.1:1 does not say which chain it serves: connect ECONNREFUSED');
});
