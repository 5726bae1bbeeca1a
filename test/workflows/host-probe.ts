import { ActivityFailure, condition, defineQuery, defineSignal, proxyActivities, setHandler } from '@temporalio/workflow';
import type { BondConsentRequest, ConsentActivities } from '../../host-worker/activities/types';
import type { SignedBondConsent } from '../../domain/orders';

/**
 * A workflow the Temporal authorization test runs: asks a host for an activity on its own queue, then stays open
 * until told to finish, so that other callers can try to read, signal or end it meanwhile.
 */
export interface HostProbeInput {
  hostQueue: string;
  /** `consentToBond` is a host's activity; any other name is one a host may not answer. */
  activity: string;
  request: BondConsentRequest;
}

export interface HostProbeState {
  consent?: SignedBondConsent;
  /** Why the activity failed, when it did. */
  failure?: string;
  pokes: number;
}

export const hostProbeState = defineQuery<HostProbeState>('state');
export const poke = defineSignal('poke');
export const finish = defineSignal('finish');

export async function hostProbe({ hostQueue, activity, request }: HostProbeInput): Promise<HostProbeState> {
  const state: HostProbeState = { pokes: 0 };
  let finished = false;
  setHandler(hostProbeState, () => state);
  setHandler(poke, () => void state.pokes++);
  setHandler(finish, () => void (finished = true));
  const host = proxyActivities<Record<string, ConsentActivities['consentToBond']>>({
    taskQueue: hostQueue, startToCloseTimeout: '4 seconds', retry: { maximumAttempts: 1 },
  });
  try {
    state.consent = await host[activity](request);
  } catch (err) {
    if (!(err instanceof ActivityFailure)) throw err;
    state.failure = `${err.cause?.name}: ${err.cause?.message}`;
  }
  await condition(() => finished);
  return state;
}
