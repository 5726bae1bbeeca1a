import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startPostgres } from './postgres';

/**
 * One schema cannot serve two providers, so the PostgreSQL schema is derived from the SQLite one with only the
 * provider and the client's output folder changed; it is written at every generate (npm's postinstall) and never
 * committed. Both clients are generated; the database URL picks one at start.
 *
 *   tsx scripts/prisma-schemas.ts generate          write prisma/postgres/schema.prisma, generate both clients
 *   tsx scripts/prisma-schemas.ts migration <name>  add a migration for both databases (diff from what the last makes)
 */
const root = join(__dirname, '..');
export const SQLITE_SCHEMA = join(root, 'prisma/schema.prisma');
export const POSTGRES_SCHEMA = join(root, 'prisma/postgres/schema.prisma');
const PLACEHOLDER_URLS = { sqlite: 'file::memory:', postgres: 'postgresql://zansoc@127.0.0.1:5432/zansoc' };

export function postgresSchemaFrom(sqliteSchema: string): string {
  const out = sqliteSchema
    .replace('provider = "sqlite"', 'provider = "postgresql"')
    .replace(/output(\s*)= "\.\.\/generated\/prisma\/sqlite"/, 'output$1= "../../generated/prisma/postgres"')
    .replace(/^\/\/ The source schema[^\n]*\n[^\n]*\n/m, '// GENERATED from prisma/schema.prisma by scripts/prisma-schemas.ts — do not edit.\n');
  if (!out.includes('"postgresql"') || !out.includes('generated/prisma/postgres')) {
    throw new Error('prisma/schema.prisma no longer has the provider/output lines scripts/prisma-schemas.ts rewrites');
  }
  return out;
}

function prisma(args: string[], databaseUrl: string): string {
  return execFileSync(join(root, 'node_modules/.bin/prisma'), args, {
    cwd: root,
    env: { ...process.env, DATABASE_URL: databaseUrl },
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  });
}

function writePostgresSchema(): void {
  mkdirSync(join(root, 'prisma/postgres'), { recursive: true });
  writeFileSync(POSTGRES_SCHEMA, postgresSchemaFrom(readFileSync(SQLITE_SCHEMA, 'utf8')));
}

function generate(): void {
  writePostgresSchema();
  prisma(['generate', '--schema', SQLITE_SCHEMA], PLACEHOLDER_URLS.sqlite);
  prisma(['generate', '--schema', POSTGRES_SCHEMA], PLACEHOLDER_URLS.postgres);
}

export const MIGRATIONS = { sqlite: join(root, 'prisma/migrations'), postgres: join(root, 'prisma/postgres/migrations') };
export const migrationNames = (dir: string): string[] => (existsSync(dir) ? readdirSync(dir).filter((d) => /^\d+_/.test(d)).sort() : []);
export const EMPTY_MIGRATION = /^\s*(--[^\n]*\s*)*$/;

/**
 * The schema the committed SQLite migrations produce, or null before the first one: they are applied to a throw-away
 * SQLite file, which is read back into a copy of the source schema (`db pull` keeps its generator, comments and what
 * the database cannot hold, like @updatedAt). `migrate dev` cannot run offline, and `migrate diff --from-migrations`
 * needs a shadow database that Prisma refuses beside a driver adapter, so this is the diff's starting point.
 */
function migratedSchema(tmp: string): string | null {
  if (migrationNames(MIGRATIONS.sqlite).length === 0) return null;
  const url = `file:${join(tmp, 'migrated.db')}`;
  prisma(['migrate', 'deploy'], url);
  const file = join(tmp, 'migrated.prisma');
  writeFileSync(file, readFileSync(SQLITE_SCHEMA, 'utf8'));
  prisma(['db', 'pull', '--schema', file], url);
  return readFileSync(file, 'utf8');
}

/**
 * The SQL a new migration would hold for each database: comments only when the committed migrations are current.
 * Prisma's JS schema engine diffs PostgreSQL through a live connection, so this needs a (throw-away) server's URL.
 */
export function pendingMigrations(postgresUrl: string): { sqlite: string; postgres: string } {
  writePostgresSchema();
  const tmp = mkdtempSync(join(tmpdir(), 'zansoc-migration-'));
  try {
    const previous = migratedSchema(tmp);
    const diff = (kind: 'sqlite' | 'postgres', schema: string, url: string): string => {
      let from = ['--from-empty'];
      if (previous !== null) {
        const previousFile = join(tmp, `previous-${kind}.prisma`);
        writeFileSync(previousFile, kind === 'sqlite' ? previous : postgresSchemaFrom(previous));
        from = ['--from-schema-datamodel', previousFile];
      }
      return prisma(['migrate', 'diff', ...from, '--to-schema-datamodel', schema, '--script'], url);
    };
    return { sqlite: diff('sqlite', SQLITE_SCHEMA, PLACEHOLDER_URLS.sqlite), postgres: diff('postgres', POSTGRES_SCHEMA, postgresUrl) };
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

/** The SQL that makes the current schema in an empty PostgreSQL database, to hold the committed migrations up to. */
export function postgresSchemaSql(postgresUrl: string): string {
  writePostgresSchema();
  return prisma(['migrate', 'diff', '--from-empty', '--to-schema-datamodel', POSTGRES_SCHEMA, '--script'], postgresUrl);
}

/** Adds the migration that takes both databases from what their committed migrations make to the current schema. */
async function addMigration(name: string): Promise<void> {
  const pg = await startPostgres();
  try {
    const pending = pendingMigrations(pg.url);
    if (EMPTY_MIGRATION.test(pending.sqlite) && EMPTY_MIGRATION.test(pending.postgres)) {
      throw new Error('nothing to migrate: prisma/schema.prisma is what the committed migrations make');
    }
    const stamp = new Date().toISOString().replace(/[-:T]/g, '').slice(0, 14);
    for (const kind of ['sqlite', 'postgres'] as const) {
      const dir = MIGRATIONS[kind];
      mkdirSync(join(dir, `${stamp}_${name}`), { recursive: true });
      writeFileSync(join(dir, `${stamp}_${name}`, 'migration.sql'), pending[kind]);
      const lock = join(dir, 'migration_lock.toml');
      if (!existsSync(lock)) writeFileSync(lock, `provider = "${kind === 'sqlite' ? 'sqlite' : 'postgresql'}"\n`);
      console.log(`wrote ${join(dir, `${stamp}_${name}`, 'migration.sql')}`);
    }
  } finally {
    await pg.stop();
  }
}

if (require.main === module) {
  const [command, name] = process.argv.slice(2);
  if (command === 'generate') generate();
  else if (command === 'migration' && name && /^[a-z0-9_]+$/.test(name)) {
    addMigration(name).catch((err) => {
      console.error(err);
      process.exit(1);
    });
  } else {
    console.error('usage: tsx scripts/prisma-schemas.ts generate | migration <snake_case_name>');
    process.exit(2);
  }
}
