// UDP datagrams to a closed port are dropped with NO_SOCKET in __udp{4,6}_lib_rcv.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import {
  assertDrops,
  closingStats,
  expectLocation,
  expectReason,
  expectTextLocation,
  kernelFacts,
  netnsInode,
  requireRealKernel,
  sendUdp,
  snmpCounters,
  traceWhile,
  withNetnsPair,
  scaled,
} from './harness';

/** The one-time note of a kernel whose tracepoint has no reason (before 5.17): exactly once there, never elsewhere. */
function assertReasonNote(stderr: string): void {
  const notes = stderr.split('\n').filter((l) => l.includes('reports no drop reason'));
  assert.equal(notes.length, kernelFacts().hasReason ? 0 : 1, `notes about a missing reason on stderr:\n${stderr}`);
}

test('UDP to a closed port (IPv4): exactly 5 NO_SOCKET drops at __udp4_lib_rcv', { timeout: scaled(60_000) }, async (t) => {
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
      ...expectReason('NO_SOCKET'),
      location: expectLocation('__udp4_lib_rcv'),
      address: /^0xffff[0-9a-f]{12}$/,
      family: 'ipv4',
      proto: 'udp',
      saddr: p.v4A,
      daddr: p.v4B,
      sport: 41234,
      dport: 9,
      netns: netnsInode(p.nsB),
      ifindex: p.ifindexB,
      ifname: p.ifB, // the veth end the pair made in nsB
      tcp_flags: null,
    });
    for (const e of ev) assert.ok(typeof e.len === 'number' && e.len > 0, `len: ${e.len}`);
    // all 5 drops share one drop site
    assert.equal(new Set(ev.map((e) => e.address)).size, 1);
    assertReasonNote(res.stderr);
    const stats = closingStats(res.stderr);
    assert.ok(stats, `closing line "dropwhy: N drops seen, M matched, L lost" missing from stderr:\n${res.stderr}`);
    assert.equal(stats.matched, 5, res.stderr);
    assert.ok(stats.seen >= stats.matched, res.stderr);
    assert.equal(stats.lost, 0, res.stderr);
  });
});

test('UDP to a closed port (IPv6): exactly 5 NO_SOCKET drops at __udp6_lib_rcv', { timeout: scaled(60_000) }, async (t) => {
  if (!requireRealKernel(t)) return;
  await withNetnsPair(async (p) => {
    const ino = netnsInode(p.nsB);
    // netns given as an inode number here
    const { res } = await traceWhile(['-o', 'json', '--filter-netns', String(ino), '--filter-proto', 'udp'], async () => {
      const sent = await sendUdp(p.nsA, p.v6B, 9, 5, { srcPort: 41235 });
      assert.equal(sent, 5);
    });
    assertDrops(res.events, 5, {
      ...expectReason('NO_SOCKET'),
      location: expectLocation('__udp6_lib_rcv'),
      family: 'ipv6',
      proto: 'udp',
      saddr: p.v6A, // canonical compressed form, e.g. fd00:dd:7::1
      daddr: p.v6B,
      sport: 41235,
      dport: 9,
      netns: ino,
      ifindex: p.ifindexB,
      ifname: p.ifB,
    });
  });
});

test('UDP to a closed port, text output: 5 lines naming NO_SOCKET (or no reason before 5.17) at __udp4_lib_rcv', { timeout: scaled(60_000) }, async (t) => {
  if (!requireRealKernel(t)) return;
  await withNetnsPair(async (p) => {
    // netns given as a /run/netns path here
    const { res } = await traceWhile(['-o', 'text', '--filter-netns', `/run/netns/${p.nsB}`, '--filter-proto', 'udp'], async () => {
      assert.equal(await sendUdp(p.nsA, p.v4B, 9, 5), 5);
    });
    // one line per drop; other lines (e.g. hints) may exist, so count the drop lines by their location
    const location = expectTextLocation('__udp4_lib_rcv');
    const lines = res.stdout.split('\n').filter((l) => location.test(l));
    assert.equal(lines.length, 5, `expected 5 drop lines naming ${location}, stdout:\n${res.stdout}`);
    const { reason } = expectReason('NO_SOCKET');
    for (const l of lines) {
      assert.ok(!l.trimStart().startsWith('{'), `text output looks like JSON: ${l}`);
      // "time reason location ...", the reason "-" where the kernel has none
      assert.equal(l.trim().split(/\s+/)[1], reason ?? '-', `the reason of: ${l}`);
      assert.ok(l.includes(` if ${p.ifindexB} (${p.ifB}) len `), `want "if ${p.ifindexB} (${p.ifB})" in: ${l}`);
    }
    assertReasonNote(res.stderr);
  });
});
