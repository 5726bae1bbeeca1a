import type { HostOffer } from '../domain/capabilities';
import type { Resources } from '../domain/job-spec';

/** The part of the operator's offer the ledger counts: the total all slots together may hold. */
export type ResourceOffer = Pick<HostOffer, 'cpus' | 'memoryMiB' | 'diskMiB' | 'gpus' | 'maxSlots'>;

export type LedgerResource = 'slots' | 'cpu' | 'memoryMiB' | 'diskMiB' | 'gpu';

/** One resource a slot wants more of than is free right now. */
export interface Shortfall {
  resource: LedgerResource;
  wanted: number;
  available: number;
}

export interface LedgerUsage {
  slots: number;
  cpu: number;
  memoryMiB: number;
  diskMiB: number;
  gpu: number;
}

export type Reservation = { granted: true; release: () => void } | { granted: false; short: Shortfall[] };

/** cpu is counted in thousandths, so that ten slots of 0.1 add up to exactly one core. */
const MILLI = 1000;

interface Entry {
  usage: LedgerUsage;
  /** Of usage.diskMiB, what its input files take (booked once they are fetched). */
  inputMiB: number;
  holders: number;
  /** Held for a container found running after a restart, until the retried activity claims it. */
  awaitingAdoption: boolean;
}

const toMilli = (cpu: number): number => Math.round(cpu * MILLI);
const MiB = 1024 * 1024;
/** Input files are booked in whole MiB, rounded up, on the slot's disk reservation. */
export const inputMiBOf = (bytes: number): number => Math.ceil(Math.max(0, bytes) / MiB);

function usageOf(resources: Resources): LedgerUsage {
  return { slots: 1, cpu: toMilli(resources.cpu), memoryMiB: resources.memoryMiB, diskMiB: resources.diskMiB, gpu: resources.gpu };
}

export const describeShortfalls = (short: Shortfall[]): string =>
  short.map(({ resource, wanted, available }) => `${resource} ${wanted} wanted, ${available} available`).join('; ');

/**
 * The host's running total of what its slots hold, so concurrent slots never add up to more than the offer.
 * Reservations are keyed by execution id: a retry or a second attempt of the same execution shares the first's
 * reservation instead of counting the slot twice, and the resources come back when the last holder releases.
 */
export class ResourceLedger {
  private readonly entries = new Map<string, Entry>();
  private readonly capacity: LedgerUsage;
  /** Told when a slot's resources come back (the host tells the API at once: waiting work is woken by it). */
  onFreed: () => void = () => undefined;
  /** Told when a new slot takes resources (the host tells the API at once: matching does not send it more than fits). */
  onReserved: () => void = () => undefined;

  constructor(readonly offer: ResourceOffer) {
    this.capacity = {
      slots: offer.maxSlots,
      cpu: toMilli(offer.cpus),
      memoryMiB: offer.memoryMiB,
      diskMiB: offer.diskMiB,
      gpu: offer.gpus,
    };
  }

  reserve(key: string, resources: Resources): Reservation {
    const existing = this.entries.get(key);
    if (existing) {
      existing.awaitingAdoption = false;
      existing.holders += 1;
      return { granted: true, release: this.releaser(key, existing) };
    }
    const wanted = usageOf(resources);
    const free = this.freeMilli();
    const short = (Object.keys(wanted) as LedgerResource[])
      .filter((resource) => wanted[resource] > free[resource])
      .map((resource) => ({ resource, wanted: fromMilli(resource, wanted[resource]), available: fromMilli(resource, free[resource]) }));
    if (short.length > 0) return { granted: false, short };
    const entry: Entry = { usage: wanted, inputMiB: 0, holders: 1, awaitingAdoption: false };
    this.entries.set(key, entry);
    this.onReserved();
    return { granted: true, release: this.releaser(key, entry) };
  }

  /**
   * Adds the bytes of a reserved slot's input files to its disk reservation, before they are written: refused (the
   * shortfall returned, nothing booked) when they do not fit beside what the other slots hold, unless `force` (files
   * already on disk, of a container being adopted). Setting it again for the same key books the difference only.
   */
  reserveInputs(key: string, bytes: number, force = false): Shortfall[] {
    const entry = this.entries.get(key);
    if (!entry) throw new Error(`no reservation for ${key} to add its inputs to`);
    const more = inputMiBOf(bytes) - entry.inputMiB;
    if (more <= 0) return [];
    const available = this.freeMilli().diskMiB;
    if (more > available && !force) return [{ resource: 'diskMiB', wanted: more, available }];
    entry.inputMiB += more;
    entry.usage.diskMiB += more;
    return [];
  }

  /**
   * Counts a container that is already running (found after a restart) whether or not it fits: its resources, and
   * the input files on its disk, are in use. The first `reserve` of the same key takes the reservation over. Returns
   * false when the key is already held.
   */
  holdForAdoption(key: string, resources: Resources, inputBytes = 0): boolean {
    if (this.entries.has(key)) return false;
    const usage = usageOf(resources);
    const inputMiB = inputMiBOf(inputBytes);
    usage.diskMiB += inputMiB;
    this.entries.set(key, { usage, inputMiB, holders: 0, awaitingAdoption: true });
    return true;
  }

  /** Drops a hold no activity claimed (its container has stopped); a claimed reservation is left to its holders. */
  releaseUnadopted(key: string): boolean {
    const entry = this.entries.get(key);
    if (!entry?.awaitingAdoption) return false;
    this.entries.delete(key);
    return true;
  }

  holds(key: string): boolean {
    return this.entries.has(key);
  }

  /** What all reservations hold together. */
  usage(): LedgerUsage {
    return toCores(this.usedMilli());
  }

  /** What is left of the offer. */
  free(): LedgerUsage {
    return toCores(this.freeMilli());
  }

  private usedMilli(): LedgerUsage {
    const used: LedgerUsage = { slots: 0, cpu: 0, memoryMiB: 0, diskMiB: 0, gpu: 0 };
    for (const { usage } of this.entries.values()) {
      for (const resource of Object.keys(used) as LedgerResource[]) used[resource] += usage[resource];
    }
    return used;
  }

  private freeMilli(): LedgerUsage {
    const used = this.usedMilli();
    const free = { ...this.capacity };
    for (const resource of Object.keys(free) as LedgerResource[]) free[resource] = Math.max(0, free[resource] - used[resource]);
    return free;
  }

  private releaser(key: string, entry: Entry): () => void {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      entry.holders -= 1;
      if (entry.holders <= 0 && this.entries.get(key) === entry) {
        this.entries.delete(key);
        this.onFreed();
      }
    };
  }
}

function fromMilli(resource: LedgerResource, value: number): number {
  return resource === 'cpu' ? value / MILLI : value;
}

function toCores(usage: LedgerUsage): LedgerUsage {
  return { ...usage, cpu: usage.cpu / MILLI };
}
