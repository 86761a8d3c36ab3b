// Stop signals at every stage of a tracing command, and errors thrown while
// processing what the tracer delivers, through the whole CLI with a fake CliIo.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run } from '../../src/cli';
import { STOP_SIGNALS } from '../../src/signals';
import { EVENT_SIZE } from '../../src/events/layout';
import { cliHarness, encodeCountRecords, encodeEvent, reasonCode, runUntilOpened, waitFor, type CliHarness } from './helpers';

const TIMEOUT = { timeout: 10_000 };
const NO_SOCKET = reasonCode('NO_SOCKET');
const COUNTERS = { seen: 4, matched: 2, lost: 0 };
const closingLine = (seen: number, matched: number, lost: number) => `dropwhy: ${seen} drop${seen === 1 ? '' : 's'} seen, ${matched} matched, ${lost} lost`;
const drop = () => encodeEvent({ reason: NO_SOCKET, saddr: '10.0.0.1', daddr: '10.0.0.2', l4Proto: 'udp', sport: 40000, dport: 53 });

/**
 * Where a command can be when the signal comes. A real signal is dispatched
 * by the event loop, not in the middle of synchronous work: the fake sends it
 * with setImmediate from inside the stage.
 */
type Stage = 'the BTF read' | 'the counter snapshot' | 'the load' | 'tracing';
const STAGES: Stage[] = ['the BTF read', 'the counter snapshot', 'the load', 'tracing'];

function harnessSignalledDuring(stage: Stage, signal: NodeJS.Signals): CliHarness {
  let sent = false;
  const once = () => {
    if (sent) return;
    sent = true;
    setImmediate(() => h.signals.emit(signal));
  };
  const h: CliHarness = cliHarness({
    binding: {
      counters: COUNTERS,
      onBtfQuery: stage === 'the BTF read' ? once : undefined,
      onOpen: stage === 'the load' ? once : undefined,
    },
    readCounters:
      stage === 'the counter snapshot'
        ? async () => {
            once();
            return { counters: new Map([['Udp NoPorts', 7]]), state: null, unread: [] };
          }
        : undefined,
  });
  return h;
}

function withTempDir(t: { after(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'dropwhy-stop-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

const listeners = (h: CliHarness) => STOP_SIGNALS.map((signal) => h.signals.listenerCount(signal));

for (const mode of ['trace', 'summary'] as const) {
  for (const stage of STAGES) {
    for (const signal of STOP_SIGNALS) {
      const loaded = stage === 'the load' || stage === 'tracing';
      test(`${mode}: ${signal} during ${stage}: exit 0, the closing line, ${loaded ? 'the tracer stopped' : 'nothing loaded'}, no ready file left`, TIMEOUT, async (t) => {
        const dir = withTempDir(t);
        // Before the tracer is announced, the ready file must not even be tried: this one is a
        // directory (in a writable one, as the check before the load asks), so writing it would end the run with exit 1.
        const readyFile = join(dir, 'ready');
        if (stage !== 'tracing') mkdirSync(readyFile);
        const argv = [...(mode === 'summary' ? ['summary'] : []), '-o', 'json', '--ready-file', readyFile];
        const h = harnessSignalledDuring(stage, signal);
        t.after(() => h.stop());
        let done: Promise<number>;
        if (stage === 'tracing') {
          ({ done } = await runUntilOpened(argv, h));
          await waitFor(() => existsSync(readyFile), 'the ready file');
          h.signals.emit(signal);
        } else {
          done = run(argv, h.io);
        }

        assert.equal(await done, 0, h.err.join(' | '));
        assert.deepEqual(h.err, [loaded ? closingLine(4, 2, 0) : closingLine(0, 0, 0)]);
        assert.equal(h.binding.opened.length, loaded ? 1 : 0, 'tracers opened');
        assert.equal(h.binding.stopCalls, loaded ? 1 : 0, 'tracers stopped');
        if (stage === 'tracing') assert.equal(existsSync(readyFile), false, 'the ready file outlived the run');
        if (stage === 'the BTF read') assert.ok(h.binding.btfQueries.length > 0);
        // Nothing was traced after the snapshot: the counters are not read again, nor compared.
        if (stage === 'the counter snapshot') assert.equal(h.counterReads.length, 1);
        if (mode === 'summary') {
          const records = h.records();
          const total = records[records.length - 1];
          assert.equal(total.type, 'total');
          assert.deepEqual(total.drops, []);
          assert.equal(total.matched, loaded ? 2 : 0);
        }
        assert.deepEqual(listeners(h), [0, 0, 0], 'listeners left on the signals');
      });
    }
  }
}

test('the stop signals are listened for until the closing line is written: a second Ctrl-C while stopping changes nothing', TIMEOUT, async () => {
  const h = cliHarness({ binding: { counters: COUNTERS } });
  const atClosing: number[][] = [];
  const writeErr = h.io.writeErr;
  h.io.writeErr = (line) => {
    atClosing.push(listeners(h));
    writeErr(line);
  };
  const { done } = await runUntilOpened(['-o', 'json'], h);
  void h.binding.whenStopped().then(() => h.signals.emit('SIGINT'));
  h.signals.emit('SIGINT');
  assert.equal(await done, 0);
  assert.deepEqual(h.err, [closingLine(4, 2, 0)]);
  assert.deepEqual(atClosing, [[1, 1, 1]]);
  assert.equal(h.binding.stopCalls, 1);
});

test('--count reached: the ready file is removed too', TIMEOUT, async (t) => {
  const readyFile = join(withTempDir(t), 'ready');
  const h = cliHarness();
  const { done } = await runUntilOpened(['-o', 'json', '--count', '1', '--ready-file', readyFile], h);
  await waitFor(() => existsSync(readyFile), 'the ready file');
  h.binding.push(drop());
  assert.equal(await done, 0);
  assert.equal(h.records().length, 1);
  assert.equal(existsSync(readyFile), false);
});

// ---------------------------------------------------------------------------
// Errors while processing a batch or a summary interval
// ---------------------------------------------------------------------------

const KALLSYMS_ERROR = "ENOENT: no such file or directory, open '/proc/kallsyms'";

function assertOneErrorLine(h: CliHarness, closing: string, error: string): void {
  assert.deepEqual(h.err, [closing, `dropwhy: ${error}`]);
  for (const line of [...h.err, ...h.out]) assert.ok(!/^\s+at /m.test(line), `stack trace in output: ${line}`);
}

test('kallsyms cannot be read at the first drop: the session stops, exit 1 with one line, later batches are ignored', TIMEOUT, async () => {
  const h = cliHarness({ binding: { counters: COUNTERS }, symbolsError: new Error(KALLSYMS_ERROR) });
  const { done } = await runUntilOpened(['-o', 'json'], h);
  // Before, the throw went back through the addon's call as an uncaught exception.
  assert.doesNotThrow(() => h.binding.push(drop()));
  assert.doesNotThrow(() => h.binding.push(drop()));
  assert.equal(await done, 1);
  assertOneErrorLine(h, closingLine(4, 2, 0), KALLSYMS_ERROR);
  assert.equal(h.symbolsLoads, 1, 'no second try after the session stopped');
  assert.equal(h.stdout(), '');
  assert.equal(h.binding.stopCalls, 1);
});

test('a batch that is not whole events (a decode error): exit 1 with one line, tracer stopped', TIMEOUT, async () => {
  const h = cliHarness({ binding: { counters: COUNTERS } });
  const { done } = await runUntilOpened([], h);
  assert.doesNotThrow(() => h.binding.push(Buffer.alloc(50)));
  assert.equal(await done, 1);
  assertOneErrorLine(h, closingLine(4, 2, 0), `batch of 50 bytes is not a whole number of ${EVENT_SIZE}-byte records`);
  assert.equal(h.binding.stopCalls, 1);
});

const COUNTED = encodeCountRecords([{ reason: NO_SOCKET, family: 4, l4Proto: 'udp', count: 3 }]);

test('summary: kallsyms cannot be read at an interval: exit 1 with one line after the closing line', TIMEOUT, async () => {
  const h = cliHarness({ binding: { counters: COUNTERS, dropCounts: COUNTED }, symbolsError: new Error(KALLSYMS_ERROR) });
  assert.equal(await run(['summary', '-o', 'json', '--interval', '0.02'], h.io), 1);
  assertOneErrorLine(h, closingLine(4, 2, 0), KALLSYMS_ERROR);
  assert.equal(h.binding.stopCalls, 1);
});

test('summary: kallsyms cannot be read for the totals (stopped before the first interval): the closing line still comes, then the error', TIMEOUT, async () => {
  const h = cliHarness({ binding: { counters: COUNTERS, dropCounts: COUNTED }, symbolsError: new Error(KALLSYMS_ERROR) });
  const { done } = await runUntilOpened(['summary', '-o', 'json', '--interval', '60'], h);
  h.signals.emit('SIGINT');
  assert.equal(await done, 1);
  assertOneErrorLine(h, closingLine(4, 2, 0), KALLSYMS_ERROR);
});
