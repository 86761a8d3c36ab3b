// Kernel addresses to `symbol+0xoffset`, from /proc/kallsyms.
import { readFileSync } from 'node:fs';
import type { KernelAddress } from './decode';

export class Kallsyms {
  private readonly hi: Uint32Array;
  private readonly lo: Uint32Array;
  private readonly names: string[];
  private readonly cache = new Map<number, Map<number, string | null>>();

  /** text: the contents of /proc/kallsyms. Only code symbols are kept. */
  constructor(text: string) {
    const symbols: Array<{ hi: number; lo: number; name: string }> = [];
    for (const line of text.split('\n')) {
      // "ffffffff81000000 T _stext" or "ffffffffc0a01000 t veth_xmit	[veth]"
      const firstSpace = line.indexOf(' ');
      if (firstSpace !== 16 || !'tTwW'.includes(line[17])) continue;
      const hi = parseInt(line.slice(0, 8), 16);
      const lo = parseInt(line.slice(8, 16), 16);
      if (hi === 0 && lo === 0) continue; // hidden by kptr_restrict
      const rest = line.slice(19);
      const tab = rest.indexOf('\t');
      symbols.push({ hi, lo, name: tab < 0 ? rest : rest.slice(0, tab) });
    }
    symbols.sort((a, b) => a.hi - b.hi || a.lo - b.lo);
    this.hi = Uint32Array.from(symbols, (s) => s.hi);
    this.lo = Uint32Array.from(symbols, (s) => s.lo);
    this.names = symbols.map((s) => s.name);
  }

  static load(path = '/proc/kallsyms'): Kallsyms {
    return new Kallsyms(readFileSync(path, 'latin1'));
  }

  get size(): number {
    return this.names.length;
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
    let high = this.names.length - 1;
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
    return `${this.names[found]}+0x${(lo - this.lo[found]).toString(16)}`;
  }
}
