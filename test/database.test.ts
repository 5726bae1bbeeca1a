import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { TRPCError } from '@trpc/server';
import { Wallet } from 'ethers';
import { createDbActivities } from '../activities/db';
import { contextFor, type ApiDeps } from '../api/context';
import { appRouter } from '../api/routers';
import { signRequest, type RequestSigner } from '../api/signing';
import { StagingStore } from '../api/staging';
import { createCallerFactory } from '../api/trpc';
import { isUniqueViolation, migrateDatabase, openDatabase, type Database } from '../db/client';
import { Client as PgClient } from 'pg';
import { deployPostgresMigrations } from '../db/postgres-migrate';
import { startPostgres, type LocalPostgres } from '../scripts/postgres';
import { EMPTY_MIGRATION, MIGRATIONS, migrationNames, pendingMigrations, postgresSchemaSql } from '../scripts/prisma-schemas';
import { startTemporalServer, type TemporalServer } from '../scripts/temporal-server';
import { signJobQuote } from '../api/order-signing';
import { startTestChain, type TestChain } from './support/chain';

const CHAIN_ID = 31337;
const createCaller = createCallerFactory(appRouter);

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
    const duplicate = await db.job.create({ data: { id: 'j2', clientId: 'c1', idempotencyKey: 'k1', image: 'x', spec: '{}', state: 'SUBMITTED', escrowAmount: '0' } })
      .then(() => null, (err: unknown) => err);
    expect(String(duplicate)).toMatch(/Unique constraint/);
    expect(isUniqueViolation(duplicate)).toBe(true);
    const rawDuplicate = await db.$queryRawUnsafe(`INSERT INTO "UsedNonce" ("address", "nonce", "expiresAt") VALUES ('a', 'n', '2030-01-01'), ('a', 'n', '2030-01-01')`)
      .then(() => null, (err: unknown) => err);
    expect(isUniqueViolation(rawDuplicate)).toBe(true);
    const missing = await db.job.update({ where: { id: 'no-such-job' }, data: { state: 'FAILED' } }).then(() => null, (err: unknown) => err);
    expect(missing).not.toBeNull();
    expect(isUniqueViolation(missing)).toBe(false);
    const hosts = await db.host.findMany({ where: { gpus: 0 } });
    expect(hosts.map((h) => h.id)).toEqual(['h1']);
  } finally {
    await db.$disconnect();
  }
}

/** A PostgreSQL database's tables, columns, indexes and constraints, in name order (columns added later sit last). */
async function catalogOf(url: string): Promise<unknown[]> {
  const client = new PgClient({ connectionString: url });
  await client.connect();
  try {
    const queries = [
      `SELECT table_name, column_name, data_type, is_nullable, column_default FROM information_schema.columns
         WHERE table_schema = 'public' AND table_name <> '_prisma_migrations' ORDER BY table_name, column_name`,
      `SELECT tablename, indexname, indexdef FROM pg_indexes WHERE schemaname = 'public' AND tablename <> '_prisma_migrations' ORDER BY indexname`,
      `SELECT conrelid::regclass::text AS table_name, conname, pg_get_constraintdef(oid) AS definition FROM pg_constraint
         WHERE connamespace = 'public'::regnamespace AND conrelid::regclass::text <> '_prisma_migrations' ORDER BY conname`,
    ];
    return await Promise.all(queries.map(async (q) => (await client.query(q)).rows));
  } finally {
    await client.end();
  }
}

async function createPostgresDatabase(serverUrl: string, name: string): Promise<string> {
  const client = new PgClient({ connectionString: serverUrl });
  await client.connect();
  await client.query(`CREATE DATABASE "${name}"`).finally(() => client.end());
  return serverUrl.replace(/\/[^/]+$/, `/${name}`);
}

/** The API on one database, called in-process (no HTTP), each call signed by `signer` as over the wire. */
function apiOn(deps: ApiDeps) {
  return async <T>(signer: RequestSigner, procedure: string, input: unknown, call: (api: ReturnType<typeof createCaller>) => Promise<T>): Promise<T> => {
    const headers = await signRequest(signer, CHAIN_ID, procedure, input);
    return call(createCaller(contextFor(deps, { headers })));
  };
}

/**
 * The real staging store, except that each check waits until `parties` submits have made theirs: by then every one of
 * them is past the idempotency key's look-up, so their row inserts race for real.
 */
class StagingBarrier extends StagingStore {
  private readonly waiting: (() => void)[] = [];
  constructor(dir: string, private readonly parties: number) {
    super(dir);
  }

  override async has(sha256: string): Promise<boolean> {
    if (this.waiting.length + 1 < this.parties) await new Promise<void>((resolve) => this.waiting.push(resolve));
    else for (const release of this.waiting.splice(0)) release();
    return super.has(sha256);
  }
}

const refusal = (p: Promise<unknown>) => p.then(() => { throw new Error('expected a refusal'); }, (err: unknown) => err as TRPCError);

describe('database', () => {
  let dir: string;
  let pg: LocalPostgres;
  let temporalServer: TemporalServer;
  let temporal: Client;
  let chain: TestChain;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'zansoc-db-'));
    [pg, temporalServer, chain] = await Promise.all([startPostgres(), startTemporalServer({ headless: true }), startTestChain(join(dir, 'deployments'))]);
    temporal = new Client({ connection: await Connection.connect({ address: temporalServer.address }) });
  }, 120_000);
  afterAll(async () => {
    await temporal?.connection.close();
    await temporalServer?.stop();
    await chain?.stop();
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

  it('has migrations for both databases that make prisma/schema.prisma, one change at a time for both', async () => {
    expect(migrationNames(MIGRATIONS.postgres)).toEqual(migrationNames(MIGRATIONS.sqlite));
    const pending = pendingMigrations(pg.url);
    expect(pending.sqlite).toMatch(EMPTY_MIGRATION);
    expect(pending.postgres).toMatch(EMPTY_MIGRATION);
    // The PostgreSQL migrations are held to the schema themselves: Prisma's JS engine cannot read PostgreSQL back.
    const migrated = await createPostgresDatabase(pg.url, 'migrated');
    await deployPostgresMigrations(migrated, MIGRATIONS.postgres);
    const fresh = await createPostgresDatabase(pg.url, 'fresh');
    const client = new PgClient({ connectionString: fresh });
    await client.connect();
    await client.query(postgresSchemaSql(pg.url)).finally(() => client.end());
    expect(await catalogOf(migrated)).toEqual(await catalogOf(fresh));
  });

  describe.each([
    ['SQLite', () => `file:${join(dir, 'api.db')}`],
    ['PostgreSQL', () => pg.url.replace(/\/zansoc$/, '/postgres')],
  ])('the API on %s', (kind, databaseUrl) => {
    let db: Database;
    let deps: ApiDeps;
    let call: ReturnType<typeof apiOn>;
    const client = Wallet.createRandom();
    const host = Wallet.createRandom();
    const offer = () => ({
      hostId: 'slots-host', address: host.address, did: `did:ethr:${CHAIN_ID}:${host.address}`, arch: 'x86_64', cpus: 4,
      memoryMiB: 4096, diskMiB: 4096, gpus: 0, maxSlots: 2, pricePerCpuSecond: '1000',
    });
    beforeAll(async () => {
      await migrateDatabase(databaseUrl());
      db = openDatabase(databaseUrl());
      deps = { db, temporal, staging: new StagingStore(join(dir, 'staging')), publicUrl: 'http://127.0.0.1', chainId: CHAIN_ID, wallet: chain.wallet };
      call = apiOn(deps);
      await call(host, 'hosts.register', offer(), (api) => api.hosts.register(offer()));
    });
    afterAll(async () => {
      await db?.$disconnect();
    });

    it('makes one job of two concurrent submits with one idempotency key', async () => {
      const staging = new StagingBarrier(join(dir, 'staging'), 2);
      const inFile = Buffer.from('raced');
      const spec = { image: 'zansoc/busybox:1', command: ['true'], resources: { cpu: 0.5, memoryMiB: 64 }, inputs: { 'in.txt': await staging.put(inFile) } };
      // The claim a signed upload of it by the client records: the job binds its client's own inputs.
      await db.blob.create({ data: { sha256: spec.inputs['in.txt'], owner: client.address, bytes: BigInt(inFile.length), kind: 'input' } });
      // Both submits carry the one order the client signed for this job: a client retrying its own request.
      await chain.fund(client.address, '1');
      const { jobId, quote } = await call(client, 'jobs.quote', { spec }, (api) => api.jobs.quote({ spec }));
      const input = { spec, jobId, ...(await signJobQuote(client, spec, quote)), idempotencyKey: 'raced' };
      const racing = apiOn({ ...deps, staging });
      const [a, b] = await Promise.all([1, 2].map(() => racing(client, 'jobs.submit', input, (api) => api.jobs.submit(input))));
      expect(a.job.id).toBe(b.job.id);
      expect([a.created, b.created].sort()).toEqual([false, true]);
      expect(await db.job.count({ where: { idempotencyKey: 'raced' } })).toBe(1);
      await temporal.workflow.getHandle(`job-${a.job.id}`).terminate('test done');
    });

    it('counts a host\'s free slots from its heartbeat: a job row left RUNNING takes no slot', async () => {
      const { listOnlineHosts } = createDbActivities({ db });
      const freeSlots = async () => (await listOnlineHosts()).find((h) => h.id === 'slots-host')?.freeSlots;
      await db.job.create({
        data: { id: `stuck-${kind}`, clientId: 'c', image: 'x', spec: '{}', state: 'RUNNING', hostId: 'slots-host', escrowAmount: '1' },
      });
      const beat = (freeSlots?: number) => {
        const input = { hostId: 'slots-host', ...(freeSlots === undefined ? {} : { freeSlots }) };
        return call(host, 'hosts.heartbeat', input, (api) => api.hosts.heartbeat(input));
      };
      expect(await freeSlots()).toBe(1); // a host that has never reported them is counted by its RUNNING rows
      await beat();
      expect(await freeSlots()).toBe(1);
      await beat(2);
      expect(await freeSlots()).toBe(2);
      await beat(0);
      expect(await freeSlots()).toBe(0);
      await beat(2);
      expect(await freeSlots()).toBe(2);
      await beat(); // a host that stops reporting them is counted by its rows again, not by its last report
      expect(await freeSlots()).toBe(1);
    });

    it('takes free slots in a heartbeat only as an integer from 0 to the host\'s maxSlots, and a heartbeat without them', async () => {
      const beat = (input: { hostId: string; freeSlots?: number }) => call(host, 'hosts.heartbeat', input, (api) => api.hosts.heartbeat(input));
      await beat({ hostId: 'slots-host', freeSlots: 1 });
      for (const [freeSlots, message] of [
        [3, 'freeSlots: 3 is more than the host\'s maxSlots (2)'],
        [-1, /"path":\s*\[\s*"freeSlots"\s*\]/],
        [1.5, /"path":\s*\[\s*"freeSlots"\s*\]/],
      ] as const) {
        const err = await refusal(beat({ hostId: 'slots-host', freeSlots }));
        expect(err.code).toBe('BAD_REQUEST');
        expect(err.message).toMatch(message);
      }
      expect(await db.host.findUniqueOrThrow({ where: { id: 'slots-host' }, select: { freeSlots: true } })).toEqual({ freeSlots: 1 });
      await expect(beat({ hostId: 'slots-host' })).resolves.toEqual({ ok: true });
      expect(await db.host.findUniqueOrThrow({ where: { id: 'slots-host' }, select: { freeSlots: true } })).toEqual({ freeSlots: null });
    });
  });
});
