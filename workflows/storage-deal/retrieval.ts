import { ApplicationFailure, setHandler } from '@temporalio/workflow';
import { ZansocErrorType } from '../../domain/errors';
import { healthiestFirst } from '../../domain/storage-deal';
import { failureMessage } from '../common';
import { retrieveUpdate, type RetrieveAnswer, type RetrieveRequest } from './messages';
import { storageHost } from './presets';
import type { DealRun } from './state';

/** Takes retrievals of an ACTIVE deal's chunks: the healthiest holder that answers puts its replica in staging. */
export function handleRetrievals(deal: DealRun): void {
  const { dealId, stagingUrl, status } = deal;
  setHandler(retrieveUpdate, async ({ cid }: RetrieveRequest): Promise<RetrieveAnswer> => {
    const tried: string[] = [];
    for (const holder of healthiestFirst(deal.active())) {
      try {
        const served = await storageHost(holder.hostId, 'serve').serveReplica({ dealId, cid, stagingUrl });
        return { cid, hostId: holder.hostId, hostAddress: holder.address, sealedSha256: served.sealedSha256 };
      } catch (err) {
        tried.push(`${holder.hostId}: ${failureMessage(err)}`);
      }
    }
    throw ApplicationFailure.create({ type: ZansocErrorType.RetrievalFailed, nonRetryable: true, message: `no holder served ${cid}: ${tried.join('; ') || 'none is active'}` });
  }, {
    validator: ({ cid }: RetrieveRequest) => {
      if (!deal.chunks.some((c) => c.cid === cid)) throw new Error(`cid: deal ${dealId} has no chunk ${cid}`);
      if (status.state !== 'ACTIVE') throw new Error(`deal ${dealId} is ${status.state}: only an ACTIVE deal's chunks can be retrieved`);
    },
  });
}
