// The "who is dropping my DNS" case: only UDP port 53 drops, from anywhere.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import {
  assertEachDrop,
  assertEventShape,
  describeEvents,
  expectLocation,
  expectReason,
  netnsInode,
  requireRealKernel,
  sendUdp,
  snmpCounters,
  tcpConnect,
  traceWhile,
  withNetnsPair,
  scaled,
} from './harness';

test('--filter-proto udp --filter-port 53 shows exactly the 6 UDP/53 drops', { timeout: scaled(60_000) }, async (t) => {
  if (!requireRealKernel(t)) return;
  await withNetnsPair(async (p1) => {
    await withNetnsPair(async (p2) => {
      const { res, value: before } = await traceWhile(['-o', 'json', '--filter-proto', 'udp', '--filter-port', '53'], async () => {
        const before = [await snmpCounters(p1.nsB), await snmpCounters(p2.nsB)];
        const [dns, mdns, p54, tcp, other] = await Promise.all([
          sendUdp(p1.nsA, p1.v4B, 53, 6), // dropped: no listener -> must be shown
          sendUdp(p1.nsA, p1.v4B, 5353, 5), // other ports: hidden
          sendUdp(p1.nsA, p1.v4B, 54, 5),
          tcpConnect(p1.nsA, p1.v4B, 53, 3), // tcp/53: hidden by --filter-proto udp
          sendUdp(p2.nsA, p2.v4B, 9, 4), // other namespace pair, port 9: hidden
        ]);
        assert.deepEqual([dns, mdns, p54, other], [6, 5, 5, 4]);
        assert.deepEqual(tcp, ['ECONNREFUSED', 'ECONNREFUSED', 'ECONNREFUSED']);
        return before;
      });
      const [before1, before2] = before;
      const after1 = await snmpCounters(p1.nsB);
      const after2 = await snmpCounters(p2.nsB);
      assert.equal(after1['Udp.NoPorts'] - before1['Udp.NoPorts'], 16, 'harness sanity: 6+5+5 NoPorts in pair 1');
      assert.equal(after2['Udp.NoPorts'] - before2['Udp.NoPorts'], 4, 'harness sanity: 4 NoPorts in pair 2');
      const ev = res.events;
      for (const e of ev) {
        assertEventShape(e);
        assert.equal(e.proto, 'udp', `non-UDP event printed:\n${describeEvents([e])}`);
        assert.ok(e.sport === 53 || e.dport === 53, `event without port 53 printed:\n${describeEvents([e])}`);
        assert.notEqual(e.daddr, p2.v4B, `drop from the second pair printed:\n${describeEvents([e])}`);
      }
      const mine = ev.filter((e) => e.daddr === p1.v4B);
      assert.equal(mine.length, 6, `expected exactly 6 UDP/53 drops to ${p1.v4B}, got:\n${describeEvents(ev)}`);
      assertEachDrop(mine, {
        ...expectReason('NO_SOCKET'),
        location: expectLocation('__udp4_lib_rcv'),
        dport: 53,
        saddr: p1.v4A,
        netns: netnsInode(p1.nsB),
      });
    });
  });
});
