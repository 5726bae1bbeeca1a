import { ApplicationFailure } from '@temporalio/common';
import { id, type Wallet } from 'ethers';
import { createChainActivities } from '../../activities/chain';
import { connectChain, type ChainClient } from '../../activities/chain/client';
import { chainDealId, chainFaultId, chainJobId } from '../../activities/chain/ids';
import { DealStatus, EscrowStatus } from '../../contracts/bindings';
import { ZansocErrorType } from '../../domain/errors';
import { RECLAIM_GRACE_SECONDS, startChainFixture, zsc, type ChainFixture } from './fixture';

let f: ChainFixture;
let chain: ChainClient;
let activities: ReturnType<typeof createChainActivities>;
let jobCounter = 0;
const newJobId = () => `activity-test-job-${++jobCounter}`;

beforeAll(async () => {
  f = await startChainFixture();
  // clientB and the hosts stay free for direct sends: the activities' keys must not be used behind their nonce managers,
  // so the treasury funds only through fundClient here.
  chain = await connectChain({
    rpcUrl: f.anvil.url,
    deployment: f.deployment,
    settlerKey: f.wallets.settler.privateKey,
    clientKey: f.wallets.clientA.privateKey,
    treasuryKey: f.wallets.treasury.privateKey,
    confirmations: 1,
  });
  activities = createChainActivities({ chain });
  await activities.fundClient({ address: f.wallets.clientA.address, amount: zsc('1000').toString() });
  // The challenger is a host too: a challenger bonds its own stake to the job it disputes.
  for (const host of [f.wallets.host1, f.wallets.host2, f.wallets.host3, f.wallets.challenger]) {
    await activities.fundClient({ address: host.address, amount: zsc('500').toString() });
    await (await f.token(host).approve(f.deployment.hostRegistry, zsc('500'))).wait();
    await (await f.registry(host).register(zsc('500'), id(host.address))).wait();
  }
});

afterAll(async () => {
  chain?.close();
  await f?.stop();
});

const balances = (...holders: (Wallet | string)[]) =>
  Promise.all(holders.map((h) => f.token().balanceOf(typeof h === 'string' ? h : h.address)));
const sentBy = (wallet: Wallet) => f.provider.getTransactionCount(wallet.address);
const deadline = async () => (await f.latestTimestamp()) + 3600;
const statusOf = async (jobId: string) => Number((await f.escrow().jobOf(chainJobId(jobId)))[3]);

async function failureOf(action: Promise<unknown>): Promise<ApplicationFailure> {
  const error = await action.then(
    () => null,
    (err: unknown) => err,
  );
  if (!(error instanceof ApplicationFailure)) throw new Error(`expected an ApplicationFailure, got ${String(error)}`);
  return error;
}

it('derives the on-chain ids of jobs, deals and faults from their ids', () => {
  expect(chainJobId('abc')).toBe(id('job:abc'));
  expect(chainJobId('abc')).not.toBe(chainJobId('abd'));
  expect(chainDealId('abc')).toBe(id('deal:abc'));
  expect(chainFaultId('period-1/h1')).toBe(id('fault:period-1/h1'));
});

it('fundClient pays from the treasury', async () => {
  const { treasury, clientB } = f.wallets;
  const [treasuryBefore, clientBefore] = await balances(treasury, clientB);
  const result = await activities.fundClient({ address: clientB.address, amount: zsc('5').toString() });
  expect(result.txHash).toMatch(/^0x[0-9a-f]{64}$/);
  expect(await balances(treasury, clientB)).toEqual([treasuryBefore - zsc('5'), clientBefore + zsc('5')]);
});

it('lockEscrow twice for one job sends once and locks once', async () => {
  const client = f.wallets.clientA;
  const jobId = newJobId();
  const input = { jobId, amount: zsc('10').toString(), deadlineSeconds: await deadline() };
  const [clientBefore, escrowBefore] = await balances(client, f.deployment.jobEscrow);

  const first = await activities.lockEscrow(input);
  expect(first).toEqual({ txHash: expect.stringMatching(/^0x[0-9a-f]{64}$/), alreadyLocked: false });
  expect(JSON.parse(JSON.stringify(first))).toEqual(first);
  const sentAfterFirst = await sentBy(client);

  expect(await activities.lockEscrow(input)).toEqual({ txHash: null, alreadyLocked: true });
  expect(await sentBy(client)).toBe(sentAfterFirst);
  expect(await balances(client, f.deployment.jobEscrow)).toEqual([clientBefore - zsc('10'), escrowBefore + zsc('10')]);
  expect(await f.escrow().jobOf(chainJobId(jobId))).toEqual([client.address, zsc('10'), BigInt(input.deadlineSeconds), BigInt(EscrowStatus.Open)]);
});

it('settleJob twice sends one settlement and reports it both times', async () => {
  const { clientA: client, settler, treasury, host1, host2 } = f.wallets;
  const jobId = newJobId();
  await activities.lockEscrow({ jobId, amount: zsc('100').toString(), deadlineSeconds: await deadline() });
  for (const host of [host1, host2]) await activities.bondHostStake({ jobId, host: host.address, amount: '1' });
  const before = await balances(client, treasury, host1, host2);
  const sentBefore = await sentBy(settler);
  const input = {
    jobId,
    payouts: [
      { host: host1.address, amount: zsc('30').toString() },
      { host: host2.address.toLowerCase(), amount: zsc('20').toString() },
    ],
  };

  const first = await activities.settleJob(input);
  expect(first).toEqual({
    txHash: expect.stringMatching(/^0x[0-9a-f]{64}$/),
    alreadySettled: false,
    paidToHosts: zsc('45').toString(),
    commission: zsc('5').toString(),
    refunded: zsc('50').toString(),
  });
  expect(JSON.parse(JSON.stringify(first))).toEqual(first);
  expect(await sentBy(settler)).toBe(sentBefore + 1);
  const after = [before[0] + zsc('50'), before[1] + zsc('5'), before[2] + zsc('27'), before[3] + zsc('18')];
  expect(await balances(client, treasury, host1, host2)).toEqual(after);

  expect(await activities.settleJob(input)).toEqual({ ...first, alreadySettled: true });
  expect(await sentBy(settler)).toBe(sentBefore + 1);
  expect(await balances(client, treasury, host1, host2)).toEqual(after);
});

it('settleJob with no payouts refunds the whole escrow', async () => {
  const jobId = newJobId();
  const [clientBefore] = await balances(f.wallets.clientA);
  await activities.lockEscrow({ jobId, amount: zsc('3').toString(), deadlineSeconds: await deadline() });
  const settled = await activities.settleJob({ jobId, payouts: [] });
  expect(settled).toMatchObject({ alreadySettled: false, paidToHosts: '0', commission: '0', refunded: zsc('3').toString() });
  expect(await balances(f.wallets.clientA)).toEqual([clientBefore]);
});

it('locks and settles many jobs at once without their transactions colliding', async () => {
  const jobIds = [newJobId(), newJobId(), newJobId(), newJobId()];
  const deadlineSeconds = await deadline();

  const locks = await Promise.all(jobIds.map((jobId) => activities.lockEscrow({ jobId, amount: zsc('2').toString(), deadlineSeconds })));
  expect(locks.every((l) => !l.alreadyLocked && l.txHash)).toBe(true);
  for (const jobId of jobIds) await activities.bondHostStake({ jobId, host: f.wallets.host3.address, amount: '1' });
  const sentBefore = await sentBy(f.wallets.settler);
  const settlements = await Promise.all(
    jobIds.map((jobId) => activities.settleJob({ jobId, payouts: [{ host: f.wallets.host3.address, amount: zsc('1').toString() }] })),
  );
  expect(new Set(settlements.map((s) => s.txHash)).size).toBe(jobIds.length);
  expect(await Promise.all(jobIds.map(statusOf))).toEqual(jobIds.map(() => EscrowStatus.Settled));
  expect(await sentBy(f.wallets.settler)).toBe(sentBefore + jobIds.length);
});

it('refuses for good a lock the client cannot pay for, without sending', async () => {
  const client = f.wallets.clientA;
  const [balance] = await balances(client);
  const sentBefore = await sentBy(client);
  const failure = await failureOf(activities.lockEscrow({ jobId: newJobId(), amount: (balance + 1n).toString(), deadlineSeconds: await deadline() }));
  expect(failure).toMatchObject({ type: ZansocErrorType.InsufficientFunds, nonRetryable: true });
  expect(failure.message).toContain(`holds ${balance}`);
  expect(failure.message).toContain(`needs ${balance + 1n}`);
  expect(await sentBy(client)).toBe(sentBefore);
});

it('fails a reverted send for good and still sends the next one', async () => {
  const failure = await failureOf(activities.lockEscrow({ jobId: newJobId(), amount: '5', deadlineSeconds: 1000 }));
  expect(failure).toMatchObject({ type: ZansocErrorType.EscrowFailed, nonRetryable: true });
  expect(failure.message).toContain('EscrowDeadlineInPast(1000)');

  // Without a nonce reset after the revert, this send would wait forever behind the nonce that was never used.
  const jobId = newJobId();
  expect(await activities.lockEscrow({ jobId, amount: '5', deadlineSeconds: await deadline() })).toMatchObject({ alreadyLocked: false });
  expect(await statusOf(jobId)).toBe(EscrowStatus.Open);
}, 20_000);

it('refuses to lock a job id already escrowed on other terms', async () => {
  const jobId = newJobId();
  const deadlineSeconds = await deadline();
  await activities.lockEscrow({ jobId, amount: '7', deadlineSeconds });
  const failure = await failureOf(activities.lockEscrow({ jobId, amount: '8', deadlineSeconds }));
  expect(failure).toMatchObject({ type: ZansocErrorType.EscrowFailed, nonRetryable: true });
});

it('refuses for good, without sending, settlements that cannot happen', async () => {
  const { settler, host1, clientB } = f.wallets;
  const sentBefore = await sentBy(settler);

  const overpaid = newJobId();
  await activities.lockEscrow({ jobId: overpaid, amount: '10', deadlineSeconds: await deadline() });
  const overpayment = await failureOf(activities.settleJob({ jobId: overpaid, payouts: [{ host: host1.address, amount: '11' }] }));
  expect(overpayment).toMatchObject({ type: ZansocErrorType.EscrowFailed, nonRetryable: true });
  expect(overpayment.message).toContain('add up to 11, more than the 10 escrowed');

  const unknown = await failureOf(activities.settleJob({ jobId: 'never-locked', payouts: [] }));
  expect(unknown).toMatchObject({ type: ZansocErrorType.EscrowFailed, nonRetryable: true });

  const malformed = await failureOf(activities.settleJob({ jobId: overpaid, payouts: [{ host: host1.address, amount: '1.5' }] }));
  expect(malformed).toMatchObject({ type: ZansocErrorType.InvalidSpec, nonRetryable: true });
  expect(malformed.message).toContain('payouts[0].amount');

  const reclaimed = newJobId();
  const jobDeadline = (await f.latestTimestamp()) + 60;
  await (await f.token(clientB).approve(f.deployment.jobEscrow, 4n)).wait();
  await (await f.escrow(clientB).openJob(chainJobId(reclaimed), 4n, jobDeadline)).wait();
  await f.increaseTime(60 + RECLAIM_GRACE_SECONDS);
  await (await f.escrow(clientB).reclaim(chainJobId(reclaimed))).wait();
  const afterReclaim = await failureOf(activities.settleJob({ jobId: reclaimed, payouts: [] }));
  expect(afterReclaim).toMatchObject({ type: ZansocErrorType.EscrowFailed, nonRetryable: true });
  expect(afterReclaim.message).toContain('Reclaimed');

  expect(await sentBy(settler)).toBe(sentBefore);
});

describe('bonds and slashes', () => {
  const lockedOf = async (host: Wallet) => (await f.registry().hostOf(host.address))[2];

  it('bondHostStake twice for one host and job sends once and bonds once', async () => {
    const { settler, host1 } = f.wallets;
    const jobId = newJobId();
    await activities.lockEscrow({ jobId, amount: '100', deadlineSeconds: await deadline() });
    const lockedBefore = await lockedOf(host1);
    const sentBefore = await sentBy(settler);
    const input = { jobId, host: host1.address.toLowerCase(), amount: zsc('20').toString() };

    expect(await activities.bondHostStake(input)).toEqual({ txHash: expect.stringMatching(/^0x[0-9a-f]{64}$/), alreadyBonded: false });
    expect(await activities.bondHostStake(input)).toEqual({ txHash: null, alreadyBonded: true });
    expect(await sentBy(settler)).toBe(sentBefore + 1);
    expect(await lockedOf(host1)).toBe(lockedBefore + zsc('20'));

    // Two attempts of the same step racing each other still bond once.
    const racingJob = newJobId();
    await activities.lockEscrow({ jobId: racingJob, amount: '100', deadlineSeconds: await deadline() });
    const racing = await Promise.all([1, 2].map(() => activities.bondHostStake({ ...input, jobId: racingJob })));
    expect(racing.map((r) => r.alreadyBonded).sort()).toEqual([false, true]);
    expect(await sentBy(settler)).toBe(sentBefore + 2);
    await activities.settleJob({ jobId: racingJob, payouts: [] });

    const otherTerms = await failureOf(activities.bondHostStake({ ...input, amount: zsc('21').toString() }));
    expect(otherTerms).toMatchObject({ type: ZansocErrorType.EscrowFailed, nonRetryable: true });
    expect(otherTerms.message).toContain(`already bonded for ${zsc('20')}`);
    await activities.settleJob({ jobId, payouts: [] });
    expect(await lockedOf(host1)).toBe(lockedBefore);
  });

  it('refuses for good, without sending, bonds that cannot happen', async () => {
    const { settler, host2, clientB } = f.wallets;
    const sentBefore = await sentBy(settler);
    const jobId = newJobId();
    await activities.lockEscrow({ jobId, amount: '100', deadlineSeconds: await deadline() });
    const free = await f.registry().freeStakeOf(host2.address);

    const tooMuch = await failureOf(activities.bondHostStake({ jobId, host: host2.address, amount: (free + 1n).toString() }));
    expect(tooMuch).toMatchObject({ type: ZansocErrorType.EscrowFailed, nonRetryable: true });
    expect(tooMuch.message).toContain(`${free} ZSC base units of free stake, ${free + 1n} needed`);
    expect(await failureOf(activities.bondHostStake({ jobId, host: clientB.address, amount: '1' }))).toMatchObject({ type: ZansocErrorType.EscrowFailed });
    expect(await failureOf(activities.bondHostStake({ jobId: 'never-locked', host: host2.address, amount: '1' }))).toMatchObject({
      type: ZansocErrorType.EscrowFailed,
    });
    expect(await failureOf(activities.bondHostStake({ jobId, host: 'host-2', amount: '1' }))).toMatchObject({ type: ZansocErrorType.InvalidSpec });
    expect(await sentBy(settler)).toBe(sentBefore);
  });

  it('settleJob slashes bonds to their recipients once, however often it is called', async () => {
    const { settler, host1, host2, challenger, treasury } = f.wallets;
    const jobId = newJobId();
    await activities.lockEscrow({ jobId, amount: zsc('10').toString(), deadlineSeconds: await deadline() });
    await activities.bondHostStake({ jobId, host: host1.address, amount: zsc('30').toString() });
    await activities.bondHostStake({ jobId, host: host2.address, amount: zsc('30').toString() });
    await activities.bondHostStake({ jobId, host: challenger.address, amount: '1' });
    const [challengerBefore, treasuryBefore, host1Before] = await balances(challenger, treasury, host1);
    const [locked1, locked2] = [await lockedOf(host1), await lockedOf(host2)];
    const sentBefore = await sentBy(settler);
    const input = {
      jobId,
      payouts: [{ host: host1.address, amount: zsc('10').toString() }],
      slashes: [
        { host: host2.address, recipient: challenger.address, amount: zsc('20').toString() },
        { host: host2.address, recipient: host1.address, amount: zsc('10').toString() },
      ],
    };

    const first = await activities.settleJob(input);
    expect(first).toMatchObject({ alreadySettled: false, paidToHosts: zsc('9').toString(), commission: zsc('1').toString(), refunded: '0' });
    expect(await activities.settleJob(input)).toEqual({ ...first, alreadySettled: true });
    expect(await sentBy(settler)).toBe(sentBefore + 1);
    expect(await balances(challenger, treasury, host1)).toEqual([challengerBefore + zsc('20'), treasuryBefore + zsc('1'), host1Before + zsc('19')]);
    expect([await lockedOf(host1), await lockedOf(host2)]).toEqual([locked1 - zsc('30'), locked2 - zsc('30')]);
  });

  it('refuses for good, without sending, slashes beyond a bond', async () => {
    const { settler, host1, challenger } = f.wallets;
    const jobId = newJobId();
    await activities.lockEscrow({ jobId, amount: '10', deadlineSeconds: await deadline() });
    await activities.bondHostStake({ jobId, host: host1.address, amount: '5' });
    const sentBefore = await sentBy(settler);
    const slash = (amount: string) => ({ host: host1.address, recipient: challenger.address, amount });

    const beyond = await failureOf(activities.settleJob({ jobId, payouts: [], slashes: [slash('3'), slash('3')] }));
    expect(beyond).toMatchObject({ type: ZansocErrorType.EscrowFailed, nonRetryable: true });
    expect(beyond.message).toContain('add up to 6, more than its bond of 5');
    expect(await failureOf(activities.settleJob({ jobId, payouts: [], slashes: [slash('0')] }))).toMatchObject({ type: ZansocErrorType.InvalidSpec });
    expect(await failureOf(activities.settleJob({ jobId, payouts: [], slashes: [{ ...slash('1'), recipient: 'nobody' }] }))).toMatchObject({
      type: ZansocErrorType.InvalidSpec,
      message: expect.stringContaining('settlement.slashes[0].recipient'),
    });
    expect(await sentBy(settler)).toBe(sentBefore);
  });
});

describe('settleJobBatch', () => {
  it('settles the open jobs in one transaction and reports the ones settled before', async () => {
    const { settler, host3 } = f.wallets;
    const jobIds = [newJobId(), newJobId(), newJobId()];
    const deadlineSeconds = await deadline();
    for (const jobId of jobIds) await activities.lockEscrow({ jobId, amount: '1000', deadlineSeconds });
    for (const jobId of jobIds) await activities.bondHostStake({ jobId, host: host3.address, amount: '1' });
    const before = await activities.settleJob({ jobId: jobIds[0], payouts: [{ host: host3.address, amount: '100' }] });
    const sentBefore = await sentBy(settler);
    const input = { settlements: jobIds.map((jobId, i) => ({ jobId, payouts: [{ host: host3.address, amount: String(100 * (i + 1)) }] })) };

    const first = await activities.settleJobBatch(input);
    expect(first.txHash).toMatch(/^0x[0-9a-f]{64}$/);
    expect(first.settlements).toEqual([
      { jobId: jobIds[0], ...before, alreadySettled: true },
      { jobId: jobIds[1], txHash: first.txHash, alreadySettled: false, paidToHosts: '180', commission: '20', refunded: '800' },
      { jobId: jobIds[2], txHash: first.txHash, alreadySettled: false, paidToHosts: '270', commission: '30', refunded: '700' },
    ]);
    expect(await sentBy(settler)).toBe(sentBefore + 1);

    const again = await activities.settleJobBatch(input);
    expect(again).toEqual({ txHash: null, settlements: first.settlements.map((s) => ({ ...s, alreadySettled: true })) });
    expect(await sentBy(settler)).toBe(sentBefore + 1);
    expect(await failureOf(activities.settleJobBatch({ settlements: [input.settlements[1], input.settlements[1]] }))).toMatchObject({
      type: ZansocErrorType.InvalidSpec,
    });
  });
});

describe('storage deals', () => {
  const dealOf = async (dealId: string) => f.storage().dealOf(chainDealId(dealId));
  let dealCounter = 0;
  const newDealId = () => `activity-test-deal-${++dealCounter}`;

  it('runs a deal end to end, each step sending once however often it is called', async () => {
    const { clientA: client, settler, host1, host2, host3, treasury } = f.wallets;
    const dealId = newDealId();
    const deposit = { dealId, ratePerHostPeriod: '1000', replicas: 2, periods: 3, deadlineSeconds: await deadline() };
    const [clientBefore] = await balances(client);
    const clientSent = await sentBy(client);

    expect(await activities.depositStorageDeal(deposit)).toMatchObject({ alreadyDeposited: false });
    expect(await activities.depositStorageDeal(deposit)).toEqual({ txHash: null, alreadyDeposited: true });
    expect(await sentBy(client)).toBe(clientSent + 2); // approve + deposit
    expect(await failureOf(activities.depositStorageDeal({ ...deposit, periods: 4 }))).toMatchObject({ type: ZansocErrorType.EscrowFailed });
    expect((await dealOf(dealId))[1]).toBe(6000n);

    const settlerSent = await sentBy(settler);
    for (const host of [host1, host2]) {
      expect(await activities.bondStorageHost({ dealId, host: host.address, amount: '500' })).toMatchObject({ alreadyBonded: false });
      expect(await activities.bondStorageHost({ dealId, host: host.address, amount: '500' })).toEqual({ txHash: null, alreadyBonded: true });
    }

    const period0 = { dealId, period: 0, hosts: [host2.address, host1.address] };
    const released = await activities.releaseStoragePeriod(period0);
    expect(released).toEqual({ txHash: expect.stringMatching(/^0x/), alreadyReleased: false, paidToHosts: '1800', commission: '200' });
    expect(await activities.releaseStoragePeriod(period0)).toEqual({ ...released, alreadyReleased: true });
    expect(await failureOf(activities.releaseStoragePeriod({ dealId, period: 2, hosts: [] }))).toMatchObject({ type: ZansocErrorType.EscrowFailed });
    expect(await failureOf(activities.releaseStoragePeriod({ dealId, period: 1, hosts: [host1.address, host1.address] }))).toMatchObject({
      type: ZansocErrorType.InvalidSpec,
    });

    const fault = { dealId, faultKey: 'period-1/host-2', host: host2.address, amount: '200', recipient: treasury.address };
    expect(await activities.slashStorageHost(fault)).toMatchObject({ alreadySlashed: false });
    expect(await activities.slashStorageHost(fault)).toEqual({ txHash: null, alreadySlashed: true });
    expect(await f.storage().bondOf(chainDealId(dealId), host2.address)).toBe(300n);
    expect(await failureOf(activities.slashStorageHost({ ...fault, faultKey: 'period-1/again', amount: '301' }))).toMatchObject({
      type: ZansocErrorType.EscrowFailed,
    });

    // host2's chunks were repaired onto host3.
    expect(await activities.releaseStorageBond({ dealId, host: host2.address })).toMatchObject({ released: '300' });
    expect(await activities.releaseStorageBond({ dealId, host: host2.address })).toEqual({ txHash: null, released: '0' });
    await activities.bondStorageHost({ dealId, host: host3.address, amount: '500' });
    await activities.releaseStoragePeriod({ dealId, period: 1, hosts: [host1.address, host3.address] });

    const ended = await activities.endStorageDeal({ dealId });
    expect(ended).toEqual({ txHash: expect.stringMatching(/^0x/), alreadyEnded: false, refunded: '2000' });
    expect(await activities.endStorageDeal({ dealId })).toEqual({ ...ended, alreadyEnded: true });
    // Sends: 2 bonds, period 0, slash, release bond, bond host3, period 1, end.
    expect(await sentBy(settler)).toBe(settlerSent + 8);
    expect(Number((await dealOf(dealId))[7])).toBe(DealStatus.Ended);
    expect(await balances(client)).toEqual([clientBefore - 4000n]);
    expect(await failureOf(activities.releaseStoragePeriod({ dealId, period: 2, hosts: [] }))).toMatchObject({ type: ZansocErrorType.EscrowFailed });
    expect(await activities.releaseStoragePeriod({ dealId, period: 1, hosts: [] })).toMatchObject({ alreadyReleased: true, paidToHosts: '1800' });
  });

  it('refuses for good a deposit the client cannot pay for, without sending', async () => {
    const client = f.wallets.clientA;
    const [balance] = await balances(client);
    const sentBefore = await sentBy(client);
    const failure = await failureOf(
      activities.depositStorageDeal({ dealId: newDealId(), ratePerHostPeriod: balance.toString(), replicas: 1, periods: 2, deadlineSeconds: await deadline() }),
    );
    expect(failure).toMatchObject({ type: ZansocErrorType.InsufficientFunds, nonRetryable: true });
    expect(await failureOf(activities.depositStorageDeal({ dealId: newDealId(), ratePerHostPeriod: '1', replicas: 0, periods: 1, deadlineSeconds: 1 }))).toMatchObject({
      type: ZansocErrorType.InvalidSpec,
    });
    expect(await sentBy(client)).toBe(sentBefore);
  });
});
