import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { diffSnapshots, parseCounterFiles, parseNetDev, parseSnmp, parseSnmp6, readCounters } from '../../src/kernel/counters';
import { FIXTURES } from './fixtures';

const proc = (name: string) => readFileSync(resolve(FIXTURES, 'proc', name), 'utf8');

test('/proc/net/snmp: header and value lines pair up per group', () => {
  const counters = parseSnmp(proc('snmp'));
  assert.equal(counters.get('Ip DefaultTTL'), 64);
  assert.equal(counters.get('Ip InReceives'), 2788);
  assert.equal(counters.get('Icmp OutDestUnreachs'), 200);
  assert.ok(counters.has('Udp NoPorts'));
  assert.ok(counters.has('Udp RcvbufErrors'));
  assert.ok(counters.has('Tcp ActiveOpens'));
});

test('/proc/net/snmp: groups out of step are skipped, not misnamed', () => {
  const counters = parseSnmp('Ip: A B\nUdp: 1 2\nUdp: NoPorts\nUdp: 7\n');
  assert.equal(counters.has('Ip A'), false);
  assert.equal(counters.has('Udp 1'), false);
  assert.deepEqual([...counters], [['Udp NoPorts', 7]], 'the next aligned pair is read again');
  assert.equal(parseSnmp('Udp: NoPorts InErrors\nUdp: 7 3\n').get('Udp InErrors'), 3);
});

test('/proc/net/netstat: TcpExt and IpExt', () => {
  const counters = parseSnmp(proc('netstat'));
  assert.ok(counters.has('TcpExt ListenOverflows'));
  assert.ok(counters.has('TcpExt ListenDrops'));
  assert.ok(counters.has('IpExt InNoRoutes'));
});

test('/proc/net/snmp6: names split into group and counter', () => {
  const counters = parseSnmp6(proc('snmp6'));
  assert.equal(counters.get('Ip6 InReceives'), 7);
  assert.ok(counters.has('Udp6 NoPorts'));
  assert.ok(counters.has('Udp6 RcvbufErrors'));
  assert.ok(counters.has('UdpLite6 InDatagrams'), 'UdpLite6 is not read as Udp');
  assert.ok(counters.has('Icmp6 InErrors'));
});

test('/proc/net/dev: per-interface drops and errors', () => {
  const counters = parseNetDev(proc('dev'));
  assert.equal(counters.get('dev lo rx_dropped'), 0);
  assert.equal(counters.get('dev lo tx_errors'), 0);
  const line = '  veth0:  100 2 3 4 5 0 0 0  200 6 7 8 9 0 0 0\n';
  const veth = parseNetDev('header\nheader\n' + line);
  assert.equal(veth.get('dev veth0 rx_errors'), 3);
  assert.equal(veth.get('dev veth0 rx_dropped'), 4);
  assert.equal(veth.get('dev veth0 tx_errors'), 7);
  assert.equal(veth.get('dev veth0 tx_dropped'), 8);
});

test('deltas: only what moved, with its sign', () => {
  const before = parseCounterFiles({ snmp: proc('snmp'), snmp6: proc('snmp6'), netstat: proc('netstat'), dev: proc('dev') });
  const after = new Map(before);
  after.set('Udp NoPorts', before.get('Udp NoPorts')! + 5);
  after.set('Ip InReceives', before.get('Ip InReceives')! - 1);
  after.set('dev veth9 rx_dropped', 2);
  assert.deepEqual(diffSnapshots(before, after), [
    { name: 'Ip InReceives', delta: -1 },
    { name: 'Udp NoPorts', delta: 5 },
    { name: 'dev veth9 rx_dropped', delta: 2 },
  ]);
  assert.deepEqual(diffSnapshots(before, before), []);
});

test("reads this process's own namespace", async () => {
  const { counters } = await readCounters(null);
  assert.ok(counters.has('Ip Forwarding'));
  assert.ok(counters.has('dev lo rx_dropped'));
});
