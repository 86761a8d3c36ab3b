// Which /proc counters the kernel bumps at the same place it frees a packet
// with a given drop reason, per L4 protocol and family: the numbers
// `dropwhy explain` lists and the traced drops are compared against
// (correlate.ts). Data only: linkedCounters in advice.ts looks them up.
//
// A counter is only linked where the kernel increments it at the same place
// it frees the packet with that reason, because dropwhy compares the two
// numbers; counters that merely move with a drop are an entry's `related`.

/** A /proc counter as "<Group> <Name>", the way nstat/netstat name them: e.g. "Udp RcvbufErrors", "Udp6 NoPorts" (snmp6 names like "Udp6NoPorts" are written "Udp6 NoPorts"), "TcpExt ListenOverflows", "IpExt InNoRoutes", "Ip InAddrErrors". */
export type CounterName = string;

/** The L4 protocols a rule can name; null in a rule's list matches an event whose protocol is unknown. */
export type L4 = 'udp' | 'tcp' | 'icmp' | 'icmp6';
export interface CounterRule {
  protos: ReadonlyArray<L4 | null> | 'any';
  family: 4 | 6 | 'any';
  counters: readonly CounterName[];
}

const TCP_OR_UNKNOWN: ReadonlyArray<L4 | null> = ['tcp', null];
const UDP_ONLY: ReadonlyArray<L4 | null> = ['udp'];
const UDP_OR_UNKNOWN: ReadonlyArray<L4 | null> = ['udp', null];

/** A TCP-only counter: TCP MIBs are shared by IPv4 and IPv6. */
function tcp(...counters: CounterName[]): CounterRule[] {
  return [{ protos: TCP_OR_UNKNOWN, family: 'any', counters }];
}

/** UDP counters per family: "Udp X" for IPv4, "Udp6 X" for IPv6. */
function udp(protos: ReadonlyArray<L4 | null>, ...names: string[]): CounterRule[] {
  return [
    { protos, family: 4, counters: names.map((n) => `Udp ${n}`) },
    { protos, family: 6, counters: names.map((n) => `Udp6 ${n}`) },
  ];
}

/** Network-layer counters: any L4 protocol, one list per family. */
function ip(v4: CounterName[], v6: CounterName[]): CounterRule[] {
  return [
    { protos: 'any', family: 4, counters: v4 },
    { protos: 'any', family: 6, counters: v6 },
  ];
}

/**
 * Reason -> rules tried in order; the first rule whose protocol and family match gives the counters.
 * `protos: 'any'` ignores the protocol; `family: 'any'` ignores the family.
 */
export const COUNTER_RULES: Readonly<Record<string, readonly CounterRule[]>> = {
  // UDP: __udp4_lib_rcv / udp_queue_rcv_one_skb / __udp_queue_rcv_skb and
  // their IPv6 twins; udp_recvmsg also counts late checksum failures.
  NO_SOCKET: udp(UDP_ONLY, 'NoPorts'),
  SOCKET_RCVBUFF: udp(UDP_ONLY, 'RcvbufErrors', 'InErrors'),
  PROTO_MEM: udp(UDP_ONLY, 'MemErrors', 'InErrors'),
  SOCKET_FILTER: udp(UDP_ONLY, 'InErrors'),
  UDP_CSUM: udp(UDP_OR_UNKNOWN, 'InCsumErrors', 'InErrors'),
  ICMP_CSUM: [
    { protos: ['icmp'], family: 'any', counters: ['Icmp InCsumErrors', 'Icmp InErrors'] },
    { protos: ['icmp6'], family: 'any', counters: ['Icmp6 InCsumErrors', 'Icmp6 InErrors'] },
    { protos: [null], family: 4, counters: ['Icmp InCsumErrors', 'Icmp InErrors'] },
    { protos: [null], family: 6, counters: ['Icmp6 InCsumErrors', 'Icmp6 InErrors'] },
  ],
  // TCP: tcp_v4_rcv/tcp_v6_rcv, tcp_v4_do_rcv, tcp_add_backlog, tcp_input.c,
  // tcp_minisocks.c, tcp_inbound_hash and tcp_ao.c.
  TCP_CSUM: tcp('Tcp InCsumErrors', 'Tcp InErrs'),
  SOCKET_BACKLOG: [{ protos: ['tcp'], family: 'any', counters: ['TcpExt TCPBacklogDrop'] }],
  PFMEMALLOC: [{ protos: ['tcp', 'udp'], family: 'any', counters: ['TcpExt PFMemallocDrop'] }],
  TCP_LISTEN_OVERFLOW: tcp('TcpExt ListenOverflows', 'TcpExt ListenDrops'),
  TCP_ZEROWINDOW: tcp('TcpExt TCPZeroWindowDrop'),
  TCP_OLD_DATA: tcp('TcpExt DelayedACKLost'),
  TCP_OFOMERGE: tcp('TcpExt TCPOFOMerge'),
  TCP_RFC7323_PAWS: tcp('TcpExt PAWSEstab', 'TcpExt PAWSActive'),
  TCP_RFC7323_PAWS_ACK: tcp('TcpExt PAWSOldAck'),
  TCP_RFC7323_TW_PAWS: tcp('TcpExt PAWSTimewait'),
  TCP_RFC7323_TSECR: tcp('TcpExt TSEcrRejected'),
  TCP_INVALID_SEQUENCE: tcp('TcpExt BeyondWindow'),
  TCP_INVALID_END_SEQUENCE: tcp('TcpExt BeyondWindow'),
  TCP_INVALID_SYN: tcp('TcpExt TCPSYNChallenge'),
  TCP_ABORT_ON_DATA: tcp('TcpExt TCPAbortOnData'),
  TCP_MINTTL: tcp('TcpExt TCPMinTTLDrop'),
  TCP_MD5NOTFOUND: tcp('TcpExt TCPMD5NotFound'),
  TCP_MD5UNEXPECTED: tcp('TcpExt TCPMD5Unexpected'),
  TCP_MD5FAILURE: tcp('TcpExt TCPMD5Failure'),
  TCP_AONOTFOUND: tcp('TcpExt TCPAORequired'),
  TCP_AOUNEXPECTED: tcp('TcpExt TCPAOKeyNotFound'),
  TCP_AOKEYNOTFOUND: tcp('TcpExt TCPAOKeyNotFound'),
  TCP_AOFAILURE: tcp('TcpExt TCPAOBad'),
  // IP: ip_rcv_core, ip_rcv_finish_core, ip_error, ip_forward,
  // ip_protocol_deliver_rcu, __ip_queue_xmit and the IPv6 equivalents
  // (ipv6_rcv_core, ip6_pkt_drop, ip6_forward, ip6_protocol_deliver_rcu).
  IP_CSUM: [{ protos: 'any', family: 4, counters: ['IpExt InCsumErrors', 'Ip InHdrErrors'] }],
  IP_INHDR: ip(['Ip InHdrErrors'], ['Ip6 InHdrErrors']),
  IP_RPFILTER: [{ protos: 'any', family: 4, counters: ['TcpExt IPReversePathFilter'] }],
  IP_NOPROTO: ip(['Ip InUnknownProtos'], ['Ip6 InUnknownProtos']),
  IP_INADDRERRORS: ip(['Ip InAddrErrors'], ['Ip6 InAddrErrors']),
  IP_INNOROUTES: ip(['IpExt InNoRoutes'], ['Ip6 InNoRoutes']),
  IP_OUTNOROUTES: ip(['Ip OutNoRoutes'], ['Ip6 OutNoRoutes']),
  PKT_TOO_BIG: ip(['Ip FragFails'], ['Ip6 InTooBigErrors', 'Ip6 FragFails']),
  IPV6DISABLED: [{ protos: 'any', family: 6, counters: ['Ip6 InDiscards', 'Ip6 OutDiscards'] }],
  // Beyond the MIBs. net/core/neighbour.c __neigh_event_send: NEIGH_CACHE_STAT_INC(unres_discards)
  // beside each NEIGH_QUEUEFULL (the tables are the whole host's: arp_tbl for IPv4, nd_tbl for IPv6).
  NEIGH_QUEUEFULL: ip(['arp_cache unresolved_discards'], ['ndisc_cache unresolved_discards']),
  // net/core/dev.c enqueue_to_backlog: the softnet data's dropped (the 2nd column of softnet_stat),
  // the flow limit's drops included; the device's rx_dropped too (DEVICE_COUNTER_RULES).
  CPU_BACKLOG: [{ protos: 'any', family: 'any', counters: ['softnet dropped'] }],
  // net/netfilter/nf_conntrack_core.c: a full table (drop) or a lost insert race (insert_failed)
  // returns NF_DROP, which nf_hook_slow frees as NETFILTER_DROP; the rules' drops are the rest
  // (PARTIAL_COUNTERS).
  NETFILTER_DROP: [{ protos: 'any', family: 'any', counters: ['conntrack drop', 'conntrack insert_failed'] }],
};

/** The counters bumped beside a kfree_skb with a reason: a drop of theirs reaches the tracepoint, so one lost or uncounted there may be theirs. */
const TRACEABLE_COUNTERS: ReadonlySet<CounterName> = new Set(Object.values(COUNTER_RULES).flatMap((rules) => rules.flatMap((rule) => rule.counters)));

export function countsTracedDrops(name: CounterName): boolean {
  return TRACEABLE_COUNTERS.has(name);
}

/** Counters the kernel keeps for the whole host, the same in every network namespace: softnet's, and the neighbour tables' (arp_tbl, nd_tbl). */
const GLOBAL_COUNTER = /^(softnet|arp_cache|ndisc_cache) /;

export function isGlobalCounter(name: CounterName): boolean {
  return GLOBAL_COUNTER.test(name);
}

/** Counters that count only some of their reason's drops: compared only when they moved. */
export const PARTIAL_COUNTERS: ReadonlySet<CounterName> = new Set(['conntrack drop', 'conntrack insert_failed']);

/**
 * A counter of the device a packet was on, bumped where the kernel frees it with a reason: linked
 * by the drop's location, since the same reason elsewhere bumps nothing of the device's.
 */
export interface DeviceCounterRule {
  /** The functions that free the packet beside the counter. */
  at: readonly string[];
  /** "dev <the drop's device> <field>", or "qdisc": the drops of the device's root qdisc (which counts its children's). */
  counter: 'tx_dropped' | 'rx_dropped' | 'qdisc';
  /** The device kinds (rtnetlink's) that have this counter, summed over when the drop's device is not known; null: every device. */
  kinds: readonly string[] | null;
}

/** drivers/net/tun.c tun_net_xmit: its drop label bumps the tun/tap's tx_dropped whatever the reason. */
const TUN_XMIT: DeviceCounterRule = { at: ['tun_net_xmit'], counter: 'tx_dropped', kinds: ['tun'] };

/** Reason → the device counters next to its kfree_skb_reason calls. */
export const DEVICE_COUNTER_RULES: Readonly<Record<string, readonly DeviceCounterRule[]>> = {
  // tun_net_xmit; drivers/net/tap.c tap_handle_frame counts through count_rx_dropped, which macvtap
  // and ipvtap add to their device's rx_dropped.
  FULL_RING: [TUN_XMIT, { at: ['tap_handle_frame'], counter: 'rx_dropped', kinds: ['macvtap', 'ipvtap'] }],
  DEV_READY: [TUN_XMIT],
  SOCKET_FILTER: [TUN_XMIT],
  TAP_FILTER: [TUN_XMIT],
  TAP_TXFILTER: [TUN_XMIT],
  // net/core/dev.c __dev_xmit_skb (inlined into __dev_queue_xmit): the to_free list of qdisc_drop,
  // which counts each drop in the qdisc's and its parents' qstats.
  QDISC_DROP: [{ at: ['__dev_queue_xmit', '__dev_xmit_skb'], counter: 'qdisc', kinds: null }],
  // enqueue_to_backlog: dev_core_stats_rx_dropped_inc(skb->dev) before the free.
  CPU_BACKLOG: [{ at: ['enqueue_to_backlog'], counter: 'rx_dropped', kinds: null }],
};
