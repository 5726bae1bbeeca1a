import fc from 'fast-check';
import { MaxUint256, id, isCallException, type ContractTransactionReceipt, type ContractTransactionResponse, type Wallet } from 'ethers';
import { DealStatus, EscrowStatus } from '../../contracts/bindings';
import { NO_PERMIT, escrowIdOf } from '../../domain/orders';
import { RECLAIM_GRACE_SECONDS, UNBONDING_DELAY_SECONDS, eventsIn, startChainFixture, type ChainFixture, type EscrowKind } from './fixture';

/**
 * Conservation, fuzzed: random sequences of everything that moves ZSC (relayed job orders, bonds by consent, settle
 * with slashes, settleBatch, reclaim, relayed deal orders, release, storage slash, bond release, end, unbond,
 * withdraw, commission changes, time passing), across two clients and three hosts, with arguments that are sometimes
 * invalid: orders signed by an outsider, bonds without the host's consent, payouts to addresses not bonded or above
 * the signed price per slot, settler calls sent by the admin or an outsider. A model predicts whether each call
 * succeeds and where every token goes; after each step the chain must agree with it, the token supply must be
 * unchanged, each contract must hold exactly what it still owes, no address outside the bonded hosts, the client and
 * the treasury of the jobs and deals a call touched gained anything, no host was paid more by a settlement than the
 * prices its client signed, and every bond on chain is one its host consented to (read from the chain, not from the
 * model).
 */

const CLIENT_FUNDS = 1_000_000n;
const HOST_STAKE = 20_000n;
const BPS = 10_000n;
/** Calls this close to a time limit are skipped: the next block's timestamp is only known to a few seconds. */
const TIME_MARGIN = 30;
/**
 * Sequences per run: 60 take about 55 s alone on anvil (signing orders and consents included), well under the
 * timeout. CONSERVATION_RUNS=<n> runs more, e.g. thousands for a long check; the timeout grows with it.
 */
const RUNS = Number(process.env.CONSERVATION_RUNS ?? 60);

let f: ChainFixture;
let clients: Wallet[];
let hosts: Wallet[];
let everyone: Wallet[];
let baseline: string;
let initialSupply: bigint;
let initialBalances: Map<string, bigint>;
let run = 0;
let executed = 0;

type Bonds = Map<string, bigint>;
interface JobModel { chainId: string; client: string; price: bigint; amount: bigint; deadline: number; status: EscrowStatus; bonds: Bonds }
interface DealModel {
  chainId: string; client: string; remaining: bigint; rate: bigint; replicas: number; periods: number; released: number;
  deadline: number; status: DealStatus; bonds: Bonds; faults: Set<number>;
  /** Hosts that left the deal: none bonds to it again. */
  left: Set<string>;
}
interface HostModel { staked: bigint; locked: bigint; unbonding: bigint; withdrawableAt: number }

class Model {
  readonly balances: Map<string, bigint>;
  /** Token balances on chain after the last command, to see who the next one paid. */
  chainBalances: Map<string, bigint>;
  /** Who the command being run may pay: set by the command before it sends anything. */
  mayReceive = new Set<string>();
  readonly jobs: JobModel[] = [];
  readonly deals: DealModel[] = [];
  readonly hosts = new Map<string, HostModel>();
  /** `<escrow id>/<host>` of every consent a host signed, to check each bond on chain against. */
  readonly consents = new Set<string>();
  bps = { jobs: 1000n, deals: 1000n };
  counter = 0;

  constructor(readonly tag: number) {
    this.balances = new Map(initialBalances);
    this.chainBalances = new Map(initialBalances);
    for (const host of hosts) this.hosts.set(host.address, { staked: HOST_STAKE, locked: 0n, unbonding: 0n, withdrawableAt: 0 });
  }

  move(from: string, to: string, amount: bigint): void {
    if (amount === 0n) return;
    this.balances.set(from, (this.balances.get(from) ?? 0n) - amount);
    this.balances.set(to, (this.balances.get(to) ?? 0n) + amount);
  }

  host(address: string): HostModel {
    const host = this.hosts.get(address);
    if (!host) throw new Error(`no host ${address} in the model`);
    return host;
  }

  free(address: string): bigint {
    const host = this.hosts.get(address);
    return host ? host.staked - host.locked : 0n;
  }

  lock(bonds: Bonds, address: string, amount: bigint): void {
    bonds.set(address, amount);
    this.host(address).locked += amount;
  }

  slash(bonds: Bonds, address: string, amount: bigint, recipient: string): void {
    bonds.set(address, (bonds.get(address) ?? 0n) - amount);
    const host = this.host(address);
    host.locked -= amount;
    host.staked -= amount;
    this.move(f.deployment.hostRegistry, recipient, amount);
  }

  releaseAll(bonds: Bonds): void {
    for (const [address, amount] of bonds) this.host(address).locked -= amount;
    bonds.clear();
  }
}

interface Real {
  now(): Promise<number>;
}

/**
 * Sends `tx` and checks its outcome against the model's: success must mine, failure must revert without effect.
 * Returns the receipt of a success.
 */
async function expectOutcome(valid: boolean, tx: () => Promise<ContractTransactionResponse>): Promise<ContractTransactionReceipt | null> {
  const outcome = await tx().then(
    async (sent) => ({ receipt: await sent.wait() }),
    (err: unknown) => ({ err }),
  );
  if ('receipt' in outcome) {
    if (!valid) throw new Error('the model expected a revert, but the call succeeded');
    return outcome.receipt;
  }
  if (valid || !isCallException(outcome.err)) throw outcome.err;
  return null;
}

const pick = <T>(items: readonly T[], index: number): T => items[index % items.length];
/**
 * A job or deal: usually an open one, newest first (fast-check favours small indices), so that sequences build on
 * each other; sometimes any one, closed ones included, to try calls that must revert.
 */
function pickOpen<T extends { status: number }>(items: readonly T[], index: number): T {
  const open = items.filter((item) => item.status === 1).reverse();
  return open.length > 0 && index % 5 !== 4 ? pick(open, Math.floor(index / 5)) : pick(items, index);
}
const pickJob = (m: Model, index: number) => pickOpen(m.jobs, index);
const pickDeal = (m: Model, index: number) => pickOpen(m.deals, index);
/** Usually a host bonded to `bonds`, sometimes any host. */
function pickBonded(bonds: Bonds, index: number): string {
  const bonded = [...bonds.keys()];
  return bonded.length > 0 && index % 5 !== 4 ? pick(bonded, Math.floor(index / 5)) : pick(hosts, index).address;
}
const ascending = (addresses: string[]) => [...addresses].sort((a, b) => (BigInt(a) < BigInt(b) ? -1 : 1));
/** Addresses a settler must never pay unless they are bonded: every wallet and contract of the fixture. */
const outsiders = () => [...everyone.map((w) => w.address), f.deployment.jobEscrow, f.deployment.storageEscrow, f.deployment.hostRegistry];
/** Usually a party of `bonds` (a bonded host or, for slash shares, the treasury and the client), one time in five anyone. */
function pickParty(bonds: Bonds, index: number, slashOf?: { client: string }): string {
  const parties = [...bonds.keys(), ...(slashOf ? [f.deployment.treasury, slashOf.client] : [])];
  return parties.length > 0 && index % 5 !== 4 ? pick(parties, Math.floor(index / 5)) : pick(outsiders(), index);
}
/** Whether a slash share of `target` may go to `recipient`: the treasury, a party bonded to it, or a job's client. */
const mayGetSlash = (target: { client: string; bonds: Bonds }, recipient: string, clientToo: boolean) =>
  recipient === f.deployment.treasury || target.bonds.has(recipient) || (clientToo && recipient === target.client);
/** Who may receive tokens when `target` is settled, ended, reclaimed or released. */
function partiesOf(m: Model, target: { client: string; bonds: Bonds }): void {
  for (const address of [target.client, f.deployment.treasury, ...target.bonds.keys()]) m.mayReceive.add(address);
}
/** Who sends a settler's call: usually the settler, sometimes the admin (the deployer), a client or a host. */
const callerArb = fc.nat();
function callerOf(index: number): { wallet: Wallet; settler: boolean } {
  const { settler, deployer, clientA, host1, challenger } = f.wallets;
  const wallet = index % 4 !== 3 ? settler : pick([deployer, clientA, host1, challenger], Math.floor(index / 4));
  return { wallet, settler: wallet === settler };
}

type Command = fc.AsyncCommand<Model, Real>;
const always = { check: () => true };
const hasJobs = { check: (m: Readonly<Model>) => m.jobs.length > 0 };
const hasDeals = { check: (m: Readonly<Model>) => m.deals.length > 0 };

/** Who signs an order of `client`: the client, or one time in five an outsider forging it. */
function orderSigner(client: Wallet, index: number): { signer: Wallet; forged: boolean } {
  if (index % 5 !== 4) return { signer: client, forged: false };
  return { signer: pick([f.wallets.challenger, f.wallets.settler, ...clients.filter((c) => c !== client)], Math.floor(index / 5)), forged: true };
}
/** Who relays an order: anyone may, usually the settler. */
const relayerOf = (index: number) => (index % 3 !== 2 ? f.wallets.settler : pick([f.wallets.challenger, ...clients], Math.floor(index / 3)));

const openJob = fc
  .record({ client: fc.nat(), price: fc.bigInt(1n, 2000n), slots: fc.integer({ min: 1, max: 3 }), ttl: fc.integer({ min: 120, max: 900 }), signer: fc.nat(), relayer: fc.nat() })
  .map(
    (a): Command => ({
      ...always,
      toString: () => `openJobFor(${JSON.stringify({ ...a, price: String(a.price) })})`,
      async run(m, r) {
        const client = pick(clients, a.client);
        const jobId = id(`fuzz-${m.tag}-job-${++m.counter}`);
        const deadline = (await r.now()) + a.ttl;
        const order = { client: client.address, jobId, specHash: id('spec'), pricePerSlot: String(a.price), slots: a.slots, deadline, nonce: '0' };
        const { signer, forged } = orderSigner(client, a.signer);
        const signature = await f.signJobOrder(signer, order);
        m.mayReceive.add(f.deployment.jobEscrow);
        await expectOutcome(!forged, () => f.escrow(relayerOf(a.relayer)).openJobFor(order, signature, NO_PERMIT));
        if (forged) return;
        const amount = a.price * BigInt(a.slots);
        const chainId = escrowIdOf(client.address, jobId);
        m.jobs.push({ chainId, client: client.address, price: a.price, amount, deadline, status: EscrowStatus.Open, bonds: new Map() });
        m.move(client.address, f.deployment.jobEscrow, amount);
      },
    }),
  );

/**
 * The host's consent to bond `amount` to `escrowId`, as the settler relays it: usually the host's own, sometimes
 * one another host signed, one for another amount, or none at all. Returns whether it is the host's real consent.
 */
async function consentOf(m: Model, kind: EscrowKind, escrowId: string, host: Wallet, amount: bigint, index: number) {
  const variant = index % 8;
  const signer = variant === 5 ? pick(hosts.filter((h) => h !== host), index) : host;
  const { consent, signature } = await f.signConsent(signer, kind, escrowId, variant === 6 ? amount + 1n : amount);
  const valid = variant < 5;
  if (valid) m.consents.add(`${escrowId}/${host.address}`);
  return { deadline: consent.deadline, signature: variant === 7 ? '0x' : signature, valid };
}

/** A bond of `share` percent of the host's free stake (over 100: more than it has). */
const bondAmount = (m: Model, host: string, share: number) => (m.free(host) * BigInt(share)) / 400n || 1n;

const bondJob = fc.record({ job: fc.nat(), host: fc.nat(), share: fc.integer({ min: 1, max: 480 }), caller: callerArb, consent: fc.nat() }).map(
  (a): Command => ({
    ...hasJobs,
    toString: () => `bond(${JSON.stringify(a)})`,
    async run(m) {
      const job = pickJob(m, a.job);
      const hostWallet = pick(hosts, a.host);
      const host = hostWallet.address;
      const amount = bondAmount(m, host, a.share);
      const caller = callerOf(a.caller);
      const consent = await consentOf(m, 'job', job.chainId, hostWallet, amount, a.consent);
      const valid = caller.settler && consent.valid && job.status === EscrowStatus.Open && !job.bonds.has(host) && m.free(host) >= amount;
      await expectOutcome(valid, () => f.escrow(caller.wallet).bond(job.chainId, host, amount, consent.deadline, consent.signature));
      if (valid) m.lock(job.bonds, host, amount);
    },
  }),
);

/** Payouts as shares, in percent of the escrow, and slashes as shares of the slashed host's bond. */
type PayoutShares = { host: number; share: number }[];
type SlashShares = { host: number; recipient: number; share: number }[];
const payoutArb: fc.Arbitrary<PayoutShares> = fc.array(fc.record({ host: fc.nat(), share: fc.integer({ min: 0, max: 60 }) }), { maxLength: 3 });
const slashArb: fc.Arbitrary<SlashShares> = fc.array(fc.record({ host: fc.nat(), recipient: fc.nat(), share: fc.integer({ min: 1, max: 70 }) }), { maxLength: 2 });

/** One job's settlement arguments: payees usually bonded hosts, recipients usually bonded hosts or the treasury. */
function settlementOf(job: JobModel, payouts: PayoutShares, slashes: SlashShares) {
  const bonded = [...job.bonds.keys()];
  return {
    payouts: payouts.map((p) => ({ host: pickParty(job.bonds, p.host), amount: (job.amount * BigInt(p.share)) / 100n })),
    slashes: bonded.length === 0 ? [] : slashes.map((s) => {
      const host = pick(bonded, s.host);
      return { host, recipient: pickParty(job.bonds, s.recipient, job), amount: (((job.bonds.get(host) ?? 0n) * BigInt(s.share)) / 100n) || 1n };
    }),
  };
}

/** Whether the escrow accepts `settlement` of `job`, and if so its effect on the model. */
function settleInModel(m: Model, job: JobModel, s: ReturnType<typeof settlementOf>, apply: boolean): boolean {
  if (job.status !== EscrowStatus.Open) return false;
  const gross = s.payouts.reduce((sum, p) => sum + p.amount, 0n);
  // Hosts that took their bond back at reclaim are still bonded to the job (with nothing left to slash).
  if (s.payouts.some((p) => !job.bonds.has(p.host))) return false;
  const paidTo = new Map<string, bigint>();
  for (const p of s.payouts) paidTo.set(p.host, (paidTo.get(p.host) ?? 0n) + p.amount);
  if ([...paidTo.values()].some((paid) => paid > job.price)) return false;
  if (gross > job.amount) return false;
  if (s.slashes.some((x) => !mayGetSlash(job, x.recipient, true))) return false;
  // The client is compensated at most what it locked.
  if (s.slashes.reduce((sum, x) => sum + (x.recipient === job.client ? x.amount : 0n), 0n) > job.amount) return false;
  const left = new Map(job.bonds);
  for (const slash of s.slashes) {
    const bond = left.get(slash.host) ?? 0n;
    if (slash.amount > bond) return false;
    left.set(slash.host, bond - slash.amount);
  }
  if (!apply) return true;
  for (const p of s.payouts) {
    const fee = (p.amount * m.bps.jobs) / BPS;
    m.move(f.deployment.jobEscrow, p.host, p.amount - fee);
    m.move(f.deployment.jobEscrow, f.deployment.treasury, fee);
  }
  m.move(f.deployment.jobEscrow, job.client, job.amount - gross);
  for (const slash of s.slashes) m.slash(job.bonds, slash.host, slash.amount, slash.recipient);
  m.releaseAll(job.bonds);
  job.status = EscrowStatus.Settled;
  return true;
}

const settleJob = fc.record({ job: fc.nat(), payouts: payoutArb, slashes: slashArb, caller: callerArb }).map(
  (a): Command => ({
    ...hasJobs,
    toString: () => `settle(${JSON.stringify(a)})`,
    async run(m) {
      const job = pickJob(m, a.job);
      const s = settlementOf(job, a.payouts, a.slashes);
      const caller = callerOf(a.caller);
      const valid = caller.settler && settleInModel(m, job, s, false);
      partiesOf(m, job);
      const receipt = await expectOutcome(valid, () => f.escrow(caller.wallet).settle(job.chainId, s.payouts, s.slashes));
      expectPaidWithinPrices(receipt, [job]);
      if (valid) settleInModel(m, job, s, true);
    },
  }),
);

const settleBatch = fc.record({ entries: fc.array(fc.record({ job: fc.nat(), payouts: payoutArb, slashes: slashArb }), { minLength: 1, maxLength: 4 }), caller: callerArb }).map(
  ({ entries, caller: callerIndex }): Command => ({
    ...hasJobs,
    toString: () => `settleBatch(${JSON.stringify({ entries, caller: callerIndex })})`,
    async run(m) {
      // Distinct open jobs, newest first, unless an entry asks for any job (maybe one already in the batch).
      const open = m.jobs.filter((j) => j.status === EscrowStatus.Open).reverse();
      const batch = entries.map((e, i) => {
        const job = e.job % 5 === 4 || open.length === 0 ? pick(m.jobs, e.job) : open[i % open.length];
        return { job, ...settlementOf(job, e.payouts, e.slashes) };
      });
      const distinct = new Set(batch.map((b) => b.job)).size === batch.length;
      const caller = callerOf(callerIndex);
      const valid = caller.settler && distinct && batch.every((b) => settleInModel(m, b.job, b, false));
      for (const b of batch) partiesOf(m, b.job);
      const receipt = await expectOutcome(valid, () =>
        f.escrow(caller.wallet).settleBatch(batch.map((b) => ({ escrowId: b.job.chainId, payouts: b.payouts, slashes: b.slashes }))),
      );
      expectPaidWithinPrices(receipt, batch.map((b) => b.job));
      if (valid) for (const b of batch) settleInModel(m, b.job, b, true);
    },
  }),
);

/**
 * Read from the settlement's token transfers: no host received from JobEscrow more than the prices per slot of the
 * settled jobs it is bonded to (each host's net pay is at most its gross, which its job's price bounds).
 */
function expectPaidWithinPrices(receipt: ContractTransactionReceipt | null, jobs: JobModel[]): void {
  if (!receipt) return;
  for (const [from, to, value] of eventsIn(receipt, f.token(), 'Transfer') as [string, string, bigint][]) {
    if (from !== f.deployment.jobEscrow || !hosts.some((h) => h.address === to)) continue;
    const cap = jobs.filter((j) => j.bonds.has(to)).reduce((sum, j) => sum + j.price, 0n);
    expect(value).toBeLessThanOrEqual(cap);
  }
}

/**
 * The client, a bonded host or a stranger (the challenger, the settler), and whether the escrow lets them reclaim
 * now: the client all of it, a host with a bond left only that bond.
 */
async function reclaimer(r: Real, target: { client: string; deadline: number; bonds: Bonds }, who: number) {
  const parties = [target.client, ...target.bonds.keys(), f.wallets.challenger.address, f.wallets.settler.address];
  const caller = everyone.find((w) => w.address === pick(parties, who));
  if (!caller) throw new Error('reclaimer is not a known wallet');
  const reclaimableAt = target.deadline + RECLAIM_GRACE_SECONDS;
  const now = await r.now();
  const ambiguous = Math.abs(reclaimableAt - now) < TIME_MARGIN;
  const byClient = caller.address === target.client;
  const party = byClient || (target.bonds.get(caller.address) ?? 0n) > 0n;
  return { caller, ambiguous, byClient, allowed: party && now >= reclaimableAt };
}

const reclaimJob = fc.record({ job: fc.nat(), who: fc.nat() }).map(
  (a): Command => ({
    ...hasJobs,
    toString: () => `reclaim(${JSON.stringify(a)})`,
    async run(m, r) {
      const job = pickJob(m, a.job);
      const { caller, ambiguous, byClient, allowed } = await reclaimer(r, job, a.who);
      if (ambiguous) return;
      const valid = job.status === EscrowStatus.Open && allowed;
      partiesOf(m, job);
      await expectOutcome(valid, () => f.escrow(caller).reclaim(job.chainId));
      if (!valid) return;
      if (!byClient) {
        // The host takes back its bond and stays bonded to the open job with nothing left (and may not bond again).
        m.host(caller.address).locked -= job.bonds.get(caller.address)!;
        job.bonds.set(caller.address, 0n);
        return;
      }
      m.move(f.deployment.jobEscrow, job.client, job.amount);
      m.releaseAll(job.bonds);
      job.status = EscrowStatus.Reclaimed;
    },
  }),
);

const deposit = fc
  .record({
    client: fc.nat(), rate: fc.bigInt(1n, 500n), replicas: fc.integer({ min: 1, max: 3 }), periods: fc.integer({ min: 1, max: 4 }),
    ttl: fc.integer({ min: 120, max: 900 }), signer: fc.nat(), relayer: fc.nat(),
  })
  .map(
    (a): Command => ({
      ...always,
      toString: () => `depositFor(${JSON.stringify({ ...a, rate: String(a.rate) })})`,
      async run(m, r) {
        const client = pick(clients, a.client);
        const dealId = id(`fuzz-${m.tag}-deal-${++m.counter}`);
        const deadline = (await r.now()) + a.ttl;
        const order = {
          client: client.address, dealId, specHash: id('spec'), ratePerHostPeriod: String(a.rate), replicas: a.replicas, periods: a.periods,
          deadline, nonce: '0',
        };
        const { signer, forged } = orderSigner(client, a.signer);
        const signature = await f.signDealOrder(signer, order);
        m.mayReceive.add(f.deployment.storageEscrow);
        await expectOutcome(!forged, () => f.storage(relayerOf(a.relayer)).depositFor(order, signature, NO_PERMIT));
        if (forged) return;
        const amount = a.rate * BigInt(a.replicas * a.periods);
        const chainId = escrowIdOf(client.address, dealId);
        m.deals.push({
          chainId, client: client.address, remaining: amount, rate: a.rate, replicas: a.replicas, periods: a.periods, released: 0,
          deadline, status: DealStatus.Active, bonds: new Map(), faults: new Set(), left: new Set(),
        });
        m.move(client.address, f.deployment.storageEscrow, amount);
      },
    }),
  );

const bondDeal = fc.record({ deal: fc.nat(), host: fc.nat(), share: fc.integer({ min: 1, max: 480 }), caller: callerArb, consent: fc.nat() }).map(
  (a): Command => ({
    ...hasDeals,
    toString: () => `bondDeal(${JSON.stringify(a)})`,
    async run(m) {
      const deal = pickDeal(m, a.deal);
      const hostWallet = pick(hosts, a.host);
      const host = hostWallet.address;
      const amount = bondAmount(m, host, a.share);
      const caller = callerOf(a.caller);
      const consent = await consentOf(m, 'storage', deal.chainId, hostWallet, amount, a.consent);
      const valid = caller.settler && consent.valid && deal.status === DealStatus.Active && !deal.bonds.has(host) && !deal.left.has(host) &&
        m.free(host) >= amount;
      await expectOutcome(valid, () => f.storage(caller.wallet).bond(deal.chainId, host, amount, consent.deadline, consent.signature));
      if (valid) m.lock(deal.bonds, host, amount);
    },
  }),
);

const releasePeriod = fc
  .record({ deal: fc.nat(), hostMask: fc.integer({ min: 0, max: 7 }), skew: fc.constantFrom(0, 0, 0, 0, 0, 1, -1), outsider: fc.nat(), caller: callerArb })
  .map(
    (a): Command => ({
      ...hasDeals,
      toString: () => `releasePeriod(${JSON.stringify(a)})`,
      async run(m) {
        const deal = pickDeal(m, a.deal);
        // Usually some of the deal's bonded hosts, sometimes with one outsider among them.
        const bonded = [...deal.bonds.keys()].filter((_, i) => a.hostMask & (1 << i));
        const extra = a.outsider % 5 === 4 ? [pick(outsiders(), Math.floor(a.outsider / 5))] : [];
        const paid = ascending([...new Set([...bonded, ...extra])]);
        const period = Math.max(0, deal.released + a.skew);
        const caller = callerOf(a.caller);
        const valid = caller.settler && deal.status === DealStatus.Active && period === deal.released && deal.released < deal.periods &&
          paid.length <= deal.replicas && paid.every((h) => deal.bonds.has(h));
        partiesOf(m, deal);
        await expectOutcome(valid, () => f.storage(caller.wallet).releasePeriod(deal.chainId, period, paid));
        if (!valid) return;
        const fee = (deal.rate * m.bps.deals) / BPS;
        for (const host of paid) m.move(f.deployment.storageEscrow, host, deal.rate - fee);
        m.move(f.deployment.storageEscrow, f.deployment.treasury, fee * BigInt(paid.length));
        deal.remaining -= deal.rate * BigInt(paid.length);
        deal.released += 1;
      },
    }),
  );

const slashDeal = fc
  .record({ deal: fc.nat(), host: fc.nat(), share: fc.integer({ min: 1, max: 120 }), recipient: fc.nat(), fault: fc.integer({ min: 0, max: 3 }), caller: callerArb })
  .map(
    (a): Command => ({
      ...hasDeals,
      toString: () => `slashDeal(${JSON.stringify(a)})`,
      async run(m) {
        const deal = pickDeal(m, a.deal);
        const host = pickBonded(deal.bonds, a.host);
        const bond = deal.bonds.get(host) ?? 0n;
        const amount = (bond * BigInt(a.share)) / 100n || 1n;
        const recipient = pickParty(deal.bonds, a.recipient, deal);
        const caller = callerOf(a.caller);
        const valid = caller.settler && deal.status === DealStatus.Active && !deal.faults.has(a.fault) && amount <= bond &&
          mayGetSlash(deal, recipient, false);
        partiesOf(m, deal);
        await expectOutcome(valid, () => f.storage(caller.wallet).slash(deal.chainId, id(`fault-${a.fault}`), host, amount, recipient));
        if (!valid) return;
        deal.faults.add(a.fault);
        m.slash(deal.bonds, host, amount, recipient);
        if (deal.bonds.get(host) === 0n) {
          deal.bonds.delete(host);
          deal.left.add(host);
        }
      },
    }),
  );

const releaseBond = fc.record({ deal: fc.nat(), host: fc.nat() }).map(
  (a): Command => ({
    ...hasDeals,
    toString: () => `releaseBond(${JSON.stringify(a)})`,
    async run(m) {
      const deal = pickDeal(m, a.deal);
      const host = pickBonded(deal.bonds, a.host);
      const bond = deal.bonds.get(host) ?? 0n;
      const valid = deal.status === DealStatus.Active && bond > 0n;
      await expectOutcome(valid, () => f.storage(f.wallets.settler).releaseBond(deal.chainId, host));
      if (!valid) return;
      m.host(host).locked -= bond;
      deal.bonds.delete(host);
      deal.left.add(host);
    },
  }),
);

function closeDeal(m: Model, deal: DealModel, status: DealStatus): void {
  m.move(f.deployment.storageEscrow, deal.client, deal.remaining);
  deal.remaining = 0n;
  m.releaseAll(deal.bonds);
  deal.status = status;
}

const endDeal = fc.record({ deal: fc.nat() }).map(
  (a): Command => ({
    ...hasDeals,
    toString: () => `endDeal(${JSON.stringify(a)})`,
    async run(m) {
      const deal = pickDeal(m, a.deal);
      const valid = deal.status === DealStatus.Active;
      partiesOf(m, deal);
      await expectOutcome(valid, () => f.storage(f.wallets.settler).endDeal(deal.chainId));
      if (valid) closeDeal(m, deal, DealStatus.Ended);
    },
  }),
);

const reclaimDeal = fc.record({ deal: fc.nat(), who: fc.nat() }).map(
  (a): Command => ({
    ...hasDeals,
    toString: () => `reclaimDeal(${JSON.stringify(a)})`,
    async run(m, r) {
      const deal = pickDeal(m, a.deal);
      const { caller, ambiguous, byClient, allowed } = await reclaimer(r, deal, a.who);
      if (ambiguous) return;
      const valid = deal.status === DealStatus.Active && allowed;
      partiesOf(m, deal);
      await expectOutcome(valid, () => f.storage(caller).reclaim(deal.chainId));
      if (!valid) return;
      if (byClient) return closeDeal(m, deal, DealStatus.Reclaimed);
      // The host takes back its bond and leaves the deal.
      m.host(caller.address).locked -= deal.bonds.get(caller.address)!;
      deal.bonds.delete(caller.address);
      deal.left.add(caller.address);
    },
  }),
);

const unbond = fc.record({ host: fc.nat(), amount: fc.bigInt(1n, 3000n) }).map(
  (a): Command => ({
    ...always,
    toString: () => `requestUnbond(${JSON.stringify({ ...a, amount: String(a.amount) })})`,
    async run(m, r) {
      const host = pick(hosts, a.host);
      const valid = m.free(host.address) >= a.amount;
      await expectOutcome(valid, () => f.registry(host).requestUnbond(a.amount));
      if (!valid) return;
      const record = m.host(host.address);
      record.staked -= a.amount;
      record.unbonding += a.amount;
      record.withdrawableAt = (await r.now()) + UNBONDING_DELAY_SECONDS;
    },
  }),
);

const withdraw = fc.record({ host: fc.nat() }).map(
  (a): Command => ({
    ...always,
    toString: () => `withdraw(${JSON.stringify(a)})`,
    async run(m, r) {
      const unbonding = hosts.filter((h) => m.host(h.address).unbonding > 0n);
      const host = unbonding.length > 0 && a.host % 5 !== 4 ? pick(unbonding, a.host) : pick(hosts, a.host);
      const record = m.host(host.address);
      const now = await r.now();
      if (record.unbonding > 0n && Math.abs(record.withdrawableAt - now) < TIME_MARGIN) return;
      const valid = record.unbonding > 0n && now >= record.withdrawableAt;
      m.mayReceive.add(host.address);
      await expectOutcome(valid, () => f.registry(host).withdraw());
      if (!valid) return;
      m.move(f.deployment.hostRegistry, host.address, record.unbonding);
      record.unbonding = 0n;
      record.withdrawableAt = 0;
    },
  }),
);

const setCommission = fc.record({ storage: fc.boolean(), bps: fc.integer({ min: 0, max: 2200 }) }).map(
  (a): Command => ({
    ...always,
    toString: () => `setCommissionBps(${JSON.stringify(a)})`,
    async run(m) {
      const valid = a.bps <= 2000;
      const escrow = a.storage ? f.storage(f.wallets.governor) : f.escrow(f.wallets.governor);
      await expectOutcome(valid, () => escrow.setCommissionBps(a.bps));
      if (valid) m.bps[a.storage ? 'deals' : 'jobs'] = BigInt(a.bps);
    },
  }),
);

const timePasses = fc.constantFrom(600, RECLAIM_GRACE_SECONDS + 1000, UNBONDING_DELAY_SECONDS + 100, UNBONDING_DELAY_SECONDS + 100).map(
  (seconds): Command => ({
    ...always,
    toString: () => `timePasses(${seconds})`,
    run: () => f.increaseTime(seconds),
  }),
);

/** Every invariant, read from the chain: what the model predicts, what each contract owes, and who was paid. */
async function checkInvariants(m: Model): Promise<void> {
  const token = f.token();
  const [supply, jobs, deals, hostRecords, balances] = await Promise.all([
    token.totalSupply(),
    Promise.all(m.jobs.map(async (j) => ({ job: await f.escrow().jobOf(j.chainId), bonds: await f.escrow().bondsOf(j.chainId) }))),
    Promise.all(m.deals.map(async (d) => ({ deal: await f.storage().dealOf(d.chainId), bonds: await f.storage().bondsOf(d.chainId) }))),
    Promise.all(hosts.map((h) => f.registry().hostOf(h.address))),
    Promise.all([...m.balances.keys()].map(async (address) => [address, await token.balanceOf(address)] as const)),
  ]);
  expect(supply).toBe(initialSupply);

  // Nobody but the parties of what the command touched gained a token.
  const gainedBy = balances.filter(([address, balance]) => balance > (m.chainBalances.get(address) ?? 0n)).map(([address]) => address);
  expect(gainedBy.filter((address) => !m.mayReceive.has(address))).toEqual([]);
  m.chainBalances = new Map(balances);

  // Each contract holds exactly what it owes: escrows of open jobs, deposits of active deals, stakes.
  const owedByJobs = jobs.reduce((sum, { job }) => sum + (Number(job[4]) === EscrowStatus.Open ? job[1] : 0n), 0n);
  const owedByDeals = deals.reduce((sum, { deal }) => sum + (Number(deal[7]) === DealStatus.Active ? deal[1] : 0n), 0n);
  const owedByRegistry = hostRecords.reduce((sum, [, staked, , unbonding]) => sum + staked + unbonding, 0n);
  const balanceOf = new Map(balances);
  expect(balanceOf.get(f.deployment.jobEscrow)).toBe(owedByJobs);
  expect(balanceOf.get(f.deployment.storageEscrow)).toBe(owedByDeals);
  expect(balanceOf.get(f.deployment.hostRegistry)).toBe(owedByRegistry);

  // Every host's locked stake is the sum of its bonds in open jobs and active deals.
  const lockedPerHost = new Map<string, bigint>();
  for (const { bonds: [bonded, amounts] } of [...jobs, ...deals]) {
    bonded.forEach((host, i) => lockedPerHost.set(host, (lockedPerHost.get(host) ?? 0n) + amounts[i]));
  }
  hosts.forEach((h, i) => expect(hostRecords[i][2]).toBe(lockedPerHost.get(h.address) ?? 0n));

  // No stake is bonded without its host's consent to that very escrow.
  const escrowIds = [...m.jobs.map((j) => j.chainId), ...m.deals.map((d) => d.chainId)];
  const unconsented = [...jobs, ...deals].flatMap(({ bonds: [bonded] }, i) => bonded.map((host) => `${escrowIds[i]}/${host}`)).filter((key) => !m.consents.has(key));
  expect(unconsented).toEqual([]);

  // And the model agrees on every balance, job, deal and host.
  expect(Object.fromEntries(balances)).toEqual(Object.fromEntries(m.balances));
  expect(jobs.map(({ job, bonds }) => [Number(job[4]), new Map(bonds[0].map((h, i) => [h, bonds[1][i]]))])).toEqual(
    m.jobs.map((j) => [j.status, j.status === EscrowStatus.Open ? j.bonds : new Map()]),
  );
  expect(deals.map(({ deal, bonds }) => [Number(deal[7]), deal[1], Number(deal[5]), new Map(bonds[0].map((h, i) => [h, bonds[1][i]]))])).toEqual(
    m.deals.map((d) => [d.status, d.remaining, d.released, d.status === DealStatus.Active ? d.bonds : new Map()]),
  );
  expect(hostRecords.map(([, staked, locked, unbonding]) => ({ staked, locked, unbonding }))).toEqual(
    hosts.map((h) => {
      const { staked, locked, unbonding } = m.host(h.address);
      return { staked, locked, unbonding };
    }),
  );
}

beforeAll(async () => {
  f = await startChainFixture();
  const { clientA, clientB, host1, host2, host3 } = f.wallets;
  clients = [clientA, clientB];
  hosts = [host1, host2, host3];
  everyone = Object.values(f.wallets);
  for (const client of clients) {
    await f.fund(client.address, CLIENT_FUNDS);
    await f.approveEscrows(client);
  }
  for (const host of hosts) {
    await f.registerHost(host, HOST_STAKE);
    await (await f.token(host).approve(f.deployment.hostRegistry, MaxUint256)).wait();
  }
  initialSupply = await f.token().totalSupply();
  const tracked = [...everyone.map((w) => w.address), f.deployment.jobEscrow, f.deployment.storageEscrow, f.deployment.hostRegistry];
  initialBalances = new Map(await Promise.all([...new Set(tracked)].map(async (a) => [a, await f.token().balanceOf(a)] as const)));
  baseline = await f.snapshot();
});

afterAll(async () => {
  await f?.stop();
});

it('keeps every token accounted for through random sequences of every money-moving call', async () => {
  const real: Real = { now: () => f.latestTimestamp() };
  // Listed twice: drawn twice as often.
  const commands = [
    openJob, openJob, bondJob, bondJob, settleJob, settleJob, settleBatch, settleBatch, reclaimJob, reclaimJob, deposit, bondDeal,
    bondDeal, releasePeriod, releasePeriod, slashDeal, slashDeal, releaseBond, endDeal, reclaimDeal, unbond, withdraw, withdraw,
    setCommission, timePasses, timePasses,
  ];
  await fc.assert(
    fc.asyncProperty(fc.commands(commands, { maxCommands: 40, size: 'max' }), async (cmds) => {
      await fc.asyncModelRun(async () => {
        // anvil drops a snapshot when it reverts to it, so every run takes a new one of the same state.
        await f.revert(baseline);
        baseline = await f.snapshot();
        return { model: new Model(++run), real };
      }, withInvariants(cmds));
    }),
    { numRuns: RUNS },
  );
  // Guards against a generator change that quietly makes every command skip.
  expect(executed).toBeGreaterThan(RUNS * 3);
  console.log(`${run} sequences, ${executed} commands, each followed by every invariant check`);
}, 150_000 + RUNS * 2_000);

/** Runs the invariant check after every command of `cmds`. */
function withInvariants(cmds: Iterable<Command>): Iterable<Command> {
  return [...cmds].map((cmd) => ({
    check: (m: Readonly<Model>) => cmd.check(m),
    async run(m: Model, r: Real) {
      m.mayReceive = new Set();
      await cmd.run(m, r);
      await checkInvariants(m);
      executed++;
    },
    toString: () => cmd.toString(),
  }));
}
