// Driver statistics (`ethtool -S DEV`) whose names say they count lost packets, as
// "ethtool <dev> <name>", and ring sizes (`ethtool -g DEV`). ethtool 6.1 has no JSON for either:
// both are read as text, "name: value" lines.
import type { CounterSnapshot } from './counters';

/** Driver counters of packets lost: drops, misses, discards, FIFO overruns, no buffer, XDP drops. */
const LOST = /drop|miss|discard|fifo|no_?buf|overrun|over_?flow/i;

export function parseEthtoolStats(text: string, dev: string, into: CounterSnapshot): CounterSnapshot {
  for (const line of text.split('\n')) {
    const match = /^\s+([^:]+):\s+(\d+)\s*$/.exec(line);
    if (match && LOST.test(match[1])) into.set(`ethtool ${dev} ${match[1].trim()}`, Number(match[2]));
  }
  return into;
}

export interface RingSizes {
  rx: number | null;
  rxMax: number | null;
  tx: number | null;
  txMax: number | null;
}

/** `ethtool -g`: the pre-set maximums, then the current settings; null when the driver has no rings to show. */
export function parseEthtoolRings(text: string): RingSizes | null {
  const maxAt = text.indexOf('Pre-set maximums:');
  const currentAt = text.indexOf('Current hardware settings:');
  if (maxAt < 0 || currentAt < 0) return null;
  const value = (part: string, name: string) => {
    const match = new RegExp(`^${name}:\\s+(\\d+)`, 'm').exec(part);
    return match ? Number(match[1]) : null;
  };
  const maximums = text.slice(maxAt, currentAt);
  const current = text.slice(currentAt);
  return { rx: value(current, 'RX'), rxMax: value(maximums, 'RX'), tx: value(current, 'TX'), txMax: value(maximums, 'TX') };
}
