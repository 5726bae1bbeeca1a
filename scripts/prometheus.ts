import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort } from './free-port';

export interface PrometheusServer {
  url: string;
  /** Runs an instant PromQL query through Prometheus's HTTP API. */
  query(expr: string): Promise<{ metric: Record<string, string>; value: [number, string] }[]>;
  stop(): Promise<void>;
}

/**
 * A real Prometheus (Debian's `prometheus` package, installed by scripts/setup) scraping the given /metrics URLs every
 * second, with its data in `dir`. Jobs are named after the keys of `targets`.
 */
export async function startPrometheus(dir: string, targets: Record<string, string>, listenPort?: number): Promise<PrometheusServer> {
  mkdirSync(dir, { recursive: true });
  const config = [
    'global:',
    '  scrape_interval: 1s',
    'scrape_configs:',
    ...Object.entries(targets).flatMap(([job, url]) => {
      const u = new URL(url);
      return [`  - job_name: '${job}'`, `    metrics_path: '${u.pathname}'`, '    static_configs:', `      - targets: ['${u.host}']`];
    }),
    '',
  ].join('\n');
  writeFileSync(join(dir, 'prometheus.yml'), config);
  const port = listenPort ?? (await freePort());
  const url = `http://127.0.0.1:${port}`;
  const child = spawn('prometheus', [
    `--config.file=${join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`,
  ], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`prometheus exited at start: ${stderr}`);
    if (await fetch(`${url}/-/ready`).then((r) => r.ok, () => false)) break;
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`prometheus not ready on ${url} within 30s: ${stderr}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  return {
    url,
    async query(expr) {
      const res = await fetch(`${url}/api/v1/query?query=${encodeURIComponent(expr)}`);
      const body = (await res.json()) as { status: string; error?: string; data: { result: { metric: Record<string, string>; value: [number, string] }[] } };
      if (body.status !== 'success') throw new Error(`prometheus query ${expr} failed: ${body.error}`);
      return body.data.result;
    },
    async stop() {
      child.kill('SIGTERM');
      await exited;
    },
  };
}
