import { execFile } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { PrismaBetterSQLite3 } from '@prisma/adapter-better-sqlite3';
import { PrismaPg } from '@prisma/adapter-pg';
import { PrismaClientKnownRequestError } from '@prisma/client/runtime/client';
import { PrismaClient as SqliteClient, type Prisma as SqlitePrisma } from '../generated/prisma/sqlite/client';
import { PrismaClient as PostgresClient, type Prisma as PostgresPrisma } from '../generated/prisma/postgres/client';
import { deployPostgresMigrations } from './postgres-migrate';

/**
 * The one database surface: api/, activities/ and the rest are written against this type, whichever database the URL
 * names. Both generated clients come from one schema (scripts/prisma-schemas.ts), so their model types are the same.
 */
export type Database = SqliteClient;
/** The schema's model, input and payload types (e.g. `Prisma.JobGetPayload<…>`), the same for both databases. */
export type { SqlitePrisma as Prisma };

type SqliteModels = SqlitePrisma.TypeMap['model'];
type PostgresModels = PostgresPrisma.TypeMap['model'];
/**
 * The model operations where the PostgreSQL client would not stand in for `Database`: what code written against it
 * passes must be taken, and what comes back must be what that code expects. Any here fails the typecheck in
 * openDatabase, naming them.
 */
type Mismatches = {
  [M in keyof SqliteModels & keyof PostgresModels]: OperationMismatches<SqliteModels[M]['operations'], PostgresModels[M]['operations'], M & string>;
}[keyof SqliteModels & keyof PostgresModels] | Exclude<keyof SqliteModels, keyof PostgresModels>;
type OperationMismatches<Sqlite, Postgres, Model extends string> = {
  [O in keyof Sqlite]: O extends keyof Postgres
    ? Sqlite[O] extends { args: infer SqliteArgs; result: infer SqliteResult }
      ? Postgres[O] extends { args: infer PostgresArgs; result: infer PostgresResult }
        ? SqliteArgs extends PostgresArgs ? (PostgresResult extends SqliteResult ? never : `${Model}.${O & string}`) : `${Model}.${O & string}`
        : `${Model}.${O & string}`
      : `${Model}.${O & string}`
    : `${Model}.${O & string}`;
}[keyof Sqlite];
/** Checked above, model by model and operation by operation: TypeScript cannot compare the two client classes whole. */
type PostgresDatabase = [Mismatches] extends [never] ? Database : { notInterchangeable: Mismatches };

/**
 * A write refused because a unique key already holds the value (a raced idempotency key, a replayed nonce), from
 * either database: Prisma's P2002 from either client, or the driver adapter's own error where Prisma passes it on
 * (raw queries wrap it as P2010).
 */
export function isUniqueViolation(err: unknown): boolean {
  if (err instanceof PrismaClientKnownRequestError) {
    return err.code === 'P2002' || isAdapterUniqueViolation((err.meta as { driverAdapterError?: unknown } | undefined)?.driverAdapterError);
  }
  return isAdapterUniqueViolation(err);
}

function isAdapterUniqueViolation(err: unknown): boolean {
  if (typeof err !== 'object' || err === null || (err as { name?: unknown }).name !== 'DriverAdapterError') return false;
  return (err as { cause?: { kind?: unknown } }).cause?.kind === 'UniqueConstraintViolation';
}

const root = join(__dirname, '..');

export const isPostgresUrl = (url: string): boolean => /^postgres(ql)?:\/\//.test(url);

/** `file:<path>` relative paths are resolved against the project root so every process opens the same file. */
function sqlitePath(url: string): string {
  const path = url.replace(/^file:/, '');
  return path === ':memory:' ? path : resolve(root, path);
}

/** Opens the database a URL names: `postgresql://…` through the pg adapter, `file:…` as SQLite through better-sqlite3. */
export function openDatabase(url: string): Database {
  if (isPostgresUrl(url)) {
    return new PostgresClient({ adapter: new PrismaPg({ connectionString: url }) }) as unknown as PostgresDatabase;
  }
  if (!url.startsWith('file:')) throw new Error(`DATABASE_URL must start with file: or postgresql://, got "${url}"`);
  const path = sqlitePath(url);
  if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
  return new SqliteClient({ adapter: new PrismaBetterSQLite3({ url: path }) });
}

/** Applies the committed migrations for the database's kind; safe to run at every start. */
export async function migrateDatabase(url: string): Promise<void> {
  if (isPostgresUrl(url)) {
    await deployPostgresMigrations(url, join(root, 'prisma/postgres/migrations'));
    return;
  }
  const env = { ...process.env, DATABASE_URL: `file:${sqlitePath(url)}` };
  mkdirSync(dirname(sqlitePath(url)), { recursive: true });
  try {
    await promisify(execFile)(join(root, 'node_modules/.bin/prisma'), ['migrate', 'deploy'], { cwd: root, env });
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; message: string };
    throw new Error(`migrating ${url} failed: ${e.stderr || e.stdout || e.message}`, { cause: err });
  }
}
