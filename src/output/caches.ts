// What a writer remembers between lines: a storm of drops repeats the same few
// locations, interfaces, tasks and addresses, so their formatted parts are
// built once. Each writer owns its caches; two sessions never share one.
import { formatAddress, type Family } from '../events/address';

/**
 * Entries by a number key, told apart by the caller, which searches the
 * entries under a key for the one that matches everything it depends on (a
 * key may be a hash, or the part that varies most). Emptied when full: the
 * set a storm repeats is small, and the bound keeps a long session's memory flat.
 */
export class FragmentCache<Entry> {
  private entries = new Map<number, Entry[]>();
  private count = 0;

  constructor(private readonly limit: number) {}

  /** The entries added under key, for the caller to search; undefined when none. */
  under(key: number): readonly Entry[] | undefined {
    return this.entries.get(key);
  }

  add(key: number, entry: Entry): void {
    if (this.count >= this.limit) {
      this.entries = new Map();
      this.count = 0;
    }
    const under = this.entries.get(key);
    if (under === undefined) this.entries.set(key, [entry]);
    else under.push(entry);
    this.count++;
  }
}

/** An interface's part of a line, for one (netns, ifindex) and the name it had then. */
interface InterfacePart {
  netns: number | null;
  ifindex: number;
  name: string | null;
  bytes: Uint8Array;
}

/**
 * A line's interface part (`netns … if 2 (veth0)`, `,"netns":…,"ifname":…`), made once per interface and
 * name: an interface named later gets a new part. A storm's drops come through few interfaces.
 */
export class InterfaceParts {
  private readonly parts: FragmentCache<InterfacePart>;

  constructor(
    limit: number,
    private readonly make: (netns: number | null, ifindex: number, name: string | null) => Uint8Array,
  ) {
    this.parts = new FragmentCache(limit);
  }

  get(netns: number | null, ifindex: number, name: string | null): Uint8Array {
    // Kept to 31 bits: a Map hashes a small integer faster than a larger number.
    const key = ((netns ?? 0) ^ Math.imul(ifindex, 0x9e3779b1)) & 0x3fffffff;
    const candidates = this.parts.under(key);
    if (candidates !== undefined) {
      for (const part of candidates) {
        if (part.netns === netns && part.ifindex === ifindex && part.name === name) return part.bytes;
      }
    }
    const bytes = this.make(netns, ifindex, name);
    this.parts.add(key, { netns, ifindex, name, bytes });
    return bytes;
  }
}

const ADDRESS_SLOTS = 4096;
/** A slot's key: the family, then the address's four 32-bit words. */
const SLOT_WORDS = 5;

function word(address: Uint8Array, i: number): number {
  return ((address[i] << 24) | (address[i + 1] << 16) | (address[i + 2] << 8) | address[i + 3]) >>> 0;
}

/**
 * A value made from an address's text (the text itself, or JSON bytes with it),
 * in a fixed table of the last addresses seen, looked up by the address's
 * 32-bit words without allocating; a new address takes its slot's place.
 */
export class AddressCache<Value> {
  private readonly words = new Uint32Array(ADDRESS_SLOTS * SLOT_WORDS);
  private readonly values: Array<Value | undefined> = new Array(ADDRESS_SLOTS);

  constructor(private readonly make: (text: string, family: Family) => Value) {}

  /** The value for this address (16 bytes, IPv4 in the first 4); null for no address. */
  get(address: Uint8Array | null, family: Family | null): Value | null {
    if (address === null || family === null) return null;
    const w0 = word(address, 0);
    const w1 = family === 6 ? word(address, 4) : 0;
    const w2 = family === 6 ? word(address, 8) : 0;
    const w3 = family === 6 ? word(address, 12) : 0;
    const slot = (Math.imul(w0 ^ Math.imul(w1, 31) ^ Math.imul(w2, 961) ^ Math.imul(w3, 29791), 0x9e3779b1) >>> 20) % ADDRESS_SLOTS;
    const at = slot * SLOT_WORDS;
    const words = this.words;
    const value = this.values[slot];
    if (value !== undefined && words[at] === family && words[at + 1] === w0 && words[at + 2] === w1 && words[at + 3] === w2 && words[at + 4] === w3) {
      return value;
    }
    const made = this.make(formatAddress(address, family), family);
    words.set([family, w0, w1, w2, w3], at);
    this.values[slot] = made;
    return made;
  }
}
