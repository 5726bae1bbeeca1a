import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { migrateDatabase, openDatabase } from '../db/client';
import { startPostgres, type LocalPostgres } from '../scripts/postgres';

/** A fresh database of each kind migrates from the committed migrations and stores and reads a job and a host. */
async function exerciseFreshDatabase(url: string): Promise<void> {
  await migrateDatabase(url);
  await migrateDatabase(url); // a second deploy is a no-op, as on every restart
  const db = openDatabase(url);
  try {
    await db.host.create({
      data: {
        id: 'h1', address: '0x0000000000000000000000000000000000000001', did: 'did:ethr:31337:0x01', arch: 'x86_64',
        cpus: 2, memoryMiB: 1024, diskMiB: 4096, gpus: 0, maxSlots: 2, pricePerCpuSecond: '1000', lastSeenAt: new Date(),
      },
    });
    const job = await db.job.create({
      data: { id: 'j1', clientId: 'c1', idempotencyKey: 'k1', image: 'zansoc/busybox:1', spec: '{}', state: 'SUBMITTED', escrowAmount: '123456789012345678901234567890' },
    });
    expect(job.escrowAmount).toBe('123456789012345678901234567890');
    await expect(
      db.job.create({ data: { id: 'j2', clientId: 'c1', idempotencyKey: 'k1', image: 'x', spec: '{}', state: 'SUBMITTED', escrowAmount: '0' } }),
    ).rejects.toThrow(/Unique constraint/);
    const hosts = await db.host.findMany({ where: { gpus: 0 } });
    expect(hosts.map((h) => h.id)).toEqual(['h1']);
  } finally {
    await db.$disconnect();
  }
}

describe('database', () => {
  let dir: string;
  let pg: LocalPostgres;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'zansoc-db-'));
    pg = await startPostgres();
  });
  afterAll(async () => {
    await pg?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('migrates and works on a fresh SQLite file', async () => {
    await exerciseFreshDatabase(`file:${join(dir, 'fresh.db')}`);
  });

  it('migrates and works on a fresh PostgreSQL database', async () => {
    await exerciseFreshDatabase(pg.url);
  });

  it('refuses a URL of an unknown kind', () => {
    expect(() => openDatabase('mysql://x')).toThrow(/DATABASE_URL must start with file: or postgresql/);
  });
});
