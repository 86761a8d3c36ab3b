// Filter expressions in the kernel. A few dozen tcpdump expressions run at once
// over the parsing corpus (test/e2e/corpus.ts: packets with known bytes, each
// dropped once in B): the kernel's matched count, and the events printed, must
// be exactly the corpus packets the reference classic BPF interpreter
// (test/unit/cbpf.ts) accepts when it runs libpcap's program for the same
// expression on the same bytes. In a kernel-matrix guest, the few expressions
// whose programs hold every kind of instruction the others hold. Then
// 'udp port 53' against the flags that say the same, on the same traffic.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { installCorpus, sendCorpus, type Corpus, type CorpusCase } from './corpus';
import {
  KERNEL_MATRIX_GUEST,
  assertKernelMatchedPrinted,
  assertNoStackTrace,
  describeEvents,
  parseNdjson,
  requireRealKernel,
  sendUdp,
  startDropwhy,
  startEach,
  tcpConnect,
  withNetnsPair,
  scaled,
  type DropEvent,
  type DropwhyHandle,
} from './harness';
import type { NetnsPair } from '../../src/kernel/netns-pair';
import { compileExpression, decodeProgram } from '../../src/events/expression';
import { loadNativeBinding } from '../../src/kernel/binding';
import { cbpfAccepts } from '../unit/cbpf';

/** The packet as the BPF program sees it: from the network header (the frame without its Ethernet header). */
const ETHERNET_HEADER = 14;

function expressions(p: NetnsPair): string[] {
  const hex = p.n.toString(16);
  return [
    'ip',
    'ip6',
    'udp',
    'tcp',
    'icmp',
    'not udp',
    'udp or icmp',
    'tcp and ip6',
    'not ip6 and not icmp',
    'port 9',
    'udp dst port 9 and ip6',
    'portrange 40000-40010',
    'udp portrange 40020-40040',
    `net 198.18.${p.n}.192/26`,
    `src net 198.18.${p.n}.0/24 and not icmp`,
    `dst host ${p.v4B}`,
    `ip6 net fd00:dd:${hex}::c0/122`,
    `host ${p.v6B} and udp`,
    'tcp[13] = 2',
    'tcp[13] & 2 != 0',
    'tcp[tcpflags] & tcp-syn != 0',
    'ip[8] < 8',
    'ip[0] & 0xf > 5',
    'ip[6:2] & 0x1fff != 0',
    'ip[6] & 0x20 != 0',
    'icmp[icmptype] = icmp-echo',
    'icmp[0] = 3 or icmp[1] != 0',
    'ip6[6] = 0',
    'ip6[6] = 44 or ip6[6] = 60',
    'udp[0:2] > 40005 and udp[0:2] < 40035',
    'len < 40',
    'greater 80',
    'ip proto 17 and not ip[6:2] & 0x1fff != 0',
  ];
}

/** Runs loaded at once. */
const BATCH = 12;

/**
 * The fewest expressions (picked greedily, in list order on a tie) whose programs together hold every
 * instruction kind (opcode: class, mode or operation, size, operand) any of the programs holds. The BPF
 * program's interpreter is verified per expression, following only the branches that program takes:
 * these take them all. Where kernels differ (the verifier, the packet reads) they show; the other
 * expressions run the same branches with other constants, the same on every kernel.
 */
function coveringExpressions(programs: Array<{ expression: string; program: Buffer }>): Set<string> {
  const opcodes = programs.map(({ expression, program }) => ({ expression, codes: new Set(decodeProgram(program).map((insn) => insn.code)) }));
  const uncovered = new Set(opcodes.flatMap(({ codes }) => [...codes]));
  const chosen = new Set<string>();
  while (uncovered.size > 0) {
    const gain = (codes: Set<number>) => [...codes].filter((code) => uncovered.has(code)).length;
    const best = opcodes.reduce((a, b) => (gain(b.codes) > gain(a.codes) ? b : a));
    chosen.add(best.expression);
    for (const code of best.codes) uncovered.delete(code);
  }
  return chosen;
}

const matchedCount = (stderr: string) => Number(/dropwhy: \d+ drops? seen, (\d+) matched/.exec(stderr)?.[1]);

test('a few dozen expressions over the corpus: the kernel matches exactly what the reference interpreter accepts', { timeout: scaled(600_000) }, async (t) => {
  if (!requireRealKernel(t)) return;
  const binding = loadNativeBinding();
  await withNetnsPair(async (p) => {
    const corpus: Corpus = await installCorpus(p);
    const compiled = expressions(p).map((expression) => {
      const program = compileExpression((e, snaplen) => binding.compileFilter(e, snaplen), expression);
      const selected = corpus.cases.filter((c: CorpusCase) => cbpfAccepts(program, c.frame.subarray(ETHERNET_HEADER)));
      return { expression, program, selected };
    });
    // The expressions discriminate: none selects nothing or everything.
    for (const { expression, selected } of compiled) {
      assert.ok(selected.length > 0 && selected.length < corpus.cases.length, `${expression}: selects ${selected.length} of ${corpus.cases.length}`);
    }
    const covering = coveringExpressions(compiled);
    const kinds = KERNEL_MATRIX_GUEST ? compiled.filter(({ expression }) => covering.has(expression)) : compiled;
    // Count mode runs the same interpreter: a few expressions summarised too (in a guest, the first covering one).
    const summarised = KERNEL_MATRIX_GUEST ? new Set([...covering].slice(0, 1)) : new Set(['udp', 'tcp[13] & 2 != 0', 'ip6[6] = 0']);
    const all = kinds.flatMap(({ expression, selected }) =>
      (summarised.has(expression) ? (['trace', 'summary'] as const) : (['trace'] as const)).map((mode) => ({ expression, mode, selected })),
    );
    // In batches, each over one sending of the corpus: every run is a process with its own BPF program,
    // and a batch's runs all live until the corpus was sent.
    for (let first = 0; first < all.length; first += BATCH) {
      const runs: Array<(typeof all)[number] & { dw: DropwhyHandle }> = [];
      try {
        const batch = all.slice(first, first + BATCH).map((run) => ({
          ...run,
          args: [...(run.mode === 'summary' ? ['summary', '--interval', '1'] : []), '-o', 'json', '--filter-netns', p.nsB, run.expression],
        }));
        runs.push(...(await startEach(batch)));
        await sendCorpus(p, corpus);
        const results = await Promise.all(runs.map(async (r) => ({ ...r, res: await r.dw.stop({ timeoutMs: 60_000 }) })));
        for (const { expression, mode, selected, res } of results) {
          const what = `${mode} '${expression}'`;
          assert.equal(res.code, 0, `${what}: exit code; stderr:\n${res.stderr}`);
          assertNoStackTrace(res.stderr);
          const matched = matchedCount(res.stderr);
          assert.equal(
            matched,
            selected.length,
            `${what}: the kernel matched ${matched}, the reference accepts ${selected.length}: ${selected.map((c) => c.name).join('; ')}`,
          );
          if (mode === 'trace') {
            assertKernelMatchedPrinted(res);
            assert.deepEqual(res.events.map((e) => e.saddr).sort(), selected.map((c) => c.fields.saddr).sort(), `${what}: printed\n${describeEvents(res.events)}`);
          } else {
            const total = parseNdjson(res.stdout).pop() as unknown as { type: string; matched: number };
            assert.equal(total?.type, 'total');
            assert.equal(total.matched, selected.length, `${what}: total.matched`);
          }
        }
      } finally {
        for (const r of runs) r.dw.kill();
      }
    }
  });
});

const flowOf = (e: DropEvent) => [e.family, e.saddr, e.daddr, e.proto, e.sport, e.dport, e.reason, e.location].join(' ');

test("'udp port 53' and --filter-proto udp --filter-port 53 give the same events on the same traffic", { timeout: scaled(120_000) }, async (t) => {
  if (!requireRealKernel(t)) return;
  await withNetnsPair(async (p) => {
    const common = ['-o', 'json', '--filter-netns', p.nsB];
    const byFlags = await startDropwhy([...common, '--filter-proto', 'udp', '--filter-port', '53']);
    const byExpression = await startDropwhy([...common, 'udp port 53']);
    try {
      const sent = await Promise.all([
        sendUdp(p.nsA, p.v4B, 53, 3), // matches
        sendUdp(p.nsA, p.v6B, 53, 2), // matches
        sendUdp(p.nsA, p.v4B, 9, 4, { srcPort: 53 }), // matches: the source port
        sendUdp(p.nsA, p.v4B, 9, 5), // another port
        tcpConnect(p.nsA, p.v4B, 53, 2), // TCP to 53
      ]);
      assert.deepEqual(sent.slice(0, 4), [3, 2, 4, 5]);
      const [flags, expression] = await Promise.all([byFlags.stop({ timeoutMs: 60_000 }), byExpression.stop({ timeoutMs: 60_000 })]);
      for (const res of [flags, expression]) {
        assert.equal(res.code, 0, res.stderr);
        assertKernelMatchedPrinted(res);
      }
      assert.equal(flags.events.length, 9, `by flags:\n${describeEvents(flags.events)}`);
      assert.deepEqual(expression.events.map(flowOf).sort(), flags.events.map(flowOf).sort());
    } finally {
      byFlags.kill();
      byExpression.kill();
    }
  });
});
