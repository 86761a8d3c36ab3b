// Process lifecycle: --count, --duration, signals, and a reader that goes away.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  assertNoStackTrace,
  CLI_PATH,
  python,
  run,
  closingStats,
  describeEvents,
  parseNdjson,
  requireRealKernel,
  sendUdp,
  sleep,
  spawnDropwhy,
  startDropwhy,
  traceWhile,
  withNetnsPair,
  scaled,
} from './harness';

test('--count 3 exits by itself with code 0 after exactly 3 of 5 drops', { timeout: scaled(60_000) }, async (t) => {
  if (!requireRealKernel(t)) return;
  await withNetnsPair(async (p) => {
    const dw = await startDropwhy(['-o', 'json', '--count', '3', '--filter-netns', p.nsB, '--filter-proto', 'udp']);
    try {
      assert.equal(await sendUdp(p.nsA, p.v4B, 9, 5), 5);
      const res = await dw.waitExit(10_000);
      assert.equal(res.code, 0, `exit code; stderr:\n${res.stderr}`);
      assert.equal(res.signal, null);
      assert.equal(res.events.length, 3, `expected exactly 3 events, got:\n${describeEvents(res.events)}`);
      assert.equal(res.readyFileLeft, false, 'dropwhy left its ready file behind');
      for (const e of res.events) {
        assert.equal(e.reason, 'NO_SOCKET');
        assert.equal(e.daddr, p.v4B);
      }
      // The matched drops past the third are accounted for, not lost from sight.
      const closing = /(\d+) matched, (\d+) lost/.exec(res.stderr);
      assert.ok(closing, `no closing line; stderr:\n${res.stderr}`);
      const after = Number(closing[1]) - Number(closing[2]) - 3;
      assert.match(res.stderr, new RegExp(`stopped at --count 3; ${after} more matching drops? came before the tracer was detached`));
      assertNoStackTrace(res.stderr);
    } finally {
      dw.kill();
    }
  });
});

test('--duration 1 exits by itself with code 0 within a few seconds', { timeout: scaled(60_000) }, async (t) => {
  if (!requireRealKernel(t)) return;
  const dw = spawnDropwhy(['-o', 'json', '--duration', '1']);
  try {
    const spawnedAt = Date.now();
    let readyAt: number | undefined;
    const deadline = spawnedAt + 25_000;
    while (dw.child.exitCode === null && dw.child.signalCode === null && Date.now() < deadline) {
      if (readyAt === undefined && fs.existsSync(dw.readyFile)) readyAt = Date.now();
      await sleep(25);
    }
    const res = await dw.waitExit(5_000);
    const exitedAt = spawnedAt + res.elapsedMs;
    assert.equal(res.code, 0, `exit code; stderr:\n${res.stderr}`);
    assert.equal(res.signal, null);
    assert.ok(readyAt !== undefined, `ready file was never written; stderr:\n${res.stderr}`);
    assert.ok(res.elapsedMs >= 900, `exited after ${res.elapsedMs} ms, before the 1 s duration`);
    assert.ok(exitedAt - readyAt <= 5_000, `exited ${exitedAt - readyAt} ms after becoming ready (want <= 5000)`);
    parseNdjson(res.stdout); // whatever it printed must be valid NDJSON
    assertNoStackTrace(res.stderr);
  } finally {
    dw.kill();
  }
});

test('SIGTERM exits 0 and prints the closing line', { timeout: scaled(60_000) }, async (t) => {
  if (!requireRealKernel(t)) return;
  await withNetnsPair(async (p) => {
    const { res } = await traceWhile(['-o', 'json', '--filter-netns', p.nsB, '--filter-proto', 'udp'], async () => assert.equal(await sendUdp(p.nsA, p.v4B, 9, 2), 2), {
      signal: 'SIGTERM',
    });
    assert.equal(res.events.length, 2, describeEvents(res.events));
    const stats = closingStats(res.stderr);
    assert.ok(stats, `closing line missing from stderr:\n${res.stderr}`);
    assert.equal(stats.matched, 2);
    assertNoStackTrace(res.stderr);
  });
});

test('reader closes the pipe (like `dropwhy | head -1`): exit code 0, no stack trace', { timeout: scaled(60_000) }, async (t) => {
  if (!requireRealKernel(t)) return;
  await withNetnsPair(async (p) => {
    const dw = await startDropwhy(['-o', 'json', '--filter-netns', p.nsB, '--filter-proto', 'udp']);
    try {
      assert.equal(await sendUdp(p.nsA, p.v4B, 9, 1), 1);
      const lines = await dw.waitForLines(1, 10_000);
      assert.equal(JSON.parse(lines[0]).reason, 'NO_SOCKET');
      dw.child.stdout!.destroy(); // the reader goes away: the tool's next write hits EPIPE
      // keep producing matching drops (bounded) until the tool notices and exits
      for (let i = 0; i < 10 && dw.child.exitCode === null && dw.child.signalCode === null; i++) {
        await sendUdp(p.nsA, p.v4B, 9, 5);
        await sleep(200);
      }
      const res = await dw.waitExit(10_000);
      assert.equal(res.signal, null, `killed by ${res.signal}; stderr:\n${res.stderr}`);
      assert.equal(res.code, 0, `exit code; stderr:\n${res.stderr}`);
      assertNoStackTrace(res.stderr);
      // Every drop the kernel matched was written, not written after the close, or lost: none vanished.
      const stats = closingStats(res.stderr);
      assert.ok(stats, `closing line missing from stderr:\n${res.stderr}`);
      const closed = /dropwhy: output closed: (\d+) drops? read (?:was|were) not written \((\d+) (?:was|were)\)/.exec(res.stderr);
      assert.ok(closed, `output-closed line missing from stderr:\n${res.stderr}`);
      const [unwritten, written] = [Number(closed[1]), Number(closed[2])];
      assert.ok(written >= lines.length, `${written} written, but the reader read ${lines.length}`);
      assert.ok(unwritten >= 1, `the write that found the pipe closed carried a drop:\n${res.stderr}`);
      assert.equal(written + unwritten + stats.lost, stats.matched, res.stderr);
    } finally {
      dw.kill();
    }
  });
});

/** Reads its stdin pipe's buffer size (F_GETPIPE_SZ) once the ready file is there, prints it, then reads to the end. */
const PIPE_SIZE_READER = `
import fcntl, os, sys, time
deadline = time.time() + 30
while not os.path.exists(sys.argv[1]) and time.time() < deadline:
    time.sleep(0.02)
print(fcntl.fcntl(0, 1032), flush=True)
while sys.stdin.buffer.read(65536):
    pass
`;

test('a pipe on standard output is grown to 1 MiB (a reader sharing the CPU then keeps up with a storm)', { timeout: scaled(60_000) }, async (t) => {
  if (!requireRealKernel(t)) return;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dropwhy-pipe-'));
  try {
    const ready = path.join(dir, 'ready');
    // As a user pipes it: the shell makes the pipe, dropwhy's standard output is its write end.
    const script = '"$0" "$1" -o json --filter-proto udp --filter-port 9 --ready-file "$3" --duration 2 | "$2" -c "$4" "$3"';
    const res = await run('bash', ['-c', script, process.execPath, CLI_PATH, python(), ready, PIPE_SIZE_READER], { timeoutMs: 30_000 });
    assert.equal(res.stdout.trim(), String(1 << 20), `the pipe's buffer as its reader saw it; stderr:\n${res.stderr}`);
    assertNoStackTrace(res.stderr);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
