import { ApplicationFailure } from '@temporalio/common';
import { id, type Wallet } from 'ethers';
import { createChainActivities } from '../../activities/chain';
import { connectChain, type ChainClient } from '../../activities/chain-client';
import { chainJobId } from '../../activities/chain-ids';
import { EscrowStatus } from '../../contracts/bindings';
import { ZansocErrorType } from '../../domain/errors';
import { RECLAIM_GRACE_SECONDS, startChainFixture, zsc, type ChainFixture } from './fixture';

let f: ChainFixture;
let chain: ChainClient;
let activities: ReturnType<typeof createChainActivities>;
let jobCounter = 0;
const newJobId = () => `activity-test-job-${++jobCounter}`;

beforeAll(async () => {
  f = await startChainFixture();
  // clientB and the hosts stay free for direct sends: the activities' keys must not be used behind their nonce managers.
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

it('derives the on-chain id of a job from its id', () => {
  expect(chainJobId('abc')).toBe(id('job:abc'));
  expect(chainJobId('abc')).not.toBe(chainJobId('abd'));
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
  const sentBefore = await sentBy(f.wallets.settler);

  const locks = await Promise.all(jobIds.map((jobId) => activities.lockEscrow({ jobId, amount: zsc('2').toString(), deadlineSeconds })));
  expect(locks.every((l) => !l.alreadyLocked && l.txHash)).toBe(true);
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
  expect(failure.message).toContain('JobEscrowDeadlineInPast(1000)');

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
