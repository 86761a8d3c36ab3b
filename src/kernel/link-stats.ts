// Interface statistics, the whole stats64 set (`ip -s -s -d -j link show`): rx_missed_errors,
// rx_fifo_errors, rx_nohandler, tx_aborted_errors … beside rx_dropped and tx_dropped, as
// "dev <ifname> <field>", and what the ledger needs to know of each device (its kind, MTU,
// txqueuelen). /proc/net/dev (counters.ts) is the fallback: its "drop" column adds rx_missed_errors
// to rx_dropped, so the two are never mixed.
import type { CounterSnapshot } from './counters';

export interface DeviceInfo {
  name: string;
  ifindex: number;
  /** rtnetlink's link kind: "veth", "tun" (tun and tap), "macvtap", "ipvtap", …; null for a physical device. */
  kind: string | null;
  mtu: number | null;
  txqlen: number | null;
}

/** Traffic, not trouble: left out of the counters. */
const TRAFFIC = new Set(['bytes', 'packets', 'multicast', 'compressed', 'carrier_changes', 'collisions']);

interface IpLink {
  ifindex?: number;
  ifname?: string;
  mtu?: number;
  txqlen?: number;
  linkinfo?: { info_kind?: string };
  stats64?: { rx?: Record<string, unknown>; tx?: Record<string, unknown> };
}

/** ip's JSON: every device's error and drop counters into `into`; the devices. Throws on text that is not ip's JSON. */
export function parseLinkStats(json: string, into: CounterSnapshot): DeviceInfo[] {
  const links = JSON.parse(json) as IpLink[];
  if (!Array.isArray(links)) throw new Error('ip -j link: not a list');
  const devices: DeviceInfo[] = [];
  for (const link of links) {
    if (typeof link.ifname !== 'string' || typeof link.ifindex !== 'number') continue;
    const name = link.ifname;
    for (const direction of ['rx', 'tx'] as const) {
      for (const [field, value] of Object.entries(link.stats64?.[direction] ?? {})) {
        if (!TRAFFIC.has(field) && typeof value === 'number') into.set(`dev ${name} ${direction}_${field}`, value);
      }
    }
    devices.push({ name, ifindex: link.ifindex, kind: link.linkinfo?.info_kind ?? null, mtu: link.mtu ?? null, txqlen: link.txqlen ?? null });
  }
  return devices;
}
