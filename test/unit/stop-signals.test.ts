// Stop signals at every stage of a tracing command, through the whole CLI with a fake CliIo.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run } from '../../src/cli';
import { STOP_SIGNALS } from '../../src/session';
import {
  cliHarness,
  encodeEvent,
  reasonCode,
  runUntilOpened,
  waitFor,
  type CliHarness,
} from './helpers';

const TIMEOUT = { timeout: 10_000 };
const NO_SOCKET = reasonCode('NO_SOCKET');
const COUNTERS = { seen: 4, matched: 2, lost: 0 };
const closingLine = (seen: number, matched: number, lost: number) => `dropwhy: ${seen} drops seen, ${matched} matched, ${lost} lost`;
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
            return new Map([['Udp NoPorts', 7]]);
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
        // Before the tracer is announced, the ready file must not even be tried:
        // this one's directory does not exist, so writing it would end the run with exit 1.
        const readyFile = stage === 'tracing' ? join(dir, 'ready') : join(dir, 'no', 'such', 'dir', 'ready');
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
        assert.equal(existsSync(readyFile), false, 'the ready file outlived the run');
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
