// UDP datagrams to a closed port are dropped with NO_SOCKET in __udp{4,6}_lib_rcv.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { assertDrops, closingStats, netnsInode, requireRealKernel, sendUdp, snmpCounters, traceWhile, withNetnsPair } from './harness';

test('UDP to a closed port (IPv4): exactly 5 NO_SOCKET drops at __udp4_lib_rcv', { timeout: 60_000 }, async (t) => {
  if (!requireRealKernel(t)) return;
  await withNetnsPair(async (p) => {
    const { res, value: before } = await traceWhile(['-o', 'json', '--filter-netns', p.nsB, '--filter-proto', 'udp'], async () => {
      const before = await snmpCounters(p.nsB);
      const sent = await sendUdp(p.nsA, p.v4B, 9, 5, { srcPort: 41234 });
      assert.equal(sent, 5);
      return before;
    });
    const after = await snmpCounters(p.nsB);
    assert.equal(after['Udp.NoPorts'] - before['Udp.NoPorts'], 5, 'harness sanity: kernel counted 5 UdpNoPorts');
    assert.equal(res.signal, null);
    const ev = res.events;
    assertDrops(ev, 5, {
      reason: 'NO_SOCKET',
      location: /^__udp4_lib_rcv\+0x[0-9a-f]+$/,
      address: /^0xffff[0-9a-f]{12}$/,
      family: 'ipv4',
      proto: 'udp',
      saddr: p.v4A,
      daddr: p.v4B,
      sport: 41234,
      dport: 9,
      netns: netnsInode(p.nsB),
      ifindex: p.ifindexB,
      tcp_flags: null,
    });
    for (const e of ev) {
      assert.equal(typeof e.reason_code, 'number');
      assert.ok(typeof e.len === 'number' && e.len > 0, `len: ${e.len}`);
    }
    // all 5 drops share one reason code and one drop site
    assert.equal(new Set(ev.map((e) => e.reason_code)).size, 1);
    assert.equal(new Set(ev.map((e) => e.location)).size, 1);
    const stats = closingStats(res.stderr);
    assert.ok(stats, `closing line "dropwhy: N drops seen, M matched, L lost" missing from stderr:\n${res.stderr}`);
    assert.equal(stats.matched, 5, res.stderr);
    assert.ok(stats.seen >= stats.matched, res.stderr);
    assert.equal(stats.lost, 0, res.stderr);
  });
});

test('UDP to a closed port (IPv6): exactly 5 NO_SOCKET drops at __udp6_lib_rcv', { timeout: 60_000 }, async (t) => {
  if (!requireRealKernel(t)) return;
  await withNetnsPair(async (p) => {
    const ino = netnsInode(p.nsB);
    // netns given as an inode number here
    const { res } = await traceWhile(['-o', 'json', '--filter-netns', String(ino), '--filter-proto', 'udp'], async () => {
      const sent = await sendUdp(p.nsA, p.v6B, 9, 5, { srcPort: 41235 });
      assert.equal(sent, 5);
    });
    assertDrops(res.events, 5, {
      reason: 'NO_SOCKET',
      location: /^__udp6_lib_rcv\+0x[0-9a-f]+$/,
      family: 'ipv6',
      proto: 'udp',
      saddr: p.v6A, // canonical compressed form, e.g. fd00:dd:7::1
      daddr: p.v6B,
      sport: 41235,
      dport: 9,
      netns: ino,
    });
  });
});

test('UDP to a closed port, text output: 5 NO_SOCKET lines naming __udp4_lib_rcv+0x', { timeout: 60_000 }, async (t) => {
  if (!requireRealKernel(t)) return;
  await withNetnsPair(async (p) => {
    // netns given as a /run/netns path here
    const { res } = await traceWhile(['-o', 'text', '--filter-netns', `/run/netns/${p.nsB}`, '--filter-proto', 'udp'], async () => {
      assert.equal(await sendUdp(p.nsA, p.v4B, 9, 5), 5);
    });
    // one line per drop; other lines (e.g. hints) may exist, so count the drop lines by their location
    const lines = res.stdout.split('\n').filter((l) => /__udp4_lib_rcv\+0x[0-9a-f]+/.test(l));
    assert.equal(lines.length, 5, `expected 5 drop lines naming __udp4_lib_rcv+0x, stdout:\n${res.stdout}`);
    for (const l of lines) {
      assert.ok(l.includes('NO_SOCKET'), `drop line lacks the reason: ${l}`);
      assert.ok(!l.trimStart().startsWith('{'), `text output looks like JSON: ${l}`);
    }
  });
});
