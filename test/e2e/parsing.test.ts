// The BPF program's header parsing, on real packets: every packet of the corpus
// (test/e2e/corpus.ts) is built byte by byte, sent across a veth pair and
// dropped once in namespace B; every header field dropwhy reports must be the
// one the test built, and a field whose bytes are not part of the packet null.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { installCorpus, sendCorpus, type HeaderFields } from './corpus';
import { closingStats, describeEvents, netnsInode, requireRealKernel, traceWhile, expectLocation, expectReason, withNetnsPair, scaled, type DropEvent } from './harness';

const HEADER_KEYS: Array<keyof HeaderFields> = ['family', 'saddr', 'daddr', 'proto', 'sport', 'dport', 'icmp_type', 'icmp_code', 'ttl', 'tcp_flags'];

function headerFields(event: DropEvent): HeaderFields {
  return Object.fromEntries(HEADER_KEYS.map((key) => [key, event[key]])) as unknown as HeaderFields;
}

test('parsing corpus: every header field of each known packet, dropped for real', { timeout: scaled(90_000) }, async (t) => {
  if (!requireRealKernel(t)) return;
  await withNetnsPair(async (p) => {
    const corpus = await installCorpus(p);
    const { res } = await traceWhile(['-o', 'json', '--filter-netns', p.nsB], async () => {
      await sendCorpus(p, corpus);
    });

    // The kernel's own count: exactly one drop per packet in B, nothing else.
    assert.equal(closingStats(res.stderr)?.matched, corpus.cases.length, `closing line; stderr:\n${res.stderr}`);
    assert.equal(res.events.length, corpus.cases.length, `events:\n${describeEvents(res.events)}`);
    const netns = netnsInode(p.nsB);
    for (const c of corpus.cases) {
      const mine = res.events.filter((e) => e.saddr === c.fields.saddr);
      assert.equal(mine.length, 1, `${c.name}: ${mine.length} events from ${c.fields.saddr}:\n${describeEvents(res.events)}`);
      const [event] = mine;
      assert.deepEqual(headerFields(event), c.fields, `${c.name}: the header fields`);
      assert.equal(event.netns, netns, `${c.name}: netns`);
      assert.equal(event.ifindex, c.link.ifindexB, `${c.name}: ifindex (of ${c.link.ifB})`);
      assert.equal(event.ifname, c.link.ifB, `${c.name}: ifname`);
      if (c.culprit) {
        const { reason } = expectReason(c.culprit.reason);
        assert.equal(event.reason, reason, `${c.name}: reason`);
        const location = expectLocation(...c.culprit.at);
        if (location) assert.match(event.location ?? '', location, `${c.name}: location`);
        else assert.equal(event.location, null, `${c.name}: location (kallsyms addresses are hidden)`);
      }
    }
  });
});
