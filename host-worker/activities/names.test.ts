import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type Dockerode from 'dockerode';
import { Wallet } from 'ethers';
import { ChunkStore } from '../chunk-store';
import { createHostRuntime } from './compute';
import { createConsentActivities } from './consent';
import { createStorageHostActivities } from './storage';

/**
 * Zansoc's Temporal server lets a host answer only the activity types in its authorizer's list
 * (temporal-server/authorizer.go, hostActivityTypes): a host activity missing there would be denied on every cluster
 * with mTLS, and an extra name would let hosts answer what is not theirs. The list must be exactly what a host
 * worker registers (host-worker/run.ts).
 */
it('names in the authorizer exactly the activities a host worker registers', () => {
  const dir = mkdtempSync(join(tmpdir(), 'zansoc-names-'));
  const wallet = Wallet.createRandom();
  const { activities } = createHostRuntime({
    docker: {} as Dockerode, hostId: 'h', workDir: dir, allowedImages: [], offer: { cpus: 1, memoryMiB: 64, diskMiB: 64, gpus: 0, maxSlots: 1 },
    seal: { signer: wallet, chainId: 31337, dir }, staging: { signer: wallet, chainId: 31337 },
  });
  const storage = createStorageHostActivities({ store: new ChunkStore(dir), hostAddress: wallet.address });
  const consent = createConsentActivities({ wallet, chainId: 31337, escrows: { jobEscrow: wallet.address, storageEscrow: wallet.address }, maxBond: 1n });
  const registered = Object.keys({ ...activities, ...storage, ...consent }).sort();

  const go = readFileSync(join(__dirname, '../../temporal-server/authorizer.go'), 'utf8');
  const list = /var hostActivityTypes = \[\]string\{([^}]*)\}/.exec(go);
  expect(list).not.toBeNull();
  const allowed = [...list![1].matchAll(/"([A-Za-z]+)"/g)].map((m) => m[1]).sort();
  expect(allowed).toEqual(registered);
});
