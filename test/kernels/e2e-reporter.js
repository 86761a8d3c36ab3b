'use strict';
// A node:test reporter for the kernel matrix's guest (test/kernels/guest.js):
// one JSON object per finished test, so the guest can say which test failed
// and at which assertion without parsing the human reporter's output.
//   {"name":..., "file":..., "ok":true|false, "skip":bool, "unselected":bool, "ms":...,
//    "message": first failing line, "at": "test/e2e/x.test.ts:12"}
const path = require('node:path');

const REPO = path.resolve(__dirname, '..', '..');

/** The failing assertion's line: the first stack frame in a test file, else in the tests' helpers. */
function failingLine(stack) {
  const frames = [...String(stack || '').matchAll(/\(?(\/[^():\s]+):(\d+):\d+\)?$/gm)]
    .map((m) => `${path.relative(REPO, m[1])}:${m[2]}`)
    .filter((frame) => /^(dist\/)?test\//.test(frame));
  return frames.find((frame) => /\.test\.[jt]s:/.test(frame)) || frames[0] || null;
}

/** What went wrong, in one line: the assertion's own message (not node:test's wrapper), with what follows a trailing colon. */
function firstLine(error) {
  const cause = error && error.cause instanceof Error ? error.cause : error;
  const text = String(cause?.message || error?.message || 'failed');
  const lines = text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l);
  if (lines.length === 0) return 'failed';
  return lines[0].endsWith(':') && lines[1] ? `${lines[0]} ${lines[1]}` : lines[0];
}

module.exports = async function* e2eReporter(source) {
  const stderr = new Map(); // file -> its last stderr lines, for a file that fails outside a test
  for await (const event of source) {
    const { type, data } = event;
    if (type === 'test:stderr') {
      const lines = (stderr.get(data.file) || []).concat(
        String(data.message)
          .split('\n')
          .filter((l) => l.trim()),
      );
      stderr.set(data.file, lines.slice(-5));
      continue;
    }
    if (type !== 'test:pass' && type !== 'test:fail') continue;
    const error = data.details?.error;
    const record = {
      name: data.name,
      file: data.file ? path.relative(REPO, data.file) : null,
      ok: type === 'test:pass',
      skip: Boolean(data.skip || data.todo),
      // not selected by the guest's --test-name-pattern: not run, and not a failure
      unselected: data.skip === 'test name does not match pattern',
      ms: Math.round(data.details?.duration_ms || 0),
    };
    if (type === 'test:fail') {
      const cause = error && error.cause instanceof Error ? error.cause : error;
      record.message = firstLine(error);
      // A file that dies outside any test fails as "test failed": its stderr says why.
      if (record.message === 'test failed' && stderr.has(data.file)) record.message = stderr.get(data.file).pop();
      record.at = failingLine(cause?.stack);
    }
    yield `${JSON.stringify(record)}\n`;
  }
};
