import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Wallet } from 'ethers';
import { saveDeployment, type Deployment } from '../contracts/deployment';
import { createWalletService } from './wallet';

describe('the faucet', () => {
  const roles = { deployer: Wallet.createRandom(), treasury: Wallet.createRandom(), settler: Wallet.createRandom(), governor: Wallet.createRandom() };
  const contract = () => Wallet.createRandom().address;
  const deployment: Deployment = {
    chainId: 31337, token: contract(), hostRegistry: contract(), jobEscrow: contract(), storageEscrow: contract(), blockNumber: 1,
    deployer: roles.deployer.address, treasury: roles.treasury.address, settler: roles.settler.address, governor: roles.governor.address,
  };
  let dir: string;
  let deploymentFile: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'zansoc-wallet-'));
    deploymentFile = saveDeployment(deployment, dir);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it.each(Object.keys(roles) as (keyof typeof roles)[])('refuses the key of the deployment\'s %s: the faucet gives from a wallet of its own', (role) => {
    expect(() => createWalletService({ rpcUrl: 'http://127.0.0.1:1', deploymentFile, faucetKey: roles[role].privateKey, faucetAmount: '1' }))
      .toThrow(`FAUCET_KEY: is the key of the deployment's ${role} (${roles[role].address}); the faucet needs a wallet of its own`);
  });
});
