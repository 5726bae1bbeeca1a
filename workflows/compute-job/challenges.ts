import { ApplicationFailure, setHandler } from '@temporalio/workflow';
import { ZansocErrorType } from '../../domain/errors';
import { hostBondFor } from '../../domain/money';
import { consentOf, failureMessage } from '../common';
import { chain, readModel } from '../presets';
import { challengeUpdate, type ChallengeAccepted, type ChallengeRequest, type ChallengeStatus } from './messages';
import type { JobRun } from './run-state';

/** Challenges: accepted while the result is PROVISIONAL, with the verifier's stake locked; decided once the window closes. */
export function acceptChallenges(run: JobRun): void {
  const { jobId, spec, status } = run;
  const refuseChallenge = ({ verifierHostId }: ChallengeRequest) => {
    if (typeof verifierHostId !== 'string' || !/^[a-z0-9][a-z0-9-]{0,62}$/.test(verifierHostId)) {
      throw new Error('verifierHostId: must be a host id (lowercase letters, digits and dashes)');
    }
    if (status.state !== 'PROVISIONAL' || run.windowEndsAtMs === null) {
      throw new Error(`job ${jobId} is ${status.state}: only a PROVISIONAL result can be challenged`);
    }
    if (run.windowClosed || Date.now() >= run.windowEndsAtMs) throw new Error(`the challenge window closed at ${status.challengeWindowEndsAt}`);
    if (status.challenges.some((c) => c.verifierHostId === verifierHostId)) throw new Error(`verifier ${verifierHostId} already challenged this job`);
    if (run.used.includes(verifierHostId)) throw new Error(`host ${verifierHostId} ran this job and cannot challenge it`);
  };
  setHandler(challengeUpdate, async (request: ChallengeRequest): Promise<ChallengeAccepted> => {
    refuseChallenge(request);
    const { verifierHostId } = request;
    const stake = hostBondFor(spec.maxPrice);
    const challenge: ChallengeStatus = { verifierHostId, state: 'BONDING', stake, at: new Date().toISOString() };
    status.challenges.push(challenge);
    run.used.push(verifierHostId);
    run.bonding++;
    try {
      const verifier = await readModel.findHost({ hostId: verifierHostId });
      if (!verifier) throw new Error(`verifierHostId: no registered host ${verifierHostId}`);
      const consent = await consentOf(verifierHostId, { escrow: 'job', client: run.client, id: jobId, amount: stake });
      await chain.bondHostStake({ jobId, client: run.client, host: verifier.address, amount: stake, consent });
      run.accusers.set(verifierHostId, verifier.address);
      challenge.state = 'PENDING';
      run.note(`challenged by ${verifierHostId} (stake ${stake})`);
      return { verifierHostId, stake, challengeWindowEndsAt: status.challengeWindowEndsAt! };
    } catch (err) {
      status.challenges.splice(status.challenges.indexOf(challenge), 1);
      run.used.splice(run.used.indexOf(verifierHostId), 1);
      throw ApplicationFailure.create({ type: ZansocErrorType.ChallengeRefused, nonRetryable: true, message: `challenge refused: ${failureMessage(err)}` });
    } finally {
      run.bonding--;
    }
  }, { validator: refuseChallenge });
}
