import { Wallet, ZeroAddress, id, toBeHex } from 'ethers';
import { EscrowStatus, type PayoutStruct, type SlashStruct } from '../../contracts/bindings';
import { NO_PERMIT, escrowIdOf } from '../../domain/orders';
import { RECLAIM_GRACE_SECONDS, eventsIn, expectRevert, revertOf, startChainFixture, zsc, type ChainFixture } from './fixture';

let f: ChainFixture;
let jobCounter = 0;
/** Every test opens its own jobs, so tests share one chain without sharing state. */
const newJobId = () => id(`escrow-test-job-${++jobCounter}`);
/** The escrow id of a job nobody opened. */
const unknownEscrowId = () => escrowIdOf(f.wallets.clientA.address, newJobId());
const HOST_STAKE = zsc('1000');

beforeAll(async () => {
  f = await startChainFixture();
  for (const client of [f.wallets.clientA, f.wallets.clientB]) await f.fund(client.address, zsc('10000'));
  // The challenger is a host too: challengers bond stake to the job they dispute.
  for (const host of [f.wallets.host1, f.wallets.host2, f.wallets.host3, f.wallets.challenger]) await f.registerHost(host, HOST_STAKE);
});

afterAll(async () => {
  await f?.stop();
});

async function balances(...holders: (Wallet | string)[]): Promise<bigint[]> {
  return Promise.all(holders.map((h) => f.token().balanceOf(typeof h === 'string' ? h : h.address)));
}

/**
 * Opens a job of `amount` in `slots` slots of equal price (one by default, so one host may be paid all of it) from
 * the client's signed order and permit, relayed by the settler. `jobId` is the job's escrow id.
 */
async function openJob(client: Wallet, amount: bigint, opts: { deadline?: number; slots?: number } = {}) {
  const slots = opts.slots ?? 1;
  const { escrowId, order, receipt } = await f.openJobFor(client, { jobId: newJobId(), deadline: opts.deadline, pricePerSlot: amount / BigInt(slots), slots });
  return { jobId: escrowId, order, deadline: order.deadline, receipt };
}

const bond = (jobId: string, host: Wallet, amount: bigint) => f.bondWithConsent('job', jobId, host, amount);

/** Sends `bond` as `caller` with `host`'s (or `signer`'s) consent, without waiting, to see it refused. */
async function bondAs(caller: Wallet, jobId: string, host: string, amount: bigint, signer: Wallet = f.wallets.host1) {
  const { consent, signature } = await f.signConsent(signer, 'job', jobId, amount);
  return f.escrow(caller).bond(jobId, host, amount, consent.deadline, signature);
}

async function settle(jobId: string, payouts: PayoutStruct[], slashes: SlashStruct[] = []) {
  return (await f.escrow(f.wallets.settler).settle(jobId, payouts, slashes)).wait();
}

const escrowEvents = (receipt: Parameters<typeof eventsIn>[0], name: string) => eventsIn(receipt, f.escrow(), name);
const stakeOf = async (host: Wallet) => {
  const [, staked, locked] = await f.registry().hostOf(host.address);
  return { staked, locked };
};
const statusOf = async (jobId: string) => Number((await f.escrow().jobOf(jobId))[4]);

describe('opening and settling', () => {
  it('locks the escrow, then pays hosts 90% of their gross, the treasury 10% and refunds the rest', async () => {
    const { clientA: client, treasury, host1, host2 } = f.wallets;
    const [clientBefore, treasuryBefore, host1Before, host2Before, escrowBefore] = await balances(client, treasury, host1, host2, f.deployment.jobEscrow);

    const { jobId, order, deadline, receipt: opened } = await openJob(client, zsc('100'), { slots: 2 });
    expect(escrowEvents(opened, 'JobOpened')).toEqual([[jobId, client.address, order.jobId, order.specHash, zsc('100'), zsc('50'), BigInt(deadline)]]);
    expect(await f.escrow().jobOf(jobId)).toEqual([client.address, zsc('100'), zsc('50'), BigInt(deadline), BigInt(EscrowStatus.Open)]);
    expect(await balances(client, f.deployment.jobEscrow)).toEqual([clientBefore - zsc('100'), escrowBefore + zsc('100')]);
    await bond(jobId, host1, zsc('1'));
    await bond(jobId, host2, zsc('1'));

    const settled = await settle(jobId, [{ host: host1.address, amount: zsc('30') }, { host: host2.address, amount: zsc('20') }]);
    expect(escrowEvents(settled, 'JobSettled')).toEqual([[jobId, zsc('45'), zsc('5'), zsc('50')]]);
    expect(await balances(client, treasury, host1, host2, f.deployment.jobEscrow)).toEqual([
      clientBefore - zsc('50'),
      treasuryBefore + zsc('5'),
      host1Before + zsc('27'),
      host2Before + zsc('18'),
      escrowBefore,
    ]);
    expect(await statusOf(jobId)).toBe(EscrowStatus.Settled);
  });

  it('rounds the commission down per payout, so nothing is created or lost', async () => {
    const { clientA: client, treasury, host1 } = f.wallets;
    const [clientBefore, treasuryBefore, hostBefore] = await balances(client, treasury, host1);
    const { jobId } = await openJob(client, 1000n);
    await bond(jobId, host1, 1n);
    await settle(jobId, [{ host: host1.address, amount: 19n }, { host: host1.address, amount: 9n }]);
    // 19 → 1 commission + 18; 9 → 0 commission + 9; 972 refunded.
    expect(await balances(client, treasury, host1)).toEqual([clientBefore - 28n, treasuryBefore + 1n, hostBefore + 27n]);
  });

  it('refunds the whole escrow when the settlement pays nobody', async () => {
    const { clientA: client, treasury } = f.wallets;
    const [clientBefore, treasuryBefore] = await balances(client, treasury);
    const { jobId } = await openJob(client, zsc('7'));
    const settled = await settle(jobId, []);
    expect(escrowEvents(settled, 'JobSettled')).toEqual([[jobId, 0n, 0n, zsc('7')]]);
    expect(await balances(client, treasury)).toEqual([clientBefore, treasuryBefore]);
  });

  it('refuses to open a job twice, for nothing, for more than 96 bits or MAX_BONDS slots, or with a deadline in the past', async () => {
    const client = f.wallets.clientA;
    const escrow = f.escrow(f.wallets.settler);
    const { jobId, order } = await openJob(client, zsc('1'));
    const relay = async (changes: Partial<typeof order>) => {
      const changed = { ...(await f.jobOrder(client.address, { jobId: newJobId() })), ...changes };
      const permit = await f.signPermit(client, 'job', zsc('1'));
      return escrow.openJobFor(changed, await f.signJobOrder(client, changed), permit);
    };

    await expectRevert(escrow.openJobFor(order, await f.signJobOrder(client, order), NO_PERMIT), escrow, 'JobEscrowJobExists', [jobId]);
    await expectRevert(relay({ pricePerSlot: '0' }), escrow, 'EscrowZeroAmount');
    await expectRevert(relay({ slots: 0 }), escrow, 'EscrowZeroAmount');
    await expectRevert(relay({ slots: 33 }), escrow, 'JobEscrowTooManySlots', [33n, 32n]);
    await expectRevert(relay({ pricePerSlot: String(2n ** 96n) }), escrow, 'SafeCastOverflowedUintDowncast', [96n, 2n ** 96n]);
    await expectRevert(relay({ pricePerSlot: String(2n ** 92n), slots: 16 }), escrow, 'SafeCastOverflowedUintDowncast', [96n, 2n ** 96n]);
    const now = await f.latestTimestamp();
    await expectRevert(relay({ deadline: now - 1 }), escrow, 'EscrowDeadlineInPast', [BigInt(now - 1)]);
  });

  it('lets only the settler settle, once, never for more than was locked nor a host above the signed price', async () => {
    const { clientA: client, settler, host1, host2, host3 } = f.wallets;
    // Two slots of 5: the third host is, say, a challenger, bonded but not paid for a slot.
    const { jobId } = await openJob(client, zsc('10'), { slots: 2 });
    for (const host of [host1, host2, host3]) await bond(jobId, host, 1n);
    const escrow = f.escrow(settler);
    const pay = (...amounts: bigint[]) => amounts.map((amount, i) => ({ host: [host1, host2, host3][i].address, amount }));

    await expectRevert(f.escrow(client).settle(jobId, pay(zsc('1')), []), escrow, 'AccessControlUnauthorizedAccount', [
      client.address,
      await escrow.SETTLER_ROLE(),
    ]);
    await expectRevert(escrow.settle(jobId, pay(zsc('5'), zsc('5'), 1n), []), escrow, 'JobEscrowPayoutExceedsEscrow', [
      jobId,
      zsc('10') + 1n,
      zsc('10'),
    ]);
    await expectRevert(escrow.settle(jobId, pay(zsc('4'), zsc('4'), zsc('3')), []), escrow, 'JobEscrowPayoutExceedsEscrow', [jobId, zsc('11'), zsc('10')]);
    await expectRevert(escrow.settle(jobId, pay(zsc('5') + 1n), []), escrow, 'JobEscrowPayAboveSignedPrice', [jobId, host1.address, zsc('5') + 1n, zsc('5')]);
    // A host listed twice is paid the sum, which the price bounds too.
    await expectRevert(
      escrow.settle(jobId, [{ host: host2.address, amount: zsc('3') }, { host: host2.address, amount: zsc('3') }], []),
      escrow,
      'JobEscrowPayAboveSignedPrice',
      [jobId, host2.address, zsc('6'), zsc('5')],
    );
    const unknown = unknownEscrowId();
    await expectRevert(escrow.settle(unknown, [], []), escrow, 'JobEscrowJobNotOpen', [unknown, BigInt(EscrowStatus.None)]);

    await settle(jobId, [{ host: host1.address, amount: zsc('2') }, { host: host1.address, amount: zsc('3') }, ...pay(0n, zsc('5'))]);
    await expectRevert(escrow.settle(jobId, [], []), escrow, 'JobEscrowJobNotOpen', [jobId, BigInt(EscrowStatus.Settled)]);
    await expectRevert(f.escrow(client).reclaim(jobId), escrow, 'JobEscrowJobNotOpen', [jobId, BigInt(EscrowStatus.Settled)]);
  });

  it('lets only the governor change the commission, up to the 20% cap', async () => {
    const { governor, clientA: client, settler, treasury, host1 } = f.wallets;
    const escrow = f.escrow(governor);

    await expectRevert(f.escrow(settler).setCommissionBps(1500n), escrow, 'AccessControlUnauthorizedAccount', [
      settler.address,
      await escrow.GOVERNOR_ROLE(),
    ]);
    await expectRevert(escrow.setCommissionBps(2001n), escrow, 'EscrowCommissionAboveCap', [2001n, 2000n]);

    const changed = await (await escrow.setCommissionBps(2000n)).wait();
    try {
      expect(escrowEvents(changed, 'CommissionChanged')).toEqual([[1000n, 2000n]]);
      const [treasuryBefore, hostBefore] = await balances(treasury, host1);
      const { jobId } = await openJob(client, zsc('10'));
      await bond(jobId, host1, 1n);
      await settle(jobId, [{ host: host1.address, amount: zsc('10') }]);
      expect(await balances(treasury, host1)).toEqual([treasuryBefore + zsc('2'), hostBefore + zsc('8')]);
    } finally {
      await (await escrow.setCommissionBps(1000n)).wait();
    }
  });
});

describe('bonds and slashes', () => {
  it('bonds host stake to the job and returns it when the job settles', async () => {
    const { clientA: client, host1, host2 } = f.wallets;
    const { jobId } = await openJob(client, zsc('10'));
    const [stake1Before, stake2Before] = [await stakeOf(host1), await stakeOf(host2)];

    const bonded = await bond(jobId, host1, zsc('40'));
    expect(escrowEvents(bonded, 'HostBonded')).toEqual([[jobId, host1.address, zsc('40')]]);
    // The escrow logs the bond; the registry, which only moves the figure, logs nothing.
    expect(bonded?.logs.filter((log) => log.address === f.deployment.hostRegistry)).toEqual([]);
    await bond(jobId, host2, zsc('25'));
    expect(await f.escrow().bondOf(jobId, host1.address)).toBe(zsc('40'));
    expect(await f.escrow().bondsOf(jobId)).toEqual([[host2.address, host1.address], [zsc('25'), zsc('40')]]);
    expect(await stakeOf(host1)).toEqual({ staked: stake1Before.staked, locked: stake1Before.locked + zsc('40') });
    expect(await f.registry().freeStakeOf(host2.address)).toBe(stake2Before.staked - stake2Before.locked - zsc('25'));

    const settled = await settle(jobId, [{ host: host1.address, amount: zsc('3') }]);
    expect(escrowEvents(settled, 'BondReleased')).toEqual([[jobId, host2.address, zsc('25')], [jobId, host1.address, zsc('40')]]);
    expect(await stakeOf(host1)).toEqual(stake1Before);
    expect(await stakeOf(host2)).toEqual(stake2Before);
    expect(await f.escrow().bondOf(jobId, host1.address)).toBe(0n);
    expect(await f.escrow().bondsOf(jobId)).toEqual([[], []]);
  });

  it('refuses bonds from anyone but the settler, to closed jobs, twice, of nothing, or beyond free stake', async () => {
    const { clientA: client, settler, host1, host2 } = f.wallets;
    const escrow = f.escrow(settler);
    const { jobId } = await openJob(client, zsc('10'));

    await expectRevert(bondAs(host1, jobId, host1.address, 1n), escrow, 'AccessControlUnauthorizedAccount', [host1.address, await escrow.SETTLER_ROLE()]);
    const unknown = unknownEscrowId();
    await expectRevert(bondAs(settler, unknown, host1.address, 1n), escrow, 'JobEscrowJobNotOpen', [unknown, 0n]);
    await expectRevert(bondAs(settler, jobId, host1.address, 0n), escrow, 'EscrowZeroAmount');
    await expectRevert(bondAs(settler, jobId, ZeroAddress, 1n), escrow, 'EscrowZeroAddress');
    const free = await f.registry().freeStakeOf(host1.address);
    expect(await revertOf(bondAs(settler, jobId, host1.address, free + 1n), escrow, f.registry())).toEqual({
      name: 'HostRegistryInsufficientFreeStake',
      args: [host1.address, free, free + 1n],
    });
    expect(await revertOf(bondAs(settler, jobId, client.address, 1n, client), escrow, f.registry())).toMatchObject({ name: 'HostRegistryInsufficientFreeStake' });

    await bond(jobId, host2, zsc('1'));
    await expectRevert(bondAs(settler, jobId, host2.address, zsc('1'), host2), escrow, 'EscrowHostAlreadyBonded', [jobId, host2.address]);
    await settle(jobId, []);
    await expectRevert(bondAs(settler, jobId, host1.address, 1n), escrow, 'JobEscrowJobNotOpen', [jobId, BigInt(EscrowStatus.Settled)]);
  });

  it(`refuses more than MAX_BONDS hosts on one job`, async () => {
    const max = Number(await f.escrow().MAX_BONDS());
    const { jobId } = await openJob(f.wallets.clientA, zsc('1'));
    const hosts = Array.from({ length: max + 1 }, () => new Wallet(Wallet.createRandom().privateKey, f.provider));
    for (const host of hosts) await f.fund(host.address, 10n);
    await Promise.all(
      hosts.map(async (host) => {
        await f.provider.send('anvil_setBalance', [host.address, toBeHex(10n ** 18n)]);
        await (await f.token(host).approve(f.deployment.hostRegistry, 10n)).wait();
        await (await f.registry(host).register(10n, id(host.address))).wait();
      }),
    );
    for (const host of hosts.slice(0, max)) await bond(jobId, host, 1n);
    await expectRevert(bondAs(f.wallets.settler, jobId, hosts[max].address, 1n, hosts[max]), f.escrow(), 'EscrowTooManyBonds', [jobId, BigInt(max)]);
    await settle(jobId, []);
    for (const host of hosts) expect((await stakeOf(host)).locked).toBe(0n);
  }, 60_000);

  it('slashes bonds at settlement to the named recipients and returns the rest', async () => {
    const { clientA: client, host1, host2, host3, challenger, treasury } = f.wallets;
    const { jobId } = await openJob(client, zsc('10'));
    // The challenger bonded its own stake when it challenged.
    await bond(jobId, challenger, zsc('1'));
    for (const host of [host1, host2, host3]) await bond(jobId, host, zsc('50'));
    const [stake1, stake2, stake3] = [await stakeOf(host1), await stakeOf(host2), await stakeOf(host3)];
    const [challengerBefore, treasuryBefore, host1Before, registryBefore] = await balances(challenger, treasury, host1, f.deployment.hostRegistry);

    // host2 returned a wrong result: a challenger caught it, host1 re-ran the slot; host3 was honest and paid.
    const settled = await settle(jobId, [{ host: host3.address, amount: zsc('4') }, { host: host1.address, amount: zsc('4') }], [
      { host: host2.address, recipient: challenger.address, amount: zsc('30') },
      { host: host2.address, recipient: host1.address, amount: zsc('15') },
      { host: host2.address, recipient: treasury.address, amount: zsc('5') },
    ]);
    expect(escrowEvents(settled, 'BondSlashed')).toEqual([
      [jobId, host2.address, challenger.address, zsc('30')],
      [jobId, host2.address, host1.address, zsc('15')],
      [jobId, host2.address, treasury.address, zsc('5')],
    ]);
    expect(escrowEvents(settled, 'BondReleased')).toEqual([
      [jobId, host3.address, zsc('50')],
      [jobId, host1.address, zsc('50')],
      [jobId, challenger.address, zsc('1')],
    ]);
    expect(eventsIn(settled, f.registry(), 'StakeSlashed')).toHaveLength(3);
    expect(await balances(challenger, treasury, host1, f.deployment.hostRegistry)).toEqual([
      challengerBefore + zsc('30'),
      treasuryBefore + zsc('5') + zsc('0.8'),
      host1Before + zsc('15') + zsc('3.6'),
      registryBefore - zsc('50'),
    ]);
    expect(await stakeOf(host1)).toEqual({ staked: stake1.staked, locked: stake1.locked - zsc('50') });
    expect(await stakeOf(host2)).toEqual({ staked: stake2.staked - zsc('50'), locked: stake2.locked - zsc('50') });
    expect(await stakeOf(host3)).toEqual({ staked: stake3.staked, locked: stake3.locked - zsc('50') });
  });

  it('refuses, changing nothing, slashes beyond a bond, of unbonded hosts, of nothing or to nobody', async () => {
    const { clientA: client, settler, host1, host2, challenger } = f.wallets;
    const escrow = f.escrow(settler);
    const { jobId } = await openJob(client, zsc('10'));
    await bond(jobId, host1, zsc('20'));
    await bond(jobId, challenger, 1n);
    const slash = (host: Wallet, amount: bigint, recipient = challenger.address) => ({ host: host.address, recipient, amount });

    await expectRevert(escrow.settle(jobId, [], [slash(host1, zsc('21'))]), escrow, 'EscrowSlashExceedsBond', [jobId, host1.address, zsc('21'), zsc('20')]);
    await expectRevert(escrow.settle(jobId, [], [slash(host1, zsc('15')), slash(host1, zsc('6'))]), escrow, 'EscrowSlashExceedsBond', [
      jobId,
      host1.address,
      zsc('6'),
      zsc('5'),
    ]);
    await expectRevert(escrow.settle(jobId, [], [slash(host2, 1n)]), escrow, 'EscrowSlashExceedsBond', [jobId, host2.address, 1n, 0n]);
    await expectRevert(escrow.settle(jobId, [], [slash(host1, 0n)]), escrow, 'EscrowZeroAmount');
    await expectRevert(escrow.settle(jobId, [], [slash(host1, 1n, ZeroAddress)]), escrow, 'EscrowZeroAddress');

    expect(await statusOf(jobId)).toBe(EscrowStatus.Open);
    expect(await f.escrow().bondOf(jobId, host1.address)).toBe(zsc('20'));
    await settle(jobId, [], [slash(host1, zsc('20'))]);
    expect(await f.escrow().bondOf(jobId, host1.address)).toBe(0n);
  });
});

describe('settleBatch', () => {
  it('settles many jobs in one transaction, paying each recipient once', async () => {
    const { clientA, clientB, treasury, host1, host2, challenger } = f.wallets;
    const jobs = [];
    for (const [client, host] of [[clientA, host1], [clientB, host2], [clientA, host1], [clientB, host1]] as const) {
      const { jobId } = await openJob(client, zsc('10'));
      await bond(jobId, host, zsc('5'));
      jobs.push({ jobId, client, host });
    }
    await bond(jobs[3].jobId, challenger, 1n);
    const [aBefore, bBefore, treasuryBefore, host1Before, host2Before, challengerBefore, escrowBefore] = await balances(
      clientA, clientB, treasury, host1, host2, challenger, f.deployment.jobEscrow,
    );
    const stake1 = await stakeOf(host1);

    const receipt = await (
      await f.escrow(f.wallets.settler).settleBatch(
        jobs.map(({ jobId, host }, i) => ({
          escrowId: jobId,
          payouts: [{ host: host.address, amount: zsc(String(i + 1)) }],
          slashes: i === 3 ? [{ host: host.address, recipient: challenger.address, amount: zsc('2') }] : [],
        })),
      )
    ).wait();

    // Gross 1, 2, 3, 4: host1 earns 0.9 + 2.7 + 3.6, host2 1.8; refunds 9 + 7 to A and 8 + 6 to B.
    expect(escrowEvents(receipt, 'JobSettled').map((args) => args[0])).toEqual(jobs.map((j) => j.jobId));
    expect(await balances(clientA, clientB, treasury, host1, host2, challenger, f.deployment.jobEscrow)).toEqual([
      aBefore + zsc('16'),
      bBefore + zsc('14'),
      treasuryBefore + zsc('1'),
      host1Before + zsc('7.2'),
      host2Before + zsc('1.8'),
      challengerBefore + zsc('2'),
      escrowBefore - zsc('40'),
    ]);
    const transfersFromEscrow = eventsIn(receipt, f.token(), 'Transfer').filter(([from]) => from === f.deployment.jobEscrow);
    expect(transfersFromEscrow.map(([, to]) => to).sort()).toEqual([treasury, host1, host2, clientA, clientB].map((w) => w.address).sort());
    expect(await stakeOf(host1)).toEqual({ staked: stake1.staked - zsc('2'), locked: stake1.locked - zsc('15') });
    for (const { jobId } of jobs) expect(await statusOf(jobId)).toBe(EscrowStatus.Settled);
  });

  it('settles none of the batch when one settlement is invalid, or a job appears twice', async () => {
    const { clientA, settler, host1 } = f.wallets;
    const escrow = f.escrow(settler);
    const { jobId: first } = await openJob(clientA, zsc('10'));
    const { jobId: second } = await openJob(clientA, zsc('10'));
    for (const jobId of [first, second]) await bond(jobId, host1, 1n);
    const pay = (escrowId: string, amount: bigint) => ({ escrowId, payouts: [{ host: host1.address, amount }], slashes: [] });

    await expectRevert(escrow.settleBatch([pay(first, zsc('1')), pay(second, zsc('11'))]), escrow, 'JobEscrowPayAboveSignedPrice', [second, host1.address, zsc('11'), zsc('10')]);
    await expectRevert(escrow.settleBatch([pay(first, zsc('1')), pay(first, zsc('1'))]), escrow, 'JobEscrowJobNotOpen', [first, BigInt(EscrowStatus.Settled)]);
    await expectRevert(f.escrow(clientA).settleBatch([pay(first, 1n)]), escrow, 'AccessControlUnauthorizedAccount', [clientA.address, await escrow.SETTLER_ROLE()]);
    expect([await statusOf(first), await statusOf(second)]).toEqual([EscrowStatus.Open, EscrowStatus.Open]);

    await (await escrow.settleBatch([])).wait();
    await (await escrow.settleBatch([pay(first, zsc('1')), pay(second, zsc('10'))])).wait();
    expect([await statusOf(first), await statusOf(second)]).toEqual([EscrowStatus.Settled, EscrowStatus.Settled]);
  });
});

describe('reclaim', () => {
  it('returns the escrow to the client and the bonds to their hosts once deadline + grace has passed', async () => {
    const { clientB: client, clientA: stranger, host1, host3, settler } = f.wallets;
    const [clientBefore, escrowBefore] = await balances(client, f.deployment.jobEscrow);
    const { jobId, deadline } = await openJob(client, zsc('12'));
    await bond(jobId, host3, zsc('30'));
    const stakeBefore = await stakeOf(host3);
    const reclaimableAt = BigInt(deadline + RECLAIM_GRACE_SECONDS);
    const escrow = f.escrow();

    await expectRevert(f.escrow(client).reclaim(jobId), escrow, 'EscrowReclaimTooEarly', [jobId, reclaimableAt]);
    await f.increaseTime(deadline + RECLAIM_GRACE_SECONDS - 10 - (await f.latestTimestamp()));
    await expectRevert(f.escrow(client).reclaim(jobId), escrow, 'EscrowReclaimTooEarly', [jobId, reclaimableAt]);
    await f.increaseTime(10);
    await expectRevert(f.escrow(stranger).reclaim(jobId), escrow, 'EscrowNotParty', [jobId, stranger.address]);
    await expectRevert(f.escrow(host1).reclaim(jobId), escrow, 'EscrowNotParty', [jobId, host1.address]);

    // A bonded host may take back its own bond, so its stake never waits on the client, but the job stays open.
    const released = await (await f.escrow(host3).reclaim(jobId)).wait();
    expect(escrowEvents(released, 'JobReclaimed')).toEqual([]);
    expect(escrowEvents(released, 'BondReleased')).toEqual([[jobId, host3.address, zsc('30')]]);
    expect(await stakeOf(host3)).toEqual({ staked: stakeBefore.staked, locked: stakeBefore.locked - zsc('30') });
    expect(await balances(client, f.deployment.jobEscrow)).toEqual([clientBefore - zsc('12'), escrowBefore + zsc('12')]);
    expect(await statusOf(jobId)).toBe(EscrowStatus.Open);
    await expectRevert(f.escrow(host3).reclaim(jobId), escrow, 'EscrowNotParty', [jobId, host3.address]);
    // Its bond is zero but it is still a party: no consent of it bonds it again, which would list it twice.
    await expectRevert(bondAs(settler, jobId, host3.address, zsc('30'), host3), escrow, 'EscrowHostAlreadyBonded', [jobId, host3.address]);

    // Only the client's reclaim returns the escrow.
    const reclaimed = await (await f.escrow(client).reclaim(jobId)).wait();
    expect(escrowEvents(reclaimed, 'JobReclaimed')).toEqual([[jobId, client.address, zsc('12')]]);
    expect(escrowEvents(reclaimed, 'BondReleased')).toEqual([]);
    expect(await balances(client, f.deployment.jobEscrow)).toEqual([clientBefore, escrowBefore]);
    expect(await statusOf(jobId)).toBe(EscrowStatus.Reclaimed);

    await expectRevert(f.escrow(settler).settle(jobId, [], []), escrow, 'JobEscrowJobNotOpen', [jobId, BigInt(EscrowStatus.Reclaimed)]);
    await expectRevert(f.escrow(client).reclaim(jobId), escrow, 'JobEscrowJobNotOpen', [jobId, BigInt(EscrowStatus.Reclaimed)]);
  });
});

describe('who a settlement may pay', () => {
  it("refuses the settler's drain: its own 1-wei job, a host's whole free stake bonded, and slashed to the settler", async () => {
    const { settler, host1 } = f.wallets;
    await f.fund(settler.address, 1n);
    // The settler signs an order of its own, as any client could.
    const { jobId } = await openJob(settler, 1n);
    const free = await f.registry().freeStakeOf(host1.address);
    await bond(jobId, host1, free);
    const escrow = f.escrow(settler);
    const drain = [{ host: host1.address, recipient: settler.address, amount: free }];

    // As the job's client the settler may be compensated, but never beyond the 1 wei it locked.
    await expectRevert(escrow.settle(jobId, [], drain), escrow, 'JobEscrowCompensationAboveEscrow', [jobId, free, 1n]);
    await expectRevert(escrow.settleBatch([{ escrowId: jobId, payouts: [], slashes: drain }]), escrow, 'JobEscrowCompensationAboveEscrow', [jobId, free, 1n]);
    const splitDrain = [{ host: host1.address, recipient: settler.address, amount: 1n }, { host: host1.address, recipient: settler.address, amount: 1n }];
    await expectRevert(escrow.settle(jobId, [], splitDrain), escrow, 'JobEscrowCompensationAboveEscrow', [jobId, 2n, 1n]);
    await settle(jobId, []);
    expect(await f.registry().freeStakeOf(host1.address)).toBe(free);
  });

  it('refuses, naming the address, payouts to anyone not bonded to that job', async () => {
    const { clientA: client, settler, treasury, host1, host2 } = f.wallets;
    const escrow = f.escrow(settler);
    const { jobId } = await openJob(client, zsc('10'));
    const { jobId: other } = await openJob(client, zsc('10'));
    await bond(jobId, host1, zsc('5'));
    await bond(other, host2, zsc('5'));
    const pay = (to: string) => [{ host: to, amount: zsc('1') }];

    for (const outsider of [host2.address, settler.address, treasury.address, client.address]) {
      await expectRevert(escrow.settle(jobId, pay(outsider), []), escrow, 'EscrowPayeeNotBonded', [jobId, outsider]);
    }
    // Bonded to one job of the batch is not bonded to the other.
    await expectRevert(
      escrow.settleBatch([{ escrowId: jobId, payouts: pay(host1.address), slashes: [] }, { escrowId: other, payouts: pay(host1.address), slashes: [] }]),
      escrow,
      'EscrowPayeeNotBonded',
      [other, host1.address],
    );
    expect([await statusOf(jobId), await statusOf(other)]).toEqual([EscrowStatus.Open, EscrowStatus.Open]);
    await (await escrow.settleBatch([{ escrowId: jobId, payouts: pay(host1.address), slashes: [] }, { escrowId: other, payouts: pay(host2.address), slashes: [] }])).wait();
  });

  it('sends slash shares only to the treasury, parties bonded to the same job and, up to its escrow, the client', async () => {
    const { clientA: client, settler, treasury, host1, host2, host3, challenger } = f.wallets;
    const escrow = f.escrow(settler);
    const { jobId } = await openJob(client, zsc('10'));
    const { jobId: other } = await openJob(client, zsc('10'));
    for (const host of [host1, host2, challenger]) await bond(jobId, host, zsc('10'));
    await bond(other, host3, zsc('10'));
    const slash = (host: Wallet, recipient: string, amount = zsc('10')) => ({ host: host.address, recipient, amount });

    // host3 is bonded to another job, the settler to none.
    for (const outsider of [host3.address, settler.address]) {
      await expectRevert(escrow.settle(jobId, [], [slash(host1, outsider)]), escrow, 'EscrowRecipientNotParty', [jobId, outsider]);
    }
    // host1's bond goes to the challenger, then host2's to host1 (a party slashed to nothing is still a party), the
    // treasury and the client the fault harmed; the client also gets its whole escrow back, as nobody was paid.
    await expectRevert(escrow.settle(jobId, [], [slash(host1, client.address), slash(host2, client.address, 1n)]), escrow, 'JobEscrowCompensationAboveEscrow', [
      jobId, zsc('10') + 1n, zsc('10'),
    ]);
    const [challengerBefore, host1Before, treasuryBefore, clientBefore] = await balances(challenger, host1, treasury, client);
    await settle(jobId, [], [
      slash(host1, challenger.address), slash(host2, host1.address, zsc('6')), slash(host2, treasury.address, zsc('3')), slash(host2, client.address, zsc('1')),
    ]);
    expect(await balances(challenger, host1, treasury, client)).toEqual([
      challengerBefore + zsc('10'), host1Before + zsc('6'), treasuryBefore + zsc('3'), clientBefore + zsc('1') + zsc('10'),
    ]);
    await settle(other, []);
  });
});

describe("a bonded host's reclaim", () => {
  it('returns only its own bond, after deadline + grace, and the settlement still completes', async () => {
    const { clientA: client, treasury, host1, host2 } = f.wallets;
    const { jobId, deadline } = await openJob(client, zsc('10'));
    await bond(jobId, host1, zsc('20'));
    await bond(jobId, host2, zsc('20'));
    const escrow = f.escrow();
    await expectRevert(f.escrow(host1).reclaim(jobId), escrow, 'EscrowReclaimTooEarly', [jobId, BigInt(deadline + RECLAIM_GRACE_SECONDS)]);
    await f.increaseTime(deadline + RECLAIM_GRACE_SECONDS - (await f.latestTimestamp()));
    const stake1 = await stakeOf(host1);

    await (await f.escrow(host1).reclaim(jobId)).wait();
    expect(await stakeOf(host1)).toEqual({ staked: stake1.staked, locked: stake1.locked - zsc('20') });
    expect(await f.escrow().bondsOf(jobId)).toEqual([[host2.address, host1.address], [zsc('20'), 0n]]);
    // Its bond is gone, so it cannot be slashed, but it is still a party: paid for its work, or a slash recipient.
    const asSettler = f.escrow(f.wallets.settler);
    await expectRevert(asSettler.settle(jobId, [], [{ host: host1.address, recipient: treasury.address, amount: 1n }]), escrow, 'EscrowSlashExceedsBond', [
      jobId,
      host1.address,
      1n,
      0n,
    ]);
    const [clientBefore, host1Before] = await balances(client, host1);
    const settled = await settle(jobId, [{ host: host1.address, amount: zsc('4') }], [{ host: host2.address, recipient: host1.address, amount: zsc('5') }]);
    expect(escrowEvents(settled, 'JobSettled')).toEqual([[jobId, zsc('3.6'), zsc('0.4'), zsc('6')]]);
    expect(await balances(client, host1)).toEqual([clientBefore + zsc('6'), host1Before + zsc('3.6') + zsc('5')]);
    expect(await stakeOf(host1)).toEqual({ staked: stake1.staked, locked: stake1.locked - zsc('20') });
  });
});
