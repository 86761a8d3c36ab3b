// Loading the native addon: a missing build is an EnvironmentError with the
// command that makes it (exit 3 through the one error map), never a require
// stack trace; native errors with a stage become TracerError.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadNativeBinding, toTracerError } from '../../src/kernel/binding';
import { EnvironmentError, TracerError } from '../../src/errors';

test('loadNativeBinding: no addon at the path -> EnvironmentError naming the path and npm run build', () => {
  const dir = mkdtempSync(join(tmpdir(), 'dropwhy-binding-'));
  try {
    const path = join(dir, 'dropwhy.node');
    assert.throws(
      () => loadNativeBinding(path),
      (error: unknown) =>
        error instanceof EnvironmentError &&
        error.message === `the native addon is not built (${path} is missing): run npm run build`,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('toTracerError: an error with a stage becomes a TracerError; anything else passes through', () => {
  const native = Object.assign(new Error('load: Permission denied'), { stage: 'load', errno: 1 });
  const converted = toTracerError(native);
  assert.ok(converted instanceof TracerError);
  assert.deepEqual([converted.stage, converted.errno, converted.message], ['load', 1, 'Permission denied']);
  const plain = new Error('plain');
  assert.equal(toTracerError(plain), plain);
});
