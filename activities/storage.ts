import { ApplicationFailure } from '@temporalio/common';
import type { ReplicaChunk } from '../domain/replica';
import { cidOf, merkleRoot, segmentsOf, sha256OfCid } from '../domain/storage';
import { sealReplica, unsealReplica } from '../runtime/storage-crypto';
import { ZansocErrorType } from '../domain/errors';
import { downloadBlob, uploadBlob, type StagingAuth } from '../runtime/staging-client';

/**
 * The orchestrator's side of checking replicas: it can work out what a host's sealed replica must be (sealing is
 * public), so a host's committed Merkle roots are checked against the staged data, and a repair copies a chunk from a
 * healthy host's replica, never trusting it further than its CID.
 */
export function createStorageActivities({ staging }: { staging?: StagingAuth } = {}) {
  return {
    /** The Merkle root each chunk's replica sealed for `hostAddress` must have: what its host must commit to. */
    async expectedReplicaRoots({ dealId, hostAddress, chunks, stagingUrl }: {
      dealId: string; hostAddress: string; chunks: ReplicaChunk[]; stagingUrl: string;
    }): Promise<Record<string, string>> {
      const roots: Record<string, string> = {};
      for (const { cid } of chunks) {
        const data = await downloadBlob(stagingUrl, sha256OfCid(cid), { auth: staging });
        roots[cid] = merkleRoot(segmentsOf(await sealReplica({ dealId, hostAddress, chunkCid: cid }, data)));
      }
      return roots;
    },

    /**
     * Puts a chunk back into staging from a host's sealed replica (served there by the host): unsealed, checked against
     * its CID, staged under it. A replica that does not unseal to its CID is refused for good.
     */
    async restageFromReplica({ dealId, hostAddress, cid, sealedSha256, stagingUrl }: {
      dealId: string; hostAddress: string; cid: string; sealedSha256: string; stagingUrl: string;
    }): Promise<{ bytes: number }> {
      const sealed = await downloadBlob(stagingUrl, sealedSha256, { auth: staging });
      const data = await unsealReplica({ dealId, hostAddress, chunkCid: cid }, sealed);
      if (cidOf(data) !== cid) {
        throw ApplicationFailure.create({
          type: ZansocErrorType.ReplicaCorrupt,
          nonRetryable: true,
          message: `the replica of ${cid} held by ${hostAddress} does not unseal to its CID`,
        });
      }
      await uploadBlob(stagingUrl, data, { auth: staging, bind: staging ? { dealId, kind: 'chunk' } : undefined });
      return { bytes: data.length };
    },
  };
}
