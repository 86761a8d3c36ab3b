// --stack on fixtures: stack frames read once per id and symbolized with the
// recorded kallsyms excerpt; the JSON "stack" key and the text lines under an
// event; summary's call paths per row; the CLI asking the kernel for stacks.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { StackTable, STACK_ENTRIES, UNUSED_STACK_ENTRIES } from '../../src/kernel/stacks';
import { decodeBatch, type KernelAddress } from '../../src/events/decode';
import { decodeCounts } from '../../src/events/counts';
import { CONFIG, FEATURE, STACK_DEPTH } from '../../src/events/layout';
import type { FormatContext } from '../../src/output/format';
import { JsonWriter } from '../../src/output/json-writer';
import { TextWriter } from '../../src/output/text-writer';
import { intervalRows, totalJson, totalText } from '../../src/output/summary';
import { recordedKallsyms } from './fixtures';
import {
  cliHarness,
  encodeBatch,
  encodeCountRecords,
  encodeEvent,
  encodeStackFrames,
  loadReasonTable,
  reasonCode,
  runUntilOpened,
  UNNAMED_INTERFACES,
  UNRESOLVED_SOCKETS,
} from './helpers';

// In the recorded excerpt: __udp4_lib_rcv at ffffffff820a6db0, tcp_v4_rcv at ffffffff820934f0.
const UDP4_RCV = { hi: 0xffffffff, lo: 0x820a6db0 + 0x4bc };
const TCP_V4_RCV = { hi: 0xffffffff, lo: 0x820934f0 + 0x2a };
const UNKNOWN = { hi: 0xffffffff, lo: 0x00001000 }; // below every symbol of the excerpt
const NO_SOCKET = reasonCode('NO_SOCKET');

/** A stackFrames stand-in over fixed stacks that records each call's ids. */
function stackSource(stacks: Record<number, KernelAddress[]>) {
  const calls: number[][] = [];
  const read = (ids: Int32Array) => {
    calls.push([...ids]);
    return encodeStackFrames([...ids].map((id) => stacks[id] ?? []));
  };
  return { read, calls };
}

function context(stacks?: StackTable): FormatContext {
  return { reasons: loadReasonTable(), symbols: recordedKallsyms(), sockets: UNRESOLVED_SOCKETS, interfaces: UNNAMED_INTERFACES, monotonicToUnixNs: 0, color: false, stacks };
}

test('StackTable: frames symbolized innermost first, an address outside kallsyms as hex, unknown ids null', () => {
  const source = stackSource({ 3: [UDP4_RCV, TCP_V4_RCV, UNKNOWN] });
  const table = new StackTable(source.read, recordedKallsyms());
  assert.deepEqual(table.get(3), ['__udp4_lib_rcv+0x4bc', 'tcp_v4_rcv+0x2a', '0xffffffff00001000']);
  assert.equal(table.get(9), null, 'the map holds no stack 9');
});

test('StackTable: each id is read once; load() reads all new ids in one call', () => {
  const source = stackSource({ 1: [UDP4_RCV], 2: [TCP_V4_RCV] });
  const table = new StackTable(source.read, recordedKallsyms());
  table.load([1, 2, 1]);
  table.get(1);
  table.get(2);
  table.load([2, 1]);
  assert.deepEqual(source.calls, [[1, 2]]);
});

test('StackTable: a stack of the full depth keeps every frame', () => {
  const frames = Array.from({ length: STACK_DEPTH }, (_, i) => ({ hi: 0xffffffff, lo: 0x820a6db0 + i }));
  const table = new StackTable(stackSource({ 0: frames }).read, recordedKallsyms());
  const symbolized = table.get(0);
  assert.equal(symbolized?.length, STACK_DEPTH);
  assert.equal(symbolized?.[STACK_DEPTH - 1], `__udp4_lib_rcv+0x${(STACK_DEPTH - 1).toString(16)}`);
});

test('StackTable: the innermost frames of the BPF program and the tracepoint glue are left out, no others', () => {
  const names = ['bpf_prog_9733ba99892bef38_on_kfree_skb+0x12e6', 'bpf_trace_run4+0x10d', 'sk_skb_reason_drop+0x90', 'bpf_trace_run4+0x1', '__udp4_lib_rcv+0x4bc'];
  const frames = names.map((_, i) => ({ hi: 0xffffffff, lo: 0x1000 + i }));
  const symbols = { symbolize: (address: KernelAddress) => names[address.lo - 0x1000] ?? null };
  const table = new StackTable(stackSource({ 1: frames }).read, symbols);
  assert.deepEqual(table.get(1), ['sk_skb_reason_drop+0x90', 'bpf_trace_run4+0x1', '__udp4_lib_rcv+0x4bc']);
});

test("StackTable: an unloaded program's frame (no symbol of its own any more) goes with the glue after it", () => {
  const names = ['_einittext+0x3c832249', 'bpf_trace_run4+0x10d', 'sk_skb_reason_drop+0x90', '__udp4_lib_rcv+0x4bc'];
  const frames = names.map((_, i) => ({ hi: 0xffffffff, lo: 0x1000 + i }));
  const symbols = { symbolize: (address: KernelAddress) => names[address.lo - 0x1000] ?? null };
  assert.deepEqual(new StackTable(stackSource({ 1: frames }).read, symbols).get(1), ['sk_skb_reason_drop+0x90', '__udp4_lib_rcv+0x4bc']);
  // 5.10: the unloaded program named after a module's last symbol, twice, then bpf_trace_run2 in the tracepoint's caller.
  const old = ['cleanup_module+0x64a6', 'cleanup_module+0x64a6', 'bpf_trace_run2+0x37', 'kfree_skb+0x75', '__udp4_lib_rcv+0x992'];
  const oldSymbols = { symbolize: (address: KernelAddress) => old[address.lo - 0x1000] ?? null };
  const oldFrames = old.map((_, i) => ({ hi: 0xffffffff, lo: 0x1000 + i }));
  assert.deepEqual(new StackTable(stackSource({ 1: oldFrames }).read, oldSymbols).get(1), ['kfree_skb+0x75', '__udp4_lib_rcv+0x992']);
  // Without glue (another kernel's layout) only the program's own named frames are left out.
  const bare = new StackTable(stackSource({ 1: frames.slice(2) }).read, symbols).get(1);
  assert.deepEqual(bare, ['sk_skb_reason_drop+0x90', '__udp4_lib_rcv+0x4bc']);
});

test('decode: the stack id only with DROP_HAS_STACK', () => {
  const [withStack, without] = decodeBatch(encodeBatch([{ stackId: 7 }, {}]));
  assert.equal(withStack.stackId, 7);
  assert.equal(without.stackId, null);
  const [counted, uncounted] = decodeCounts(encodeCountRecords([{ stackId: 0, count: 1 }, { count: 2 }]), true);
  assert.equal(counted.stackId, 0, 'id 0 is a stack');
  assert.equal(uncounted.stackId, null, 'DROPWHY_NO_STACK');
});

test('JSON "stack": the frames with --stack, null without it or without a recorded stack', () => {
  const table = new StackTable(stackSource({ 5: [UDP4_RCV, TCP_V4_RCV] }).read, recordedKallsyms());
  const [event, bare] = decodeBatch(encodeBatch([{ stackId: 5, reason: NO_SOCKET }, { reason: NO_SOCKET }]));
  const withStacks = new JsonWriter(context(table));
  assert.deepEqual(JSON.parse(withStacks.line(event)).stack, ['__udp4_lib_rcv+0x4bc', 'tcp_v4_rcv+0x2a']);
  assert.equal(JSON.parse(new JsonWriter(context()).line(event)).stack, null, 'without --stack');
  assert.equal(JSON.parse(withStacks.line(bare)).stack, null, 'no stack recorded');
});

test('text: the frames indented under the line; a drop without a stack says so', () => {
  const table = new StackTable(stackSource({ 5: [UDP4_RCV, TCP_V4_RCV] }).read, recordedKallsyms());
  const [event, bare] = decodeBatch(encodeBatch([{ stackId: 5 }, {}]));
  const withStacks = new TextWriter(context(table));
  assert.deepEqual(withStacks.stackLines(event), ['    __udp4_lib_rcv+0x4bc', '    tcp_v4_rcv+0x2a']);
  assert.deepEqual(withStacks.stackLines(bare), ['    (no stack recorded)']);
  assert.deepEqual(new TextWriter(context()).stackLines(event), [], 'nothing without --stack');
});

test('the writers use the stack table set after they were made, as trace sets it once the tracer is open', () => {
  const [event] = decodeBatch(encodeBatch([{ stackId: 5, reason: NO_SOCKET }]));
  const ctx = context();
  const json = new JsonWriter(ctx);
  const text = new TextWriter(ctx);
  assert.equal(JSON.parse(json.line(event)).stack, null);
  ctx.stacks = new StackTable(stackSource({ 5: [UDP4_RCV] }).read, recordedKallsyms());
  assert.deepEqual(JSON.parse(json.line(event)).stack, ['__udp4_lib_rcv+0x4bc']);
  assert.deepEqual(text.stackLines(event), ['    __udp4_lib_rcv+0x4bc']);
});

test('summary: call paths under each row, most drops first; ids with the same frames are one path', () => {
  const source = stackSource({ 1: [UDP4_RCV, TCP_V4_RCV], 2: [UDP4_RCV], 3: [UDP4_RCV, TCP_V4_RCV] });
  const ctx = context(new StackTable(source.read, recordedKallsyms()));
  const location = UDP4_RCV;
  const counts = decodeCounts(
    encodeCountRecords([
      { location, reason: NO_SOCKET, family: 4, l4Proto: 'udp', stackId: 1, count: 4 },
      { location, reason: NO_SOCKET, family: 4, l4Proto: 'udp', stackId: 2, count: 5 },
      // another namespace, same stack: summed into the same row and path
      { location, reason: NO_SOCKET, netns: 77, family: 4, l4Proto: 'udp', stackId: 1, count: 2 },
      // a stack id the map gave the same frames (a dropped and re-added entry) is the same path
      { location, reason: NO_SOCKET, family: 4, l4Proto: 'udp', stackId: 3, count: 1 },
      { location, reason: NO_SOCKET, family: 4, l4Proto: 'udp', count: 3 }, // the stack map could not take it
    ]),
    true,
  );
  const [row] = intervalRows(counts, new Map(), ctx);
  assert.equal(row.total, 15);
  assert.deepEqual(row.paths, [
    { frames: ['__udp4_lib_rcv+0x4bc', 'tcp_v4_rcv+0x2a'], count: 7 },
    { frames: ['__udp4_lib_rcv+0x4bc'], count: 5 },
    { frames: null, count: 3 },
  ]);
  assert.equal(
    row.paths!.reduce((sum, p) => sum + p.count, 0),
    row.total,
    'the paths add up to the row',
  );
  assert.deepEqual(source.calls, [[1, 2, 3]], 'one read for the interval');

  const json = totalJson([row], 1, { seen: 15, matched: 15, lost: 0, overflow: 0 }, null, []);
  assert.deepEqual(json.drops[0].stacks, row.paths);
  const text = totalText([row], 1, null, [], true, 0);
  assert.match(text, /call path 1 of 3: 7 drops\n\s+__udp4_lib_rcv\+0x4bc\n\s+tcp_v4_rcv\+0x2a\n/);
  assert.match(text, /call path 3 of 3: 3 drops \(no stack recorded\)/);
  assert.equal(intervalRows(counts, new Map(), context())[0].paths, null, 'no paths without --stack');
});

test('summary text: at most 5 call paths per row, and how many were left out', () => {
  const stacks = Object.fromEntries(Array.from({ length: 8 }, (_, id) => [id, [{ hi: 0xffffffff, lo: 0x820a6db0 + id }]]));
  const ctx = context(new StackTable(stackSource(stacks).read, recordedKallsyms()));
  const counts = decodeCounts(
    encodeCountRecords(
      Array.from({ length: 8 }, (_, id) => ({ location: UDP4_RCV, reason: NO_SOCKET, family: 4 as const, l4Proto: 'udp' as const, stackId: id, count: 10 + id })),
    ),
    true,
  );
  const rows = intervalRows(counts, new Map(), ctx);
  const text = totalText(rows, 1, null, [], true, 0);
  assert.equal(text.match(/call path \d of 8/g)?.length, 5);
  assert.match(text, /call path 1 of 8: 17 drops\n\s+__udp4_lib_rcv\+0x7\n/, 'most drops first');
  assert.match(text, /\(and 3 more call paths: 33 drops\)/, '10 + 11 + 12');
});

test('CLI: --stack asks the kernel for stacks and sizes the stack map; without it the map is the smallest', async () => {
  for (const [argv, features, entries] of [
    [['--stack'], FEATURE.SOCKET | FEATURE.STACK, STACK_ENTRIES],
    [[], FEATURE.SOCKET, UNUSED_STACK_ENTRIES],
    [['summary', '--stack'], FEATURE.SOCKET | FEATURE.STACK, STACK_ENTRIES],
    [['summary'], FEATURE.SOCKET, UNUSED_STACK_ENTRIES],
  ] as const) {
    const h = cliHarness();
    const { done } = await runUntilOpened([...argv], h);
    assert.equal(h.binding.options.config.readUInt32LE(CONFIG.features), features, argv.join(' '));
    assert.equal(h.binding.options.stackEntries, entries, argv.join(' '));
    h.signals.emit('SIGINT');
    assert.equal(await done, 0);
  }
});

test('CLI: trace --stack prints the frames the addon reads for the event, and the stacks the map could not take', async () => {
  const frames = [{ hi: 0xffffffff, lo: 0x81000123 }];
  const h = cliHarness({ binding: { finalBatch: encodeEvent({ stackId: 4, reason: NO_SOCKET }), stacks: { 4: frames }, counters: { stackMissed: 2 } } });
  const { done } = await runUntilOpened(['--stack', '-o', 'json'], h);
  h.signals.emit('SIGINT');
  assert.equal(await done, 0);
  assert.deepEqual(
    h.records().map((r) => r.stack),
    [['kfree_skb_reason+0x81000123']],
  );
  assert.match(h.err.join('\n'), /dropwhy: 2 drops have no stack/);
});
