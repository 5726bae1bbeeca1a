import { ActivityFailure, patched, proxyActivities, sleep, type ActivityOptions } from '@temporalio/workflow';
import type { BondConsentRequest, ConsentActivities } from '../host-worker/activities/types';
import { hostTaskQueue } from '../domain/execution';
import type { SignedBondConsent } from '../domain/orders';
import type { Resources } from '../domain/job-spec';
import { drawWeighted, eligibleHosts, explainWait, operatorOf, rankHosts, type HostCandidate } from '../domain/matching';
import { readModel } from './presets';

/** Helpers every workflow shares: work pinned to a host, waiting for a host that fits, readable failures. */

const MATCH_POLL = '2 seconds';

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
}

/**
 * Polls for the best fitting online host not excluded (or one drawn by stake) until one is free or the wait gives up; the host found is
 * claimed (added to the exclusions) before anything else runs, so that slots matching at the same time never pick
 * the same host or operator.
 */
export async function waitForHost({ resources, giveUpAtMs, exclude, excludeOperators, image: wanted, tellWaiting, draw }: HostWait): Promise<HostCandidate | null> {
  let lastReason = '';
  // Runs recorded before hosts advertised their images matched on resources alone.
  const image = wanted !== undefined && patched('match-hosts-by-image') ? wanted : undefined;
  for (;;) {
    const hosts = await readModel.listOnlineHosts();
    const best = draw ? drawWeighted(eligibleHosts(hosts, resources, exclude, excludeOperators, image), draw) : rankHosts(hosts, resources, exclude, excludeOperators, image)[0];
    if (best) {
      exclude.push(best.id);
      excludeOperators.push(operatorOf(best));
      return best;
    }
    if (Date.now() >= giveUpAtMs) return null;
    if (tellWaiting) {
      const reason = explainWait(hosts, resources, exclude, excludeOperators, image);
      if (reason !== lastReason) await tellWaiting(reason);
      lastReason = reason;
    }
    await sleep(MATCH_POLL);
  }
}

/** The message of an activity's failure (its cause), or of any other error. */
export function failureMessage(err: unknown): string {
  const cause = err instanceof ActivityFailure && err.cause ? err.cause : err;
  return cause instanceof Error ? cause.message : String(cause);
}
