// What the writers (json-writer.ts, text-writer.ts) and the other outputs need
// from the machine, handed in as one FormatContext: the writers stay pure.
import type { DropEvent } from '../events/decode';
import type { CgroupInfo } from '../kernel/cgroups';
import type { Container } from '../kernel/container';
import type { Pod } from '../kernel/pods';
import type { SocketOwner } from '../kernel/socket-owners';
import type { ReasonTable } from '../events/reasons';

export interface Symbolizer {
  symbolize(address: DropEvent['location']): string | null;
}

/** Who holds a socket and where its cgroup is: answered from /proc and the cgroup2 mount, cached. */
export interface SocketResolver {
  owner(inode: number): SocketOwner | null;
  cgroup(id: number): CgroupInfo | null;
}

/** Interface names by (netns inode, ifindex); null while unknown. A lookup never waits. */
export interface InterfaceResolver {
  name(netns: number | null, ifindex: number): string | null;
}

/** The pods of drops on a Kubernetes node (src/kernel/pods.ts); null while unknown. A lookup never waits. */
export interface PodResolver {
  /** The pod living in the network namespace with this inode. */
  ofNetns(netns: number | null): Pod | null;
  /** The pod of a container's cgroup, with the container's id. */
  ofContainer(container: Container): Pod | null;
}

/** Symbolized kernel stacks by id (src/kernel/stacks.ts): `symbol+0xoff` frames, innermost first. */
export interface StackFrames {
  get(id: number): string[] | null;
  /** Reads these ids' frames at once, ahead of get(). */
  load(ids: Iterable<number>): void;
}

export interface FormatContext {
  reasons: ReasonTable;
  symbols: Symbolizer;
  sockets: SocketResolver;
  interfaces: InterfaceResolver;
  /** In Kubernetes (--kubernetes, or detected); absent elsewhere, and every drop's pod is null. */
  pods?: PodResolver;
  /** With --stack, once the tracer is open. */
  stacks?: StackFrames;
  /** Add to a CLOCK_MONOTONIC timestamp (ns) to get Unix time (ns). */
  monotonicToUnixNs: number;
  color: boolean;
}
