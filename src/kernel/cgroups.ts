// cgroup v2 ids → paths. A cgroup's id is its directory's inode number on the
// cgroup2 mount, so a walk of the mount maps every id; a miss walks again, at
// most once per rescanMs. Paths are relative to the mount, as /proc/PID/cgroup
// writes them ("/system.slice/docker-<id>.scope").
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { containerOf, type Container } from './container';

export interface CgroupInfo {
  path: string;
  container: Container | null;
}

/** A walk visits at most this many cgroups. */
const MAX_CGROUPS = 100_000;

/** mountinfo escapes space, tab, newline and backslash in paths as octal (\040). */
function unescapeMountPath(path: string): string {
  return path.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)));
}

/**
 * Where the cgroup2 hierarchy is mounted, from /proc/self/mountinfo's text
 * (proc(5): the filesystem type follows the " - " separator); null when it is not.
 */
export function cgroup2Mount(mountinfo: string): string | null {
  for (const line of mountinfo.split('\n')) {
    const separator = line.indexOf(' - ');
    if (separator < 0) continue;
    const fsType = line.slice(separator + 3).split(' ')[0];
    if (fsType !== 'cgroup2') continue;
    const mountPoint = line.slice(0, separator).split(' ')[4];
    if (mountPoint !== undefined) return unescapeMountPath(mountPoint);
  }
  return null;
}

/** This machine's cgroup2 mount, null when there is none (or mountinfo cannot be read). */
export function findCgroup2Mount(mountinfoPath = '/proc/self/mountinfo'): string | null {
  try {
    return cgroup2Mount(readFileSync(mountinfoPath, 'utf8'));
  } catch {
    return null;
  }
}

export class CgroupPaths {
  private cgroups = new Map<number, CgroupInfo>();
  private lastWalkMs = -Infinity;

  constructor(
    private readonly mount: string | null,
    private readonly nowMs: () => number = () => performance.now(),
    private readonly rescanMs = 1000,
  ) {}

  /** The cgroup with this id, null when the mount has none (removed since, or no cgroup2 mount). */
  cgroup(id: number): CgroupInfo | null {
    const known = this.cgroups.get(id);
    if (known || this.mount === null) return known ?? null;
    if (this.nowMs() - this.lastWalkMs < this.rescanMs) return null;
    this.walk(this.mount);
    return this.cgroups.get(id) ?? null;
  }

  private walk(mount: string): void {
    this.lastWalkMs = this.nowMs();
    const cgroups = new Map<number, CgroupInfo>();
    const pending = ['/'];
    while (pending.length > 0 && cgroups.size < MAX_CGROUPS) {
      const path = pending.pop()!;
      const directory = join(mount, path);
      try {
        const id = statSync(directory).ino;
        const known = this.cgroups.get(id);
        cgroups.set(id, known?.path === path ? known : { path, container: containerOf(path) });
        for (const entry of readdirSync(directory, { withFileTypes: true })) {
          if (entry.isDirectory()) pending.push(join(path, entry.name));
        }
      } catch {
        // removed while walked
      }
    }
    this.cgroups = cgroups;
  }
}
