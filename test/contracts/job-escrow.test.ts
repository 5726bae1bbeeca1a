import { Fragment, Interface, Signature, ZeroAddress, id, type Wallet } from 'ethers';
import { JOB_ESCROW_ABI, ZANSOC_TOKEN_ABI, EscrowStatus } from '../../contracts/bindings';
import { RECLAIM_GRACE_SECONDS, expectRevert, startChainFixture, zsc, type ChainFixture } from './fixture';

const TOTAL_SUPPLY = zsc('1000000000');

let f: ChainFixture;
let jobCounter = 0;
/** Every test opens its own jobs, so tests share one chain without sharing state. */
const newJobId = () => id(`escrow-test-job-${++jobCounter}`);

beforeAll(async () => {
  f = await startChainFixture();
  const treasuryToken = f.token(f.wallets.treasury);
  for (const client of [f.wallets.clientA, f.wallets.clientB]) {
    await (await treasuryToken.transfer(client.address, zsc('10000'))).wait();
  }
});

afterAll(async () => {
  await f?.stop();
});

async function balances(...wallets: (Wallet | string)[]): Promise<bigint[]> {
  return Promise.all(wallets.map((w) => f.token().balanceOf(typeof w === 'string' ? w : w.address)));
}

async function openJob(client: Wallet, amount: bigint, opts: { jobId?: string; deadline?: number } = {}) {
  const jobId = opts.jobId ?? newJobId();
  const deadline = opts.deadline ?? (await f.latestTimestamp()) + 600;
  await (await f.token(client).approve(f.deployment.jobEscrow, amount)).wait();
  const receipt = await (await f.escrow(client).openJob(jobId, amount, deadline)).wait();
  return { jobId, deadline, receipt };
}

function eventArgs(receipt: { logs: readonly { topics: readonly string[]; data: string }[] } | null, name: string): unknown[] {
  const events = (receipt?.logs ?? []).map((log) => f.escrow().interface.parseLog(log)).filter((e) => e?.name === name);
  expect(events).toHaveLength(1);
  return events[0]!.args.toArray();
}

describe('bindings', () => {
  it.each([
    ['ZansocToken', ZANSOC_TOKEN_ABI],
    ['JobEscrow', JOB_ESCROW_ABI],
  ] as const)('the written-out ABI of %s equals the compiled one', (name, abi) => {
    const signatures = (fragments: readonly Fragment[]) =>
      fragments.filter((fr) => fr.type !== 'constructor').map((fr) => fr.format('full')).sort();
    expect(signatures(Interface.from(abi).fragments)).toEqual(signatures(Interface.from(f.artifacts[name].abi).fragments));
  });
});

describe('ZansocToken', () => {
  it('is ZSC with 18 decimals and a fixed supply minted to the treasury at deployment', async () => {
    const token = f.token();
    expect([await token.name(), await token.symbol(), await token.decimals()]).toEqual(['Zansoc', 'ZSC', 18n]);
    expect(await token.totalSupply()).toBe(TOTAL_SUPPLY);
    const mints = await token.queryFilter(token.filters.Transfer(ZeroAddress), 0);
    expect(mints.map((log) => token.interface.parseLog(log)?.args.toArray())).toEqual([
      [ZeroAddress, f.deployment.treasury, TOTAL_SUPPLY],
    ]);
    expect(f.artifacts.ZansocToken.abi.filter((fr) => fr.name?.toLowerCase().includes('mint'))).toEqual([]);
  });

  it('lets a client approve the escrow with a permit signature instead of a transaction', async () => {
    const client = f.wallets.clientB;
    const token = f.token(client);
    const amount = zsc('5');
    const deadline = (await f.latestTimestamp()) + 600;
    const { chainId } = await f.provider.getNetwork();
    const signature = Signature.from(
      await client.signTypedData(
        { name: 'Zansoc', version: '1', chainId, verifyingContract: f.deployment.token },
        {
          Permit: [
            { name: 'owner', type: 'address' },
            { name: 'spender', type: 'address' },
            { name: 'value', type: 'uint256' },
            { name: 'nonce', type: 'uint256' },
            { name: 'deadline', type: 'uint256' },
          ],
        },
        { owner: client.address, spender: f.deployment.jobEscrow, value: amount, nonce: await token.nonces(client.address), deadline },
      ),
    );
    await (await f.token(f.wallets.deployer).permit(client.address, f.deployment.jobEscrow, amount, deadline, signature.v, signature.r, signature.s)).wait();
    expect(await token.allowance(client.address, f.deployment.jobEscrow)).toBe(amount);

    await (await f.escrow(client).openJob(newJobId(), amount, deadline)).wait();
    expect(await token.allowance(client.address, f.deployment.jobEscrow)).toBe(0n);
  });
});

describe('JobEscrow', () => {
  it('grants the roles and settings given at deployment', async () => {
    const escrow = f.escrow();
    const { deployer, governor, settler, treasury } = f.wallets;
    expect(await escrow.hasRole(await escrow.DEFAULT_ADMIN_ROLE(), deployer.address)).toBe(true);
    expect(await escrow.hasRole(await escrow.GOVERNOR_ROLE(), governor.address)).toBe(true);
    expect(await escrow.hasRole(await escrow.SETTLER_ROLE(), settler.address)).toBe(true);
    expect(await escrow.hasRole(await escrow.SETTLER_ROLE(), deployer.address)).toBe(false);
    expect(await escrow.commissionBps()).toBe(1000n);
    expect(await escrow.MAX_COMMISSION_BPS()).toBe(2000n);
    expect(await escrow.treasury()).toBe(treasury.address);
    expect(await escrow.token()).toBe(f.deployment.token);
    expect(await escrow.reclaimGracePeriod()).toBe(BigInt(RECLAIM_GRACE_SECONDS));
  });

  it('locks the escrow, then pays hosts 90% of their gross, the treasury 10% and refunds the rest', async () => {
    const { clientA: client, settler, treasury, host1, host2 } = f.wallets;
    const [clientBefore, treasuryBefore, host1Before, host2Before, escrowBefore] = await balances(client, treasury, host1, host2, f.deployment.jobEscrow);

    const { jobId, deadline, receipt: opened } = await openJob(client, zsc('100'));
    expect(eventArgs(opened, 'JobOpened')).toEqual([jobId, client.address, zsc('100'), BigInt(deadline)]);
    expect(await f.escrow().jobOf(jobId)).toEqual([client.address, zsc('100'), BigInt(deadline), BigInt(EscrowStatus.Open)]);
    expect(await balances(client, f.deployment.jobEscrow)).toEqual([clientBefore - zsc('100'), escrowBefore + zsc('100')]);

    const settled = await (await f.escrow(settler).settle(jobId, [host1.address, host2.address], [zsc('30'), zsc('20')])).wait();
    expect(eventArgs(settled, 'JobSettled')).toEqual([jobId, zsc('45'), zsc('5'), zsc('50')]);
    expect(await balances(client, treasury, host1, host2, f.deployment.jobEscrow)).toEqual([
      clientBefore - zsc('50'),
      treasuryBefore + zsc('5'),
      host1Before + zsc('27'),
      host2Before + zsc('18'),
      escrowBefore,
    ]);
    expect((await f.escrow().jobOf(jobId))[3]).toBe(BigInt(EscrowStatus.Settled));
  });

  it('rounds the commission down per payout, so nothing is created or lost', async () => {
    const { clientA: client, settler, treasury, host1 } = f.wallets;
    const [clientBefore, treasuryBefore, hostBefore] = await balances(client, treasury, host1);
    const { jobId } = await openJob(client, 1000n);
    await (await f.escrow(settler).settle(jobId, [host1.address, host1.address], [19n, 9n])).wait();
    // 19 → 1 commission + 18; 9 → 0 commission + 9; 972 refunded.
    expect(await balances(client, treasury, host1)).toEqual([clientBefore - 28n, treasuryBefore + 1n, hostBefore + 27n]);
  });

  it('refunds the whole escrow when the settlement pays nobody', async () => {
    const { clientA: client, settler, treasury } = f.wallets;
    const [clientBefore, treasuryBefore] = await balances(client, treasury);
    const { jobId } = await openJob(client, zsc('7'));
    const settled = await (await f.escrow(settler).settle(jobId, [], [])).wait();
    expect(eventArgs(settled, 'JobSettled')).toEqual([jobId, 0n, 0n, zsc('7')]);
    expect(await balances(client, treasury)).toEqual([clientBefore, treasuryBefore]);
  });

  it('lets the client reclaim the whole escrow once deadline + grace has passed', async () => {
    const client = f.wallets.clientB;
    const [clientBefore, escrowBefore] = await balances(client, f.deployment.jobEscrow);
    const { jobId, deadline } = await openJob(client, zsc('12'));
    const reclaimableAt = BigInt(deadline + RECLAIM_GRACE_SECONDS);

    await expectRevert(f.escrow(client).reclaim(jobId), f.escrow(), 'JobEscrowReclaimTooEarly', [jobId, reclaimableAt]);
    await f.increaseTime(deadline + RECLAIM_GRACE_SECONDS - 10 - (await f.latestTimestamp()));
    await expectRevert(f.escrow(client).reclaim(jobId), f.escrow(), 'JobEscrowReclaimTooEarly', [jobId, reclaimableAt]);
    await expectRevert(f.escrow(f.wallets.clientA).reclaim(jobId), f.escrow(), 'JobEscrowNotClient', [jobId, f.wallets.clientA.address]);

    await f.increaseTime(10);
    const reclaimed = await (await f.escrow(client).reclaim(jobId)).wait();
    expect(eventArgs(reclaimed, 'JobReclaimed')).toEqual([jobId, client.address, zsc('12')]);
    expect(await balances(client, f.deployment.jobEscrow)).toEqual([clientBefore, escrowBefore]);
    expect((await f.escrow().jobOf(jobId))[3]).toBe(BigInt(EscrowStatus.Reclaimed));

    await expectRevert(f.escrow(f.wallets.settler).settle(jobId, [], []), f.escrow(), 'JobEscrowJobNotOpen', [jobId, BigInt(EscrowStatus.Reclaimed)]);
    await expectRevert(f.escrow(client).reclaim(jobId), f.escrow(), 'JobEscrowJobNotOpen', [jobId, BigInt(EscrowStatus.Reclaimed)]);
  });

  it('refuses to open a job twice, for nothing, or with a deadline in the past', async () => {
    const client = f.wallets.clientA;
    const escrow = f.escrow(client);
    const { jobId } = await openJob(client, zsc('1'));
    await (await f.token(client).approve(f.deployment.jobEscrow, zsc('1'))).wait();
    const later = (await f.latestTimestamp()) + 600;

    await expectRevert(escrow.openJob(jobId, zsc('1'), later), escrow, 'JobEscrowJobExists', [jobId]);
    await expectRevert(escrow.openJob(newJobId(), 0n, later), escrow, 'JobEscrowZeroAmount');
    const now = await f.latestTimestamp();
    await expectRevert(escrow.openJob(newJobId(), zsc('1'), now - 1), escrow, 'JobEscrowDeadlineInPast', [BigInt(now - 1)]);
  });

  it('lets only the settler settle, once, and never for more than was locked', async () => {
    const { clientA: client, settler, host1 } = f.wallets;
    const { jobId } = await openJob(client, zsc('10'));
    const escrow = f.escrow(settler);

    await expectRevert(f.escrow(client).settle(jobId, [host1.address], [zsc('1')]), escrow, 'AccessControlUnauthorizedAccount', [
      client.address,
      await escrow.SETTLER_ROLE(),
    ]);
    await expectRevert(escrow.settle(jobId, [host1.address], [zsc('10') + 1n]), escrow, 'JobEscrowPayoutExceedsEscrow', [
      jobId,
      zsc('10') + 1n,
      zsc('10'),
    ]);
    await expectRevert(escrow.settle(jobId, [host1.address, host1.address], [zsc('6'), zsc('5')]), escrow, 'JobEscrowPayoutExceedsEscrow', [
      jobId,
      zsc('11'),
      zsc('10'),
    ]);
    await expectRevert(escrow.settle(jobId, [host1.address], [zsc('1'), zsc('1')]), escrow, 'JobEscrowPayoutsMismatch', [1n, 2n]);
    await expectRevert(escrow.settle(newJobId(), [], []), escrow, 'JobEscrowJobNotOpen');

    await (await escrow.settle(jobId, [host1.address], [zsc('10')])).wait();
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
    await expectRevert(escrow.setCommissionBps(2001n), escrow, 'JobEscrowCommissionAboveCap', [2001n, 2000n]);

    const changed = await (await escrow.setCommissionBps(2000n)).wait();
    try {
      expect(eventArgs(changed, 'CommissionChanged')).toEqual([1000n, 2000n]);
      const [treasuryBefore, hostBefore] = await balances(treasury, host1);
      const { jobId } = await openJob(client, zsc('10'));
      await (await f.escrow(settler).settle(jobId, [host1.address], [zsc('10')])).wait();
      expect(await balances(treasury, host1)).toEqual([treasuryBefore + zsc('2'), hostBefore + zsc('8')]);
    } finally {
      await (await escrow.setCommissionBps(1000n)).wait();
    }
  });
});
