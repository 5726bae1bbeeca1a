import { join } from 'node:path';
import { defineConfig } from 'prisma/config';
import { PrismaBetterSQLite3 } from '@prisma/adapter-better-sqlite3';
import { PrismaPg } from '@prisma/adapter-pg';

// Prisma's JS schema engine runs migrations offline; the database URL picks the schema, migrations and adapter.
// The schema reads env("DATABASE_URL"); default it here so `prisma generate` works with no database around.
const url = (process.env.DATABASE_URL ??= 'file:./.devnet/zansoc.db');
const postgres = /^postgres(ql)?:\/\//.test(url);
const dir = postgres ? join(__dirname, 'prisma/postgres') : join(__dirname, 'prisma');

export default defineConfig({
  experimental: { adapter: true },
  engine: 'js',
  schema: join(dir, 'schema.prisma'),
  migrations: { path: join(dir, 'migrations') },
  adapter: async () => (postgres ? new PrismaPg({ connectionString: url }) : new PrismaBetterSQLite3({ url })),
});
