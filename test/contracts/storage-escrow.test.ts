import { ZeroAddress, id, type ContractTransactionResponse, type Wallet } from 'ethers';
import { DealStatus } from '../../contracts/bindings';
import { NO_PERMIT, escrowIdOf, type DealOrder } from '../../domain/orders';
import { RECLAIM_GRACE_SECONDS, eventsIn, expectRevert, revertOf, startChainFixture, zsc, type ChainFixture } from './fixture';

let f: ChainFixture;
let dealCounter = 0;
const newDealId = () => id(`storage-test-deal-${++dealCounter}`);
const RATE = zsc('2');

beforeAll(async () => {
  f = await startChainFixture();
  for (const client of [f.wallets.clientA, f.wallets.clientB]) {
    await f.fund(client.address, zsc('10000'));
    await f.approveEscrows(client);
  }
  // The challenger is a host too, one that repairs other hosts' replicas.
  for (const host of [f.wallets.host1, f.wallets.host2, f.wallets.host3, f.wallets.challenger]) await f.registerHost(host, zsc('1000'));
});

afterAll(async () => {
  await f?.stop();
});

const balances = (...holders: (Wallet | string)[]) => Promise.all(holders.map((h) => f.token().balanceOf(typeof h === 'string' ? h : h.address)));
const storageEvents = (receipt: Parameters<typeof eventsIn>[0], name: string) => eventsIn(receipt, f.storage(), name);
const ascending = (...wallets: Wallet[]) => wallets.map((w) => w.address).sort((a, b) => (BigInt(a) < BigInt(b) ? -1 : 1));
const lockedOf = async (host: Wallet) => (await f.registry().hostOf(host.address))[2];

/** Deposits a deal from the client's signed order, relayed by the settler; `dealId` is the deal's escrow id. */
async function deposit(client: Wallet, opts: { replicas?: number; periods?: number; deadline?: number } = {}) {
  const { escrowId, order, receipt, amount } = await f.depositFor(client, { ...opts, dealId: newDealId(), ratePerHostPeriod: RATE, permit: 'none' });
  return { dealId: escrowId, order, deadline: order.deadline, receipt, amount };
}

const asSettler = () => f.storage(f.wallets.settler);
const send = async (tx: Promise<ContractTransactionResponse>) => (await tx).wait();
const bond = (dealId: string, host: Wallet, amount: bigint) => f.bondWithConsent('storage', dealId, host, amount);
/** Sends `bond` as `caller` with `signer`'s consent (the host's by default), without waiting, to see it refused. */
async function bondAs(caller: Wallet, dealId: string, host: Wallet, amount: bigint, signer = host) {
  const { consent, signature } = await f.signConsent(signer, 'storage', dealId, amount);
  return f.storage(caller).bond(dealId, host.address, amount, consent.deadline, signature);
}

it('takes the whole term on deposit, once, and refuses deals of nothing or with a past deadline', async () => {
  const client = f.wallets.clientA;
  const [clientBefore, escrowBefore] = await balances(client, f.deployment.storageEscrow);
  const { dealId, order, deadline, receipt, amount } = await deposit(client);
  expect(amount).toBe(zsc('24'));
  expect(dealId).toBe(escrowIdOf(client.address, order.dealId));
  expect(storageEvents(receipt, 'DealDeposited')).toEqual([[dealId, client.address, order.dealId, order.specHash, amount, RATE, 3n, 4n, BigInt(deadline)]]);
  expect(await f.storage().dealOf(dealId)).toEqual([client.address, amount, RATE, 3n, 4n, 0n, BigInt(deadline), BigInt(DealStatus.Active)]);
  expect(await balances(client, f.deployment.storageEscrow)).toEqual([clientBefore - amount, escrowBefore + amount]);

  const storage = asSettler();
  const relay = async (changes: Partial<DealOrder>) => {
    const changed = { ...(await f.dealOrder(client.address, { dealId: newDealId() })), ...changes };
    return storage.depositFor(changed, await f.signDealOrder(client, changed), NO_PERMIT);
  };
  await expectRevert(storage.depositFor(order, await f.signDealOrder(client, order), NO_PERMIT), storage, 'StorageEscrowDealExists', [dealId]);
  for (const [rate, replicas, periods] of [[0n, 1, 1], [RATE, 0, 1], [RATE, 1, 0]] as const) {
    await expectRevert(relay({ ratePerHostPeriod: String(rate), replicas, periods }), storage, 'EscrowZeroAmount');
  }
  const now = await f.latestTimestamp();
  await expectRevert(relay({ deadline: now }), storage, 'EscrowDeadlineInPast', [BigInt(now)]);
  await expectRevert(relay({ ratePerHostPeriod: String(2n ** 90n), replicas: 100, periods: 100 }), storage, 'SafeCastOverflowedUintDowncast');
});

it('pays each period once, in order, to the hosts that proved, minus commission', async () => {
  const { clientA: client, treasury, host1, host2, host3 } = f.wallets;
  const { dealId, amount } = await deposit(client, { replicas: 3, periods: 3 });
  for (const host of [host1, host2, host3]) await bond(dealId, host, zsc('1'));
  const [h1, h2, h3, treasuryBefore, clientBefore] = await balances(host1, host2, host3, treasury, client);
  const all = ascending(host1, host2, host3);

  const first = await send(asSettler().releasePeriod(dealId, 0, all));
  expect(storageEvents(first, 'PeriodReleased')).toEqual([[dealId, 0n, all, zsc('5.4'), zsc('0.6')]]);
  // Period 1: host2 missed its proof, so its share stays in the deal.
  await send(asSettler().releasePeriod(dealId, 1, ascending(host1, host3)));
  expect(await balances(host1, host2, host3, treasury)).toEqual([h1 + zsc('3.6'), h2 + zsc('1.8'), h3 + zsc('3.6'), treasuryBefore + zsc('1')]);
  expect((await f.storage().dealOf(dealId)).slice(1, 6)).toEqual([amount - zsc('10'), RATE, 3n, 3n, 2n]);

  const storage = asSettler();
  await expectRevert(storage.releasePeriod(dealId, 1, all), storage, 'StorageEscrowPeriodNotNext', [dealId, 1n, 2n]);
  await expectRevert(storage.releasePeriod(dealId, 3, all), storage, 'StorageEscrowPeriodNotNext', [dealId, 3n, 2n]);
  await send(storage.releasePeriod(dealId, 2, []));
  await expectRevert(storage.releasePeriod(dealId, 3, []), storage, 'StorageEscrowTermOver', [dealId, 3n]);

  // The unspent rest (host2's missed share and the empty last period) returns at the end.
  const ended = await send(storage.endDeal(dealId));
  expect(storageEvents(ended, 'DealEnded')).toEqual([[dealId, 3n, zsc('8')]]);
  expect(await balances(client)).toEqual([clientBefore + zsc('8')]);
  expect((await f.storage().dealOf(dealId))[7]).toBe(BigInt(DealStatus.Ended));
});

it('refuses periods paying more hosts than replicas, a host twice, or from anyone but the settler', async () => {
  const { clientA: client, host1, host2, host3 } = f.wallets;
  const { dealId } = await deposit(client, { replicas: 2 });
  const storage = asSettler();
  const [low, mid, high] = ascending(host1, host2, host3);
  await expectRevert(storage.releasePeriod(dealId, 0, [low, mid, high]), storage, 'StorageEscrowTooManyHosts', [dealId, 3n, 2n]);
  await expectRevert(storage.releasePeriod(dealId, 0, [mid, low]), storage, 'StorageEscrowHostsNotAscending', [dealId, 1n]);
  await expectRevert(storage.releasePeriod(dealId, 0, [low, low]), storage, 'StorageEscrowHostsNotAscending', [dealId, 1n]);
  await expectRevert(f.storage(client).releasePeriod(dealId, 0, [low]), storage, 'AccessControlUnauthorizedAccount', [client.address, await storage.SETTLER_ROLE()]);
  await expectRevert(f.storage(client).endDeal(dealId), storage, 'AccessControlUnauthorizedAccount', [client.address, await storage.SETTLER_ROLE()]);
  const unknown = escrowIdOf(client.address, newDealId());
  await expectRevert(storage.releasePeriod(unknown, 0, []), storage, 'StorageEscrowDealNotActive', [unknown, 0n]);
});

it('bonds hosts, slashes each fault once, and releases bonds early or at the end', async () => {
  const { clientB: client, host1, host2, host3, treasury, challenger } = f.wallets;
  const { dealId } = await deposit(client);
  const storage = asSettler();
  const [locked1, locked2, locked3] = [await lockedOf(host1), await lockedOf(host2), await lockedOf(host3)];
  // The challenger repairs host2's replica, so it bonds to the deal too.
  await bond(dealId, challenger, zsc('1'));
  for (const host of [host1, host2, host3]) await bond(dealId, host, zsc('100'));
  await expectRevert(bondAs(f.wallets.settler, dealId, host1, 1n), storage, 'EscrowHostAlreadyBonded', [dealId, host1.address]);
  await expectRevert(bondAs(host1, dealId, host1, 1n), storage, 'AccessControlUnauthorizedAccount', [host1.address, await storage.SETTLER_ROLE()]);
  expect(await lockedOf(host2)).toBe(locked2 + zsc('100'));

  const fault = id('period-0/host2');
  const [treasuryBefore, challengerBefore] = await balances(treasury, challenger);
  const slashed = await send(storage.slash(dealId, fault, host2.address, zsc('40'), treasury.address));
  expect(storageEvents(slashed, 'FaultSlashed')).toEqual([[dealId, fault, host2.address]]);
  expect(storageEvents(slashed, 'BondSlashed')).toEqual([[dealId, host2.address, treasury.address, zsc('40')]]);
  expect(await f.storage().isFaultSlashed(dealId, fault)).toBe(true);
  await expectRevert(storage.slash(dealId, fault, host2.address, 1n, treasury.address), storage, 'StorageEscrowFaultSlashed', [dealId, fault]);
  await expectRevert(storage.slash(dealId, id('period-1/host2'), host2.address, zsc('61'), treasury.address), storage, 'EscrowSlashExceedsBond', [
    dealId,
    host2.address,
    zsc('61'),
    zsc('60'),
  ]);
  expect(await f.storage().isFaultSlashed(dealId, id('period-1/host2'))).toBe(false);
  expect(await f.storage().bondOf(dealId, host2.address)).toBe(zsc('60'));

  // A bond slashed to zero leaves the deal, for good: no consent of the host bonds it again.
  await send(storage.slash(dealId, id('period-1/host2'), host2.address, zsc('60'), challenger.address));
  expect(await f.storage().bondsOf(dealId)).toEqual([[host3.address, host1.address, challenger.address], [zsc('100'), zsc('100'), zsc('1')]]);
  expect(await balances(treasury, challenger)).toEqual([treasuryBefore + zsc('40'), challengerBefore + zsc('60')]);
  expect(await lockedOf(host2)).toBe(locked2);

  // host1's chunks moved to another host: its bond comes back before the deal ends.
  const released = await send(storage.releaseBond(dealId, host1.address));
  expect(storageEvents(released, 'BondReleased')).toEqual([[dealId, host1.address, zsc('100')]]);
  expect(await lockedOf(host1)).toBe(locked1);
  await expectRevert(storage.releaseBond(dealId, host1.address), storage, 'EscrowNotBonded', [dealId, host1.address]);
  for (const left of [host1, host2]) {
    await expectRevert(bondAs(f.wallets.settler, dealId, left, zsc('10')), storage, 'EscrowHostAlreadyBonded', [dealId, left.address]);
  }
  expect(await f.storage().bondsOf(dealId)).toEqual([[host3.address, challenger.address], [zsc('100'), zsc('1')]]);

  await send(storage.endDeal(dealId));
  expect([await lockedOf(host2), await lockedOf(host3)]).toEqual([locked2, locked3]);
  expect(await f.storage().bondsOf(dealId)).toEqual([[], []]);
  await expectRevert(storage.endDeal(dealId), storage, 'StorageEscrowDealNotActive', [dealId, BigInt(DealStatus.Ended)]);
  await expectRevert(storage.slash(dealId, id('late'), host3.address, 1n, treasury.address), storage, 'StorageEscrowDealNotActive', [
    dealId,
    BigInt(DealStatus.Ended),
  ]);
  expect(await revertOf(bondAs(f.wallets.settler, dealId, host1, 1n), storage)).toEqual({ name: 'StorageEscrowDealNotActive', args: [dealId, 2n] });
  await expectRevert(storage.slash(escrowIdOf(client.address, newDealId()), id('x'), host3.address, 1n, ZeroAddress), storage, 'StorageEscrowDealNotActive');
});

it('lets the client reclaim an unended deal after deadline + grace, and a bonded host only its own bond', async () => {
  const { clientA: client, clientB: stranger, host1, host2, settler } = f.wallets;
  const { dealId, deadline, amount } = await deposit(client, { periods: 2 });
  await bond(dealId, host1, zsc('5'));
  await bond(dealId, host2, zsc('5'));
  await send(asSettler().releasePeriod(dealId, 0, [host1.address]));
  const [locked1, locked2] = [await lockedOf(host1), await lockedOf(host2)];
  const [clientBefore] = await balances(client);
  const storage = f.storage();

  await expectRevert(f.storage(client).reclaim(dealId), storage, 'EscrowReclaimTooEarly', [dealId, BigInt(deadline + RECLAIM_GRACE_SECONDS)]);
  await expectRevert(f.storage(host1).reclaim(dealId), storage, 'EscrowReclaimTooEarly', [dealId, BigInt(deadline + RECLAIM_GRACE_SECONDS)]);
  await f.increaseTime(deadline + RECLAIM_GRACE_SECONDS - (await f.latestTimestamp()));
  await expectRevert(f.storage(stranger).reclaim(dealId), storage, 'EscrowNotParty', [dealId, stranger.address]);

  // host1 takes back its bond and leaves the deal, which stays active; it is no longer paid.
  const left = await send(f.storage(host1).reclaim(dealId));
  expect(storageEvents(left, 'DealReclaimed')).toEqual([]);
  expect(storageEvents(left, 'BondReleased')).toEqual([[dealId, host1.address, zsc('5')]]);
  expect(await lockedOf(host1)).toBe(locked1 - zsc('5'));
  expect(await f.storage().bondsOf(dealId)).toEqual([[host2.address], [zsc('5')]]);
  expect((await f.storage().dealOf(dealId))[7]).toBe(BigInt(DealStatus.Active));
  expect(await balances(client)).toEqual([clientBefore]);
  await expectRevert(f.storage(host1).reclaim(dealId), storage, 'EscrowNotParty', [dealId, host1.address]);
  await expectRevert(bondAs(settler, dealId, host1, zsc('5')), storage, 'EscrowHostAlreadyBonded', [dealId, host1.address]);
  await expectRevert(asSettler().releasePeriod(dealId, 1, [host1.address]), storage, 'EscrowPayeeNotBonded', [dealId, host1.address]);

  const reclaimed = await send(f.storage(client).reclaim(dealId));
  expect(storageEvents(reclaimed, 'DealReclaimed')).toEqual([[dealId, client.address, amount - RATE]]);
  expect(await balances(client)).toEqual([clientBefore + amount - RATE]);
  expect(await lockedOf(host2)).toBe(locked2 - zsc('5'));
  await expectRevert(f.storage(settler).endDeal(dealId), storage, 'StorageEscrowDealNotActive', [dealId, BigInt(DealStatus.Reclaimed)]);
  await expectRevert(f.storage(client).reclaim(dealId), storage, 'StorageEscrowDealNotActive', [dealId, BigInt(DealStatus.Reclaimed)]);
});

it('pays a period only to hosts bonded to the deal, naming the first that is not', async () => {
  const { clientA: client, settler, treasury, host1, host2, host3 } = f.wallets;
  const { dealId } = await deposit(client, { replicas: 3, periods: 2 });
  const { dealId: other } = await deposit(client, { replicas: 3, periods: 2 });
  await bond(dealId, host1, zsc('5'));
  await bond(other, host2, zsc('5'));
  const storage = asSettler();

  for (const outsider of [host2.address, settler.address, treasury.address, client.address]) {
    const paid = [host1.address, outsider].sort((a, b) => (BigInt(a) < BigInt(b) ? -1 : 1));
    await expectRevert(storage.releasePeriod(dealId, 0, paid), storage, 'EscrowPayeeNotBonded', [dealId, outsider]);
  }
  await expectRevert(storage.releasePeriod(dealId, 0, ascending(host3)), storage, 'EscrowPayeeNotBonded', [dealId, host3.address]);
  expect((await f.storage().dealOf(dealId))[5]).toBe(0n);
  await send(storage.releasePeriod(dealId, 0, [host1.address]));
});

it('sends slash shares only to the treasury and hosts bonded to the deal, never to the client', async () => {
  const { clientA: client, settler, treasury, host1, host2, host3, challenger } = f.wallets;
  const { dealId } = await deposit(client);
  const { dealId: other } = await deposit(client);
  for (const host of [host1, challenger]) await bond(dealId, host, zsc('10'));
  await bond(other, host3, zsc('10'));
  const storage = asSettler();

  let fault = 0;
  for (const outsider of [host2.address, host3.address, client.address, settler.address]) {
    await expectRevert(storage.slash(dealId, id(`fault-${++fault}`), host1.address, 1n, outsider), storage, 'EscrowRecipientNotParty', [dealId, outsider]);
  }
  const [challengerBefore, treasuryBefore] = await balances(challenger, treasury);
  await send(storage.slash(dealId, id('repaired'), host1.address, zsc('6'), challenger.address));
  await send(storage.slash(dealId, id('missed'), host1.address, zsc('4'), treasury.address));
  expect(await balances(challenger, treasury)).toEqual([challengerBefore + zsc('6'), treasuryBefore + zsc('4')]);
});

it('lets only the governor change its commission, up to the cap', async () => {
  const storage = f.storage(f.wallets.governor);
  await expectRevert(storage.setCommissionBps(2001n), storage, 'EscrowCommissionAboveCap', [2001n, 2000n]);
  await expectRevert(f.storage(f.wallets.settler).setCommissionBps(0n), storage, 'AccessControlUnauthorizedAccount', [
    f.wallets.settler.address,
    await storage.GOVERNOR_ROLE(),
  ]);
  await send(storage.setCommissionBps(0n));
  expect(await storage.commissionBps()).toBe(0n);
  await send(storage.setCommissionBps(1000n));
});
