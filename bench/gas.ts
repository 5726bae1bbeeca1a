import { MaxUint256, Signature, Wallet, id, parseUnits, toBeHex, type ContractTransactionResponse } from 'ethers';
import { connectHostRegistry, connectJobEscrow, connectStorageEscrow, connectZansocToken, type SettlementStruct } from '../contracts/bindings';
import { deployContracts } from '../contracts/deploy';
import { createProvider } from '../contracts/provider';
import {
  BOND_CONSENT_TYPES,
  DEAL_ORDER_TYPES,
  JOB_ESCROW_DOMAIN_NAME,
  JOB_ORDER_TYPES,
  NO_PERMIT,
  PERMIT_TYPES,
  STORAGE_ESCROW_DOMAIN_NAME,
  escrowDomain,
  escrowIdOf,
  tokenDomain,
  type PermitSignature,
} from '../domain/orders';
import { ANVIL_KEYS, startAnvil } from '../scripts/anvil';

/**
 * Gas of the contracts' everyday calls on a fresh anvil, in steady state: every account involved already holds
 * ZSC and the escrows already hold some, so no transfer pays for creating a balance. Jobs and deals open as the
 * orchestrator opens them, relaying the client's signed order and permit; bonds carry the host's signed consent.
 * Prints a table and whether the goals are met: a single-host job (open with order and permit + bond with consent +
 * settle) in at most 150k gas, and settleBatch at most 40k gas per job at 50 jobs whose recipients all differ (the
 * table also shows a batch whose jobs share clients and hosts, which is cheaper).
 */
const zsc = (amount: string) => parseUnits(amount, 18);
const BATCH_SIZE = 50;
const GOALS = { singleHostJob: 150_000n, batchPerJob: 40_000n };

async function main(): Promise<void> {
  const anvil = await startAnvil();
  const provider = createProvider(anvil.url);
  try {
    const wallet = (i: number) => new Wallet(ANVIL_KEYS[i], provider);
    const [deployer, settler, treasury, clientA, clientB, host1, host2, host3, challenger, governor] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9].map(wallet);
    const hosts = [host1, host2, host3];
    const deployment = await deployContracts({
      rpcUrl: anvil.url, deployerKey: deployer.privateKey, treasury: treasury.address, settler: settler.address, governor: governor.address,
    });
    const token = (as: Wallet) => connectZansocToken(deployment.token, as);
    const jobs = (as: Wallet) => connectJobEscrow(deployment.jobEscrow, as);
    const deals = (as: Wallet) => connectStorageEscrow(deployment.storageEscrow, as);
    const registry = (as: Wallet) => connectHostRegistry(deployment.hostRegistry, as);
    const gasOf = async (tx: Promise<ContractTransactionResponse>) => {
      const receipt = await (await tx).wait();
      if (!receipt) throw new Error('no receipt');
      return receipt.gasUsed;
    };

    for (const account of [clientA, clientB, challenger, ...hosts]) await gasOf(token(treasury).transfer(account.address, zsc('1000000')));
    // The challenger is a host too: it bonds stake to the job it disputes, which makes it a slash recipient.
    for (const host of [...hosts, challenger]) {
      await gasOf(token(host).approve(deployment.hostRegistry, MaxUint256));
      await gasOf(registry(host).register(zsc('100000'), id(`metadata of ${host.address}`)));
    }
    await gasOf(token(clientB).approve(deployment.jobEscrow, MaxUint256));
    await gasOf(token(clientB).approve(deployment.storageEscrow, MaxUint256));

    const { chainId } = await provider.getNetwork();
    const jobDomain = escrowDomain(JOB_ESCROW_DOMAIN_NAME, Number(chainId), deployment.jobEscrow);
    const dealDomain = escrowDomain(STORAGE_ESCROW_DOMAIN_NAME, Number(chainId), deployment.storageEscrow);
    let jobCount = 0;
    const deadline = async () => (await provider.getBlock('latest'))!.timestamp + 3600;
    /** The client's permit for JobEscrow: exactly `amount`, or any amount (MaxUint256), which transferFrom never writes down. */
    const permitOf = async (client: Wallet, value: bigint, spender = deployment.jobEscrow): Promise<PermitSignature> => {
      const permitDeadline = await deadline();
      const message = { owner: client.address, spender, value, nonce: await token(client).nonces(client.address), deadline: permitDeadline };
      const { v, r, s } = Signature.from(await client.signTypedData(tokenDomain(Number(chainId), deployment.token), PERMIT_TYPES, message));
      return { value: String(value), deadline: permitDeadline, v, r, s };
    };
    type PermitMode = 'exact' | 'max' | 'none';
    /** Opens a job the way the orchestrator does: the settler relays the client's signed order and permit. */
    const openJob = async (client: Wallet, amount = zsc('10'), permit: PermitMode = 'none') => {
      const order = {
        client: client.address, jobId: id(`bench-job-${++jobCount}`), specHash: id('bench spec'), pricePerSlot: String(amount), slots: 1,
        deadline: await deadline(), nonce: '0',
      };
      const signature = await client.signTypedData(jobDomain, JOB_ORDER_TYPES, order);
      const permitSignature = permit === 'none' ? NO_PERMIT : await permitOf(client, permit === 'max' ? MaxUint256 : amount);
      const gas = await gasOf(jobs(settler).openJobFor(order, signature, permitSignature));
      return { jobId: escrowIdOf(client.address, order.jobId), gas };
    };
    const consentOf = async (domain: typeof jobDomain, escrowId: string, host: Wallet, amount: bigint) => {
      const consent = { escrowId, host: host.address, amount: String(amount), deadline: await deadline() };
      return { deadline: consent.deadline, signature: await host.signTypedData(domain, BOND_CONSENT_TYPES, consent) };
    };
    const bond = async (jobId: string, host: Wallet, amount = zsc('50')) => {
      const consent = await consentOf(jobDomain, jobId, host, amount);
      return gasOf(jobs(settler).bond(jobId, host.address, amount, consent.deadline, consent.signature));
    };
    let dealCount = 0;
    const deposit = async (client: Wallet, rate: bigint, replicas: number, periods: number) => {
      const order = {
        client: client.address, dealId: id(`bench-deal-${++dealCount}`), specHash: id('bench spec'), ratePerHostPeriod: String(rate), replicas,
        periods, deadline: await deadline(), nonce: '0',
      };
      const signature = await client.signTypedData(dealDomain, DEAL_ORDER_TYPES, order);
      return { dealId: escrowIdOf(client.address, order.dealId), gas: await gasOf(deals(settler).depositFor(order, signature, NO_PERMIT)) };
    };

    // Warm-up: one whole job, so the treasury and every host hold a balance before measuring, and one job and one
    // deal left open, so the escrows never fall back to an empty balance (as they would not on a live network).
    await openJob(clientB);
    await deposit(clientB, 1n, 1, 1);
    const warm = await openJob(clientA, zsc('10'), 'exact');
    for (const host of hosts) await bond(warm.jobId, host);
    await gasOf(jobs(settler).settle(warm.jobId, hosts.map((h) => ({ host: h.address, amount: zsc('1') })), []));

    // The three ways a client pays: a permit for exactly the job, a permit for any amount, or that allowance again.
    // An exact permit is the cheapest per job: the allowance it writes, transferFrom clears again, for a refund.
    const single = await openJob(clientA, zsc('10'), 'exact');
    const maxPermit = await openJob(clientA, zsc('10'), 'max');
    const noPermit = await openJob(clientA);
    const bondGas = await bond(single.jobId, host1);
    const settle1 = await gasOf(jobs(settler).settle(single.jobId, [{ host: host1.address, amount: zsc('4') }], []));
    for (const { jobId } of [maxPermit, noPermit]) await gasOf(jobs(settler).settle(jobId, [], []));

    const triple = await openJob(clientA);
    for (const host of hosts) await bond(triple.jobId, host);
    const settle3 = await gasOf(jobs(settler).settle(triple.jobId, hosts.map((h) => ({ host: h.address, amount: zsc('2') })), []));

    const slashed = await openJob(clientA);
    for (const host of [...hosts.slice(0, 2), challenger]) await bond(slashed.jobId, host);
    const settleSlash = await gasOf(jobs(settler).settle(
      slashed.jobId,
      [{ host: host1.address, amount: zsc('2') }],
      [{ host: host2.address, recipient: challenger.address, amount: zsc('30') }, { host: host2.address, recipient: treasury.address, amount: zsc('20') }],
    ));

    // A micro-payment batch: jobs of two clients, each on one of three bonded hosts.
    const batch: SettlementStruct[] = [];
    for (let i = 0; i < BATCH_SIZE; i++) {
      const { jobId } = await openJob(i % 2 ? clientB : clientA, zsc('1'));
      const host = hosts[i % hosts.length];
      await bond(jobId, host, zsc('5'));
      batch.push({ escrowId: jobId, payouts: [{ host: host.address, amount: zsc('0.5') }], slashes: [] });
    }
    const batchGas = await gasOf(jobs(settler).settleBatch(batch));

    // The worst case for merging payments: 50 jobs of 50 different clients on 50 different hosts.
    const strangers = Array.from({ length: 2 * BATCH_SIZE }, () => new Wallet(Wallet.createRandom().privateKey, provider));
    for (const stranger of strangers) await gasOf(token(treasury).transfer(stranger.address, zsc('1000')));
    await Promise.all(
      strangers.map(async (stranger, i) => {
        await provider.send('anvil_setBalance', [stranger.address, toBeHex(10n ** 18n)]);
        if (i % 2 === 0) return;
        await gasOf(token(stranger).approve(deployment.hostRegistry, zsc('100')));
        await gasOf(registry(stranger).register(zsc('100'), id(`metadata of ${stranger.address}`)));
      }),
    );
    const spread: SettlementStruct[] = [];
    for (let i = 0; i < BATCH_SIZE; i++) {
      const [client, host] = [strangers[2 * i], strangers[2 * i + 1]];
      const { jobId } = await openJob(client, zsc('1'), 'max');
      await bond(jobId, host, zsc('5'));
      spread.push({ escrowId: jobId, payouts: [{ host: host.address, amount: zsc('0.5') }], slashes: [] });
    }
    const spreadGas = await gasOf(jobs(settler).settleBatch(spread));

    const { dealId, gas: depositGas } = await deposit(clientB, zsc('1'), 3, 12);
    for (const host of hosts) {
      const consent = await consentOf(dealDomain, dealId, host, zsc('50'));
      await gasOf(deals(settler).bond(dealId, host.address, zsc('50'), consent.deadline, consent.signature));
    }
    const sorted = hosts.map((h) => h.address).sort((a, b) => (BigInt(a) < BigInt(b) ? -1 : 1));
    await gasOf(deals(settler).releasePeriod(dealId, 0, sorted));
    const releaseGas = await gasOf(deals(settler).releasePeriod(dealId, 1, sorted));

    const transferGas = await gasOf(token(clientA).transfer(clientB.address, zsc('1')));

    const singleHostJob = single.gas + bondGas + settle1;
    const batchPerJob = batchGas / BigInt(BATCH_SIZE);
    const spreadPerJob = spreadGas / BigInt(BATCH_SIZE);
    const rows: [string, bigint][] = [
      ['ERC-20 transfer (floor)', transferGas],
      ['openJobFor, order + permit of exactly the amount', single.gas],
      ['openJobFor, order + permit of MaxUint256 (once: the allowance stays)', maxPermit.gas],
      ['openJobFor, order only (allowance of an earlier MaxUint256 permit)', noPermit.gas],
      ['bond, with the host\'s consent', bondGas],
      ['settle, 1 host', settle1],
      ['settle, 3 hosts', settle3],
      ['settle, 1 host paid + 1 host slashed to 2 recipients (one the bonded challenger)', settleSlash],
      [`settleBatch of ${BATCH_SIZE}, per job (2 clients, 3 hosts, 1 bond each)`, batchPerJob],
      [`settleBatch of ${BATCH_SIZE}, per job (${BATCH_SIZE} clients, ${BATCH_SIZE} hosts)`, spreadGas / BigInt(BATCH_SIZE)],
      ['depositFor, order only (3 replicas, 12 periods)', depositGas],
      ['releasePeriod, 3 hosts', releaseGas],
      ['open (order + exact permit) + bond + settle, 1 host', singleHostJob],
      ['open (order only) + bond + settle, 1 host', noPermit.gas + bondGas + settle1],
    ];
    const width = Math.max(...rows.map(([name]) => name.length));
    const times = (gas: bigint) => `${(Number(gas) / Number(transferGas)).toFixed(1)}× transfer`;
    console.log(`${'call'.padEnd(width)}  ${'gas'.padStart(9)}  ${'vs floor'.padStart(14)}`);
    console.log(`${'-'.repeat(width)}  ${'-'.repeat(9)}  ${'-'.repeat(14)}`);
    for (const [name, gas] of rows) console.log(`${name.padEnd(width)}  ${gas.toLocaleString('en-US').padStart(9)}  ${times(gas).padStart(14)}`);
    console.log('');
    const goal = (name: string, value: bigint, limit: bigint) =>
      console.log(
        `goal: ${name} <= ${limit.toLocaleString('en-US')}: ${value <= limit ? 'met' : 'NOT met'} (${value.toLocaleString('en-US')}, ${times(value)}, floor ${transferGas.toLocaleString('en-US')})`,
      );
    goal('open (order + permit) + bond (consent) + settle, 1 host', singleHostJob, GOALS.singleHostJob);
    goal(`settleBatch per job at ${BATCH_SIZE} jobs, all recipients different`, spreadPerJob, GOALS.batchPerJob);
  } finally {
    provider.destroy();
    await anvil.stop();
  }
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.stack : err);
  process.exitCode = 1;
});
