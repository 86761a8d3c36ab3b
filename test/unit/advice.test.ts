import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { ADVICE, explain, linkedCounters, socketAdvice } from '../../src/knowledge/advice';

const FIXTURE = path.resolve(__dirname, '../../../test/fixtures/kernel-reasons.json');
const { reasons } = JSON.parse(readFileSync(FIXTURE, 'utf8')) as { reasons: Array<[string, number]> };
const MARKERS = new Set(['MAX', 'SUBSYS_MASK']);
const KERNEL_NAMES = reasons.map(([full]) => (full.startsWith('SKB_DROP_REASON_') ? full.slice('SKB_DROP_REASON_'.length) : full)).filter((name) => !MARKERS.has(name));

const REQUIRED = [
  // sockets
  'NO_SOCKET',
  'SOCKET_FILTER',
  'SOCKET_RCVBUFF',
  'SOCKET_CLOSE',
  'SOCKET_BACKLOG',
  'PROTO_MEM',
  'PACKET_SOCK_ERROR',
  'UNIX_DISCONNECT',
  'UNIX_SKIP_OOB',
  'SECURITY_HOOK',
  // netfilter, BPF
  'NETFILTER_DROP',
  'BPF_CGROUP_EGRESS',
  'XDP',
  // routing and IP
  'IP_INADDRERRORS',
  'IP_INNOROUTES',
  'IP_RPFILTER',
  'IP_OUTNOROUTES',
  'IPV6DISABLED',
  'XFRM_POLICY',
  'IP_NOPROTO',
  'IP_INHDR',
  'IP_LOCAL_SOURCE',
  'IP_INVALID_SOURCE',
  'IP_LOCALNET',
  'IP_INVALID_DEST',
  'OTHERHOST',
  'UNHANDLED_PROTO',
  'PKT_TOO_SMALL',
  'PKT_TOO_BIG',
  'DUP_FRAG',
  'FRAG_REASM_TIMEOUT',
  'FRAG_TOO_FAR',
  'TCP_MINTTL',
  'IPV6_BAD_EXTHDR',
  // neighbours
  'NEIGH_FAILED',
  'NEIGH_QUEUEFULL',
  'NEIGH_DEAD',
  'NEIGH_CREATEFAIL',
  'NEIGH_HH_FILLFAIL',
  // qdisc and tc
  'QDISC_DROP',
  'QDISC_OVERLIMIT',
  'QDISC_CONGESTED',
  'CAKE_FLOOD',
  'FQ_BAND_LIMIT',
  'FQ_HORIZON_LIMIT',
  'FQ_FLOW_LIMIT',
  'DUALPI2_STEP_DROP',
  'TC_INGRESS',
  'TC_EGRESS',
  'TC_COOKIE_ERROR',
  'TC_CHAIN_NOTFOUND',
  'TC_RECLASSIFY_LOOP',
  // checksums
  'UDP_CSUM',
  'TCP_CSUM',
  'ICMP_CSUM',
  'IP_CSUM',
  'SKB_CSUM',
  // devices and the rest
  'NOT_SPECIFIED',
  'QUEUE_PURGE',
  'FULL_RING',
  'DEV_READY',
  'DEV_HDR',
  'CPU_BACKLOG',
  'NOMEM',
  'TAP_FILTER',
  'TAP_TXFILTER',
];

test('at least 45 hand-written entries, covering the required families', () => {
  assert.ok(Object.keys(ADVICE).length >= 45, `only ${Object.keys(ADVICE).length} entries`);
  const tcpNames = KERNEL_NAMES.filter((n) => n.startsWith('TCP_'));
  assert.ok(tcpNames.length > 20, 'the fixture has many TCP_ reasons');
  for (const name of [...REQUIRED, ...tcpNames]) {
    if (!KERNEL_NAMES.includes(name)) continue; // only names this kernel has
    assert.ok(ADVICE[name], `${name} has no hand-written advice`);
    assert.equal(explain(name).handWritten, true, name);
  }
  for (const family of ['SOCKET_', 'NEIGH_', 'QDISC_', 'TC_', 'TCP_MD5', 'TCP_AO', 'TAP_']) {
    for (const name of KERNEL_NAMES.filter((n) => n.startsWith(family))) assert.ok(ADVICE[name], `${name} (${family}*)`);
  }
});

test('every reason of the kernel fixture gets a usable explanation', () => {
  assert.ok(KERNEL_NAMES.length > 100);
  for (const name of KERNEL_NAMES) {
    const { name: bare, advice } = explain(name);
    assert.equal(bare, name);
    assert.ok(advice.summary.trim().length > 0, `${name}: summary`);
    assert.ok(advice.summary.length <= 100, `${name}: summary has ${advice.summary.length} chars`);
    assert.ok(advice.meaning.trim().length > 0, `${name}: meaning`);
    assert.ok(advice.checks.length > 0 && advice.checks.every((c) => c.trim().length > 0), `${name}: checks`);
  }
});

test('ADVICE keys are real reason names of the kernel fixture, with sane text', () => {
  for (const [name, advice] of Object.entries(ADVICE)) {
    assert.ok(KERNEL_NAMES.includes(name), `${name} is not a reason of this kernel (typo?)`);
    assert.ok(advice.summary.length > 0 && advice.summary.length <= 100, `${name}: summary length ${advice.summary.length}`);
    assert.ok(!advice.summary.includes('\n'), `${name}: summary is one line`);
    assert.ok(advice.meaning.length >= 40, `${name}: meaning too short`);
    assert.ok(advice.checks.length >= 1, `${name}: no checks`);
    for (const counter of advice.counters) {
      assert.match(
        counter,
        /^((Ip|IpExt|Ip6|Icmp|Icmp6|Tcp|TcpExt|Udp|Udp6|MPTcpExt) [A-Za-z0-9]+|(softnet|arp_cache|ndisc_cache|conntrack) [a-z_]+|(dev|qdisc) DEV .+)$/,
        `${name}: ${counter}`,
      );
    }
  }
});

test('SOCKET_RCVBUFF explains the receive buffer and how to grow it', () => {
  const { name, handWritten, advice } = explain('SOCKET_RCVBUFF');
  assert.equal(name, 'SOCKET_RCVBUFF');
  assert.equal(handWritten, true);
  const checks = advice.checks.join('\n');
  assert.match(checks, /SO_RCVBUF/);
  assert.match(checks, /net\.core\.rmem_max/);
  assert.deepEqual(advice.counters, ['Udp RcvbufErrors', 'Udp InErrors', 'Udp6 RcvbufErrors', 'Udp6 InErrors']);
});

test('a few entries point at the right tools', () => {
  assert.match(explain('TCP_LISTEN_OVERFLOW').advice.checks.join('\n'), /ss -lnt/);
  assert.match(explain('TCP_LISTEN_OVERFLOW').advice.checks.join('\n'), /net\.core\.somaxconn/);
  assert.match(explain('IP_RPFILTER').advice.checks.join('\n'), /net\.ipv4\.conf\.[a-z*A-Z]+\.rp_filter/);
  assert.match(explain('IP_OUTNOROUTES').advice.checks.join('\n'), /ip route get/);
  assert.match(explain('NEIGH_FAILED').advice.checks.join('\n'), /ip neigh/);
  assert.match(explain('QDISC_DROP').advice.checks.join('\n'), /tc -s qdisc/);
  assert.match(explain('NETFILTER_DROP').advice.checks.join('\n'), /nft list ruleset/);
  assert.match(explain('CPU_BACKLOG').advice.checks.join('\n'), /netdev_max_backlog/);
  assert.match(explain('PKT_TOO_BIG').advice.checks.join('\n'), /MTU|mtu/);
  // Issue 25: conntrack's drops are NETFILTER_DROPs too (compared only when they moved).
  assert.deepEqual(explain('NETFILTER_DROP').advice.counters, ['conntrack drop', 'conntrack insert_failed']);
});

test('an unknown name gets a generic entry that says so', () => {
  const { name, handWritten, advice } = explain('SOMETHING_NEW');
  assert.equal(name, 'SOMETHING_NEW');
  assert.equal(handWritten, false);
  assert.match(advice.meaning, /no specific advice/);
  assert.match(advice.meaning + advice.checks.join('\n'), /dropreason-core\.h/);
  assert.match(advice.checks.join('\n'), /SKB_DROP_REASON_SOMETHING_NEW/);
  assert.match(advice.checks.join('\n'), /location dropwhy printed/);
  assert.deepEqual(advice.counters, []);
  assert.ok(advice.summary.length <= 100);
});

test('generic entries derive what they can from the name prefix', () => {
  const tcp = explain('TCP_SOMETHING_NEW');
  assert.equal(tcp.handWritten, false);
  assert.match(tcp.advice.meaning, /TCP/);
  assert.match(explain('QDISC_BRAND_NEW').advice.checks.join('\n'), /tc -s qdisc/);
  assert.match(explain('NEIGH_BRAND_NEW').advice.checks.join('\n'), /ip neigh/);
  assert.match(explain('IPV6_BRAND_NEW').advice.meaning, /IPv6/);
  assert.match(explain('IP_TTL_EXCEEDED').advice.meaning, /IP \(network layer\)/);
  assert.match(explain('IP_TTL_EXCEEDED').advice.checks.join('\n'), /traceroute/);
  assert.match(explain('PKT_TOO_WEIRD').advice.meaning, /size/);
  assert.match(explain('TC_NEW_THING').advice.checks.join('\n'), /tc -s filter/);
  assert.match(explain('SKB_BAD_GSO').advice.meaning, /skb/);
  assert.match(explain('OVS_SOMETHING').advice.meaning, /Open vSwitch/);
  assert.match(explain('GRE_CSUM').advice.checks.join('\n'), /checksum offload/);
  const long = explain('A_VERY_LONG_REASON_NAME_THAT_SOME_FUTURE_KERNEL_MIGHT_INVENT_FOR_SOME_REASON_OR_OTHER_X');
  assert.ok(long.advice.summary.length <= 100);
});

test("UNKNOWN_<n>: the number is not in this kernel's enum", () => {
  const { name, handWritten, advice } = explain('UNKNOWN_200');
  assert.equal(name, 'UNKNOWN_200');
  assert.equal(handWritten, false);
  assert.match(advice.summary, /200/);
  assert.match(advice.meaning, /200/);
  assert.match(advice.meaning, /no name for it/);
  assert.match(advice.checks.join('\n'), /BTF|btf/);
});

test('subsystem reasons get a subsystem-level explanation', () => {
  const ovs = explain('OPENVSWITCH:0x5');
  assert.equal(ovs.name, 'OPENVSWITCH:0x5');
  assert.equal(ovs.handWritten, false);
  assert.match(ovs.advice.summary, /Open vSwitch/);
  assert.match(ovs.advice.meaning, /METER/);
  assert.match(ovs.advice.checks.join('\n'), /ovs-/);
  assert.ok(ovs.advice.summary.length <= 100);

  const wifi = explain('MAC80211_UNUSABLE:0x12');
  assert.match(wifi.advice.summary, /mac80211/);
  assert.match(wifi.advice.meaning, /0x12/);

  const other = explain('SUBSYS_9:0x1');
  assert.equal(other.handWritten, false);
  assert.match(other.advice.meaning, /SUBSYS_9/);
  assert.ok(other.advice.checks.length > 0);

  assert.equal(explain('openvswitch:0x0005').name, 'OPENVSWITCH:0x5');
  assert.match(explain('OPENVSWITCH:0x7f').advice.meaning, /not one dropwhy knows/);
});

test('names are case-insensitive and may carry the SKB_DROP_REASON_ prefix', () => {
  for (const spelling of ['socket_rcvbuff', 'SKB_DROP_REASON_SOCKET_RCVBUFF', 'skb_drop_reason_socket_rcvbuff', '  Socket_RcvBuff ']) {
    const e = explain(spelling);
    assert.equal(e.name, 'SOCKET_RCVBUFF', spelling);
    assert.equal(e.handWritten, true, spelling);
    assert.deepEqual(e.advice, ADVICE.SOCKET_RCVBUFF);
  }
  assert.equal(explain('SKB_CSUM').name, 'SKB_CSUM', 'SKB_ names keep their own prefix');
  assert.equal(explain('skb_drop_reason_skb_csum').name, 'SKB_CSUM');
  assert.equal(explain('SKB_NOT_DROPPED_YET').handWritten, true);
  assert.deepEqual(linkedCounters('skb_drop_reason_no_socket', 'UDP', 4), ['Udp NoPorts']);
});

test('explain() hands out copies: callers cannot change the knowledge base', () => {
  const first = explain('NO_SOCKET');
  first.advice.checks.push('changed');
  first.advice.counters.push('Udp Changed');
  assert.ok(!explain('NO_SOCKET').advice.checks.includes('changed'));
  assert.ok(!explain('NO_SOCKET').advice.counters.includes('Udp Changed'));
});

test('linkedCounters: UDP counters per family', () => {
  assert.deepEqual(linkedCounters('SOCKET_RCVBUFF', 'udp', 4), ['Udp RcvbufErrors', 'Udp InErrors']);
  assert.deepEqual(linkedCounters('SOCKET_RCVBUFF', 'udp', 6), ['Udp6 RcvbufErrors', 'Udp6 InErrors']);
  assert.deepEqual(linkedCounters('NO_SOCKET', 'udp', 4), ['Udp NoPorts']);
  assert.deepEqual(linkedCounters('NO_SOCKET', 'udp', 6), ['Udp6 NoPorts']);
  assert.deepEqual(linkedCounters('UDP_CSUM', 'udp', 4), ['Udp InCsumErrors', 'Udp InErrors']);
  assert.deepEqual(linkedCounters('UDP_CSUM', 'udp', 6), ['Udp6 InCsumErrors', 'Udp6 InErrors']);
  assert.deepEqual(linkedCounters('PROTO_MEM', 'udp', 4), ['Udp MemErrors', 'Udp InErrors']);
  assert.deepEqual(linkedCounters('SOCKET_FILTER', 'udp', 6), ['Udp6 InErrors']);
  assert.deepEqual(linkedCounters('SOCKET_RCVBUFF', 'udp', null), [], 'family unknown: no guess');
  assert.deepEqual(linkedCounters('SOCKET_RCVBUFF', null, 4), [], 'protocol unknown: no guess');
});

test('linkedCounters: TCP, ICMP and IP', () => {
  assert.deepEqual(linkedCounters('NO_SOCKET', 'tcp', 4), [], 'TCP has no one-to-one counter for NO_SOCKET');
  assert.deepEqual(linkedCounters('TCP_LISTEN_OVERFLOW', 'tcp', 4), ['TcpExt ListenOverflows', 'TcpExt ListenDrops']);
  assert.deepEqual(linkedCounters('TCP_LISTEN_OVERFLOW', 'tcp', 6), ['TcpExt ListenOverflows', 'TcpExt ListenDrops']);
  assert.deepEqual(linkedCounters('TCP_CSUM', 'tcp', 6), ['Tcp InCsumErrors', 'Tcp InErrs']);
  assert.deepEqual(linkedCounters('TCP_ZEROWINDOW', null, null), ['TcpExt TCPZeroWindowDrop']);
  assert.deepEqual(linkedCounters('SOCKET_BACKLOG', 'tcp', 4), ['TcpExt TCPBacklogDrop']);
  assert.deepEqual(linkedCounters('SOCKET_BACKLOG', null, 4), []);
  assert.deepEqual(linkedCounters('ICMP_CSUM', 'icmp', 4), ['Icmp InCsumErrors', 'Icmp InErrors']);
  assert.deepEqual(linkedCounters('ICMP_CSUM', 'icmp6', 6), ['Icmp6 InCsumErrors', 'Icmp6 InErrors']);
  assert.deepEqual(linkedCounters('IP_INADDRERRORS', 'udp', 4), ['Ip InAddrErrors']);
  assert.deepEqual(linkedCounters('IP_INNOROUTES', 'tcp', 4), ['IpExt InNoRoutes']);
  assert.deepEqual(linkedCounters('IP_INNOROUTES', 'tcp', 6), ['Ip6 InNoRoutes']);
  assert.deepEqual(linkedCounters('IP_RPFILTER', 'udp', 4), ['TcpExt IPReversePathFilter']);
  assert.deepEqual(linkedCounters('IP_RPFILTER', 'udp', 6), []);
  assert.deepEqual(linkedCounters('IP_NOPROTO', 'ip-proto-253', 4), ['Ip InUnknownProtos']);
});

test('linkedCounters: reasons without a one-to-one counter, and unknown names', () => {
  // QDISC_DROP's counter is the device's (DEVICE_COUNTER_RULES), not a MIB's.
  for (const reason of ['QDISC_DROP', 'NEIGH_FAILED', 'TCP_OFO_DROP', 'TCP_OFO_QUEUE_PRUNE', 'NOT_SPECIFIED']) {
    for (const proto of ['udp', 'tcp', 'icmp', 'icmp6', null]) {
      for (const family of [4, 6, null] as const) assert.deepEqual(linkedCounters(reason, proto, family), [], `${reason}/${proto}/${family}`);
    }
  }
  assert.deepEqual(linkedCounters('SOMETHING_NEW', 'udp', 4), []);
  assert.deepEqual(linkedCounters('OPENVSWITCH:0x5', 'udp', 4), []);
  assert.deepEqual(linkedCounters('UNKNOWN_200', 'tcp', 4), []);
});

test("every linked counter is also listed in the reason's advice", () => {
  for (const name of KERNEL_NAMES) {
    const listed = new Set(explain(name).advice.counters);
    for (const proto of ['udp', 'tcp', 'icmp', 'icmp6', 'gre', null]) {
      for (const family of [4, 6, null] as const) {
        for (const counter of linkedCounters(name, proto, family)) assert.ok(listed.has(counter), `${name}: ${counter} not listed`);
      }
    }
  }
});

test('socketAdvice: a reason about the socket buffer names the socket, its buffer and the fix; other reasons have none', () => {
  const at = { where: 'dnsmasq[812] on 10.94.0.2:53', rcvbuf: 212992, queued: 213760 };
  const rcvbuf = socketAdvice('SOCKET_RCVBUFF', at);
  assert.match(rcvbuf ?? '', /^dnsmasq\[812\] on 10\.94\.0\.2:53: rcvbuf 212992, queued 213760; raise it with SO_RCVBUF .*net\.core\.rmem_max/);
  assert.equal(socketAdvice('skb_drop_reason_socket_rcvbuff', at), rcvbuf, 'the name as explain takes it');
  for (const reason of ['SOCKET_BACKLOG', 'TCP_ZEROWINDOW', 'PROTO_MEM']) {
    assert.ok(socketAdvice(reason, at)?.startsWith(`${at.where}: rcvbuf 212992, queued 213760; `), reason);
  }
  for (const reason of ['NO_SOCKET', 'NETFILTER_DROP', 'QUEUE_PURGE', 'UNKNOWN_500']) assert.equal(socketAdvice(reason, at), null, reason);
});
