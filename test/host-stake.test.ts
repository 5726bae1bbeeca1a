import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Wallet } from 'ethers';
import { connectHostRegistry } from '../contracts/bindings';
import { createProvider } from '../contracts/provider';
import { ensureHostStake } from '../host-worker/stake';
import { startTestChain, type TestChain } from './support/chain';

/**
 * A host stakes at join with a chain connection of its own, closed after. Many hosts joining at once (the scale
 * benchmark's fleet) once crashed their process: ethers' block poller still had a request in flight when the
 * connection closed, and its rejection went unhandled. Joining must leave nothing behind to reject.
 */
let chain: TestChain;
let dir: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'zansoc-host-stake-'));
  chain = await startTestChain(dir);
});

afterAll(async () => {
  await chain?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('32 hosts staking at once each stake what they asked, and leave no unhandled rejection behind', async () => {
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown) => unhandled.push(reason);
  process.on('unhandledRejection', onUnhandled);
  try {
    const provider = createProvider(chain.rpcUrl);
    const wallets = Array.from({ length: 32 }, () => new Wallet(Wallet.createRandom().privateKey));
    for (const wallet of wallets) {
      await provider.send('anvil_setBalance', [wallet.address, '0x' + (10n ** 20n).toString(16)]);
      await chain.fund(wallet.address, '100');
    }
    const offer = { arch: 'x86_64', cpus: 2, memoryMiB: 4096, diskMiB: 10_240, gpus: 0, gpuModel: null, maxSlots: 2, pricePerCpuSecond: '1000000000000', pricePerGibSecond: '0', pricePerGpuSecond: '0' };
    const stake = 100n * 10n ** 18n;
    const results = await Promise.all(wallets.map((wallet) => ensureHostStake({ rpcUrl: chain.rpcUrl, deployment: chain.deployment, wallet, stake, offer })));
    expect(results.map((r) => r.staked)).toEqual(wallets.map(() => stake));
    // Each sent approve and register: two transactions, and nothing when asked again.
    expect(results.map((r) => r.sent.length)).toEqual(wallets.map(() => 2));
    expect((await ensureHostStake({ rpcUrl: chain.rpcUrl, deployment: chain.deployment, wallet: wallets[0], stake, offer })).sent).toEqual([]);
    const registry = connectHostRegistry(chain.deployment.hostRegistry, provider);
    for (const wallet of wallets) expect((await registry.hostOf(wallet.address))[1]).toBe(stake);
    provider.destroy();
    // Longer than the provider's polling interval: a poll left in flight would have rejected by now.
    await new Promise((r) => setTimeout(r, 2500));
    expect(unhandled).toEqual([]);
  } finally {
    process.off('unhandledRejection', onUnhandled);
  }
});
