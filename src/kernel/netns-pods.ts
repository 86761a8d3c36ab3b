// Network namespace → the Kubernetes pod living in it, from /proc: every container of a pod joins
// the pod's one namespace, and each process's /proc/PID/cgroup names its pod (kubepods paths,
// parsed by container.ts). A drop without a socket (most drops on the receive path) has only its
// namespace to say whose it was.
import { RescannedTable } from './rescanned-table';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { containerOf } from './container';

/** One process: the inode of its network namespace, and the UID of the pod its cgroup is in (null: none). */
export interface ProcessNamespace {
  pid: number;
  netns: number;
  pod: string | null;
}

/** A scan reads at most this many processes: /proc on a large host stays bounded. */
const MAX_PROCESSES = 100_000;
/** Processes read at once: enough to keep the thread pool busy, few enough not to hold many files open. */
const PARALLEL_READS = 32;

/**
 * The pod UID a /proc/PID/cgroup names: the cgroup2 line ("0::/kubepods.slice/…"), else a v1
 * hierarchy's (kubelets on cgroup v1 place pods there). Paths relative to a cgroup namespace
 * ("0::/../kubepods-…") name it too: only the pod's own component is read.
 */
export function podOfCgroupFile(text: string): string | null {
  let pod: string | null = null;
  for (const line of text.split('\n')) {
    const path = line.slice(line.indexOf(':', line.indexOf(':') + 1) + 1);
    const found = path === '' ? null : (containerOf(path)?.pod ?? null);
    if (found !== null && (pod === null || line.startsWith('0::'))) pod = found;
  }
  return pod;
}

/**
 * Each namespace with processes → the pod living in it, or null. A namespace is a pod's when its
 * processes in pods' cgroups are all that pod's: processes outside any pod (a shell that entered it,
 * dropwhy's own `ip`) do not count against it. Null where two pods' processes share it (the node's
 * namespace, with its host-network pods), and for the namespace of PID 1 when PID 1 is in no pod: that
 * is the node's, whichever host-network pod also lives there.
 */
export function podsByNamespace(processes: readonly ProcessNamespace[]): Map<number, string | null> {
  const pods = new Map<number, string | null>();
  const shared = new Set<number>();
  for (const { pid, netns, pod } of processes) {
    if (pid === 1 && pod === null) shared.add(netns);
    const known = pods.get(netns);
    if (known === undefined || known === null) pods.set(netns, pod);
    else if (pod !== null && pod !== known) shared.add(netns);
  }
  for (const netns of shared) pods.set(netns, null);
  return pods;
}

/** Every process's namespace and pod; a process that exits while it is read is left out. */
export async function scanProcesses(procRoot = '/proc'): Promise<ProcessNamespace[]> {
  const pids = (await readdir(procRoot))
    .filter((name) => /^\d+$/.test(name))
    .slice(0, MAX_PROCESSES)
    .map(Number);
  const found: ProcessNamespace[] = [];
  const read = async (pid: number) => {
    const dir = join(procRoot, String(pid));
    try {
      // The namespace's inode needs ptrace access to the process (CAP_SYS_PTRACE for others' processes); its cgroup is world-readable.
      const [{ ino }, cgroup] = await Promise.all([stat(join(dir, 'ns', 'net')), readFile(join(dir, 'cgroup'), 'utf8')]);
      found.push({ pid, netns: ino, pod: podOfCgroupFile(cgroup) });
    } catch {
      // gone, or not ours to read
    }
  };
  for (let i = 0; i < pids.length; i += PARALLEL_READS) await Promise.all(pids.slice(i, i + PARALLEL_READS).map(read));
  return found;
}

export type ScanProcesses = () => Promise<readonly ProcessNamespace[]>;

/**
 * Namespace → pod UID, for every drop (RescannedTable: a lookup never waits). A namespace the last scan
 * of /proc did not see (no process was in it then) starts one scan, at most one per rescanMs; so does a
 * scan older than maxAgeMs: a namespace's inode is reused once it is gone, and a pod's sandbox joins a
 * namespace made before it.
 */
export class NamespacePods extends RescannedTable<number, string | null> {
  constructor(scan: ScanProcesses, onError: (error: unknown) => void = () => {}, nowMs: () => number = () => performance.now(), rescanMs = 1000, maxAgeMs = 10_000) {
    super(async () => podsByNamespace(await scan()), onError, nowMs, rescanMs, maxAgeMs);
  }

  /** The UID of the pod living in the namespace with this inode; null for none, or while unknown. */
  pod(netns: number): string | null {
    return this.lookup(netns);
  }
}
