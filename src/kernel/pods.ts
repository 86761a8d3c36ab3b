// The Kubernetes pods of drops on this node, without the API server: the pod of a container's
// cgroup (its UID in the kubepods path) or of a network namespace (netns-pods.ts), named from the
// kubelet's pod log directory (pod-logs.ts). Whether to look at all: --kubernetes, else detected.
import { existsSync } from 'node:fs';
import { systemErrorText } from '../errors';
import type { Container } from './container';
import { NamespacePods, scanProcesses } from './netns-pods';
import { listPodLogDirectory, PodNames, type PodName } from './pod-logs';

/** The pod a drop belongs to: the JSON "pod" object, keys in the order of docs/json-schema.md. */
export interface Pod {
  /** null while the kubelet's directory does not name the UID. */
  namespace: string | null;
  name: string | null;
  uid: string;
  /** The 64-hex id of the container whose socket it was; null when the pod was found by its network namespace, which all its containers share. */
  container: string | null;
}

/** --kubernetes and --pod-logs. */
export interface PodSettings {
  /** true, false, or null: detected. */
  kubernetes: boolean | null;
  /** The kubelet's pod log directory. */
  logDirectory: string;
}

/** On when asked for; by default where the kubelet's pod log directory exists or, as in every pod, KUBERNETES_SERVICE_HOST is set. */
export function kubernetesDetected(settings: PodSettings, logDirectoryExists: boolean, env: NodeJS.ProcessEnv): boolean {
  return settings.kubernetes ?? (logDirectoryExists || (env.KUBERNETES_SERVICE_HOST ?? '') !== '');
}

/** Each pod's objects, made once per UID and name: the writers cache their bytes by object. */
interface PodObjects {
  named: PodName | null;
  /** Found by its namespace. */
  pod: Pod;
  /** Found by a container's socket, by container id. */
  containers: Map<string, Pod>;
}

/** Pods whose objects are kept; emptied when full (a node runs a few hundred). */
const MAX_PODS = 4096;

/** Lookups never wait (the names and namespaces load in the background); load() waits. */
export class Pods {
  private objects = new Map<string, PodObjects>();

  constructor(
    private readonly names: PodNames,
    private readonly namespaces: NamespacePods,
  ) {}

  /** The pod living in the network namespace with this inode; null for none, or while unknown. */
  ofNetns(netns: number | null): Pod | null {
    if (netns === null) return null;
    const uid = this.namespaces.pod(netns);
    return uid === null ? null : this.objectsOf(uid).pod;
  }

  /** The pod of a container's cgroup, with the container's id; null when the cgroup is no pod's. */
  ofContainer(container: Container): Pod | null {
    if (container.pod === null) return null;
    const objects = this.objectsOf(container.pod);
    if (container.id === null) return objects.pod;
    let pod = objects.containers.get(container.id);
    if (pod === undefined) objects.containers.set(container.id, (pod = { ...objects.pod, container: container.id }));
    return pod;
  }

  /** Reads the directory and scans /proc now; resolves once both are known. */
  async load(): Promise<void> {
    await Promise.all([this.names.load(), this.namespaces.load()]);
  }

  /** Loads first when one of these namespaces, or the name of a pod in one, is unknown (at most once per rescan interval): scrapes may wait, drops never do. */
  async refresh(namespaces: readonly number[]): Promise<void> {
    if (!this.namespaces.settled(namespaces)) await this.namespaces.load();
    const uids = namespaces.map((netns) => this.namespaces.pod(netns)).filter((uid): uid is string => uid !== null);
    if (!this.names.settled(uids)) await this.names.load();
  }

  private objectsOf(uid: string): PodObjects {
    const named = this.names.pod(uid);
    let objects = this.objects.get(uid);
    if (objects === undefined || objects.named !== named) {
      if (this.objects.size >= MAX_PODS) this.objects = new Map();
      objects = { named, pod: { namespace: named?.namespace ?? null, name: named?.name ?? null, uid, container: null }, containers: new Map() };
      this.objects.set(uid, objects);
    }
    return objects;
  }
}

/** This node's pods, or null where Kubernetes is neither asked for nor detected; warn hears what cannot be read. */
export function nodePods(settings: PodSettings, env: NodeJS.ProcessEnv, warn: (message: string) => void): Pods | null {
  if (!kubernetesDetected(settings, existsSync(settings.logDirectory), env)) return null;
  const { logDirectory } = settings;
  return new Pods(
    new PodNames(listPodLogDirectory(logDirectory), (error) =>
      warn(`cannot read the kubelet's pod log directory ${logDirectory}: ${systemErrorText(error)}: pods are named by UID only (mount it read-only, or set --pod-logs)`),
    ),
    new NamespacePods(scanProcesses, (error) => warn(`cannot scan /proc for the pods of network namespaces: ${systemErrorText(error)}`)),
  );
}
