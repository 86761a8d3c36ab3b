// A netfilter DROP rule inside the receiving namespace -> NETFILTER_DROP in nft_do_chain.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import {
  assertEventShape,
  describeEvents,
  iptablesDrop,
  netnsInode,
  nftDrop,
  requireRealKernel,
  sendUdp,
  snmpCounters,
  startDropwhy,
  withNetnsPair,
} from './harness';

test('nft drop rule for udp dport 7777: exactly 4 NETFILTER_DROP at nft_do_chain', { timeout: 60_000 }, async (t) => {
  if (!requireRealKernel(t)) return;
  await withNetnsPair(async (p) => {
    await nftDrop(p.nsB, 'udp dport 7777');
    const dw = await startDropwhy(['-o', 'json', '--filter-netns', p.nsB, '--filter-port', '7777']);
    try {
      const before = await snmpCounters(p.nsB);
      const [sent, noise] = await Promise.all([
        sendUdp(p.nsA, p.v4B, 7777, 4, { srcPort: 40001 }),
        // NO_SOCKET drops on another port in the same namespace: --filter-port must hide them
        sendUdp(p.nsA, p.v4B, 9, 3, { srcPort: 40002 }),
      ]);
      assert.equal(sent, 4);
      assert.equal(noise, 3);
      const res = await dw.stop();
      const after = await snmpCounters(p.nsB);
      assert.equal(after['Udp.NoPorts'] - before['Udp.NoPorts'], 3, 'harness sanity: the 3 noise drops happened');
      assert.equal(res.code, 0, `exit code; stderr:\n${res.stderr}`);
      const ev = res.events;
      assert.equal(ev.length, 4, `expected exactly 4 events, got:\n${describeEvents(ev)}`);
      const ino = netnsInode(p.nsB);
      for (const e of ev) {
        assertEventShape(e);
        assert.equal(e.reason, 'NETFILTER_DROP', describeEvents([e]));
        assert.match(e.location ?? '', /^nft_do_chain\+0x[0-9a-f]+$/);
        assert.equal(e.family, 'ipv4');
        assert.equal(e.proto, 'udp');
        assert.equal(e.saddr, p.v4A);
        assert.equal(e.daddr, p.v4B);
        assert.equal(e.sport, 40001);
        assert.equal(e.dport, 7777);
        assert.equal(e.netns, ino);
      }
    } finally {
      dw.kill();
    }
  });
});

test('iptables DROP for udp dport 7778: exactly 2 NETFILTER_DROP (reason filter)', { timeout: 60_000 }, async (t) => {
  if (!requireRealKernel(t)) return;
  await withNetnsPair(async (p) => {
    await iptablesDrop(p.nsB, ['-p', 'udp', '--dport', '7778']);
    const dw = await startDropwhy(['-o', 'json', '--filter-netns', p.nsB, '--filter-reason', 'NETFILTER_DROP']);
    try {
      const [sent, noise] = await Promise.all([
        sendUdp(p.nsA, p.v4B, 7778, 2),
        sendUdp(p.nsA, p.v4B, 9, 3), // NO_SOCKET: hidden by --filter-reason
      ]);
      assert.equal(sent, 2);
      assert.equal(noise, 3);
      const res = await dw.stop();
      assert.equal(res.code, 0, `exit code; stderr:\n${res.stderr}`);
      const ev = res.events;
      assert.equal(ev.length, 2, `expected exactly 2 events, got:\n${describeEvents(ev)}`);
      for (const e of ev) {
        assertEventShape(e);
        assert.equal(e.reason, 'NETFILTER_DROP');
        assert.match(e.location ?? '', /^(nft_do_chain|ipt_do_table)\+0x[0-9a-f]+$/); // iptables-nft: nft_do_chain, legacy: ipt_do_table
        assert.equal(e.dport, 7778);
        assert.equal(e.daddr, p.v4B);
      }
    } finally {
      dw.kill();
    }
  });
});
