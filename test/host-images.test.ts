import type { TRPCError } from '@trpc/server';
import { Wallet } from 'ethers';
import type { ZodError } from 'zod';
import { createDbActivities } from '../activities/db';
import { describeIssues } from '../domain/job-spec';
import { rankHosts } from '../domain/matching';
import { callerAs, CHAIN_ID, startApiServer, type ApiServer } from './support/api-server';

/**
 * A host's allow-list travels with its registration into the read model, where matching reads it: a host is matched
 * only for the images it advertises, pinned by digest. A registration with an image not pinned is refused, naming the
 * field, and leaves nothing behind.
 */
describe('hosts advertise the images they run', () => {
  let server: ApiServer;
  const key = Wallet.createRandom();
  const pinned = `zansoc/busybox:1@sha256:${'a'.repeat(64)}`;
  const offer = {
    hostId: 'images-host', address: key.address, did: `did:ethr:${CHAIN_ID}:${key.address}`, arch: 'x86_64', cpus: 2,
    memoryMiB: 1024, diskMiB: 1000, gpus: 0, maxSlots: 1, pricePerCpuSecond: '1000',
  };
  const small = { cpu: 1, memoryMiB: 64, diskMiB: 16, gpu: 0 };

  beforeAll(async () => {
    server = await startApiServer({ rateLimitPerMinute: 100 });
  }, 120_000);

  afterAll(async () => {
    await server?.stop();
  });

  it('refuses an image that is not pinned by digest, naming the field, and registers nothing', async () => {
    const host = callerAs(server.deps, key);
    const error = await host.hosts.register({ ...offer, images: ['zansoc/busybox:1'] }).then(
      () => { throw new Error('expected a refusal'); },
      (err: unknown) => err as TRPCError,
    );
    expect(error.code).toBe('BAD_REQUEST');
    // What a client reads over HTTP (the error formatter's line per field).
    expect(describeIssues(error.cause as ZodError)).toMatch(/^images\.0: must be an image pinned by digest/);
    expect(await server.db.host.count()).toBe(0);
  });

  it('stores the images with the registration, shows them, and matching picks the host only for them', async () => {
    const host = callerAs(server.deps, key);
    const registered = await host.hosts.register({ ...offer, images: [pinned] });
    expect(registered.images).toEqual([pinned]);
    expect((await host.hosts.get({ hostId: 'images-host' })).images).toEqual([pinned]);
    // This API has no chain to read stakes from, and matching passes over a host with none: give it some.
    await server.db.host.update({ where: { id: 'images-host' }, data: { stake: '1' } });

    const candidates = await createDbActivities({ db: server.db }).listOnlineHosts();
    expect(candidates.find((h) => h.id === 'images-host')?.images).toEqual([pinned]);
    expect(rankHosts(candidates, small, [], [], 'zansoc/busybox:1').map((h) => h.id)).toEqual(['images-host']);
    expect(rankHosts(candidates, small, [], [], 'nosuch/image:1')).toEqual([]);

    // Registering again with another list replaces it: a host that dropped an image is no longer matched for it.
    await host.hosts.register({ ...offer, images: [] });
    await server.db.host.update({ where: { id: 'images-host' }, data: { stake: '1' } });
    const again = await createDbActivities({ db: server.db }).listOnlineHosts();
    expect(rankHosts(again, small, [], [], 'zansoc/busybox:1')).toEqual([]);
  });
});
