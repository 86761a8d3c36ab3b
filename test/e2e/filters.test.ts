// Address filters: --filter-dst-ip / --filter-src-ip with exact addresses and prefixes.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { addExtraAddress, assertDrops, expectReason, requireRealKernel, sendUdp, traceWhile, withNetnsPair } from './harness';

test('--filter-dst-ip ADDR and --filter-src-ip ADDR/29 (IPv4) select exactly one flow', { timeout: 60_000 }, async (t) => {
  if (!requireRealKernel(t)) return;
  await withNetnsPair(async (p) => {
    const a2 = `198.18.${p.n}.11`; // inside 198.18.N.8/29
    const b2 = `198.18.${p.n}.12`;
    await addExtraAddress(p, 'a', a2);
    await addExtraAddress(p, 'b', b2);
    const args = ['-o', 'json', '--filter-netns', p.nsB, '--filter-dst-ip', b2, '--filter-src-ip', `198.18.${p.n}.8/29`];
    const { res } = await traceWhile(args, async () => {
      const sent = await Promise.all([
        sendUdp(p.nsA, p.v4B, 9, 2), // .1 -> .2   hidden
        sendUdp(p.nsA, b2, 9, 3), // .1 -> .12 hidden (src outside /29)
        sendUdp(p.nsA, p.v4B, 9, 4, { srcAddr: a2 }), // .11 -> .2 hidden (dst)
        sendUdp(p.nsA, b2, 9, 5, { srcAddr: a2 }), // .11 -> .12 shown
      ]);
      assert.deepEqual(sent, [2, 3, 4, 5]);
    });
    assertDrops(res.events, 5, { ...expectReason('NO_SOCKET'), saddr: a2, daddr: b2 });
  });
});

test('--filter-dst-ip with an IPv6 prefix excludes IPv4 and other IPv6 destinations', { timeout: 60_000 }, async (t) => {
  if (!requireRealKernel(t)) return;
  await withNetnsPair(async (p) => {
    const hex = p.n.toString(16);
    const b2 = `fd00:dd:${hex}:1::2`; // a second /64 on B
    await addExtraAddress(p, 'b', b2);
    await addExtraAddress(p, 'a', `fd00:dd:${hex}:1::1`);
    const { res } = await traceWhile(['-o', 'json', '--filter-netns', p.nsB, '--filter-dst-ip', `fd00:dd:${hex}::/64`], async () => {
      const sent = await Promise.all([
        sendUdp(p.nsA, p.v6B, 9, 3), // shown
        sendUdp(p.nsA, b2, 9, 2), // other /64: hidden
        sendUdp(p.nsA, p.v4B, 9, 4), // IPv4: hidden
      ]);
      assert.deepEqual(sent, [3, 2, 4]);
    });
    assertDrops(res.events, 3, { ...expectReason('NO_SOCKET'), family: 'ipv6', daddr: p.v6B });
  });
});
