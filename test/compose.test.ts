import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';

/**
 * The production stack cannot be started here (its images cannot be pulled), so its files are checked by the tools
 * that read them: docker-compose validates docker-compose.yml, promtool the Prometheus scrape config.
 */
const run = promisify(execFile);
const root = join(__dirname, '..');

describe('production stack files', () => {
  it('docker-compose.yml is valid and has every service the stack needs', async () => {
    await run('docker-compose', ['-f', 'docker-compose.yml', 'config', '--quiet'], { cwd: root });
    const { stdout } = await run('docker-compose', ['-f', 'docker-compose.yml', 'config', '--services'], { cwd: root });
    expect(stdout.trim().split('\n').sort()).toEqual([
      'api', 'chain', 'deploy', 'grafana', 'host-1', 'host-2', 'orchestrator', 'postgres', 'prometheus', 'temporal', 'temporal-setup', 'temporal-ui',
    ]);
  });

  it('the Prometheus config of the stack passes promtool check config', async () => {
    const { stdout, stderr } = await run('promtool', ['check', 'config', 'deploy/prometheus.yml'], { cwd: root });
    expect(`${stdout}${stderr}`).toContain('SUCCESS');
  });
});
