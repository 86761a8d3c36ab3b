// Every command that needs the native addon ends with the loader's one line
// and exit 3 when it cannot be loaded (here: libbpf.so.1 missing); doctor
// shows it as a failed check; explain works without it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { type AddonError, loadFailure } from '../../src/kernel/addon-loader';
import { cliHarness, runNoTrace } from './helpers';

const PREBUILD = '/pkg/prebuilds/linux-x64/dropwhy.node';
const missingLibbpf = (): AddonError => loadFailure(new Error('libbpf.so.1: cannot open shared object file: No such file or directory'), PREBUILD, 'run npm run build');
const LINE = 'dropwhy: the native addon needs libbpf.so.1, which is not installed: install libbpf1 (Debian/Ubuntu) or libbpf (Fedora/RHEL)';

for (const argv of [[], ['summary'], ['selftest']]) {
  test(`dropwhy ${argv.join(' ') || '(trace)'} without libbpf: the one line, exit 3, nothing traced`, async (t) => {
    let selftestRan = false;
    const h = cliHarness({ bindingError: missingLibbpf() });
    h.io.selftest = async () => (selftestRan = true);
    t.after(() => h.stop());
    assert.equal(await runNoTrace(argv, h), 3);
    assert.deepEqual(h.err, [LINE]);
    assert.deepEqual(h.out, []);
    assert.equal(h.bindingCalls, 1);
    assert.equal(selftestRan, false);
  });
}

test('dropwhy doctor without libbpf: the libraries check is MISSING with the packages, exit 3', async (t) => {
  const h = cliHarness({ bindingError: missingLibbpf() });
  t.after(() => h.stop());
  assert.equal(await runNoTrace(['doctor'], h), 3);
  assert.deepEqual(h.err, []);
  const lines = h.stdout().split('\n');
  assert.ok(lines.includes(`ok       native addon  ${PREBUILD}`), h.stdout());
  const missing = lines.indexOf('MISSING  libraries     the native addon needs libbpf.so.1, which is not installed');
  assert.ok(missing > 0, h.stdout());
  assert.equal(lines[missing + 1], '                       → install libbpf1 (Debian/Ubuntu) or libbpf (Fedora/RHEL)');
});

test('dropwhy explain without libbpf: exit 0, the explanation', async (t) => {
  const h = cliHarness({ bindingError: missingLibbpf() });
  t.after(() => h.stop());
  assert.equal(await runNoTrace(['explain', 'NO_SOCKET'], h), 0);
  assert.match(h.stdout(), /^NO_SOCKET: /);
  assert.deepEqual(h.err, []);
});
