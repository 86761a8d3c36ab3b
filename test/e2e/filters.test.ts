// Address filters: --filter-dst-ip / --filter-src-ip with exact addresses and prefixes.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import {
  addExtraAddress,
  assertEventShape,
  describeEvents,
  requireRealKernel,
  sendUdp,
  startDropwhy,
  withNetnsPair,
} from './harness';

test('--filter-dst-ip ADDR and --filter-src-ip ADDR/29 (IPv4) select exactly one flow', { timeout: 60_000 }, async (t) => {
  if (!requireRealKernel(t)) return;
  await withNetnsPair(async (p) => {
    const a2 = `198.18.${p.n}.11`; // inside 198.18.N.8/29
    const b2 = `198.18.${p.n}.12`;
    await addExtraAddress(p, 'a', a2);
    await addExtraAddress(p, 'b', b2);
    const dw = await startDropwhy([
      '-o', 'json', '--filter-netns', p.nsB, '--filter-dst-ip', b2, '--filter-src-ip', `198.18.${p.n}.8/29`,
    ]);
    try {
      const sent = await Promise.all([
        sendUdp(p.nsA, p.v4B, 9, 2), // .1 -> .2   hidden
        sendUdp(p.nsA, b2, 9, 3), // .1 -> .12 hidden (src outside /29)
        sendUdp(p.nsA, p.v4B, 9, 4, { srcAddr: a2 }), // .11 -> .2 hidden (dst)
        sendUdp(p.nsA, b2, 9, 5, { srcAddr: a2 }), // .11 -> .12 shown
      ]);
      assert.deepEqual(sent, [2, 3, 4, 5]);
      const res = await dw.stop();
      assert.equal(res.code, 0, `exit code; stderr:\n${res.stderr}`);
      assert.equal(res.events.length, 5, `expected exactly 5 events, got:\n${describeEvents(res.events)}`);
      for (const e of res.events) {
        assertEventShape(e);
        assert.equal(e.reason, 'NO_SOCKET');
        assert.equal(e.saddr, a2);
        assert.equal(e.daddr, b2);
      }
    } finally {
      dw.kill();
    }
  });
});

test('--filter-dst-ip with an IPv6 prefix excludes IPv4 and other IPv6 destinations', { timeout: 60_000 }, async (t) => {
  if (!requireRealKernel(t)) return;
  await withNetnsPair(async (p) => {
    const hex = p.n.toString(16);
    const b2 = `fd00:dd:${hex}:1::2`; // a second /64 on B
    await addExtraAddress(p, 'b', b2);
    await addExtraAddress(p, 'a', `fd00:dd:${hex}:1::1`);
    const dw = await startDropwhy(['-o', 'json', '--filter-netns', p.nsB, '--filter-dst-ip', `fd00:dd:${hex}::/64`]);
    try {
      const sent = await Promise.all([
        sendUdp(p.nsA, p.v6B, 9, 3), // shown
        sendUdp(p.nsA, b2, 9, 2), // other /64: hidden
        sendUdp(p.nsA, p.v4B, 9, 4), // IPv4: hidden
      ]);
      assert.deepEqual(sent, [3, 2, 4]);
      const res = await dw.stop();
      assert.equal(res.code, 0, `exit code; stderr:\n${res.stderr}`);
      assert.equal(res.events.length, 3, `expected exactly 3 events, got:\n${describeEvents(res.events)}`);
      for (const e of res.events) {
        assertEventShape(e);
        assert.equal(e.reason, 'NO_SOCKET');
        assert.equal(e.family, 'ipv6');
        assert.equal(e.daddr, p.v6B);
      }
    } finally {
      dw.kill();
    }
  });
});
