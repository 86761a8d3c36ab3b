// Reads the lines `nft -a monitor trace` prints (nftables 1.0.6 prints text
// even with -j) into the verdicts that dropped a packet, each with the packet's
// header fields from the trace's last "packet:" line. Pure.
import { formatAddress, parseAddressPrefix, type Family } from '../events/address';

/** The rule (or chain policy) whose verdict dropped a packet. */
export interface NftRule {
  family: string;
  table: string;
  chain: string;
  /** null for a chain policy. */
  handle: number | null;
  /** The rule as nft lists it, counters' values left out; "policy drop" for a chain policy. */
  text: string;
  verdict: string;
}

/** What the trace shows of a packet: enough to find its drop event. */
export interface TracePacket {
  family: Family;
  saddr: string;
  daddr: string;
  l4Proto: number | null;
  sport: number | null;
  dport: number | null;
  ipId: number | null;
}

export interface TraceDrop {
  id: string;
  /** null when no "packet:" line of this trace id was seen. */
  packet: TracePacket | null;
  rule: NftRule;
}

const L4_PROTOCOLS: Record<string, number> = { icmp: 1, igmp: 2, tcp: 6, udp: 17, gre: 47, esp: 50, ah: 51, 'ipv6-icmp': 58, icmpv6: 58, sctp: 132 };
const TRACE_LINE = /^trace id ([0-9a-f]+) (\S+) (\S+) (\S+) (packet: |rule |policy |verdict )(.*?)\s*$/;
const RULE_TAIL = /^(.*?)(?: # handle (\d+))? \(verdict ([^)]+)\)$/;
/** Traces whose packet line came but whose verdict did not (accepted packets): forget the oldest. */
const MAX_OPEN_TRACES = 4096;

/** Canonical text of an address as nft prints it, the same as formatAddress gives for the event's bytes. */
function canonical(text: string | undefined): string | null {
  const prefix = text === undefined ? null : parseAddressPrefix(text);
  return prefix ? formatAddress(prefix.bytes, prefix.family) : null;
}

/** The header fields of a "packet:" line, e.g. `ip saddr 198.18.1.1 ip daddr ... ip id 7 ... udp sport 1 udp dport 2`. */
export function parsePacket(fields: string): TracePacket | null {
  const words = fields.split(/\s+/);
  const value = (a: string, b: string) => {
    for (let i = 0; i + 2 < words.length + 1; i++) if (words[i] === a && words[i + 1] === b) return words[i + 2];
    return undefined;
  };
  const v4 = value('ip', 'saddr') !== undefined;
  const saddr = canonical(value(v4 ? 'ip' : 'ip6', 'saddr'));
  const daddr = canonical(value(v4 ? 'ip' : 'ip6', 'daddr'));
  if (saddr === null || daddr === null) return null;
  // A table of family ip leaves out "ip protocol": the transport header's own fields tell.
  const l4Name = value(v4 ? 'ip' : 'ip6', v4 ? 'protocol' : 'nexthdr') ?? ['tcp', 'udp', 'sctp'].find((p) => value(p, 'sport') !== undefined);
  const l4Proto = l4Name === undefined ? null : (L4_PROTOCOLS[l4Name] ?? (/^\d+$/.test(l4Name) ? Number(l4Name) : null));
  const transport = l4Name !== undefined && ['tcp', 'udp', 'sctp'].includes(l4Name) ? l4Name : null;
  const port = (field: string) => {
    const text = transport === null ? undefined : value(transport, field);
    return text !== undefined && /^\d+$/.test(text) ? Number(text) : null;
  };
  const ipId = v4 ? value('ip', 'id') : undefined;
  return {
    family: v4 ? 4 : 6,
    saddr,
    daddr,
    l4Proto,
    sport: port('sport'),
    dport: port('dport'),
    ipId: ipId !== undefined && /^\d+$/.test(ipId) ? Number(ipId) : null,
  };
}

/** Counter values change with every packet; the rule is the same rule. */
function ruleText(text: string): string {
  return text.replace(/ counter packets \d+ bytes \d+/g, ' counter').replace(/^counter packets \d+ bytes \d+/, 'counter');
}

/** Feeds lines one at a time; returns a TraceDrop for a line that gives a drop verdict. */
export class TraceParser {
  private readonly packets = new Map<string, TracePacket | null>();

  line(text: string): TraceDrop | null {
    const match = TRACE_LINE.exec(text);
    if (!match) return null;
    const [, id, family, table, chain, kind, rest] = match;
    if (kind === 'packet: ') {
      this.packets.delete(id); // re-inserted last: the map's order is the age order
      this.packets.set(id, parsePacket(rest));
      if (this.packets.size > MAX_OPEN_TRACES) this.packets.delete(this.packets.keys().next().value!);
      return null;
    }
    let rule: NftRule | null = null;
    if (kind === 'rule ') {
      const tail = RULE_TAIL.exec(rest);
      if (tail && tail[3] === 'drop') {
        rule = { family, table, chain, handle: tail[2] === undefined ? null : Number(tail[2]), text: ruleText(tail[1]), verdict: 'drop' };
      }
    } else if (kind === 'policy ' && rest === 'drop') {
      rule = { family, table, chain, handle: null, text: 'policy drop', verdict: 'drop' };
    }
    if (rule === null) return null;
    const packet = this.packets.get(id) ?? null;
    this.packets.delete(id); // a dropped packet's trace is over
    return { id, packet, rule };
  }
}
