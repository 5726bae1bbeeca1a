import { ApplicationFailure } from '@temporalio/common';
import { Contract, MaxUint256, Wallet, id } from 'ethers';
import { createChainActivities } from '../../activities/chain';
import { connectChain, type ChainClient } from '../../activities/chain/client';
import { explainRevert } from '../../activities/chain/common';
import { chainFaultId } from '../../activities/chain/ids';
import { DealStatus, EscrowStatus } from '../../contracts/bindings';
import { ZansocErrorType } from '../../domain/errors';
import {
  NO_PERMIT,
  chainDealId,
  chainJobId,
  dealEscrowId,
  dealOrderAmount,
  escrowIdOf,
  jobEscrowId,
  jobOrderAmount,
  type SignedDealOrder,
  type SignedJobOrder,
} from '../../domain/orders';
import { createConsentActivities } from '../../host-worker/activities/consent';
import { RECLAIM_GRACE_SECONDS, startChainFixture, zsc, type ChainFixture, type PermitMode } from './fixture';

/**
 * The chain activities on a real anvil, on the non-custodial path: clients sign their own orders and permits, hosts
 * their own bond consents (with the host worker's consent activity), and the settler only relays and pays the gas.
 */

let f: ChainFixture;
let chain: ChainClient;
let activities: ReturnType<typeof createChainActivities>;
let jobCounter = 0;
const newJobId = () => `activity-test-job-${++jobCounter}`;

/** What a host lets one escrow bond of its stake in these tests: more than any host holds, so the registry decides. */
const TEST_MAX_BOND = zsc('100000');

beforeAll(async () => {
  f = await startChainFixture();
  // The settler and treasury send only through the activities' nonce managers; clients and hosts sign, and send
  // directly only where a test says so (a reclaim).
  chain = await connectChain({
    rpcUrl: f.anvil.url,
    deployment: f.deployment,
    settlerKey: f.wallets.settler.privateKey,
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
const sentBy = (wallet: Wallet | string) => f.provider.getTransactionCount(typeof wallet === 'string' ? wallet : wallet.address);
const settlerSent = () => sentBy(f.wallets.settler);
const deadline = async () => (await f.latestTimestamp()) + 3600;
const statusOf = async (client: Wallet, jobId: string) => Number((await f.escrow().jobOf(jobEscrowId(client.address, jobId)))[4]);
/** A client nobody funded with ETH: it can only sign. */
const freshClient = () => new Wallet(Wallet.createRandom().privateKey, f.provider);

/** `client`'s signed order for job `jobId` of `pricePerSlot × slots`, with a permit for exactly that by default. */
async function jobPayment(
  client: Wallet,
  jobId: string,
  { pricePerSlot, slots = 1, deadline: orderDeadline, permit = 'exact' }: { pricePerSlot: bigint; slots?: number; deadline?: number; permit?: PermitMode },
): Promise<SignedJobOrder> {
  const order = await f.jobOrder(client.address, { jobId: chainJobId(jobId), pricePerSlot, slots, deadline: orderDeadline ?? (await deadline()) });
  const amount = jobOrderAmount(order);
  const [signature, signedPermit] = await Promise.all([
    f.signJobOrder(client, order),
    permit === 'none' ? NO_PERMIT : f.signPermit(client, 'job', permit === 'max' ? MaxUint256 : amount),
  ]);
  return { order, signature, permit: signedPermit };
}

/** `client`'s signed order for the deal term `termKey`, with a permit for exactly its amount. */
async function dealPayment(
  client: Wallet,
  termKey: string,
  { ratePerHostPeriod, replicas, periods, permit = 'exact' }: { ratePerHostPeriod: bigint; replicas: number; periods: number; permit?: PermitMode },
): Promise<SignedDealOrder> {
  const order = await f.dealOrder(client.address, { dealId: chainDealId(termKey), ratePerHostPeriod, replicas, periods, deadline: await deadline() });
  const [signature, signedPermit] = await Promise.all([
    f.signDealOrder(client, order),
    permit === 'none' ? NO_PERMIT : f.signPermit(client, 'storage', permit === 'max' ? MaxUint256 : dealOrderAmount(order)),
  ]);
  return { order, signature, permit: signedPermit };
}

/** The host worker's own consent activity, with the host's key. */
const consentOf = (host: Wallet, maxBond = TEST_MAX_BOND) =>
  createConsentActivities({ wallet: host, chainId: f.deployment.chainId, escrows: f.deployment, maxBond });

/** Asks `host` to consent to bonding `amount` to `client`'s job, then bonds it as a workflow does. */
async function bondToJob(jobId: string, client: Wallet, host: Wallet, amount: bigint | string) {
  const consent = await consentOf(host).consentToBond({ escrow: 'job', client: client.address, id: jobId, amount: String(amount) });
  return activities.bondHostStake({ jobId, client: client.address, host: host.address, amount: String(amount), consent });
}

/** Locks `client`'s job of `pricePerSlot × slots` through the activity. */
async function lockJob(client: Wallet, jobId: string, terms: Parameters<typeof jobPayment>[2]) {
  return activities.lockEscrow({ jobId, payment: await jobPayment(client, jobId, terms) });
}

async function failureOf(action: Promise<unknown>): Promise<ApplicationFailure> {
  const error = await action.then(
    () => null,
    (err: unknown) => err,
  );
  if (!(error instanceof ApplicationFailure)) throw new Error(`expected an ApplicationFailure, got ${String(error)}`);
  return error;
}

it('derives the on-chain ids of jobs, deals and faults from their ids, and escrow ids from their client too', async () => {
  expect(chainJobId('abc')).toBe(id('job:abc'));
  expect(chainJobId('abc')).not.toBe(chainJobId('abd'));
  expect(chainDealId('abc')).toBe(id('deal:abc'));
  expect(chainFaultId('period-1/h1')).toBe(id('fault:period-1/h1'));

  const { clientA, clientB } = f.wallets;
  expect(jobEscrowId(clientA.address, 'abc')).toBe(await f.escrow().escrowIdOf(clientA.address, chainJobId('abc')));
  expect(dealEscrowId(clientA.address, 'abc')).toBe(await f.storage().escrowIdOf(clientA.address, chainDealId('abc')));
  expect(jobEscrowId(clientA.address, 'abc')).not.toBe(jobEscrowId(clientB.address, 'abc'));
});

it('fundClient pays from the treasury', async () => {
  const { treasury, clientB } = f.wallets;
  const [treasuryBefore, clientBefore] = await balances(treasury, clientB);
  const result = await activities.fundClient({ address: clientB.address, amount: zsc('5').toString() });
  expect(result.txHash).toMatch(/^0x[0-9a-f]{64}$/);
  expect(await balances(treasury, clientB)).toEqual([treasuryBefore - zsc('5'), clientBefore + zsc('5')]);
});

describe('a client with no ETH', () => {
  /** Reads ZSC balances through a plain ABI, not our bindings. */
  const reader = () => new Contract(f.deployment.token, ['function balanceOf(address) view returns (uint256)'], f.provider);
  const zscOf = async (address: string): Promise<bigint> => (await reader().getFunction('balanceOf')(address)) as bigint;

  it('has its job opened by the settler, paying exactly the escrow, and after settlement exactly what it used', async () => {
    const client = freshClient();
    const { settler, host1 } = f.wallets;
    await activities.fundClient({ address: client.address, amount: zsc('10').toString() });
    const start = await zscOf(client.address);
    expect(start).toBe(zsc('10'));
    expect(await f.provider.getBalance(client.address)).toBe(0n);
    const jobId = newJobId();
    const settlerEthBefore = await f.provider.getBalance(settler.address);

    const locked = await lockJob(client, jobId, { pricePerSlot: zsc('2'), slots: 3 });
    expect(locked).toEqual({ txHash: expect.stringMatching(/^0x[0-9a-f]{64}$/), alreadyLocked: false });
    const receipt = await f.provider.getTransactionReceipt(locked.txHash!);
    expect(receipt?.from).toBe(settler.address);
    expect(await f.provider.getBalance(settler.address)).toBe(settlerEthBefore - receipt!.fee);
    expect(await zscOf(client.address)).toBe(start - zsc('6'));
    expect(await f.provider.getBalance(client.address)).toBe(0n);
    expect(await sentBy(client)).toBe(0);

    await bondToJob(jobId, client, host1, zsc('1'));
    const settled = await activities.settleJob({ jobId, client: client.address, payouts: [{ host: host1.address, amount: zsc('2').toString() }] });
    expect(settled).toMatchObject({ alreadySettled: false, paidToHosts: zsc('1.8').toString(), commission: zsc('0.2').toString(), refunded: zsc('4').toString() });
    expect(await zscOf(client.address)).toBe(start - BigInt(settled.paidToHosts) - BigInt(settled.commission));
    expect(await zscOf(client.address)).toBe(zsc('8'));
    expect(await f.provider.getBalance(client.address)).toBe(0n);
  });
});

it('lockEscrow twice with one payment sends once and locks once', async () => {
  const { clientA: client, settler } = f.wallets;
  const jobId = newJobId();
  const payment = await jobPayment(client, jobId, { pricePerSlot: zsc('5'), slots: 2 });
  const [clientBefore, escrowBefore] = await balances(client, f.deployment.jobEscrow);
  const [clientSent, sentBefore] = [await sentBy(client), await sentBy(settler)];

  const first = await activities.lockEscrow({ jobId, payment });
  expect(first).toEqual({ txHash: expect.stringMatching(/^0x[0-9a-f]{64}$/), alreadyLocked: false });
  expect(JSON.parse(JSON.stringify(first))).toEqual(first);
  expect(await sentBy(settler)).toBe(sentBefore + 1);

  expect(await activities.lockEscrow({ jobId, payment })).toEqual({ txHash: null, alreadyLocked: true });
  expect(await sentBy(settler)).toBe(sentBefore + 1);
  expect(await sentBy(client)).toBe(clientSent);
  expect(await balances(client, f.deployment.jobEscrow)).toEqual([clientBefore - zsc('10'), escrowBefore + zsc('10')]);
  expect(await f.escrow().jobOf(jobEscrowId(client.address, jobId))).toEqual([
    client.address,
    zsc('10'),
    zsc('5'),
    BigInt(payment.order.deadline),
    BigInt(EscrowStatus.Open),
  ]);
});

it('settleJob twice sends one settlement and reports it both times', async () => {
  const { clientA: client, treasury, host1, host2 } = f.wallets;
  const jobId = newJobId();
  await lockJob(client, jobId, { pricePerSlot: zsc('50'), slots: 2 });
  for (const host of [host1, host2]) await bondToJob(jobId, client, host, '1');
  const before = await balances(client, treasury, host1, host2);
  const sentBefore = await settlerSent();
  const input = {
    jobId,
    client: client.address.toLowerCase(),
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
  expect(await settlerSent()).toBe(sentBefore + 1);
  const after = [before[0] + zsc('50'), before[1] + zsc('5'), before[2] + zsc('27'), before[3] + zsc('18')];
  expect(await balances(client, treasury, host1, host2)).toEqual(after);

  expect(await activities.settleJob(input)).toEqual({ ...first, alreadySettled: true });
  expect(await settlerSent()).toBe(sentBefore + 1);
  expect(await balances(client, treasury, host1, host2)).toEqual(after);
});

it('settleJob with no payouts refunds the whole escrow', async () => {
  const client = f.wallets.clientA;
  const jobId = newJobId();
  const [clientBefore] = await balances(client);
  await lockJob(client, jobId, { pricePerSlot: zsc('1'), slots: 3 });
  const settled = await activities.settleJob({ jobId, client: client.address, payouts: [] });
  expect(settled).toMatchObject({ alreadySettled: false, paidToHosts: '0', commission: '0', refunded: zsc('3').toString() });
  expect(await balances(client)).toEqual([clientBefore]);
});

it('locks and settles many jobs at once without their transactions colliding', async () => {
  const client = f.wallets.clientA;
  const jobIds = [newJobId(), newJobId(), newJobId(), newJobId()];
  // One permit nonce for all: the first relayed permit sets the allowance, the others' fail harmlessly on chain.
  const payments = await Promise.all(jobIds.map((jobId) => jobPayment(client, jobId, { pricePerSlot: zsc('2'), permit: 'max' })));
  const sentBefore = await settlerSent();

  const locks = await Promise.all(jobIds.map((jobId, i) => activities.lockEscrow({ jobId, payment: payments[i] })));
  expect(locks.every((l) => !l.alreadyLocked && l.txHash)).toBe(true);
  expect(new Set(locks.map((l) => l.txHash)).size).toBe(jobIds.length);
  expect(await settlerSent()).toBe(sentBefore + jobIds.length);
  for (const jobId of jobIds) await bondToJob(jobId, client, f.wallets.host3, '1');
  const settledBefore = await settlerSent();
  const settlements = await Promise.all(
    jobIds.map((jobId) => activities.settleJob({ jobId, client: client.address, payouts: [{ host: f.wallets.host3.address, amount: zsc('1').toString() }] })),
  );
  expect(new Set(settlements.map((s) => s.txHash)).size).toBe(jobIds.length);
  expect(await Promise.all(jobIds.map((jobId) => statusOf(client, jobId)))).toEqual(jobIds.map(() => EscrowStatus.Settled));
  expect(await settlerSent()).toBe(settledBefore + jobIds.length);
});

describe('lockEscrow refuses for good, without sending', () => {
  it('a client that cannot pay: its balance short, or neither allowance nor permit', async () => {
    const client = f.wallets.clientA;
    const [balance] = await balances(client);
    const sentBefore = await settlerSent();
    const failure = await failureOf(lockJob(client, newJobId(), { pricePerSlot: balance + 1n }));
    expect(failure).toMatchObject({ type: ZansocErrorType.InsufficientFunds, nonRetryable: true });
    expect(failure.message).toContain(`holds ${balance}`);
    expect(failure.message).toContain(`needs ${balance + 1n}`);

    const poor = freshClient();
    await activities.fundClient({ address: poor.address, amount: zsc('1').toString() });
    const short = await failureOf(lockJob(poor, newJobId(), { pricePerSlot: zsc('1') + 1n }));
    expect(short).toMatchObject({ type: ZansocErrorType.InsufficientFunds, nonRetryable: true });
    expect(short.message).toContain(`client ${poor.address} holds ${zsc('1')}`);

    const unpermitted = await failureOf(lockJob(poor, newJobId(), { pricePerSlot: zsc('1'), permit: 'none' }));
    expect(unpermitted).toMatchObject({ type: ZansocErrorType.InsufficientFunds, nonRetryable: true });
    expect(unpermitted.message).toContain(`allows the escrow 0 ZSC base units and its permit 0, but job`);
    // The treasury funded the client; the settler sent nothing.
    expect(await settlerSent()).toBe(sentBefore);
    expect(await balances(poor)).toEqual([zsc('1')]);
  });

  it('a permit for less than the order', async () => {
    const poor = freshClient();
    await activities.fundClient({ address: poor.address, amount: zsc('1').toString() });
    const sentBefore = await settlerSent();
    const jobId = newJobId();
    const payment = await jobPayment(poor, jobId, { pricePerSlot: zsc('1') });
    const failure = await failureOf(activities.lockEscrow({ jobId, payment: { ...payment, permit: await f.signPermit(poor, 'job', zsc('0.5')) } }));
    expect(failure).toMatchObject({ type: ZansocErrorType.InsufficientFunds, nonRetryable: true });
    expect(failure.message).toContain(`its permit ${zsc('0.5')}, but job ${jobId} needs ${zsc('1')}`);
    expect(await settlerSent()).toBe(sentBefore);
  });

  it("an order that is not for this job's id on chain", async () => {
    const client = f.wallets.clientA;
    const sentBefore = await settlerSent();
    const jobId = newJobId();
    const payment = await jobPayment(client, `${jobId}-other`, { pricePerSlot: zsc('1') });
    const failure = await failureOf(activities.lockEscrow({ jobId, payment }));
    expect(failure).toMatchObject({ type: ZansocErrorType.InvalidSpec, nonRetryable: true });
    expect(failure.message).toContain(`is not job ${jobId}'s id on chain (${chainJobId(jobId)})`);

    const raw = await failureOf(activities.lockEscrow({ jobId, payment: { ...payment, order: { ...payment.order, jobId } } }));
    expect(raw).toMatchObject({ type: ZansocErrorType.InvalidSpec });
    const noClient = await failureOf(activities.lockEscrow({ jobId, payment: { ...payment, order: { ...payment.order, client: 'client-a' } } }));
    expect(noClient).toMatchObject({ type: ZansocErrorType.InvalidSpec, message: expect.stringContaining('payment.order.client') });
    expect(await settlerSent()).toBe(sentBefore);
    expect(await statusOf(client, jobId)).toBe(EscrowStatus.None);
  });
});

it('fails a reverted send for good, typed by its revert, and still sends the next one', async () => {
  const { clientA: client, clientB } = f.wallets;
  const sentBefore = await settlerSent();
  const late = await failureOf(lockJob(client, newJobId(), { pricePerSlot: 5n, deadline: 1000 }));
  expect(late).toMatchObject({ type: ZansocErrorType.EscrowFailed, nonRetryable: true });
  expect(late.message).toContain('EscrowDeadlineInPast(1000)');

  // An order naming clientA but signed by clientB: the escrow refuses it, and clientA's money stays.
  const jobId = newJobId();
  const payment = await jobPayment(client, jobId, { pricePerSlot: 5n });
  const [clientBefore] = await balances(client);
  const forged = await failureOf(activities.lockEscrow({ jobId, payment: { ...payment, signature: await f.signJobOrder(clientB, payment.order) } }));
  expect(forged).toMatchObject({ type: ZansocErrorType.EscrowFailed, nonRetryable: true });
  expect(forged.message).toContain(`locking escrow of job ${jobId} reverted: EscrowBadSignature(${client.address})`);
  expect(await balances(client)).toEqual([clientBefore]);
  expect(await settlerSent()).toBe(sentBefore);

  // Without a nonce reset after the revert, this send would wait forever behind the nonce that was never used.
  expect(await activities.lockEscrow({ jobId, payment })).toMatchObject({ alreadyLocked: false });
  expect(await statusOf(client, jobId)).toBe(EscrowStatus.Open);
  expect(await settlerSent()).toBe(sentBefore + 1);
}, 20_000);

it('explainRevert fails a revert for good, ZSC shortfalls as InsufficientFunds, and leaves other errors to retry', async () => {
  const { clientB } = f.wallets;
  const [balance] = await balances(clientB);
  const tokenRevert = await f.token(clientB).transfer.staticCall(f.wallets.clientA.address, balance + 1n).catch((err: unknown) => err);
  expect(explainRevert(tokenRevert, 'paying')).toMatchObject({
    type: ZansocErrorType.InsufficientFunds,
    nonRetryable: true,
    message: `paying reverted: ERC20InsufficientBalance(${clientB.address}, ${balance}, ${balance + 1n})`,
  });
  const unknown = id('never opened');
  const escrowRevert = await f.escrow(clientB).reclaim.staticCall(unknown).catch((err: unknown) => err);
  expect(explainRevert(escrowRevert, 'reclaiming')).toMatchObject({
    type: ZansocErrorType.EscrowFailed,
    nonRetryable: true,
    message: `reclaiming reverted: JobEscrowJobNotOpen(${unknown}, 0)`,
  });
  const rpcTrouble = new Error('connect ECONNREFUSED');
  expect(explainRevert(rpcTrouble, 'anything')).toBe(rpcTrouble);
});

it('refuses to lock a job already escrowed on other terms', async () => {
  const client = f.wallets.clientA;
  const jobId = newJobId();
  await lockJob(client, jobId, { pricePerSlot: 7n });
  const sentBefore = await settlerSent();
  const failure = await failureOf(lockJob(client, jobId, { pricePerSlot: 8n }));
  expect(failure).toMatchObject({ type: ZansocErrorType.EscrowFailed, nonRetryable: true });
  expect(failure.message).toContain('already escrowed for 7 at 7 a slot, not 8 at 8');
  expect(await settlerSent()).toBe(sentBefore);
});

it("keeps each client's jobs on its own money, even under the same job id", async () => {
  const { clientA, clientB, host1 } = f.wallets;
  await activities.fundClient({ address: clientB.address, amount: zsc('20').toString() });
  const jobId = newJobId();
  await lockJob(clientA, jobId, { pricePerSlot: zsc('4') });
  const [aBefore, bBefore] = await balances(clientA, clientB);

  expect(await lockJob(clientB, jobId, { pricePerSlot: zsc('6') })).toMatchObject({ alreadyLocked: false });
  expect(await balances(clientA, clientB)).toEqual([aBefore, bBefore - zsc('6')]);
  await bondToJob(jobId, clientB, host1, '1');
  // host1's consent to clientB's job is no consent to clientA's.
  const consentB = await consentOf(host1).consentToBond({ escrow: 'job', client: clientB.address, id: jobId, amount: '1' });
  const sentBefore = await settlerSent();
  const misused = await failureOf(activities.bondHostStake({ jobId, client: clientA.address, host: host1.address, amount: '1', consent: consentB }));
  expect(misused).toMatchObject({ type: ZansocErrorType.EscrowFailed, message: expect.stringContaining(`EscrowBadSignature(${host1.address})`) });
  expect(await settlerSent()).toBe(sentBefore);

  const settled = await activities.settleJob({ jobId, client: clientB.address, payouts: [{ host: host1.address, amount: zsc('6').toString() }] });
  expect(settled).toMatchObject({ paidToHosts: zsc('5.4').toString(), commission: zsc('0.6').toString(), refunded: '0' });
  expect(await balances(clientA, clientB)).toEqual([aBefore, bBefore - zsc('6')]);
  expect(await f.escrow().jobOf(jobEscrowId(clientA.address, jobId))).toEqual([
    clientA.address,
    zsc('4'),
    zsc('4'),
    expect.any(BigInt),
    BigInt(EscrowStatus.Open),
  ]);
  expect(await activities.settleJob({ jobId, client: clientA.address, payouts: [] })).toMatchObject({ alreadySettled: false, refunded: zsc('4').toString() });
  expect(await balances(clientA, clientB)).toEqual([aBefore + zsc('4'), bBefore - zsc('6')]);
});

it('refuses for good, without sending, settlements that cannot happen', async () => {
  const { clientA: client, clientB, host1, host2 } = f.wallets;

  const overpaid = newJobId();
  await lockJob(client, overpaid, { pricePerSlot: 5n, slots: 2 });
  await bondToJob(overpaid, client, host1, '1');
  const sentBefore = await settlerSent();
  const overpayment = await failureOf(activities.settleJob({ jobId: overpaid, client: client.address, payouts: [{ host: host1.address, amount: '11' }] }));
  expect(overpayment).toMatchObject({ type: ZansocErrorType.EscrowFailed, nonRetryable: true });
  expect(overpayment.message).toContain('add up to 11, more than the 10 escrowed');

  // Within the escrow, but above what the client signed one host may earn.
  const abovePrice = await failureOf(activities.settleJob({ jobId: overpaid, client: client.address, payouts: [{ host: host1.address, amount: '6' }] }));
  expect(abovePrice).toMatchObject({ type: ZansocErrorType.EscrowFailed, nonRetryable: true });
  expect(abovePrice.message).toContain(`settling job ${overpaid} reverted: JobEscrowPayAboveSignedPrice(${jobEscrowId(client.address, overpaid)}, ${host1.address}, 6, 5)`);
  const unbonded = await failureOf(activities.settleJob({ jobId: overpaid, client: client.address, payouts: [{ host: host2.address, amount: '1' }] }));
  expect(unbonded).toMatchObject({ type: ZansocErrorType.EscrowFailed, message: expect.stringContaining(`EscrowPayeeNotBonded`) });

  const unknown = await failureOf(activities.settleJob({ jobId: 'never-locked', client: client.address, payouts: [] }));
  expect(unknown).toMatchObject({ type: ZansocErrorType.EscrowFailed, nonRetryable: true });
  expect(unknown.message).toContain('its escrow is None');
  // The same job id under another client names another escrow, which was never locked.
  expect(await failureOf(activities.settleJob({ jobId: overpaid, client: clientB.address, payouts: [] }))).toMatchObject({
    type: ZansocErrorType.EscrowFailed,
    message: expect.stringContaining('its escrow is None'),
  });

  const malformed = await failureOf(activities.settleJob({ jobId: overpaid, client: client.address, payouts: [{ host: host1.address, amount: '1.5' }] }));
  expect(malformed).toMatchObject({ type: ZansocErrorType.InvalidSpec, nonRetryable: true });
  expect(malformed.message).toContain('payouts[0].amount');
  expect(await failureOf(activities.settleJob({ jobId: overpaid, client: 'client-a', payouts: [] }))).toMatchObject({
    type: ZansocErrorType.InvalidSpec,
    message: expect.stringContaining('settlement.client'),
  });

  expect(await settlerSent()).toBe(sentBefore);
  expect(await activities.settleJob({ jobId: overpaid, client: client.address, payouts: [{ host: host1.address, amount: '5' }] })).toMatchObject({
    alreadySettled: false,
  });
});

describe('bonds and slashes', () => {
  const lockedOf = async (host: Wallet) => (await f.registry().hostOf(host.address))[2];

  it('bondHostStake twice for one host and job sends once and bonds once', async () => {
    const { clientA: client, host1 } = f.wallets;
    const jobId = newJobId();
    await lockJob(client, jobId, { pricePerSlot: 100n });
    const lockedBefore = await lockedOf(host1);
    const sentBefore = await settlerSent();
    const consent = await consentOf(host1).consentToBond({ escrow: 'job', client: client.address, id: jobId, amount: zsc('20').toString() });
    const input = { jobId, client: client.address, host: host1.address.toLowerCase(), amount: zsc('20').toString(), consent };

    expect(await activities.bondHostStake(input)).toEqual({ txHash: expect.stringMatching(/^0x[0-9a-f]{64}$/), alreadyBonded: false });
    expect(await activities.bondHostStake(input)).toEqual({ txHash: null, alreadyBonded: true });
    expect(await settlerSent()).toBe(sentBefore + 1);
    expect(await lockedOf(host1)).toBe(lockedBefore + zsc('20'));

    // Two attempts of the same step racing each other still bond once.
    const racingJob = newJobId();
    await lockJob(client, racingJob, { pricePerSlot: 100n });
    const racingConsent = await consentOf(host1).consentToBond({ escrow: 'job', client: client.address, id: racingJob, amount: zsc('20').toString() });
    const afterLock = await settlerSent();
    const racing = await Promise.all([1, 2].map(() => activities.bondHostStake({ ...input, jobId: racingJob, consent: racingConsent })));
    expect(racing.map((r) => r.alreadyBonded).sort()).toEqual([false, true]);
    expect(await settlerSent()).toBe(afterLock + 1);
    await activities.settleJob({ jobId: racingJob, client: client.address, payouts: [] });

    const otherConsent = await consentOf(host1).consentToBond({ escrow: 'job', client: client.address, id: jobId, amount: zsc('21').toString() });
    const otherTerms = await failureOf(activities.bondHostStake({ ...input, amount: zsc('21').toString(), consent: otherConsent }));
    expect(otherTerms).toMatchObject({ type: ZansocErrorType.EscrowFailed, nonRetryable: true });
    expect(otherTerms.message).toContain(`already bonded for ${zsc('20')}`);
    await activities.settleJob({ jobId, client: client.address, payouts: [] });
    expect(await lockedOf(host1)).toBe(lockedBefore);
  });

  it('refuses for good, without sending, bonds that cannot happen', async () => {
    const { clientA: client, host2, clientB } = f.wallets;
    const jobId = newJobId();
    await lockJob(client, jobId, { pricePerSlot: 100n });
    const otherJob = newJobId();
    await lockJob(client, otherJob, { pricePerSlot: 100n });
    const sentBefore = await settlerSent();
    const free = await f.registry().freeStakeOf(host2.address);
    const ask = (amount: bigint | string, opts: { escrow?: 'job' | 'storage'; id?: string } = {}) =>
      consentOf(host2).consentToBond({ escrow: opts.escrow ?? 'job', client: client.address, id: opts.id ?? jobId, amount: String(amount) });
    const bond = async (amount: bigint | string, consent: Awaited<ReturnType<typeof ask>> | null, host = host2.address) =>
      activities.bondHostStake({ jobId, client: client.address, host, amount: String(amount), consent });

    const tooMuch = await failureOf(bond(free + 1n, await ask(free + 1n)));
    expect(tooMuch).toMatchObject({ type: ZansocErrorType.EscrowFailed, nonRetryable: true });
    expect(tooMuch.message).toContain(`${free} ZSC base units of free stake, ${free + 1n} needed`);
    const notHost = await consentOf(clientB).consentToBond({ escrow: 'job', client: client.address, id: jobId, amount: '1' });
    expect(await failureOf(bond('1', notHost, clientB.address))).toMatchObject({ type: ZansocErrorType.EscrowFailed });
    expect(
      await failureOf(activities.bondHostStake({ jobId: 'never-locked', client: client.address, host: host2.address, amount: '1', consent: await ask('1', { id: 'never-locked' }) })),
    ).toMatchObject({ type: ZansocErrorType.EscrowFailed, message: expect.stringContaining('not open') });
    expect(await failureOf(bond('1', await ask('1'), 'host-2'))).toMatchObject({ type: ZansocErrorType.InvalidSpec });

    const unconsented = await failureOf(bond('1', null));
    expect(unconsented).toMatchObject({ type: ZansocErrorType.EscrowFailed, nonRetryable: true });
    expect(unconsented.message).toContain('the host has not consented');
    const expired = await failureOf(bond('1', { ...(await ask('1')), deadline: 1 }));
    expect(expired).toMatchObject({ type: ZansocErrorType.EscrowFailed, message: expect.stringContaining('consent expired at 1') });

    // Consents the contract refuses: for another amount, another job, the other escrow, or signed by someone else.
    for (const consent of [await ask('2'), await ask('1', { id: otherJob }), await ask('1', { escrow: 'storage' })]) {
      const refused = await failureOf(bond('1', consent));
      expect(refused).toMatchObject({ type: ZansocErrorType.EscrowFailed, nonRetryable: true });
      expect(refused.message).toBe(`bonding host ${host2.address} to job ${jobId} reverted: EscrowBadSignature(${host2.address})`);
    }
    const byOther = await consentOf(clientB).consentToBond({ escrow: 'job', client: client.address, id: jobId, amount: '1' });
    expect(await failureOf(bond('1', byOther))).toMatchObject({ message: expect.stringContaining(`EscrowBadSignature(${host2.address})`) });

    expect(await settlerSent()).toBe(sentBefore);
    expect(await f.escrow().bondOf(jobEscrowId(client.address, jobId), host2.address)).toBe(0n);
  });

  it("consentToBond refuses more than the host's MAX_BOND, so nothing is bonded", async () => {
    const { clientA: client, host2 } = f.wallets;
    const jobId = newJobId();
    await lockJob(client, jobId, { pricePerSlot: 100n });
    const capped = consentOf(host2, zsc('10'));
    const failure = await failureOf(capped.consentToBond({ escrow: 'job', client: client.address, id: jobId, amount: String(zsc('10') + 1n) }));
    expect(failure).toMatchObject({ type: ZansocErrorType.EscrowFailed, nonRetryable: true });
    expect(failure.message).toContain(`bonds at most ${zsc('10')} ZSC base units to one job (MAX_BOND)`);
    const atCap = await capped.consentToBond({ escrow: 'job', client: client.address, id: jobId, amount: zsc('10').toString() });
    expect(await activities.bondHostStake({ jobId, client: client.address, host: host2.address, amount: zsc('10').toString(), consent: atCap })).toMatchObject({
      alreadyBonded: false,
    });
    await activities.settleJob({ jobId, client: client.address, payouts: [] });
  });

  it('settleJob slashes bonds to their recipients once, however often it is called', async () => {
    const { clientA: client, host1, host2, challenger, treasury } = f.wallets;
    const jobId = newJobId();
    await lockJob(client, jobId, { pricePerSlot: zsc('10') });
    await bondToJob(jobId, client, host1, zsc('30'));
    await bondToJob(jobId, client, host2, zsc('30'));
    await bondToJob(jobId, client, challenger, '1');
    const [challengerBefore, treasuryBefore, host1Before] = await balances(challenger, treasury, host1);
    const [locked1, locked2] = [await lockedOf(host1), await lockedOf(host2)];
    const sentBefore = await settlerSent();
    const input = {
      jobId,
      client: client.address,
      payouts: [{ host: host1.address, amount: zsc('10').toString() }],
      slashes: [
        { host: host2.address, recipient: challenger.address, amount: zsc('20').toString() },
        { host: host2.address, recipient: host1.address, amount: zsc('10').toString() },
      ],
    };

    const first = await activities.settleJob(input);
    expect(first).toMatchObject({ alreadySettled: false, paidToHosts: zsc('9').toString(), commission: zsc('1').toString(), refunded: '0' });
    expect(await activities.settleJob(input)).toEqual({ ...first, alreadySettled: true });
    expect(await settlerSent()).toBe(sentBefore + 1);
    expect(await balances(challenger, treasury, host1)).toEqual([challengerBefore + zsc('20'), treasuryBefore + zsc('1'), host1Before + zsc('19')]);
    expect([await lockedOf(host1), await lockedOf(host2)]).toEqual([locked1 - zsc('30'), locked2 - zsc('30')]);
  });

  it('refuses for good, without sending, slashes beyond a bond', async () => {
    const { clientA: client, host1, challenger } = f.wallets;
    const jobId = newJobId();
    await lockJob(client, jobId, { pricePerSlot: 10n });
    await bondToJob(jobId, client, host1, '5');
    const sentBefore = await settlerSent();
    const slash = (amount: string) => ({ host: host1.address, recipient: challenger.address, amount });
    const settle = (slashes: ReturnType<typeof slash>[]) => activities.settleJob({ jobId, client: client.address, payouts: [], slashes });

    const beyond = await failureOf(settle([slash('3'), slash('3')]));
    expect(beyond).toMatchObject({ type: ZansocErrorType.EscrowFailed, nonRetryable: true });
    expect(beyond.message).toContain('add up to 6, more than its bond of 5');
    expect(await failureOf(settle([slash('0')]))).toMatchObject({ type: ZansocErrorType.InvalidSpec });
    expect(await failureOf(settle([{ ...slash('1'), recipient: 'nobody' }]))).toMatchObject({
      type: ZansocErrorType.InvalidSpec,
      message: expect.stringContaining('settlement.slashes[0].recipient'),
    });
    expect(await settlerSent()).toBe(sentBefore);
  });
});

describe('settleJobBatch', () => {
  it('settles the open jobs in one transaction and reports the ones settled before', async () => {
    const { clientA: client, host3 } = f.wallets;
    const jobIds = [newJobId(), newJobId(), newJobId()];
    for (const jobId of jobIds) await lockJob(client, jobId, { pricePerSlot: 500n, slots: 2 });
    for (const jobId of jobIds) await bondToJob(jobId, client, host3, '1');
    const before = await activities.settleJob({ jobId: jobIds[0], client: client.address, payouts: [{ host: host3.address, amount: '100' }] });
    const sentBefore = await settlerSent();
    const input = {
      settlements: jobIds.map((jobId, i) => ({ jobId, client: client.address, payouts: [{ host: host3.address, amount: String(100 * (i + 1)) }] })),
    };

    const first = await activities.settleJobBatch(input);
    expect(first.txHash).toMatch(/^0x[0-9a-f]{64}$/);
    expect(first.settlements).toEqual([
      { jobId: jobIds[0], ...before, alreadySettled: true },
      { jobId: jobIds[1], txHash: first.txHash, alreadySettled: false, paidToHosts: '180', commission: '20', refunded: '800' },
      { jobId: jobIds[2], txHash: first.txHash, alreadySettled: false, paidToHosts: '270', commission: '30', refunded: '700' },
    ]);
    expect(await settlerSent()).toBe(sentBefore + 1);

    const again = await activities.settleJobBatch(input);
    expect(again).toEqual({ txHash: null, settlements: first.settlements.map((s) => ({ ...s, alreadySettled: true })) });
    expect(await settlerSent()).toBe(sentBefore + 1);
    expect(await failureOf(activities.settleJobBatch({ settlements: [input.settlements[1], input.settlements[1]] }))).toMatchObject({
      type: ZansocErrorType.InvalidSpec,
    });
  });

  it('settles nothing of a batch one of whose jobs cannot be settled', async () => {
    const { clientA: client, host3 } = f.wallets;
    const [good, overpaid] = [newJobId(), newJobId()];
    for (const jobId of [good, overpaid]) await lockJob(client, jobId, { pricePerSlot: 10n });
    for (const jobId of [good, overpaid]) await bondToJob(jobId, client, host3, '1');
    const sentBefore = await settlerSent();
    const failure = await failureOf(
      activities.settleJobBatch({
        settlements: [
          { jobId: good, client: client.address, payouts: [{ host: host3.address, amount: '10' }] },
          { jobId: overpaid, client: client.address, payouts: [{ host: host3.address, amount: '11' }] },
        ],
      }),
    );
    expect(failure).toMatchObject({ type: ZansocErrorType.EscrowFailed, message: expect.stringContaining(`payouts of job ${overpaid} add up to 11`) });
    expect(await settlerSent()).toBe(sentBefore);
    expect(await Promise.all([good, overpaid].map((jobId) => statusOf(client, jobId)))).toEqual([EscrowStatus.Open, EscrowStatus.Open]);
  });
});

describe('storage deals', () => {
  const dealOf = async (client: Wallet, termKey: string) => f.storage().dealOf(dealEscrowId(client.address, termKey));
  let dealCounter = 0;
  const newDealId = () => `activity-test-deal-${++dealCounter}`;
  /** Asks `host` to consent to bonding `amount` to `client`'s deal term, then bonds it as a workflow does. */
  async function bondToDeal(dealId: string, client: Wallet, host: Wallet, amount: string) {
    const consent = await consentOf(host).consentToBond({ escrow: 'storage', client: client.address, id: dealId, amount });
    return activities.bondStorageHost({ dealId, client: client.address, host: host.address, amount, consent });
  }

  it('runs a deal end to end, each step sending once however often it is called', async () => {
    const { clientA: client, host1, host2, host3, treasury } = f.wallets;
    const dealId = newDealId();
    const payment = await dealPayment(client, dealId, { ratePerHostPeriod: 1000n, replicas: 2, periods: 3 });
    const [clientBefore] = await balances(client);
    const [clientSent, sentBefore] = [await sentBy(client), await settlerSent()];

    expect(await activities.depositStorageDeal({ dealId, payment })).toMatchObject({ alreadyDeposited: false });
    expect(await activities.depositStorageDeal({ dealId, payment })).toEqual({ txHash: null, alreadyDeposited: true });
    expect(await sentBy(client)).toBe(clientSent);
    expect(await settlerSent()).toBe(sentBefore + 1);
    const otherTerms = await failureOf(activities.depositStorageDeal({ dealId, payment: await dealPayment(client, dealId, { ratePerHostPeriod: 1000n, replicas: 2, periods: 4 }) }));
    expect(otherTerms).toMatchObject({ type: ZansocErrorType.EscrowFailed, message: expect.stringContaining('already deposited for 2 × 3 × 1000, not 2 × 4 × 1000') });
    expect((await dealOf(client, dealId))[1]).toBe(6000n);
    const ref = { dealId, client: client.address };

    const settlerSentAfterDeposit = await settlerSent();
    for (const host of [host1, host2]) {
      expect(await bondToDeal(dealId, client, host, '500')).toMatchObject({ alreadyBonded: false });
      expect(await bondToDeal(dealId, client, host, '500')).toEqual({ txHash: null, alreadyBonded: true });
    }

    const period0 = { ...ref, period: 0, hosts: [host2.address, host1.address] };
    const released = await activities.releaseStoragePeriod(period0);
    expect(released).toEqual({ txHash: expect.stringMatching(/^0x/), alreadyReleased: false, paidToHosts: '1800', commission: '200' });
    expect(await activities.releaseStoragePeriod(period0)).toEqual({ ...released, alreadyReleased: true });
    expect(await failureOf(activities.releaseStoragePeriod({ ...ref, period: 2, hosts: [] }))).toMatchObject({ type: ZansocErrorType.EscrowFailed });
    expect(await failureOf(activities.releaseStoragePeriod({ ...ref, period: 1, hosts: [host1.address, host1.address] }))).toMatchObject({
      type: ZansocErrorType.InvalidSpec,
    });

    const fault = { ...ref, faultKey: 'period-1/host-2', host: host2.address, amount: '200', recipient: treasury.address };
    expect(await activities.slashStorageHost(fault)).toMatchObject({ alreadySlashed: false });
    expect(await activities.slashStorageHost(fault)).toEqual({ txHash: null, alreadySlashed: true });
    expect(await f.storage().bondOf(dealEscrowId(client.address, dealId), host2.address)).toBe(300n);
    expect(await failureOf(activities.slashStorageHost({ ...fault, faultKey: 'period-1/again', amount: '301' }))).toMatchObject({
      type: ZansocErrorType.EscrowFailed,
    });

    // host2's chunks were repaired onto host3.
    expect(await activities.releaseStorageBond({ ...ref, host: host2.address })).toMatchObject({ released: '300' });
    expect(await activities.releaseStorageBond({ ...ref, host: host2.address })).toEqual({ txHash: null, released: '0' });
    await bondToDeal(dealId, client, host3, '500');
    await activities.releaseStoragePeriod({ ...ref, period: 1, hosts: [host1.address, host3.address] });

    const ended = await activities.endStorageDeal(ref);
    expect(ended).toEqual({ txHash: expect.stringMatching(/^0x/), alreadyEnded: false, refunded: '2000' });
    expect(await activities.endStorageDeal(ref)).toEqual({ ...ended, alreadyEnded: true });
    // Sends: 2 bonds, period 0, slash, release bond, bond host3, period 1, end.
    expect(await settlerSent()).toBe(settlerSentAfterDeposit + 8);
    expect(Number((await dealOf(client, dealId))[7])).toBe(DealStatus.Ended);
    expect(await balances(client)).toEqual([clientBefore - 4000n]);
    expect(await sentBy(client)).toBe(clientSent);
    expect(await failureOf(activities.releaseStoragePeriod({ ...ref, period: 2, hosts: [] }))).toMatchObject({ type: ZansocErrorType.EscrowFailed });
    expect(await activities.releaseStoragePeriod({ ...ref, period: 1, hosts: [] })).toMatchObject({ alreadyReleased: true, paidToHosts: '1800' });
  });

  it("relays a no-ETH client's deal order and gives a renewal term its own escrow", async () => {
    const client = freshClient();
    const { settler, host1 } = f.wallets;
    await activities.fundClient({ address: client.address, amount: '10000' });
    const dealId = newDealId();
    const renewal = `${dealId}/term-2`;
    const terms = { ratePerHostPeriod: 1000n, replicas: 1, periods: 2 };
    const settlerEthBefore = await f.provider.getBalance(settler.address);

    const deposited = await activities.depositStorageDeal({ dealId, payment: await dealPayment(client, dealId, terms) });
    const receipt = await f.provider.getTransactionReceipt(deposited.txHash!);
    expect(receipt?.from).toBe(settler.address);
    expect(await f.provider.getBalance(settler.address)).toBe(settlerEthBefore - receipt!.fee);
    expect(await f.provider.getBalance(client.address)).toBe(0n);
    expect(await balances(client)).toEqual([8000n]);

    // The renewal's order, signed before the first term ends, names the term key; it deposits into a second escrow.
    expect(await activities.depositStorageDeal({ dealId: renewal, payment: await dealPayment(client, renewal, terms) })).toMatchObject({ alreadyDeposited: false });
    expect(dealEscrowId(client.address, renewal)).toBe(escrowIdOf(client.address, chainDealId(renewal)));
    expect(dealEscrowId(client.address, renewal)).not.toBe(dealEscrowId(client.address, dealId));
    expect(await balances(client)).toEqual([6000n]);
    for (const key of [dealId, renewal]) {
      const [owner, remaining, , , , , , status] = await dealOf(client, key);
      expect([owner, remaining, Number(status)]).toEqual([client.address, 2000n, DealStatus.Active]);
    }

    // A host consents to each term's bond on its own: the first term's consent does not bond it to the renewal.
    await bondToDeal(dealId, client, host1, '100');
    const firstTermConsent = await consentOf(host1).consentToBond({ escrow: 'storage', client: client.address, id: dealId, amount: '100' });
    const misused = await failureOf(activities.bondStorageHost({ dealId: renewal, client: client.address, host: host1.address, amount: '100', consent: firstTermConsent }));
    expect(misused).toMatchObject({ type: ZansocErrorType.EscrowFailed, message: expect.stringContaining(`EscrowBadSignature(${host1.address})`) });
    expect(await bondToDeal(renewal, client, host1, '100')).toMatchObject({ alreadyBonded: false });

    await activities.releaseStoragePeriod({ dealId: renewal, client: client.address, period: 0, hosts: [host1.address] });
    expect((await dealOf(client, dealId))[1]).toBe(2000n);
    expect((await dealOf(client, renewal))[1]).toBe(1000n);
    expect(await activities.endStorageDeal({ dealId, client: client.address })).toMatchObject({ refunded: '2000' });
    expect(Number((await dealOf(client, renewal))[7])).toBe(DealStatus.Active);
    expect(await activities.endStorageDeal({ dealId: renewal, client: client.address })).toMatchObject({ refunded: '1000' });
    expect(await balances(client)).toEqual([9000n]);
    expect(await f.provider.getBalance(client.address)).toBe(0n);
  });

  it('refuses for good, without sending, a deposit the client cannot pay for or that is not for this term', async () => {
    const client = f.wallets.clientA;
    const [balance] = await balances(client);
    const sentBefore = await settlerSent();
    const failure = await failureOf(
      (async () => {
        const dealId = newDealId();
        return activities.depositStorageDeal({ dealId, payment: await dealPayment(client, dealId, { ratePerHostPeriod: balance, replicas: 1, periods: 2 }) });
      })(),
    );
    expect(failure).toMatchObject({ type: ZansocErrorType.InsufficientFunds, nonRetryable: true });
    expect(failure.message).toContain(`holds ${balance}`);

    const poor = freshClient();
    await activities.fundClient({ address: poor.address, amount: '10' });
    const unpermittedId = newDealId();
    const unpermitted = await failureOf(
      activities.depositStorageDeal({ dealId: unpermittedId, payment: await dealPayment(poor, unpermittedId, { ratePerHostPeriod: 5n, replicas: 1, periods: 2, permit: 'none' }) }),
    );
    expect(unpermitted).toMatchObject({ type: ZansocErrorType.InsufficientFunds, message: expect.stringContaining('allows the escrow 0 ZSC base units and its permit 0') });

    const noReplicasId = newDealId();
    const noReplicas = await failureOf(
      activities.depositStorageDeal({ dealId: noReplicasId, payment: await dealPayment(client, noReplicasId, { ratePerHostPeriod: 1n, replicas: 0, periods: 1 }) }),
    );
    expect(noReplicas).toMatchObject({ type: ZansocErrorType.InvalidSpec });
    const dealId = newDealId();
    const elsewhere = await failureOf(
      activities.depositStorageDeal({ dealId: `${dealId}/term-2`, payment: await dealPayment(client, dealId, { ratePerHostPeriod: 1n, replicas: 1, periods: 1 }) }),
    );
    expect(elsewhere).toMatchObject({ type: ZansocErrorType.InvalidSpec, message: expect.stringContaining(`is not deal ${dealId}/term-2's id on chain`) });
    expect(await settlerSent()).toBe(sentBefore);
  });
});

// Last: the chain clock jumps past every deadline here, and the hosts' consents are good for an hour of wall time.
describe('after a reclaim', () => {
  it('settles nothing, without sending, for a job its client reclaimed: it reports the whole escrow refunded', async () => {
    const { clientB, host3 } = f.wallets;
    const jobId = newJobId();
    const [clientBefore] = await balances(clientB);
    await lockJob(clientB, jobId, { pricePerSlot: 4n, deadline: (await f.latestTimestamp()) + 60 });
    await bondToJob(jobId, clientB, host3, '1');
    await f.increaseTime(60 + RECLAIM_GRACE_SECONDS);
    await (await f.escrow(clientB).reclaim(jobEscrowId(clientB.address, jobId))).wait();
    expect(await balances(clientB)).toEqual([clientBefore]);

    const sentBefore = await settlerSent();
    // The workflow then ends the job paying nobody, instead of failing on an escrow that is gone.
    expect(await activities.settleJob({ jobId, client: clientB.address, payouts: [{ host: host3.address, amount: '4' }] })).toEqual({
      txHash: null, alreadySettled: true, reclaimed: true, paidToHosts: '0', commission: '0', refunded: '4',
    });
    expect(await balances(clientB)).toEqual([clientBefore]);
    expect(await failureOf(bondToJob(jobId, clientB, f.wallets.host1, '1'))).toMatchObject({ type: ZansocErrorType.EscrowFailed, message: expect.stringContaining('not open') });
    expect(await settlerSent()).toBe(sentBefore);
  });
});
