import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { id as keccakOfText, Wallet } from 'ethers';
import { DefaultLogger, Runtime, type Worker } from '@temporalio/worker';
import { ALL_SEARCH_ATTRIBUTES } from '../../domain/search-attributes';
import { resolveTemporalCli } from '../../scripts/temporal-server';
import type { OrchestratorActivities } from '../../activities';
import type { SlotResult } from '../../domain/execution';
import { matchAmong, type HostCandidate } from '../../domain/matching';
import { NO_PERMIT, type SignedDealOrder, type SignedJobOrder } from '../../domain/orders';
import { dealPeriods, ratePerHostPeriod, type StorageDealSpec } from '../../domain/storage';
import { sealResults } from '../../host-worker/activities/compute';
import type { ConsentActivities, HostActivities } from '../../host-worker/activities/types';

/** Stand-ins for the workflows' tests, typed as the real activities so they cannot drift. */
/** The image every stand-in host advertises: the project's job image, at a made-up digest. */
export const JOB_IMAGE_PINNED = `zansoc/busybox:1@sha256:${'9'.repeat(64)}`;

export const TREASURY = '0x00000000000000000000000000000000000000aa';

/** A test host's key: the same for the same id, so its address is known before it signs anything. */
export const walletOf = (id: string): Wallet => new Wallet(keccakOfText(`zansoc test host ${id}`));

export const host = (id: string, price = '1000'): HostCandidate => ({
  id, address: walletOf(id).address, arch: 'x86_64', cpus: 2, memoryMiB: 2048, diskMiB: 10_000, gpus: 0,
  freeSlots: 2, pricePerCpuSecond: price, pricePerGibSecond: '0', pricePerGpuSecond: '0', images: [JOB_IMAGE_PINNED],
});

export const okResult: SlotResult = {
  exitCode: 0, timedOut: false, oomKilled: false, outputSha256: 'a'.repeat(64), outputBytes: 1024, resultDigest: 'b'.repeat(64),
  logsSha256: 'c'.repeat(64), logsBytes: 3, logsTruncated: false, durationMs: 2000,
};

/** The client of the workflows' tests: its orders are relayed by the fake lockEscrow, which checks no signature. */
export const CLIENT = '0x00000000000000000000000000000000000000c1';

/** A job's signed order as the API hands it over; the fake chain takes it as it is. */
export const fakePayment = (jobId: string, maxPrice = '1000', slots = 1): SignedJobOrder => ({
  order: { client: CLIENT, jobId: `0x${'1'.repeat(64)}`, specHash: `0x${'2'.repeat(64)}`, pricePerSlot: maxPrice, slots, deadline: 2 ** 40, nonce: '0' },
  signature: `0x${jobId.length.toString(16).padStart(130, '0')}`, permit: NO_PERMIT,
});

/** A deal term's signed order paying for `spec` over `periods` (the deal's whole first term unless given). */
export function fakeDealPayment(spec: StorageDealSpec, periods = dealPeriods(spec.durationSeconds, spec.proofPeriodSeconds)): SignedDealOrder {
  const rate = ratePerHostPeriod({ sizeBytes: spec.sizeBytes, pricePerGibMonth: BigInt(spec.pricePerGibMonth), periodSeconds: spec.proofPeriodSeconds });
  return {
    order: {
      client: CLIENT, dealId: `0x${'3'.repeat(64)}`, specHash: `0x${'4'.repeat(64)}`, ratePerHostPeriod: rate.toString(), replicas: spec.replicas, periods,
      deadline: 2 ** 40, nonce: '0',
    },
    signature: '0x', permit: NO_PERMIT,
  };
}

/**
 * A host's activities around a stand-in for running its slot: sealed (committed, revealed, signed with the host's key)
 * by the real host code, host-worker/activities/compute.ts, in a folder of its own.
 */
export function hostActivities(id: string, executeSlot: HostActivities['executeSlot'], signer: Wallet = walletOf(id)): HostActivities & ConsentActivities {
  const dir = mkdtempSync(join(tmpdir(), `zansoc-sealed-${id}-`));
  return { executeSlot, ...sealResults(executeSlot, { signer, chainId: 31337, dir }), ...fakeConsent };
}

/** A host that consents to every bond it is asked for (the real one signs BondConsent, host-worker/activities/consent.ts). */
export const fakeConsent: ConsentActivities = { consentToBond: async () => ({ deadline: 2 ** 40, signature: '0x' }) };

/** Every orchestrator activity answering as a healthy chain and database would; `overrides` replace some. */
export function fakeOrchestrator(overrides: Partial<OrchestratorActivities> = {}): OrchestratorActivities {
  const listOnlineHosts = overrides.listOnlineHosts ?? (async () => [host('h1'), host('h2', '2000')]);
  return {
    recordJob: async () => undefined,
    listOnlineHosts,
    // The real activity's matching (activities/db.ts) over the hosts this test has online.
    matchHost: async (query) => matchAmong(await listOnlineHosts(), query),
    findHost: async ({ hostId }) => ({ id: hostId, address: host(hostId).address }),
    recordReputation: async () => undefined,
    lockEscrow: async () => ({ txHash: '0x1', alreadyLocked: false }),
    settleJob: async ({ payouts }) => ({
      txHash: '0x2', alreadySettled: false, paidToHosts: payouts.reduce((s, p) => s + BigInt(p.amount), 0n).toString(), commission: '0', refunded: '0',
    }),
    fundClient: async () => ({ txHash: '0x3' }),
    bondHostStake: async () => ({ txHash: '0x4', alreadyBonded: false }),
    treasuryAddress: async () => TREASURY,
    settleJobBatch: async ({ settlements }) => ({
      txHash: '0x5', settlements: settlements.map(({ jobId }) => ({ jobId, txHash: '0x5', alreadySettled: false, paidToHosts: '0', commission: '0', refunded: '0' })),
    }),
    depositStorageDeal: async () => ({ txHash: '0x6', alreadyDeposited: false }),
    bondStorageHost: async () => ({ txHash: '0x7', alreadyBonded: false }),
    releaseStoragePeriod: async () => ({ txHash: '0x8', alreadyReleased: false, paidToHosts: '0', commission: '0' }),
    slashStorageHost: async () => ({ txHash: '0x9', alreadySlashed: false }),
    releaseStorageBond: async () => ({ txHash: '0xa', released: '0' }),
    endStorageDeal: async () => ({ txHash: '0xb', alreadyEnded: false, refunded: '0' }),
    recordDeal: async () => undefined,
    expectedReplicaRoots: async () => ({}),
    restageFromReplica: async () => ({ bytes: 0 }),
    ...overrides,
  };
}

/** Runs every worker until `promise` settles. */
export async function runUntil<T>(workers: Worker[], promise: Promise<T>): Promise<T> {
  const [first, ...rest] = workers;
  const nest = (i: number): Promise<T> => (i < rest.length ? rest[i].runUntil(nest(i + 1)) : promise);
  return first.runUntil(nest(0));
}

/**
 * A real Temporal dev server for the enclosing describe block, with every search attribute the workflows set: started
 * before its tests, stopped after them. Returns the running environment's getter.
 */
export function useWorkflowServer(): () => TestWorkflowEnvironment {
  let env: TestWorkflowEnvironment | undefined;
  beforeAll(async () => {
    Runtime.install({ logger: new DefaultLogger('WARN') });
    env = await TestWorkflowEnvironment.createLocal({
      server: { executable: { type: 'existing-path', path: resolveTemporalCli() }, searchAttributes: ALL_SEARCH_ATTRIBUTES },
    });
  }, 120_000);
  afterAll(async () => {
    await env?.teardown();
  });
  return () => env!;
}
