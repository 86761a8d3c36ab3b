// The pod a drop belongs to, as dropwhy shows it: the pod of its socket's cgroup, else the pod
// living in its network namespace; its name in text.
import type { Pod } from '../kernel/pods';
import type { PodResolver } from './format';
import type { ResolvedSocket } from './socket';

/**
 * The socket's pod wins: it is whose packet it was, as its owner is (a host-network pod's socket
 * drops in the node's namespace, which is no pod's). A drop without a socket, or at a socket
 * outside any pod, has its namespace's pod.
 */
export function podOf(netns: number | null, socket: ResolvedSocket | null, pods: PodResolver): Pod | null {
  const container = socket?.cgroup?.container;
  return (container ? pods.ofContainer(container) : null) ?? pods.ofNetns(netns);
}

/** `default/web-1`; its UID while the kubelet's directory does not name it. */
export function podName(pod: Pod): string {
  return pod.name === null ? pod.uid : `${pod.namespace}/${pod.name}`;
}

/** ` pod default/web-1`, or nothing without a pod. */
export function podText(pod: Pod | null): string {
  return pod === null ? '' : ` pod ${podName(pod)}`;
}
