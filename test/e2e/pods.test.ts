// Pods by name, without the API server: a pod made the way a kubelet and containerd lay one out on
// a node, and nothing else. Its sandbox ("pause") and a container process live in one network
// namespace, each in a kubepods-style cgroup under the cgroup2 mount; the kubelet's pod log
// directory is a temporary tree. Real drops: a UDP receiver of the container with the smallest
// buffer, never read (SOCKET_RCVBUFF, with its socket); UDP to a closed port in the pod's namespace
// (NO_SOCKET, no socket: found by the namespace); the same in the peer namespace, which is no pod's.
// Every drop's `pod` in -o json, and the exporter's namespace and pod labels, exactly.
import { test, type TestContext } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { inNetnsArgv } from '../../src/kernel/netns-pair';
import {
  cgroup2Mount,
  describeEvents,
  expectReason,
  kernelFacts,
  metricsUrl,
  netnsInode,
  rcvbufFlood,
  removeCgroup,
  requireRealKernel,
  samples,
  sendUdp,
  sleep,
  snmpCounters,
  startDropwhy,
  traceWhile,
  withNetnsPair,
  type NetnsPair,
  type PodRecord,
  type RcvbufFloodResult,
} from './harness';

const RCVBUF_PORT = 45560;
const CLOSED_PORT = 45561;
/** Only this test's packets, whatever else drops on the machine meanwhile. */
const EXPRESSION = `udp and (port ${RCVBUF_PORT} or port ${CLOSED_PORT})`;
const TIMEOUT = { timeout: 120_000 };

/** A pod on the node, as the kubelet and containerd (systemd cgroup driver) make it. */
interface KubeletPod {
  namespace: string;
  name: string;
  uid: string;
  containerId: string;
  /** The kubelet's pod log directory: what --pod-logs names. */
  podLogs: string;
  /** The container's cgroup.procs: its processes go there before they make their sockets. */
  containerProcs: string;
  /** The container's cgroup path, as /proc/PID/cgroup writes it. */
  containerCgroup: string;
}

/** The mount, or a loud skip (in CI a failure) where there is no cgroup2 hierarchy to make a pod's cgroups in. */
function requireCgroup2(t: TestContext): string | null {
  const mount = cgroup2Mount();
  if (mount !== null) return mount;
  const reason = 'no cgroup2 mount: a pod cannot be laid out here';
  if (process.env.CI === 'true') throw new Error(`${reason} (CI=true, refusing to skip)`);
  process.stderr.write(`\n!!!!! SKIPPING "${t.name}": ${reason} !!!!!\n\n`);
  t.skip(reason);
  return null;
}

/**
 * A pod for fn, living in namespace ns: its directory in a temporary pod log directory (beside
 * another pod's), its cgroups (kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod
 * <uid with _>.slice with a cri-containerd-<id>.scope for the sandbox and one for the container,
 * under a parent of this test's), its sandbox process in ns. All removed afterwards.
 */
async function withKubeletPod<T>(mount: string, ns: string, fn: (pod: KubeletPod) => Promise<T>): Promise<T> {
  const uid = randomUUID();
  const pod = { namespace: 'dropwhy-e2e', name: `web-7d4b9c-${process.pid}`, uid, containerId: randomBytes(32).toString('hex') };
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'dropwhy-e2e-pods-'));
  const podLogs = path.join(root, 'pods');
  for (const [dir, container] of [
    [`${pod.namespace}_${pod.name}_${uid}`, 'web'],
    [`kube-system_coredns-5d78c9869d-abcde_${randomUUID()}`, 'coredns'],
  ]) {
    fs.mkdirSync(path.join(podLogs, dir, container), { recursive: true });
    fs.writeFileSync(path.join(podLogs, dir, container, '0.log'), '');
  }
  const slices = [`dropwhy-e2e-pods-${process.pid}`, 'kubepods.slice', 'kubepods-besteffort.slice', `kubepods-besteffort-pod${uid.replace(/-/g, '_')}.slice`];
  const podCgroup = `/${slices.join('/')}`;
  const sandboxCgroup = `${podCgroup}/cri-containerd-${randomBytes(32).toString('hex')}.scope`;
  const containerCgroup = `${podCgroup}/cri-containerd-${pod.containerId}.scope`;
  const made: string[] = [];
  const sandbox = { pid: 0, exited: Promise.resolve() };
  try {
    for (const cgroup of [...slices.map((_, i) => `/${slices.slice(0, i + 1).join('/')}`), sandboxCgroup, containerCgroup]) {
      fs.mkdirSync(path.join(mount, cgroup));
      made.unshift(path.join(mount, cgroup));
    }
    // The sandbox: nsenter joins the namespace and becomes `sleep`; moved into its cgroup at once.
    const child = spawn(...inNetnsArgv(ns, 'sleep', ['300']), { stdio: 'ignore' });
    sandbox.exited = new Promise((resolve) => child.once('exit', () => resolve()));
    sandbox.pid = child.pid!;
    fs.writeFileSync(path.join(mount, sandboxCgroup, 'cgroup.procs'), String(sandbox.pid));
    const netns = netnsInode(ns);
    for (let waited = 0; fs.statSync(`/proc/${sandbox.pid}/ns/net`).ino !== netns; waited += 20) {
      assert.ok(waited < 5_000, 'the sandbox process did not enter the namespace');
      await sleep(20);
    }
    return await fn({ ...pod, podLogs, containerProcs: path.join(mount, containerCgroup, 'cgroup.procs'), containerCgroup });
  } finally {
    if (sandbox.pid) {
      process.kill(sandbox.pid, 'SIGKILL');
      await sandbox.exited;
    }
    for (const dir of made) await removeCgroup(dir);
    fs.rmSync(root, { recursive: true, force: true });
  }
}

const hasRxSk = () => kernelFacts().tracepointFields.includes('rx_sk');

/** The drops: the container's receiver flooded from A, a closed port in B (the pod's), and one in A (no pod's). */
async function makeDrops(p: NetnsPair, pod: KubeletPod): Promise<{ flood: RcvbufFloodResult; closedInPod: number; closedElsewhere: number }> {
  const flood = await rcvbufFlood(p.nsB, p.v4B, RCVBUF_PORT, 1000, p.nsA, { name: 'dw-web', cgroupProcs: pod.containerProcs });
  assert.ok(flood.dropped > 0, `nothing was dropped: ${JSON.stringify(flood)}`);
  const before = await snmpCounters(p.nsB);
  const closedInPod = await sendUdp(p.nsA, p.v4B, CLOSED_PORT, 20);
  const after = await snmpCounters(p.nsB);
  assert.equal(after['Udp.NoPorts'] - before['Udp.NoPorts'], closedInPod, "the kernel's own count of datagrams to no socket in B");
  const closedElsewhere = await sendUdp(p.nsB, p.v4A, CLOSED_PORT, 10);
  return { flood, closedInPod, closedElsewhere };
}

test('-o json: drops in a kubepods-style pod carry its namespace, name and UID; at its socket also its container', TIMEOUT, async (t) => {
  if (!requireRealKernel(t)) return;
  const mount = requireCgroup2(t);
  if (mount === null) return;
  await withNetnsPair((p) =>
    withKubeletPod(mount, p.nsB, async (pod) => {
      // Kubernetes is detected by the pod log directory --pod-logs names.
      const { res, value } = await traceWhile(['-o', 'json', '--pod-logs', pod.podLogs, EXPRESSION], () => makeDrops(p, pod), { settleMs: 500 });
      const [inA, inB] = [netnsInode(p.nsA), netnsInode(p.nsB)];
      const events = res.events.filter((e) => e.netns === inA || e.netns === inB);
      const context = `stderr:\n${res.stderr}\nfirst events:\n${describeEvents(events.slice(0, 3))}`;
      const overflowed = events.filter((e) => e.netns === inB && e.dport === RCVBUF_PORT);
      const closedInPod = events.filter((e) => e.netns === inB && e.dport === CLOSED_PORT);
      const closedElsewhere = events.filter((e) => e.netns === inA && e.dport === CLOSED_PORT);
      assert.equal(events.length, overflowed.length + closedInPod.length + closedElsewhere.length, `only the three kinds of drop: ${context}`);
      assert.equal(overflowed.length, value.flood.dropped, context);
      assert.equal(closedInPod.length, value.closedInPod, context);
      assert.equal(closedElsewhere.length, value.closedElsewhere, context);

      const named = { namespace: pod.namespace, name: pod.name, uid: pod.uid };
      const byNamespace: PodRecord = { ...named, container: null };
      for (const event of overflowed) {
        assert.equal(event.reason, expectReason('SOCKET_RCVBUFF').reason);
        // Before 6.11 these drops have no socket: then the namespace names the pod, without a container.
        assert.deepEqual(event.pod, hasRxSk() ? { ...named, container: pod.containerId } : byNamespace, describeEvents([event]));
        if (hasRxSk()) {
          assert.equal(event.socket?.cgroup, pod.containerCgroup);
          assert.deepEqual(event.socket?.container, { runtime: 'containerd', id: pod.containerId, pod: pod.uid });
        }
      }
      for (const event of closedInPod) {
        assert.equal(event.reason, expectReason('NO_SOCKET').reason);
        assert.equal(event.socket, null);
        assert.deepEqual(event.pod, byNamespace, describeEvents([event]));
      }
      for (const event of closedElsewhere) assert.equal(event.pod, null, `a namespace no pod lives in: ${describeEvents([event])}`);
    }),
  );
});

test("exporter: the namespace and pod labels of drops in the pod's namespace, exact counts; empty for a namespace of no pod", TIMEOUT, async (t) => {
  if (!requireRealKernel(t)) return;
  const mount = requireCgroup2(t);
  if (mount === null) return;
  await withNetnsPair((p) =>
    withKubeletPod(mount, p.nsB, async (pod) => {
      const exporter = await startDropwhy(['exporter', '--listen', '127.0.0.1:0', '--kubernetes', '--pod-logs', pod.podLogs, EXPRESSION]);
      try {
        const made = await makeDrops(p, pod);
        const response = await fetch(await metricsUrl(exporter));
        assert.equal(response.status, 200);
        const body = await response.text();
        const [inA, inB] = [String(netnsInode(p.nsA)), String(netnsInode(p.nsB))];
        const drops = samples(body, 'dropwhy_drops_total').filter((s) => s.labels.netns === inA || s.labels.netns === inB);
        const reason = (name: string) => (kernelFacts().hasReason ? name : '');
        const fn = (name: string) => (kernelFacts().symbolsVisible ? name : undefined);
        const series = (netns: string, reasonName: string, functionName: string, labels: { namespace: string; pod: string }) => {
          const found = drops.filter(
            (s) => s.labels.netns === netns && s.labels.reason === reason(reasonName) && (fn(functionName) ?? s.labels.function) === s.labels.function,
          );
          assert.equal(found.length, 1, `one ${reasonName} series in ${netns}:\n${body}`);
          const { function: _function, ...rest } = found[0].labels;
          assert.deepEqual(rest, { reason: reason(reasonName), proto: 'udp', family: 'ipv4', netns, ...labels });
          return found[0].value;
        };
        const inPod = { namespace: pod.namespace, pod: pod.name };
        assert.equal(series(inB, 'SOCKET_RCVBUFF', 'udp_queue_rcv_one_skb', inPod), made.flood.dropped);
        assert.equal(series(inB, 'NO_SOCKET', '__udp4_lib_rcv', inPod), made.closedInPod);
        assert.equal(series(inA, 'NO_SOCKET', '__udp4_lib_rcv', { namespace: '', pod: '' }), made.closedElsewhere);
        assert.equal(drops.length, 3, `no other series: ${JSON.stringify(drops)}`);
        const res = await exporter.stop({ signal: 'SIGTERM', settleMs: 0 });
        assert.equal(res.code, 0, `exit code; stderr:\n${res.stderr}`);
      } finally {
        exporter.kill();
      }
    }),
  );
});
