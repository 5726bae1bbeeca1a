import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Wallet } from 'ethers';
import { deployContracts } from '../../contracts/deploy';
import { loadDeployment, saveDeployment } from '../../contracts/deployment';
import { createProvider } from '../../contracts/provider';
import { ANVIL_KEYS, startAnvil } from '../../scripts/anvil';
import { RECLAIM_GRACE_SECONDS, startChainFixture, type ChainFixture } from './fixture';

let f: ChainFixture;
let dir: string;

beforeAll(async () => {
  f = await startChainFixture();
  dir = mkdtempSync(path.join(tmpdir(), 'zansoc-deploy-'));
});

afterAll(async () => {
  await f?.stop();
  rmSync(dir, { recursive: true, force: true });
});

it('grants every role at deployment, visibly', async () => {
  const { deployer, governor, settler, treasury } = f.wallets;
  for (const escrow of [f.escrow(), f.storage()]) {
    expect(await escrow.hasRole(await escrow.DEFAULT_ADMIN_ROLE(), deployer.address)).toBe(true);
    expect(await escrow.hasRole(await escrow.GOVERNOR_ROLE(), governor.address)).toBe(true);
    expect(await escrow.hasRole(await escrow.SETTLER_ROLE(), settler.address)).toBe(true);
    expect(await escrow.hasRole(await escrow.SETTLER_ROLE(), deployer.address)).toBe(false);
    expect(await escrow.commissionBps()).toBe(1000n);
    expect(await escrow.MAX_COMMISSION_BPS()).toBe(2000n);
    expect(await escrow.treasury()).toBe(treasury.address);
    expect(await escrow.token()).toBe(f.deployment.token);
    expect(await escrow.registry()).toBe(f.deployment.hostRegistry);
    expect(await escrow.reclaimGracePeriod()).toBe(BigInt(RECLAIM_GRACE_SECONDS));
  }
  const registry = f.registry();
  const granted = await registry.queryFilter(registry.filters.RoleGranted(await registry.ESCROW_ROLE()), 0);
  expect(granted.map((log) => registry.interface.parseLog(log)?.args[1])).toEqual([f.deployment.jobEscrow, f.deployment.storageEscrow]);
  expect(f.deployment).toMatchObject({ deployer: deployer.address, governor: governor.address, settler: settler.address, treasury: treasury.address });
});

it('writes deployments/<chainId>.json with every address, and refuses a file missing one', () => {
  const file = saveDeployment(f.deployment, dir);
  expect(path.basename(file)).toBe(`${f.deployment.chainId}.json`);
  expect(loadDeployment(file)).toEqual(f.deployment);

  const { storageEscrow: _dropped, ...old } = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
  writeFileSync(file, JSON.stringify({ ...old, hostRegistry: 'nope' }));
  expect(() => loadDeployment(file)).toThrow(/hostRegistry: not an address: nope; storageEscrow: Required/);
});

describe('refuses, before sending anything', () => {
  it("anvil's well-known deployer key on any chain but anvil's own", async () => {
    const publicChain = await startAnvil({ chainId: 8453 });
    try {
      const [treasury, settler, governor] = [0, 1, 2].map(() => Wallet.createRandom().address);
      await expect(deployContracts({ rpcUrl: publicChain.url, deployerKey: ANVIL_KEYS[0], treasury, settler, governor }))
        .rejects.toThrow("DEPLOYER_KEY: anvil's well-known key #0 must not be used on chain 8453");
      const provider = createProvider(publicChain.url);
      expect(await provider.getTransactionCount(new Wallet(ANVIL_KEYS[0]).address)).toBe(0);
      provider.destroy();
    } finally {
      await publicChain.stop();
    }
  });

  it('two roles on one address, naming both', async () => {
    const { deployer, governor, settler, treasury } = f.wallets;
    const deploy = (roles: { treasury: string; settler: string; governor: string }) =>
      deployContracts({ rpcUrl: f.anvil.url, deployerKey: deployer.privateKey, ...roles });
    const before = await f.provider.getTransactionCount(deployer.address);
    await expect(deploy({ treasury: treasury.address, settler: settler.address, governor: deployer.address }))
      .rejects.toThrow(`the admin (the deployer) and the governor share the address ${deployer.address}: each role needs a key of its own`);
    await expect(deploy({ treasury: settler.address, settler: settler.address, governor: governor.address }))
      .rejects.toThrow(`the treasury and the settler share the address ${settler.address}`);
    await expect(deploy({ treasury: treasury.address, settler: deployer.address.toLowerCase(), governor: governor.address }))
      .rejects.toThrow(`the admin (the deployer) and the settler share the address ${deployer.address}`);
    expect(await f.provider.getTransactionCount(deployer.address)).toBe(before);
  });
});
