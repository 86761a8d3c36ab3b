// Network namespaces by inode, as drop events name them: which file names one, how to enter one, and
// what dropwhy reads inside it (its counters, its interfaces). /proc/net and ip(8) answer for the
// namespace of the process asking, so another namespace is entered with nsenter.
import { statSync } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { readCounters, type HostSnapshot } from './counters';
import { interfaceIndex, listInterfaces } from './interfaces';

/** dropwhy's own network namespace. */
export const OWN_NETNS_PATH = '/proc/self/ns/net';

/** Inode of a network namespace file, or null when the path is not one; throws what else kept it from being read (EACCES). */
export type StatInode = (path: string) => number | null;

/** A path that enters the network namespace with this inode, or null when none is found now. */
export type FindNetns = (inode: number) => Promise<string | null>;

/** The ifindex of the interface named ifname in the namespace with this inode, or null when it has none of that name. */
export type InterfaceIndex = (ifname: string, netns: number) => Promise<number | null>;

/** A path that enters the namespace with this inode: a /run/netns entry, else the first process found living in it. */
export const findNetnsPath: FindNetns = async (inode) => {
  for (const name of ['/run/netns', '/var/run/netns']) {
    const entries = await readdir(name).catch(() => [] as string[]);
    for (const entry of entries) {
      if ((await stat(`${name}/${entry}`).catch(() => null))?.ino === inode) return `${name}/${entry}`;
    }
  }
  for (const pid of await readdir('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    const path = `/proc/${pid}/ns/net`;
    if ((await stat(path).catch(() => null))?.ino === inode) return path;
  }
  return null;
};

/** The namespaces of this machine, seen from dropwhy's own: made once per process. */
export class NetworkNamespaces {
  /** Our namespace file's identity; null when it cannot be read (then no path counts as a namespace). */
  private readonly own: { ino: number; dev: number } | null;

  constructor() {
    try {
      this.own = statSync(OWN_NETNS_PATH);
    } catch {
      this.own = null;
    }
  }

  /** Only namespace files count: they live on nsfs, like our own. */
  readonly inodeOf: StatInode = (path) => {
    try {
      const found = statSync(path);
      return found.dev === this.own?.dev ? found.ino : null;
    } catch (error) {
      const { code } = error as NodeJS.ErrnoException;
      if (code === 'ENOENT' || code === 'ENOTDIR') return null;
      throw error;
    }
  };

  /** The kernel's counters of the namespace with this inode, or of ours (null); withState: its settings too. */
  counters(netns: number | null, withState = false): Promise<HostSnapshot> {
    // Ours is read with no await first: the snapshot's child starts now, not after the caller's next
    // synchronous work (the BTF parse that follows it at start-up).
    if (netns === null || netns === this.own?.ino) return readCounters(null, withState);
    return this.enter(netns).then((path) => readCounters(path, withState));
  }

  readonly interfaceIndex: InterfaceIndex = async (ifname, netns) => interfaceIndex(ifname, await this.enter(netns));

  /** Every interface of the namespace with this inode, or null when no way into it was found. */
  async interfaces(netns: number): Promise<Map<number, string> | null> {
    if (netns === this.own?.ino) return listInterfaces(null);
    const path = await findNetnsPath(netns);
    return path === null ? null : listInterfaces(path);
  }

  /** A path that enters the namespace with this inode; null for ours (nothing to enter). */
  private async enter(netns: number | null): Promise<string | null> {
    if (netns === null || netns === this.own?.ino) return null;
    const path = await findNetnsPath(netns);
    if (path === null) throw new Error(`no process or /run/netns entry found for network namespace ${netns}`);
    return path;
  }
}
