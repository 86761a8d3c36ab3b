// scripts/kernels/fetch.sh, the kernel matrix's downloader, against a stub
// apt (apt-get and apt-cache on PATH serving packages built here with
// dpkg-deb): a cold cache downloads and unpacks, a warm one does neither, and
// every failure ends with one "fetch.sh: ..." line that says why.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const FETCH = resolve(__dirname, '../../../scripts/kernels/fetch.sh');
const KVER = '6.1.0-99-amd64';
const IMAGE = `linux-image-${KVER}`;
const MODULES = `linux-modules-${KVER}`;
const VERSION = '6.1.123-1';

/**
 * The stub archive: linux-image-amd64 depends on IMAGE, which holds the
 * kernel and depends on MODULES, which holds lib/modules (the split newer
 * Debian kernels use). Both are real .deb files.
 */
function makeArchive(root: string): string {
  const archive = join(root, 'archive');
  mkdirSync(archive, { recursive: true });
  const build = (name: string, files: Record<string, string>) => {
    const dir = join(root, 'build', name);
    mkdirSync(join(dir, 'DEBIAN'), { recursive: true });
    writeFileSync(join(dir, 'DEBIAN', 'control'), `Package: ${name}\nVersion: ${VERSION}\nArchitecture: amd64\nMaintainer: test <t@example.invalid>\nDescription: stub\n`);
    for (const [path, content] of Object.entries(files)) {
      mkdirSync(join(dir, path, '..'), { recursive: true });
      writeFileSync(join(dir, path), content);
    }
    const res = spawnSync('dpkg-deb', ['--build', '--root-owner-group', dir, join(archive, `${name}_${VERSION}_amd64.deb`)], { encoding: 'utf8' });
    assert.equal(res.status, 0, res.stderr);
  };
  build(IMAGE, { [`boot/vmlinuz-${KVER}`]: 'stub kernel image\n' });
  build(MODULES, { [`lib/modules/${KVER}/modules.builtin`]: 'kernel/fs/9p/9p.ko\n' });
  return archive;
}

/** apt-get and apt-cache for the stub archive; each call is appended to calls.log. */
function makeStubApt(root: string, archive: string): string {
  const bin = join(root, 'bin');
  mkdirSync(bin, { recursive: true });
  const stub = (name: string, body: string) => {
    writeFileSync(join(bin, name), `#!/bin/bash\necho "${name} $*" >>"$STUB_CALLS"\n${body}`);
    chmodSync(join(bin, name), 0o755);
  };
  stub(
    'apt-get',
    `case "$1" in
  update) if [ -n "\${STUB_UPDATE_FAILS:-}" ]; then echo "E: Failed to fetch http://stub.invalid/debian/dists/$STUB_SUITE/InRelease  Could not resolve 'stub.invalid'" >&2; exit 100; fi ;;
  download)
    spec=\${@: -1}
    if [ -n "\${STUB_DOWNLOAD_FAILS:-}" ]; then echo "E: Failed to fetch http://stub.invalid/debian/pool/\${spec%%=*}.deb  404  Not Found" >&2; exit 100; fi
    cp "${archive}/\${spec%%=*}_\${spec#*=}_amd64.deb" . ;;
esac
`,
  );
  stub(
    'apt-cache',
    `case "$1 $2" in
  "policy ${IMAGE}" | "policy ${MODULES}") printf '%s:\\n  Installed: (none)\\n  Candidate: ${VERSION}\\n' "$2" ;;
  "policy "*) printf '%s:\\n  Installed: (none)\\n  Candidate: (none)\\n' "$2" ;;
  "depends linux-image-amd64") printf 'linux-image-amd64\\n  Depends: ${IMAGE}\\n' ;;
  "depends ${IMAGE}=${VERSION}") printf '${IMAGE}\\n  Depends: ${MODULES}\\n  Depends: kmod\\n' ;;
  "pkgnames linux-image-") printf '${IMAGE}\\nlinux-image-amd64\\n' ;;
esac
`,
  );
  return bin;
}

interface Fixture {
  root: string;
  cache: string;
  run(env?: Record<string, string>, args?: string[]): { status: number | null; stdout: string; stderr: string };
  calls(): string[];
}

function fixture(): Fixture {
  const root = mkdtempSync(join(tmpdir(), 'dropwhy-fetch-'));
  const archive = makeArchive(root);
  const bin = makeStubApt(root, archive);
  const cache = join(root, 'cache'); // does not exist yet: a brand-new machine
  const calls = join(root, 'calls.log');
  writeFileSync(join(root, 'keyring.gpg'), '');
  return {
    root,
    cache,
    run: (env = {}, args = ['bookworm']) => {
      writeFileSync(calls, '');
      const res = spawnSync('bash', [FETCH, ...args], {
        encoding: 'utf8',
        timeout: 60_000,
        env: {
          PATH: `${bin}:${process.env.PATH}`,
          HOME: join(root, 'home'),
          DROPWHY_KERNEL_CACHE: cache,
          DROPWHY_DEBIAN_MIRROR: 'http://stub.invalid/debian',
          DROPWHY_DEBIAN_KEYRING: join(root, 'keyring.gpg'),
          STUB_CALLS: calls,
          STUB_SUITE: args[0],
          ...env,
        },
      });
      return { status: res.status, stdout: res.stdout, stderr: res.stderr };
    },
    calls: () =>
      readFileSync(calls, 'utf8')
        .split('\n')
        .filter((l) => l !== ''),
  };
}

const downloads = (f: Fixture) => f.calls().filter((c) => c.startsWith('apt-get download'));
/** The assignments fetch.sh prints, as a map (the values are %q-quoted; these need no quoting). */
const assignments = (stdout: string) =>
  Object.fromEntries(
    stdout
      .trim()
      .split('\n')
      .map((l) => l.split('=', 2) as [string, string]),
  );
const lastLine = (text: string) => text.trimEnd().split('\n').at(-1) ?? '';

test('fetch.sh with an empty cache: downloads the image and its modules package, unpacks both, prints where they are', () => {
  const f = fixture();
  try {
    const res = f.run();
    assert.equal(res.status, 0, res.stderr);
    const out = assignments(res.stdout);
    const tree = join(f.cache, 'trees', `${IMAGE}_${VERSION}`);
    assert.deepEqual(out, {
      KERNEL_PKG: IMAGE,
      KERNEL_VERSION: VERSION,
      KERNEL_SUITE: 'bookworm',
      KVER,
      VMLINUZ: join(tree, 'boot', `vmlinuz-${KVER}`),
      MODDIR: join(tree, 'lib', 'modules', KVER),
    });
    assert.equal(readFileSync(out.VMLINUZ, 'utf8'), 'stub kernel image\n');
    assert.ok(existsSync(join(out.MODDIR, 'modules.builtin')));
    assert.deepEqual(downloads(f), [`apt-get download -qq ${IMAGE}=${VERSION}`, `apt-get download -qq ${MODULES}=${VERSION}`]);
    assert.match(res.stderr, new RegExp(`^fetch.sh: downloading ${IMAGE} ${VERSION} \\(bookworm\\)$`, 'm'));
    assert.deepEqual(readdirSync(join(f.cache, 'debs')).sort(), [`${IMAGE}_${VERSION}_amd64.deb`, `${MODULES}_${VERSION}_amd64.deb`]);
  } finally {
    rmSync(f.root, { recursive: true, force: true });
  }
});

test('fetch.sh with a warm cache: nothing downloaded; with only the .debs cached: unpacked again, nothing downloaded', () => {
  const f = fixture();
  try {
    const cold = f.run();
    assert.equal(cold.status, 0, cold.stderr);
    const warm = f.run();
    assert.equal(warm.status, 0, warm.stderr);
    assert.equal(warm.stdout, cold.stdout);
    assert.deepEqual(downloads(f), []);

    rmSync(join(f.cache, 'trees'), { recursive: true });
    const debsOnly = f.run();
    assert.equal(debsOnly.status, 0, debsOnly.stderr);
    assert.equal(debsOnly.stdout, cold.stdout);
    assert.deepEqual(downloads(f), []);
    assert.match(debsOnly.stderr, new RegExp(`^fetch.sh: unpacking ${IMAGE}_${VERSION}_amd64.deb$`, 'm'));
  } finally {
    rmSync(f.root, { recursive: true, force: true });
  }
});

test('fetch.sh failures end with one line that says why, and leave no partial download or tree', () => {
  const f = fixture();
  try {
    const download = f.run({ STUB_DOWNLOAD_FAILS: '1' });
    assert.equal(download.status, 1);
    assert.equal(
      lastLine(download.stderr),
      `fetch.sh: apt-get download ${IMAGE}=${VERSION} failed: E: Failed to fetch http://stub.invalid/debian/pool/${IMAGE}.deb  404  Not Found`,
    );
    assert.deepEqual(readdirSync(join(f.cache, 'debs')), []);
    assert.deepEqual(readdirSync(join(f.cache, 'trees')), []);

    const update = f.run({ STUB_UPDATE_FAILS: '1' });
    assert.equal(update.status, 1);
    assert.equal(
      lastLine(update.stderr),
      'fetch.sh: apt-get update for suite bookworm from http://stub.invalid/debian failed and nothing is cached: ' +
        "E: Failed to fetch http://stub.invalid/debian/dists/bookworm/InRelease  Could not resolve 'stub.invalid'",
    );

    const missing = f.run({}, ['bookworm', '^linux-image-9\\.9']);
    assert.equal(missing.status, 1);
    assert.equal(lastLine(missing.stderr), 'fetch.sh: no package matching /^linux-image-9\\.9/ in bookworm');

    // An unexpected failure (the cache cannot be created) still names the command that failed.
    writeFileSync(join(f.root, 'not-a-directory'), '');
    const unexpected = f.run({ DROPWHY_KERNEL_CACHE: join(f.root, 'not-a-directory', 'cache') });
    assert.equal(unexpected.status, 1);
    assert.match(lastLine(unexpected.stderr), /^fetch\.sh: line \d+: "mkdir -p .*" failed with status 1$/);
  } finally {
    rmSync(f.root, { recursive: true, force: true });
  }
});
