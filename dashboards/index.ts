import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { chain } from './chain';
import { hosts } from './hosts';
import { jobs } from './jobs';
import { overview } from './overview';
import { storage } from './storage';
import { temporal } from './temporal';

/** Every dashboard, by file name. */
export const DASHBOARDS = { overview, jobs, hosts, storage, chain, temporal };

/** The JSON Grafana loads, as checked in under dashboards/json. */
export function renderDashboards(): Record<string, string> {
  return Object.fromEntries(Object.entries(DASHBOARDS).map(([name, builder]) => [`${name}.json`, `${JSON.stringify(builder.build(), null, 2)}\n`]));
}

if (require.main === module) {
  const dir = join(__dirname, 'json');
  mkdirSync(dir, { recursive: true });
  for (const [file, json] of Object.entries(renderDashboards())) {
    writeFileSync(join(dir, file), json);
    console.log(`wrote dashboards/json/${file}`);
  }
}
