#!/usr/bin/env node
// The DaemonSet of deploy/kubernetes/ as podman runs it, for scripts/image-check.sh: the image check
// runs the container with the manifest's own securityContext, mounts, limits and arguments, read from
// the manifest, never repeated by hand. A field this file does not know how to reproduce is an error,
// not something skipped: the check must not pass on settings it never applied.
//
//   node scripts/lib/daemonset.js WHAT [--seccomp TYPE] [MANIFEST]
//
//   run-options  podman run options, one a line (no image, no command); --seccomp RuntimeDefault
//                runs it under the runtime's default profile whatever the manifest says
//   image        the container's image
//   args         the container's arguments, one a line
//   probes       "NAME PATH PORT" for each HTTP probe, the port resolved from its name
//   grace        terminationGracePeriodSeconds
//   status       what /proc/PID/status of the container's process must show: "CapEff HEX",
//                "NoNewPrivs 0|1", "Seccomp 0|2"
//   pod          a Pod of the DaemonSet's pod template, for `podman kube play` (podman 4.3 plays Pods,
//                not DaemonSets, and reads seccomp from the annotations Kubernetes used before 1.19)
//   host-path MOUNT_PATH  the host directory of the hostPath volume the container sees at MOUNT_PATH
'use strict';
const { readFileSync } = require('node:fs');
const { join } = require('node:path');
const { parseAllDocuments, stringify } = require('yaml');

const DEFAULT_MANIFEST = join(__dirname, '..', '..', 'deploy', 'kubernetes', '20-daemonset.yaml');
/** Where the kubelet looks for Localhost seccomp profiles (its --root-dir, then seccomp/). */
const KUBELET_SECCOMP_ROOT = '/var/lib/kubelet/seccomp';
/** Capability names by number (linux/capability.h). */
const CAPABILITIES = (
  'CHOWN DAC_OVERRIDE DAC_READ_SEARCH FOWNER FSETID KILL SETGID SETUID SETPCAP LINUX_IMMUTABLE NET_BIND_SERVICE NET_BROADCAST NET_ADMIN ' +
  'NET_RAW IPC_LOCK IPC_OWNER SYS_MODULE SYS_RAWIO SYS_CHROOT SYS_PTRACE SYS_PACCT SYS_ADMIN SYS_BOOT SYS_NICE SYS_RESOURCE SYS_TIME ' +
  'SYS_TTY_CONFIG MKNOD LEASE AUDIT_WRITE AUDIT_CONTROL SETFCAP MAC_OVERRIDE MAC_ADMIN SYSLOG WAKE_ALARM BLOCK_SUSPEND AUDIT_READ PERFMON BPF ' +
  'CHECKPOINT_RESTORE'
).split(' ');

function fail(message) {
  throw new Error(`daemonset.js: ${message}`);
}

/** Every key of object must be one of known; the rest would be silently left out. */
function onlyKnown(object, where, known) {
  for (const key of Object.keys(object ?? {})) {
    if (!known.includes(key)) fail(`${where}.${key} is not reproduced by the image check; teach scripts/lib/daemonset.js to run it`);
  }
}

function readDaemonSet(file) {
  const docs = parseAllDocuments(readFileSync(file, 'utf8')).map((doc) => {
    if (doc.errors.length > 0) fail(`${file}: ${doc.errors[0].message}`);
    return doc.toJS();
  });
  const daemonSets = docs.filter((doc) => doc?.kind === 'DaemonSet');
  if (daemonSets.length !== 1) fail(`${file}: expected one DaemonSet, found ${daemonSets.length}`);
  return partsOf(daemonSets[0]);
}

/** The DaemonSet, its pod spec and its one container, once every field in them is known here. */
function partsOf(daemonSet) {
  const spec = daemonSet.spec.template.spec;
  // Scheduling, the API server and the service account have no counterpart on one machine.
  const SCHEDULING = ['serviceAccountName', 'automountServiceAccountToken', 'nodeSelector', 'tolerations', 'affinity', 'priorityClassName'];
  onlyKnown(spec, 'spec.template.spec', [...SCHEDULING, 'hostNetwork', 'hostPID', 'terminationGracePeriodSeconds', 'securityContext', 'containers', 'volumes']);
  onlyKnown(spec.securityContext, 'spec.template.spec.securityContext', ['seccompProfile']);
  if (spec.containers.length !== 1) fail('expected one container in the pod template');
  const container = spec.containers[0];
  onlyKnown(container, 'container', ['name', 'image', 'args', 'ports', 'readinessProbe', 'livenessProbe', 'resources', 'securityContext', 'volumeMounts']);
  onlyKnown(container.securityContext, 'container.securityContext', [
    'runAsUser',
    'runAsNonRoot',
    'privileged',
    'allowPrivilegeEscalation',
    'readOnlyRootFilesystem',
    'capabilities',
    'seccompProfile',
  ]);
  onlyKnown(container.resources, 'container.resources', ['requests', 'limits']);
  onlyKnown(container.resources?.limits, 'container.resources.limits', ['memory']);
  for (const mount of container.volumeMounts ?? []) onlyKnown(mount, 'container.volumeMounts[]', ['name', 'mountPath', 'readOnly']);
  for (const volume of spec.volumes ?? []) {
    onlyKnown(volume, `volume ${volume.name}`, ['name', 'hostPath']);
    onlyKnown(volume.hostPath, `volume ${volume.name}.hostPath`, ['path', 'type']);
  }
  return { daemonSet, spec, container };
}

/** The container's seccomp profile: its own, else the pod's, else the runtime's default. */
function seccompProfile({ spec, container }) {
  const profile = container.securityContext?.seccompProfile ?? spec.securityContext?.seccompProfile ?? { type: 'RuntimeDefault' };
  if (!['RuntimeDefault', 'Unconfined', 'Localhost'].includes(profile.type)) fail(`unknown seccompProfile type ${profile.type}`);
  return profile;
}

/** A Kubernetes quantity of bytes ("160Mi", "1G", "512") in bytes. */
function bytes(quantity) {
  const match = /^(\d+)(Ki|Mi|Gi|k|M|G)?$/.exec(String(quantity));
  if (!match) fail(`cannot read the quantity ${quantity}`);
  const unit = { Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, k: 1e3, M: 1e6, G: 1e9 }[match[2]] ?? 1;
  return Number(match[1]) * unit;
}

function runOptions(parts) {
  const { spec, container } = parts;
  const security = container.securityContext ?? {};
  // A pod has a network namespace of its own; no CNI here, so only its loopback.
  const options = [`--network=${spec.hostNetwork ? 'host' : 'none'}`];
  if (spec.hostPID) options.push('--pid=host');
  if (security.runAsUser !== undefined) options.push(`--user=${security.runAsUser}`);
  if (security.runAsNonRoot && security.runAsUser === 0) fail('runAsNonRoot with runAsUser 0 cannot run');
  if (security.privileged) options.push('--privileged');
  if (security.allowPrivilegeEscalation === false) options.push('--security-opt=no-new-privileges');
  // Kubernetes mounts no tmpfs of its own on a read-only root; podman would at /tmp, /var/tmp and /run.
  if (security.readOnlyRootFilesystem) options.push('--read-only', '--read-only-tmpfs=false');
  for (const cap of security.capabilities?.drop ?? []) options.push(`--cap-drop=${cap.toLowerCase()}`);
  for (const cap of security.capabilities?.add ?? []) options.push(`--cap-add=${capability(cap)[0]}`);
  const profile = seccompProfile(parts);
  if (profile.type === 'Unconfined') options.push('--security-opt=seccomp=unconfined');
  if (profile.type === 'Localhost') options.push(`--security-opt=seccomp=${join(KUBELET_SECCOMP_ROOT, profile.localhostProfile)}`);
  const memory = container.resources?.limits?.memory;
  if (memory !== undefined) options.push(`--memory=${bytes(memory)}`);
  const volumes = new Map((spec.volumes ?? []).map((volume) => [volume.name, volume]));
  for (const mount of container.volumeMounts ?? []) {
    const volume = volumes.get(mount.name) ?? fail(`no volume named ${mount.name}`);
    options.push(`--volume=${volume.hostPath.path}:${mount.mountPath}${mount.readOnly ? ':ro' : ''}`);
  }
  if (spec.terminationGracePeriodSeconds !== undefined) options.push(`--stop-timeout=${spec.terminationGracePeriodSeconds}`);
  return options;
}

/** [name as podman takes it, number] of a Kubernetes capability name. */
function capability(name) {
  const bare = name.replace(/^CAP_/, '');
  const number = CAPABILITIES.indexOf(bare);
  if (number < 0) fail(`unknown capability ${name}`);
  return [bare.toLowerCase(), number];
}

/** What the kernel must show for the container's process, whoever started it. */
function expectedStatus(parts) {
  const security = parts.container.securityContext ?? {};
  const drop = security.capabilities?.drop ?? [];
  if (security.privileged || !drop.includes('ALL')) fail('the expected capabilities are known only for drop: [ALL]');
  let capEff = 0n;
  for (const cap of security.capabilities?.add ?? []) capEff |= 1n << BigInt(capability(cap)[1]);
  return [
    `CapEff ${capEff.toString(16).padStart(16, '0')}`,
    `NoNewPrivs ${security.allowPrivilegeEscalation === false ? 1 : 0}`,
    `Seccomp ${seccompProfile(parts).type === 'Unconfined' ? 0 : 2}`,
  ];
}

function probes({ container }) {
  return ['readinessProbe', 'livenessProbe'].flatMap((name) => {
    const probe = container[name];
    if (!probe) return [];
    if (!probe.httpGet) fail(`${name} is not an HTTP GET`);
    const { port, path } = probe.httpGet;
    const number = typeof port === 'number' ? port : container.ports?.find((p) => p.name === port)?.containerPort;
    if (!number) fail(`${name}: no port named ${port}`);
    return [`${name} ${path} ${number}`];
  });
}

/**
 * The pod template as a Pod, as podman 4.3 can play it: its seccomp profile also as the annotation podman
 * reads, and without `ports`, which podman would publish on the host (a bridge or slirp4netns); a pod's
 * port is reachable in its own network namespace without that, and the probes name its number.
 */
function pod(parts) {
  const { daemonSet, container } = parts;
  const profile = seccompProfile(parts);
  const annotation = { RuntimeDefault: 'runtime/default', Unconfined: 'unconfined', Localhost: `localhost/${profile.localhostProfile}` }[profile.type];
  const { template } = daemonSet.spec;
  const played = { ...container };
  delete played.ports;
  for (const line of probes(parts)) {
    const [name, , port] = line.split(' ');
    played[name] = { ...container[name], httpGet: { ...container[name].httpGet, port: Number(port) } };
  }
  return stringify({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: daemonSet.metadata.name,
      labels: template.metadata.labels,
      annotations: { ...template.metadata.annotations, [`container.seccomp.security.alpha.kubernetes.io/${container.name}`]: annotation },
    },
    spec: { ...template.spec, containers: [played] },
  });
}

/** The host directory the container sees at mountPath. */
function hostPathMountedAt(parts, mountPath) {
  const mount = (parts.container.volumeMounts ?? []).find((m) => m.mountPath === mountPath) ?? fail(`nothing is mounted at ${mountPath}`);
  const volume = (parts.spec.volumes ?? []).find((v) => v.name === mount.name) ?? fail(`no volume named ${mount.name}`);
  return volume.hostPath?.path ?? fail(`the volume ${mount.name} is not a hostPath`);
}

function main(argv) {
  const [what, ...rest] = argv;
  const at = rest.indexOf('--seccomp');
  const seccomp = at >= 0 ? rest.splice(at, 2)[1] : null;
  // host-path MOUNT_PATH [MANIFEST]; the others [MANIFEST]
  const mountPath = what === 'host-path' ? rest.shift() : undefined;
  const parts = readDaemonSet(rest[0] ?? DEFAULT_MANIFEST);
  if (seccomp) parts.container = { ...parts.container, securityContext: { ...parts.container.securityContext, seccompProfile: { type: seccomp } } };
  const outputs = {
    'run-options': () => runOptions(parts),
    image: () => [parts.container.image],
    args: () => parts.container.args ?? [],
    probes: () => probes(parts),
    grace: () => [String(parts.spec.terminationGracePeriodSeconds ?? 30)],
    status: () => expectedStatus(parts),
    pod: () => [pod(parts).trimEnd()],
    'host-path': () => [hostPathMountedAt(parts, mountPath)],
  };
  if (!(what in outputs)) fail(`expected one of ${Object.keys(outputs).join(', ')}, got ${what}`);
  process.stdout.write(`${outputs[what]().join('\n')}\n`);
}

if (require.main === module) {
  try {
    main(process.argv.slice(2));
  } catch (error) {
    process.stderr.write(`${error.message}\n`);
    process.exit(1);
  }
}

module.exports = { partsOf, runOptions, expectedStatus, probes, pod, bytes };
