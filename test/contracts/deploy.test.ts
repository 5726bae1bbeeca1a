import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { loadDeployment, saveDeployment } from '../../contracts/deployment';
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
