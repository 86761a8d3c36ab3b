// Pod UID → namespace and name, without the API server: the kubelet keeps one directory per pod
// on its node, /var/log/pods/<namespace>_<name>_<uid>/ (kuberuntime's BuildPodLogsDirectory), from
// before the pod's sandbox starts until the pod is removed.
import { RescannedTable } from './rescanned-table';
import { readdir } from 'node:fs/promises';

export interface PodName {
  namespace: string;
  name: string;
  uid: string;
}

/** A listing keeps at most this many pods: a node runs a few hundred at most. */
const MAX_PODS = 100_000;

/** A namespace is a DNS label: no `_`, so the first `_` ends it. */
const NAMESPACE = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
/** An API pod's UID is a UUID; a static pod's is the hex MD5 of its manifest. No `_`, so the last `_` starts it. */
const UID = /^(?:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|[0-9a-f]{32})$/;

/** The pod a directory of the kubelet's pod log directory is named for; null for any other name. */
export function parsePodLogEntry(entry: string): PodName | null {
  const first = entry.indexOf('_');
  const last = entry.lastIndexOf('_');
  if (first < 0 || last <= first + 1) return null;
  const namespace = entry.slice(0, first);
  const uid = entry.slice(last + 1);
  if (!NAMESPACE.test(namespace) || !UID.test(uid)) return null;
  // Between them, whatever the pod's name is (names cannot hold `_`, but nothing here needs them not to).
  return { namespace, name: entry.slice(first + 1, last), uid };
}

/** The pods of a listing of the directory, by UID. */
export function podNamesOf(entries: readonly string[]): Map<string, PodName> {
  const pods = new Map<string, PodName>();
  for (const entry of entries) {
    if (pods.size >= MAX_PODS) break;
    const pod = parsePodLogEntry(entry);
    if (pod !== null) pods.set(pod.uid, pod);
  }
  return pods;
}

/** The names in the kubelet's pod log directory. */
export type ListPodLogs = () => Promise<readonly string[]>;

export const listPodLogDirectory =
  (directory: string): ListPodLogs =>
  () =>
    readdir(directory);

/**
 * UID → pod, for every drop (RescannedTable: a lookup never waits). A UID the last listing lacks (a pod
 * new since) starts one listing, at most one per rescanMs. A UID never names another pod, so what a
 * listing found stays right until the next: no maximum age.
 */
export class PodNames extends RescannedTable<string, PodName> {
  constructor(list: ListPodLogs, onError: (error: unknown) => void = () => {}, nowMs: () => number = () => performance.now(), rescanMs = 1000) {
    super(async () => podNamesOf(await list()), onError, nowMs, rescanMs);
  }

  /** The pod with this UID, null while the directory does not name it. */
  pod(uid: string): PodName | null {
    return this.lookup(uid);
  }
}
