// A netfilter DROP rule inside the receiving namespace -> NETFILTER_DROP in nft_do_chain.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import {
  CLI_PATH,
  assertDrops,
  assertNoStackTrace,
  expectLocation,
  expectReason,
  iptablesDrop,
  kernelFacts,
  NFT_DROP_SITES,
  netnsInode,
  nftDrop,
  requireRealKernel,
  run,
  sendUdp,
  snmpCounters,
  traceWhile,
  withNetnsPair,
  scaled,
} from './harness';

test('nft drop rule for udp dport 7777: exactly 4 NETFILTER_DROP where the kernel carries out the verdict', { timeout: scaled(60_000) }, async (t) => {
  if (!requireRealKernel(t)) return;
  await withNetnsPair(async (p) => {
    await nftDrop(p.nsB, 'udp dport 7777');
    const { res, value: before } = await traceWhile(['-o', 'json', '--filter-netns', p.nsB, '--filter-port', '7777'], async () => {
      const before = await snmpCounters(p.nsB);
      const [sent, noise] = await Promise.all([
        sendUdp(p.nsA, p.v4B, 7777, 4, { srcPort: 40001 }),
        // NO_SOCKET drops on another port in the same namespace: --filter-port must hide them
        sendUdp(p.nsA, p.v4B, 9, 3, { srcPort: 40002 }),
      ]);
      assert.equal(sent, 4);
      assert.equal(noise, 3);
      return before;
    });
    const after = await snmpCounters(p.nsB);
    assert.equal(after['Udp.NoPorts'] - before['Udp.NoPorts'], 3, 'harness sanity: the 3 noise drops happened');
    assertDrops(res.events, 4, {
      ...expectReason('NETFILTER_DROP'),
      location: expectLocation(...NFT_DROP_SITES),
      family: 'ipv4',
      proto: 'udp',
      saddr: p.v4A,
      daddr: p.v4B,
      sport: 40001,
      dport: 7777,
      netns: netnsInode(p.nsB),
    });
  });
});

test('iptables DROP for udp dport 7778: exactly 2 NETFILTER_DROP (reason filter; a usage error before 5.17)', { timeout: scaled(60_000) }, async (t) => {
  if (!requireRealKernel(t)) return;
  if (!kernelFacts().hasReason) {
    const res = await run(process.execPath, [CLI_PATH, '--filter-reason', 'NETFILTER_DROP', '--duration', '1'], { allowFail: true, timeoutMs: 30_000 });
    assert.equal(res.code, 2, `exit code; stderr:\n${res.stderr}`);
    assertNoStackTrace(res.stderr);
    assert.equal(res.stderr, "dropwhy: --filter-reason: this kernel reports no drop reasons (they arrived in Linux 5.17)\nTry 'dropwhy --help' for the accepted options.\n");
    return;
  }
  await withNetnsPair(async (p) => {
    await iptablesDrop(p.nsB, ['-p', 'udp', '--dport', '7778']);
    const { res } = await traceWhile(['-o', 'json', '--filter-netns', p.nsB, '--filter-reason', 'NETFILTER_DROP'], async () => {
      const [sent, noise] = await Promise.all([
        sendUdp(p.nsA, p.v4B, 7778, 2),
        sendUdp(p.nsA, p.v4B, 9, 3), // NO_SOCKET: hidden by --filter-reason
      ]);
      assert.equal(sent, 2);
      assert.equal(noise, 3);
    });
    assertDrops(res.events, 2, {
      ...expectReason('NETFILTER_DROP'),
      location: expectLocation(...NFT_DROP_SITES, 'ipt_do_table'), // ipt_do_table: legacy iptables
      dport: 7778,
      daddr: p.v4B,
    });
  });
});
