// The deployment files against the code they deploy: what can drift when one
// side changes. The container's arguments must pass dropwhy's own option
// parser, its port must be the one it listens on, probes and scrapes must ask
// for paths the exporter serves, and the selectors must select the pods.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { parseCommandLine } from '../../src/cli';
import { METRICS_PATH, SERVED_PATHS } from '../../src/commands/exporter';
import { checkExporter, DEFAULT_EXPORTER_PORT, SESSION_OPTIONS } from '../../src/commands/options';
import { REPO_ROOT } from './helpers';

// biome-ignore lint/suspicious/noExplicitAny: parsed YAML, walked by path; a wrong path fails the assertion
type Manifest = { kind: string; metadata: { name: string; namespace?: string; labels?: Record<string, string> }; spec?: any };

function manifests(dir: string): Manifest[] {
  return readdirSync(join(REPO_ROOT, dir))
    .filter((file) => /\.ya?ml$/.test(file))
    .sort()
    .flatMap((file) =>
      parseAllDocuments(readFileSync(join(REPO_ROOT, dir, file), 'utf8')).map((doc) => {
        assert.deepEqual(doc.errors, [], `${dir}/${file} parses`);
        return doc.toJS() as Manifest;
      }),
    );
}

const kubernetes = manifests('deploy/kubernetes');
const byKind = (kind: string, from = kubernetes) => {
  const found = from.filter((m) => m.kind === kind);
  assert.equal(found.length, 1, `one ${kind}`);
  return found[0];
};
const daemonSet = byKind('DaemonSet');
const pod = daemonSet.spec.template;
const container = pod.spec.containers[0];

/** The exporter's options as dropwhy itself parses these arguments. */
async function exporterOptions(args: string[]) {
  const { command, raw } = await parseCommandLine(args);
  assert.equal(command, 'exporter', `${JSON.stringify(args)} runs the exporter`);
  return checkExporter(raw);
}

test('kubernetes: the files apply in order: the namespace first, everything in it', () => {
  const order = kubernetes.map((m) => m.kind);
  assert.equal(order[0], 'Namespace');
  const namespace = kubernetes[0].metadata.name;
  for (const m of kubernetes.slice(1)) assert.equal(m.metadata.namespace, namespace, `${m.kind} ${m.metadata.name}`);
  assert.equal(byKind('ServiceAccount').metadata.name, pod.spec.serviceAccountName);
});

test("kubernetes: the container's arguments are accepted by dropwhy and listen on every address of the metrics port", async () => {
  const options = await exporterOptions(container.args);
  assert.equal(options.listen.host === null || options.listen.host === '0.0.0.0' || options.listen.host === '::', true, 'reachable from outside the pod');
  const metricsPort = container.ports.find((p: { name: string }) => p.name === 'metrics');
  assert.ok(metricsPort, 'a port named metrics');
  assert.equal(metricsPort.containerPort, options.listen.port);
  assert.equal(options.listen.port, DEFAULT_EXPORTER_PORT);
});

test('kubernetes: the probes ask the metrics port for paths the exporter serves', () => {
  for (const probe of ['readinessProbe', 'livenessProbe']) {
    const get = container[probe]?.httpGet;
    assert.ok(get, `${probe} is an HTTP GET`);
    assert.ok((SERVED_PATHS as readonly string[]).includes(get.path), `${probe} path ${get.path}`);
    assert.equal(get.port, 'metrics');
  }
});

test('kubernetes: the selector selects the pod template, and the pod runs on every node', () => {
  for (const [key, value] of Object.entries(daemonSet.spec.selector.matchLabels)) assert.equal(pod.metadata.labels[key], value);
  assert.ok(pod.spec.tolerations.some((t: { operator: string; key?: string }) => t.operator === 'Exists' && t.key === undefined));
  assert.equal(container.securityContext.readOnlyRootFilesystem, true);
  assert.ok(container.resources.limits.memory && container.resources.requests.memory);
});

test('prometheus: the PodMonitor and the scrape config scrape the exporter where it serves', () => {
  const prometheus = manifests('deploy/prometheus');
  const podMonitor = byKind('PodMonitor', prometheus);
  for (const [key, value] of Object.entries(podMonitor.spec.selector.matchLabels)) assert.equal(pod.metadata.labels[key], value);
  assert.equal(podMonitor.metadata.namespace, daemonSet.metadata.namespace);
  const [endpoint] = podMonitor.spec.podMetricsEndpoints;
  assert.equal(endpoint.port, 'metrics');
  assert.equal(endpoint.path ?? '/metrics', METRICS_PATH);

  const config = prometheus.find((m) => (m as unknown as { scrape_configs?: unknown }).scrape_configs) as unknown as {
    scrape_configs: Array<{ job_name: string; metrics_path?: string; relabel_configs: Array<{ source_labels: string[]; regex?: string; action?: string }> }>;
  };
  const job = config.scrape_configs.find((j) => j.job_name === 'dropwhy');
  assert.ok(job, 'a dropwhy job');
  assert.equal(job.metrics_path ?? '/metrics', METRICS_PATH);
  const port = job.relabel_configs.find((r) => r.source_labels.includes('__meta_kubernetes_pod_container_port_number'));
  assert.equal(port?.regex, String(DEFAULT_EXPORTER_PORT));
  const name = job.relabel_configs.find((r) => r.source_labels.includes('__meta_kubernetes_pod_label_app_kubernetes_io_name'));
  assert.equal(name?.regex, pod.metadata.labels['app.kubernetes.io/name']);
});

test("Dockerfile: the image's command is accepted by dropwhy and listens on the port it exposes", async () => {
  const dockerfile = readFileSync(join(REPO_ROOT, 'Dockerfile'), 'utf8');
  const instruction = (name: string) => [...dockerfile.matchAll(new RegExp(`^${name} (.+)$`, 'gm'))].map((m) => m[1]).pop();
  assert.deepEqual(JSON.parse(instruction('ENTRYPOINT')!), ['dropwhy']);
  const command = JSON.parse(instruction('CMD')!) as string[];
  const options = await exporterOptions(command);
  assert.equal(Number(instruction('EXPOSE')), options.listen.port);
  assert.deepEqual(command, container.args, 'the DaemonSet runs what the image runs by default');
});

test("Dockerfile: the image's OCI labels name its source and package.json's version, the tag the DaemonSet runs", () => {
  const dockerfile = readFileSync(join(REPO_ROOT, 'Dockerfile'), 'utf8').replace(/\\\n/g, ' ');
  const label = (key: string) => new RegExp(`\\borg\\.opencontainers\\.image\\.${key}="([^"]*)"`).exec(dockerfile)?.[1];
  const { version } = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string };
  assert.equal(label('version'), version);
  assert.match(label('source') ?? '', /^https:\/\//);
  assert.equal(container.image.split(':').pop(), version, 'the DaemonSet runs this version');
});

/** scripts/lib/daemonset.js: the DaemonSet as the image check runs it with podman. */
interface DaemonSetTool {
  partsOf(daemonSet: unknown): unknown;
  runOptions(parts: unknown): string[];
  expectedStatus(parts: unknown): string[];
  pod(parts: unknown): string;
}
// A plain script of scripts/lib, loaded as the check loads it.
const tool = require(join(REPO_ROOT, 'scripts', 'lib', 'daemonset.js')) as DaemonSetTool;
const copy = () => structuredClone(daemonSet);

test('kubernetes: seccomp Unconfined for the container, never CAP_SYS_ADMIN, no capability but the five with reasons', () => {
  assert.equal(container.securityContext.seccompProfile?.type, 'Unconfined');
  assert.deepEqual(container.securityContext.capabilities, { drop: ['ALL'], add: ['BPF', 'PERFMON', 'SYSLOG', 'SYS_RESOURCE', 'SYS_PTRACE'] });
  assert.equal(container.securityContext.privileged, false);
});

test('image check: the DaemonSet becomes podman run options setting what the manifest sets', () => {
  const options = tool.runOptions(tool.partsOf(daemonSet));
  const security = container.securityContext;
  for (const cap of security.capabilities.add) assert.ok(options.includes(`--cap-add=${cap.toLowerCase()}`), cap);
  assert.ok(options.includes('--cap-drop=all'));
  assert.ok(options.includes('--read-only') && options.includes('--read-only-tmpfs=false'), 'readOnlyRootFilesystem, no tmpfs podman would add');
  assert.ok(options.includes('--security-opt=no-new-privileges'), 'allowPrivilegeEscalation: false');
  assert.ok(options.includes('--security-opt=seccomp=unconfined'));
  assert.ok(options.includes(`--user=${security.runAsUser}`));
  assert.ok(options.includes('--network=none'), 'a network namespace of its own, as a pod without hostNetwork');
  assert.ok(options.includes(`--memory=${160 * 2 ** 20}`), container.resources.limits.memory);
  assert.ok(options.includes('--volume=/sys/kernel/btf:/sys/kernel/btf:ro'));
  assert.ok(options.includes('--volume=/var/log/pods:/var/log/pods:ro'));
  assert.ok(options.includes('--pid=host'), 'hostPID');
  assert.ok(options.includes(`--stop-timeout=${pod.spec.terminationGracePeriodSeconds}`));
  assert.deepEqual(tool.expectedStatus(tool.partsOf(daemonSet)), [
    `CapEff ${((1n << 39n) | (1n << 38n) | (1n << 34n) | (1n << 24n) | (1n << 19n)).toString(16).padStart(16, '0')}`,
    'NoNewPrivs 1',
    'Seccomp 0',
  ]);

  // the runtime's default profile when the manifest asks for it
  const runtimeDefault = copy();
  runtimeDefault.spec.template.spec.containers[0].securityContext.seccompProfile = { type: 'RuntimeDefault' };
  assert.equal(
    tool.runOptions(tool.partsOf(runtimeDefault)).some((o) => o.includes('seccomp')),
    false,
  );
  assert.ok(tool.expectedStatus(tool.partsOf(runtimeDefault)).includes('Seccomp 2'));
});

test("kubernetes: pods are named as dropwhy looks for them: the kubelet's pod log directory mounted where --pod-logs looks by default, the host's processes seen", () => {
  const mount = container.volumeMounts.find((m: { mountPath: string }) => m.mountPath === SESSION_OPTIONS['pod-logs'].default);
  assert.ok(mount, `a mount at --pod-logs' default ${SESSION_OPTIONS['pod-logs'].default}`);
  assert.equal(mount.readOnly, true);
  const volume = pod.spec.volumes.find((v: { name: string }) => v.name === mount.name);
  assert.equal(volume.hostPath.path, '/var/log/pods', "the kubelet's own directory");
  assert.equal(pod.spec.hostPID, true, "the pods' processes, to find which pod lives in a network namespace");
  assert.ok(container.securityContext.capabilities.add.includes('SYS_PTRACE'), 'their /proc/PID/ns/net: ptrace read access');
});

test('image check: a field the check cannot reproduce is refused, not skipped', () => {
  const cases: Array<[string, (d: ReturnType<typeof copy>) => void]> = [
    ['container.securityContext.procMount', (d) => (d.spec.template.spec.containers[0].securityContext.procMount = 'Unmasked')],
    ['spec.template.spec.hostIPC', (d) => (d.spec.template.spec.hostIPC = true)],
    ['container.env', (d) => (d.spec.template.spec.containers[0].env = [{ name: 'X', value: '1' }])],
    ['container.resources.limits.cpu', (d) => (d.spec.template.spec.containers[0].resources.limits.cpu = '1')],
    ['volume btf.emptyDir', (d) => (d.spec.template.spec.volumes[0].emptyDir = {})],
  ];
  for (const [field, change] of cases) {
    const changed = copy();
    change(changed);
    assert.throws(() => tool.partsOf(changed), new RegExp(`${field.replace(/\./g, '\\.')} is not reproduced by the image check`), field);
  }
});

test('image check: the Pod for podman kube play is the pod template, its seccomp profile also as the annotation podman 4.3 reads', () => {
  const [played] = parseAllDocuments(tool.pod(tool.partsOf(daemonSet))).map((doc) => doc.toJS());
  assert.equal(played.kind, 'Pod');
  // podman 4.3 publishes every port on the host: the Pod leaves them out, its probes name the number
  const { ports, ...rest } = container;
  const port = ports[0].containerPort;
  assert.deepEqual(played.spec, {
    ...pod.spec,
    containers: [
      {
        ...rest,
        readinessProbe: { ...rest.readinessProbe, httpGet: { ...rest.readinessProbe.httpGet, port } },
        livenessProbe: { ...rest.livenessProbe, httpGet: { ...rest.livenessProbe.httpGet, port } },
      },
    ],
  });
  assert.deepEqual(played.metadata.labels, pod.metadata.labels);
  assert.equal(played.metadata.annotations[`container.seccomp.security.alpha.kubernetes.io/${container.name}`], 'unconfined');
});
