import { test } from 'node:test';
import assert from 'node:assert/strict';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import fc from 'fast-check';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fdWriter, LineBuffer } from '../../src/output/writer';

test('LineBuffer: every line, in order, across many encodes and a grown buffer', () => {
  const lines = new LineBuffer('latin1');
  const want: string[] = [];
  for (let i = 0; i < 5000; i++) {
    const line = `{"n":${i},"pad":"${'x'.repeat(300)}"}`;
    want.push(line);
    lines.add(line);
  }
  assert.equal(lines.empty, false);
  const bytes = Buffer.from(lines.take());
  assert.ok(bytes.length > 1 << 20, 'more than the initial 1 MiB');
  assert.equal(bytes.toString('latin1'), want.join('\n') + '\n');
  assert.equal(lines.empty, true);
  assert.equal(lines.take().length, 0);
});

test('LineBuffer: uint and padded write the digits String() and padStart() give, at every digit count', () => {
  const lines = new LineBuffer('latin1');
  const check = (value: number, width: number) => {
    lines.uint(value);
    lines.byte(0x20);
    const small = value % 2 ** 32;
    lines.padded(small, width);
    assert.equal(Buffer.from(lines.take()).toString('latin1'), `${value} ${String(small).padStart(width, '0').slice(-width)}`);
  };
  const edges = Array.from({ length: 10 }, (_, i) => 10 ** i).flatMap((p) => [p - 1, p, p + 1]);
  for (const value of [...edges, 2 ** 32 - 1, 2 ** 32, Number.MAX_SAFE_INTEGER]) for (let width = 1; width <= 10; width++) check(value, width);
  fc.assert(fc.property(fc.oneof(fc.nat({ max: 2 ** 32 - 1 }), fc.maxSafeNat()), fc.integer({ min: 1, max: 10 }), check));
});

test('LineBuffer: utf8 text keeps its characters', () => {
  const lines = new LineBuffer('utf8');
  lines.add('drop by größe[1]');
  lines.add('second');
  assert.equal(Buffer.from(lines.take()).toString('utf8'), 'drop by größe[1]\nsecond\n');
});

test('LineBuffer: utf8() gives what add() gives, after the lines added before it; padTo() pads as padEnd does ASCII', () => {
  const lines = new LineBuffer('utf8', 8); // small: both grow the buffer
  lines.add('größe');
  lines.utf8('日本語 😀 ü');
  const start = lines.position;
  lines.utf8('abc');
  lines.padTo(start, 7);
  lines.byte(0x7c);
  const full = lines.position;
  lines.utf8('too long');
  lines.padTo(full, 3);
  assert.equal(Buffer.from(lines.take()).toString('utf8'), `größe\n日本語 😀 ü${'abc'.padEnd(7)}|too long`);
  fc.assert(
    fc.property(fc.string({ unit: 'grapheme' }), (text) => {
      lines.utf8(text);
      assert.deepEqual(Buffer.from(lines.take()), Buffer.from(text, 'utf8'));
    }),
  );
});

test('fdWriter: writes strings and bytes whole', () => {
  const dir = mkdtempSync(join(tmpdir(), 'dropwhy-output-'));
  const path = join(dir, 'out');
  const fd = openSync(path, 'w');
  const write = fdWriter(fd);
  write('text\n');
  write(Buffer.from('bytes\n'));
  closeSync(fd);
  assert.equal(readFileSync(path, 'utf8'), 'text\nbytes\n');
  rmSync(dir, { recursive: true });
});

test('fdWriter: a closed pipe is OutputClosedError, not EPIPE', () => {
  // A child writes into a pipe whose reader (head) has gone, and reports what it caught.
  const dir = mkdtempSync(join(tmpdir(), 'dropwhy-output-'));
  const report = join(dir, 'report');
  const script = [
    `const { fdWriter, OutputClosedError } = require(${JSON.stringify(require.resolve('../../src/output/writer'))});`,
    `let caught = 'nothing';`,
    `try { for (let i = 0; i < 1000; i++) fdWriter(1)('x'.repeat(65536)); }`,
    `catch (e) { caught = e instanceof OutputClosedError ? 'OutputClosedError' : String(e.code); }`,
    `require('node:fs').writeFileSync(${JSON.stringify(report)}, caught);`,
  ].join('\n');
  const scriptFile = join(dir, 'writer.js');
  writeFileSync(scriptFile, script);
  execFileSync('sh', ['-c', `"${process.execPath}" "${scriptFile}" | head -c 1 >/dev/null`]);
  assert.equal(readFileSync(report, 'utf8'), 'OutputClosedError');
  rmSync(dir, { recursive: true });
});
