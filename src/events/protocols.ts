// The names dropwhy gives a packet's protocol and TCP flags, in every output
// (JSON, text, summary rows, metrics labels, the traced tally).
import { PROTOCOLS } from './filter';

const PROTOCOL_NAMES = new Map<number, string>([
  ...Object.entries(PROTOCOLS).map(([name, number]) => [number, name] as [number, string]),
  [2, 'igmp'],
  [47, 'gre'],
  [50, 'esp'],
  [51, 'ah'],
  [89, 'ospf'],
  [132, 'sctp'],
]);
const ETHERTYPE_NAMES = new Map<number, string>([
  [0x0806, 'arp'],
  [0x8100, 'vlan'],
  [0x88cc, 'lldp'],
  [0x8847, 'mpls'],
]);
/** An IP packet whose L4 protocol could not be read (a header cut short) has no protocol name. */
const IP_ETHERTYPES = new Set([0x0800, 0x86dd]);

/** The L4 protocol's name, else the ethertype's for packets that are not IP, else null (unknown). */
export function protocolName(l4Proto: number | null, ethertype: number): string | null {
  if (l4Proto !== null) return PROTOCOL_NAMES.get(l4Proto) ?? `ip-proto-${l4Proto}`;
  if (ethertype === 0 || IP_ETHERTYPES.has(ethertype)) return null;
  return ETHERTYPE_NAMES.get(ethertype) ?? `0x${ethertype.toString(16).padStart(4, '0')}`;
}

const TCP_FLAG_NAMES = ['FIN', 'SYN', 'RST', 'PSH', 'ACK', 'URG', 'ECE', 'CWR'];

/** Every flags byte's text, built once: `SYN|ACK`, `none`. */
export const TCP_FLAG_TEXT: readonly string[] = Array.from({ length: 256 }, (_, flags) => TCP_FLAG_NAMES.filter((_, bit) => flags & (1 << bit)).join('|') || 'none');

export function tcpFlagsText(flags: number): string {
  return TCP_FLAG_TEXT[flags & 0xff];
}
