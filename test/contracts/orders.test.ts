import { ContractFactory, Signature, Wallet, id, type BaseContract } from 'ethers';
import solc from 'solc';
import { EscrowStatus } from '../../contracts/bindings';
import { NO_PERMIT, escrowIdOf, jobOrderAmount, type JobOrder } from '../../domain/orders';
import { eventsIn, expectRevert, startChainFixture, zsc, type ChainFixture } from './fixture';

/**
 * What the escrows take on a client's or host's signature only: relayed orders and permits, their tampering, replay
 * and revocation, bonds without consent, and a wallet contract (ERC-1271) as the client.
 */

let f: ChainFixture;
let counter = 0;
const newId = (what: string) => id(`orders-test-${what}-${++counter}`);

beforeAll(async () => {
  f = await startChainFixture();
  for (const client of [f.wallets.clientA, f.wallets.clientB]) await f.fund(client.address, zsc('10000'));
  for (const host of [f.wallets.host1, f.wallets.host2]) await f.registerHost(host, zsc('1000'));
});

afterAll(async () => {
  await f?.stop();
});

const balanceOf = (address: string) => f.token().balanceOf(address);
const asSettler = () => f.escrow(f.wallets.settler);

/** Relays `order` with `signature` (the client's own by default) and an exact permit of the client's. */
async function relay(order: JobOrder, signer: Wallet, signature?: string) {
  const permit = await f.signPermit(signer, 'job', jobOrderAmount(order));
  return asSettler().openJobFor(order, signature ?? (await f.signJobOrder(signer, order)), permit);
}

describe('relayed job orders', () => {
  it('open a job for a client with no ETH, taking exactly the amount by its permit', async () => {
    const client = new Wallet(Wallet.createRandom().privateKey, f.provider);
    await f.fund(client.address, zsc('10'));
    const [settlerBefore, escrowBefore] = await Promise.all([balanceOf(f.wallets.settler.address), balanceOf(f.deployment.jobEscrow)]);

    const { escrowId, amount } = await f.openJobFor(client, { pricePerSlot: zsc('2.5'), slots: 4 });
    expect(amount).toBe(zsc('10'));
    expect(await f.provider.getBalance(client.address)).toBe(0n);
    expect(await balanceOf(client.address)).toBe(0n);
    expect(await balanceOf(f.deployment.jobEscrow)).toBe(escrowBefore + zsc('10'));
    expect(await balanceOf(f.wallets.settler.address)).toBe(settlerBefore);
    const [owner, locked, price, , status] = await f.escrow().jobOf(escrowId);
    expect([owner, locked, price, Number(status)]).toEqual([client.address, zsc('10'), zsc('2.5'), EscrowStatus.Open]);
  });

  it('return the escrow id, which is the one domain/orders.ts derives, and sign for the domain it describes', async () => {
    const client = f.wallets.clientA;
    const order = await f.jobOrder(client.address);
    const permit = await f.signPermit(client, 'job', jobOrderAmount(order));
    const escrowId = await asSettler().openJobFor.staticCall(order, await f.signJobOrder(client, order), permit);
    expect(escrowId).toBe(escrowIdOf(client.address, order.jobId));
    expect(await f.escrow().escrowIdOf(client.address, order.jobId)).toBe(escrowId);
    const [, name, version, chainId, verifyingContract] = await f.escrow().eip712Domain();
    expect([name, version, Number(chainId), verifyingContract]).toEqual(['Zansoc JobEscrow', '1', f.chainId, f.deployment.jobEscrow]);
    const [, storageName] = await f.storage().eip712Domain();
    expect(storageName).toBe('Zansoc StorageEscrow');
  });

  it('refuse a replayed order, open or settled', async () => {
    const client = f.wallets.clientA;
    const { escrowId, order } = await f.openJobFor(client);
    const signature = await f.signJobOrder(client, order);
    await expectRevert(relay(order, client, signature), f.escrow(), 'JobEscrowJobExists', [escrowId]);
    await (await asSettler().settle(escrowId, [], [])).wait();
    await expectRevert(relay(order, client, signature), f.escrow(), 'JobEscrowJobExists', [escrowId]);
  });

  it('refuse an order changed after it was signed: spec, price, slots, job, deadline or nonce', async () => {
    const client = f.wallets.clientA;
    const order = await f.jobOrder(client.address, { pricePerSlot: zsc('1'), slots: 2 });
    const signature = await f.signJobOrder(client, order);
    const changes: Partial<JobOrder>[] = [
      { specHash: id('another spec') },
      { pricePerSlot: String(zsc('2')) },
      { slots: 3 },
      { jobId: newId('job') },
      { deadline: order.deadline + 1 },
      { nonce: '1' },
    ];
    for (const change of changes) {
      await expectRevert(relay({ ...order, ...change }, client, signature), f.escrow(), 'EscrowBadSignature', [client.address]);
    }
    await (await relay(order, client, signature)).wait();
  });

  it('still open the job when someone submitted the permit to the token first', async () => {
    const client = f.wallets.clientB;
    const order = await f.jobOrder(client.address, { pricePerSlot: zsc('3') });
    const permit = await f.signPermit(client, 'job', zsc('3'));
    const { v, r, s } = Signature.from({ v: permit.v, r: permit.r, s: permit.s });
    await (await f.token(f.wallets.challenger).permit(client.address, f.deployment.jobEscrow, permit.value, permit.deadline, v, r, s)).wait();
    const before = await balanceOf(client.address);

    await (await asSettler().openJobFor(order, await f.signJobOrder(client, order), permit)).wait();
    expect(await balanceOf(client.address)).toBe(before - zsc('3'));
    expect(await f.token().allowance(client.address, f.deployment.jobEscrow)).toBe(0n);
  });

  it("never take one client's money on another's order, nor the relayer's", async () => {
    const { clientA, clientB } = f.wallets;
    // B's allowance is there for anyone's order to try to spend.
    await f.approveEscrows(clientB);
    const [aBefore, bBefore] = await Promise.all([balanceOf(clientA.address), balanceOf(clientB.address)]);

    const forB = await f.jobOrder(clientB.address);
    await expectRevert(asSettler().openJobFor(forB, await f.signJobOrder(clientA, forB), NO_PERMIT), f.escrow(), 'EscrowBadSignature', [clientB.address]);
    // A's own order relayed by B: the money comes from A.
    await f.openJobFor(clientA, { pricePerSlot: zsc('4'), relayer: clientB });
    expect(await Promise.all([balanceOf(clientA.address), balanceOf(clientB.address)])).toEqual([aBefore - zsc('4'), bBefore]);
    await (await f.token(clientB).approve(f.deployment.jobEscrow, 0n)).wait();
    await (await f.token(clientB).approve(f.deployment.storageEscrow, 0n)).wait();
  });

  it('give two clients with the same job id two escrows, so no one can take a job id', async () => {
    const jobId = newId('shared');
    const first = await f.openJobFor(f.wallets.clientA, { jobId, pricePerSlot: 1n });
    const second = await f.openJobFor(f.wallets.clientB, { jobId, pricePerSlot: 2n });
    expect(first.escrowId).not.toBe(second.escrowId);
    expect((await f.escrow().jobOf(first.escrowId))[0]).toBe(f.wallets.clientA.address);
    expect((await f.escrow().jobOf(second.escrowId))[0]).toBe(f.wallets.clientB.address);
  });

  it('refuse an order past its deadline, or below the floor its client raised, and the floor only goes up', async () => {
    const client = new Wallet(Wallet.createRandom().privateKey, f.provider);
    await f.fund(client.address, zsc('10'));
    await f.provider.send('anvil_setBalance', [client.address, '0xde0b6b3a7640000']);
    const now = await f.latestTimestamp();
    await expectRevert(relay(await f.jobOrder(client.address, { deadline: now }), client), f.escrow(), 'EscrowDeadlineInPast', [BigInt(now)]);

    const cancelled = await (await f.escrow(client).cancelOrdersBelow(5n)).wait();
    expect(eventsIn(cancelled, f.escrow(), 'OrdersCancelled')).toEqual([[client.address, 5n]]);
    expect(await f.escrow().minNonceOf(client.address)).toBe(5n);
    expect(await f.storage().minNonceOf(client.address)).toBe(0n);
    await expectRevert(relay(await f.jobOrder(client.address, { nonce: 4n }), client), f.escrow(), 'EscrowOrderCancelled', [client.address, 4n, 5n]);
    await expectRevert(f.escrow(client).cancelOrdersBelow(5n), f.escrow(), 'EscrowNonceFloorNotRaised', [5n, 5n]);
    await expectRevert(f.escrow(client).cancelOrdersBelow(1n), f.escrow(), 'EscrowNonceFloorNotRaised', [1n, 5n]);
    await (await relay(await f.jobOrder(client.address, { nonce: 5n }), client)).wait();
  });
});

describe('bonds', () => {
  it('need the consent the host signed, for this escrow, this amount, before its deadline', async () => {
    const { host1, host2 } = f.wallets;
    const { escrowId } = await f.openJobFor(f.wallets.clientA);
    const { escrowId: other } = await f.openJobFor(f.wallets.clientA);
    const escrow = asSettler();
    const amount = zsc('10');
    const bondWith = (signature: string, deadline: number, bonded = amount) => escrow.bond(escrowId, host1.address, bonded, deadline, signature);
    const { consent, signature } = await f.signConsent(host1, 'job', escrowId, amount);

    await expectRevert(bondWith('0x', consent.deadline), escrow, 'EscrowBadSignature', [host1.address]);
    await expectRevert(bondWith((await f.signConsent(host2, 'job', escrowId, amount, consent.deadline)).signature, consent.deadline), escrow, 'EscrowBadSignature', [host1.address]);
    await expectRevert(bondWith(signature, consent.deadline, amount + 1n), escrow, 'EscrowBadSignature', [host1.address]);
    await expectRevert(bondWith(signature, consent.deadline + 1), escrow, 'EscrowBadSignature', [host1.address]);
    await expectRevert(bondWith((await f.signConsent(host1, 'job', other, amount, consent.deadline)).signature, consent.deadline), escrow, 'EscrowBadSignature', [host1.address]);
    await expectRevert(bondWith((await f.signConsent(host1, 'storage', escrowId, amount, consent.deadline)).signature, consent.deadline), escrow, 'EscrowBadSignature', [host1.address]);
    const now = await f.latestTimestamp();
    const expired = await f.signConsent(host1, 'job', escrowId, amount, now);
    await expectRevert(bondWith(expired.signature, now), escrow, 'EscrowConsentExpired', [BigInt(now)]);
    expect(await f.escrow().bondOf(escrowId, host1.address)).toBe(0n);

    await (await bondWith(signature, consent.deadline)).wait();
    expect(await f.escrow().bondOf(escrowId, host1.address)).toBe(amount);
    await expectRevert(bondWith(signature, consent.deadline), escrow, 'EscrowHostAlreadyBonded', [escrowId, host1.address]);
  });

  it('of a deal need a consent signed for StorageEscrow, and one consent bonds once', async () => {
    const { host1 } = f.wallets;
    const { escrowId } = await f.depositFor(f.wallets.clientA, { ratePerHostPeriod: 1n, replicas: 1, periods: 1 });
    const storage = f.storage(f.wallets.settler);
    const forJobs = await f.signConsent(host1, 'job', escrowId, 5n);
    await expectRevert(storage.bond(escrowId, host1.address, 5n, forJobs.consent.deadline, forJobs.signature), storage, 'EscrowBadSignature', [host1.address]);
    const { consent, signature } = await f.signConsent(host1, 'storage', escrowId, 5n);
    await (await storage.bond(escrowId, host1.address, 5n, consent.deadline, signature)).wait();
    await (await storage.releaseBond(escrowId, host1.address)).wait();
    await expectRevert(storage.bond(escrowId, host1.address, 5n, consent.deadline, signature), storage, 'EscrowHostAlreadyBonded', [escrowId, host1.address]);
  });
});

describe('relayed deal orders', () => {
  it('deposit by permit, refuse a changed or replayed order, and key the escrow by the client', async () => {
    const { clientA, clientB } = f.wallets;
    const storage = f.storage(f.wallets.settler);
    const dealId = newId('deal');
    const order = await f.dealOrder(clientA.address, { dealId, ratePerHostPeriod: 3n, replicas: 2, periods: 5 });
    const signature = await f.signDealOrder(clientA, order);
    const permit = await f.signPermit(clientA, 'storage', 30n);
    for (const change of [{ periods: 6 }, { replicas: 3 }, { ratePerHostPeriod: '4' }, { specHash: id('another spec') }]) {
      await expectRevert(storage.depositFor({ ...order, ...change }, signature, permit), storage, 'EscrowBadSignature', [clientA.address]);
    }
    await expectRevert(storage.depositFor({ ...order, client: clientB.address }, signature, NO_PERMIT), storage, 'EscrowBadSignature', [clientB.address]);

    const before = await balanceOf(clientA.address);
    await (await storage.depositFor(order, signature, permit)).wait();
    expect(await balanceOf(clientA.address)).toBe(before - 30n);
    const escrowId = escrowIdOf(clientA.address, dealId);
    expect((await f.storage().dealOf(escrowId))[1]).toBe(30n);
    await expectRevert(storage.depositFor(order, signature, NO_PERMIT), storage, 'StorageEscrowDealExists', [escrowId]);
    const { escrowId: ofB } = await f.depositFor(clientB, { dealId, ratePerHostPeriod: 1n, replicas: 1, periods: 1 });
    expect(ofB).not.toBe(escrowId);
  });
});

/** A minimal ERC-1271 wallet: valid signatures are its owner's; only the owner may make it approve. */
const WALLET_SOURCE = `
// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;
interface IApprove { function approve(address spender, uint256 value) external returns (bool); }
contract TestWallet {
    address private immutable _owner;
    constructor(address owner_) { _owner = owner_; }
    function approve(address token, address spender, uint256 value) external {
        require(msg.sender == _owner, "not the owner");
        IApprove(token).approve(spender, value);
    }
    function isValidSignature(bytes32 hash, bytes calldata signature) external view returns (bytes4) {
        if (signature.length != 65) return 0xffffffff;
        address signer = ecrecover(hash, uint8(signature[64]), bytes32(signature[0:32]), bytes32(signature[32:64]));
        return signer == _owner && signer != address(0) ? bytes4(0x1626ba7e) : bytes4(0xffffffff);
    }
}`;

async function deployTestWallet(owner: Wallet): Promise<BaseContract & { approve(token: string, spender: string, value: bigint): Promise<{ wait(): Promise<unknown> }> }> {
  const input = { language: 'Solidity', sources: { 'TestWallet.sol': { content: WALLET_SOURCE } }, settings: { evmVersion: 'cancun', outputSelection: { '*': { '*': ['abi', 'evm.bytecode.object'] } } } };
  const compile = solc.compile as (input: string) => string;
  const output = JSON.parse(compile(JSON.stringify(input))) as {
    errors?: { severity: string; formattedMessage: string }[];
    contracts: Record<string, Record<string, { abi: []; evm: { bytecode: { object: string } } }>>;
  };
  const errors = (output.errors ?? []).filter((e) => e.severity === 'error');
  if (errors.length > 0) throw new Error(errors.map((e) => e.formattedMessage).join('\n'));
  const { abi, evm } = output.contracts['TestWallet.sol'].TestWallet;
  const contract = await new ContractFactory(abi, `0x${evm.bytecode.object}`, owner).deploy(owner.address);
  await contract.waitForDeployment();
  return contract as never;
}

describe('a wallet contract (ERC-1271) as the client', () => {
  it('opens a job on its owner’s signature, and only on it', async () => {
    const owner = f.wallets.clientB;
    const wallet = await deployTestWallet(owner);
    const walletAddress = await wallet.getAddress();
    await f.fund(walletAddress, zsc('10'));
    await (await wallet.approve(f.deployment.token, f.deployment.jobEscrow, zsc('10'))).wait();

    const order = await f.jobOrder(walletAddress, { pricePerSlot: zsc('5'), slots: 2 });
    const stranger = f.wallets.clientA;
    await expectRevert(asSettler().openJobFor(order, await f.signJobOrder(stranger, order), NO_PERMIT), f.escrow(), 'EscrowBadSignature', [walletAddress]);
    await (await asSettler().openJobFor(order, await f.signJobOrder(owner, order), NO_PERMIT)).wait();
    expect(await balanceOf(walletAddress)).toBe(0n);
    expect((await f.escrow().jobOf(escrowIdOf(walletAddress, order.jobId)))[0]).toBe(walletAddress);
  });
});
