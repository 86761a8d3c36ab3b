// The man page, dropwhy.1: made by the build from the command table --help comes from.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { COMMAND_SPECS, DEFAULT_COMMAND } from '../../src/commands/command-line';
import { REPO_ROOT } from './helpers';

const MAN_PAGE = join(REPO_ROOT, 'dropwhy.1');

test('dropwhy.1 names every command and every option of the command table', () => {
  const page = readFileSync(MAN_PAGE, 'utf8');
  const text = page.replace(/\\-/g, '-').replace(/\\f[BIR]/g, '');
  for (const spec of COMMAND_SPECS) {
    if (spec.name !== DEFAULT_COMMAND) assert.ok(text.includes(`dropwhy ${spec.name}`), `command ${spec.name}`);
    for (const table of spec.options) for (const name of Object.keys(table)) assert.ok(text.includes(`--${name}`), `--${name} (${spec.name})`);
  }
  assert.match(page, /^\.TH DROPWHY 1 /);
  assert.match(text, /^\.SH EXIT STATUS$/m);
});

test('man renders dropwhy.1 without warnings', { skip: spawnSync('man', ['--version']).status !== 0 && 'man is not installed' }, () => {
  const result = spawnSync('man', ['--warnings', '-l', MAN_PAGE], { encoding: 'utf8', env: { ...process.env, MANWIDTH: '80', MANPAGER: 'cat', PAGER: 'cat' } });
  assert.equal(result.status, 0, result.stderr);
  assert.equal(result.stderr, '', 'no warnings');
  assert.match(result.stdout, /^SYNOPSIS$/m);
  assert.match(result.stdout, /--filter-port N/);
  assert.ok(
    result.stdout.split('\n').every((line) => line.length <= 80),
    'fits 80 columns',
  );
});
