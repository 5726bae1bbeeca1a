import { Wallet } from 'ethers';
import { ANVIL_KEYS, LOCAL_CHAIN_ID, wellKnownKeyProblems } from './well-known-keys';

describe("anvil's well-known keys", () => {
  it('are the ten accounts of anvil\'s default mnemonic', () => {
    expect(ANVIL_KEYS).toHaveLength(10);
    expect(new Wallet(ANVIL_KEYS[0]).address).toBe('0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266');
    expect(new Wallet(ANVIL_KEYS[9]).address).toBe('0xa0Ee7A142d267C1f36714E4a8F75612F20a79720');
  });

  it('are refused on any chain but the local one, naming the variable and which key it is', () => {
    expect(wellKnownKeyProblems(8453, { SETTLER_KEY: ANVIL_KEYS[1] })).toEqual([
      "SETTLER_KEY: anvil's well-known key #1 must not be used on chain 8453",
    ]);
    // The deploy script takes a key without 0x, and hex in any case.
    expect(wellKnownKeyProblems(1n, { DEPLOYER_KEY: ANVIL_KEYS[0].slice(2).toUpperCase(), CLIENT_KEY: ANVIL_KEYS[3] })).toEqual([
      "DEPLOYER_KEY: anvil's well-known key #0 must not be used on chain 1",
      "CLIENT_KEY: anvil's well-known key #3 must not be used on chain 1",
    ]);
  });

  it('are allowed on the local chain, and other keys anywhere', () => {
    expect(wellKnownKeyProblems(LOCAL_CHAIN_ID, { SETTLER_KEY: ANVIL_KEYS[1] })).toEqual([]);
    expect(wellKnownKeyProblems(8453, { SETTLER_KEY: `0x${'1'.repeat(64)}`, FAUCET_KEY: undefined })).toEqual([]);
  });
});
