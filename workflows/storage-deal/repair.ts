import type { DealTerm } from '../../domain/storage-deal';
import { checks, storageHost } from './presets';
import type { HolderStatus } from './messages';
import { placeReplica, slashHolder } from './placement';
import type { DealRun } from './state';

/** A holder with repeated faults loses its bond, and its replica is rebuilt on a new host to keep r copies. */
export async function slashAndRepair(deal: DealRun, holder: HolderStatus, term: DealTerm, period: number): Promise<void> {
  await slashHolder(deal, holder, `period-${period}/${holder.hostId}`, term);
  deal.note(`${holder.hostId} slashed after repeated faults; repairing its replica`);
  if (!(await repair(deal, term))) deal.note('no host could take the repaired replica: the deal runs with fewer');
}

/** Copies the chunks from a healthy holder's replica back into staging, then places a new replica from there. */
async function repair(deal: DealRun, term: DealTerm): Promise<boolean> {
  const { dealId, stagingUrl } = deal;
  const source = deal.active()[0];
  if (source) {
    for (const { cid } of deal.chunks) {
      const served = await storageHost(source.hostId, 'serve').serveReplica({ dealId, cid, stagingUrl });
      await checks.restageFromReplica({ dealId, hostAddress: source.address, cid, sealedSha256: served.sealedSha256, stagingUrl });
    }
  }
  const placed = await placeReplica(deal, term);
  if (placed) deal.countRepair();
  return placed !== null;
}
