// TCP SYN to a closed port -> NO_SOCKET in tcp_v4_rcv (the peer answers with RST).
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { assertDrops, describeEvents, expectLocation, expectReason, netnsInode, requireRealKernel, tcpConnect, traceWhile, withNetnsPair, scaled } from './harness';

test('TCP connect to a closed port x3: exactly 3 NO_SOCKET SYN drops at tcp_v4_rcv', { timeout: scaled(60_000) }, async (t) => {
  if (!requireRealKernel(t)) return;
  await withNetnsPair(async (p) => {
    const { res } = await traceWhile(['-o', 'json', '--filter-netns', p.nsB, '--filter-proto', 'tcp'], async () => {
      const outcomes = await tcpConnect(p.nsA, p.v4B, 9, 3);
      assert.deepEqual(outcomes, ['ECONNREFUSED', 'ECONNREFUSED', 'ECONNREFUSED']);
    });
    const ev = res.events;
    assertDrops(ev, 3, {
      ...expectReason('NO_SOCKET'),
      location: expectLocation('tcp_v4_rcv'),
      family: 'ipv4',
      proto: 'tcp',
      saddr: p.v4A,
      daddr: p.v4B,
      dport: 9,
      netns: netnsInode(p.nsB),
    });
    for (const e of ev) {
      assert.ok(typeof e.sport === 'number' && e.sport > 0, `sport: ${e.sport}`);
      assert.ok(e.tcp_flags?.split('|').includes('SYN') === true, `tcp_flags: ${e.tcp_flags}`);
      assert.ok(!e.tcp_flags.split('|').includes('ACK'), `a bare SYN carries no ACK: ${e.tcp_flags}`);
    }
    // three separate connect() calls -> three different source ports
    assert.equal(new Set(ev.map((e) => e.sport)).size, 3, describeEvents(ev));
  });
});
