// --stack on real drops: UDP to a closed port in a throwaway namespace is
// dropped as NO_SOCKET. With --stack every event carries the kernel stack that
// freed it, whose frames are kallsyms symbols and include the function the
// drop's location names; without --stack "stack" is null; summary --stack
// splits each row into call paths whose counts add up to what the kernel matched.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import {
  assertEachDrop,
  assertNoStackTrace,
  describeEvents,
  expectLocation,
  expectReason,
  kernelFacts,
  netnsInode,
  requireRealKernel,
  sendUdp,
  startDropwhy,
  traceWhile,
  withNetnsPair,
  scaled,
} from './harness';

const CLOSED_PORT = 5571;
/** Few: a kernel-matrix guest is slow. */
const DATAGRAMS = 10;

/** The code symbols of /proc/kallsyms, read here rather than through dropwhy's own table. */
function kallsymsNames(): Set<string> {
  const names = new Set<string>();
  for (const line of fs.readFileSync('/proc/kallsyms', 'latin1').split('\n')) {
    const [, type, name] = line.split(/\s+/);
    if (type && 'tTwW'.includes(type) && name) names.add(name);
  }
  return names;
}

const functionOf = (frame: string) => frame.replace(/\+0x[0-9a-f]+$/, '');

/**
 * The location's function is in the stack, and near its innermost end: before
 * it come only the function that freed the skb (kfree_skb, kfree_skb_reason or
 * sk_skb_reason_drop, by kernel), no frames of the tracing itself.
 */
function assertThroughLocation(frames: string[], location: string, where: string): void {
  const at = frames.map(functionOf).indexOf(functionOf(location));
  assert.ok(at >= 0, `the location's function is not in the stack: ${where}`);
  assert.ok(at <= 2, `${at} frames before the location's function: ${where}`);
}

/** Every frame is `symbol+0xoff` of a kallsyms code symbol (or, where kallsyms hides addresses, a raw address). */
function assertKallsymsFrames(frames: string[], names: Set<string>, where: string): void {
  for (const frame of frames) {
    if (!kernelFacts().symbolsVisible) {
      assert.match(frame, /^0x[0-9a-f]{16}$/, where);
      continue;
    }
    assert.match(frame, /^[\w.$]+\+0x[0-9a-f]+$/, `frame ${frame}: ${where}`);
    assert.ok(names.has(functionOf(frame)), `frame ${frame} is not a kallsyms code symbol: ${where}`);
  }
}

test('trace --stack: every NO_SOCKET event has a stack through its location\'s function; without --stack "stack" is null', { timeout: scaled(90_000) }, async (t) => {
  if (!requireRealKernel(t)) return;
  await withNetnsPair(async (p) => {
    const args = ['-o', 'json', '--filter-netns', p.nsB, '--filter-proto', 'udp'];
    const { res, value: sent } = await traceWhile([...args, '--stack'], () => sendUdp(p.nsA, p.v4B, CLOSED_PORT, DATAGRAMS), { settleMs: 500 });
    assert.equal(res.events.length, sent, `one event per datagram: ${res.stderr}`);
    assert.doesNotMatch(res.stderr, /have no stack/, 'every stack was recorded');
    assertEachDrop(res.events, { ...expectReason('NO_SOCKET'), location: expectLocation('__udp4_lib_rcv'), dport: CLOSED_PORT, netns: netnsInode(p.nsB) });
    const names = kallsymsNames();
    for (const event of res.events) {
      const where = `${describeEvents([event])}\nstack: ${JSON.stringify(event.stack)}`;
      assert.ok(Array.isArray(event.stack) && event.stack.length > 1, `no stack: ${where}`);
      assertKallsymsFrames(event.stack, names, where);
      if (event.location !== null) assertThroughLocation(event.stack, event.location, where);
    }

    const without = await traceWhile(args, () => sendUdp(p.nsA, p.v4B, CLOSED_PORT, DATAGRAMS), { settleMs: 500 });
    assert.equal(without.res.events.length, without.value);
    assertEachDrop(without.res.events, { stack: null });
  });
});

test('trace --stack, text: the frames indented under each event line', { timeout: scaled(90_000) }, async (t) => {
  if (!requireRealKernel(t)) return;
  await withNetnsPair(async (p) => {
    const { res, value: sent } = await traceWhile(['--no-hints', '--stack', '--filter-netns', p.nsB, '--filter-proto', 'udp'], () => sendUdp(p.nsA, p.v4B, CLOSED_PORT, 3), {
      settleMs: 500,
    });
    const lines = res.stdout.trimEnd().split('\n');
    const eventLines = lines.filter((line) => !line.startsWith(' '));
    assert.equal(eventLines.length, sent, res.stdout);
    const names = kallsymsNames();
    // Each event line is followed by its frames, indented by four spaces.
    const blocks = res.stdout.trimEnd().split(/\n(?! )/);
    for (const block of blocks) {
      const [line, ...frames] = block.split('\n');
      assert.ok(line.includes(expectReason('NO_SOCKET').reason ?? ' - '), `not a NO_SOCKET line: ${block}`);
      assert.ok(frames.length > 1 && frames.every((f) => f.startsWith('    ')), `no frames under ${line}`);
      assertKallsymsFrames(
        frames.map((f) => f.trim()),
        names,
        block,
      );
      if (kernelFacts().symbolsVisible)
        assert.ok(
          frames.some((f) => functionOf(f.trim()) === '__udp4_lib_rcv'),
          block,
        );
    }
  });
});

interface TotalRecord {
  type: 'total';
  drops: Array<{ reason: string | null; location: string | null; count: number; stacks: Array<{ frames: string[] | null; count: number }> | null }>;
  matched: number;
  overflow: number;
}

test("summary --stack -o json: each row's call paths add up to its count, and all of them to what the kernel matched", { timeout: scaled(90_000) }, async (t) => {
  if (!requireRealKernel(t)) return;
  await withNetnsPair(async (p) => {
    // No interval ends before the stop: the stacks are first read and symbolized after the program was unloaded.
    const dw = await startDropwhy(['summary', '--stack', '-o', 'json', '--filter-netns', p.nsB, '--filter-proto', 'udp', '--interval', '60']);
    try {
      const sent = await sendUdp(p.nsA, p.v4B, CLOSED_PORT, DATAGRAMS);
      const res = await dw.stop({ settleMs: 600 });
      assert.equal(res.code, 0, `exit code; stderr:\n${res.stderr}`);
      assertNoStackTrace(res.stderr);
      const total = JSON.parse(res.stdout.trim().split('\n').pop()!) as TotalRecord;
      assert.equal(total.type, 'total', res.stdout);
      assert.equal(total.overflow, 0);
      assert.equal(total.matched, sent, `the kernel matched every datagram: ${res.stderr}`);
      const names = kallsymsNames();
      let paths = 0;
      for (const row of total.drops) {
        assert.ok(row.stacks && row.stacks.length > 0, `no call paths: ${JSON.stringify(row)}`);
        assert.equal(
          row.stacks.reduce((sum, s) => sum + s.count, 0),
          row.count,
          `paths vs row: ${JSON.stringify(row)}`,
        );
        for (const path of row.stacks) {
          assert.ok(path.frames, `a path without a stack: ${JSON.stringify(row)}`);
          assertKallsymsFrames(path.frames, names, JSON.stringify(path));
          if (row.location !== null) assertThroughLocation(path.frames, row.location, JSON.stringify(row));
        }
        paths += row.stacks.reduce((sum, s) => sum + s.count, 0);
      }
      assert.equal(paths, total.matched, "the call paths add up to the kernel's matched count");
      assert.deepEqual(
        total.drops.map((d) => d.reason),
        [expectReason('NO_SOCKET').reason],
      );
    } finally {
      dw.kill();
    }
  });
});
