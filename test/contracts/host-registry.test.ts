import { ZeroHash, id } from 'ethers';
import { UNBONDING_DELAY_SECONDS, eventsIn, expectRevert, startChainFixture, zsc, type ChainFixture } from './fixture';

let f: ChainFixture;

beforeAll(async () => {
  f = await startChainFixture();
  // The challenger wallet stands in for an escrow, to call the escrow-only functions directly.
  const registry = f.registry(f.wallets.deployer);
  await (await registry.grantRole(await registry.ESCROW_ROLE(), f.wallets.challenger.address)).wait();
});

afterAll(async () => {
  await f?.stop();
});

const balanceOf = (address: string) => f.token().balanceOf(address);
const hostOf = async (address: string) => {
  const [registered, staked, locked, unbonding, withdrawableAt, metadataHash] = await f.registry().hostOf(address);
  return { registered, staked, locked, unbonding, withdrawableAt, metadataHash };
};

it('is wired to the token, with the deployment-time unbonding delay and escrows', async () => {
  const registry = f.registry();
  expect(await registry.token()).toBe(f.deployment.token);
  expect(await registry.unbondingDelay()).toBe(BigInt(UNBONDING_DELAY_SECONDS));
  const escrowRole = await registry.ESCROW_ROLE();
  expect(await registry.hasRole(escrowRole, f.deployment.jobEscrow)).toBe(true);
  expect(await registry.hasRole(escrowRole, f.deployment.storageEscrow)).toBe(true);
  expect(await registry.hasRole(escrowRole, f.wallets.settler.address)).toBe(false);
  expect(await registry.hasRole(await registry.DEFAULT_ADMIN_ROLE(), f.wallets.deployer.address)).toBe(true);
});

it('registers a host with its stake and metadata, once', async () => {
  const { host1 } = f.wallets;
  await f.fund(host1.address, zsc('150'));
  await (await f.token(host1).approve(f.deployment.hostRegistry, zsc('150'))).wait();
  const registry = f.registry(host1);
  await expectRevert(registry.register(0n, id('meta')), registry, 'HostRegistryZeroAmount');
  await expectRevert(registry.register(zsc('100'), ZeroHash), registry, 'HostRegistryZeroMetadata');
  const [hostBefore, registryBefore] = await Promise.all([balanceOf(host1.address), balanceOf(f.deployment.hostRegistry)]);

  const receipt = await (await registry.register(zsc('100'), id('meta'))).wait();
  expect(eventsIn(receipt, registry, 'HostRegistered')).toEqual([[host1.address, zsc('100'), id('meta')]]);
  expect(await hostOf(host1.address)).toEqual({
    registered: true, staked: zsc('100'), locked: 0n, unbonding: 0n, withdrawableAt: 0n, metadataHash: id('meta'),
  });
  expect(await balanceOf(host1.address)).toBe(hostBefore - zsc('100'));
  expect(await balanceOf(f.deployment.hostRegistry)).toBe(registryBefore + zsc('100'));
  await expectRevert(registry.register(zsc('1'), id('meta')), registry, 'HostRegistryAlreadyRegistered', [host1.address]);

  const added = await (await registry.addStake(zsc('50'))).wait();
  expect(eventsIn(added, registry, 'StakeAdded')).toEqual([[host1.address, zsc('50'), zsc('150')]]);
  expect(await f.registry().freeStakeOf(host1.address)).toBe(zsc('150'));
  await expectRevert(registry.addStake(0n), registry, 'HostRegistryZeroAmount');

  const updated = await (await registry.updateMetadata(id('meta v2'))).wait();
  expect(eventsIn(updated, registry, 'MetadataUpdated')).toEqual([[host1.address, id('meta v2')]]);
  expect((await hostOf(host1.address)).metadataHash).toBe(id('meta v2'));
  await expectRevert(registry.updateMetadata(ZeroHash), registry, 'HostRegistryZeroMetadata');
});

it('refuses stake changes of an address that never registered', async () => {
  const registry = f.registry(f.wallets.clientA);
  await expectRevert(registry.addStake(1n), registry, 'HostRegistryNotRegistered', [f.wallets.clientA.address]);
  await expectRevert(registry.updateMetadata(id('x')), registry, 'HostRegistryNotRegistered', [f.wallets.clientA.address]);
  await expectRevert(registry.requestUnbond(1n), registry, 'HostRegistryNotRegistered', [f.wallets.clientA.address]);
  await expectRevert(registry.withdraw(), registry, 'HostRegistryNothingToWithdraw', [f.wallets.clientA.address]);
});

it('unbonds free stake only, and pays it out only after the unbonding delay', async () => {
  const { host2, challenger: escrow } = f.wallets;
  await f.registerHost(host2, zsc('100'));
  const registry = f.registry(host2);
  await (await f.registry(escrow).lockStake(host2.address, zsc('70'))).wait();

  await expectRevert(registry.requestUnbond(zsc('31')), registry, 'HostRegistryInsufficientFreeStake', [host2.address, zsc('30'), zsc('31')]);
  await expectRevert(registry.requestUnbond(0n), registry, 'HostRegistryZeroAmount');
  await expectRevert(registry.withdraw(), registry, 'HostRegistryNothingToWithdraw', [host2.address]);

  const requested = await (await registry.requestUnbond(zsc('20'))).wait();
  const firstDue = BigInt((await f.latestTimestamp()) + UNBONDING_DELAY_SECONDS);
  expect(eventsIn(requested, registry, 'UnbondRequested')).toEqual([[host2.address, zsc('20'), zsc('20'), firstDue]]);
  expect(await hostOf(host2.address)).toMatchObject({ staked: zsc('80'), locked: zsc('70'), unbonding: zsc('20'), withdrawableAt: firstDue });
  expect(await f.registry().freeStakeOf(host2.address)).toBe(zsc('10'));
  // Unbonding stake can no longer be locked for a job.
  await expectRevert(f.registry(escrow).lockStake(host2.address, zsc('11')), registry, 'HostRegistryInsufficientFreeStake', [host2.address, zsc('10'), zsc('11')]);

  await f.increaseTime(UNBONDING_DELAY_SECONDS - 100);
  await expectRevert(registry.withdraw(), registry, 'HostRegistryUnbondingNotDue', [host2.address, firstDue]);
  // Unbonding more restarts the delay for all of it.
  await (await registry.requestUnbond(zsc('10'))).wait();
  const secondDue = BigInt((await f.latestTimestamp()) + UNBONDING_DELAY_SECONDS);
  expect(await hostOf(host2.address)).toMatchObject({ staked: zsc('70'), unbonding: zsc('30'), withdrawableAt: secondDue });
  await f.increaseTime(200);
  await expectRevert(registry.withdraw(), registry, 'HostRegistryUnbondingNotDue', [host2.address, secondDue]);

  await f.increaseTime(UNBONDING_DELAY_SECONDS);
  const before = await balanceOf(host2.address);
  const withdrawn = await (await registry.withdraw()).wait();
  expect(eventsIn(withdrawn, registry, 'StakeWithdrawn')).toEqual([[host2.address, zsc('30')]]);
  expect(await balanceOf(host2.address)).toBe(before + zsc('30'));
  expect(await hostOf(host2.address)).toMatchObject({ staked: zsc('70'), locked: zsc('70'), unbonding: 0n, withdrawableAt: 0n });
  await expectRevert(registry.withdraw(), registry, 'HostRegistryNothingToWithdraw', [host2.address]);
});

it('lets only escrows lock, unlock and slash, and never beyond what is locked', async () => {
  const { host3, challenger: escrow, settler, treasury } = f.wallets;
  await f.registerHost(host3, zsc('100'));
  const asEscrow = f.registry(escrow);
  const registry = f.registry();
  const escrowRole = await registry.ESCROW_ROLE();
  for (const action of [
    f.registry(settler).lockStake(host3.address, 1n),
    f.registry(settler).unlockStake(host3.address, 0n),
    f.registry(host3).slashStake(host3.address, 0n, host3.address),
  ]) {
    await expectRevert(action, registry, 'AccessControlUnauthorizedAccount', [expect.any(String), escrowRole]);
  }

  await expectRevert(asEscrow.lockStake(host3.address, 0n), registry, 'HostRegistryZeroAmount');
  await expectRevert(asEscrow.lockStake(host3.address, zsc('101')), registry, 'HostRegistryInsufficientFreeStake', [host3.address, zsc('100'), zsc('101')]);
  await expectRevert(asEscrow.lockStake(f.wallets.clientA.address, 1n), registry, 'HostRegistryInsufficientFreeStake', [f.wallets.clientA.address, 0n, 1n]);
  // Locking and unlocking are logged by the escrow that does them (HostBonded, BondReleased, naming the job), not here.
  const locked = await (await asEscrow.lockStake(host3.address, zsc('60'))).wait();
  expect(locked?.logs).toEqual([]);
  expect(await hostOf(host3.address)).toMatchObject({ staked: zsc('100'), locked: zsc('60') });

  await expectRevert(asEscrow.unlockStake(host3.address, zsc('61')), registry, 'HostRegistryInsufficientLockedStake', [host3.address, zsc('60'), zsc('61')]);
  const unlocked = await (await asEscrow.unlockStake(host3.address, zsc('10'))).wait();
  expect(unlocked?.logs).toEqual([]);
  expect(await hostOf(host3.address)).toMatchObject({ staked: zsc('100'), locked: zsc('50') });

  await expectRevert(asEscrow.slashStake(host3.address, zsc('51'), treasury.address), registry, 'HostRegistryInsufficientLockedStake', [host3.address, zsc('50'), zsc('51')]);
  const [treasuryBefore, registryBefore] = await Promise.all([balanceOf(treasury.address), balanceOf(f.deployment.hostRegistry)]);
  const slashed = await (await asEscrow.slashStake(host3.address, zsc('15'), treasury.address)).wait();
  expect(eventsIn(slashed, registry, 'StakeSlashed')).toEqual([[host3.address, escrow.address, treasury.address, zsc('15')]]);
  expect(await balanceOf(treasury.address)).toBe(treasuryBefore + zsc('15'));
  expect(await balanceOf(f.deployment.hostRegistry)).toBe(registryBefore - zsc('15'));
  expect(await hostOf(host3.address)).toMatchObject({ staked: zsc('85'), locked: zsc('35') });
  expect(await registry.freeStakeOf(host3.address)).toBe(zsc('50'));
});
