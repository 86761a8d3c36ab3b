// scripts/install-addon.js, npm's install script, in a source tree that is not a git checkout: the
// copy Vagrant rsyncs into a VM and a container build COPYs leave .git and dist/ out. Before
// dist/ exists, npm ci there must go on to npm run build, not take the tree for an installed package.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';

const ROOT = join(__dirname, '..', '..', '..');
/** What neither an rsync into a VM nor a container build carries over. */
const LEFT_OUT = new Set(['.git', 'node_modules', 'dist', 'build', 'prebuilds', 'coverage', '.vagrant']);

test('install script in a copy of the source tree without .git and dist: exit 0, nothing on stderr, nothing built', (t) => {
  const copy = mkdtempSync(join(tmpdir(), 'dropwhy-source-copy-'));
  t.after(() => rmSync(copy, { recursive: true, force: true }));
  cpSync(ROOT, copy, { recursive: true, filter: (path) => path === ROOT || !LEFT_OUT.has(basename(path)) });
  assert.ok(existsSync(join(copy, 'scripts', 'install-addon.js')) && !existsSync(join(copy, '.git')) && !existsSync(join(copy, 'dist')));

  const env = { ...process.env };
  delete env.DROPWHY_BUILD_FROM_SOURCE;
  const run = spawnSync(process.execPath, ['scripts/install-addon.js'], { cwd: copy, env, encoding: 'utf8', timeout: 60_000 });
  assert.equal(run.status, 0, `exit ${run.status}; stderr:\n${run.stderr}`);
  assert.equal(run.stderr, '');
  assert.equal(existsSync(join(copy, 'build')), false, 'a source tree is built by npm run build, not by the install script');
});
