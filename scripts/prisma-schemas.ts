import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startPostgres } from './postgres';

/**
 * One schema cannot serve two providers, so the PostgreSQL schema is derived from the SQLite one with only the
 * provider and the client's output folder changed. Both clients are generated; the database URL picks one at start.
 *
 *   tsx scripts/prisma-schemas.ts generate          write prisma/postgres/schema.prisma, generate both clients
 *   tsx scripts/prisma-schemas.ts migration <name>  add a migration for both databases (diff from the last one)
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

/**
 * `migrate dev` cannot run offline and `migrate diff --from-migrations` needs a shadow database the JS engine cannot
 * make, so a migration is the diff from prisma/migrated-schema.prisma (the schema the last migration produced) to
 * the current schema; the snapshot is then moved forward.
 */
async function addMigration(name: string): Promise<void> {
  writePostgresSchema();
  const snapshot = join(root, 'prisma/migrated-schema.prisma');
  const previous = existsSync(snapshot) ? readFileSync(snapshot, 'utf8') : null;
  // Prisma's JS schema engine diffs through a live connection, so PostgreSQL's diff needs a (throw-away) server.
  const pg = await startPostgres();
  const tmp = mkdtempSync(join(tmpdir(), 'zansoc-migration-'));
  try {
    const stamp = new Date().toISOString().replace(/[-:T]/g, '').slice(0, 14);
    for (const [kind, schema, dir, url] of [
      ['sqlite', SQLITE_SCHEMA, join(root, 'prisma/migrations'), PLACEHOLDER_URLS.sqlite],
      ['postgres', POSTGRES_SCHEMA, join(root, 'prisma/postgres/migrations'), pg.url],
    ] as const) {
      let from = ['--from-empty'];
      if (previous !== null) {
        const previousFile = join(tmp, `${kind}.prisma`);
        writeFileSync(previousFile, kind === 'sqlite' ? previous : postgresSchemaFrom(previous));
        from = ['--from-schema-datamodel', previousFile];
      }
      const sql = prisma(['migrate', 'diff', ...from, '--to-schema-datamodel', schema, '--script'], url);
      mkdirSync(join(dir, `${stamp}_${name}`), { recursive: true });
      writeFileSync(join(dir, `${stamp}_${name}`, 'migration.sql'), sql);
      const lock = join(dir, 'migration_lock.toml');
      if (!existsSync(lock)) writeFileSync(lock, `provider = "${kind === 'sqlite' ? 'sqlite' : 'postgresql'}"\n`);
      console.log(`wrote ${join(dir, `${stamp}_${name}`, 'migration.sql')}`);
    }
    writeFileSync(snapshot, readFileSync(SQLITE_SCHEMA, 'utf8'));
  } finally {
    rmSync(tmp, { recursive: true, force: true });
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
