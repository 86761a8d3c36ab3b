// A never-read UDP socket with the smallest SO_RCVBUF: every datagram that does
// not fit is dropped with SOCKET_RCVBUFF in udp_queue_rcv_one_skb.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import {
  assertEventShape,
  closingStats,
  describeEvents,
  netnsInode,
  rcvbufFlood,
  requireRealKernel,
  startDropwhy,
  withNetnsPair,
} from './harness';

test('UDP receive buffer overflow: SOCKET_RCVBUFF events == sent - queued', { timeout: 60_000 }, async (t) => {
  if (!requireRealKernel(t)) return;
  await withNetnsPair(async (p) => {
    const dw = await startDropwhy(['-o', 'json', '--filter-netns', p.nsB, '--filter-reason', 'SOCKET_RCVBUFF']);
    try {
      const flood = await rcvbufFlood(p.nsB, p.v4B, 5555, 2000, p.nsA);
      assert.equal(flood.sent, 2000, `sender sent ${flood.sent}/2000`);
      assert.ok(flood.dropped > 0, `nothing was dropped: ${JSON.stringify(flood)}`);
      assert.equal(
        flood.snmpRcvbufErrors,
        flood.dropped,
        `harness sanity: UdpRcvbufErrors delta must equal sent - queued: ${JSON.stringify(flood)}`,
      );
      const res = await dw.stop({ settleMs: 500 });
      assert.equal(res.code, 0, `exit code; stderr:\n${res.stderr}`);
      const ev = res.events;
      assert.equal(
        ev.length,
        flood.dropped,
        `expected exactly ${flood.dropped} SOCKET_RCVBUFF events (sent ${flood.sent}, queued ${flood.queued}), got ${ev.length}; stderr:\n${res.stderr}\nfirst events:\n${describeEvents(ev.slice(0, 5))}`,
      );
      const ino = netnsInode(p.nsB);
      for (const e of ev) {
        assertEventShape(e);
        assert.equal(e.reason, 'SOCKET_RCVBUFF', describeEvents([e]));
        assert.match(e.location ?? '', /^udp_queue_rcv_one_skb\+0x[0-9a-f]+$/);
        assert.equal(e.family, 'ipv4');
        assert.equal(e.proto, 'udp');
        assert.equal(e.saddr, p.v4A);
        assert.equal(e.daddr, p.v4B);
        assert.equal(e.dport, 5555);
        assert.equal(e.netns, ino);
      }
      const stats = closingStats(res.stderr);
      assert.ok(stats, `closing line missing from stderr:\n${res.stderr}`);
      assert.equal(stats.matched, flood.dropped, res.stderr);
      assert.equal(stats.lost, 0, res.stderr);
    } finally {
      dw.kill();
    }
  });
});
