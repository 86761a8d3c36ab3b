// Advice for a reason name without a hand-written entry, derived from the
// name alone: a subsystem's code ("OPENVSWITCH:0x5"), a number this kernel's
// enum has no name for ("UNKNOWN_200"), or the words of a name newer than
// dropwhy's entries. explain() in advice.ts picks which; these say what can be
// said and where to read more. Each table here fills a sentence of the
// function beside it.
import { NFT_CHECKS, QDISC_CHECK, SUMMARY_MAX, type ReasonAdvice } from './advice-entries';

/** A summary cut to one hint line. */
function clamp(text: string): string {
  return text.length <= SUMMARY_MAX ? text : `${text.slice(0, SUMMARY_MAX - 1)}…`;
}

// --- generic advice from the name -------------------------------------------

interface Area {
  test: (name: string) => boolean;
  what: string; // "a TCP receive-path drop"
  detail: string; // a sentence on where such drops come from
  checks: string[];
}

const AREAS: Area[] = [
  {
    test: (n) => n.startsWith('TCP_MD5') || n.startsWith('TCP_AO') || n === 'TCP_AUTH_HDR',
    what: 'a TCP authentication (MD5/TCP-AO) drop',
    detail: 'Reasons starting with TCP_MD5 or TCP_AO come from the checks of TCP segment signatures used mostly between BGP routers.',
    checks: ['Compare TCP-MD5/TCP-AO keys on both ends: `nstat -az | grep -i -E "TCPMD5|TCPAO"`.'],
  },
  {
    test: (n) => n.startsWith('TCP_RFC7323'),
    what: 'a TCP timestamp (PAWS) drop',
    detail: 'Reasons starting with TCP_RFC7323 come from the TCP timestamp checks (PAWS) that reject segments with timestamps older than expected.',
    checks: ['Look at the PAWS counters: `nstat -az | grep -i paws`; check NAT in front of the clients.'],
  },
  {
    test: (n) => n.startsWith('TCP_'),
    what: 'a TCP drop',
    detail: 'Reasons starting with TCP_ come from the TCP receive path (segment validation, sequence and window checks, connection state).',
    checks: [
      'Look at the connection: `ss -tni` and `nstat -az | grep -i -E "^Tcp"` for counters that move with the drops.',
      "Capture the flow with `tcpdump -n -S -i DEV 'tcp and host ADDR'`.",
    ],
  },
  {
    test: (n) => n.startsWith('UDP_'),
    what: 'a UDP drop',
    detail: 'Reasons starting with UDP_ come from the UDP receive path.',
    checks: ['Look at UDP counters: `nstat -az | grep -i udp` and sockets with `ss -uamp`.'],
  },
  {
    test: (n) => n.startsWith('ICMP'),
    what: 'an ICMP drop',
    detail: 'Reasons starting with ICMP come from the ICMP/ICMPv6 receive path.',
    checks: ['Look at ICMP counters: `nstat -az | grep -i icmp`; capture with `tcpdump -vv -i DEV icmp or icmp6`.'],
  },
  {
    test: (n) => n.startsWith('IPV6_NDISC'),
    what: 'an IPv6 neighbour discovery drop',
    detail: 'Reasons starting with IPV6_NDISC come from the validation of neighbour discovery messages (ICMPv6 types 133-137).',
    checks: ["Capture ND traffic: `tcpdump -vv -i DEV 'icmp6 and ip6[40] >= 133 and ip6[40] <= 137'`."],
  },
  {
    test: (n) => n.startsWith('IPV6'),
    what: 'an IPv6 drop',
    detail: 'Reasons starting with IPV6 come from the IPv6 input or output path.',
    checks: ["Look at IPv6 counters: `nstat -az | grep -i ip6`; check `ip -6 route` and the interface's IPv6 sysctls (`sysctl net.ipv6.conf.DEV`)."],
  },
  {
    test: (n) => n.startsWith('IP_'),
    what: 'an IP (network layer) drop',
    detail: 'Reasons starting with IP_ come from the IPv4/IPv6 receive, routing or forwarding path.',
    checks: [
      'Ask the routing table: `ip route get DST from SRC iif DEV` and `ip rule show`.',
      'Look at IP counters: `nstat -az | grep -i -E "^Ip"`; check net.ipv4.conf.DEV.* sysctls (rp_filter, accept_local, forwarding).',
    ],
  },
  {
    test: (n) => n.startsWith('PKT_TOO_'),
    what: 'a packet size drop',
    detail: 'Reasons starting with PKT_TOO_ come from length checks: the packet is shorter than its headers claim, or larger than what the next step accepts (MTU).',
    checks: ['Check MTUs along the path: `ip link show`, `ip route get DST`, `tracepath DST`; capture to see the real lengths.'],
  },
  {
    test: (n) => n.startsWith('NEIGH_'),
    what: 'a neighbour (ARP/ND) drop',
    detail: 'Reasons starting with NEIGH_ come from link-layer address resolution (ARP for IPv4, neighbour discovery for IPv6) on transmit.',
    checks: ['`ip neigh show dev DEV`, `ip route get DST` for the next hop, and `lnstat -f arp_cache`.'],
  },
  {
    test: (n) => n.startsWith('QDISC_') || n.startsWith('FQ_') || n.startsWith('CAKE_') || n.startsWith('DUALPI2_'),
    what: 'a queueing discipline (qdisc) drop',
    detail: 'Reasons like this come from a transmit queueing discipline that refused or discarded the packet.',
    checks: [QDISC_CHECK],
  },
  {
    test: (n) => n.startsWith('TC_'),
    what: 'a tc (traffic control) hook drop',
    detail: 'Reasons starting with TC_ come from tc classifiers and actions on the ingress or egress hooks.',
    checks: ['`tc -s filter show dev DEV ingress` / `egress`, `tc -s qdisc show dev DEV`, and `bpftool net show` for BPF programs.'],
  },
  {
    test: (n) => n.startsWith('SKB_'),
    what: 'a packet buffer (skb) handling drop',
    detail: 'Reasons starting with SKB_ come from generic socket-buffer helpers (checksums, segmentation, copies) rather than a protocol decision.',
    checks: ['Check offload settings on the devices involved: `ethtool -k DEV`.'],
  },
  {
    test: (n) => n.startsWith('OVS_') || n.startsWith('OPENVSWITCH'),
    what: 'an Open vSwitch datapath drop',
    detail: 'Reasons like this come from the Open vSwitch kernel datapath.',
    checks: ['`ovs-appctl dpctl/dump-flows`, `ovs-ofctl dump-flows BRIDGE` and `ovs-appctl ofproto/trace` for the flow.'],
  },
  {
    test: (n) => n.startsWith('SOCKET_') || n.startsWith('SOCK_'),
    what: 'a socket-level drop',
    detail: 'Reasons starting with SOCKET_ come from queuing the packet to its socket.',
    checks: ['Look at the socket: `ss -tuamp` (skmem, Recv-Q) and the application reading it.'],
  },
  {
    test: (n) => n.startsWith('UNIX_'),
    what: 'an AF_UNIX socket drop (local IPC, not network traffic)',
    detail: 'Reasons starting with UNIX_ come from UNIX domain sockets between local processes.',
    checks: ['`ss -xp` shows the processes on both ends.'],
  },
  {
    test: (n) => n.includes('NETFILTER') || n.startsWith('NF_'),
    what: 'a netfilter drop',
    detail: 'Reasons like this come from netfilter hooks (nftables/iptables, conntrack).',
    checks: [...NFT_CHECKS],
  },
  {
    test: (n) => n.startsWith('XFRM') || n.startsWith('PSP_') || n.startsWith('ESP'),
    what: 'an IPsec/encryption drop',
    detail: 'Reasons like this come from IPsec (xfrm) or transport encryption checks.',
    checks: ['`ip xfrm policy`, `ip xfrm state` and `cat /proc/net/xfrm_stat`.'],
  },
  {
    test: (n) => /^(VXLAN|GRE|GENEVE|TNL|TUNNEL|IP_TUNNEL)/.test(n),
    what: 'a tunnel drop',
    detail: 'Reasons like this come from tunnel devices (VXLAN, GRE, Geneve...) on encapsulation or decapsulation.',
    checks: ['Compare tunnel settings on both endpoints: `ip -d link show dev TUNDEV`, and check `ip route get REMOTE`.'],
  },
  {
    test: (n) => /^(BRIDGE|MAC_|ARP_|LOCAL_MAC)/.test(n),
    what: 'a link-layer (bridge/MAC/ARP) drop',
    detail: 'Reasons like this come from Ethernet-level processing: bridging, MAC address checks or ARP.',
    checks: ['`bridge link show`, `bridge fdb show`, and `tcpdump -e -n -i DEV` to see MAC addresses.'],
  },
  {
    test: (n) => n.startsWith('TAP_') || n.startsWith('TUN_') || n.startsWith('DEV_') || n.includes('RING'),
    what: 'a device or driver drop',
    detail: 'Reasons like this come from a network device driver or virtual device (tun/tap, veth).',
    checks: ['`ip -s link show dev DEV`, `ethtool -S DEV`, and the process owning a tun/tap device.'],
  },
  {
    test: (n) => n.includes('FRAG'),
    what: 'an IP fragmentation/reassembly drop',
    detail: 'Reasons like this come from IP fragment reassembly.',
    checks: ['`nstat -az | grep -i reasm`; avoid fragmentation by fixing MTUs.'],
  },
  {
    test: (n) => n.includes('BACKLOG') || n.includes('MACVLAN') || n.includes('IPVLAN'),
    what: 'a queue (backlog) drop',
    detail: 'Reasons like this come from an internal queue that was full.',
    checks: ['`/proc/net/softnet_stat` (per-CPU drops) and net.core.netdev_max_backlog.'],
  },
  {
    test: (n) => n.startsWith('CAN'),
    what: 'a CAN bus drop',
    detail: 'Reasons starting with CAN come from the CAN bus protocol family.',
    checks: ['`ip -d link show dev CANDEV` and `candump CANDEV`.'],
  },
  {
    test: (n) => n.startsWith('BPF_') || n.startsWith('XDP'),
    what: 'a BPF program drop',
    detail: 'Reasons like this come from a BPF program attached to a hook.',
    checks: ['`bpftool prog show`, `bpftool net show`, `bpftool cgroup tree`.'],
  },
];

function hints(name: string): string[] {
  const extra: string[] = [];
  if (name.includes('CSUM')) extra.push('Checksum trouble: check link errors (`ethtool -S DEV`) and checksum offload (`ethtool -k DEV`).');
  if (name.includes('TTL') || name.includes('HOP_LIMIT')) extra.push('TTL/hop limit: look for routing loops (`traceroute DST`) and senders with low TTLs.');
  if (name.includes('MEM')) extra.push('Memory: check `free -m`, `/proc/net/sockstat` and the protocol memory sysctls (net.ipv4.tcp_mem, net.ipv4.udp_mem).');
  if (name.includes('ROUTE')) extra.push('Routing: `ip route get DST` and `ip rule show`.');
  return extra;
}

function whereToLook(name: string): string[] {
  return [
    `Read the comment for SKB_DROP_REASON_${name} in include/net/dropreason-core.h of the kernel you run (uname -r).`,
    `Find where it is used: \`grep -rn -E "SKB_DROP_REASON_${name}\\b|SKB_DR_(SET|OR)\\([a-z_]+, ${name}\\)" net/ drivers/net/\` in a kernel source tree.`,
    'Open the kernel function at the drop location dropwhy printed; it is the exact place that made the decision.',
  ];
}

export function genericAdvice(name: string): ReasonAdvice {
  const area = AREAS.find((a) => a.test(name));
  const meaning =
    `dropwhy has no specific advice for ${name}: it is not in dropwhy's knowledge base, probably because it is newer than this version of dropwhy. ` +
    (area
      ? `Judging only from its name it is ${area.what}. ${area.detail} `
      : 'Its name does not match a family dropwhy knows, so nothing can be said about it from the name alone. ') +
    `The authoritative description is the comment for SKB_DROP_REASON_${name} in the kernel's include/net/dropreason-core.h, and the function at the drop location dropwhy printed shows the exact condition.`;
  return {
    summary: clamp(`No specific advice for ${name}${area ? ` (${area.what})` : ''}; see dropreason-core.h`),
    meaning,
    counters: [],
    checks: [...(area?.checks ?? []), ...hints(name), ...whereToLook(name)],
  };
}

// --- numbers that are not in this kernel's enum -----------------------------

export function unknownNumberAdvice(value: number): ReasonAdvice {
  return {
    summary: clamp(`Reason number ${value} is not in this kernel's enum skb_drop_reason`),
    meaning:
      `The kernel freed the packet with reason number ${value}, but the enum skb_drop_reason that dropwhy read from the kernel's BTF has no name for it, so dropwhy has no specific advice. ` +
      'Either the BTF does not describe the running kernel (a stale or separately supplied vmlinux BTF), or code outside the core enum (an out-of-tree module or a vendor patch) passed its own value. ' +
      'The drop location dropwhy printed shows which function used it.',
    counters: [],
    checks: [
      'Check that the BTF matches the running kernel: `uname -r`, `ls -l /sys/kernel/btf/vmlinux`.',
      `List the names the kernel knows: \`bpftool btf dump file /sys/kernel/btf/vmlinux format c | grep -A200 "enum skb_drop_reason {"\` and look for value ${value}.`,
      'Open the kernel function at the drop location dropwhy printed; out-of-tree modules show their module name in the location.',
    ],
  };
}

// --- subsystem reasons ("OPENVSWITCH:0x5") ----------------------------------

// net/openvswitch/drop.h: codes count from 1 after the subsystem base.
const OVS_CODES = [
  'LAST_ACTION (no action left: the flow ended without an output)',
  'ACTION_ERROR (an action failed)',
  'EXPLICIT (an explicit drop action in the flow)',
  'EXPLICIT_WITH_ERROR (explicit drop carrying an error from flow translation)',
  "METER (a meter's rate was exceeded)",
  'RECURSION_LIMIT (recirculation/recursion too deep)',
  'DEFERRED_LIMIT (too many deferred actions)',
  'FRAG_L2_TOO_LONG (fragmentation failed: L2 header too long)',
  'FRAG_INVALID_PROTO (fragmentation of a non-IP packet)',
  'CONNTRACK (connection tracking refused the packet)',
  'IP_TTL (TTL expired in a dec_ttl action)',
];

interface Subsystem {
  what: string;
  meaning: (code: number) => string;
  checks: string[];
}

const SUBSYSTEMS: Readonly<Record<string, Subsystem>> = {
  OPENVSWITCH: {
    what: 'Open vSwitch datapath drop',
    meaning: (code) => {
      const known = OVS_CODES[code - 1];
      return (
        'The Open vSwitch kernel datapath dropped the packet and tagged the drop with its own reason list (net/openvswitch/drop.h), not the core enum. ' +
        (known
          ? `In current kernels code 0x${code.toString(16)} is OVS_DROP_${known}. `
          : `Code 0x${code.toString(16)} is not one dropwhy knows; check net/openvswitch/drop.h of your kernel (codes count from 1). `) +
        "The list can change between kernel versions, so confirm it against your kernel's source."
      );
    },
    checks: [
      'Show the datapath flows and their actions: `ovs-appctl dpctl/dump-flows -m`, and the OpenFlow rules: `ovs-ofctl dump-flows BRIDGE`.',
      'Trace a packet through the pipeline: `ovs-appctl ofproto/trace BRIDGE in_port=PORT,...`.',
      'For meter drops: `ovs-ofctl -O OpenFlow13 meter-stats BRIDGE`; for conntrack: `ovs-appctl dpctl/dump-conntrack`.',
      'Drop statistics per reason: `ovs-appctl coverage/show | grep -i drop`.',
    ],
  },
  MAC80211_UNUSABLE: {
    what: 'Wi-Fi (mac80211) frame not usable',
    meaning: (code) =>
      'The Wi-Fi stack (mac80211) received a frame it could not use and tagged the drop with its own reason list (net/mac80211/drop.h): typical causes are decryption or MIC failures, replayed or duplicate frames, unprotected management frames where protection is required, malformed A-MSDUs, or frames from stations that are not associated. ' +
      `Code 0x${code.toString(16)} is the position in the "unusable" list of that header for your kernel version (0x0 is the generic entry); the list changes between kernel versions.`,
    checks: [
      'Look at the station and link: `iw dev WLAN station dump`, `iw dev WLAN link`, and events with `iw event -t`.',
      'Check wpa_supplicant/hostapd logs for key or association trouble, and `dmesg` for driver messages.',
      'Match the code against net/mac80211/drop.h of the running kernel version.',
    ],
  },
  MAC80211_MONITOR: {
    what: 'Wi-Fi (mac80211) frame dropped but still shown to monitor interfaces',
    meaning: (code) =>
      'mac80211 dropped the frame from normal processing but still delivered it to monitor interfaces; its own reason list is in net/mac80211/drop.h. ' +
      `Code 0x${code.toString(16)} is the position in the "monitor" list of that header for your kernel version.`,
    checks: ['`iw dev WLAN station dump`, wpa_supplicant/hostapd logs, `dmesg`; match the code against net/mac80211/drop.h of your kernel.'],
  },
  VXLAN: {
    what: 'VXLAN driver drop',
    meaning: (code) =>
      `The VXLAN driver dropped the packet with its own reason list (drivers/net/vxlan/drop.h in the kernels that have it); code 0x${code.toString(16)} is the position in that list.`,
    checks: ['`ip -d link show type vxlan`, `bridge fdb show dev VXLANDEV`; match the code against drivers/net/vxlan/drop.h of your kernel.'],
  },
};

export function subsystemAdvice(name: string): ReasonAdvice {
  const [subsystem, hex] = name.split(':');
  const code = parseInt(hex, 16);
  const known = SUBSYSTEMS[subsystem];
  if (known) {
    return {
      summary: clamp(`${known.what} (subsystem ${subsystem}, code 0x${code.toString(16)})`),
      meaning: known.meaning(code),
      counters: [],
      checks: [...known.checks, 'Open the kernel function at the drop location dropwhy printed.'],
    };
  }
  return {
    summary: clamp(`Drop reason from subsystem ${subsystem}, code 0x${code.toString(16)}; no specific advice`),
    meaning:
      `The reason's upper 16 bits name a drop-reason subsystem (${subsystem}) instead of the core enum, so a subsystem with its own reason list (enum skb_drop_reason_subsys in include/net/dropreason.h) freed the packet. ` +
      "dropwhy has no specific advice for it; its reason list lives in that subsystem's source (a drop.h next to its code), where the code is the position in the list.",
    counters: [],
    checks: [
      'Find the subsystem in enum skb_drop_reason_subsys (include/net/dropreason.h) of your kernel and read its drop.h.',
      'Open the kernel function at the drop location dropwhy printed.',
    ],
  };
}
