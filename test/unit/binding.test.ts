// Finding and loading the native addon (src/kernel/addon-loader.ts) with an
// injected require: the search order, and every failed load as one line with
// what to do, an AddonError (exit 3 through the one error map), never a dlopen
// stack trace. The addon creates its native errors as TracerError, handed to it at load.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadNativeBinding, type NativeBinding } from '../../src/kernel/binding';
import { AddonError, loadAddon, loadFailure } from '../../src/kernel/addon-loader';
import { describe, EnvironmentError, exitCodeFor, EXIT, TracerError } from '../../src/errors';
import { lowerFilter } from '../../src/events/filter';
import { decodeCounters } from '../../src/events/counts';
import { DecodeError } from '../../src/events/decode';
import { COUNTERS, COUNTERS_SIZE, STRUCT_SIZES } from '../../src/events/layout';

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
  const raw = { setErrorConstructor() {}, Tracer: class {}, probeRingbuf: () => 0, libbpfVersion: 'v1.4', btfMembers: () => null, structSizes: STRUCT_SIZES };
  const { options } = search({ [PREBUILD]: raw });
  const binding = loadNativeBinding(options);
  assert.equal(binding.addonPath, PREBUILD);
  assert.equal(binding.libbpfVersion, 'v1.4');
});

test('loadNativeBinding: an addon built from another bpf/event.h -> one line naming the structs that differ, exit 3', () => {
  const stale = { Tracer: class {}, libbpfVersion: 'v1.4', structSizes: { ...STRUCT_SIZES, drop_event: STRUCT_SIZES.drop_event - 8 } };
  const { options } = search({ [PREBUILD]: stale });
  assert.throws(
    () => loadNativeBinding(options),
    (error: unknown) =>
      error instanceof AddonError &&
      error.path === PREBUILD &&
      error.problem ===
        `the native addon ${PREBUILD} was built from another bpf/event.h (struct drop_event: ${STRUCT_SIZES.drop_event - 8} bytes there, ${STRUCT_SIZES.drop_event} here)` &&
      REBUILD.test(error.fix) &&
      exitCodeFor(error) === EXIT.environment,
  );
  const older = search({ [PREBUILD]: { Tracer: class {}, libbpfVersion: 'v1.4' } });
  assert.throws(() => loadNativeBinding(older.options), /struct drop_event: unknown there/, 'an addon from before the sizes were exported');
});

test('loadNativeBinding: hands TracerError to the addon, which creates its failures in it', () => {
  const given: unknown[] = [];
  const raw = { setErrorConstructor: (errorClass: unknown) => given.push(errorClass), Tracer: class {}, libbpfVersion: 'v1.4', structSizes: STRUCT_SIZES };
  loadNativeBinding(search({ [PREBUILD]: raw }).options);
  assert.deepEqual(given, [TracerError]);
});

/** The built addon, or why this test cannot use it (not root; not built, as on a fresh clone before npm run build). */
function builtAddon(): NativeBinding | string {
  if (process.getuid?.() !== 0) return 'needs root (loads a BPF program)';
  try {
    return loadNativeBinding();
  } catch (error) {
    return describe(error);
  }
}

const built = builtAddon();
test('the built addon: a stage that fails throws a TracerError with the stage, the errno and its text', { skip: typeof built === 'string' && built }, () => {
  const binding = built as NativeBinding;
  const options = { config: lowerFilter({}, 1 << 16), ringBytes: 1 << 20, commandCgroup: null, stackEntries: 1, onBatch() {}, onError() {}, onLog() {} };
  // The count map with no room: the kernel refuses to create it when the program is loaded.
  assert.throws(
    () => binding.openTracer({ ...options, countEntries: 0 }),
    (error: unknown) => error instanceof TracerError && error.stage === 'load' && error.errno === 22 && error.message === 'Invalid argument',
  );
});

/** Per-CPU struct drop_counters as the addon returns them: one record per CPU of these fields. */
function perCpuCounters(cpus: Array<Partial<Record<keyof typeof COUNTERS, bigint>>>): Buffer {
  const bytes = Buffer.alloc(cpus.length * COUNTERS_SIZE);
  cpus.forEach((fields, cpu) => {
    for (const [name, value] of Object.entries(fields)) bytes.writeBigUInt64LE(value, cpu * COUNTERS_SIZE + COUNTERS[name as keyof typeof COUNTERS]);
  });
  return bytes;
}

test("openTracer: counters() and stop() sum the addon's per-CPU drop_counters under the user's names; unwoken_bytes is not one", async () => {
  const perCpu = perCpuCounters([
    { seen: 5n, matched: 3n, lost: 1n, overflow: 2n, unrecorded_flows: 7n, stack_missed: 11n, packet_unread: 13n, unwoken_bytes: 4096n },
    { seen: 2n ** 40n, matched: 1n, lost: 2n, overflow: 3n, unrecorded_flows: 4n, stack_missed: 5n, packet_unread: 6n, unwoken_bytes: 512n },
  ]);
  class Tracer {
    counters = () => perCpu;
    stop = async () => perCpu.subarray(0, COUNTERS_SIZE);
  }
  const raw = { setErrorConstructor() {}, Tracer, libbpfVersion: 'v1.4', structSizes: STRUCT_SIZES };
  const tracer = loadNativeBinding(search({ [PREBUILD]: raw }).options).openTracer({} as never);
  assert.deepEqual(tracer.counters(), { seen: 2 ** 40 + 5, matched: 4, lost: 3, overflow: 5, unrecordedFlows: 11, stackMissed: 16, packetUnread: 19 });
  assert.deepEqual(await tracer.stop(), { seen: 5, matched: 3, lost: 1, overflow: 2, unrecordedFlows: 7, stackMissed: 11, packetUnread: 13 });
});

test('decodeCounters: no CPU read is all zero; a partial struct is a DecodeError', () => {
  assert.deepEqual(decodeCounters(Buffer.alloc(0)), { seen: 0, matched: 0, lost: 0, overflow: 0, unrecordedFlows: 0, stackMissed: 0, packetUnread: 0 });
  assert.throws(() => decodeCounters(Buffer.alloc(COUNTERS_SIZE + 8)), DecodeError);
});
