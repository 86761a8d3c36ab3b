// Which process holds a socket, found the way `ss -p` finds it: every
// /proc/PID/fd link that reads "socket:[INODE]". One scan maps every socket on
// the machine; a socket it did not see (new since) triggers another, at most
// one per rescanMs, so a storm of drops at sockets nobody holds costs one scan
// a second, not one per drop.
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';

export interface SocketOwner {
  pid: number;
  comm: string;
}

/** A scan reads at most this many processes' descriptors: /proc on a large host stays bounded. */
const MAX_PROCESSES = 100_000;
const SOCKET_LINK = /^socket:\[(\d+)\]$/;

export class SocketOwners {
  private owners = new Map<number, SocketOwner>();
  private lastScanMs = -Infinity;

  constructor(
    private readonly procRoot = '/proc',
    private readonly nowMs: () => number = () => performance.now(),
    private readonly rescanMs = 1000,
  ) {}

  /** The process holding the socket (the lowest pid when several share it), or null when none does. */
  owner(inode: number): SocketOwner | null {
    const known = this.owners.get(inode);
    if (known) return known;
    if (this.nowMs() - this.lastScanMs < this.rescanMs) return null;
    this.scan();
    return this.owners.get(inode) ?? null;
  }

  private scan(): void {
    this.lastScanMs = this.nowMs();
    const owners = new Map<number, SocketOwner>();
    const pids = listDir(this.procRoot)
      .filter((name) => /^\d+$/.test(name))
      .map(Number)
      .sort((a, b) => a - b)
      .slice(0, MAX_PROCESSES);
    for (const pid of pids) {
      const fdDir = join(this.procRoot, String(pid), 'fd');
      let comm: string | null = null;
      for (const fd of listDir(fdDir)) {
        const inode = socketInode(join(fdDir, fd));
        if (inode === null || owners.has(inode)) continue;
        comm ??= readComm(join(this.procRoot, String(pid), 'comm'));
        owners.set(inode, { pid, comm });
      }
    }
    this.owners = owners;
  }
}

// A process may exit, or close a descriptor, while it is read: each such read counts as nothing.
function listDir(path: string): string[] {
  try {
    return readdirSync(path);
  } catch {
    return [];
  }
}

function socketInode(link: string): number | null {
  try {
    const match = SOCKET_LINK.exec(readlinkSync(link));
    return match ? Number(match[1]) : null;
  } catch {
    return null;
  }
}

function readComm(path: string): string {
  try {
    return readFileSync(path, 'utf8').replace(/\n$/, '');
  } catch {
    return '';
  }
}
