// The filters in the kernel. Every filter kind, in trace and (most) in summary
// mode, runs at once over the parsing corpus (test/e2e/corpus.ts), which arrives
// on two interfaces of B, while drops that must not match happen beside it: the
// kernel's own matched count must be exactly the corpus packets the filter
// selects (the selection computed here, from what the test built). In a
// kernel-matrix guest every kind is traced and two are summarised: the BPF
// program filters before it counts or sends, in the same code. Then address
// filters on real flows, and an interface the namespace lacks.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { CLOSED_PORT, installCorpus, sendCorpus, type Corpus, type CorpusCase } from './corpus';
import {
  KERNEL_MATRIX_GUEST,
  addExtraAddress,
  assertDrops,
  expectReason,
  assertKernelMatchedPrinted,
  assertNoStackTrace,
  describeEvents,
  parseNdjson,
  requireRealKernel,
  run,
  sendUdp,
  startEach,
  traceWhile,
  kernelFacts,
  withNetnsPair,
  CLI_PATH,
  scaled,
  type DropwhyHandle,
} from './harness';
import type { NetnsPair } from '../../src/kernel/netns-pair';

interface FilterKind {
  args: string[];
  /** Whether a corpus packet passes, decided from what the test built. */
  selects(c: CorpusCase): boolean;
  /** Run inside namespace B without --filter-netns (dropwhy's own namespace is B). */
  insideB?: boolean;
  /**
   * Only traced: in summary mode the same filter code runs before counting, which the kinds
   * summarised already cover; every run costs a BPF load, slow in the kernel matrix's guests.
   */
  traceOnly?: boolean;
  /** Summarised in a kernel-matrix guest too, where the other kinds are only traced. */
  summarisedInGuests?: boolean;
  /**
   * Not run in a kernel-matrix guest: its program is one the guests run already (a combination of
   * kinds traced there, or an interface found in user space instead of through --filter-netns).
   */
  hostOnly?: boolean;
}

function lastGroup(address: string): number {
  return parseInt(address.split(':').pop() || '0', 16);
}

/** One of each filter kind (besides --filter-netns, which every run has), over the corpus of pair p. */
function filterKinds(p: NetnsPair, corpus: Corpus): FilterKind[] {
  const hex = p.n.toString(16);
  const [first, second] = corpus.links;
  const firewalled = (c: CorpusCase) => c.culprit?.reason === 'NETFILTER_DROP';
  const inV4Block = (a: string | null) => a?.startsWith(`198.18.${p.n}.`) === true && Number(a.split('.')[3]) >= 192;
  const inV6Block = (a: string | null) => a?.startsWith(`fd00:dd:${hex}::`) === true && lastGroup(a) >= 0xc0 && lastGroup(a) <= 0xff;
  return [
    { args: ['--filter-proto', 'UDP'], selects: (c) => c.fields.proto === 'udp' },
    { args: ['--filter-port', String(CLOSED_PORT)], selects: (c) => c.fields.sport === CLOSED_PORT || c.fields.dport === CLOSED_PORT },
    { args: ['--filter-src-ip', `198.18.${p.n}.192/26`], selects: (c) => inV4Block(c.fields.saddr) },
    { args: ['--filter-src-ip', `fd00:dd:${hex}::c0/122`], selects: (c) => inV6Block(c.fields.saddr) },
    { args: ['--filter-dst-ip', p.v4B], selects: (c) => c.fields.daddr === p.v4B },
    {
      args: ['--filter-dst-ip', `fd00:dd:${hex}::/64`],
      selects: (c) => c.fields.family === 'ipv6' && c.fields.daddr?.startsWith(`fd00:dd:${hex}::`) === true,
      summarisedInGuests: true,
    },
    { args: ['--filter-reason', 'NETFILTER_DROP'], selects: firewalled, summarisedInGuests: true },
    // The reasons of the other cases are known only by what they are not: never NETFILTER_DROP (no rule
    // drops their sources); NO_SOCKET is not excluded alone, since some culprit-less case might be one on some kernel.
    { args: ['--exclude-reason', 'NETFILTER_DROP'], selects: (c) => !firewalled(c) },
    // An exclusion wins over an inclusion.
    { args: ['--filter-reason', 'NO_SOCKET,NETFILTER_DROP', '--exclude-reason', 'no_socket'], selects: firewalled, traceOnly: true },
    { args: ['--filter-ifname', second.ifB], selects: (c) => c.link === second },
    {
      args: ['--filter-ifname', first.ifB, '--exclude-reason', 'NETFILTER_DROP'],
      selects: (c) => c.link === first && !firewalled(c),
      traceOnly: true,
      hostOnly: true,
    },
    // No --filter-netns: the interface is looked up in dropwhy's own namespace, which is then filtered on.
    { args: ['--filter-ifname', second.ifB], selects: (c) => c.link === second, insideB: true, traceOnly: true, hostOnly: true },
  ];
}

const usesReasons = (kind: FilterKind) => kind.args.some((arg) => arg.endsWith('-reason'));

const modesOf = (kind: FilterKind) => (kind.traceOnly || (KERNEL_MATRIX_GUEST && !kind.summarisedInGuests) ? (['trace'] as const) : (['trace', 'summary'] as const));

const summaryTotal = (stdout: string) => {
  const total = parseNdjson(stdout).pop() as unknown as { type: string; matched: number; overflow: number; drops: Array<{ count: number }> };
  assert.equal(total?.type, 'total', `the last summary line is not the total:\n${stdout}`);
  return total;
};

test('every filter kind, traced and summarised: the kernel matches exactly the corpus packets it selects', { timeout: scaled(240_000) }, async (t) => {
  if (!requireRealKernel(t)) return;
  const reasons = kernelFacts().hasReason;
  await withNetnsPair(async (p) => {
    const corpus = await installCorpus(p);
    // Before 5.17 the kernel reports no reason: --filter-reason and --exclude-reason must be refused, not ignored.
    const kinds = filterKinds(p, corpus).filter((k) => (reasons || !usesReasons(k)) && !(KERNEL_MATRIX_GUEST && k.hostOnly));
    if (!reasons) {
      for (const flag of ['--filter-reason', '--exclude-reason']) {
        const refused = await run(process.execPath, [CLI_PATH, flag, 'NO_SOCKET', '--duration', '5'], { allowFail: true });
        assert.equal(refused.code, 2, `${flag} on a kernel without reasons: ${refused.stderr}`);
        assert.match(refused.stderr, new RegExp(`^dropwhy: ${flag}: this kernel reports no drop reasons`, 'm'));
      }
    }
    const runs: Array<{ kind: FilterKind; mode: 'trace' | 'summary'; dw: DropwhyHandle }> = [];
    try {
      // One corpus, every filter: all running before it is sent, each with its own BPF program and filter.
      const entries = kinds.flatMap((kind) =>
        modesOf(kind).map((mode) => {
          const netns = kind.insideB ? [] : ['--filter-netns', p.nsB];
          const args = [...(mode === 'summary' ? ['summary', '--interval', '1'] : []), '-o', 'json', ...netns, ...kind.args];
          return { kind, mode, args, netns: kind.insideB ? p.nsB : undefined };
        }),
      );
      runs.push(...(await startEach(entries)));
      await sendCorpus(p, corpus);
      const results = await Promise.all(runs.map(async (r) => ({ ...r, res: await r.dw.stop({ timeoutMs: 60_000 }) })));
      for (const { kind, mode, res } of results) {
        const what = `${mode} ${kind.args.join(' ')}${kind.insideB ? ' (inside B)' : ''}`;
        const expected = corpus.cases.filter((c) => kind.selects(c));
        assert.ok(expected.length > 0 && expected.length < corpus.cases.length, `${what}: selects ${expected.length} of ${corpus.cases.length}`);
        assert.equal(res.code, 0, `${what}: exit code; stderr:\n${res.stderr}`);
        assertNoStackTrace(res.stderr);
        const matched = Number(/dropwhy: \d+ drops seen, (\d+) matched/.exec(res.stderr)?.[1]);
        assert.equal(matched, expected.length, `${what}: the kernel matched ${matched}, the filter selects ${expected.length}: ${expected.map((c) => c.name).join('; ')}`);
        if (mode === 'trace') {
          assertKernelMatchedPrinted(res);
          const printed = res.events.map((e) => e.saddr).sort();
          assert.deepEqual(printed, expected.map((c) => c.fields.saddr).sort(), `${what}: printed\n${describeEvents(res.events)}`);
        } else {
          const total = summaryTotal(res.stdout);
          assert.equal(total.matched, expected.length, `${what}: total.matched`);
          assert.equal(total.overflow, 0, `${what}: total.overflow`);
          assert.equal(
            total.drops.reduce((sum, row) => sum + row.count, 0),
            expected.length,
            `${what}: the rows add up`,
          );
        }
      }
    } finally {
      for (const r of runs) r.dw.kill();
    }
  });
});

test('--filter-dst-ip ADDR and --filter-src-ip ADDR/29 (IPv4) select exactly one flow', { timeout: scaled(60_000) }, async (t) => {
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

test('--filter-dst-ip with an IPv6 prefix excludes IPv4 and other IPv6 destinations', { timeout: scaled(60_000) }, async (t) => {
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

test('--filter-ifname of an interface the namespace lacks: exit 2 naming the namespace, nothing loaded', { timeout: scaled(60_000) }, async (t) => {
  if (!requireRealKernel(t)) return;
  await withNetnsPair(async (p) => {
    // ifA exists, but in A: the lookup happens inside B.
    const res = await run(process.execPath, [CLI_PATH, '--filter-netns', p.nsB, '--filter-ifname', p.ifA, '--duration', '5'], { allowFail: true });
    assert.equal(res.code, 2, res.stderr);
    assertNoStackTrace(res.stderr);
    assert.equal(res.stderr.split('\n')[0], `dropwhy: --filter-ifname: expected an interface in network namespace ${p.nsB}, got "${p.ifA}"`);
    assert.doesNotMatch(res.stderr, /drops seen/, 'nothing was loaded');
  });
});
