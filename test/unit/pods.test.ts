// Pods by name, without the API server: the kubelet's pod log directory's names, a process's
// /proc/PID/cgroup, network namespaces → pods, the lookups that never wait, and how JSON, text,
// summary and the exporter show the pod of a drop.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeBatch } from '../../src/events/decode';
import { containerOf } from '../../src/kernel/container';
import { NamespacePods, podOfCgroupFile, podsByNamespace, scanProcesses, type ProcessNamespace } from '../../src/kernel/netns-pods';
import { listPodLogDirectory, parsePodLogEntry, PodNames, podNamesOf } from '../../src/kernel/pod-logs';
import { kubernetesDetected, nodePods, Pods, type PodSettings } from '../../src/kernel/pods';
import type { FormatContext, SocketResolver } from '../../src/output/format';
import { JsonWriter } from '../../src/output/json-writer';
import { DropMetrics, type CountSource } from '../../src/output/metrics';
import { SocketTally, totalJson, totalText } from '../../src/output/summary';
import { TextWriter } from '../../src/output/text-writer';
import type { Counters } from '../../src/kernel/binding';
import { recordedKallsyms, recordedReasons } from './fixtures';
import { cliHarness, encodeCountRecords, encodeEvent, loadReasonTable, reasonCode, runUntilOpened, UNNAMED_INTERFACES, type CountSpec, type EventSpec } from './helpers';

const UID = '1b2c3d4e-5f60-4718-9a0b-c1d2e3f40516';
const OTHER_UID = '9f8e7d6c-5b4a-4392-8170-6f5e4d3c2b1a';
const STATIC_UID = '33d556edd3ae8ef21980288cef77ae8b';
const CONTAINER_ID = 'c'.repeat(16) + '0123456789abcdef'.repeat(3);
const SANDBOX_ID = 'd'.repeat(64);
const POD_NETNS = 4026532290;
const OTHER_NETNS = 4026532400;
const HOST_NETNS = 4026531840;

const underscored = (uid: string) => uid.replace(/-/g, '_');
/** A container's cgroup with the systemd driver (the UID's dashes become underscores in the slice's name). */
const systemdScope = (uid: string, id: string, qos = 'besteffort') =>
  `/kubepods.slice/kubepods-${qos}.slice/kubepods-${qos}-pod${underscored(uid)}.slice/cri-containerd-${id}.scope`;

const decodeOne = (spec: EventSpec) => decodeBatch(encodeEvent(spec))[0];

function withTempDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = mkdtempSync(join(tmpdir(), 'dropwhy-pods-'));
  return fn(dir).finally(() => rmSync(dir, { recursive: true, force: true }));
}

// ---------------------------------------------------------------------------
// The kubelet's pod log directory
// ---------------------------------------------------------------------------

test('parsePodLogEntry: NAMESPACE_NAME_UID, dashes and dots in names, a static pod’s MD5 UID', () => {
  assert.deepEqual(parsePodLogEntry(`default_web-7d4b9c-x2x9q_${UID}`), { namespace: 'default', name: 'web-7d4b9c-x2x9q', uid: UID });
  assert.deepEqual(parsePodLogEntry(`kube-system_coredns-5d78c9869d-abcde_${OTHER_UID}`), { namespace: 'kube-system', name: 'coredns-5d78c9869d-abcde', uid: OTHER_UID });
  assert.deepEqual(parsePodLogEntry(`kube-system_kube-apiserver-node-1.example.com_${STATIC_UID}`), {
    namespace: 'kube-system',
    name: 'kube-apiserver-node-1.example.com',
    uid: STATIC_UID,
  });
});

test('parsePodLogEntry: the namespace ends at the first underscore, the UID starts after the last; the name keeps any between', () => {
  assert.deepEqual(parsePodLogEntry(`team-a_odd_name_${UID}`), { namespace: 'team-a', name: 'odd_name', uid: UID });
});

test('parsePodLogEntry: other names are no pod', () => {
  for (const entry of [
    'README',
    `default_${UID}`, // no name
    `default__${UID}`, // an empty name
    `Default_web_${UID}`, // a namespace is lower case
    `-bad_web_${UID}`,
    'default_web_not-a-uid',
    `default_web_${UID.toUpperCase()}`,
    `default_web_${UID}x`,
    `_web_${UID}`,
  ]) {
    assert.equal(parsePodLogEntry(entry), null, entry);
  }
});

test('podNamesOf: a listing of the directory, by UID, ignoring what is no pod', () => {
  const pods = podNamesOf([`default_web-1_${UID}`, 'lost+found', `kube-system_dns_${OTHER_UID}`]);
  assert.deepEqual([...pods.keys()], [UID, OTHER_UID]);
  assert.equal(pods.get(OTHER_UID)?.name, 'dns');
});

test('listPodLogDirectory: the names of a kubelet-style tree, read for real', async () => {
  await withTempDir(async (dir) => {
    mkdirSync(join(dir, `default_web-1_${UID}`, 'nginx'), { recursive: true });
    writeFileSync(join(dir, `default_web-1_${UID}`, 'nginx', '0.log'), '');
    const pods = podNamesOf(await listPodLogDirectory(dir)());
    assert.deepEqual(pods.get(UID), { namespace: 'default', name: 'web-1', uid: UID });
    await assert.rejects(listPodLogDirectory(join(dir, 'missing'))(), /ENOENT/);
  });
});

// ---------------------------------------------------------------------------
// /proc/PID/cgroup, and namespaces → pods
// ---------------------------------------------------------------------------

test('podOfCgroupFile: cgroup2 with the systemd driver (underscored UID) and cgroupfs; a cgroup namespace’s relative path', () => {
  assert.equal(podOfCgroupFile(`0::${systemdScope(UID, CONTAINER_ID)}\n`), UID);
  assert.equal(podOfCgroupFile(`0::/kubepods.slice/kubepods-pod${underscored(UID)}.slice/crio-${CONTAINER_ID}.scope\n`), UID, 'a guaranteed pod');
  assert.equal(podOfCgroupFile(`0::/kubepods/burstable/pod${UID}/${CONTAINER_ID}\n`), UID);
  assert.equal(podOfCgroupFile(`0::/../../kubepods-besteffort-pod${underscored(UID)}.slice/cri-containerd-${CONTAINER_ID}.scope\n`), UID);
  assert.equal(podOfCgroupFile(`0::/kubepods/besteffort/pod${UID}\n`), UID, "the pod's own cgroup");
});

test('podOfCgroupFile: cgroup v1 hierarchies (hybrid and v1 nodes) name it too; the cgroup2 line wins', () => {
  const hybrid = [
    '12:pids:/kubepods/besteffort/pod' + UID + '/' + CONTAINER_ID,
    '1:name=systemd:/system.slice/containerd.service',
    '0::/system.slice/containerd.service',
    '',
  ].join('\n');
  assert.equal(podOfCgroupFile(hybrid), UID);
  assert.equal(podOfCgroupFile([`12:pids:/kubepods/pod${OTHER_UID}/x`, `0::/kubepods/pod${UID}/${CONTAINER_ID}`].join('\n')), UID);
});

test('podOfCgroupFile: no pod outside kubepods', () => {
  assert.equal(podOfCgroupFile('0::/init.scope\n'), null);
  assert.equal(podOfCgroupFile(`0::/system.slice/docker-${CONTAINER_ID}.scope\n`), null);
  assert.equal(podOfCgroupFile(''), null);
});

const proc = (pid: number, netns: number, pod: string | null): ProcessNamespace => ({ pid, netns, pod });

test("podsByNamespace: a pod's namespace is its, whoever else entered it", () => {
  const pods = podsByNamespace([proc(1, HOST_NETNS, null), proc(300, POD_NETNS, UID), proc(301, POD_NETNS, null), proc(302, POD_NETNS, UID)]);
  assert.equal(pods.get(POD_NETNS), UID);
  assert.equal(pods.get(HOST_NETNS), null);
  assert.equal(podsByNamespace([proc(301, POD_NETNS, null), proc(300, POD_NETNS, UID)]).get(POD_NETNS), UID, 'an outsider seen first');
});

test("podsByNamespace: the node's namespace is no pod's, even with one host-network pod in it; nor is one two pods share", () => {
  const pods = podsByNamespace([proc(1, HOST_NETNS, null), proc(500, HOST_NETNS, UID), proc(600, OTHER_NETNS, UID), proc(601, OTHER_NETNS, OTHER_UID)]);
  assert.equal(pods.get(HOST_NETNS), null);
  assert.equal(pods.get(OTHER_NETNS), null);
  assert.equal(podsByNamespace([proc(1, POD_NETNS, UID)]).get(POD_NETNS), UID, 'PID 1 in a pod: the pid namespace is the pod’s own');
});

test('scanProcesses: each process’s namespace inode and pod, from a /proc tree; a process it cannot read is left out', async () => {
  await withTempDir(async (root) => {
    const add = (pid: string, cgroup: string | null) => {
      mkdirSync(join(root, pid, 'ns'), { recursive: true });
      writeFileSync(join(root, pid, 'ns', 'net'), '');
      if (cgroup !== null) writeFileSync(join(root, pid, 'cgroup'), cgroup);
      return statSync(join(root, pid, 'ns', 'net')).ino;
    };
    const pause = add('300', `0::${systemdScope(UID, SANDBOX_ID)}\n`);
    const init = add('1', '0::/init.scope\n');
    add('400', null); // gone while read
    mkdirSync(join(root, 'self'));
    const found = (await scanProcesses(root)).sort((a, b) => a.pid - b.pid);
    assert.deepEqual(found, [proc(1, init, null), proc(300, pause, UID)]);
  });
});

// ---------------------------------------------------------------------------
// Lookups that never wait
// ---------------------------------------------------------------------------

/** A clock the test moves, and loaders that answer when the test says so. */
function controlled<T>(answer: () => T) {
  const clock = { ms: 0 };
  const calls: Array<(value?: T) => void> = [];
  const load = () => new Promise<T>((resolve) => calls.push((value) => resolve(value ?? answer())));
  return { clock, calls, load, now: () => clock.ms };
}

test('NamespacePods: an unknown namespace starts one scan in the background and answers null until it is back', async () => {
  let processes = [proc(300, POD_NETNS, UID)];
  const c = controlled(() => processes);
  const pods = new NamespacePods(c.load, undefined, c.now, 1000, 10_000);
  assert.equal(pods.pod(POD_NETNS), null, 'never waits');
  assert.equal(pods.pod(OTHER_NETNS), null);
  assert.equal(c.calls.length, 1, 'one scan under way at a time');
  c.calls[0]();
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(pods.pod(POD_NETNS), UID);
  c.clock.ms += 500;
  assert.equal(pods.pod(OTHER_NETNS), null, 'a namespace no process is in');
  assert.equal(c.calls.length, 1, 'not again within the rescan interval');
  c.clock.ms += 600;
  processes = [proc(300, POD_NETNS, UID), proc(700, OTHER_NETNS, OTHER_UID)];
  assert.equal(pods.pod(OTHER_NETNS), null);
  assert.equal(c.calls.length, 2, 'a miss after the interval scans again');
  c.calls[1]();
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(pods.pod(OTHER_NETNS), OTHER_UID);
});

test('NamespacePods: a scan older than maxAgeMs is renewed, noticed within 256 lookups; a reused inode gets its new pod', async () => {
  let processes = [proc(300, POD_NETNS, UID)];
  const pods = new NamespacePods(
    async () => processes,
    undefined,
    () => clock,
    1000,
    10_000,
  );
  let clock = 0;
  await pods.load();
  clock = 20_000;
  processes = [proc(900, POD_NETNS, OTHER_UID)];
  for (let i = 0; i < 255; i++) assert.equal(pods.pod(POD_NETNS), UID);
  pods.pod(POD_NETNS); // the 256th looks at the clock
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(pods.pod(POD_NETNS), OTHER_UID);
});

test('NamespacePods: settled while the scan is fresh and knows each namespace', async () => {
  let clock = 0;
  const pods = new NamespacePods(
    async () => [proc(300, POD_NETNS, UID)],
    undefined,
    () => clock,
    1000,
    10_000,
  );
  assert.equal(pods.settled([POD_NETNS]), false, 'never scanned');
  await pods.load();
  clock = 500;
  assert.equal(pods.settled([OTHER_NETNS]), true, 'scanned within the rescan interval');
  clock = 2000;
  assert.equal(pods.settled([POD_NETNS]), true);
  assert.equal(pods.settled([POD_NETNS, OTHER_NETNS]), false);
  clock = 10_000;
  assert.equal(pods.settled([POD_NETNS]), false, 'too old');
});

test('PodNames and NamespacePods: the first failure is reported, later ones are not', async () => {
  const errors: unknown[] = [];
  let clock = 0;
  const names = new PodNames(
    () => Promise.reject(new Error('EACCES')),
    (error) => errors.push(error),
    () => clock,
    1000,
  );
  const namespaces = new NamespacePods(
    () => Promise.reject(new Error('EPERM')),
    (error) => errors.push(error),
    () => clock,
    1000,
  );
  await names.load();
  await namespaces.load();
  clock = 5000;
  await names.load();
  await namespaces.load();
  assert.deepEqual(
    errors.map((e) => (e as Error).message),
    ['EACCES', 'EPERM'],
  );
  assert.equal(names.pod(UID), null);
});

test('PodNames: a UID the listing lacks lists again, at most once per interval; gone pods leave with the next listing', async () => {
  let entries = [`default_web-1_${UID}`];
  let listings = 0;
  let clock = 0;
  const names = new PodNames(
    async () => {
      listings++;
      return entries;
    },
    undefined,
    () => clock,
    1000,
  );
  await names.load();
  assert.equal(names.pod(UID)?.name, 'web-1');
  entries = [`default_web-2_${OTHER_UID}`];
  assert.equal(names.pod(OTHER_UID), null);
  assert.equal(listings, 1, 'within the interval');
  clock = 1500;
  assert.equal(names.pod(OTHER_UID), null, 'never waits');
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(listings, 2);
  assert.equal(names.pod(OTHER_UID)?.name, 'web-2');
  assert.equal(names.pod(UID), null, 'gone');
});

// ---------------------------------------------------------------------------
// Pods: the two together, and when to look at all
// ---------------------------------------------------------------------------

async function loadedPods(entries: string[], processes: ProcessNamespace[]): Promise<Pods> {
  const pods = new Pods(new PodNames(async () => entries), new NamespacePods(async () => processes));
  await pods.load();
  return pods;
}

test('Pods: a namespace’s pod has no container; a container’s has its id; one object per pod, name and container', async () => {
  const pods = await loadedPods([`shop_cart-6f9_${UID}`], [proc(300, POD_NETNS, UID)]);
  assert.deepEqual(pods.ofNetns(POD_NETNS), { namespace: 'shop', name: 'cart-6f9', uid: UID, container: null });
  assert.equal(pods.ofNetns(POD_NETNS), pods.ofNetns(POD_NETNS), 'the same object: writers cache its bytes');
  assert.equal(pods.ofNetns(HOST_NETNS), null);
  assert.equal(pods.ofNetns(null), null);
  const container = containerOf(systemdScope(UID, CONTAINER_ID))!;
  assert.deepEqual(pods.ofContainer(container), { namespace: 'shop', name: 'cart-6f9', uid: UID, container: CONTAINER_ID });
  assert.equal(pods.ofContainer(container), pods.ofContainer(container));
  assert.deepEqual(pods.ofContainer(containerOf(`/kubepods/besteffort/pod${UID}`)!), { namespace: 'shop', name: 'cart-6f9', uid: UID, container: null });
  assert.equal(pods.ofContainer(containerOf(`/system.slice/docker-${CONTAINER_ID}.scope`)!), null, 'a container of no pod');
  assert.deepEqual(
    pods.ofContainer(containerOf(systemdScope(OTHER_UID, CONTAINER_ID))!),
    { namespace: null, name: null, uid: OTHER_UID, container: CONTAINER_ID },
    'not named (yet)',
  );
});

test('kubernetesDetected: the flag wins; else the pod log directory, else KUBERNETES_SERVICE_HOST', () => {
  const settings = (kubernetes: boolean | null) => ({ kubernetes, logDirectory: '/var/log/pods' });
  assert.equal(kubernetesDetected(settings(true), false, {}), true);
  assert.equal(kubernetesDetected(settings(false), true, { KUBERNETES_SERVICE_HOST: '10.96.0.1' }), false);
  assert.equal(kubernetesDetected(settings(null), true, {}), true);
  assert.equal(kubernetesDetected(settings(null), false, { KUBERNETES_SERVICE_HOST: '10.96.0.1' }), true);
  assert.equal(kubernetesDetected(settings(null), false, { KUBERNETES_SERVICE_HOST: '' }), false);
  assert.equal(kubernetesDetected(settings(null), false, {}), false);
});

test('nodePods: null where not detected; a missing directory is warned about once, with the fix', async () => {
  await withTempDir(async (dir) => {
    const warnings: string[] = [];
    assert.equal(
      nodePods({ kubernetes: null, logDirectory: join(dir, 'missing') }, {}, (w) => warnings.push(w)),
      null,
    );
    const pods = nodePods({ kubernetes: null, logDirectory: join(dir, 'missing') }, { KUBERNETES_SERVICE_HOST: '10.96.0.1' }, (w) => warnings.push(w));
    assert.ok(pods);
    await pods.load();
    await pods.load();
    assert.equal(warnings.length, 1, warnings.join('\n'));
    assert.match(warnings[0], /^cannot read the kubelet's pod log directory .*missing: no such file or directory \(ENOENT\): pods are named by UID only/);
  });
});

// ---------------------------------------------------------------------------
// How drops show their pod
// ---------------------------------------------------------------------------

const SOCKETS: SocketResolver = {
  owner: (inode) => (inode === 812345 ? { pid: 812, comm: 'cart' } : null),
  cgroup: (id) => {
    const path = id === 4321 ? systemdScope(UID, CONTAINER_ID) : id === 99 ? '/system.slice/kubelet.service' : null;
    return path === null ? null : { path, container: containerOf(path) };
  },
};

async function podContext(): Promise<FormatContext> {
  return {
    reasons: recordedReasons(),
    symbols: recordedKallsyms(),
    sockets: SOCKETS,
    interfaces: UNNAMED_INTERFACES,
    pods: await loadedPods([`shop_cart-6f9_${UID}`, `shop_db-0_${OTHER_UID}`], [proc(300, POD_NETNS, UID), proc(400, OTHER_NETNS, OTHER_UID)]),
    monotonicToUnixNs: 0,
    color: false,
  };
}

const IN_POD = { saddr: '10.0.0.1', daddr: '10.244.1.7', l4Proto: 'udp', dport: 53, netns: POD_NETNS } as const satisfies EventSpec;
const AT_SOCKET = { ...IN_POD, socket: { inode: 812345, cgroup: 4321, localAddr: '10.244.1.7', localPort: 53, rcvbuf: 4608, queued: 5000 } } as const satisfies EventSpec;

test('JSON: "pod" after "socket"; from its namespace without a socket, from the socket’s cgroup (with its container) with one', async () => {
  const json = new JsonWriter(await podContext());
  const bare = JSON.parse(json.line(decodeOne(IN_POD)));
  assert.deepEqual(Object.keys(bare).slice(-3), ['socket', 'pod', 'stack']);
  assert.deepEqual(bare.pod, { namespace: 'shop', name: 'cart-6f9', uid: UID, container: null });
  assert.deepEqual(JSON.parse(json.line(decodeOne(AT_SOCKET))).pod, { namespace: 'shop', name: 'cart-6f9', uid: UID, container: CONTAINER_ID });
  assert.equal(JSON.parse(json.line(decodeOne({ ...IN_POD, netns: HOST_NETNS }))).pod, null, "the node's namespace");
});

test('JSON: the socket’s pod wins over the namespace’s; a socket outside any pod leaves it to the namespace', async () => {
  const json = new JsonWriter(await podContext());
  // A socket of pod UID whose packet dropped in the other pod's namespace.
  assert.equal(JSON.parse(json.line(decodeOne({ ...AT_SOCKET, netns: OTHER_NETNS }))).pod.uid, UID);
  assert.equal(JSON.parse(json.line(decodeOne({ ...AT_SOCKET, netns: HOST_NETNS }))).pod.name, 'cart-6f9', "a host-network pod's socket in the node's namespace");
  const hostSocket = { ...AT_SOCKET, netns: OTHER_NETNS, socket: { ...AT_SOCKET.socket, cgroup: 99 } };
  assert.deepEqual(JSON.parse(json.line(decodeOne(hostSocket))).pod, { namespace: 'shop', name: 'db-0', uid: OTHER_UID, container: null });
});

test('JSON: outside Kubernetes every line has "pod": null; in it, a drop in no pod is the same line', async () => {
  const context = await podContext();
  const { pods: _, ...plain } = context;
  const line = new JsonWriter(plain).line(decodeOne(AT_SOCKET));
  assert.equal(JSON.parse(line).pod, null);
  assert.ok(new JsonWriter(plain).line(decodeOne({ saddr: '10.0.0.1' })).endsWith(',"rule":null,"socket":null,"pod":null,"stack":null}'));
  assert.equal(new JsonWriter(context).line(decodeOne({ ...IN_POD, netns: HOST_NETNS })), new JsonWriter(plain).line(decodeOne({ ...IN_POD, netns: HOST_NETNS })));
});

test('text: the pod last, dimmed on its own; its UID while unnamed; nothing without one', async () => {
  const context = await podContext();
  const text = new TextWriter(context);
  assert.match(text.line(decodeOne(AT_SOCKET)), / sock cart\[812\] 10\.244\.1\.7:53 rcvbuf 4608 queued 5000 container cccccccccccc pod shop\/cart-6f9$/);
  assert.match(text.line(decodeOne(IN_POD)), / len \d+ \S+\[\d+\] pod shop\/cart-6f9$/);
  assert.doesNotMatch(text.line(decodeOne({ ...IN_POD, netns: HOST_NETNS })), / pod /);
  const unnamed = { ...AT_SOCKET, socket: { ...AT_SOCKET.socket, cgroup: 4321 } };
  const nameless = new TextWriter({ ...context, pods: await loadedPods([], [proc(300, POD_NETNS, UID)]) });
  assert.match(nameless.line(decodeOne(unnamed)), new RegExp(` pod ${UID}$`));
  // biome-ignore lint/suspicious/noControlCharactersInRegex: the ANSI escapes are what is tested
  assert.match(new TextWriter({ ...context, color: true }).line(decodeOne(IN_POD)), /\x1b\[2mpod shop\/cart-6f9\x1b\[0m$/);
});

test("summary: each socket's pod in the JSON rows and the text total, kept once named", async () => {
  const context = await podContext();
  const tally = new SocketTally(context);
  const socket = decodeOne(AT_SOCKET).socket!;
  const SOCKET_RCVBUFF = reasonCode('SOCKET_RCVBUFF');
  tally.update([{ reason: SOCKET_RCVBUFF, socket, count: 3 }]);
  // The pod is gone from the kubelet's directory by the total: its name stays.
  context.pods = await loadedPods([], []);
  tally.update([{ reason: SOCKET_RCVBUFF, socket, count: 5 }]);
  const [row] = tally.rows();
  assert.deepEqual(row.pod, { namespace: 'shop', name: 'cart-6f9', uid: UID, container: CONTAINER_ID });
  const json = totalJson([], 1, { seen: 5, matched: 5, lost: 0, overflow: 0 }, null, [], null, tally.rows());
  assert.deepEqual(Object.keys(json.sockets[0]), ['reason', 'count', 'socket', 'pod', 'advice']);
  assert.equal(json.sockets[0].pod, row.pod);
  assert.match(json.sockets[0].advice ?? '', /^cart\[812\] on 10\.244\.1\.7:53 container cccccccccccc pod shop\/cart-6f9: rcvbuf 4608/);
  const row0 = {
    reason: 'SOCKET_RCVBUFF',
    reasonCode: SOCKET_RCVBUFF,
    subsystem: 'CORE',
    proto: 'udp',
    family: 4,
    location: null,
    address: '0x0',
    count: 5,
    total: 5,
    paths: null,
  } as const;
  assert.match(totalText([row0], 1, null, [], true, 0, null, tally.rows()), /5 drops at cart\[812\] on 10\.244\.1\.7:53 container cccccccccccc pod shop\/cart-6f9: /);
});

test('trace: --kubernetes and --pod-logs reach the pods; they are loaded before the tracer opens, so the first drop names its pod', { timeout: 10_000 }, async () => {
  const asked: PodSettings[] = [];
  let loadedBeforeOpen = false;
  const h = cliHarness({
    pods: (settings) => {
      asked.push(settings);
      const pods = new Pods(
        new PodNames(async () => {
          loadedBeforeOpen = h.binding.opened.length === 0;
          return [`shop_cart-6f9_${UID}`];
        }),
        new NamespacePods(async () => [proc(300, POD_NETNS, UID)]),
      );
      return pods;
    },
  });
  const { done } = await runUntilOpened(['-o', 'json', '--kubernetes', '--pod-logs', '/host/var/log/pods'], h);
  h.binding.push(encodeEvent(IN_POD));
  h.signals.emit('SIGINT');
  assert.equal(await done, 0);
  assert.deepEqual(asked, [{ kubernetes: true, logDirectory: '/host/var/log/pods' }]);
  assert.ok(loadedBeforeOpen, 'listed before the tracer was opened');
  assert.deepEqual(
    h.records().map((r) => r.pod),
    [{ namespace: 'shop', name: 'cart-6f9', uid: UID, container: null }],
  );
});

// ---------------------------------------------------------------------------
// The exporter's labels
// ---------------------------------------------------------------------------

class CountMap implements CountSource {
  specs: CountSpec[] = [];
  dropCounts = () => encodeCountRecords(this.specs);
  deleteDropCounts = () => 0;
  counters = (): Counters => ({ seen: 0, matched: 0, lost: 0, overflow: 0, unrecordedFlows: 0, stackMissed: 0, packetUnread: 0 });
}

const NO_SOCKET = reasonCode('NO_SOCKET');
const UDP4 = { hi: 0xffffffff, lo: 0x81000010 };
const drop = (netns: number, count: number): CountSpec => ({ location: UDP4, reason: NO_SOCKET, netns, family: 4, l4Proto: 'udp', count });

function podMetrics(pods: Pods | undefined) {
  const map = new CountMap();
  const metrics = new DropMetrics({
    reasons: loadReasonTable(),
    hasReason: true,
    symbols: { symbolize: () => '__udp4_lib_rcv+0x10' },
    version: '9.8.7',
    kernel: '6.18.0-test',
    idleMs: 60_000,
    pods,
  });
  metrics.attach(map);
  const scrape = async () => {
    const samples = new Map<string, number>();
    for (const line of (await metrics.text.metrics()).split('\n')) {
      const match = /^dropwhy_drops_total\{(.*)\} (\d+)$/.exec(line);
      if (match) samples.set(match[1], Number(match[2]));
    }
    return samples;
  };
  return { map, scrape };
}

/** A series' labels; with pod, [namespace, name] (empty strings for none), as in Kubernetes. */
const labels = (netns: number, pod?: [string, string]) =>
  `reason="NO_SOCKET",function="__udp4_lib_rcv",proto="udp",family="ipv4",netns="${netns}"` + (pod ? `,namespace="${pod[0]}",pod="${pod[1]}"` : '');

test('exporter: namespace and pod labels from the namespace’s pod, empty for the node’s; none outside Kubernetes', async () => {
  const pods = await loadedPods([`shop_cart-6f9_${UID}`], [proc(1, HOST_NETNS, null), proc(300, POD_NETNS, UID)]);
  const { map, scrape } = podMetrics(pods);
  map.specs = [drop(POD_NETNS, 7), drop(HOST_NETNS, 2)];
  assert.deepEqual(
    await scrape(),
    new Map([
      [labels(POD_NETNS, ['shop', 'cart-6f9']), 7],
      [labels(HOST_NETNS, ['', '']), 2],
    ]),
  );
  const plain = podMetrics(undefined);
  plain.map.specs = [drop(POD_NETNS, 7)];
  assert.deepEqual(await plain.scrape(), new Map([[labels(POD_NETNS), 7]]));
});

test('exporter: a scrape waits for the pods of namespaces it does not know; what a key adds later goes to its pod as it is then', async () => {
  let processes: ProcessNamespace[] = [];
  let entries: string[] = [];
  let clock = 0;
  const pods = new Pods(
    new PodNames(
      async () => entries,
      undefined,
      () => clock,
    ),
    new NamespacePods(
      async () => processes,
      undefined,
      () => clock,
    ),
  );
  await pods.load();
  const { map, scrape } = podMetrics(pods);
  map.specs = [drop(POD_NETNS, 3)];
  // A new pod: its sandbox joined the namespace after the last scan; the scrape looks again first.
  processes = [proc(300, POD_NETNS, UID)];
  entries = [`shop_cart-6f9_${UID}`];
  clock = 1500;
  assert.deepEqual(await scrape(), new Map([[labels(POD_NETNS, ['shop', 'cart-6f9']), 3]]));
  // The namespace's inode now names another pod: the key's new drops are that pod's, the old series keeps its total.
  processes = [proc(900, POD_NETNS, OTHER_UID)];
  entries = [`shop_db-0_${OTHER_UID}`];
  clock = 20_000;
  map.specs = [drop(POD_NETNS, 5)];
  assert.deepEqual(
    await scrape(),
    new Map([
      [labels(POD_NETNS, ['shop', 'cart-6f9']), 3],
      [labels(POD_NETNS, ['shop', 'db-0']), 2],
    ]),
  );
});
