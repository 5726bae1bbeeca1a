import { isCancellation, uuid4 } from '@temporalio/workflow';
import type { ProveReplicaResult } from '../../domain/replica';
import { CHUNKS_PER_PROOF, nextFaultState } from '../../domain/storage';
import { drawChallenges, proofHolds, type DealTerm } from '../../domain/storage-deal';
import { failureMessage } from '../common';
import { chain } from '../presets';
import type { HolderStatus } from './messages';
import { storageHost } from './presets';
import type { DealRun } from './state';

/**
 * Segments a host must produce per challenged chunk (CHUNKS_PER_PROOF chunks a proof). Every answer goes into the
 * history (about 2.7 KB a segment with its path): with 3 holders a period adds some 35 KB, so a run of
 * PERIODS_PER_RUN stays under 2 MB.
 */
const SEGMENTS_PER_CHUNK = 2;

/**
 * One period: every active holder is challenged, its fault count follows, and the period's pay is released to
 * those that proved. Returns the holders whose repeated faults call for a slash and a repair.
 */
export async function provePeriod(deal: DealRun, term: DealTerm, period: number): Promise<HolderStatus[]> {
  const holders = deal.active();
  const proved = await Promise.all(holders.map((holder) => prove(deal, holder)));
  const faulty: HolderStatus[] = [];
  holders.forEach((holder, i) => {
    const fault = nextFaultState(holder.consecutiveFaults, proved[i]);
    holder.consecutiveFaults = fault.consecutiveFaults;
    deal.countProof(proved[i]);
    if (proved[i]) {
      holder.proofsOk++;
    } else {
      holder.proofsFailed++;
      deal.note(`period ${period}: ${holder.hostId} failed its proof (${fault.consecutiveFaults} in a row)`);
    }
    if (fault.slashAndRepair) faulty.push(holder);
  });
  const released = await chain.releaseStoragePeriod({
    dealId: term.chainKey, client: deal.client, period: period - term.firstPeriod, hosts: holders.filter((_, i) => proved[i]).map((h) => h.address),
  });
  deal.add('paidToHosts', released.paidToHosts);
  deal.add('commission', released.commission);
  deal.status.periodsReleased = period + 1;
  return faulty;
}

/** Checks one holder for one period: random chunks, random segments, each against the root it committed. */
async function prove(deal: DealRun, holder: HolderStatus): Promise<boolean> {
  const seedHex = uuid4().replace(/-/g, '');
  const challenges = drawChallenges({ seedHex, chunks: deal.chunks, chunkCount: CHUNKS_PER_PROOF, segmentsPerChunk: SEGMENTS_PER_CHUNK, random: () => Math.random() });
  let answer: ProveReplicaResult;
  try {
    answer = await storageHost(holder.hostId, 'prove').proveReplica({ dealId: deal.dealId, challenges });
  } catch (err) {
    if (isCancellation(err)) throw err;
    deal.note(`${holder.hostId} did not prove: ${failureMessage(err)}`);
    return false;
  }
  return proofHolds({ challenges, answer, chunks: deal.chunks, roots: holder.roots });
}
