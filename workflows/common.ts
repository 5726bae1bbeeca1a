import { ActivityFailure, condition, defineSignal, patched, proxyActivities, setHandler, sleep, upsertSearchAttributes, type ActivityOptions } from '@temporalio/workflow';
import type { BondConsentRequest, ConsentActivities } from '../host-worker/activities/types';
import { hostTaskQueue } from '../domain/execution';
import type { SignedBondConsent } from '../domain/orders';
import type { Resources } from '../domain/job-spec';
import { drawWeighted, eligibleHosts, explainWait, operatorOf, rankHosts, type HostCandidate } from '../domain/matching';
import { HOST_WAIT } from '../domain/search-attributes';
import { readModel } from './presets';

/** Helpers every workflow shares: work pinned to a host, waiting for a host that fits, readable failures. */

/** How runs from before the API's wake-ups waited: a look at the hosts every 2 s. */
const MATCH_POLL = '2 seconds';
/**
 * Between wake-ups a wait still looks at the hosts this often: a safety net for a wake-up lost on the way (the API
 * died between a host's report and its signals), not the way work finds hosts. 48 looks a day.
 */
export const CAPACITY_RECHECK_MS = 30 * 60 * 1000;

/**
 * Hosts' capacity rose (a host joined or came back, or freed a slot): the API signals the workflows whose search
 * attribute HostWait says they wait for a host (api/capacity.ts).
 */
export const capacitySignal = defineSignal('capacityChanged');

/** How many wake-ups this workflow has had (what its waits for a host wait on), and how many of its waits wait now. */
export interface CapacityWatch {
  wakes: number;
  /** Slots of one job may wait at once: the workflow counts as waiting (HostWait) while any of them does. */
  waiters: number;
}

/** Counts this workflow's wake-ups; called once, at the start of a workflow that waits for hosts. */
export function watchCapacity(): CapacityWatch {
  const watch = { wakes: 0, waiters: 0 };
  setHandler(capacitySignal, () => {
    watch.wakes += 1;
  });
  return watch;
}

/** Activities of type `T` on one host's own queue (`host.<id>`), with the caller's timeouts and retries. */
export function onHost<T>(hostId: string, options: Omit<ActivityOptions, 'taskQueue'>) {
  return proxyActivities<T>({ ...options, taskQueue: hostTaskQueue(hostId) });
}

/**
 * The host's signed consent to a bond, asked on its own queue: its stake is locked only with it. A host that does not
 * answer within a minute is not there. Runs from before hosts consented bonded without asking (null).
 */
export async function consentOf(hostId: string, request: BondConsentRequest): Promise<SignedBondConsent | null> {
  if (!patched('host-consents-to-bond')) return null;
  const host = onHost<ConsentActivities>(hostId, { scheduleToCloseTimeout: '1 minute', startToCloseTimeout: '20 seconds' });
  return host.consentToBond(request);
}

export interface HostWait {
  resources: Resources;
  /** Workflow time after which no host is waited for. */
  giveUpAtMs: number;
  /** Hosts (and their operators) already involved: never picked again. */
  exclude: string[];
  excludeOperators: string[];
  /** The image the work runs: only hosts that advertise it are matched. */
  image?: string;
  /** Told why nothing fits, each time the reason changes. */
  tellWaiting?: (reason: string) => Promise<void>;
  /**
   * Draw the host at random, weighted by stake, with this randomness (workflow Math.random) instead of taking the
   * cheapest: how verifiers and arbiters are picked, so that no price wins a check.
   */
  draw?: () => number;
  /** This workflow's wake-ups (watchCapacity): with it, nothing runs while nothing changes. */
  capacity?: CapacityWatch;
}

/**
 * Looks for the best fitting online host not excluded (or one drawn by stake) until one is free or the wait gives
 * up, looking again on each wake-up from the API (and every CAPACITY_RECHECK_MS); the host found is
 * claimed (added to the exclusions) before anything else runs, so that slots matching at the same time never pick
 * the same host or operator.
 */
export async function waitForHost({ resources, giveUpAtMs, exclude, excludeOperators, image: wanted, tellWaiting, draw, capacity }: HostWait): Promise<HostCandidate | null> {
  let lastReason = '';
  // Runs recorded before hosts advertised their images matched on resources alone.
  const image = wanted !== undefined && patched('match-hosts-by-image') ? wanted : undefined;
  // Runs recorded before the API's wake-ups looked at the hosts every MATCH_POLL.
  const woken = capacity !== undefined && patched('wait-for-capacity') ? capacity : undefined;
  // Runs from before matched in the workflow, on every online host read into the history at each look.
  const inActivity = patched('match-in-activity');
  let waiting = false;
  try {
    for (;;) {
      // Taken before the look, so that a wake-up while the hosts are read is not missed.
      const seen = woken?.wakes ?? 0;
      let best: HostCandidate | null;
      let reason: () => string;
      if (inActivity) {
        const match = await readModel.matchHost({
          resources, exclude: [...exclude], excludeOperators: [...excludeOperators], ...(image !== undefined ? { image } : {}),
          ...(draw ? { draw: draw() } : {}), explain: tellWaiting !== undefined,
        });
        // Another slot of the same work may have claimed this host, or its operator, while the match ran: look again.
        if (match.host && (exclude.includes(match.host.id) || excludeOperators.includes(operatorOf(match.host)))) continue;
        best = match.host;
        reason = () => match.waitReason ?? '';
      } else {
        const hosts = await readModel.listOnlineHosts();
        best = (draw ? drawWeighted(eligibleHosts(hosts, resources, exclude, excludeOperators, image), draw) : rankHosts(hosts, resources, exclude, excludeOperators, image)[0]) ?? null;
        reason = () => explainWait(hosts, resources, exclude, excludeOperators, image);
      }
      if (best) {
        exclude.push(best.id);
        excludeOperators.push(operatorOf(best));
        return best;
      }
      if (Date.now() >= giveUpAtMs) return null;
      if (tellWaiting) {
        const why = reason();
        if (why !== lastReason) await tellWaiting(why);
        lastReason = why;
      }
      if (!woken) {
        await sleep(MATCH_POLL);
        continue;
      }
      if (!waiting) {
        waiting = true;
        if (woken.waiters++ === 0) upsertSearchAttributes([{ key: HOST_WAIT, value: 'waiting' }]);
      }
      // A timer and nothing else until a wake-up, the recheck, or the end of the wait: no history grows meanwhile.
      await condition(() => woken.wakes !== seen, Math.max(1, Math.min(CAPACITY_RECHECK_MS, giveUpAtMs - Date.now())));
    }
  } finally {
    // Matched, given up or cancelled: this wait is over, and the workflow waits no more once none of its waits does.
    if (woken && waiting && --woken.waiters === 0) upsertSearchAttributes([{ key: HOST_WAIT, value: null }]);
  }
}

/** The message of an activity's failure (its cause), or of any other error. */
export function failureMessage(err: unknown): string {
  const cause = err instanceof ActivityFailure && err.cause ? err.cause : err;
  return cause instanceof Error ? cause.message : String(cause);
}
