import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Wallet } from 'ethers';

/**
 * The production stack cannot be started here (its images cannot be pulled), so its files are checked by the tools
 * that read them: docker-compose validates docker-compose.yml, promtool the Prometheus scrape config.
 */
const run = promisify(execFile);
const root = join(__dirname, '..');
const randomKey = () => Wallet.createRandom().privateKey;
const randomAddress = () => Wallet.createRandom().address;
/** Every key and role address the stack needs: docker-compose.yml defaults none of them. */
const keys = {
  DEPLOYER_KEY: randomKey(), TREASURY_ADDRESS: randomAddress(), SETTLER_ADDRESS: randomAddress(), GOVERNOR_ADDRESS: randomAddress(),
  SETTLER_KEY: randomKey(), HOST_KEY_PASSPHRASE: 'a passphrase of our own',
};
const compose = (args: string[], env: Record<string, string>) =>
  run('docker-compose', ['-f', 'docker-compose.yml', ...args], { cwd: root, env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env } });

describe('production stack files', () => {
  it('docker-compose.yml is valid and has every service the stack needs', async () => {
    await compose(['config', '--quiet'], keys);
    const { stdout } = await compose(['config', '--services'], keys);
    expect(stdout.trim().split('\n').sort()).toEqual([
      'api', 'chain', 'deploy', 'grafana', 'host-1', 'host-2', 'orchestrator', 'postgres', 'prometheus', 'temporal', 'temporal-setup', 'temporal-ui',
    ]);
  });

  it.each(Object.keys(keys))('docker-compose.yml refuses to start without %s, naming it', async (missing) => {
    const { [missing]: _left, ...rest } = keys as Record<string, string>;
    await expect(compose(['config', '--quiet'], rest)).rejects.toMatchObject({ stderr: expect.stringContaining(`set ${missing} to `) });
  });

  it('docker-compose.yml defaults no key: every key the stack resolves is the one it was given', async () => {
    const { stdout } = await compose(['config'], keys);
    expect(stdout.match(/0x[0-9a-fA-F]{64}/g)?.sort()).toEqual([keys.DEPLOYER_KEY, keys.SETTLER_KEY].sort());
  });

  it('the Prometheus config of the stack passes promtool check config', async () => {
    const { stdout, stderr } = await run('promtool', ['check', 'config', 'deploy/prometheus.yml'], { cwd: root });
    expect(`${stdout}${stderr}`).toContain('SUCCESS');
  });
});
