// The ledger's counter sources, each parser on files and tool output recorded on Linux 6.18
// (test/fixtures/ledger/: a veth pair with tbf + pfifo that dropped a UDP burst, a tap, a listener
// with a full accept queue), and the snapshot script's sections put together.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseSnapshot, readCounters, snapshotScript, splitSections } from '../../src/kernel/counters';
import { isGlobalCounter } from '../../src/knowledge/counter-links';
import { parseEthtoolRings, parseEthtoolStats } from '../../src/kernel/ethtool-stats';
import { parseLinkStats } from '../../src/kernel/link-stats';
import { parseQdiscStats, qdiscCounter } from '../../src/kernel/qdisc-stats';
import { parseListeners, parseSockstat } from '../../src/kernel/sockets-stat';
import { parseSoftnetStat } from '../../src/kernel/softnet';
import { parseStatTable } from '../../src/kernel/stat-tables';
import { parseSysctls, sysctlPath } from '../../src/kernel/sysctls';
import { FIXTURES } from './fixtures';

const recorded = (name: string) => readFileSync(resolve(FIXTURES, 'ledger', name), 'utf8');

test('ip -s -s -d -j link: every stats64 error and drop counter per device, and the device kinds', () => {
  const counters = new Map<string, number>();
  const devices = parseLinkStats(recorded('ip-link-stats.json'), counters);
  assert.deepEqual(
    devices.map((d) => [d.name, d.kind]),
    [
      ['lo', null],
      ['v1', 'veth'],
      ['v0', 'veth'],
      ['tap0', 'tun'],
    ],
  );
  assert.equal(devices.find((d) => d.name === 'tap0')?.txqlen, 1000);
  assert.equal(devices.find((d) => d.name === 'lo')?.mtu, 65536);
  for (const field of ['rx_dropped', 'rx_missed_errors', 'rx_fifo_errors', 'rx_over_errors', 'rx_crc_errors', 'tx_dropped', 'tx_aborted_errors']) {
    assert.ok(counters.has(`dev v0 ${field}`), field);
  }
  assert.equal(counters.has('dev v0 rx_bytes'), false, 'traffic is not trouble');
  assert.equal(counters.has('dev v0 rx_packets'), false);
  assert.throws(() => parseLinkStats('Device "x" does not exist.', new Map()));
});

test('tc -s -j qdisc: drops per qdisc, the root marked; noqueue left out', () => {
  const counters = new Map<string, number>();
  const qdiscs = parseQdiscStats(recorded('tc-qdisc.json'), counters);
  assert.deepEqual(
    qdiscs.map((q) => [q.dev, q.handle, q.kind, q.root, q.limit, q.drops]),
    [
      ['v0', '1:', 'tbf', true, null, 33],
      ['v0', '10:', 'pfifo', false, '5', 33],
    ],
  );
  assert.equal(counters.get(qdiscCounter(qdiscs[0])), 33);
  assert.equal(qdiscCounter(qdiscs[1]), 'qdisc v0 10: pfifo drops');
  assert.equal([...counters.keys()].filter((k) => k.includes('noqueue')).length, 0);
});

test('softnet_stat on 6.18: the CPU number from its column, the sums', () => {
  const counters = parseSoftnetStat(recorded('softnet_stat-6.18'), new Map());
  assert.equal(counters.get('softnet processed'), 0x0bdf645f + 0x000a4663);
  assert.equal(counters.get('softnet time_squeeze'), 0xd + 0x5);
  assert.equal(counters.get('softnet dropped'), 0);
  assert.ok(counters.has('softnet cpu0 dropped'));
  assert.ok(counters.has('softnet cpu1 dropped'), 'the second line names CPU 1 in its 13th column');
});

test('softnet_stat before 5.10: 11 columns, no CPU number: the line stands for it', () => {
  // The layout of net/core/net-procfs.c before 5.10: processed, dropped, time_squeeze, five zeros, cpu_collision, received_rps, flow_limit_count.
  const old =
    '00000100 00000003 00000001 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000002\n00000200 00000004 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000\n';
  const counters = parseSoftnetStat(old, new Map());
  assert.equal(counters.get('softnet dropped'), 7);
  assert.equal(counters.get('softnet cpu0 dropped'), 3);
  assert.equal(counters.get('softnet cpu1 dropped'), 4);
  assert.equal(counters.get('softnet flow_limit'), 2);
});

test('/proc/net/stat tables: columns summed over CPUs, entries (a gauge) left out', () => {
  const arp = parseStatTable(recorded('arp_cache-6.18'), 'arp_cache', new Map());
  const lines = recorded('arp_cache-6.18').trim().split('\n').slice(1);
  const column = (name: string) => recorded('arp_cache-6.18').trim().split('\n')[0].trim().split(/\s+/).indexOf(name);
  const sum = (name: string) => lines.reduce((s, line) => s + parseInt(line.trim().split(/\s+/)[column(name)], 16), 0);
  assert.equal(arp.get('arp_cache lookups'), sum('lookups'));
  assert.ok(sum('lookups') > 0, 'the recording has lookups');
  assert.ok(arp.has('arp_cache unresolved_discards'));
  assert.ok(arp.has('arp_cache table_fulls'));
  assert.equal(arp.has('arp_cache entries'), false);
  const conntrack = parseStatTable(recorded('nf_conntrack-6.18'), 'conntrack', new Map());
  for (const name of ['drop', 'early_drop', 'insert_failed', 'invalid']) assert.ok(conntrack.has(`conntrack ${name}`), name);
  assert.equal(parseStatTable('', 'x', new Map()).size, 0);
});

test('ethtool -S: only the counters of lost packets; -g: rings and their maximums', () => {
  const virtio = parseEthtoolStats(recorded('ethtool-S-virtio_net.txt'), 'eth0', new Map());
  assert.ok(virtio.has('ethtool eth0 rx_drops'));
  assert.ok(virtio.has('ethtool eth0 rx_xdp_drops'));
  assert.equal(virtio.has('ethtool eth0 rx_kicks'), false);
  const veth = parseEthtoolStats(recorded('ethtool-S-veth.txt'), 'v0', new Map());
  assert.deepEqual([...veth.keys()], ['ethtool v0 rx_queue_0_drops', 'ethtool v0 rx_queue_0_xdp_drops']);
  assert.equal(parseEthtoolStats(recorded('ethtool-S-tap.txt'), 'tap0', new Map()).size, 0);
  assert.deepEqual(parseEthtoolRings(recorded('ethtool-g-virtio_net.txt')), { rx: 256, rxMax: 256, tx: 256, txMax: 256 });
  assert.equal(parseEthtoolRings(recorded('ethtool-g-veth.txt')), null);
  const nic = 'Ring parameters for eth0:\nPre-set maximums:\nRX:\t\t4096\nRX Mini:\tn/a\nTX:\t\t4096\nCurrent hardware settings:\nRX:\t\t512\nRX Mini:\tn/a\nTX:\t\t1024\n';
  assert.deepEqual(parseEthtoolRings(nic), { rx: 512, rxMax: 4096, tx: 1024, txMax: 4096 });
});

test('ss -ltnpH: the accept queue, the backlog and the owner of each listener', () => {
  assert.deepEqual(parseListeners(recorded('ss-ltnpH.txt')), [{ local: '127.0.0.1:8080', queued: 2, backlog: 1, owner: 'python3[16527]' }]);
  assert.deepEqual(parseListeners('LISTEN 0 4096 [::]:22 [::]:*\n'), [{ local: '[::]:22', queued: 0, backlog: 4096, owner: null }]);
});

test('sockstat and sysctls: settings by name', () => {
  const settings = parseSockstat(recorded('sockstat-6.18'), new Map());
  assert.ok(settings.has('sockstat UDP mem'));
  assert.ok(settings.has('sockstat TCP inuse'));
  assert.ok(settings.has('sockstat UDP6 inuse'));
  const sysctls = parseSysctls('/proc/sys/net/ipv4/udp_mem:1\t2\t3\n/proc/sys/net/core/somaxconn:4096\n/proc/sys/net/ipv4/conf/eth0/rp_filter:2\n', new Map());
  assert.deepEqual(
    [...sysctls],
    [
      ['net.ipv4.udp_mem', '1 2 3'],
      ['net.core.somaxconn', '4096'],
      ['net.ipv4.conf.eth0.rp_filter', '2'],
    ],
  );
  assert.equal(sysctlPath('net.core.rmem_max'), '/proc/sys/net/core/rmem_max');
});

test('the snapshot: sections parsed by their modules; a source that printed nothing is named unread, not an error', () => {
  const sections = splitSections(
    [
      '==> snmp',
      'Udp: NoPorts RcvbufErrors',
      'Udp: 4 2',
      '==> link',
      recorded('ip-link-stats.json'),
      '==> dev',
      'x',
      '==> qdisc',
      '==> nf_conntrack',
      '==> ethtool-S v0',
      recorded('ethtool-S-veth.txt'),
      '==> ethtool',
    ].join('\n'),
  );
  const snapshot = parseSnapshot(sections, false);
  assert.equal(snapshot.counters.get('Udp RcvbufErrors'), 2);
  assert.ok(snapshot.counters.has('dev tap0 tx_dropped'), "ip's stats");
  assert.ok(snapshot.counters.has('ethtool v0 rx_queue_0_drops'));
  assert.equal(snapshot.state, null);
  assert.deepEqual(snapshot.unread, ['netstat', 'snmp6', 'qdisc', 'softnet_stat', 'nf_conntrack', 'arp_cache', 'ndisc_cache', 'ethtool']);
  const fallback = parseSnapshot(splitSections('==> link\nnot json\n==> dev\nh\nh\n  eth0: 1 2 3 4 5 0 0 0 6 7 8 9 10 0 0 0\n'), false);
  assert.equal(fallback.counters.get('dev eth0 rx_dropped'), 4, "/proc/net/dev when ip's JSON is unreadable");
  assert.ok(fallback.unread.includes('link'));
});

test('global counters: softnet and the neighbour tables', () => {
  assert.ok(isGlobalCounter('softnet dropped'));
  assert.ok(isGlobalCounter('arp_cache unresolved_discards'));
  assert.equal(isGlobalCounter('conntrack drop'), false);
  assert.equal(isGlobalCounter('dev v0 tx_dropped'), false);
});

test("reads this process's own namespace in one script, with the settings after a run", async () => {
  assert.match(snapshotScript(true), /ss -ltnpH/);
  assert.doesNotMatch(snapshotScript(false), /ss -ltnpH/);
  assert.doesNotMatch(snapshotScript(true), /nsenter/, "dropwhy's own namespace has the host's sysctls");
  assert.match(snapshotScript(true, true), /==> sysctl-host"; nsenter --net=\/proc\/\$1\/ns\/net grep -H \. \/proc\/sys\/net\/core\/rmem_max/);
  const snapshot = await readCounters(null, true);
  assert.ok(snapshot.counters.has('Ip Forwarding'));
  assert.ok(snapshot.counters.has('dev lo rx_dropped'));
  assert.ok(snapshot.counters.has('softnet processed'));
  // Whole values: a sysctl file read a byte at a time gives its first digit only.
  assert.equal(snapshot.state?.settings.get('net.core.rmem_max'), readFileSync('/proc/sys/net/core/rmem_max', 'utf8').trim());
  assert.equal(snapshot.state?.settings.get('net.core.somaxconn'), readFileSync('/proc/sys/net/core/somaxconn', 'utf8').trim());
  assert.equal(snapshot.state?.settings.get('net.ipv4.conf.lo.rp_filter'), readFileSync('/proc/sys/net/ipv4/conf/lo/rp_filter', 'utf8').trim());
  assert.ok(snapshot.state?.devices.some((d) => d.name === 'lo'));
});

test("another namespace's settings: its own sysctls first, the host's for those it has none of", () => {
  const sections = splitSections(
    [
      '==> sysctl',
      '/proc/sys/net/core/somaxconn:128',
      '==> sysctl-host',
      '/proc/sys/net/core/somaxconn:4096',
      '/proc/sys/net/core/netdev_max_backlog:1',
      '==> listeners',
    ].join('\n'),
  );
  const { state } = parseSnapshot(sections, true);
  assert.equal(state?.settings.get('net.core.somaxconn'), '128');
  assert.equal(state?.settings.get('net.core.netdev_max_backlog'), '1');
});
