import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createApiMetrics, createHostMetrics, createOrchestratorMetrics } from '../metrics/registry';
import { renderDashboards } from '.';
import { TEMPORAL_SDK_METRICS } from './temporal';

/** Every metric name the code exports, with the series names Prometheus derives from histograms. */
async function exportedNames(): Promise<Set<string>> {
  const names = new Set<string>();
  for (const { registry } of [createApiMetrics(), createOrchestratorMetrics(), createHostMetrics()]) {
    for (const metric of await registry.getMetricsAsJSON()) {
      names.add(metric.name);
      if (String(metric.type) === 'histogram') for (const suffix of ['_bucket', '_sum', '_count']) names.add(`${metric.name}${suffix}`);
    }
  }
  for (const name of TEMPORAL_SDK_METRICS) for (const suffix of ['', '_bucket', '_sum', '_count']) names.add(`${name}${suffix}`);
  return names;
}

describe('dashboards', () => {
  it('are checked in as generated: run `npm run dashboards` after changing them', () => {
    for (const [file, json] of Object.entries(renderDashboards())) {
      expect(readFileSync(join(__dirname, 'json', file), 'utf8')).toBe(json);
    }
  });

  it('query only metrics the code exports', async () => {
    const exported = await exportedNames();
    const missing: string[] = [];
    let queries = 0;
    for (const [file, json] of Object.entries(renderDashboards())) {
      const dashboard = JSON.parse(json) as { panels?: { title?: string; targets?: { expr?: string }[] }[] };
      for (const panel of dashboard.panels ?? []) {
        for (const target of panel.targets ?? []) {
          queries++;
          for (const [name] of (target.expr ?? '').matchAll(/\b(?:zansoc|temporal)_[a-z0-9_]+\b/g)) {
            if (!exported.has(name)) missing.push(`${file} "${panel.title}": ${name}`);
          }
        }
      }
    }
    expect(queries).toBeGreaterThan(20);
    expect(missing).toEqual([]);
  });

  it('have fixed, distinct uids', () => {
    const uids = Object.values(renderDashboards()).map((json) => (JSON.parse(json) as { uid: string }).uid);
    expect(uids).toEqual(['zansoc-overview', 'zansoc-jobs', 'zansoc-hosts', 'zansoc-storage', 'zansoc-chain', 'zansoc-temporal']);
  });
});
