import { execFile } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { PrismaBetterSQLite3 } from '@prisma/adapter-better-sqlite3';
import { PrismaPg } from '@prisma/adapter-pg';
import { PrismaClient as SqliteClient } from '../generated/prisma/sqlite/client';
import { PrismaClient as PostgresClient } from '../generated/prisma/postgres/client';
import { deployPostgresMigrations } from './postgres-migrate';

/** Both generated clients expose the same models and methods; code is written against this one type. */
export type Database = SqliteClient;

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
    // Same schema, same API, different generated package: the cast only restates that.
    return new PostgresClient({ adapter: new PrismaPg({ connectionString: url }) }) as unknown as Database;
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
