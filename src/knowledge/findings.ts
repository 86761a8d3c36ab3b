// The ledger's findings: a counter that moved by more than the traced drops behind it, explained —
// what happened, the objects involved, the settings that decide it with their values now, and the
// fix as a command. Most are drops kfree_skb never sees (a NIC's ring, refused SYNs, XDP); some
// are drops a filter or the run's timing kept from the trace. Pure: the counters' deltas, the
// correlation's checks and the namespace's state in, findings out.
import type { CounterDelta, HostState } from '../kernel/counters';
import { countsTracedDrops, isGlobalCounter } from './counter-links';
import { signed, type CounterCheck } from './correlate';

export interface Setting {
  name: string;
  value: string;
}

export interface Finding {
  counter: string;
  delta: number;
  /** Traced drops with a reason that feeds the counter. */
  traced: number;
  /** The whole host's counter, not the namespace's. */
  global: boolean;
  explanation: string;
  /** The sockets, devices or CPUs involved, as text. */
  objects: string[];
  settings: Setting[];
  advice: string;
  /** Counters that moved by no more than this one because they count the same drops (ListenDrops counts every ListenOverflows): explained with it. */
  companions: string[];
}

/** What a rule sees of the run. */
interface Seen {
  delta: number;
  traced: number;
  /** The counter name's parts the rule's pattern captured. */
  match: RegExpExecArray;
  host: HostState | null;
  moved: ReadonlyMap<string, number>;
  /** The traced drops of a reason, for a counter that counts some of them. */
  tracedOf(reason: string): number;
}

type Explained = Pick<Finding, 'explanation' | 'objects' | 'settings' | 'advice'>;

interface FindingRule {
  counter: RegExp;
  /** The counter names the cause of drops traced under a vaguer reason (NETFILTER_DROP, CPU_BACKLOG): a finding whenever it moved. */
  evenWhenTraced?: true;
  /** Counters the kernel raises with this one for the same drop. */
  companions?: readonly string[];
  explain(seen: Seen): Explained | null;
}

/** The settings of these names that were read. */
function settings(host: HostState | null, ...names: string[]): Setting[] {
  return names.flatMap((name) => {
    const value = host?.settings.get(name);
    return value === undefined ? [] : [{ name, value }];
  });
}

function number(host: HostState | null, name: string): number | null {
  const value = Number(host?.settings.get(name)?.split(' ')[0]);
  return Number.isFinite(value) && host?.settings.has(name) ? value : null;
}

/** Listeners worth naming: full ones first, then those with anything queued; at most three. */
function listenerObjects(host: HostState | null): string[] {
  const listeners = [...(host?.listeners ?? [])].sort((a, b) => b.queued / Math.max(b.backlog, 1) - a.queued / Math.max(a.backlog, 1));
  const busy = listeners.filter((l) => l.queued > 0 && l.queued >= l.backlog);
  return (busy.length > 0 ? busy : listeners.filter((l) => l.queued > 0))
    .slice(0, 3)
    .map((l) => `${l.local} ${l.owner ?? '(owner unknown)'} backlog ${l.backlog} queued ${l.queued}`);
}

const RULES: readonly FindingRule[] = [
  {
    counter: /^TcpExt ListenOverflows$/,
    companions: ['TcpExt ListenDrops'],
    explain: ({ traced, host }) => {
      const somaxconn = number(host, 'net.core.somaxconn');
      const full = host?.listeners.filter((l) => l.queued > 0 && l.queued >= l.backlog) ?? [];
      const capped = somaxconn !== null && full.some((l) => l.backlog >= somaxconn);
      return {
        explanation: `the accept queue of a listening socket is full (refused SYNs are not counted as drops${traced > 0 ? `; ${traced} final ACKs were, as TCP_LISTEN_OVERFLOW` : ''})`,
        objects: listenerObjects(host),
        settings: settings(host, 'net.core.somaxconn', 'net.ipv4.tcp_max_syn_backlog'),
        advice: capped
          ? `the backlog is at net.core.somaxconn: sysctl -w net.core.somaxconn=${somaxconn! * 2}, and raise the listen() backlog`
          : 'raise the listen() backlog (up to net.core.somaxconn) or accept connections faster',
      };
    },
  },
  {
    counter: /^dev (\S+) rx_(missed_errors|fifo_errors|over_errors)$/,
    explain: ({ match, host }) => {
      const dev = match[1];
      const ring = host?.rings.get(dev);
      const room = ring && ring.rx !== null && ring.rxMax !== null && ring.rx < ring.rxMax;
      return {
        explanation: "the NIC's receive ring overflowed before the kernel saw the packets (no skb was built: nothing to trace)",
        objects: [dev],
        settings: ring && ring.rx !== null ? [{ name: `${dev} ring rx`, value: `${ring.rx} of max ${ring.rxMax ?? '?'}` }, ...settings(host, 'net.core.netdev_budget')] : [],
        advice: room
          ? `ethtool -G ${dev} rx ${ring.rxMax}`
          : `spread the receive load over more queues and CPUs (ethtool -L ${dev} combined N, IRQ affinity) or raise the ring (ethtool -G ${dev} rx N)`,
      };
    },
  },
  {
    counter: /^dev (\S+) rx_nohandler$/,
    explain: ({ match }) => ({
      explanation: 'packets arrived that no protocol handler took (an inactive bond or team port, or a protocol nothing listens for)',
      objects: [match[1]],
      settings: [],
      advice: `see which protocol: tcpdump -n -e -i ${match[1]}; check the bond or team state`,
    }),
  },
  {
    counter: /^dev (\S+) rx_(crc|frame|length)_errors$/,
    explain: ({ match }) => ({
      explanation: 'the NIC received damaged frames (cabling, optics, a duplex or speed mismatch)',
      objects: [match[1]],
      settings: [],
      advice: `check the link: ethtool ${match[1]}; replace the cable or transceiver`,
    }),
  },
  {
    counter: /^ethtool (\S+) (\S*xdp\S*)$/,
    explain: ({ match }) => ({
      explanation: `an XDP program on ${match[1]} dropped packets (XDP_DROP, or a failed XDP_TX/redirect) before any skb existed`,
      objects: [match[1]],
      settings: [],
      advice: `find the program: bpftool net show dev ${match[1]}`,
    }),
  },
  {
    counter: /^ethtool (\S+) (\S+)$/,
    explain: ({ match, host }) => {
      const ring = host?.rings.get(match[1]);
      return {
        explanation: `the driver of ${match[1]} counted packets lost (${match[2]}) before the kernel saw them`,
        objects: [match[1]],
        settings: ring && ring.rx !== null ? [{ name: `${match[1]} ring rx`, value: `${ring.rx} of max ${ring.rxMax ?? '?'}` }] : [],
        advice:
          ring && ring.rx !== null && ring.rxMax !== null && ring.rx < ring.rxMax
            ? `ethtool -G ${match[1]} rx ${ring.rxMax}`
            : `see ethtool -S ${match[1]} and the driver's documentation for ${match[2]}`,
      };
    },
  },
  {
    counter: /^softnet dropped$/,
    evenWhenTraced: true,
    explain: ({ traced, host, moved }) => {
      const backlog = number(host, 'net.core.netdev_max_backlog');
      const cpus = [...moved].flatMap(([name, delta]) => {
        const cpu = /^softnet cpu(\d+) dropped$/.exec(name);
        return cpu && delta > 0 ? [`CPU ${cpu[1]} ${signed(delta)}`] : [];
      });
      return {
        explanation: `the per-CPU input backlog was full${backlog === null ? '' : `: net.core.netdev_max_backlog ${backlog} reached`}${traced > 0 ? ` (${traced} traced as CPU_BACKLOG)` : ''}`,
        objects: cpus,
        settings: settings(host, 'net.core.netdev_max_backlog', 'net.core.rps_sock_flow_entries'),
        advice: backlog === null ? 'raise net.core.netdev_max_backlog' : `sysctl -w net.core.netdev_max_backlog=${backlog * 2}, or spread the load with RPS`,
      };
    },
  },
  {
    counter: /^softnet flow_limit$/,
    explain: ({ host }) => ({
      explanation: "RPS's flow limit cut one heavy flow at a CPU's input backlog",
      objects: [],
      settings: settings(host, 'net.core.netdev_max_backlog'),
      advice: 'raise net.core.flow_limit_table_len or leave the flow limit off (/proc/sys/net/core/flow_limit_cpu_bitmap)',
    }),
  },
  {
    counter: /^conntrack (drop|insert_failed)$/,
    evenWhenTraced: true,
    explain: ({ match, host, tracedOf }) => {
      const max = number(host, 'net.netfilter.nf_conntrack_max');
      const nfDrops = tracedOf('NETFILTER_DROP');
      const with_ = nfDrops > 0 ? ` with ${nfDrops} NETFILTER_DROP traced` : '';
      return match[1] === 'drop'
        ? {
            explanation: `the conntrack table is full: new connections are dropped${with_} (nf_hook_slow, no rule's verdict)`,
            objects: [],
            settings: settings(host, 'net.netfilter.nf_conntrack_count', 'net.netfilter.nf_conntrack_max'),
            advice:
              max === null
                ? 'raise net.netfilter.nf_conntrack_max or shorten the conntrack timeouts'
                : `sysctl -w net.netfilter.nf_conntrack_max=${max * 2}, or shorten the conntrack timeouts`,
          }
        : {
            explanation: `conntrack could not insert new connections${with_}: two CPUs raced with packets of one new flow (typically parallel UDP queries through NAT)`,
            objects: [],
            settings: settings(host, 'net.netfilter.nf_conntrack_count', 'net.netfilter.nf_conntrack_max'),
            advice: 'send the queries of one flow from one socket in sequence (glibc: options single-request-reopen), or exempt the flow from conntrack (notrack)',
          };
    },
  },
  {
    counter: /^(arp_cache|ndisc_cache) unresolved_discards$/,
    explain: ({ match, traced, host }) => {
      const family = match[1] === 'arp_cache' ? 'ipv4' : 'ipv6';
      return {
        explanation: `packets waiting for ${match[1] === 'arp_cache' ? 'ARP' : 'neighbour discovery'} were discarded: the queue per neighbour was full or resolution failed${traced > 0 ? ` (${traced} traced as NEIGH_QUEUEFULL)` : ''}`,
        objects: [],
        settings: settings(host, `net.${family}.neigh.default.unres_qlen_bytes`, ...(family === 'ipv4' ? ['net.ipv4.neigh.default.unres_qlen'] : [])),
        advice: `see which neighbour does not answer: ip neigh show nud incomplete; raise net.${family}.neigh.DEV.unres_qlen_bytes for bursts`,
      };
    },
  },
  {
    counter: /^(arp_cache|ndisc_cache) table_fulls$/,
    explain: ({ match, host }) => {
      const family = match[1] === 'arp_cache' ? 'ipv4' : 'ipv6';
      const limit = number(host, `net.${family}.neigh.default.gc_thresh3`);
      return {
        explanation: 'the neighbour table was full: new neighbours could not be added',
        objects: [],
        settings: settings(host, `net.${family}.neigh.default.gc_thresh3`),
        advice: limit === null ? `raise net.${family}.neigh.default.gc_thresh3` : `sysctl -w net.${family}.neigh.default.gc_thresh3=${limit * 2}`,
      };
    },
  },
  {
    counter: /^qdisc (\S+) (\S+) (\S+) drops$/,
    explain: ({ match, host }) => {
      const [, dev, handle, kind] = match;
      const qdiscs = host?.qdiscs.filter((q) => q.dev === dev) ?? [];
      // A child's drops are its root's too: the root's finding names them once.
      if (!qdiscs.some((q) => q.root && q.handle === handle)) return null;
      const device = host?.devices.find((d) => d.name === dev);
      const limits = qdiscs.filter((q) => q.limit !== null).map((q) => ({ name: `qdisc ${dev} ${q.handle} ${q.kind} limit`, value: q.limit! }));
      return {
        explanation: `the ${kind} qdisc on ${dev} dropped packets: its queue was full or its rate was exceeded`,
        objects: [dev],
        settings: [...limits, ...(device?.txqlen == null ? [] : [{ name: `${dev} txqueuelen`, value: String(device.txqlen) }])],
        advice: `see the qdiscs: tc -s qdisc show dev ${dev}; raise the limit (tc qdisc change dev ${dev} ... limit N) or the rate if latency allows`,
      };
    },
  },
  {
    counter: /^(Udp6?) RcvbufErrors$/,
    explain: ({ host }) => ({
      explanation: "a UDP socket's receive buffer was full",
      objects: [],
      settings: settings(host, 'net.core.rmem_max', 'net.core.rmem_default'),
      advice: 'read faster, or raise SO_RCVBUF (the kernel gives at most twice net.core.rmem_max) or net.core.rmem_default',
    }),
  },
  {
    counter: /^(Udp6?) MemErrors$/,
    explain: ({ host }) => ({
      explanation: 'UDP as a whole ran out of memory (net.ipv4.udp_mem, in pages)',
      objects: [],
      settings: settings(host, 'net.ipv4.udp_mem', 'sockstat UDP mem'),
      advice: 'find the sockets holding memory (ss -uamp), read them faster, or raise net.ipv4.udp_mem',
    }),
  },
];

/**
 * A finding for each counter that moved by more than the drops traced behind it and that dropwhy can
 * explain (the excess a check's unseen drops account for is not one), and for each counter that
 * names the cause of traced drops; most untraced first.
 */
export function findings(deltas: CounterDelta[], checks: CounterCheck[], host: HostState | null, tracedByReason: ReadonlyMap<string, number>, unseen = 0): Finding[] {
  const moved = new Map(deltas.map((d) => [d.name, d.delta]));
  const byCounter = new Map(checks.map((c) => [c.counter, c]));
  const found: Finding[] = [];
  for (const { name, delta } of deltas) {
    if (delta <= 0) continue;
    const traced = byCounter.get(name)?.traced ?? 0;
    const rule = RULES.find((r) => r.counter.test(name));
    // The run's lost or uncounted drops may be this counter's, when its drops reach the tracepoint.
    const excused = byCounter.has(name) || countsTracedDrops(name) ? unseen : 0;
    if (!rule || (!rule.evenWhenTraced && delta - traced <= excused)) continue;
    const match = rule.counter.exec(name)!;
    const explained = rule.explain({ delta, traced, match, host, moved, tracedOf: (reason) => tracedByReason.get(reason) ?? 0 });
    if (!explained) continue;
    const companions = (rule.companions ?? []).filter((companion) => (moved.get(companion) ?? 0) > 0 && moved.get(companion)! <= delta);
    found.push({ counter: name, delta, traced, global: isGlobalCounter(name), ...explained, companions });
  }
  return found.sort((a, b) => b.delta - b.traced - (a.delta - a.traced));
}

/** One line (filtered: the run traced only what its filters let through): "TcpExt ListenOverflows +12, none traced: …; 127.0.0.1:8080 python3[123] backlog 1 queued 2; net.core.somaxconn 4096; raise …". */
export function findingText(finding: Finding, { filtered = false }: { filtered?: boolean } = {}): string {
  // Under a filter, drops of the counter's kind may have been left out of the trace, not missing from it.
  const traced = `${finding.traced === 0 ? 'none traced' : `${finding.traced} traced`}${filtered ? ' under the filters' : ''}`;
  const head = `${finding.counter} ${signed(finding.delta)}${finding.global ? ' (global)' : ''}, ${traced}: ${finding.explanation}`;
  const parts = [head, finding.objects.join(', '), finding.settings.map((s) => `${s.name} ${s.value}`).join(', '), finding.advice];
  return parts.filter((part) => part !== '').join('; ');
}

/** A finding as JSON's findings[] hold it. */
export function findingJson(finding: Finding) {
  return {
    counter: finding.counter,
    delta: finding.delta,
    traced: finding.traced,
    global: finding.global,
    explanation: finding.explanation,
    objects: finding.objects,
    settings: finding.settings,
    advice: finding.advice,
  };
}

/** The settings that decide each reason's drops, by dotted name (a device's are added by the caller). */
const REASON_SETTINGS: Readonly<Record<string, readonly string[]>> = {
  SOCKET_RCVBUFF: ['net.core.rmem_max', 'net.core.rmem_default'],
  PROTO_MEM: ['net.ipv4.udp_mem', 'sockstat UDP mem', 'net.ipv4.tcp_mem', 'sockstat TCP mem'],
  SOCKET_BACKLOG: ['net.ipv4.tcp_rmem', 'net.core.rmem_max'],
  TCP_LISTEN_OVERFLOW: ['net.core.somaxconn', 'net.ipv4.tcp_max_syn_backlog', 'net.ipv4.tcp_abort_on_overflow'],
  CPU_BACKLOG: ['net.core.netdev_max_backlog', 'net.core.rps_sock_flow_entries'],
  IP_RPFILTER: ['net.ipv4.conf.all.rp_filter', 'net.ipv4.conf.default.rp_filter'],
  IP_INADDRERRORS: ['net.ipv4.ip_forward', 'net.ipv6.conf.all.forwarding'],
  NETFILTER_DROP: ['net.netfilter.nf_conntrack_count', 'net.netfilter.nf_conntrack_max'],
  NEIGH_QUEUEFULL: ['net.ipv4.neigh.default.unres_qlen', 'net.ipv4.neigh.default.unres_qlen_bytes', 'net.ipv6.neigh.default.unres_qlen_bytes'],
  NEIGH_CREATEFAIL: ['net.ipv4.neigh.default.gc_thresh3'],
};

/** The settings behind a reason's drops as read live; device: the drops' interface, for its MTU, txqueuelen, rp_filter and qdiscs. */
export function reasonSettings(reason: string, host: HostState | null, device: string | null = null): Setting[] {
  const named = settings(host, ...(REASON_SETTINGS[reason] ?? []));
  if (!device || !host) return named;
  const dev = host.devices.find((d) => d.name === device);
  const ofDevice: Setting[] = [];
  if (reason === 'IP_RPFILTER') ofDevice.push(...settings(host, `net.ipv4.conf.${device}.rp_filter`));
  if (dev && (reason === 'QDISC_DROP' || reason === 'FULL_RING') && dev.txqlen !== null) ofDevice.push({ name: `${device} txqueuelen`, value: String(dev.txqlen) });
  if (dev && reason === 'PKT_TOO_BIG' && dev.mtu !== null) ofDevice.push({ name: `${device} mtu`, value: String(dev.mtu) });
  if (reason === 'QDISC_DROP') {
    for (const q of host.qdiscs.filter((q) => q.dev === device && q.limit !== null)) ofDevice.push({ name: `qdisc ${device} ${q.handle} ${q.kind} limit`, value: q.limit! });
  }
  return [...named, ...ofDevice];
}
