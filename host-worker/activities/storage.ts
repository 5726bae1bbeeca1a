import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { ZansocErrorType } from '../../domain/errors';
import type {
  DeleteReplicaInput,
  ProveReplicaInput,
  ProveReplicaResult,
  ServeReplicaInput,
  ServeReplicaResult,
  StoreReplicaInput,
  StoreReplicaResult,
} from '../../domain/replica';
import { cidOf, isRawCid, merkleProof, merkleRoot, segmentsOf, sha256OfCid, STORAGE_CHUNK_BYTES } from '../../domain/storage';
import { sealReplica, unsealReplica } from '../../runtime/storage-crypto';
import { isDealId, type ChunkStore } from '../chunk-store';
import { downloadBlob, uploadBlob, type StagingAuth } from '../../runtime/staging-client';
import type { HostMetrics } from '../../metrics/registry';
import type { StorageHostActivities } from './types';

export interface StorageHostDeps {
  store: ChunkStore;
  /** The host's wallet address: replicas are sealed to it, so they differ from every other host's. */
  hostAddress: string;
  metrics?: HostMetrics;
  /** The `host` label of the storage metrics (the host id, as on the other host metrics); the address if not given. */
  hostId?: string;
  /** The host's key: its reads of chunks and writes of replicas in staging are signed with it. */
  staging?: StagingAuth;
}

/** The activity context when running as an activity; undefined when called directly (e.g. from a unit test). */
function activityContext(): Context | undefined {
  try {
    return Context.current();
  } catch {
    return undefined;
  }
}

function invalid(message: string): ApplicationFailure {
  return ApplicationFailure.create({ type: ZansocErrorType.InvalidSpec, message, nonRetryable: true });
}

function requireDealId(dealId: string): void {
  if (!isDealId(dealId)) throw invalid(`not a deal id (1 to 64 letters, digits or dashes): ${JSON.stringify(dealId)}`);
}

function requireCid(cid: string): void {
  if (!isRawCid(cid)) throw invalid(`not a raw sha2-256 CIDv1 in base32 ("bafkrei…"): ${JSON.stringify(cid)}`);
}

/**
 * What a host does with the replicas of storage deals: keep them sealed to itself, prove it still has them, hand
 * them out for retrieval, and forget them. Run on the host's own task queue only: each deal is pinned to its hosts.
 */
export function createStorageHostActivities({ store, hostAddress, metrics, hostId = hostAddress, staging }: StorageHostDeps): StorageHostActivities {
  const sealedFor = (dealId: string, cid: string) => ({ dealId, hostAddress, chunkCid: cid });
  // A gauge is never worth failing an activity for: if the count fails, the gauge keeps its last value.
  const reportStoredBytes = async (): Promise<void> => {
    if (!metrics) return;
    const bytes = await store.bytesStored().catch(() => undefined);
    if (bytes !== undefined) metrics.storageBytes.set({ host: hostId }, bytes);
  };
  void reportStoredBytes();

  /** The replica kept for the chunk, if it is whole: it unseals to the bytes its CID names. */
  const intactReplica = async (dealId: string, cid: string): Promise<Buffer | null> => {
    const sealed = await store.read(dealId, cid);
    return sealed && cidOf(await unsealReplica(sealedFor(dealId, cid), sealed)) === cid ? sealed : null;
  };

  return {
    /**
     * Fetches each chunk from staging (its sha256 is the one its CID names, so the download checks the CID), seals it
     * for this host and keeps it; answers the Merkle root of every sealed replica. A retry keeps the replicas already
     * stored whole, so it gives the same answer.
     */
    async storeReplica({ dealId, chunks, stagingUrl }: StoreReplicaInput): Promise<StoreReplicaResult> {
      requireDealId(dealId);
      for (const { cid, bytes } of chunks) {
        requireCid(cid);
        if (!Number.isSafeInteger(bytes) || bytes < 1 || bytes > STORAGE_CHUNK_BYTES) {
          throw invalid(`chunk ${cid} of deal ${dealId} claims ${bytes} bytes; a chunk has 1 to ${STORAGE_CHUNK_BYTES}`);
        }
      }
      const context = activityContext();
      const signal = context?.cancellationSignal;
      const roots: Record<string, string> = {};
      let sealedBytes = 0;
      try {
        for (const [i, { cid, bytes }] of chunks.entries()) {
          signal?.throwIfAborted();
          if (!(cid in roots)) {
            let sealed = await intactReplica(dealId, cid);
            if (!sealed) {
              const data = await downloadBlob(stagingUrl, sha256OfCid(cid), { auth: staging, signal });
              if (data.length !== bytes) {
                throw invalid(`chunk ${cid} of deal ${dealId} is ${data.length} bytes in staging, not the ${bytes} the deal says`);
              }
              sealed = await sealReplica(sealedFor(dealId, cid), data);
              await store.put(dealId, cid, sealed);
            }
            roots[cid] = merkleRoot(segmentsOf(sealed));
            sealedBytes += sealed.length;
          }
          context?.heartbeat({ stored: i + 1 });
        }
      } finally {
        await reportStoredBytes();
      }
      return { roots, bytes: sealedBytes };
    },

    /** Answers a proof challenge from the replicas kept: each segment asked for with its Merkle path. */
    async proveReplica({ dealId, challenges }: ProveReplicaInput): Promise<ProveReplicaResult> {
      requireDealId(dealId);
      for (const { cid } of challenges) requireCid(cid);
      const result: ProveReplicaResult = { proofs: [], missing: [] };
      for (const { cid, indexes } of challenges) {
        const sealed = await store.read(dealId, cid);
        if (!sealed) {
          result.missing.push(cid);
          continue;
        }
        const segments = segmentsOf(sealed);
        const answered = indexes.map((index) => {
          if (!Number.isSafeInteger(index) || index < 0 || index >= segments.length) {
            throw invalid(`segment index ${index} of chunk ${cid} (deal ${dealId}) is outside 0..${segments.length - 1}`);
          }
          return { index, data: Buffer.from(segments[index]).toString('hex'), proof: merkleProof(segments, index) };
        });
        result.proofs.push({ cid, segments: answered });
      }
      return result;
    },

    /** Puts the sealed replica of one chunk into staging, for the client to fetch and unseal. */
    async serveReplica({ dealId, cid, stagingUrl }: ServeReplicaInput): Promise<ServeReplicaResult> {
      requireDealId(dealId);
      requireCid(cid);
      const sealed = await store.read(dealId, cid);
      if (!sealed) {
        throw ApplicationFailure.create({
          type: ZansocErrorType.ReplicaMissing,
          message: `host ${hostAddress} keeps no replica of chunk ${cid} of deal ${dealId}`,
          nonRetryable: true,
        });
      }
      const sealedSha256 = await uploadBlob(stagingUrl, sealed, {
        auth: staging, signal: activityContext()?.cancellationSignal, bind: staging ? { dealId, kind: 'replica' } : undefined,
      });
      return { sealedSha256, bytes: sealed.length };
    },

    /** Forgets every replica of a deal; deleting again does nothing. */
    async deleteReplica({ dealId }: DeleteReplicaInput): Promise<void> {
      requireDealId(dealId);
      try {
        await store.removeDeal(dealId);
      } finally {
        await reportStoredBytes();
      }
    },
  };
}
