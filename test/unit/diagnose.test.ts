// diagnose's report: traced drops and findings ranked together by their drops, the socket's advice
// with the settings read, and the closing line of what was checked and quiet.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { diagnoseJson, diagnoseReport, diagnoseText } from '../../src/output/diagnose';
import type { SocketRow, SummaryRow } from '../../src/output/summary';
import { findings } from '../../src/knowledge/findings';
import { correlate } from '../../src/knowledge/correlate';
import type { HostState } from '../../src/kernel/counters';

const row = (reason: string, total: number, location: string): SummaryRow => ({
  reason,
  reasonCode: 1,
  subsystem: 'CORE',
  proto: 'udp',
  family: 4,
  location,
  address: '0xffffffff81000000',
  count: total,
  total,
  paths: null,
});

const host: HostState = {
  devices: [],
  qdiscs: [],
  rings: new Map(),
  settings: new Map([
    ['net.core.rmem_max', '212992'],
    ['net.core.rmem_default', '212992'],
    ['net.core.somaxconn', '4096'],
  ]),
  listeners: [{ local: '127.0.0.1:8080', queued: 2, backlog: 1, owner: 'python3[9]' }],
};

test('causes ranked by drops: a traced reason with its socket and settings, a finding, then what was quiet', () => {
  const rows = [row('NO_SOCKET', 3, '__udp4_lib_rcv+0x4bc'), row('SOCKET_RCVBUFF', 1200, 'udp_queue_rcv_one_skb+0x437')];
  const socket: SocketRow = {
    reason: 'SOCKET_RCVBUFF',
    count: 1200,
    socket: {
      cookie: null,
      inode: 1,
      cgroupId: null,
      uid: 0,
      family: 4,
      localAddr: Uint8Array.from([10, 0, 0, 2, ...new Array(12).fill(0)]),
      localPort: 5000,
      rcvbuf: 425984,
      queued: 426240,
      drops: 1200,
    },
    resolved: { owner: { pid: 812, comm: 'collector' }, cgroup: null },
    pod: null,
  } as SocketRow;
  const deltas = [
    { name: 'Udp RcvbufErrors', delta: 1200 },
    { name: 'Udp NoPorts', delta: 3 },
    { name: 'TcpExt ListenOverflows', delta: 12 },
  ];
  const traced = rows.map((r) => ({ reason: r.reason!, proto: r.proto, family: r.family, count: r.total, location: r.location }));
  const checks = correlate(traced, deltas, host);
  const found = findings(deltas, checks, host, new Map());
  const report = diagnoseReport({ durationS: 10, seen: 1210, matched: 1203, unread: ['nf_conntrack'] }, rows, [socket], checks, found, deltas, host.settings, host);
  assert.deepEqual(
    report.causes.map((c) => [c.kind, c.count]),
    [
      ['drop', 1200],
      ['counter', 12],
      ['drop', 3],
    ],
  );
  const text = diagnoseText(report).split('\n');
  assert.equal(text[0], 'dropwhy diagnose: 10.0 s, 1203 drops traced, 3 causes (1215 drops)');
  assert.match(text[1], /^ {2}1\. +1200 drops {2}SOCKET_RCVBUFF at udp_queue_rcv_one_skb\+0x437 \(udp\): /);
  assert.match(text[2], /^ {7}socket: .*rcvbuf 425984, queued 426240 \(net\.core\.rmem_max 212992, net\.core\.rmem_default 212992\); the buffer is at its cap/);
  assert.equal(text[3], '       settings: net.core.rmem_max 212992, net.core.rmem_default 212992');
  assert.equal(text[4], '       counter: Udp RcvbufErrors +1200 vs 1200 traced: agree');
  assert.equal(text[6], '       fix: the buffer is at its cap (twice rmem_max): sysctl -w net.core.rmem_max=1048576, then ask for more with SO_RCVBUF');
  assert.match(text[7], /^ {2}2\. +12 drops {2}TcpExt ListenOverflows \+12, none traced: the accept queue/);
  assert.equal(text[8], '       involved: 127.0.0.1:8080 python3[9] backlog 1 queued 2');
  assert.equal(
    text.at(-2),
    'checked: kfree_skb drops, IP/TCP/UDP/ICMP counters; quiet: interfaces, qdiscs, driver counters, softnet backlog, conntrack, neighbour tables; not readable here: nf_conntrack',
  );
  const json = diagnoseJson(report);
  assert.equal(json.causes[0].kind, 'drop');
  assert.deepEqual([json.causes[1].kind, json.causes[1].count, (json.causes[1] as { counter?: string }).counter], ['counter', 12, 'TcpExt ListenOverflows']);
  assert.deepEqual(json.quiet, ['interfaces', 'qdiscs', 'driver counters', 'softnet backlog', 'conntrack', 'neighbour tables']);
});

test('nothing dropped: says so, and every group is quiet', () => {
  const report = diagnoseReport({ durationS: 1, seen: 0, matched: 0, unread: [] }, [], [], [], [], [], null, null);
  assert.deepEqual(diagnoseText(report).split('\n').slice(1, 3), [
    '  no drops traced and no counter of trouble moved',
    'checked: kfree_skb drops; quiet: IP/TCP/UDP/ICMP counters, interfaces, qdiscs, driver counters, softnet backlog, conntrack, neighbour tables',
  ]);
});
