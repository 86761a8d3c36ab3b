// TCP SYN to a closed port -> NO_SOCKET in tcp_v4_rcv (the peer answers with RST).
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import {
  assertEventShape,
  describeEvents,
  netnsInode,
  requireRealKernel,
  startDropwhy,
  tcpConnect,
  withNetnsPair,
} from './harness';

test('TCP connect to a closed port x3: exactly 3 NO_SOCKET SYN drops at tcp_v4_rcv', { timeout: 60_000 }, async (t) => {
  if (!requireRealKernel(t)) return;
  await withNetnsPair(async (p) => {
    const dw = await startDropwhy(['-o', 'json', '--filter-netns', p.nsB, '--filter-proto', 'tcp']);
    try {
      const outcomes = await tcpConnect(p.nsA, p.v4B, 9, 3);
      assert.deepEqual(outcomes, ['ECONNREFUSED', 'ECONNREFUSED', 'ECONNREFUSED']);
      const res = await dw.stop();
      assert.equal(res.code, 0, `exit code; stderr:\n${res.stderr}`);
      const ev = res.events;
      assert.equal(ev.length, 3, `expected exactly 3 events, got:\n${describeEvents(ev)}`);
      const ino = netnsInode(p.nsB);
      for (const e of ev) {
        assertEventShape(e);
        assert.equal(e.reason, 'NO_SOCKET', describeEvents([e]));
        assert.match(e.location ?? '', /^tcp_v4_rcv\+0x[0-9a-f]+$/);
        assert.equal(e.family, 'ipv4');
        assert.equal(e.proto, 'tcp');
        assert.equal(e.saddr, p.v4A);
        assert.equal(e.daddr, p.v4B);
        assert.equal(e.dport, 9);
        assert.ok(typeof e.sport === 'number' && e.sport > 0, `sport: ${e.sport}`);
        assert.equal(e.netns, ino);
        assert.ok(e.tcp_flags !== null && e.tcp_flags.split('|').includes('SYN'), `tcp_flags: ${e.tcp_flags}`);
        assert.ok(!e.tcp_flags.split('|').includes('ACK'), `a bare SYN carries no ACK: ${e.tcp_flags}`);
      }
      // three separate connect() calls -> three different source ports
      assert.equal(new Set(ev.map((e) => e.sport)).size, 3, describeEvents(ev));
    } finally {
      dw.kill();
    }
  });
});
