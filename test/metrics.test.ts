import { execFile } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TEMPORAL_SDK_METRICS } from '../dashboards/temporal';
import { JOB_IMAGE } from '../scripts/build-images';
import { startDevnet, waitForJob, type Devnet } from '../scripts/devnet';
import { startPrometheus, type PrometheusServer } from '../scripts/prometheus';
import { tearDownDevnet } from './support/devnet';

/**
 * Metrics on the devnet: every /metrics endpoint passes Prometheus's own `promtool check metrics`, and a real
 * Prometheus scraping the devnet sees a job finish.
 */
const promtool = (text: string) => new Promise<{ code: number; output: string }>((resolve) => {
  const child = execFile('promtool', ['check', 'metrics'], (err, stdout, stderr) => resolve({ code: err ? (err as { code?: number }).code ?? 1 : 0, output: stdout + stderr }));
  child.stdin!.end(text);
});

describe('metrics', () => {
  let dir: string;
  let devnet: Devnet;
  let prometheus: PrometheusServer;
  const lines: string[] = [];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'zansoc-metrics-'));
    devnet = await startDevnet({ dir, hosts: 2, headless: true, spotCheckFraction: 0, log: (line) => lines.push(line) });
    prometheus = await startPrometheus(join(dir, 'prometheus'), devnet.metricsUrls);
  }, 300_000);

  afterAll(async () => {
    await prometheus?.stop();
    await tearDownDevnet({ devnet, dir });
  }, 120_000);

  it('lets a real Prometheus see a job finish, its latency and its payment', async () => {
    const { job } = await devnet.api.jobs.submit.mutate({ spec: { image: JOB_IMAGE, command: ['sh', '-c', 'echo metered'], resources: { cpu: 0.5, memoryMiB: 64 } } });
    expect((await waitForJob(devnet.api, job.id)).state).toBe('SUCCEEDED');
    // Prometheus scrapes each target once a second, at its own offset: wait until a query sees what it should.
    const eventually = async (expr: string, ok: (values: number[]) => boolean) => {
      let values: number[] = [];
      for (let i = 0; i < 60; i++) {
        values = (await prometheus.query(expr)).map((s) => Number(s.value[1]));
        if (ok(values)) return values;
        await new Promise((r) => setTimeout(r, 250));
      }
      throw new Error(`${expr} never satisfied the check; last values ${JSON.stringify(values)}`);
    };
    await eventually('zansoc_jobs_finished_total{state="SUCCEEDED"}', (v) => v.length === 1 && v[0] >= 1);
    await eventually('zansoc_job_submit_to_running_seconds_count', (v) => v[0] >= 1);
    await eventually('zansoc_payouts_zsc_total', (v) => v[0] > 0);
    await eventually('zansoc_jobs_submitted_total', (v) => v[0] === 1);
    await eventually('sum(zansoc_host_slots_total{outcome="succeeded"})', (v) => v[0] === 1);
    // Every target scraped and up.
    const targets = Object.keys(devnet.metricsUrls).length;
    await eventually('up', (v) => v.length === targets);
    const up = await prometheus.query('up');
    expect(up.map((s) => `${s.metric.job}=${s.value[1]}`).sort()).toEqual(Object.keys(devnet.metricsUrls).map((name) => `${name}=1`).sort());
  }, 120_000);

  it('passes promtool check metrics on every endpoint, and the workers export the Temporal SDK metrics the dashboards read', async () => {
    for (const [role, url] of Object.entries(devnet.metricsUrls)) {
      const text = await (await fetch(url)).text();
      expect(text.length).toBeGreaterThan(100);
      const checked = await promtool(text);
      if (checked.code !== 0) throw new Error(`promtool check metrics failed for ${role} (${url}):\n${checked.output}`);
      if (role === 'orchestrator-temporal') for (const name of TEMPORAL_SDK_METRICS) expect(text).toMatch(new RegExp(`^${name}(_bucket)?\\{`, 'm'));
    }
  });
});
