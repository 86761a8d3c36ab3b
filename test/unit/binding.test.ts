// Finding and loading the native addon (src/kernel/addon-loader.ts) with an
// injected require: the search order, and every failed load as one line with
// what to do, an AddonError (exit 3 through the one error map), never a dlopen
// stack trace. Native errors with a stage become TracerError.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadNativeBinding, toTracerError } from '../../src/kernel/binding';
import { AddonError, loadAddon, loadFailure } from '../../src/kernel/addon-loader';
import { describe, EnvironmentError, exitCodeFor, EXIT, TracerError } from '../../src/errors';

const ROOT = '/pkg';
const LOCAL = '/pkg/build/native/Release/dropwhy.node';
const PREBUILD = '/pkg/prebuilds/linux-x64/dropwhy.node';
const REBUILD = /^build it from source with DROPWHY_BUILD_FROM_SOURCE=1 npm rebuild dropwhy/;

/** A require that finds only `present`, each loading as its value (an Error value is thrown, as dlopen fails). */
function fakeRequire(present: Record<string, unknown>) {
  const tried: string[] = [];
  const requireAddon = (path: string) => {
    tried.push(path);
    if (!(path in present)) throw Object.assign(new Error(`Cannot find module '${path}'`), { code: 'MODULE_NOT_FOUND' });
    const value = present[path];
    if (value instanceof Error) throw value;
    return value;
  };
  return { requireAddon, tried };
}

const dlopenError = (message: string) => Object.assign(new Error(message), { code: 'ERR_DLOPEN_FAILED' });

const search = (present: Record<string, unknown>, env: NodeJS.ProcessEnv = {}, platform = 'linux-x64') => {
  const fake = fakeRequire(present);
  return { fake, options: { env, root: ROOT, platform, requireAddon: fake.requireAddon } };
};

test('loadAddon: a local build comes before the prebuild, and the prebuild is used when there is no local build', () => {
  const both = search({ [LOCAL]: 'local', [PREBUILD]: 'prebuilt' });
  assert.deepEqual(loadAddon(both.options), { addon: 'local', path: LOCAL });
  assert.deepEqual(both.fake.tried, [LOCAL]);
  const prebuildOnly = search({ [PREBUILD]: 'prebuilt' });
  assert.deepEqual(loadAddon(prebuildOnly.options), { addon: 'prebuilt', path: PREBUILD });
  assert.deepEqual(prebuildOnly.fake.tried, [LOCAL, PREBUILD]);
});

test('loadAddon: DROPWHY_ADDON is the only file tried; when it does not exist, the line names it', () => {
  const explicit = search({ '/opt/dropwhy.node': 'explicit', [LOCAL]: 'local' }, { DROPWHY_ADDON: '/opt/dropwhy.node' });
  assert.deepEqual(loadAddon(explicit.options), { addon: 'explicit', path: '/opt/dropwhy.node' });
  const missing = search({ [LOCAL]: 'local' }, { DROPWHY_ADDON: '/opt/none.node' });
  assert.throws(
    () => loadAddon(missing.options),
    (error: unknown) => error instanceof AddonError && describe(error) === 'DROPWHY_ADDON names /opt/none.node, which does not exist: point it at a dropwhy.node or unset it',
  );
  assert.deepEqual(missing.fake.tried, ['/opt/none.node']);
});

test('loadAddon: no prebuild for this platform and no local build -> one line naming both files and how to build', () => {
  const { options } = search({ [PREBUILD]: 'prebuilt' }, {}, 'linux-arm64');
  assert.throws(
    () => loadAddon(options),
    (error: unknown) =>
      error instanceof AddonError &&
      error.path === null &&
      error.problem === `no native addon for linux-arm64 (neither ${LOCAL} nor /pkg/prebuilds/linux-arm64/dropwhy.node exists)` &&
      REBUILD.test(error.fix) &&
      exitCodeFor(error) === EXIT.environment,
  );
});

test('loadAddon: in a git checkout the fix is npm run build', () => {
  const root = mkdtempSync(join(tmpdir(), 'dropwhy-checkout-'));
  try {
    writeFileSync(join(root, '.git'), 'gitdir: elsewhere\n'); // a worktree's .git is a file
    const { requireAddon } = fakeRequire({});
    assert.throws(
      () => loadAddon({ env: {}, root, platform: 'linux-x64', requireAddon }),
      (error: unknown) => error instanceof AddonError && error.fix === 'run npm run build',
    );
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('loadFailure: a missing runtime library -> the Debian/Ubuntu and Fedora/RHEL package to install, one line, exit 3', () => {
  const cases: Array<[string, string]> = [
    ['libbpf.so.1: cannot open shared object file: No such file or directory', 'install libbpf1 (Debian/Ubuntu) or libbpf (Fedora/RHEL)'],
    ['libelf.so.1: cannot open shared object file: No such file or directory', 'install libelf1 (Debian/Ubuntu) or elfutils-libelf (Fedora/RHEL)'],
    ['libpcap.so.0.8: cannot open shared object file: No such file or directory', 'install libpcap0.8 (Debian/Ubuntu) or libpcap (Fedora/RHEL)'],
    ['libz.so.1: cannot open shared object file: No such file or directory', 'install zlib1g (Debian/Ubuntu) or zlib (Fedora/RHEL)'],
    ['libstdc++.so.6: cannot open shared object file: No such file or directory', 'install the package that provides libstdc++.so.6'],
  ];
  for (const [message, fix] of cases) {
    const library = message.split(':')[0];
    const { options } = search({ [PREBUILD]: dlopenError(message) });
    assert.throws(
      () => loadAddon(options),
      (error: unknown) =>
        error instanceof AddonError &&
        error.library === library &&
        error.path === PREBUILD &&
        describe(error) === `the native addon needs ${library}, which is not installed: ${fix}` &&
        exitCodeFor(error) === EXIT.environment,
      message,
    );
  }
});

test('loadFailure: any other load failure -> one line with the first line of the error and how to rebuild', () => {
  for (const message of [
    "/lib/x86_64-linux-gnu/libstdc++.so.6: version `GLIBCXX_3.4.30' not found (required by /pkg/prebuilds/linux-x64/dropwhy.node)",
    '/pkg/prebuilds/linux-x64/dropwhy.node: invalid ELF header',
    'Module did not self-register: /pkg/prebuilds/linux-x64/dropwhy.node.\n    at Module._extensions..node',
  ]) {
    const error = loadFailure(dlopenError(message), PREBUILD, 'run npm run build');
    assert.equal(error.library, null);
    assert.equal(describe(error), `the native addon ${PREBUILD} does not load here (${message.split('\n')[0]}): run npm run build`);
    assert.ok(!describe(error).includes('\n'));
    assert.ok(error instanceof EnvironmentError);
  }
});

test('loadNativeBinding: no addon anywhere -> AddonError, nothing else thrown', () => {
  const root = mkdtempSync(join(tmpdir(), 'dropwhy-binding-'));
  try {
    assert.throws(() => loadNativeBinding({ env: {}, root, platform: 'linux-x64' }), AddonError);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('loadNativeBinding: the binding names the file it loaded', () => {
  const raw = { Tracer: class {}, probeRingbuf: () => 0, libbpfVersion: 'v1.4', btfMembers: () => null };
  const { options } = search({ [PREBUILD]: raw });
  const binding = loadNativeBinding(options);
  assert.equal(binding.addonPath, PREBUILD);
  assert.equal(binding.libbpfVersion, 'v1.4');
});

test('toTracerError: an error with a stage becomes a TracerError; anything else passes through', () => {
  const native = Object.assign(new Error('load: Permission denied'), { stage: 'load', errno: 1 });
  const converted = toTracerError(native);
  assert.ok(converted instanceof TracerError);
  assert.deepEqual([converted.stage, converted.errno, converted.message], ['load', 1, 'Permission denied']);
  const plain = new Error('plain');
  assert.equal(toTracerError(plain), plain);
});
