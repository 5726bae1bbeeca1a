import { randomUUID } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openDatabase, type Database } from '../db/client';
import { JOB_IMAGE } from '../scripts/build-images';
import { startDevnet, waitForJob, type Devnet } from '../scripts/devnet';
import { printRolesOnFailure, tearDownDevnet } from './support/devnet';

/**
 * A host's free slots come from the host itself (its ledger, in every heartbeat), not from the job rows: a row left
 * RUNNING by a job that froze must not keep a slot from the next job.
 */
describe('a host\'s free slots on the devnet', () => {
  let dir: string;
  let devnet: Devnet;
  let db: Database;
  const lines: string[] = [];
  printRolesOnFailure(lines);

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'zansoc-slots-'));
    devnet = await startDevnet({ dir, hosts: 1, headless: true, spotCheckFraction: 0, hostEnv: { MAX_SLOTS: '1', HEARTBEAT_SECONDS: '1' }, log: (l) => lines.push(l) });
    db = openDatabase(devnet.databaseUrl);
  }, 300_000);
  afterAll(async () => tearDownDevnet({ db, devnet, dir }), 120_000);

  async function freeSlotsBecome(hostId: string, want: number): Promise<void> {
    const deadline = Date.now() + 30_000;
    let last: number | null | undefined;
    while (Date.now() < deadline) {
      last = (await db.host.findUnique({ where: { id: hostId }, select: { freeSlots: true } }))?.freeSlots;
      if (last === want) return;
      await new Promise((r) => setTimeout(r, 200));
    }
    throw new Error(`host ${hostId} reported ${last} free slots, not ${want}`);
  }

  it('runs the next job on a host whose only slot a job row left RUNNING claims', async () => {
    const [hostId] = devnet.hostIds;
    await freeSlotsBecome(hostId, 1);
    await db.job.create({
      data: { id: randomUUID(), clientId: 'did:ethr:31337:0x0000000000000000000000000000000000000000', image: JOB_IMAGE, spec: '{}', state: 'RUNNING', hostId, escrowAmount: '0' },
    });
    const { job } = await devnet.api.jobs.submit.mutate({
      spec: { image: JOB_IMAGE, command: ['sh', '-c', 'sleep 5; echo done > /out/done'], resources: { cpu: 0.5, memoryMiB: 64 } },
    });
    await freeSlotsBecome(hostId, 0); // while the job runs, the host says its slot is taken
    expect(await waitForJob(devnet.api, job.id, undefined, 90_000)).toMatchObject({ state: 'SUCCEEDED', hostId });
    await freeSlotsBecome(hostId, 1);
  });
});
