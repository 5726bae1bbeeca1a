import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Wallet, ZeroHash, id } from 'ethers';
import { connectHostRegistry, connectJobEscrow, connectStorageEscrow, connectZansocTimelock } from '../../contracts/bindings';
import { deployContracts } from '../../contracts/deploy';
import { loadDeployment, saveDeployment } from '../../contracts/deployment';
import { createProvider } from '../../contracts/provider';
import { ANVIL_KEYS, startAnvil } from '../../scripts/anvil';
import { RECLAIM_GRACE_SECONDS, expectRevert, startChainFixture, type ChainFixture } from './fixture';

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

describe('with a timelock', () => {
  const DELAY = 3600;

  it('makes the timelock the only admin and governor: the commission changes only when a scheduled call is executed after the delay', async () => {
    const { deployer, governor, settler, treasury } = f.wallets;
    const deployment = await deployContracts({
      rpcUrl: f.anvil.url, deployerKey: deployer.privateKey, treasury: treasury.address, settler: settler.address, governor: governor.address,
      timelockDelaySeconds: DELAY,
    });
    const timelockAddress = deployment.timelock;
    if (!timelockAddress) throw new Error('no timelock in the deployment');
    const timelock = connectZansocTimelock(timelockAddress, governor);
    expect(await timelock.getMinDelay()).toBe(BigInt(DELAY));
    expect(await timelock.hasRole(await timelock.PROPOSER_ROLE(), governor.address)).toBe(true);
    expect(await timelock.hasRole(await timelock.EXECUTOR_ROLE(), governor.address)).toBe(true);
    expect(await timelock.hasRole(await timelock.DEFAULT_ADMIN_ROLE(), deployer.address)).toBe(false);

    const registry = connectHostRegistry(deployment.hostRegistry, f.provider);
    const jobs = connectJobEscrow(deployment.jobEscrow, governor);
    const storage = connectStorageEscrow(deployment.storageEscrow, f.provider);
    const adminRole = await registry.DEFAULT_ADMIN_ROLE();
    for (const contract of [registry, jobs, storage]) {
      expect(await contract.hasRole(adminRole, timelockAddress)).toBe(true);
      expect(await contract.hasRole(adminRole, deployer.address)).toBe(false);
    }
    for (const escrow of [jobs, storage]) {
      expect(await escrow.hasRole(await escrow.GOVERNOR_ROLE(), timelockAddress)).toBe(true);
      expect(await escrow.hasRole(await escrow.GOVERNOR_ROLE(), governor.address)).toBe(false);
      expect(await escrow.hasRole(await escrow.SETTLER_ROLE(), settler.address)).toBe(true);
    }

    await expectRevert(jobs.setCommissionBps(1500n), jobs, 'AccessControlUnauthorizedAccount', [governor.address, await jobs.GOVERNOR_ROLE()]);
    const call = jobs.interface.encodeFunctionData('setCommissionBps', [1500n]);
    const [predecessor, salt] = [ZeroHash, id('commission 15%')];
    await expectRevert(timelock.schedule(deployment.jobEscrow, 0n, call, predecessor, salt, DELAY - 1), timelock, 'TimelockInsufficientDelay', [
      BigInt(DELAY - 1),
      BigInt(DELAY),
    ]);
    await (await timelock.schedule(deployment.jobEscrow, 0n, call, predecessor, salt, DELAY)).wait();
    const operation = await timelock.hashOperation(deployment.jobEscrow, 0n, call, predecessor, salt);
    await expectRevert(timelock.execute(deployment.jobEscrow, 0n, call, predecessor, salt), timelock, 'TimelockUnexpectedOperationState');
    await expectRevert(connectZansocTimelock(timelockAddress, deployer).execute(deployment.jobEscrow, 0n, call, predecessor, salt), timelock, 'AccessControlUnauthorizedAccount');
    expect(await jobs.commissionBps()).toBe(1000n);

    await f.increaseTime(DELAY);
    expect(await timelock.isOperationReady(operation)).toBe(true);
    await (await timelock.execute(deployment.jobEscrow, 0n, call, predecessor, salt)).wait();
    expect(await jobs.commissionBps()).toBe(1500n);
    expect(await storage.commissionBps()).toBe(1000n);
  });
});

describe('refuses, before sending anything', () => {
  it('a chain other than anvil\'s without a timelock of at least a day', async () => {
    const publicChain = await startAnvil({ chainId: 8453 });
    try {
      const deployer = Wallet.createRandom();
      const [treasury, settler, governor] = [0, 1, 2].map(() => Wallet.createRandom().address);
      const deploy = (timelockDelaySeconds?: number) =>
        deployContracts({ rpcUrl: publicChain.url, deployerKey: deployer.privateKey, treasury, settler, governor, timelockDelaySeconds });
      await expect(deploy()).rejects.toThrow('chain 8453 needs a timelock of at least 86400 seconds (--timelock-delay or TIMELOCK_DELAY_SECONDS), got none');
      await expect(deploy(3600)).rejects.toThrow('chain 8453 needs a timelock of at least 86400 seconds (--timelock-delay or TIMELOCK_DELAY_SECONDS), got 3600');
      const provider = createProvider(publicChain.url);
      expect(await provider.getTransactionCount(deployer.address)).toBe(0);
      provider.destroy();
    } finally {
      await publicChain.stop();
    }
  });

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
