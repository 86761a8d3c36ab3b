// Tracing mode's closing lines put the kernel's own counters of the traced
// namespace beside the drops it traced: agree when they are the same drops,
// differ when the filter hid some, and list trouble counters nothing traced fed.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { assertNoStackTrace, closingStats, describeEvents, rcvbufFlood, requireRealKernel, sendUdp, traceWhile, withNetnsPair, scaled } from './harness';

/** The closing lines on stderr, without the "dropwhy: " prefix. */
function closingLines(stderr: string): string[] {
  return stderr
    .split('\n')
    .filter((l) => l.startsWith('dropwhy: '))
    .map((l) => l.slice('dropwhy: '.length));
}

test('tracing -o json --filter-netns: 5 UDP closed-port drops -> "Udp NoPorts +5 vs 5 NO_SOCKET traced: agree"', { timeout: scaled(60_000) }, async (t) => {
  if (!requireRealKernel(t)) return;
  await withNetnsPair(async (p) => {
    const { res } = await traceWhile(['-o', 'json', '--filter-netns', p.nsB], async () => {
      assert.equal(await sendUdp(p.nsA, p.v4B, 9, 5), 5);
    });
    assertNoStackTrace(res.stderr);
    assert.equal(res.events.length, 5, describeEvents(res.events));
    assert.deepEqual(closingStats(res.stderr)?.matched, 5, res.stderr);
    const lines = closingLines(res.stderr);
    assert.deepEqual(
      lines.filter((l) => l.includes('traced:')),
      ['Udp NoPorts +5 vs 5 NO_SOCKET traced: agree'],
      `stderr:\n${res.stderr}`,
    );
    assert.ok(!lines.some((l) => l.startsWith('other counters:')), `no other trouble counter moved:\n${res.stderr}`);
    assert.ok(!lines.some((l) => l.includes('--filter-netns for an exact comparison')), res.stderr);
  });
});

test('tracing with --filter-port 9 while 3 more drops go to port 10 -> "Udp NoPorts +8 vs 5 NO_SOCKET traced: differ by 3"', { timeout: scaled(60_000) }, async (t) => {
  if (!requireRealKernel(t)) return;
  await withNetnsPair(async (p) => {
    const { res } = await traceWhile(['-o', 'json', '--filter-netns', p.nsB, '--filter-port', '9'], async () => {
      assert.deepEqual(await Promise.all([sendUdp(p.nsA, p.v4B, 9, 5), sendUdp(p.nsA, p.v4B, 10, 3)]), [5, 3]);
    });
    assert.equal(res.events.length, 5, describeEvents(res.events));
    assert.deepEqual(
      closingLines(res.stderr).filter((l) => l.includes('traced:')),
      ['Udp NoPorts +8 vs 5 NO_SOCKET traced: differ by 3 (the counter is higher)'],
      `stderr:\n${res.stderr}`,
    );
    assert.ok(
      closingLines(res.stderr).includes(
        '(the counters count every drop of the namespace, the traced drops are those --filter-port let through: a higher counter is expected)',
      ),
      `the filter is named as the reason they differ; stderr:\n${res.stderr}`,
    );
  });
});

test('tracing with a filter that hides every drop -> no verdict, "other counters: Udp NoPorts +4"', { timeout: scaled(60_000) }, async (t) => {
  if (!requireRealKernel(t)) return;
  await withNetnsPair(async (p) => {
    const { res } = await traceWhile(['-o', 'json', '--filter-netns', p.nsB, '--filter-proto', 'tcp'], async () => {
      assert.equal(await sendUdp(p.nsA, p.v4B, 9, 4), 4);
    });
    assert.equal(res.events.length, 0, describeEvents(res.events));
    const lines = closingLines(res.stderr);
    assert.equal(lines.filter((l) => l.includes('traced:')).length, 0, res.stderr);
    assert.deepEqual(
      lines.filter((l) => l.startsWith('other counters:')),
      ['other counters: Udp NoPorts +4'],
      `stderr:\n${res.stderr}`,
    );
  });
});

test('tracing a SO_RCVBUF flood -> Udp RcvbufErrors and Udp InErrors agree with the SOCKET_RCVBUFF events', { timeout: scaled(60_000) }, async (t) => {
  if (!requireRealKernel(t)) return;
  await withNetnsPair(async (p) => {
    const { res, value: flood } = await traceWhile(
      ['-o', 'json', '--filter-netns', p.nsB],
      async () => {
        const flood = await rcvbufFlood(p.nsB, p.v4B, 5557, 2000, p.nsA);
        assert.equal(flood.sent, 2000);
        assert.ok(flood.dropped > 0, JSON.stringify(flood));
        return flood;
      },
      { settleMs: 500 },
    );
    assert.equal(res.events.length, flood.dropped, `events vs sent - queued (${JSON.stringify(flood)})`);
    const n = flood.dropped;
    assert.deepEqual(
      closingLines(res.stderr).filter((l) => l.includes('traced:')),
      [`Udp RcvbufErrors +${n} vs ${n} SOCKET_RCVBUFF traced: agree`, `Udp InErrors +${n} vs ${n} SOCKET_RCVBUFF traced: agree`],
      `stderr:\n${res.stderr}`,
    );
  });
});
