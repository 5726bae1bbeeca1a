import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { sealReplica, unsealReplica } from '../runtime/storage-crypto';
import type { ChunkStore } from './chunk-store';
import type { StorageHostActivities } from './activities/types';

/**
 * The test fixture for a host that keeps no replica (ZANSOC_TEST_CHEAT=reseal-on-challenge): it stores and commits
 * honestly, then throws its sealed replica away and keeps only the chunks, as if a colluder handed them back the
 * instant it is challenged (the best case for the cheat: no fetch at all). A challenge makes it seal the challenged
 * chunks again and answer from them, which sealing's cost must make miss the proof deadline.
 */
export function resealingOnChallenge(storage: StorageHostActivities, store: ChunkStore, hostAddress: string, dir: string): StorageHostActivities {
  const plainFile = (dealId: string, cid: string) => join(dir, `${dealId}.${cid}`);
  return {
    ...storage,
    async storeReplica(input) {
      const result = await storage.storeReplica(input);
      await mkdir(dir, { recursive: true });
      for (const { cid } of input.chunks) {
        const sealed = await store.read(input.dealId, cid);
        if (sealed) await writeFile(plainFile(input.dealId, cid), await unsealReplica({ dealId: input.dealId, hostAddress, chunkCid: cid }, sealed));
      }
      await store.removeDeal(input.dealId);
      return result;
    },
    async proveReplica(input) {
      for (const { cid } of input.challenges) {
        const plain = await readFile(plainFile(input.dealId, cid)).catch(() => null);
        if (plain) await store.put(input.dealId, cid, await sealReplica({ dealId: input.dealId, hostAddress, chunkCid: cid }, plain));
      }
      try {
        return await storage.proveReplica(input);
      } finally {
        await store.removeDeal(input.dealId);
      }
    },
  };
}
