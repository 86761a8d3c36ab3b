// The hand-written advice behind `dropwhy explain REASON` and the one-line
// hints, one entry per drop reason: what the kernel was doing when it freed a
// packet with that enum skb_drop_reason, and what to look at next. Data only:
// advice.ts looks it up, and adds the counters of counter-links.ts.
//
// Names are the kernel's enumerator names without the SKB_DROP_REASON_
// prefix. The texts are ours; the facts were checked against the kernel
// sources of the 6.1x series (include/net/dropreason-core.h and the files
// that use each reason).
//
// Advice for a new reason: an entry under its family below; a counter the
// kernel bumps at the same drop site goes in counter-links.ts, one that only
// moves with it in `related`. test/unit/advice-entries.test.ts checks each
// entry's shape and that its name is a reason of
// test/fixtures/kernel-reasons.json (a reason newer than that kernel needs
// the fixture re-recorded first).
import type { CounterName } from './counter-links';

/** A summary is one hint line of at most this many characters. */
export const SUMMARY_MAX = 100;

/** The advice for a reason as explain and the hints give it: an entry's, or one derived from the name. */
export interface ReasonAdvice {
  summary: string; // one line: what the kernel was doing when it dropped (<= SUMMARY_MAX chars); used as the hint
  meaning: string; // a short paragraph: when this happens, typical causes
  counters: CounterName[]; // /proc/net/snmp, snmp6, netstat counters the kernel bumps at the same drop site(s); [] when none
  checks: string[]; // concrete things to check or change
}

export interface AdviceEntry {
  /** One line of at most SUMMARY_MAX characters: what the kernel was doing when it dropped; the hint. */
  summary: string;
  /** A short paragraph: when this happens, typical causes. */
  meaning: string;
  /** Concrete things to check or change. */
  checks: string[];
  /**
   * Counters that move with the drop but do not count it one to one (per connection, per queue, per
   * prune pass...): shown by `dropwhy explain`, never compared.
   */
  related?: CounterName[];
  /**
   * Where the kernel function that freed the packet says more than the reason does: by function name
   * (the location without its offset), the summary and checks there, in place of the reason's own.
   */
  atFunction?: Record<string, { summary: string; checks: string[] }>;
}

// Checks shared by several entries; NFT_CHECKS and QDISC_CHECK also by derived-advice.ts.
export const NFT_CHECKS = [
  'Name the rule behind each drop: `dropwhy --nft-trace` (or `dropwhy summary --nft-trace`) traces the ruleset while it runs and prints the rule under each NETFILTER_DROP.',
  'List the rules with their counters: `nft list ruleset` (or `iptables-save -c` and `ip6tables-save -c` for iptables-legacy/nft-compat rules); look for drop/reject rules whose counters grow.',
  'Trace one packet through the rules: add `meta nftrace set 1` in a prerouting/output chain and run `nft monitor trace`.',
];

export const QDISC_CHECK = 'Show the qdisc statistics: `tc -s qdisc show dev DEV` (dropped, overlimits, backlog, requeues) and watch which qdisc counts the drops.';
const LOCATION_CHECK = 'Look at the kernel function in the location dropwhy printed: it tells which path took the decision.';

export const ADVICE_ENTRIES: Readonly<Record<string, AdviceEntry>> = {
  // --- markers that are not drops -------------------------------------------
  SKB_NOT_DROPPED_YET: {
    summary: 'Not a drop: the placeholder value 0; seeing it means the reason field was read wrongly',
    meaning:
      'The kernel uses value 0 as "no decision yet" inside functions that collect a reason; it never frees a packet with it on purpose. If dropwhy reports it, the tracepoint argument was most likely read at the wrong place (a BTF that does not match the running kernel) or an out-of-tree module passes a bogus value.',
    checks: [
      'Check that the BTF dropwhy read belongs to the running kernel: `uname -r` and `ls -l /sys/kernel/btf/vmlinux`.',
      "Compare with the kernel's own view: `cat /sys/kernel/tracing/events/skb/kfree_skb/format`.",
      LOCATION_CHECK,
    ],
  },
  SKB_CONSUMED: {
    summary: 'Not a drop: the packet was used up normally and freed after delivery',
    meaning:
      'This value marks a normal free after successful processing. The kernel reports such frees on the skb:consume_skb tracepoint, not skb:kfree_skb, so it should not show up here; if it does, the location dropwhy printed points at code that frees a consumed packet through the drop path (harmless for traffic).',
    checks: [LOCATION_CHECK, 'Confirm with `perf trace -e skb:consume_skb` that normal frees are reported there, not as drops.'],
  },

  // --- catch-all and generic housekeeping -----------------------------------
  NOT_SPECIFIED: {
    summary: 'Freed with plain kfree_skb(): this code path records no reason',
    meaning:
      'Many drivers, tunnels and older protocol paths still free packets without a reason, and some paths pick a reason only for part of their error cases. The name says nothing about the cause; the drop location (function and offset) that dropwhy prints is the real clue. Lots of NOT_SPECIFIED drops from one function are worth reading that function for.',
    checks: [
      LOCATION_CHECK,
      'Find the calls to kfree_skb() in that function in the kernel source of your version (`uname -r`) to see which error led there.',
      'See which counters move at the same time: `nstat -az` before and after, and `ip -s -s link show dev DEV`.',
    ],
  },
  QUEUE_PURGE: {
    summary: 'A whole queue of packets was thrown away at once (queue purge on teardown or reset)',
    meaning:
      'The kernel emptied a queue in bulk: a socket being destroyed, a device going down, a qdisc being reset or replaced, a neighbour entry flushed. The packets were waiting somewhere that stopped existing. On its own this is housekeeping; many of them point at sockets or links that keep restarting.',
    checks: [
      'Correlate with link or configuration changes: `ip monitor link`, `journalctl -k` for carrier changes, `tc qdisc` replacements by scripts.',
      'Check whether an application restarts or closes sockets with unread data (its logs, `ss -tanp`).',
      LOCATION_CHECK,
    ],
    atFunction: {
      sk_stream_kill_queues: {
        summary: 'A TCP socket was closed with packets still queued: its receive and write queues were emptied',
        checks: [
          'Find the application that closes connections without reading what arrived (or aborts them): `ss -tanp`, its logs; a peer that keeps sending after close is answered with RST.',
          'Count closes with data pending: `nstat -az TcpExtTCPAbortOnClose TcpExtTCPAbortOnData`.',
        ],
      },
    },
  },
  NOMEM: {
    summary: 'A memory allocation failed while handling the packet',
    meaning:
      'The kernel could not allocate memory it needed (a new skb, a clone, a larger header area, metadata). This happens under real memory pressure, with fragmented memory for high-order allocations, or inside a cgroup that hit its memory limit.',
    checks: [
      'Check memory pressure: `free -m`, `/proc/meminfo`, `/proc/buddyinfo` (fragmentation), and `dmesg` for "page allocation failure".',
      'Consider raising vm.min_free_kbytes on hosts that receive bursts at high rate.',
      'For containers, check the cgroup memory limit and its sock usage (`memory.stat`, `memory.events`).',
    ],
  },
  PFMEMALLOC: {
    summary: 'Packet built from emergency memory reserves reached a socket not allowed to use them',
    meaning:
      'Under severe memory pressure the kernel may build packets from its emergency reserve, which is kept for traffic that helps free memory (swap over the network). Any other socket that receives such a packet must drop it. Seeing this means the host was very short of memory when the packet arrived.',
    checks: [
      'Check memory pressure at that time: `free -m`, `/proc/meminfo`, `dmesg` for allocation failures and OOM kills.',
      'Raise vm.min_free_kbytes so the reserve is touched less often, and find what consumes memory.',
      'Read the counter: `nstat -az TcpExtPFMemallocDrop`.',
    ],
  },

  // --- sockets --------------------------------------------------------------
  NO_SOCKET: {
    summary: 'No socket matched the destination address and port (nothing listening)',
    meaning:
      'Routing decided the packet was for this host, but the transport lookup found no socket for it. TCP answers with a RST, UDP with an ICMP port unreachable (rate limited). Typical causes: the service is not running (yet), it is bound to another address (127.0.0.1 instead of 0.0.0.0, IPv4-only vs IPv6-only) or lives in another network namespace, a DNAT rule points at the wrong port, or port scans. For TCP it also covers handshake packets whose request or child socket disappeared, and for ICMP echo replies with no ping socket waiting.',
    checks: [
      "List listeners: `ss -lntu` (and `ss -lnup 'sport = :PORT'`); check the bound address and the network namespace of the service (`ip netns identify PID`).",
      'For IPv6 vs IPv4: check IPV6_V6ONLY on the socket and net.ipv6.bindv6only.',
      'Check NAT rules that rewrite the destination port: `nft list ruleset` or `iptables -t nat -S`.',
      'UDP only: compare with `nstat -az UdpNoPorts Udp6NoPorts`; TCP answers with RSTs (`nstat -az TcpOutRsts`).',
    ],
  },
  SOCKET_CLOSE: {
    summary: 'Data was still queued on a socket when it was closed or released',
    meaning:
      'A socket went away while received data was still in its queue, and that data was freed with it. In current kernels this comes mostly from AF_UNIX sockets (the receive queue on release, in-flight file descriptors reclaimed by the garbage collector), so the packets are local IPC, not network traffic. It points at a peer that closes without reading what it was sent.',
    checks: [
      'Find the processes involved: `ss -xp` for UNIX sockets, and check whether one side exits or closes early.',
      'Make the reader drain its socket (or shutdown() cleanly) before close().',
      LOCATION_CHECK,
    ],
  },
  SOCKET_FILTER: {
    summary: 'A filter attached to the socket (classic/eBPF or cgroup BPF ingress) rejected it',
    meaning:
      "The socket had a filter and the filter said no: a classic BPF or eBPF program set with SO_ATTACH_FILTER/SO_ATTACH_BPF, or a cgroup BPF ingress program on the receiving process's cgroup (systemd's IPAddressDeny= and IPIngressFilterPath= use these). Trimming the packet to the length the filter asked for can fail the same way.",
    checks: [
      'List cgroup BPF programs and where they are attached: `bpftool cgroup tree`; check the service unit for IPAddressAllow=/IPAddressDeny=.',
      'List loaded programs: `bpftool prog show` (types socket_filter, cgroup_skb).',
      'UDP: compare with `nstat -az UdpInErrors Udp6InErrors`.',
    ],
  },
  SOCKET_RCVBUFF: {
    summary: 'The socket receive buffer was full: the application did not read fast enough',
    meaning:
      "The packet reached its socket, but the memory already queued there was at the socket's receive-buffer limit, so the kernel dropped it. The reader (the application) is too slow, blocked, or starved of CPU, or the buffer is too small for the bursts it gets. Common for UDP receivers (DNS, syslog, metrics, media) and raw/packet sockets.",
    checks: [
      'Look at the socket: `ss -uamp` (skmem: r = queued, rb = buffer size, d = drops) and the Recv-Q column.',
      'Give the socket a larger buffer with SO_RCVBUF (capped by net.core.rmem_max; SO_RCVBUFFORCE ignores the cap) or raise net.core.rmem_default for sockets that do not set it.',
      'Make the reader faster: more threads or sockets with SO_REUSEPORT, recvmmsg(), UDP GRO; check its CPU and whether it blocks.',
      'UDP: compare with `nstat -az UdpRcvbufErrors Udp6RcvbufErrors`.',
    ],
  },
  SOCKET_BACKLOG: {
    summary: 'The socket was busy in the application and its backlog queue was full',
    meaning:
      'While a thread holds the socket lock (in a send or receive call), arriving packets wait in a per-socket backlog that is processed when the lock is released. That backlog is limited to about the receive buffer plus half the send buffer; beyond it packets are dropped. Bursts at high rate combined with long-held socket locks or small buffers cause this. Mostly seen with TCP.',
    checks: [
      'Raise the buffers: net.ipv4.tcp_rmem (third value), net.core.rmem_max and SO_RCVBUF if the application sets it.',
      'Check whether the application holds the socket for long (very large send() calls, slow callbacks) and its CPU usage.',
      'TCP: compare with `nstat -az TcpExtTCPBacklogDrop`.',
    ],
  },
  PROTO_MEM: {
    summary: "The protocol's global memory limit (udp_mem/tcp_mem) or socket memory was exhausted",
    meaning:
      "All sockets of a protocol share a memory budget (net.ipv4.udp_mem, net.ipv4.tcp_mem, in pages). When the total is above the hard limit, or a socket cannot get more memory charged to it, new data is dropped even if this socket's own buffer has room. Many slow readers or very large buffers on many sockets lead there; in TCP it also hits in-order or out-of-order data that cannot be charged.",
    checks: [
      'Check protocol memory use against the limits: `cat /proc/net/sockstat` (mem, in pages) vs net.ipv4.udp_mem / net.ipv4.tcp_mem.',
      'Find sockets holding memory: `ss -tumap` (skmem) and fix slow readers; raise the limits only if the host has memory to spare.',
      'UDP: compare with `nstat -az UdpMemErrors`; TCP: `nstat -az TcpExtTCPRcvQDrop TcpExtTCPOFODrop`.',
    ],
    related: ['TcpExt TCPRcvQDrop', 'TcpExt TCPOFODrop'],
  },
  UNIX_DISCONNECT: {
    summary: 'AF_UNIX datagram queue purged: the socket reconnected or its peer went away',
    meaning:
      'For UNIX datagram and seqpacket sockets, queued messages are dropped when the socket connects to a different peer, or when a sender finds its peer was closed. This is local IPC between processes on the host, not network traffic.',
    checks: ['Find the processes: `ss -xp`; check which one reconnects or exits while messages are pending.', LOCATION_CHECK],
  },
  UNIX_SKIP_OOB: {
    summary: 'AF_UNIX out-of-band byte skipped by a normal recv() and thrown away',
    meaning:
      'A UNIX stream socket received data sent with MSG_OOB, and the reader read past it without MSG_OOB (and without SO_OOBINLINE), so the out-of-band byte was dropped. This is local IPC and an application protocol detail.',
    checks: ['Check whether the sending program really means to use MSG_OOB, or set SO_OOBINLINE on the reader.', '`ss -xp` shows the processes on both ends.'],
  },
  PACKET_SOCK_ERROR: {
    summary: 'A packet socket (tcpdump, DHCP, LLDP...) matched the packet but could not take it',
    meaning:
      "An AF_PACKET socket's filter accepted a copy of the packet, but the socket could not queue it: its receive buffer or ring was full, or memory ran out. Only that copy is lost; the original packet continues through the stack. Typical with packet capture at high rate.",
    checks: [
      'Capture tools report the same loss ("packets dropped by kernel"); raise their buffer (`tcpdump -B KiB`) or the PACKET_RX_RING size.',
      'Raise net.core.rmem_max if the tool asks for a larger SO_RCVBUF.',
      'List packet sockets and their owners: `ss -0 -p`.',
    ],
  },
  SECURITY_HOOK: {
    summary: 'A Linux security module (SELinux, AppArmor, Smack) refused delivery to the socket',
    meaning:
      'Before queuing a packet to a socket the kernel asks the security modules; one of them denied it, for example SELinux labeled networking or secmark rules, or an AppArmor network rule.',
    checks: [
      'Look for denials: `ausearch -m avc -ts recent`, `journalctl -k | grep -i denied`, `aa-status`.',
      'Check secmark/connsecmark rules in `nft list ruleset` and the security context of the receiving process.',
    ],
  },

  // --- netfilter and BPF hooks ----------------------------------------------
  NETFILTER_DROP: {
    summary: 'Dropped by a netfilter hook: an nftables/iptables rule, conntrack or NFQUEUE',
    meaning:
      'A netfilter hook returned a drop verdict. Usually a firewall rule (drop, or reject which drops after sending its answer), but also connection tracking (packets in INVALID state, a full conntrack table), NFQUEUE with no program listening, or bridge/ARP tables. Firewall managers (firewalld, ufw, Docker, kube-proxy) add rules that are easy to overlook.',
    checks: [
      ...NFT_CHECKS,
      'Check conntrack: `conntrack -S` (drop, insert_failed, invalid), net.netfilter.nf_conntrack_count vs net.netfilter.nf_conntrack_max, `dmesg | grep conntrack` for "table full".',
      'For bridged traffic also look at `ebtables -L --Lc` and net.bridge.bridge-nf-call-iptables.',
    ],
  },
  BPF_CGROUP_EGRESS: {
    summary: "A cgroup BPF egress program on the sending process's cgroup dropped it",
    meaning:
      'The sending socket belongs to a cgroup with a BPF_PROG_TYPE_CGROUP_SKB egress program, and the program returned drop. systemd uses such programs for IPAddressDeny=/IPAddressAllow= and IPEgressFilterPath=; container runtimes and security agents also attach them.',
    checks: [
      "List programs per cgroup: `bpftool cgroup tree` and find the sender's cgroup in `/proc/PID/cgroup`.",
      'Check the systemd unit of the sender for IPAddressDeny=, IPAddressAllow=, IPEgressFilterPath= (`systemctl show UNIT -p IPAddressDeny`).',
    ],
  },
  XDP: {
    summary: 'An XDP program dropped it (generic/skb-mode XDP, or XDP on veth/tun)',
    meaning:
      'An XDP program attached to the receiving device returned XDP_DROP or XDP_ABORTED. Only XDP running on socket buffers shows up here (generic mode, veth, tun); drops by native driver-mode XDP happen before any socket buffer exists and are never traced by kfree_skb.',
    checks: [
      'Find the program: `ip -d link show dev DEV` (xdp/xdpgeneric), `bpftool net show`, `bpftool prog show`.',
      'XDP_ABORTED also fires the xdp:xdp_exception tracepoint: `perf trace -e xdp:xdp_exception`.',
    ],
  },
  TC_INGRESS: {
    summary: 'A tc filter or action on ingress (clsact/ingress qdisc) dropped it',
    meaning:
      'A classifier or action attached to the receiving device\'s ingress hook returned "shot": a gact drop, a policer over its rate, or a BPF tc program (Cilium, Calico, custom) deciding to drop.',
    checks: [
      'Show filters with counters: `tc -s filter show dev DEV ingress` (and `tc -s qdisc show dev DEV ingress`).',
      'List BPF programs on tc hooks: `bpftool net show`; check the CNI or agent that installed them.',
      'Check policers: `tc -s actions ls action police`.',
    ],
  },
  TC_EGRESS: {
    summary: 'A tc filter or action on egress (clsact) dropped it before the qdisc',
    meaning:
      'A classifier or action on the sending device\'s egress hook returned "shot": a gact drop, a policer over its rate, or a BPF tc program (CNI plugins, traffic shaping tools) deciding to drop.',
    checks: [
      'Show filters with counters: `tc -s filter show dev DEV egress`.',
      'List BPF programs on tc hooks: `bpftool net show`.',
      'Check policers: `tc -s actions ls action police`.',
    ],
  },
  TC_COOKIE_ERROR: {
    summary: 'tc could not resume classification: the hardware miss cookie matches no action',
    meaning:
      'With tc filters offloaded to a NIC, the hardware can hand a packet back to software in the middle of the rules, tagged with a cookie naming the action where software should continue. That cookie matched no action any more (filters were changed or removed meanwhile, or the driver handed back a stale cookie), so the packet cannot be classified and is dropped.',
    checks: [
      'Check offloaded filters: `tc -s filter show dev DEV ingress` (in_hw, skip_sw, not_in_hw) and the driver in `ethtool -i DEV`.',
      'Correlate with filter updates (OVS/TC flower rules being replaced) and driver messages in `dmesg`.',
    ],
  },
  TC_CHAIN_NOTFOUND: {
    summary: 'tc was told to continue in a chain that does not exist',
    meaning:
      'A "goto chain N" action, or a hardware offload that handed the packet back at chain N, pointed at a chain with no filters on that device. The packet cannot be classified further and is dropped.',
    checks: ['List chains and filters: `tc chain show dev DEV ingress` and `tc -s filter show dev DEV ingress chain N`.', 'Fix the goto target or add the missing chain.'],
  },
  TC_RECLASSIFY_LOOP: {
    summary: 'tc reclassified the packet too many times (reclassify loop)',
    meaning: 'A "reclassify" action restarts classification; the kernel allows only a few restarts per packet. The filters keep sending the packet back, so it is dropped.',
    checks: ['Look for `action reclassify` in `tc -s filter show dev DEV ingress` / `egress` and break the loop.'],
  },

  // --- qdiscs ---------------------------------------------------------------
  QDISC_DROP: {
    summary: 'The queueing discipline (qdisc) could not take the packet on transmit',
    meaning:
      "On transmit the packet is queued in the device's qdisc before the driver sends it. The qdisc refused it, usually because it was full (for pfifo_fast and similar, the limit is the device's txqueuelen) while the link or a shaper could not drain it fast enough. Bursty senders and slow or shaped links cause this.",
    checks: [
      QDISC_CHECK,
      "Raise the queue length only if latency allows: `ip link set dev DEV txqueuelen N`, or the qdisc's own limit.",
      'Check link speed and errors: `ethtool DEV`, `ip -s link show dev DEV`; with multiqueue NICs check the mq children.',
    ],
  },
  QDISC_OVERLIMIT: {
    summary: 'The qdisc was over its total size limit (packets or bytes)',
    meaning:
      'A qdisc with a global limit (fq, fq_codel, cake, and others: limit, memory_limit) was already holding as much as allowed, so the packet was dropped on enqueue. The link or shaper is the bottleneck for the offered load.',
    checks: [QDISC_CHECK, "Adjust the qdisc's limit or memory_limit (`tc qdisc change ...`) or reduce the offered load; check the shaping rate."],
  },
  QDISC_CONGESTED: {
    summary: 'An AQM qdisc (CoDel, fq_codel, PIE, RED, DualPI2) dropped it to signal congestion',
    meaning:
      'Active queue management drops packets on purpose when packets wait in the queue for too long, so that senders slow down. A steady trickle is normal on a congested link; ECN-capable flows can be marked instead of dropped.',
    checks: [
      QDISC_CHECK,
      'Let TCP use ECN (net.ipv4.tcp_ecn=1) and keep ECN enabled on the qdisc (fq_codel does it by default) so packets are marked instead.',
      'If drops are heavy, the link is simply too slow for the traffic: check the rate limits of shapers.',
    ],
  },
  CAKE_FLOOD: {
    summary: "The cake qdisc's flood protection dropped a flow that ignores congestion",
    meaning:
      'cake runs a second algorithm (BLUE) for flows that do not slow down when they see drops, typically UDP floods or broken senders. Their packets are dropped to protect the other flows.',
    checks: [QDISC_CHECK, 'Find the unresponsive flow (the traced source/destination) and rate-limit or fix the sender.'],
  },
  FQ_BAND_LIMIT: {
    summary: "The fq qdisc dropped it: the packet's priority band was at its limit",
    meaning:
      'The fq qdisc splits traffic into priority bands; each band can hold only so many packets. This band was full, so the packet was dropped on enqueue. The band drop counts show in the qdisc statistics.',
    checks: [QDISC_CHECK, 'Check the fq parameters (`tc qdisc show dev DEV`) and which senders mark their traffic into that band (SO_PRIORITY, DSCP).'],
  },
  FQ_HORIZON_LIMIT: {
    summary: 'The fq qdisc dropped it: its send time was too far in the future (horizon)',
    meaning:
      'With pacing or SO_TXTIME a packet carries the time it should leave. fq refuses packets whose time is beyond its horizon (10 seconds by default) and, with horizon_drop, drops them. A sender with a wrong clock or a broken timestamp is the usual cause.',
    checks: [QDISC_CHECK, 'Check the fq horizon settings (`tc qdisc show dev DEV`, horizon / horizon_cap) and applications using SO_TXTIME and their clock.'],
  },
  FQ_FLOW_LIMIT: {
    summary: 'The fq qdisc dropped it: one flow had too many packets queued (flow_limit)',
    meaning:
      'fq limits how many packets a single flow may have queued (flow_limit, 100 by default). A sender pushed more than that into one flow faster than it could leave, typically unpaced UDP or a very fast TCP sender to a slow link.',
    checks: [QDISC_CHECK, 'Raise flow_limit (`tc qdisc change dev DEV root fq flow_limit N`) or pace the sender (SO_MAX_PACING_RATE).'],
  },
  DUALPI2_STEP_DROP: {
    summary: 'The DualPI2 qdisc dropped it at the step threshold of its low-latency (L4S) queue',
    meaning:
      'DualPI2 keeps a separate low-latency queue for L4S traffic and reacts with an immediate step when that queue grows past a threshold; here it dropped a packet it could not mark instead. Senders in the L4S queue that do not react to ECN marks cause this.',
    checks: [QDISC_CHECK, 'Check the step threshold and ECN settings of the qdisc and that the senders really support L4S/Accurate ECN (net.ipv4.tcp_ecn).'],
  },

  // --- CPU backlog and devices ----------------------------------------------
  CPU_BACKLOG: {
    summary: 'The per-CPU input backlog was full (netdev_max_backlog) or the RPS flow limit hit',
    meaning:
      'Packets handed to the stack through the per-CPU backlog (non-NAPI drivers, RPS steering, veth, loopback, tunnels) wait there until softirq processing gets to them. The queue was at net.core.netdev_max_backlog, or the RPS flow limit cut one heavy flow. The CPU doing receive processing cannot keep up.',
    checks: [
      'Watch the per-CPU drop column (2nd) and time_squeeze (3rd) in `/proc/net/softnet_stat`.',
      'Raise net.core.netdev_max_backlog, and possibly net.core.netdev_budget / net.core.netdev_budget_usecs.',
      'Spread the load: RPS/RFS (`/sys/class/net/DEV/queues/rx-*/rps_cpus`), IRQ affinity; check softirq CPU use (`mpstat -P ALL 1`, %soft).',
      'If one flow is cut, check net.core.flow_limit_table_len and /proc/sys/net/core/flow_limit_cpu_bitmap.',
    ],
  },
  DEV_READY: {
    summary: 'The device was not ready: down, or (tun/tap) no program attached to its queue',
    meaning:
      'The device could not send or receive at that moment: it is administratively down, or a tun/tap device has no process attached to the queue (the VPN daemon or VM exited or has not opened it yet).',
    checks: [
      '`ip link show dev DEV`: state UP and LOWER_UP?',
      'For tun/tap: is the owning process (VPN, VM, container runtime) running and attached? `ip -d link show dev DEV`, `ls -l /proc/PID/fd | grep tun`.',
    ],
  },
  DEV_HDR: {
    summary: 'The driver found its device-specific header or metadata invalid (e.g. virtio-net header)',
    meaning:
      'Some devices carry metadata in front of the packet, such as the virtio-net header written by a VM or a tun/tap user. It was malformed or inconsistent (for example an offload type the packet cannot have), so the driver refused the packet.',
    checks: [
      'Identify the device from the location dropwhy printed; for tun/tap/vhost check the VMM or VPN software and its version.',
      'Check offload flags on the device: `ethtool -k DEV`; disabling GSO/checksum offload on the tap is a quick test.',
    ],
  },
  FULL_RING: {
    summary: 'A ring buffer between the stack and a device or user program was full',
    meaning:
      "Devices like tun/tap and veth hand packets over through a fixed-size ring; the consumer (a VPN daemon, a VM, an XDP program on the veth peer, or the NIC) did not take packets out fast enough. For tun/tap the ring size follows the device's txqueuelen.",
    checks: [
      'Check drops on the device: `ip -s link show dev DEV` (tx dropped on tun/tap), `ethtool -S DEV` for NICs.',
      'Check CPU use of the consuming process (the VPN or VMM); use multiqueue tun/tap if it is single-threaded.',
      'Raise the ring: `ip link set dev DEV txqueuelen N` for tun/tap, `ethtool -G DEV` for NICs.',
    ],
  },
  HDR_TRUNC: {
    summary: 'A protocol header could not be pulled: the packet is shorter than its headers',
    meaning:
      'Before parsing a header the kernel makes sure those bytes are present in the linear part of the packet. They were not: the packet is truncated or malformed, or it ran out of memory while linearizing. Often seen with broken tunnels or devices that cut packets.',
    checks: [
      'Capture the traffic (`tcpdump -vv -i DEV`) and look for truncated or malformed packets from the traced source.',
      'Check MTU consistency along the path and on tunnel devices: `ip link show`, `ip -d link show dev DEV`.',
    ],
  },
  SKB_CSUM: {
    summary: 'Computing or completing a checksum in software failed',
    meaning:
      'The packet needed its checksum finished in software (the device could not do it, or it was redirected somewhere without checksum offload), and that failed: usually a packet layout the helper cannot handle or a memory failure.',
    checks: [
      'Check checksum offload settings on the devices involved: `ethtool -k DEV | grep checksum`; try turning tx checksumming off/on to narrow it down.',
      LOCATION_CHECK,
    ],
  },
  SKB_GSO_SEG: {
    summary: 'Splitting a large (GSO) packet into segments failed',
    meaning:
      'A large packet that should be cut into MTU-sized segments in software could not be segmented: its GSO metadata was inconsistent (often from a VM or a tun/tap user), the type is unsupported on this path, or memory ran out.',
    checks: [
      'Check offloads on the devices on the path: `ethtool -k DEV` (tso, gso, gro, tx-udp-segmentation); turning them off on tap/veth devices is a quick test.',
      'Check tunnels in the path and their MTU: `ip -d link show`.',
    ],
  },
  SKB_UCOPY_FAULT: {
    summary: 'Copying packet data from user memory failed (bad buffer from the sending program)',
    meaning:
      'The kernel could not copy the data a program handed over (tun/tap write, packet socket, zerocopy send): the user buffer was invalid or went away. A bug or a crash in the sending program is the usual cause.',
    checks: ['Identify the sender (tun/tap owner, packet socket user: `ss -0 -p`) and look at its logs or `strace -e trace=write,writev,sendmsg -p PID`.'],
  },
  TAP_FILTER: {
    summary: 'An eBPF filter attached to the tun/tap device dropped it',
    meaning: 'The program that owns the tun/tap device attached an eBPF filter to it (TUNSETFILTEREBPF), and the filter rejected the packet.',
    checks: ['Find the owner of the device (the VMM or VPN) and its filter configuration; `bpftool prog show` lists the program.'],
  },
  TAP_TXFILTER: {
    summary: 'The tun/tap address filter (TUNSETTXFILTER) rejected the frame',
    meaning:
      "The tun/tap owner set a filter of accepted destination MAC addresses (typically the VM's own MAC and its multicast list). A frame to another address was dropped; often a VM MAC change or promiscuous-mode need that the VMM does not know about.",
    checks: ["Compare the frame's destination MAC with the guest's configured MAC and multicast list; check the VMM's rx-filter/promiscuous settings."],
  },

  // --- receive checks on addresses and headers ------------------------------
  OTHERHOST: {
    summary: "The frame was addressed to another host's MAC (interface in promiscuous mode)",
    meaning:
      'The frame reached this host although its destination MAC belongs to someone else, which happens when the interface is promiscuous (packet capture, bridge or macvlan member) or the switch floods unknown unicast. The IP layer throws such frames away; usually harmless.',
    checks: [
      'Check for PROMISC on the interface: `ip link show dev DEV`; see who set it (tcpdump, bridges, VMs).',
      'Extended stats count these per device: `ip -s -s link show dev DEV` (otherhost).',
      'If the rate is high, check switch flooding (MAC aging, asymmetric paths).',
    ],
  },
  UNICAST_IN_L2_MULTICAST: {
    summary: 'Unicast IP packet inside a link-layer broadcast/multicast frame, refused by sysctl',
    meaning:
      'The interface is configured to drop IP unicast packets that arrive in L2 broadcast or multicast frames (drop_unicast_in_l2_multicast), a protection mostly used on Wi-Fi against a known spoofing attack.',
    checks: [
      'Check net.ipv4.conf.DEV.drop_unicast_in_l2_multicast and net.ipv6.conf.DEV.drop_unicast_in_l2_multicast; find the sender that wraps unicast in broadcast frames.',
    ],
  },
  IP_CSUM: {
    summary: 'The IPv4 header checksum was wrong (corrupted on the way)',
    meaning:
      'The IPv4 header did not pass its checksum, so the packet was damaged: bad cabling or optics, a faulty NIC or offload, or a broken virtual switch or middlebox that changed the header without fixing the checksum.',
    checks: [
      'Check link errors: `ip -s link show dev DEV`, `ethtool -S DEV | grep -i -E "err|crc"`.',
      'Capture and let tcpdump verify: `tcpdump -vv -i DEV` prints "bad cksum".',
      'Compare with `nstat -az IpExtInCsumErrors IpInHdrErrors`.',
    ],
  },
  IP_INHDR: {
    summary: 'Invalid IP header, or TTL/hop limit expired while forwarding',
    meaning:
      'The IP header failed a sanity check (wrong version, header length, total length, bad options, a multicast source) or, when this host forwards, the TTL or hop limit reached zero; this kernel uses this reason for expired TTLs too (newer kernels have IP_TTL_EXCEEDED). Expired TTLs mean a routing loop or a sender with a very low TTL (traceroute).',
    checks: [
      'For TTL expiry: look for routing loops with `ip route get DST` on this and the next hop, and `traceroute DST`.',
      'Capture the traced source: `tcpdump -vv -i DEV src SRC` to see the header fields.',
      'Compare with `nstat -az IpInHdrErrors Ip6InHdrErrors`.',
    ],
  },
  IP_RPFILTER: {
    summary: 'Reverse-path filter: the source is not reachable back through the incoming interface',
    meaning:
      "With rp_filter on, the kernel checks that a reply to the packet's source would leave through the interface it came in on (strict, 1) or through any interface (loose, 2). Asymmetric routing, multi-homed hosts, policy routing, VPNs and containers make legitimate traffic fail this check.",
    checks: [
      'Check the setting: net.ipv4.conf.all.rp_filter and net.ipv4.conf.DEV.rp_filter (the larger of the two applies); loose mode (2) often fits multi-homed hosts.',
      'Ask the routing table what it would do: `ip route get SRC from DST iif DEV` and check `ip rule show`.',
      'Log the cases: net.ipv4.conf.DEV.log_martians=1, then `dmesg`.',
      'Compare with `nstat -az TcpExtIPReversePathFilter`.',
    ],
  },
  IP_INVALID_SOURCE: {
    summary: 'Martian source address (multicast, broadcast or 0.0.0.0) refused by routing',
    meaning:
      'The input route lookup rejected the packet because its source address cannot be a real sender: a multicast or limited broadcast address, or 0.0.0.0 outside the cases where that is allowed. Misconfigured devices or spoofed traffic.',
    checks: [
      'Enable martian logging (net.ipv4.conf.DEV.log_martians=1) and read `dmesg` for "martian source".',
      'Capture the sender: `tcpdump -e -n -i DEV src SRC` to find its MAC.',
    ],
  },
  IP_LOCAL_SOURCE: {
    summary: "The packet came from outside with one of this host's own addresses as source",
    meaning:
      'A packet arrived on an interface with a source address that is configured on this host. That is a loop, a duplicate address on the network, or spoofing; by default the kernel refuses it (accept_local=0).',
    checks: [
      'Look for duplicate addresses (`arping -D -I DEV ADDR`) and L2 loops; check `ip addr` on this host and its neighbours.',
      'Setups that need it (some load balancers, loopback tests) set net.ipv4.conf.DEV.accept_local=1.',
    ],
  },
  IP_LOCALNET: {
    summary: 'Loopback address (127.0.0.0/8) seen on a non-loopback interface',
    meaning:
      'A packet to or from 127.0.0.0/8 arrived on a real interface. The kernel refuses that unless route_localnet is enabled, which some DNAT setups (for example NAT to 127.0.0.1) need.',
    checks: [
      'If DNAT to 127.0.0.1 is intended, set net.ipv4.conf.DEV.route_localnet=1 (understand the security impact); otherwise find the sender with `tcpdump -e -i DEV net 127.0.0.0/8`.',
    ],
  },
  IP_INVALID_DEST: {
    summary: 'Destination address 0.0.0.0: not a valid destination',
    meaning: 'The input route lookup refused a packet whose destination address is zero. Some broken device or program is sending it.',
    checks: ['Find the sender: `tcpdump -e -n -i DEV dst host 0.0.0.0`.'],
  },
  IP_INADDRERRORS: {
    summary: 'Destination not valid for this host: not ours, host unreachable, or forwarding disabled',
    meaning:
      'The packet is not addressed to this host and the host would not deliver or forward it: forwarding is off on a host that receives traffic for other addresses, the route is of type unreachable/host-unreachable, an IPv6 packet to the unspecified address, or IPv6 multicast to a group nobody joined.',
    checks: [
      'Should this host forward? Check net.ipv4.ip_forward and net.ipv6.conf.all.forwarding (and per interface).',
      'Ask the routing table: `ip route get DST from SRC iif DEV`; look for unreachable/prohibit routes.',
      'Find why the traffic reaches this host (gateway or ARP/ND configuration of the sender).',
      'Compare with `nstat -az IpInAddrErrors Ip6InAddrErrors`.',
    ],
  },
  IP_INNOROUTES: {
    summary: 'No route to forward the received packet (network unreachable)',
    meaning:
      'This host forwards packets but has no route for this destination (no default route, or an explicit unreachable route), so it drops the packet and answers with ICMP network unreachable.',
    checks: [
      '`ip route get DST from SRC iif DEV` and `ip -6 route` / `ip route`; check the default route and `ip rule show` for policy routing.',
      'In VRF setups check the table of the ingress VRF (`ip vrf`, `ip route show vrf NAME`).',
      'Compare with `nstat -az IpExtInNoRoutes Ip6InNoRoutes`.',
    ],
  },
  IP_OUTNOROUTES: {
    summary: 'Route lookup for an outgoing or forwarded packet failed (no route)',
    meaning:
      'The routing table had no usable route for the destination when sending (or an IPv6 route pointed to a blackhole/unreachable entry). Missing default route, a network that went down, policy routing rules that select an empty table, or VRF membership.',
    checks: [
      '`ip route get DST` (add `from SRC`, `mark M` or `oif DEV` to match the sender), `ip route`, `ip -6 route`, `ip rule show`.',
      'Check interface and address state: `ip -br addr`, `ip -br link`.',
      'Compare with `nstat -az IpOutNoRoutes Ip6OutNoRoutes`.',
    ],
  },
  IPV6DISABLED: {
    summary: 'IPv6 is disabled on the interface (disable_ipv6), so IPv6 packets are discarded',
    meaning:
      'The interface has disable_ipv6 set (or has no IPv6 state), so IPv6 packets arriving on it or sent through it are thrown away. Common on hosts where IPv6 was switched off but peers or programs still use it.',
    checks: [
      'Check net.ipv6.conf.DEV.disable_ipv6, net.ipv6.conf.all.disable_ipv6 and the kernel command line (ipv6.disable).',
      'If IPv6 should stay off, stop programs from using it (resolver AAAA answers, listeners on ::).',
      'Compare with `nstat -az Ip6InDiscards Ip6OutDiscards`.',
    ],
  },
  IP_NOPROTO: {
    summary: "No handler for the packet's IP protocol number (module not loaded or unknown)",
    meaning:
      'The packet was for this host, but nothing handles its protocol (GRE, SCTP, L2TP, OSPF...): the module is not loaded and no raw socket listens for it. The kernel answers with ICMP protocol unreachable.',
    checks: [
      'Check the protocol dropwhy printed and whether its module is loaded (`lsmod`, `modprobe ip_gre` / `sctp` ...).',
      'A program that wants those packets needs a raw socket for that protocol: `ss -w -a -p`.',
      'Compare with `nstat -az IpInUnknownProtos Ip6InUnknownProtos`.',
    ],
  },
  XFRM_POLICY: {
    summary: 'An IPsec (xfrm) policy check failed: the packet lacks the protection a policy requires',
    meaning:
      'The xfrm policy database says this traffic must be protected by IPsec (or blocks it), and the packet did not match: clear-text traffic where a policy requires ESP, a missing or expired security association, or a mismatch between policy templates and the SA used.',
    checks: [
      'List policies and SAs: `ip xfrm policy`, `ip xfrm state`.',
      'Read the error counters: `cat /proc/net/xfrm_stat` (XfrmInNoPols, XfrmInTmplMismatch, XfrmInPolBlock, XfrmOutPolBlock...).',
      'Check the IKE daemon (strongSwan, libreswan) logs for failed or expired tunnels; interfaces may have net.ipv4.conf.DEV.disable_policy set.',
    ],
  },
  INVALID_PROTO: {
    summary: 'The packet breaks a protocol rule (e.g. ICMP echo/timestamp sent to broadcast)',
    meaning:
      'The packet is well formed but not acceptable by protocol rules, for example an ICMP echo or timestamp request to a broadcast address when such requests are ignored, or an IPv6 option naming a non-unicast address.',
    checks: ['Check net.ipv4.icmp_echo_ignore_broadcasts and who sends broadcast pings; capture with `tcpdump -vv -i DEV icmp`.'],
  },
  UNHANDLED_PROTO: {
    summary: 'Nobody handles this protocol or type (unknown ethertype, ICMP type, IP version)',
    meaning:
      'The packet was delivered to a layer that has no handler for it: an ethertype no module registered (LLDP, vendor protocols, IPv6 without the ipv6 module), an unknown ICMP type, or a header whose version field is not what the receiving protocol expects. Mostly harmless background noise.',
    checks: [
      "See which protocol it is from dropwhy's protocol column; `ip -s -s link show dev DEV` counts frames without a handler (nohandler / dropped).",
      'If the protocol should be handled, load its module or start the program that listens with a packet socket.',
    ],
  },
  PKT_TOO_SMALL: {
    summary: 'The packet is shorter than its headers say (truncated IP, UDP or TCP header)',
    meaning:
      'A length field says more data should be there than was received, or a header is shorter than its minimum: the IP total length exceeds the frame, a UDP length is too large or too small, a TCP data offset is too small. Truncation by a faulty device, MTU trouble in tunnels, or crafted packets.',
    checks: [
      'Capture the source: `tcpdump -vv -i DEV src SRC` shows truncated packets.',
      'Check tunnels and MTU along the path: `ip -d link show`, `tracepath DST`.',
      'Related counters: `nstat -az IpExtInTruncatedPkts UdpInErrors TcpInErrs`.',
    ],
    related: ['IpExt InTruncatedPkts'],
  },
  PKT_TOO_BIG: {
    summary: 'Larger than the MTU and not allowed to fragment (DF set or IPv6) while forwarding',
    meaning:
      'The packet does not fit the MTU of the next link and may not be fragmented (IPv4 with DF, or any IPv6 packet being forwarded), so the host drops it and sends ICMP "fragmentation needed" / "packet too big" back. If those ICMP messages are blocked on the way, the sender never learns and the connection stalls (PMTU black hole).',
    checks: [
      'Compare MTUs on both sides and along the path: `ip link show`, `ip route get DST` (shows a cached mtu), `tracepath DST`.',
      'Tunnels (WireGuard, VXLAN, IPsec) reduce the usable MTU; clamp TCP MSS on the router: `nft add rule inet filter forward tcp flags syn tcp option maxseg size set rt mtu`.',
      'Make sure ICMP "fragmentation needed" (v4 type 3 code 4) and ICMPv6 "packet too big" are allowed by firewalls.',
      'Compare with `nstat -az IpFragFails Ip6InTooBigErrors Ip6FragFails`.',
    ],
  },
  DUP_FRAG: {
    summary: 'A duplicate IP fragment arrived for a datagram being reassembled',
    meaning:
      'During reassembly a fragment arrived that covers data already received. The network duplicated it (link-layer retransmission, port mirroring back into the host, bonding misconfiguration) or a sender retransmitted a fragmented datagram.',
    checks: ["Capture fragments: `tcpdump -n -i DEV 'ip[6:2] & 0x3fff != 0'` and look for duplicates.", 'Related counters: `nstat -az IpReasmFails IpExtReasmOverlaps`.'],
    related: ['Ip ReasmFails', 'IpExt ReasmOverlaps'],
  },
  FRAG_REASM_TIMEOUT: {
    summary: 'Reassembly timed out: not all fragments of a datagram arrived in time',
    meaning:
      'The kernel kept the fragments it had for ipfrag_time (30 s by default) and never got the rest, so it discards them all. A lost fragment, a firewall or load balancer that drops or misroutes non-first fragments, or ECMP sending fragments different ways.',
    checks: [
      'Find who fragments: avoid fragmentation with correct MTUs (UDP applications, DNS with EDNS buffers, tunnels).',
      'Check firewalls on the path for rules that drop fragments, and net.ipv4.ipfrag_high_thresh / net.ipv6.ip6frag_high_thresh if memory runs out.',
      'Counters (per datagram, not per fragment): `nstat -az IpReasmTimeout IpReasmFails Ip6ReasmTimeout`.',
    ],
    related: ['Ip ReasmTimeout', 'Ip ReasmFails', 'Ip6 ReasmTimeout', 'Ip6 ReasmFails'],
  },
  FRAG_TOO_FAR: {
    summary: 'IPv4 reassembly gave up: too many other fragments from the sender came in between',
    meaning:
      "For each source the kernel tracks how many fragments arrived since a datagram's last fragment. Past net.ipv4.ipfrag_max_dist (64) it assumes the datagram is stale and drops what it holds. Heavy fragmented traffic from one host with reordering or loss (old NFS over UDP, large UDP messages) causes this.",
    checks: [
      'Raise net.ipv4.ipfrag_max_dist (0 disables the check) or, better, stop fragmenting (smaller UDP messages, TCP).',
      'Counters (per datagram): `nstat -az IpReasmFails`.',
    ],
    related: ['Ip ReasmFails'],
  },

  // --- checksums --------------------------------------------------------------
  UDP_CSUM: {
    summary: 'The UDP checksum was wrong (data corrupted or checksum offload trouble)',
    meaning:
      'The UDP checksum did not match. The packet was damaged on the way, or a device, virtual switch or tunnel mishandled checksum offload. With offload the check may happen late, when the application reads the datagram. Note that captures on a sender with tx offload show "incorrect" checksums that are fine on the wire.',
    checks: [
      'Check link errors: `ip -s link show dev DEV`, `ethtool -S DEV`.',
      'Check checksum offload on the devices involved: `ethtool -k DEV | grep checksum`; try `ethtool -K DEV rx off tx off` on veth/tap to test.',
      'Compare with `nstat -az UdpInCsumErrors Udp6InCsumErrors`.',
    ],
  },
  TCP_CSUM: {
    summary: 'The TCP checksum was wrong (data corrupted or checksum offload trouble)',
    meaning:
      'The TCP checksum did not match, so the segment is dropped and the sender will retransmit. Corruption on the link, a faulty NIC, or broken checksum offload in a virtual switch, tunnel or middlebox that rewrites packets.',
    checks: [
      'Check link errors: `ip -s link show dev DEV`, `ethtool -S DEV`.',
      'Check checksum offload: `ethtool -k DEV | grep checksum`; test with it disabled on virtual devices.',
      'Compare with `nstat -az TcpInCsumErrors TcpInErrs`.',
    ],
  },
  ICMP_CSUM: {
    summary: 'The ICMP checksum was wrong',
    meaning: 'An ICMP or ICMPv6 message failed its checksum: corruption on the way, or a middlebox that rewrote it (NAT of embedded headers) without fixing the checksum.',
    checks: ['Capture: `tcpdump -vv -i DEV icmp or icmp6` reports bad checksums.', 'Compare with `nstat -az IcmpInCsumErrors Icmp6InCsumErrors`.'],
  },

  // --- neighbours ---------------------------------------------------------------
  NEIGH_FAILED: {
    summary: "The next hop's MAC address could not be resolved (ARP/ND failed)",
    meaning:
      'To send the packet the kernel needs the link-layer address of the next hop, and ARP (IPv4) or neighbour discovery (IPv6) got no answer, so the neighbour entry is FAILED and queued packets are dropped. The gateway or target is down, on another VLAN, filtered, or the route points at a wrong next hop.',
    checks: [
      '`ip neigh show dev DEV` (FAILED/INCOMPLETE entries) and `ip route get DST` for the next hop used.',
      'Test resolution directly: `arping -I DEV NEXTHOP` or `ndisc6 NEXTHOP DEV`; check VLAN and cabling.',
      "Check the target's arp_ignore/arp_filter settings and firewalls dropping ARP (`nft list ruleset` with an arp family table).",
      'Per-table statistics: `lnstat -f arp_cache` (unresolved_discards).',
    ],
  },
  NEIGH_QUEUEFULL: {
    summary: 'Too many packets waiting for ARP/ND resolution of the next hop',
    meaning:
      'While a neighbour is being resolved, packets for it wait in a small per-neighbour queue (unres_qlen_bytes). A burst arrived before resolution finished, or resolution is slow or failing, and the excess was dropped.',
    checks: [
      'See why resolution is slow or failing: `ip neigh show dev DEV`, `arping -I DEV NEXTHOP`.',
      'Raise net.ipv4.neigh.DEV.unres_qlen_bytes (and net.ipv6.neigh.DEV.unres_qlen_bytes) if bursts are expected.',
      'Statistics: `lnstat -f arp_cache` (unresolved_discards).',
    ],
  },
  NEIGH_DEAD: {
    summary: 'The neighbour entry used for the packet was being removed',
    meaning:
      'The packet referred to a neighbour (ARP/ND) entry that was already marked dead: the interface went down, the entry was flushed, or the table was cleaned up while the packet was on its way.',
    checks: ['Correlate with link flaps and flushes: `ip monitor link neigh`, `journalctl -k`, scripts running `ip neigh flush`.'],
  },
  NEIGH_CREATEFAIL: {
    summary: 'Could not create an ARP/ND entry: neighbour table full (gc_thresh3) or no memory',
    meaning:
      'A new neighbour entry was needed and could not be created, mostly because the table reached net.ipv4.neigh.default.gc_thresh3 ("neighbour table overflow" in the kernel log). Large flat networks, many containers or scans of a local subnet fill it.',
    checks: [
      'Count entries and compare with the limits: `ip neigh | wc -l`, `ip -6 neigh | wc -l` vs net.ipv4.neigh.default.gc_thresh1/2/3 and net.ipv6.neigh.default.gc_thresh3.',
      '`dmesg | grep -i "neighbour table overflow"`; raise the thresholds on hosts with many neighbours.',
    ],
  },
  NEIGH_HH_FILLFAIL: {
    summary: 'Filling in the link-layer header from the neighbour entry failed',
    meaning:
      'The neighbour was resolved, but writing the link-layer header into the packet failed: not enough headroom or a device whose header routine refused. Rare; it points at the device type (tunnels, unusual drivers).',
    checks: ['Identify the device from `ip route get DST` and `ip -d link show dev DEV`; look for driver messages in `dmesg`.'],
  },

  // --- TCP ------------------------------------------------------------------
  TCP_FLAGS: {
    summary: 'TCP flags not acceptable in this state (e.g. SYN+FIN, missing ACK, ACK to a listener)',
    meaning:
      "The combination of TCP flags makes no sense for the socket's state: SYN with FIN, a segment without ACK on an established connection, or an ACK that reached a listening socket without a matching handshake (often a stale connection after a restart or a load balancer change). Scanners also send such packets.",
    checks: [
      "Capture the flow: `tcpdump -n -i DEV 'tcp and host SRC'` and look at the flags and which socket state it hits (`ss -tan`).",
      "Check for asymmetric routing or load balancers that send a connection's packets to another host.",
    ],
  },
  TCP_ABORT_ON_DATA: {
    summary: 'Data arrived after the application closed the connection, which is reset',
    meaning:
      'The local side already closed (or shut down reading) and new data still came in, so the kernel resets the connection and drops the data, as TCP requires. A protocol mismatch between peers (one side closes while the other still sends) or a client that pipelines after the server decided to close.',
    checks: [
      'Look at the application protocol: who closes first and whether the peer keeps sending (`tcpdump` of the connection).',
      'Compare with `nstat -az TcpExtTCPAbortOnData`.',
    ],
  },
  TCP_ZEROWINDOW: {
    summary: 'TCP data arrived while our receive window was zero (receiver not reading)',
    meaning:
      'This side advertised a zero window because the application did not read and the receive buffer filled up; the peer still sent data (a window probe or a segment already in flight), which was dropped. The real problem is the slow reader.',
    checks: [
      "Check the receiver: `ss -tmi` (Recv-Q, rcv_space, skmem) and the application's CPU and blocking.",
      'Raise receive buffers if the application is fast but the buffer small: net.ipv4.tcp_rmem, SO_RCVBUF.',
      'Compare with `nstat -az TcpExtTCPZeroWindowDrop`.',
    ],
  },
  TCP_OLD_DATA: {
    summary: 'Retransmitted TCP data that was already received (duplicate segment)',
    meaning:
      'The whole segment lies before what this side has already received, so it is a retransmission of data we have; the kernel drops it and answers with a (D)SACK. Usually our ACKs were lost or delayed, or the peer retransmitted too early (spurious retransmission).',
    checks: [
      'A small rate is normal. Many mean ACK loss on the return path: check drops and errors there (`ip -s link`, qdisc drops).',
      'Compare with `nstat -az TcpExtDelayedACKLost TcpExtTCPDSACKOldSent`.',
    ],
  },
  TCP_OVERWINDOW: {
    summary: 'TCP data beyond the right edge of the receive window',
    meaning:
      'The segment starts beyond the window this side advertised. The peer ignored the window, or the window shrank (the kernel may reduce it under memory pressure) while data was in flight; it also covers out-of-window segments during the handshake.',
    checks: [
      'Capture both directions and compare the segment sequence numbers with the advertised windows.',
      'Check memory pressure on TCP: `cat /proc/net/sockstat`, net.ipv4.tcp_mem, net.ipv4.tcp_rmem.',
      'Middleboxes that rewrite sequence numbers or window scaling can cause it.',
    ],
  },
  TCP_OFOMERGE: {
    summary: 'Out-of-order TCP data that was already in the out-of-order queue (duplicate)',
    meaning:
      'The segment arrived out of order and everything in it is already held in the out-of-order queue, so it is a duplicate, typically a retransmission after loss or reordering.',
    checks: ['Usually harmless; many of them mean loss and retransmissions on the path: `ss -ti` (retrans), `nstat -az TcpExtTCPOFOMerge TcpRetransSegs`.'],
  },
  TCP_RFC7323_PAWS: {
    summary: 'TCP timestamp older than the last one seen (PAWS check failed)',
    meaning:
      'Protection against wrapped sequence numbers (PAWS) drops segments whose TCP timestamp is older than the most recent one on this connection. Besides old duplicates, the classic cause is several clients behind one NAT with unrelated timestamp clocks sharing a 4-tuple, or a peer whose timestamp jumped backwards.',
    checks: [
      'Check for NAT in front of the clients and for hosts whose timestamp clock resets (VM migration, restarts) while connections persist.',
      'net.ipv4.tcp_timestamps controls whether timestamps are used at all (disabling has costs).',
      'Compare with `nstat -az TcpExtPAWSEstab TcpExtPAWSActive`.',
    ],
  },
  TCP_RFC7323_PAWS_ACK: {
    summary: 'Pure TCP ACK with an old timestamp (PAWS); usually reordered ACKs, harmless',
    meaning: 'An ACK without data failed the timestamp (PAWS) check. Reordered ACKs are common, so the kernel just drops them quietly without answering.',
    checks: ['Usually harmless; persistent high rates point at heavy reordering on the path. Compare with `nstat -az TcpExtPAWSOldAck`.'],
  },
  TCP_RFC7323_TW_PAWS: {
    summary: 'Segment for a TIME_WAIT connection with an old TCP timestamp (PAWS)',
    meaning:
      'A segment hit a connection in TIME_WAIT and its timestamp is older than the last one seen. Clients behind NAT reusing the same address and port with different timestamp clocks, or late duplicates of the old connection.',
    checks: [
      'Check clients behind NAT and connection churn: `ss -tan state time-wait | wc -l`.',
      'On clients, net.ipv4.tcp_tw_reuse governs reuse of TIME_WAIT ports for outgoing connections.',
      'Compare with `nstat -az TcpExtPAWSTimewait`.',
    ],
  },
  TCP_RFC7323_TSECR: {
    summary: 'Handshake ACK echoed a TCP timestamp we never sent (invalid TSecr)',
    meaning:
      'During the handshake the final ACK must echo the timestamp this side sent in its SYN-ACK. It did not, so the ACK cannot belong to this handshake: a stale or spoofed segment, or a middlebox rewriting timestamps.',
    checks: [
      "Capture the handshake (`tcpdump -n -v -i DEV 'tcp port PORT'`) and compare TSval/TSecr; look for middleboxes altering TCP options.",
      'Compare with `nstat -az TcpExtTSEcrRejected`.',
    ],
  },
  TCP_LISTEN_OVERFLOW: {
    summary: "The listening socket's accept queue was full: the application accepts too slowly",
    meaning:
      "A client completed the handshake, but the listener's accept queue was already at its backlog, so the kernel could not create the connection and dropped the final ACK (the client will retry; with tcp_abort_on_overflow it gets a RST instead). The application does not call accept() fast enough or its backlog is too small. SYNs refused at a full queue are counted by the same counters but freed without a drop reason, so the counters can be higher than the traced drops.",
    checks: [
      'Look at the listener: `ss -lnt` (Recv-Q = connections waiting to be accepted, Send-Q = backlog).',
      'Raise the backlog: the listen() argument, capped by net.core.somaxconn; net.ipv4.tcp_max_syn_backlog for half-open connections.',
      "Make the accept loop faster (more workers, SO_REUSEPORT listeners); check the application's CPU.",
      'Compare with `nstat -az TcpExtListenOverflows TcpExtListenDrops`.',
    ],
  },
  TCP_OLD_SEQUENCE: {
    summary: 'TCP segment entirely before the receive window (old duplicate)',
    meaning:
      "The segment's data ends before the left edge of the receive window: it is an old duplicate, typically a retransmission of data already acknowledged because our ACKs were lost or late. The kernel drops it and sends a duplicate ACK.",
    checks: ['A low rate is normal. Many point at ACK loss on the return path (`ip -s link`, qdisc drops on that side) or spurious retransmissions on the peer.'],
  },
  TCP_INVALID_SEQUENCE: {
    summary: 'TCP segment starts beyond the acceptable receive window',
    meaning:
      'The sequence number is outside the receive window, so the segment cannot belong to the current data stream: the peer lost track of the connection, a middlebox rewrote sequence numbers, a connection was reused after a restart, or someone injects packets.',
    checks: [
      'Capture the connection and compare sequence numbers with our ACKs and windows.',
      'Look for NAT or load balancers that map two connections onto the same 4-tuple.',
      'Compare with `nstat -az TcpExtBeyondWindow`.',
    ],
  },
  TCP_INVALID_END_SEQUENCE: {
    summary: 'TCP segment ends beyond the receive window',
    meaning:
      'The segment starts inside the window but ends past its right edge, and this side has data queued already, so it does not accept the excess. The peer sends more than the advertised window, or the window shrank while data was in flight.',
    checks: [
      'Capture both directions and compare segment ends with the advertised windows; check middleboxes that change window scaling.',
      'Compare with `nstat -az TcpExtBeyondWindow`.',
    ],
  },
  TCP_INVALID_ACK_SEQUENCE: {
    summary: 'TCP ACK number outside what we sent (not between oldest unacked and next to send)',
    meaning:
      'The acknowledgment number does not fall between the oldest unacknowledged byte and the next byte to send, so it cannot acknowledge anything real. Mostly seen in handshakes: a SYN-ACK that answers an earlier connection attempt on the same ports (the connection gets a RST), or a handshake ACK that does not match; also stale or spoofed packets and middleboxes that rewrite sequence numbers.',
    checks: [
      "Capture the handshake with absolute sequence numbers (`tcpdump -n -S -i DEV 'tcp port PORT'`) and compare the ACK with the ISN we sent.",
      'Check for quick port reuse by the client (many short connections from one source port range) and sequence-rewriting middleboxes.',
    ],
  },
  TCP_RESET: {
    summary: 'A TCP RST was not accepted (failed the sequence check or arrived in a state that ignores it)',
    meaning:
      'Resets are only honored if their sequence number matches exactly what is expected (RFC 5961); an in-window but inexact RST gets a challenge ACK, others are dropped. Late resets from a previous connection, resets from middleboxes with wrong numbers, or blind reset attacks.',
    checks: ["Capture the RST and compare its sequence number with the connection's receive point; `nstat -az TcpExtTCPChallengeACK` shows challenge ACKs sent."],
  },
  TCP_INVALID_SYN: {
    summary: 'Unexpected SYN on an existing connection (answered with a challenge ACK)',
    meaning:
      'A SYN arrived for a connection that already exists. The kernel does not reset the connection (RFC 5961) but answers with a challenge ACK and drops the SYN. A peer that restarted and reuses the same ports, NAT reusing a mapping, or spoofed SYNs.',
    checks: ['Check whether the peer restarted or a NAT reassigned the port; `ss -tan` shows the existing connection.', 'Compare with `nstat -az TcpExtTCPSYNChallenge`.'],
  },
  TCP_CLOSE: {
    summary: 'Segment for a TCP socket that is already in CLOSE state',
    meaning: 'The segment found a socket that is closed (being torn down, or never connected). Late packets of a finished connection.',
    checks: ['Usually harmless; many of them point at connections torn down while the peer still sends (application close behaviour).'],
  },
  TCP_FASTOPEN: {
    summary: 'Dropped by a TCP Fast Open request socket (segment not valid during the TFO handshake)',
    meaning:
      'With TCP Fast Open the server accepts data before the handshake completes. A later segment of that handshake failed validation by the Fast Open request socket and was dropped.',
    checks: ['Check Fast Open use: net.ipv4.tcp_fastopen and `nstat -az | grep -i fastopen`; capture the handshake to see which segment fails.'],
  },
  TCP_OLD_ACK: {
    summary: 'TCP ACK older than what was already acknowledged (but still plausible)',
    meaning: 'The ACK acknowledges less than a previous ACK did; it is stale, most likely reordered on the path. It carries nothing new.',
    checks: ['Usually harmless; frequent ones point at reordering on the path (multipath links, bonding, ECMP changes).'],
  },
  TCP_TOO_OLD_ACK: {
    summary: 'TCP ACK far older than the send window (answered with a challenge ACK)',
    meaning:
      'The ACK is older than the oldest unacknowledged data by more than the maximum window, which is not possible for a genuine peer (RFC 5961 data injection protection). Stale packets after a long delay, or injected packets.',
    checks: ['Capture the connection and compare ACK numbers; look for middleboxes mixing connections.', 'Challenge ACKs: `nstat -az TcpExtTCPChallengeACK`.'],
  },
  TCP_ACK_UNSENT_DATA: {
    summary: 'TCP ACK for data this side has not sent yet',
    meaning:
      'The peer acknowledges bytes beyond what was sent. A middlebox that rewrites sequence numbers (proxies, some firewalls, NAT with sequence randomization), two connections mixed up on one 4-tuple, or an injection attempt.',
    checks: ['Capture with absolute sequence numbers (`tcpdump -n -S`) on both sides of any middlebox and compare.'],
  },
  TCP_OFO_QUEUE_PRUNE: {
    summary: 'Out-of-order TCP data was discarded to free memory (receive buffer too small)',
    meaning:
      'The socket ran short of receive memory while holding out-of-order data (waiting for a lost segment), so the kernel pruned the out-of-order queue; the peer will have to send that data again. Loss or reordering combined with a buffer that is small for the bandwidth-delay product.',
    checks: [
      'Raise receive buffers: net.ipv4.tcp_rmem (max), or SO_RCVBUF if the application sets it (it disables autotuning).',
      'Look for the loss or reordering that fills the out-of-order queue: `ss -ti`, retransmission counters.',
      'Counters (per prune pass, not per packet): `nstat -az TcpExtOfoPruned TcpExtPruneCalled TcpExtRcvPruned`.',
    ],
    related: ['TcpExt OfoPruned', 'TcpExt PruneCalled', 'TcpExt RcvPruned'],
  },
  TCP_OFO_DROP: {
    summary: 'Out-of-order TCP data already received in order meanwhile (duplicate)',
    meaning:
      'When the gap before some out-of-order data is filled, the kernel moves that data to the receive queue; pieces that were meanwhile received in order are duplicates and freed. Harmless; a side effect of retransmissions.',
    checks: ['Nothing to fix by itself; many of them follow loss and retransmissions on the path (`ss -ti`).'],
  },
  TCP_MINTTL: {
    summary: "TTL/hop limit below the socket's minimum (IP_MINTTL / IPV6_MINHOPCOUNT, e.g. BGP GTSM)",
    meaning:
      'The socket requires a minimum TTL (IP_MINTTL or IPV6_MINHOPCOUNT), usually to accept only directly connected peers (the TTL security mechanism used by BGP). The packet arrived with a lower TTL: the peer is more hops away than expected, or the packet is spoofed.',
    checks: [
      "Check the routing daemon's TTL security setting (e.g. ttl-security hops in FRR/BIRD) and the real hop count (`traceroute PEER`).",
      'Compare with `nstat -az TcpExtTCPMinTTLDrop`.',
    ],
  },
  TCP_AUTH_HDR: {
    summary: 'Malformed TCP authentication option (MD5 or TCP-AO present twice or both present)',
    meaning:
      'The TCP options carry MD5 signature or TCP-AO options in an invalid way: duplicated, wrong length, or both kinds at once. A misbehaving peer or a middlebox that mangles options.',
    checks: ["Capture the handshake with `tcpdump -vv` to see the options; check the peer's TCP-MD5/TCP-AO configuration."],
  },
  TCP_MD5NOTFOUND: {
    summary: 'TCP MD5 signature expected from this peer but missing',
    meaning:
      "This side has a TCP-MD5 key for the peer's address (TCP_MD5SIG, as used by BGP), but the segment came without an MD5 option. The peer is not configured with the password, or it connects from another address.",
    checks: ['Compare the MD5/password configuration on both routers and the source address used by the peer.', 'Compare with `nstat -az TcpExtTCPMD5NotFound`.'],
  },
  TCP_MD5UNEXPECTED: {
    summary: 'TCP segment carries an MD5 signature but no key is set for this peer',
    meaning: 'The peer signs its segments with TCP-MD5, but this side has no key configured for that address.',
    checks: [
      'Configure the same password for this neighbour (or remove it on the peer); check the peer address the key is set for.',
      'Compare with `nstat -az TcpExtTCPMD5Unexpected`.',
    ],
  },
  TCP_MD5FAILURE: {
    summary: 'TCP MD5 signature did not verify (wrong password or packet changed on the way)',
    meaning:
      'The segment has an MD5 signature that does not match the configured key: different passwords on the two ends, or a middlebox (NAT, MSS clamping) changed the packet after it was signed.',
    checks: ['Compare the passwords on both ends; check for NAT or option rewriting between the peers.', 'Compare with `nstat -az TcpExtTCPMD5Failure`.'],
  },
  TCP_AONOTFOUND: {
    summary: 'TCP-AO signature required for this peer but missing',
    meaning: 'TCP Authentication Option is required for this peer (a key exists or AO is mandatory on the socket), but the segment is unsigned.',
    checks: ['Compare TCP-AO configuration on both ends (keys, peer addresses, VRF).', 'Compare with `nstat -az TcpExtTCPAORequired`.'],
  },
  TCP_AOUNEXPECTED: {
    summary: 'TCP segment is signed with TCP-AO but this socket has no TCP-AO configured',
    meaning: 'The peer uses TCP Authentication Option, but this socket has no TCP-AO keys at all.',
    checks: ['Configure the matching TCP-AO keys on this side or disable AO on the peer.', 'Compare with `nstat -az TcpExtTCPAOKeyNotFound`.'],
  },
  TCP_AOKEYNOTFOUND: {
    summary: 'TCP-AO key id in the segment is unknown to this socket',
    meaning: 'The segment is signed with a TCP-AO key id that this side does not have, often during key rotation when one side added or removed a key the other did not.',
    checks: ['Compare key ids (send/receive ids) configured on both ends and the rotation state.', 'Compare with `nstat -az TcpExtTCPAOKeyNotFound`.'],
  },
  TCP_AOFAILURE: {
    summary: 'TCP-AO signature did not verify (wrong key or packet changed on the way)',
    meaning: 'The TCP-AO MAC does not match: different key material on the two ends, a wrong MAC length, or a middlebox that modified the segment after signing.',
    checks: ['Compare keys and algorithms on both ends; check for middleboxes rewriting TCP.', 'Compare with `nstat -az TcpExtTCPAOBad`.'],
  },

  // --- IPv6 specifics -------------------------------------------------------
  IPV6_BAD_EXTHDR: {
    summary: 'Malformed or refused IPv6 extension header',
    meaning:
      'An IPv6 extension header (hop-by-hop, routing, destination options, fragment) was malformed, too long, had too many options, or is not allowed (for example a type 0 routing header). Broken senders, tunnels, or crafted packets.',
    checks: [
      'Capture with `tcpdump -vv -i DEV ip6` to see the header chain.',
      'Limits are set by net.ipv6.max_hbh_opts_number, net.ipv6.max_dst_opts_number and related sysctls.',
    ],
  },
  IPV6_NDISC_FRAG: {
    summary: 'Fragmented IPv6 neighbour discovery message ignored',
    meaning: 'Neighbour discovery messages must not be fragmented (RFC 6980); with suppress_frag_ndisc on (the default) the kernel drops fragmented ones.',
    checks: ['Find the sender of the fragmented ND messages; the setting is net.ipv6.conf.DEV.suppress_frag_ndisc.'],
  },
  IPV6_NDISC_HOP_LIMIT: {
    summary: 'IPv6 neighbour discovery message with hop limit other than 255 (not from the local link)',
    meaning: 'Neighbour discovery messages must be sent with hop limit 255 so that they can only come from the local link. This one was forwarded by a router or crafted.',
    checks: ['Find the sender (`tcpdump -vv -i DEV icmp6`); check for devices that route or relay ND messages.'],
  },
  IPV6_NDISC_BAD_CODE: {
    summary: 'IPv6 neighbour discovery message with a non-zero ICMPv6 code',
    meaning: 'ND messages must have ICMPv6 code 0; this one did not. A broken or malicious sender.',
    checks: ['Find the sender with `tcpdump -vv -i DEV icmp6`.'],
  },
  IPV6_NDISC_BAD_OPTIONS: {
    summary: 'IPv6 neighbour discovery message with invalid options',
    meaning: 'The options of an ND message (router/neighbour solicitation or advertisement, redirect) were malformed, for example a zero length.',
    checks: ['Find the sender with `tcpdump -vv -i DEV icmp6`; check for buggy routers or devices.'],
  },
  IPV6_NDISC_NS_OTHERHOST: {
    summary: 'IPv6 neighbour solicitation for an address that is not ours (normal on shared links)',
    meaning:
      'A neighbour solicitation asked for an address this host does not have. Solicitations go to multicast groups that several hosts may share, so this is normal background traffic unless the host should own that address.',
    checks: ['If the address should be ours, check `ip -6 addr` (tentative/dadfailed) and proxy_ndp settings; otherwise ignore.'],
  },

  // --- tunnels and L2 -------------------------------------------------------
  VXLAN_INVALID_HDR: {
    summary: 'Invalid VXLAN header (flags or reserved bits), e.g. a peer using GBP/GPE or not VXLAN',
    meaning:
      'A packet arrived on the VXLAN UDP port with a header this device does not accept: the VNI flag missing, reserved bits set, or extensions (GBP, GPE) the device is not configured for. Mismatched configuration between endpoints, or other traffic on that port.',
    checks: ['Compare VXLAN options on both endpoints: `ip -d link show type vxlan` (dstport, gbp, gpe).', 'Capture: `tcpdump -vv -i DEV udp port 4789` (or 8472).'],
  },
  VXLAN_VNI_NOT_FOUND: {
    summary: "No VXLAN device for the packet's VNI on this UDP port",
    meaning: 'The VXLAN packet carried a VNI that no local VXLAN device (or VNI filter entry) serves. Endpoints disagree on VNIs or on the UDP port.',
    checks: ['List local VXLAN devices and VNIs: `ip -d link show type vxlan`, `bridge vni show`; compare with the peer and the dstport (4789 vs 8472).'],
  },
  VXLAN_ENTRY_EXISTS: {
    summary: 'VXLAN learning tried to move a static or nexthop forwarding entry',
    meaning:
      "A packet's source MAC would move an FDB entry that is static or points to a nexthop group, which learning must not change. The same MAC appears behind another endpoint: a duplicate MAC or a loop.",
    checks: ['Show the entries: `bridge fdb show dev VXLANDEV`; look for the MAC behind two endpoints, or disable learning if an EVPN control plane manages the FDB.'],
  },
  MAC_INVALID_SOURCE: {
    summary: 'Invalid source MAC address (multicast or all-zero)',
    meaning: "The frame's source MAC is not a valid unicast address, which no real sender uses. A broken device or crafted frame.",
    checks: ['Find the frame with `tcpdump -e -n -i DEV` and track the sender by port or VLAN.'],
  },
  NO_TX_TARGET: {
    summary: 'No destination to send to (e.g. VXLAN with no FDB entry or default remote)',
    meaning:
      'The device has nowhere to send the packet: a VXLAN device without an FDB entry for the destination MAC and without a default remote or flood list, or a similar virtual device with no target.',
    checks: [
      "Show the forwarding entries: `bridge fdb show dev DEV` (the 00:00:00:00:00:00 flood entries) and the device's remote: `ip -d link show dev DEV`; check the EVPN/control-plane daemon.",
    ],
  },
  IP_TUNNEL_ECN: {
    summary: 'Tunnel decapsulation: outer header marked congestion (CE) but inner packet is not ECN-capable',
    meaning:
      'RFC 6040 says a decapsulated packet must be dropped when the outer header carries a congestion mark and the inner packet does not support ECN, because the mark cannot be passed on. A router on the tunnel path marks CE on traffic whose inner flows are not ECN-capable (or an encapsulator copies ECN bits wrongly).',
    checks: [
      'Check how the encapsulating endpoint sets the outer ECN field and which router marks CE; `ip -s link show dev TUNDEV` counts the errors.',
      'Most tunnel modules take a log_ecn_error parameter to log these cases.',
    ],
  },
  TUNNEL_TXINFO: {
    summary: 'Tunnel device in external (metadata) mode got a packet without tunnel metadata',
    meaning:
      'A tunnel device in "external"/collect_md mode needs each packet to carry its tunnel parameters (set by tc tunnel_key, a BPF program or Open vSwitch). This packet had none, for example because it was routed to the device directly.',
    checks: ['`ip -d link show dev TUNDEV` shows "external"; check the tc/BPF/OVS rules that should set the tunnel key and routes that send traffic to the device directly.'],
  },
  LOCAL_MAC: {
    summary: "Frame arrived with this device's own MAC as source (loop or duplicate MAC)",
    meaning:
      "A frame came in whose source MAC is the receiving device's own address: it looped back (bridging loop, reflective port) or another device uses the same MAC (cloned VMs).",
    checks: ['Look for L2 loops and STP state (`bridge link show`), and for duplicate MACs on the segment (cloned VMs, containers).'],
  },
  ARP_PVLAN_DISABLE: {
    summary: 'Proxy ARP refused: the target is reached back through the same interface (proxy_arp_pvlan off)',
    meaning:
      'While handling an ARP request with proxy ARP, the route to the requested address leads back out of the interface the request came in on. The kernel proxies in that case only with proxy_arp_pvlan (private VLAN setups where hosts on one port may not talk directly); otherwise it drops the request. Usually harmless, since hosts on the same segment answer for themselves.',
    checks: [
      'Check net.ipv4.conf.DEV.proxy_arp and net.ipv4.conf.DEV.proxy_arp_pvlan against the intended design; `ip route get TARGET` shows the route the proxy decision used.',
    ],
  },
  MAC_IEEE_MAC_CONTROL: {
    summary: 'Frame to an IEEE MAC Control address (e.g. pause frames), not forwarded by the bridge',
    meaning: 'The destination is a reserved IEEE MAC Control address (01:80:C2:00:00:01, used for Ethernet flow control). Bridges must not forward these; harmless.',
    checks: ['Flow control pause frames come from a congested peer: `ethtool -a DEV`, `ethtool -S DEV | grep -i pause`.'],
  },
  BRIDGE_INGRESS_STP_STATE: {
    summary: 'Bridge port is not forwarding (STP blocking/listening/learning/disabled)',
    meaning:
      'The frame came in on a bridge port whose spanning-tree state does not forward traffic: blocking (STP found a loop), listening or learning (forward delay after link up), or disabled.',
    checks: ['Show port states: `bridge link show`, `ip -d link show dev BRIDGE` (stp_state, forward_delay); wait out the forward delay or fix the loop.'],
  },
  CAN_RX_INVALID_FRAME: {
    summary: 'Received CAN frame is malformed, or the device cannot receive classic CAN frames',
    meaning: 'The CAN stack got a frame whose length or flags do not fit a classic CAN frame, or the device is not set up for CAN.',
    checks: ['Check the device: `ip -d link show dev CANDEV` (MTU 16 = CAN, 72 = CAN FD, 2060 = CAN XL) and the bus configuration (bitrate); watch with `candump CANDEV`.'],
  },
  CANFD_RX_INVALID_FRAME: {
    summary: 'Received CAN FD frame is malformed, or the device is not set up for CAN FD',
    meaning: 'A CAN FD frame had an invalid length or flags, or arrived on a device that does not accept CAN FD.',
    checks: ['Check `ip -d link show dev CANDEV` (fd on, MTU 72) and data bitrate settings; watch with `candump CANDEV`.'],
  },
  CANXL_RX_INVALID_FRAME: {
    summary: 'Received CAN XL frame is malformed, or the device is not set up for CAN XL',
    meaning: 'A CAN XL frame had an invalid length or flags, or arrived on a device that does not accept CAN XL.',
    checks: ['Check `ip -d link show dev CANDEV` (MTU 2060 for CAN XL) and the controller configuration.'],
  },
  PSP_INPUT: {
    summary: 'PSP (encryption offload) checks failed on receive: unprotected or wrongly keyed packet',
    meaning:
      "The socket requires PSP (the PSP Security Protocol, encryption offloaded to the NIC), and the received packet did not pass: it was not decrypted by the device, or its security association does not match the socket's.",
    checks: ['Check the PSP state of the device and the socket (netlink psp family, e.g. with ynl) and key rotation on both ends.', LOCATION_CHECK],
  },
  PSP_OUTPUT: {
    summary: 'PSP (encryption offload) checks failed on transmit',
    meaning: 'A packet of a PSP-protected socket could not be sent with PSP: the device or association state does not match what the socket requires.',
    checks: ['Check the PSP state of the device (netlink psp family) and that the egress device supports the association.', LOCATION_CHECK],
  },
  RECURSION_LIMIT: {
    summary: 'Transmit recursion too deep: a virtual device loops back into itself',
    meaning:
      'Stacked virtual devices (tunnels, VLANs, bonds) hand a packet down one to another; the kernel stops at a small depth to avoid an endless loop. Usually a tunnel whose route to its remote endpoint goes through the tunnel itself ("Dead loop on virtual device" in the kernel log).',
    checks: [
      'Check `ip route get REMOTE` for each tunnel endpoint: it must not go through the tunnel.',
      'Look for "Dead loop" or "recursion" messages in `dmesg` and review stacked devices with `ip -d link`.',
    ],
  },
};

/**
 * Reasons about a socket's own buffer, and what to change at that socket: the end of the advice
 * the summary prints under a socket that dropped (socketAdvice in advice.ts).
 */
export const SOCKET_FIXES: Readonly<Record<string, string>> = {
  SOCKET_RCVBUFF: 'raise it with SO_RCVBUF (capped by net.core.rmem_max) or net.core.rmem_default, or read faster',
  SOCKET_BACKLOG: 'raise it with SO_RCVBUF or net.ipv4.tcp_rmem, or hold the socket for less time in each call',
  TCP_ZEROWINDOW: 'the reader left no window: read faster, or raise SO_RCVBUF or net.ipv4.tcp_rmem',
  PROTO_MEM: "the protocol's memory (net.ipv4.udp_mem, net.ipv4.tcp_mem) ran out, not only this buffer: see /proc/net/sockstat",
};
