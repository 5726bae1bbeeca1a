import { HDNodeWallet, Mnemonic, Wallet } from 'ethers';
import { LOCAL_CHAIN_ID, WELL_KNOWN_ADDRESSES, wellKnownKeyProblems } from './well-known-keys';

/** anvil's accounts derived afresh from its default mnemonic, as anyone can. */
const mnemonic = Mnemonic.fromPhrase('test test test test test test test test test test test junk');
const ANVIL_KEYS = Array.from({ length: 10 }, (_, i) => HDNodeWallet.fromMnemonic(mnemonic, `m/44'/60'/0'/0/${i}`).privateKey);

describe("anvil's well-known keys", () => {
  it('are the ten accounts of anvil\'s default mnemonic', () => {
    expect(WELL_KNOWN_ADDRESSES).toEqual(ANVIL_KEYS.map((key) => new Wallet(key).address));
  });

  it('are refused on any chain but the local one, naming the variable and which key it is', () => {
    expect(wellKnownKeyProblems(8453, { SETTLER_KEY: ANVIL_KEYS[1] })).toEqual([
      "SETTLER_KEY: anvil's well-known key #1 must not be used on chain 8453",
    ]);
    // The deploy script takes a key without 0x, and hex in any case.
    expect(wellKnownKeyProblems(1n, { DEPLOYER_KEY: ANVIL_KEYS[0].slice(2).toUpperCase(), FAUCET_KEY: ANVIL_KEYS[3] })).toEqual([
      "DEPLOYER_KEY: anvil's well-known key #0 must not be used on chain 1",
      "FAUCET_KEY: anvil's well-known key #3 must not be used on chain 1",
    ]);
  });

  it('are allowed on the local chain, and other keys anywhere', () => {
    expect(wellKnownKeyProblems(LOCAL_CHAIN_ID, { SETTLER_KEY: ANVIL_KEYS[1] })).toEqual([]);
    expect(wellKnownKeyProblems(8453, { SETTLER_KEY: `0x${'1'.repeat(64)}`, FAUCET_KEY: undefined })).toEqual([]);
  });
});
