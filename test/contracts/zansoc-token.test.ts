import { Signature, ZeroAddress, id } from 'ethers';
import { startChainFixture, zsc, type ChainFixture } from './fixture';

const TOTAL_SUPPLY = zsc('1000000000');
let f: ChainFixture;

beforeAll(async () => {
  f = await startChainFixture();
});

afterAll(async () => {
  await f?.stop();
});

it('is ZSC with 18 decimals and a fixed supply minted to the treasury at deployment', async () => {
  const token = f.token();
  expect([await token.name(), await token.symbol(), await token.decimals()]).toEqual(['Zansoc', 'ZSC', 18n]);
  expect(await token.totalSupply()).toBe(TOTAL_SUPPLY);
  const mints = await token.queryFilter(token.filters.Transfer(ZeroAddress), 0);
  expect(mints.map((log) => token.interface.parseLog(log)?.args.toArray())).toEqual([[ZeroAddress, f.deployment.treasury, TOTAL_SUPPLY]]);
  expect(f.artifacts.ZansocToken.abi.filter((fr) => fr.name?.toLowerCase().includes('mint'))).toEqual([]);
});

it('lets a client approve the escrow with a permit signature instead of a transaction', async () => {
  const client = f.wallets.clientB;
  await f.fund(client.address, zsc('5'));
  const token = f.token(client);
  const amount = zsc('5');
  const deadline = (await f.latestTimestamp()) + 600;
  const { chainId } = await f.provider.getNetwork();
  const signature = Signature.from(
    await client.signTypedData(
      { name: 'Zansoc', version: '1', chainId, verifyingContract: f.deployment.token },
      {
        Permit: [
          { name: 'owner', type: 'address' },
          { name: 'spender', type: 'address' },
          { name: 'value', type: 'uint256' },
          { name: 'nonce', type: 'uint256' },
          { name: 'deadline', type: 'uint256' },
        ],
      },
      { owner: client.address, spender: f.deployment.jobEscrow, value: amount, nonce: await token.nonces(client.address), deadline },
    ),
  );
  await (await f.token(f.wallets.deployer).permit(client.address, f.deployment.jobEscrow, amount, deadline, signature.v, signature.r, signature.s)).wait();
  expect(await token.allowance(client.address, f.deployment.jobEscrow)).toBe(amount);

  // The client's order then spends the allowance, relayed by the settler without a permit of its own.
  await f.openJobFor(client, { jobId: id('permitted job'), pricePerSlot: amount, deadline, permit: 'none' });
  expect(await token.allowance(client.address, f.deployment.jobEscrow)).toBe(0n);
});
