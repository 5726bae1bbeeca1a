import { Fragment, Interface } from 'ethers';
import { HOST_REGISTRY_ABI, JOB_ESCROW_ABI, STORAGE_ESCROW_ABI, ZANSOC_TIMELOCK_ABI, ZANSOC_TOKEN_ABI } from '../../contracts/bindings';
import { buildContracts } from '../../contracts/build';

it.each([
  ['ZansocToken', ZANSOC_TOKEN_ABI],
  ['HostRegistry', HOST_REGISTRY_ABI],
  ['JobEscrow', JOB_ESCROW_ABI],
  ['StorageEscrow', STORAGE_ESCROW_ABI],
  ['ZansocTimelock', ZANSOC_TIMELOCK_ABI],
] as const)('the written-out ABI of %s equals the compiled one', async (name, abi) => {
  const artifacts = await buildContracts();
  const signatures = (fragments: readonly Fragment[]) => fragments.filter((fr) => fr.type !== 'constructor').map((fr) => fr.format('full')).sort();
  expect(signatures(Interface.from(abi).fragments)).toEqual(signatures(Interface.from(artifacts[name].abi).fragments));
});

it('builds only deployable contracts', async () => {
  expect(Object.keys(await buildContracts()).sort()).toEqual(['HostRegistry', 'JobEscrow', 'StorageEscrow', 'ZansocTimelock', 'ZansocToken']);
});
