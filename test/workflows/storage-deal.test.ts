import type { WorkflowHandle } from '@temporalio/client';
import { Worker } from '@temporalio/worker';
import type { OrchestratorActivities } from '../../activities';
import type { DealUpdate } from '../../activities/db';
import type { StorageHostActivities } from '../../host-worker/activities/types';
import { hostTaskQueue, ORCHESTRATOR_TASK_QUEUE } from '../../domain/execution';
import type { ProveReplicaInput, StoreReplicaInput } from '../../domain/replica';
import { cidOf, merkleProof, merkleRoot, segmentsOf, type StorageDealSpec } from '../../domain/storage';
import { matchAmong } from '../../domain/matching';
import { workflowBundle } from '../support/workflow-bundle';
import { fakeConsent, fakeDealPayment, host, useWorkflowServer, TREASURY } from './fakes';
import { dealStatusQuery, renewUpdate, storageDeal, type StorageDealInput } from '../../workflows';

/**
 * The storage deal workflow's decisions on a real Temporal server, its activities replaced by typed stand-ins that
 * keep real Merkle trees: a long deal continues as new and still pays every period once, in order; a host that
 * commits wrong roots at placement loses its bond and another host takes the replica. The end-to-end run with real
 * hosts, chain and staging is test/storage.test.ts.
 */
const HOSTS = [host('h1', '1000'), host('h2', '2000'), host('h3', '3000')];
const chunkData = [Buffer.alloc(10_000, 1), Buffer.alloc(5_000, 2)];
const spec: StorageDealSpec = {
  sizeBytes: 15_000, chunks: chunkData.map((d) => ({ cid: cidOf(d), bytes: d.length })), replicas: 2,
  // Shorter than a client may ask (the API's schema says at least 10 s periods): the workflow takes it as given.
  durationSeconds: 5, proofPeriodSeconds: 1, pricePerGibMonth: (10n ** 24n).toString(),
};
/** A host's replica of a chunk: bytes of its own, so every host has its own Merkle root. */
const replicaOf = (hostId: string, cid: string) => {
  const data = chunkData.find((d) => cidOf(d) === cid)!;
  return Buffer.from(data.map((b, i) => b ^ hostId.charCodeAt(1) ^ (i & 0xff)));
};
const rootsOf = (hostId: string, cids: string[]) => Object.fromEntries(cids.map((cid) => [cid, merkleRoot(segmentsOf(replicaOf(hostId, cid)))]));

describe('storageDeal workflow', () => {
  const server = useWorkflowServer();
  let run = 0;

  /** An honest host's storage activities, over replicas it keeps in memory. */
  function honestHost(hostId: string, roots = rootsOf): StorageHostActivities {
    return {
      storeReplica: async ({ chunks }: StoreReplicaInput) => ({ roots: roots(hostId, chunks.map((c) => c.cid)), bytes: 15_000 }),
      proveReplica: async ({ challenges }: ProveReplicaInput) => ({
        missing: [],
        proofs: challenges.map(({ cid, indexes }) => {
          const segments = segmentsOf(replicaOf(hostId, cid));
          return { cid, segments: indexes.map((index) => ({ index, data: Buffer.from(segments[index]).toString('hex'), proof: merkleProof(segments, index) })) };
        }),
      }),
      serveReplica: async () => ({ sealedSha256: 'f'.repeat(64), bytes: 0 }),
      deleteReplica: async () => undefined,
    };
  }

  async function runDeal(
    hosts: Record<string, StorageHostActivities>, extra: Partial<StorageDealInput> = {},
    during?: (handle: WorkflowHandle<typeof storageDeal>) => Promise<void>,
  ) {
    const dealId = `wf-deal-${++run}-${Date.now()}`;
    const released: number[] = [];
    /** Every chain step by the key it was made under: `<step> <chain key>[ <period or host>]`. */
    const steps: string[] = [];
    const slashed: string[] = [];
    const updates: DealUpdate[] = [];
    const stub = async () => {
      throw new Error('not used by storage deals');
    };
    const orchestrator: OrchestratorActivities = {
      recordJob: stub, findHost: stub, recordReputation: stub, lockEscrow: stub, settleJob: stub, fundClient: stub, bondHostStake: stub, settleJobBatch: stub,
      listOnlineHosts: async () => HOSTS,
      matchHost: async (query) => matchAmong(HOSTS, query),
      treasuryAddress: async () => TREASURY,
      recordDeal: async (u) => void updates.push(u),
      depositStorageDeal: async ({ dealId: key, payment }) => {
        steps.push(`deposit ${key.replace(dealId, 'deal')} ${payment.order.periods}`);
        return { txHash: '0x1', alreadyDeposited: false };
      },
      bondStorageHost: async ({ dealId: key, host: bonded }) => {
        steps.push(`bond ${key.replace(dealId, 'deal')} ${HOSTS.find((h) => h.address === bonded)!.id}`);
        return { txHash: '0x2', alreadyBonded: false };
      },
      releaseStoragePeriod: async ({ dealId: key, period, hosts: paid }) => {
        steps.push(`release ${key.replace(dealId, 'deal')} ${period}`);
        released.push(period);
        return { txHash: '0x3', alreadyReleased: false, paidToHosts: String(90 * paid.length), commission: String(10 * paid.length) };
      },
      slashStorageHost: async ({ faultKey }) => {
        slashed.push(faultKey);
        return { txHash: '0x4', alreadySlashed: false };
      },
      releaseStorageBond: async () => ({ txHash: null, released: '0' }),
      endStorageDeal: async ({ dealId: key }) => {
        steps.push(`end ${key.replace(dealId, 'deal')}`);
        return { txHash: '0x5', alreadyEnded: false, refunded: '42' };
      },
      expectedReplicaRoots: async ({ hostAddress, chunks }) => rootsOf(HOSTS.find((h) => h.address === hostAddress)!.id, chunks.map((c) => c.cid)),
      restageFromReplica: async () => ({ bytes: 0 }),
    };
    const workers = [
      await Worker.create({ connection: server().nativeConnection, taskQueue: ORCHESTRATOR_TASK_QUEUE, ...workflowBundle(), activities: orchestrator }),
      ...(await Promise.all(Object.entries(hosts).map(([id, activities]) =>
        Worker.create({ connection: server().nativeConnection, taskQueue: hostTaskQueue(id), activities: { ...activities, ...fakeConsent } })))),
    ];
    const handle = await server().client.workflow.start(storageDeal, {
      taskQueue: ORCHESTRATOR_TASK_QUEUE, workflowId: `deal-${dealId}`,
      args: [{ dealId, spec, payment: fakeDealPayment(extra.spec ?? spec), stagingUrl: 'http://staging.invalid', ...extra }],
    });
    const [first, ...rest] = workers;
    const finish = async () => {
      await during?.(handle);
      return handle.result();
    };
    const nest = (i: number): Promise<Awaited<ReturnType<typeof handle.result>>> => (i < rest.length ? rest[i].runUntil(nest(i + 1)) : finish());
    const status = await first.runUntil(nest(0));
    return { status, released, steps, slashed, updates, handle, firstRunId: handle.firstExecutionRunId };
  }

  it('continues as new every few periods and still pays every period once, in order, to the end', async () => {
    const { status, released, updates, handle, firstRunId } = await runDeal(
      { h1: honestHost('h1'), h2: honestHost('h2'), h3: honestHost('h3') }, { periodsPerRun: 2 },
    );
    expect(status).toMatchObject({ state: 'ENDED', periods: 5, periodsReleased: 5, paidToHosts: '900', commission: '100', refunded: '42', slashed: '0' });
    expect(released).toEqual([0, 1, 2, 3, 4]);
    expect(status.holders.map((h) => [h.hostId, h.proofsOk, h.proofsFailed]).sort()).toEqual([['h1', 5, 0], ['h2', 5, 0]]);
    expect(status.timeline.filter((t) => t.step.startsWith('continuing as new'))).toHaveLength(2);
    // The first run ended by continuing as new; the deal is the same workflow id across runs.
    const first = await server().client.workflow.getHandle(handle.workflowId, firstRunId).describe();
    expect(first.status.name).toBe('CONTINUED_AS_NEW');
    expect(updates.at(-1)).toMatchObject({ state: 'ENDED', periodsReleased: 5 });
  }, 60_000);

  it('slashes a host that commits wrong roots at placement and places the replica on another host', async () => {
    const lying = honestHost('h1', (_id, cids) => rootsOf('h3', cids));
    const { status, slashed } = await runDeal({ h1: lying, h2: honestHost('h2'), h3: honestHost('h3') }, { spec: { ...spec, durationSeconds: 2 } });
    expect(slashed).toEqual(['placement/h1']);
    expect(status.state).toBe('ENDED');
    expect(status.holders.map((h) => [h.hostId, h.state, h.slashed !== '0']).sort()).toEqual([
      ['h1', 'REMOVED', true], ['h2', 'REMOVED', false], ['h3', 'REMOVED', false],
    ]);
    expect(status.holders.filter((h) => h.proofsOk > 0).map((h) => h.hostId).sort()).toEqual(['h2', 'h3']);
    expect(status.timeline.some((t) => t.step === 'h1 committed wrong roots for 2 chunk(s): slashed')).toBe(true);
  }, 60_000);

  it('renews an active deal: a new term is deposited, the holders bond to it when it begins, each term ends once', async () => {
    let accepted: unknown;
    const { status, steps } = await runDeal({ h1: honestHost('h1'), h2: honestHost('h2') }, { spec: { ...spec, durationSeconds: 2 } }, async (handle) => {
      for (;;) {
        if ((await handle.query(dealStatusQuery)).state === 'ACTIVE') break;
        await new Promise((r) => setTimeout(r, 50));
      }
      const renewed = { ...spec, durationSeconds: 2 };
      await expect(handle.executeUpdate(renewUpdate, { args: [{ durationSeconds: 0, payment: fakeDealPayment(renewed, 0) }] }))
        .rejects.toMatchObject({ cause: { message: expect.stringMatching(/^durationSeconds: must be a whole number/) } });
      // An order that pays for fewer periods than the renewal asks is refused before anything is deposited.
      await expect(handle.executeUpdate(renewUpdate, { args: [{ durationSeconds: 3, payment: fakeDealPayment(renewed, 2) }] }))
        .rejects.toMatchObject({ cause: { message: 'payment.order.periods: 2 is not the term\'s 3 periods' } });
      accepted = await handle.executeUpdate(renewUpdate, { args: [{ durationSeconds: 3, payment: fakeDealPayment(renewed, 3) }] });
    });
    expect(accepted).toMatchObject({ periods: 5 });
    expect(status).toMatchObject({ state: 'ENDED', periods: 5, periodsReleased: 5, refunded: '84' });
    expect(status.terms.map((t) => [t.chainKey.replace(/^.*\/term/, 'term'), t.firstPeriod, t.periods, t.ended])).toEqual([
      [expect.stringMatching(/^wf-deal-/), 0, 2, true], ['term-2', 2, 3, true],
    ]);
    // The holders bond to the new term (in either order) before the first term ends.
    const chainSteps = steps.filter((x) => !x.startsWith('bond deal '));
    expect(chainSteps.slice(4, 6).sort()).toEqual(['bond deal/term-2 h1', 'bond deal/term-2 h2']);
    expect([...chainSteps.slice(0, 4), ...chainSteps.slice(6)]).toEqual([
      'deposit deal 2', 'deposit deal/term-2 3', 'release deal 0', 'release deal 1',
      'end deal', 'release deal/term-2 0', 'release deal/term-2 1', 'release deal/term-2 2', 'end deal/term-2',
    ]);
  }, 60_000);
});
