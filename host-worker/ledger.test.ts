import fc from 'fast-check';
import type { Resources } from '../domain/job-spec';
import { describeShortfalls, ResourceLedger, type ResourceOffer } from './ledger';

const offer: ResourceOffer = { cpus: 2, memoryMiB: 1024, diskMiB: 512, gpus: 1, maxSlots: 3 };
const slot = (overrides: Partial<Resources> = {}): Resources => ({ cpu: 1, memoryMiB: 256, diskMiB: 64, gpu: 0, ...overrides });

test('shortfalls read as one line', () => {
  expect(describeShortfalls([{ resource: 'memoryMiB', wanted: 512, available: 256 }, { resource: 'gpu', wanted: 1, available: 0 }]))
    .toBe('memoryMiB 512 wanted, 256 available; gpu 1 wanted, 0 available');
});

describe('ResourceLedger', () => {
  test('tells of each new slot as it is booked, already counted, and of no retry sharing one or refused slot', () => {
    const ledger = new ResourceLedger(offer);
    const seen: number[] = [];
    ledger.onReserved = () => seen.push(ledger.free().slots);
    ledger.reserve('a', slot());
    ledger.reserve('a', slot());
    ledger.reserve('b', slot({ cpu: 1 }));
    expect(ledger.reserve('c', slot({ cpu: 1 })).granted).toBe(false);
    expect(seen).toEqual([2, 1]);
  });

  test('reserves until a resource runs short, naming what is short, and gives it back on release', () => {
    const ledger = new ResourceLedger(offer);
    const first = ledger.reserve('a', slot({ memoryMiB: 768 }));
    expect(first.granted).toBe(true);
    expect(ledger.usage()).toEqual({ slots: 1, cpu: 1, memoryMiB: 768, diskMiB: 64, gpu: 0 });

    expect(ledger.reserve('b', slot({ memoryMiB: 512 }))).toEqual({ granted: false, short: [{ resource: 'memoryMiB', wanted: 512, available: 256 }] });
    expect(ledger.holds('b')).toBe(false);

    if (first.granted) first.release();
    expect(ledger.usage()).toEqual({ slots: 0, cpu: 0, memoryMiB: 0, diskMiB: 0, gpu: 0 });
    expect(ledger.reserve('b', slot({ memoryMiB: 512 })).granted).toBe(true);
  });

  test('books a slot\'s input files on its disk, refusing them when they do not fit, and frees them on release', () => {
    const ledger = new ResourceLedger(offer);
    const a = ledger.reserve('a', slot({ diskMiB: 100 }));
    expect(ledger.reserveInputs('a', 300 * 1024 * 1024 + 1)).toEqual([]);
    expect(ledger.usage().diskMiB).toBe(401);
    // Booking the same inputs again (a retry) adds nothing.
    expect(ledger.reserveInputs('a', 300 * 1024 * 1024)).toEqual([]);
    expect(ledger.usage().diskMiB).toBe(401);

    const b = ledger.reserve('b', slot({ diskMiB: 64 }));
    expect(ledger.reserveInputs('b', 100 * 1024 * 1024)).toEqual([{ resource: 'diskMiB', wanted: 100, available: 47 }]);
    expect(ledger.usage().diskMiB).toBe(465);
    // Files already on disk (an adopted container's) are counted whether or not they fit.
    expect(ledger.reserveInputs('b', 100 * 1024 * 1024, true)).toEqual([]);
    expect(ledger.usage().diskMiB).toBe(565);
    expect(() => ledger.reserveInputs('nobody', 1)).toThrow(/no reservation for nobody/);

    if (a.granted) a.release();
    if (b.granted) b.release();
    expect(ledger.usage().diskMiB).toBe(0);
    expect(ledger.holdForAdoption('c', slot({ diskMiB: 10 }), 5 * 1024 * 1024)).toBe(true);
    expect(ledger.usage().diskMiB).toBe(15);
  });

  test('never holds more slots than offered', () => {
    const ledger = new ResourceLedger({ ...offer, cpus: 8, maxSlots: 2 });
    expect(ledger.reserve('a', slot({ memoryMiB: 16 })).granted).toBe(true);
    expect(ledger.reserve('b', slot({ memoryMiB: 16 })).granted).toBe(true);
    expect(ledger.reserve('c', slot({ memoryMiB: 16 }))).toEqual({ granted: false, short: [{ resource: 'slots', wanted: 1, available: 0 }] });
  });

  test('counts fractions of a core exactly', () => {
    const ledger = new ResourceLedger({ ...offer, cpus: 1, maxSlots: 20, memoryMiB: 100_000 });
    for (let i = 0; i < 10; i += 1) expect(ledger.reserve(`s${i}`, slot({ cpu: 0.1, memoryMiB: 16, diskMiB: 1 })).granted).toBe(true);
    expect(ledger.usage().cpu).toBe(1);
    expect(ledger.reserve('one-more', slot({ cpu: 0.1, memoryMiB: 16, diskMiB: 1 }))).toEqual({ granted: false, short: [{ resource: 'cpu', wanted: 0.1, available: 0 }] });
  });

  test('a second attempt of the same execution shares its reservation; the last release frees it', () => {
    const ledger = new ResourceLedger(offer);
    const first = ledger.reserve('exec', slot({ cpu: 2 }));
    const retry = ledger.reserve('exec', slot({ cpu: 2 }));
    expect(first.granted && retry.granted).toBe(true);
    expect(ledger.usage().cpu).toBe(2);
    if (first.granted) {
      first.release();
      first.release();
    }
    expect(ledger.holds('exec')).toBe(true);
    if (retry.granted) retry.release();
    expect(ledger.holds('exec')).toBe(false);
  });

  test('a container found running after a restart is counted until its activity takes the reservation over', () => {
    const ledger = new ResourceLedger(offer);
    // Counted even beyond the offer: the container already runs.
    expect(ledger.holdForAdoption('orphan', slot({ cpu: 2, memoryMiB: 1024 }))).toBe(true);
    expect(ledger.holdForAdoption('orphan', slot({ cpu: 2, memoryMiB: 1024 }))).toBe(false);
    expect(ledger.reserve('new', slot({ cpu: 1 })).granted).toBe(false);

    const adopted = ledger.reserve('orphan', slot({ cpu: 2, memoryMiB: 1024 }));
    expect(adopted.granted).toBe(true);
    expect(ledger.usage().cpu).toBe(2);
    expect(ledger.releaseUnadopted('orphan')).toBe(false);
    if (adopted.granted) adopted.release();
    expect(ledger.usage()).toEqual({ slots: 0, cpu: 0, memoryMiB: 0, diskMiB: 0, gpu: 0 });
  });

  test('a hold no activity claimed is dropped once its container stops', () => {
    const ledger = new ResourceLedger(offer);
    ledger.holdForAdoption('orphan', slot());
    expect(ledger.releaseUnadopted('orphan')).toBe(true);
    expect(ledger.holds('orphan')).toBe(false);
  });

  test('whatever the order of reservations and releases, the holdings never exceed the offer and count each execution once', () => {
    const resources = fc.record({
      cpu: fc.integer({ min: 1, max: 30 }).map((tenths) => tenths / 10),
      memoryMiB: fc.integer({ min: 16, max: 1200 }),
      diskMiB: fc.integer({ min: 1, max: 600 }),
      gpu: fc.integer({ min: 0, max: 2 }),
    });
    const step = fc.oneof(
      fc.record({ kind: fc.constant('reserve' as const), key: fc.integer({ min: 0, max: 5 }), resources }),
      fc.record({ kind: fc.constant('release' as const), index: fc.nat() }),
    );
    fc.assert(
      fc.property(fc.array(step, { maxLength: 60 }), (steps) => {
        const ledger = new ResourceLedger(offer);
        const held: Array<{ key: string; release: () => void }> = [];
        for (const s of steps) {
          if (s.kind === 'reserve') {
            const reservation = ledger.reserve(`k${s.key}`, s.resources);
            if (reservation.granted) held.push({ key: `k${s.key}`, release: reservation.release });
          } else if (held.length > 0) {
            held.splice(s.index % held.length, 1)[0].release();
          }
          const usage = ledger.usage();
          expect(usage.slots).toBeLessThanOrEqual(offer.maxSlots);
          expect(usage.cpu).toBeLessThanOrEqual(offer.cpus);
          expect(usage.memoryMiB).toBeLessThanOrEqual(offer.memoryMiB);
          expect(usage.diskMiB).toBeLessThanOrEqual(offer.diskMiB);
          expect(usage.gpu).toBeLessThanOrEqual(offer.gpus);
          // One reservation per key, whatever the number of its holders.
          expect(usage.slots).toBe(new Set(held.map((h) => h.key)).size);
        }
      }),
    );
  });
});
