// Kernel addresses to `symbol+0xoffset`, from /proc/kallsyms.
//
// The file has ~120k code symbols in ~8 MB. It is parsed from bytes into typed
// arrays and one compact buffer of names, so loading it adds a few MB, not the
// tens of MB that 120k line strings and objects would.
import { closeSync, openSync, readSync } from 'node:fs';
import type { KernelAddress } from '../events/decode';

const NEWLINE = 0x0a;
const SPACE = 0x20;
const TAB = 0x09;
const CODE_TYPES = new Set(['t', 'T', 'w', 'W'].map((c) => c.charCodeAt(0)));

function hexValue(byte: number): number {
  if (byte >= 0x30 && byte <= 0x39) return byte - 0x30;
  if (byte >= 0x61 && byte <= 0x66) return byte - 0x57;
  if (byte >= 0x41 && byte <= 0x46) return byte - 0x37;
  return -1;
}

/** The 32-bit value of 8 hex digits at offset, or -1. */
function hex32(bytes: Uint8Array, offset: number): number {
  let value = 0;
  for (let i = 0; i < 8; i++) {
    const digit = hexValue(bytes[offset + i]);
    if (digit < 0) return -1;
    value = value * 16 + digit;
  }
  return value;
}

/** Proc files have no size: read into one generous buffer (pages count only once written). */
function readWhole(path: string): Buffer {
  const fd = openSync(path, 'r');
  try {
    let buffer = Buffer.allocUnsafe(32 << 20);
    let length = 0;
    for (;;) {
      if (length === buffer.length) {
        const grown = Buffer.allocUnsafe(buffer.length * 2);
        buffer.copy(grown, 0, 0, length);
        buffer = grown;
      }
      const read = readSync(fd, buffer, length, buffer.length - length, null);
      if (read === 0) return buffer.subarray(0, length);
      length += read;
    }
  } finally {
    closeSync(fd);
  }
}

/**
 * The indexes 0..count-1 in the order `before` gives. kallsyms is sorted but for its end (the
 * modules' symbols come last): only the part after the sorted start is sorted, then merged into
 * it: half the cold parse here (158 → 84 ms), where a comparator sort of all ~120k took the rest.
 */
function sortedOrder(count: number, before: (a: number, b: number) => number): Uint32Array {
  let sortedUpTo = 1;
  while (sortedUpTo < count && before(sortedUpTo - 1, sortedUpTo) <= 0) sortedUpTo++;
  const order = Uint32Array.from({ length: count }, (_, i) => i);
  if (sortedUpTo >= count) return order;
  const tail = order.slice(sortedUpTo).sort(before);
  let [head, rest, out] = [0, 0, 0];
  // The head's values are its positions, read as numbers, so the merge may write over them.
  while (head < sortedUpTo && rest < tail.length) order[out++] = before(head, tail[rest]) <= 0 ? head++ : tail[rest++];
  while (head < sortedUpTo) order[out++] = head++;
  while (rest < tail.length) order[out++] = tail[rest++];
  return order;
}

export class Kallsyms {
  private readonly hi: Uint32Array;
  private readonly lo: Uint32Array;
  private readonly nameStart: Uint32Array;
  private readonly nameEnd: Uint32Array;
  private readonly names: Buffer;
  private readonly cache = new Map<number, Map<number, string | null>>();

  /** The contents of /proc/kallsyms; a Buffer given is reused as scratch space. Only code symbols are kept. */
  constructor(text: string | Buffer) {
    const bytes = typeof text === 'string' ? Buffer.from(text, 'latin1') : text;
    let capacity = 1024;
    let hi = new Uint32Array(capacity);
    let lo = new Uint32Array(capacity);
    let start = new Uint32Array(capacity);
    let end = new Uint32Array(capacity);
    // Names are packed at the front of the file's own buffer: they never overtake the line being read.
    const names = bytes;
    let nameLength = 0;
    let count = 0;
    for (let line = 0; line < bytes.length; ) {
      let next = bytes.indexOf(NEWLINE, line);
      if (next < 0) next = bytes.length;
      // "ffffffff81000000 T _stext" or "ffffffffc0a01000 t veth_xmit\t[veth]"
      if (next - line > 19 && bytes[line + 16] === SPACE && CODE_TYPES.has(bytes[line + 17]) && bytes[line + 18] === SPACE) {
        const high = hex32(bytes, line);
        const low = hex32(bytes, line + 8);
        if (high > 0 || low > 0) {
          // (all zero: hidden by kptr_restrict)
          let nameEndAt = line + 19;
          while (nameEndAt < next && bytes[nameEndAt] !== TAB && bytes[nameEndAt] !== SPACE) nameEndAt++;
          if (count === capacity) {
            capacity *= 2;
            [hi, lo, start, end] = [hi, lo, start, end].map((a) => {
              const grown = new Uint32Array(capacity);
              grown.set(a);
              return grown;
            });
          }
          hi[count] = high;
          lo[count] = low;
          start[count] = nameLength;
          bytes.copyWithin(nameLength, line + 19, nameEndAt);
          nameLength += nameEndAt - (line + 19);
          end[count] = nameLength;
          count++;
        }
      }
      line = next + 1;
    }
    const order = sortedOrder(count, (a: number, b: number) => hi[a] - hi[b] || lo[a] - lo[b]);
    this.hi = order.map((i) => hi[i]);
    this.lo = order.map((i) => lo[i]);
    this.nameStart = order.map((i) => start[i]);
    this.nameEnd = order.map((i) => end[i]);
    this.names = Buffer.from(names.subarray(0, nameLength));
  }

  static load(path = '/proc/kallsyms'): Kallsyms {
    return new Kallsyms(readWhole(path));
  }

  get size(): number {
    return this.hi.length;
  }

  /** `symbol+0xoff` for the closest symbol at or below the address, or null. Results are cached. */
  symbolize(address: KernelAddress): string | null {
    let byLo = this.cache.get(address.hi);
    if (!byLo) this.cache.set(address.hi, (byLo = new Map()));
    let result = byLo.get(address.lo);
    if (result === undefined) {
      result = this.lookup(address);
      byLo.set(address.lo, result);
    }
    return result;
  }

  private lookup({ hi, lo }: KernelAddress): string | null {
    // Last symbol whose address is <= the wanted one.
    let low = 0;
    let high = this.hi.length - 1;
    let found = -1;
    while (low <= high) {
      const mid = (low + high) >>> 1;
      if (this.hi[mid] < hi || (this.hi[mid] === hi && this.lo[mid] <= lo)) {
        found = mid;
        low = mid + 1;
      } else {
        high = mid - 1;
      }
    }
    // Symbols never span a change of the upper half in practice: a different hi means no symbol.
    if (found < 0 || this.hi[found] !== hi) return null;
    const name = this.names.toString('latin1', this.nameStart[found], this.nameEnd[found]);
    return `${name}+0x${(lo - this.lo[found]).toString(16)}`;
  }
}

interface AddressSymbolizer {
  symbolize(address: KernelAddress): string | null;
}

/**
 * The kernel's symbols, for the drops' locations: /proc/kallsyms is read (~200 ms) as soon as the
 * tracer is attached, else at the first drop, and never before attaching (the start would wait).
 * Read at the first drop, it held back the drops of a burst at start until the ring overflowed
 * (docs/benchmarks.md). A read after attaching that fails is left to the first drop's own, which
 * reports it.
 */
export class KernelSymbols {
  private symbols: AddressSymbolizer | null = null;
  /** Between attached() and close(): the read ahead may still run. */
  private readAhead = false;

  constructor(private readonly load: () => AddressSymbolizer) {}

  /** The tracer is attached: read the symbols once the loop has taken what is already pending. */
  attached(): void {
    this.readAhead = true;
    setImmediate(() => {
      if (!this.readAhead || this.symbols !== null) return;
      try {
        this.symbols = this.load();
      } catch {
        // left to the first drop, which reports it
      }
    });
  }

  /** The session ended: the symbols are no longer needed. */
  close(): void {
    this.readAhead = false;
  }

  symbolize(address: KernelAddress): string | null {
    return (this.symbols ??= this.load()).symbolize(address);
  }
}
