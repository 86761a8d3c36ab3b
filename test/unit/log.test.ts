// Log lines on stderr: `dropwhy: ...` for people by default, pino's NDJSON with --log-format json.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createLogger, textLogLine } from '../../src/log';
import { cliHarness, runNoTrace, runUntilOpened } from './helpers';

function logged(level: string, format: 'text' | 'json', log: (logger: ReturnType<typeof createLogger>) => void): string[] {
  const lines: string[] = [];
  log(createLogger(level, format, (line) => void lines.push(line)));
  return lines;
}

test('text logs read like dropwhy\'s messages: "dropwhy: ..."; levels below the chosen one are left out', () => {
  const lines = logged('warn', 'text', (logger) => {
    logger.warn("cannot read the namespace's counters: no such namespace");
    logger.info('attached to skb:kfree_skb');
    logger.error('it broke');
  });
  assert.deepEqual(lines, ["dropwhy: cannot read the namespace's counters: no such namespace\n", 'dropwhy: error: it broke\n']);
});

test('text logs at debug name the level and keep the fields as JSON', () => {
  const lines = logged('debug', 'text', (logger) => logger.debug({ source: 'libbpf', libbpfLevel: 2 }, 'libbpf: loading'));
  assert.deepEqual(lines, ['dropwhy: debug: libbpf: loading {"source":"libbpf","libbpfLevel":2}\n']);
});

test("--log-format json: pino's records, with their numeric levels", () => {
  const lines = logged('warn', 'json', (logger) => logger.warn('outlived SIGTERM'));
  assert.equal(lines.length, 1);
  const record = JSON.parse(lines[0]) as Record<string, unknown>;
  assert.equal(record.level, 40);
  assert.equal(record.msg, 'outlived SIGTERM');
});

test('textLogLine: an unknown level is still one line', () => {
  assert.equal(textLogLine({ level: 99, msg: 'x' }), 'dropwhy: log: x');
});

test('the CLI asks for text logs unless --log-format json', { timeout: 10_000 }, async (t) => {
  for (const [argv, format] of [
    [[], 'text'],
    [['--log-format', 'json'], 'json'],
  ] as const) {
    const h = cliHarness();
    t.after(() => h.stop());
    const { done } = await runUntilOpened([...argv], h);
    h.stop();
    assert.equal(await done, 0);
    assert.deepEqual(h.loggerFormats, [format]);
  }
});

test('--log-format other than text or json: exit 2, the flag named', { timeout: 10_000 }, async () => {
  const h = cliHarness();
  assert.equal(await runNoTrace(['--log-format', 'xml'], h), 2);
  assert.equal(h.err[0], 'dropwhy: --log-format: expected text or json, got "xml"');
  assert.equal(h.bindingCalls, 0);
});
