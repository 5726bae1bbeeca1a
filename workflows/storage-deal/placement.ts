import { isCancellation, log } from '@temporalio/workflow';
import { chunksWithWrongRoots, PLACEMENT_TIMEOUT_MS, type DealTerm } from '../../domain/storage-deal';
import { consentOf, failureMessage, waitForHost } from '../common';
import { chain } from '../presets';
import type { HolderStatus } from './messages';
import { checks, storageHost } from './presets';
import type { DealRun } from './state';

/** Hosts each replica may be tried on while placing or repairing. */
const MAX_PLACEMENT_ATTEMPTS = 3;

/** Places every replica at once on distinct hosts; false (the deal FAILED) when some could not be placed. */
export async function placeReplicas(deal: DealRun): Promise<boolean> {
  const { spec, status } = deal;
  await deal.moveTo('PLACING', `placing ${spec.replicas} replica(s)`);
  const placed = await Promise.all(Array.from({ length: spec.replicas }, () => placeReplica(deal, status.terms[0])));
  if (placed.some((p) => p === null)) {
    status.reason = `only ${placed.filter(Boolean).length} of ${spec.replicas} replicas could be placed`;
    status.state = 'FAILED';
    return false;
  }
  status.endsAt = new Date(Date.now() + status.periods * spec.proofPeriodSeconds * 1000).toISOString();
  await deal.moveTo('ACTIVE', null);
  return true;
}

/**
 * Finds a host for one replica, bonds it, has it store and seal every chunk, and checks its roots against the
 * staged data. A host whose roots are wrong loses its bond; one that fails or vanishes loses the attempt.
 */
export async function placeReplica(deal: DealRun, term: DealTerm): Promise<HolderStatus | null> {
  const { dealId, chunks, stagingUrl } = deal;
  const giveUpAtMs = Date.now() + PLACEMENT_TIMEOUT_MS;
  const resources = { cpu: 0.1, memoryMiB: 16, diskMiB: Math.max(1, Math.ceil(deal.spec.sizeBytes / (1024 * 1024))), gpu: 0 };
  for (let attempt = 0; attempt < MAX_PLACEMENT_ATTEMPTS; attempt++) {
    const host = await waitForHost({ resources, giveUpAtMs, exclude: deal.used, excludeOperators: deal.usedOperators, capacity: deal.capacity });
    if (!host) return null;
    const holder: HolderStatus = {
      hostId: host.id, address: host.address, state: 'STORING', proofsOk: 0, proofsFailed: 0, consecutiveFaults: 0, bond: '0', slashed: '0', roots: {},
    };
    try {
      const amount = deal.bond.toString();
      const consent = await consentOf(host.id, { escrow: 'storage', client: deal.client, id: term.chainKey, amount });
      await chain.bondStorageHost({ dealId: term.chainKey, client: deal.client, host: host.address, amount, consent });
    } catch (err) {
      if (isCancellation(err)) throw err;
      deal.note(`${host.id} could not bond: ${failureMessage(err)}`);
      continue;
    }
    holder.bond = deal.bond.toString();
    deal.status.holders.push(holder);
    deal.note(`${host.id} storing ${chunks.length} chunk(s)`);
    try {
      const [stored, expected] = await Promise.all([
        storageHost(host.id, 'store').storeReplica({ dealId, chunks, stagingUrl }),
        checks.expectedReplicaRoots({ dealId, hostAddress: host.address, chunks, stagingUrl }),
      ]);
      const wrong = chunksWithWrongRoots(chunks, stored.roots, expected);
      if (wrong.length === 0) {
        holder.roots = stored.roots;
        holder.state = 'ACTIVE';
        deal.note(`${host.id} holds a replica (${stored.bytes} bytes sealed)`);
        return holder;
      }
      deal.note(`${host.id} committed wrong roots for ${wrong.length} chunk(s): slashed`);
      await slashHolder(deal, holder, `placement/${host.id}`, term);
    } catch (err) {
      if (isCancellation(err)) throw err;
      deal.note(`${host.id} could not store the replica: ${failureMessage(err)}`);
      await removeHolder(deal, holder, term);
    }
  }
  return null;
}

/** Takes a faulty host's whole bond (held in `term`) to the treasury and lets it go. */
export async function slashHolder(deal: DealRun, holder: HolderStatus, faultKey: string, term: DealTerm): Promise<void> {
  const treasury = await chain.treasuryAddress();
  const taken = await chain.slashStorageHost({ dealId: term.chainKey, client: deal.client, faultKey, host: holder.address, amount: holder.bond, recipient: treasury });
  if (!taken.alreadySlashed || holder.slashed === '0') {
    holder.slashed = holder.bond;
    deal.add('slashed', holder.bond);
  }
  await removeHolder(deal, holder, term);
}

/** Stops paying a holder: its bond (what is left of it) goes back, its replica is deleted if it still answers. */
export async function removeHolder(deal: DealRun, holder: HolderStatus, term: DealTerm): Promise<void> {
  holder.state = 'REMOVED';
  // Its roots are never checked again: the status (queried, carried into the next run) stays small.
  holder.roots = {};
  await chain.releaseStorageBond({ dealId: term.chainKey, client: deal.client, host: holder.address });
  await deleteReplica(deal, holder);
}

/** Asks a holder to delete its replica; one that does not answer is only logged, as nothing is owed on it any more. */
export async function deleteReplica(deal: DealRun, holder: HolderStatus): Promise<void> {
  const { dealId } = deal;
  await storageHost(holder.hostId, 'delete').deleteReplica({ dealId }).catch((err) => log.warn('could not delete a replica', { dealId, hostId: holder.hostId, error: failureMessage(err) }));
}
