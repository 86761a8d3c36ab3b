// A never-read UDP socket with the smallest SO_RCVBUF: every datagram that does
// not fit is dropped with SOCKET_RCVBUFF in udp_queue_rcv_one_skb.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import {
  assertEachDrop,
  closingStats,
  describeEvents,
  expectLocation,
  expectReason,
  netnsInode,
  rcvbufFlood,
  requireRealKernel,
  traceWhile,
  withNetnsPair,
  scaled,
} from './harness';

test('UDP receive buffer overflow: SOCKET_RCVBUFF events == sent - queued', { timeout: scaled(60_000) }, async (t) => {
  if (!requireRealKernel(t)) return;
  await withNetnsPair(async (p) => {
    const { res, value: flood } = await traceWhile(
      ['-o', 'json', '--filter-netns', p.nsB, '--filter-reason', 'SOCKET_RCVBUFF'],
      async () => {
        const flood = await rcvbufFlood(p.nsB, p.v4B, 5555, 2000, p.nsA);
        assert.equal(flood.sent, 2000, `sender sent ${flood.sent}/2000`);
        assert.ok(flood.dropped > 0, `nothing was dropped: ${JSON.stringify(flood)}`);
        assert.equal(flood.snmpRcvbufErrors, flood.dropped, `harness sanity: UdpRcvbufErrors delta must equal sent - queued: ${JSON.stringify(flood)}`);
        return flood;
      },
      { settleMs: 500 },
    );
    const ev = res.events;
    assert.equal(
      ev.length,
      flood.dropped,
      `expected exactly ${flood.dropped} SOCKET_RCVBUFF events (sent ${flood.sent}, queued ${flood.queued}), got ${ev.length}; stderr:\n${res.stderr}\nfirst events:\n${describeEvents(ev.slice(0, 5))}`,
    );
    assertEachDrop(ev, {
      ...expectReason('SOCKET_RCVBUFF'),
      location: expectLocation('udp_queue_rcv_one_skb'),
      family: 'ipv4',
      proto: 'udp',
      saddr: p.v4A,
      daddr: p.v4B,
      dport: 5555,
      netns: netnsInode(p.nsB),
    });
    const stats = closingStats(res.stderr);
    assert.ok(stats, `closing line missing from stderr:\n${res.stderr}`);
    assert.equal(stats.matched, flood.dropped, res.stderr);
    assert.equal(stats.lost, 0, res.stderr);
  });
});
