// The socket section: decoding struct drop_socket, naming its owner from a
// /proc tree, its cgroup from a cgroup2 tree, the container from the path, and
// how JSON and text show it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeBatch } from '../../src/events/decode';
import { CgroupPaths, cgroup2Mount } from '../../src/kernel/cgroups';
import { SocketOwners } from '../../src/kernel/socket-owners';
import { containerOf } from '../../src/kernel/container';
import type { FormatContext, SocketResolver } from '../../src/output/format';
import { JsonWriter } from '../../src/output/json-writer';
import { resolveSocket, socketRecord } from '../../src/output/socket';
import { TextWriter } from '../../src/output/text-writer';
import { recordedKallsyms, recordedReasons } from './fixtures';
import { encodeEvent, UNRESOLVED_SOCKETS, UNNAMED_INTERFACES, type EventSpec } from './helpers';

const DOCKER_ID = 'a'.repeat(16) + '0123456789abcdef'.repeat(3);
const POD_UID = '1b2c3d4e-5f60-4718-9a0b-c1d2e3f40516';

function withTempDir(fn: (dir: string) => void): void {
  const dir = mkdtempSync(join(tmpdir(), 'dropwhy-socket-'));
  try {
    fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const decodeOne = (spec: EventSpec) => decodeBatch(encodeEvent(spec))[0];

// ---------------------------------------------------------------------------
// decode
// ---------------------------------------------------------------------------

test('decode: the socket section with HAS_SOCKET, null without', () => {
  const event = decodeOne({
    saddr: '10.0.0.1',
    daddr: '10.0.0.2',
    socket: { cookie: 7n, inode: 812345, cgroup: 4321, localAddr: '10.0.0.2', localPort: 53, uid: 101, rcvbuf: 212992, queued: 213760, drops: 9 },
  });
  assert.deepEqual(event.socket, {
    cookie: 7n,
    inode: 812345,
    cgroupId: 4321,
    uid: 101,
    family: 4,
    localAddr: Uint8Array.from([10, 0, 0, 2, ...new Array(12).fill(0)]),
    localPort: 53,
    rcvbuf: 212992,
    queued: 213760,
    drops: 9,
  });
  assert.equal(decodeOne({ saddr: '10.0.0.1' }).socket, null);
});

test('decode: zero means unknown for cookie, inode and cgroup; a socket that is not inet has no local address', () => {
  const socket = decodeOne({ socket: { rcvbuf: 4096 } }).socket!;
  assert.equal(socket.cookie, null);
  assert.equal(socket.inode, null);
  assert.equal(socket.cgroupId, null);
  assert.equal(socket.family, null);
  assert.equal(socket.localAddr, null);
  assert.equal(socket.localPort, null);
  assert.equal(socket.rcvbuf, 4096);
});

// ---------------------------------------------------------------------------
// containerOf
// ---------------------------------------------------------------------------

test('containerOf: docker with the systemd and the cgroupfs driver', () => {
  assert.deepEqual(containerOf(`/system.slice/docker-${DOCKER_ID}.scope`), { runtime: 'docker', id: DOCKER_ID, pod: null });
  assert.deepEqual(containerOf(`/docker/${DOCKER_ID}`), { runtime: 'docker', id: DOCKER_ID, pod: null });
});

test('containerOf: Kubernetes pods, systemd (underscored UID) and cgroupfs', () => {
  const underscored = POD_UID.replace(/-/g, '_');
  assert.deepEqual(containerOf(`/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${underscored}.slice/cri-containerd-${DOCKER_ID}.scope`), {
    runtime: 'containerd',
    id: DOCKER_ID,
    pod: POD_UID,
  });
  assert.deepEqual(containerOf(`/kubepods.slice/kubepods-pod${underscored}.slice/crio-${DOCKER_ID}.scope`), { runtime: 'cri-o', id: DOCKER_ID, pod: POD_UID });
  assert.deepEqual(containerOf(`/kubepods/besteffort/pod${POD_UID}/${DOCKER_ID}`), { runtime: null, id: DOCKER_ID, pod: POD_UID });
  assert.deepEqual(containerOf(`/kubepods/besteffort/pod${POD_UID}`), { runtime: null, id: null, pod: POD_UID }, "the pod's own cgroup");
});

test('containerOf: podman, rootful and rootless; its conmon is not the container', () => {
  assert.deepEqual(containerOf(`/machine.slice/libpod-${DOCKER_ID}.scope`), { runtime: 'podman', id: DOCKER_ID, pod: null });
  assert.deepEqual(containerOf(`/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-${DOCKER_ID}.scope/container`), {
    runtime: 'podman',
    id: DOCKER_ID,
    pod: null,
  });
  assert.equal(containerOf(`/machine.slice/libpod-conmon-${DOCKER_ID}.scope`), null);
  assert.equal(containerOf(`/system.slice/crio-conmon-${DOCKER_ID}.scope`), null);
});

test('containerOf: the innermost container wins; plain paths name none', () => {
  const inner = 'b'.repeat(64);
  assert.equal(containerOf(`/system.slice/docker-${DOCKER_ID}.scope/docker/${inner}`)?.id, inner);
  assert.equal(containerOf('/'), null);
  assert.equal(containerOf('/user.slice/user-1000.slice/session-2.scope'), null);
  assert.equal(containerOf('/system.slice/docker-abc.scope'), null, 'too short for an id');
});

// ---------------------------------------------------------------------------
// cgroups
// ---------------------------------------------------------------------------

const HYBRID_MOUNTINFO = [
  '25 30 0:23 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw',
  '35 25 0:29 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:9 - tmpfs tmpfs ro,mode=755',
  '36 35 0:30 / /sys/fs/cgroup/unified rw,nosuid,nodev,noexec,relatime shared:10 - cgroup2 cgroup2 rw,nsdelegate',
  '37 35 0:31 / /sys/fs/cgroup/systemd rw,nosuid,nodev,noexec,relatime shared:11 - cgroup cgroup rw,xattr,name=systemd',
].join('\n');

test('cgroup2Mount: the cgroup2 line of mountinfo, wherever it is mounted', () => {
  assert.equal(cgroup2Mount(HYBRID_MOUNTINFO), '/sys/fs/cgroup/unified');
  assert.equal(cgroup2Mount('29 23 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw\n'), '/sys/fs/cgroup');
  assert.equal(cgroup2Mount('40 35 0:40 / /mnt/my\\040cgroups rw - cgroup2 none rw\n'), '/mnt/my cgroups', 'octal escapes undone');
  assert.equal(
    cgroup2Mount(
      HYBRID_MOUNTINFO.split('\n')
        .filter((l) => !l.includes('cgroup2'))
        .join('\n'),
    ),
    null,
  );
});

test('CgroupPaths: an id is its directory inode; a miss walks again at most once per interval', () => {
  withTempDir((mount) => {
    mkdirSync(join(mount, 'system.slice', `docker-${DOCKER_ID}.scope`), { recursive: true });
    let now = 0;
    const cgroups = new CgroupPaths(mount, () => now, 1000);
    const id = statSync(join(mount, 'system.slice', `docker-${DOCKER_ID}.scope`)).ino;
    assert.deepEqual(cgroups.cgroup(id), { path: `/system.slice/docker-${DOCKER_ID}.scope`, container: { runtime: 'docker', id: DOCKER_ID, pod: null } });
    assert.equal(cgroups.cgroup(statSync(mount).ino)?.path, '/');

    mkdirSync(join(mount, 'late'));
    const late = statSync(join(mount, 'late')).ino;
    now = 500;
    assert.equal(cgroups.cgroup(late), null, 'within the interval: no second walk');
    now = 1500;
    assert.equal(cgroups.cgroup(late)?.path, '/late', 'after it: walked again');
    assert.equal(new CgroupPaths(null).cgroup(late), null, 'no cgroup2 mount: nothing is known');
  });
});

// ---------------------------------------------------------------------------
// socket owners
// ---------------------------------------------------------------------------

function fakeProcess(proc: string, pid: number, comm: string, links: Record<string, string>): void {
  mkdirSync(join(proc, String(pid), 'fd'), { recursive: true });
  writeFileSync(join(proc, String(pid), 'comm'), `${comm}\n`);
  for (const [fd, target] of Object.entries(links)) symlinkSync(target, join(proc, String(pid), 'fd', fd));
}

test('SocketOwners: the process whose fd links to socket:[INODE], the lowest pid of those sharing it', () => {
  withTempDir((proc) => {
    fakeProcess(proc, 812, 'dnsmasq', { 0: '/dev/null', 4: 'socket:[5001]', 5: 'pipe:[77]' });
    fakeProcess(proc, 9000, 'dnsmasq-child', { 4: 'socket:[5001]', 6: 'socket:[5002]' });
    mkdirSync(join(proc, 'self'));
    let now = 0;
    const owners = new SocketOwners(proc, () => now, 1000);
    assert.deepEqual(owners.owner(5001), { pid: 812, comm: 'dnsmasq' });
    assert.deepEqual(owners.owner(5002), { pid: 9000, comm: 'dnsmasq-child' });
    assert.equal(owners.owner(77), null, 'a pipe is not a socket');

    fakeProcess(proc, 1234, 'late', { 3: 'socket:[5003]' });
    now = 10;
    assert.equal(owners.owner(5003), null, 'a miss within the interval does not scan again');
    now = 1100;
    assert.deepEqual(owners.owner(5003), { pid: 1234, comm: 'late' }, 'the next one does');
  });
});

// ---------------------------------------------------------------------------
// output
// ---------------------------------------------------------------------------

const RECEIVER: SocketResolver = {
  owner: (inode) => (inode === 812345 ? { pid: 812, comm: 'dnsmasq' } : null),
  cgroup: (id) => (id === 4321 ? { path: `/system.slice/docker-${DOCKER_ID}.scope`, container: containerOf(`/system.slice/docker-${DOCKER_ID}.scope`) } : null),
};
const context: FormatContext = {
  reasons: recordedReasons(),
  symbols: recordedKallsyms(),
  sockets: RECEIVER,
  interfaces: UNNAMED_INTERFACES,
  monotonicToUnixNs: 0,
  color: false,
};
const json = new JsonWriter(context);
const text = new TextWriter(context);
const OVERFLOW: EventSpec = {
  saddr: '10.94.0.1',
  daddr: '10.94.0.2',
  l4Proto: 'udp',
  dport: 53,
  pid: 4242,
  comm: 'python3',
  socket: { inode: 812345, cgroup: 4321, localAddr: '10.94.0.2', localPort: 53, uid: 101, rcvbuf: 212992, queued: 213760, drops: 3 },
};

test('JSON: the socket with its owner, cgroup and container; the interrupted task stays in pid/comm', () => {
  const record = JSON.parse(json.line(decodeOne(OVERFLOW)));
  assert.deepEqual(record.socket, {
    inode: 812345,
    cookie: null,
    uid: 101,
    local: '10.94.0.2:53',
    pid: 812,
    comm: 'dnsmasq',
    cgroup: `/system.slice/docker-${DOCKER_ID}.scope`,
    container: { runtime: 'docker', id: DOCKER_ID, pod: null },
    rcvbuf: 212992,
    queued: 213760,
    drops: 3,
  });
  assert.equal(record.pid, 4242);
  assert.equal(record.comm, 'python3');
  assert.equal(JSON.parse(json.line(decodeOne({ saddr: '10.0.0.1' }))).socket, null);
});

test('JSON: an unresolved socket keeps every key, null; a cookie past 2^53 is a string', () => {
  const socket = JSON.parse(new JsonWriter({ ...context, sockets: UNRESOLVED_SOCKETS }).line(decodeOne({ socket: { inode: 1, cgroup: 2, cookie: 2n ** 60n + 1n } }))).socket;
  assert.deepEqual(Object.keys(socket), ['inode', 'cookie', 'uid', 'local', 'pid', 'comm', 'cgroup', 'container', 'rcvbuf', 'queued', 'drops']);
  assert.equal(socket.cookie, '1152921504606846977');
  for (const key of ['local', 'pid', 'comm', 'cgroup', 'container']) assert.equal(socket[key], null, key);
  const small = JSON.parse(json.line(decodeOne({ socket: { cookie: 4097n } }))).socket;
  assert.equal(small.cookie, 4097);
});

test("JSON: summary's socket objects and tracing's template agree, key for key", () => {
  for (const spec of [OVERFLOW, { socket: { inode: 1, cookie: 2n ** 60n } }, { socket: { cookie: 5n, localAddr: '::1', localPort: 53 } }]) {
    const event = decodeOne(spec);
    assert.deepEqual(socketRecord(event.socket!, resolveSocket(event.socket!, RECEIVER)), JSON.parse(json.line(event)).socket);
  }
});

test("JSON: an IPv6 socket's local endpoint in brackets", () => {
  const record = JSON.parse(json.line(decodeOne({ daddr: '::1', socket: { localAddr: '::1', localPort: 5353 } })));
  assert.equal(record.socket.local, '[::1]:5353');
});

test('text: the owner replaces the interrupted task, in a second part', () => {
  const line = text.line(decodeOne(OVERFLOW));
  assert.match(line, / sock dnsmasq\[812\] 10\.94\.0\.2:53 rcvbuf 212992 queued 213760 container aaaaaaaaaaaa$/);
  assert.ok(!line.includes('python3[4242]'), line);
  const unowned = text.line(decodeOne({ ...OVERFLOW, socket: { ...OVERFLOW.socket, inode: 1 } }));
  assert.match(unowned, /python3\[4242\] sock uid 101 10\.94\.0\.2:53 rcvbuf 212992/);
  assert.match(text.line(decodeOne({ saddr: '10.0.0.1', pid: 7, comm: 'x' })), /x\[7\]$/, 'no socket: the task, as before');
});

test('text: the socket part is dimmed on its own when colour is on', () => {
  const line = new TextWriter({ ...context, color: true }).line(decodeOne(OVERFLOW));
  // biome-ignore lint/suspicious/noControlCharactersInRegex: the ANSI escapes are what is tested
  assert.match(line, /\x1b\[2msock dnsmasq\[812\] [^\x1b]*\x1b\[0m$/);
});
