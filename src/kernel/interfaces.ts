// Interface names ↔ ifindexes in any network namespace. Asked over netlink by ip(8), entered with
// nsenter for another namespace: /sys/class/net shows the namespace sysfs was mounted in, not the
// one entered.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);
const IP_TIMEOUT_MS = 10_000;

/** ip with these arguments, in the namespace netnsPath enters (null: dropwhy's own). */
function ipArgv(netnsPath: string | null, args: string[]): [string, string[]] {
  return netnsPath === null ? ['ip', args] : ['nsenter', [`--net=${netnsPath}`, 'ip', ...args]];
}

/** The ifindex of ifname in the namespace that netnsPath enters (null: dropwhy's own), or null when there is none. */
export async function interfaceIndex(ifname: string, netnsPath: string | null): Promise<number | null> {
  // One line, "INDEX: NAME...": ip's JSON printed nothing in a 5.10 guest, its one-line form is the same everywhere.
  let stdout: string;
  try {
    ({ stdout } = await run(...ipArgv(netnsPath, ['-o', 'link', 'show', 'dev', ifname]), { timeout: IP_TIMEOUT_MS }));
  } catch (error) {
    const { stderr, message } = error as { stderr?: string; message: string };
    if (/does not exist/.test(stderr ?? '')) return null;
    throw new Error(`cannot look up interface ${ifname}: ${(stderr || message).trim()}`);
  }
  const index = /^(\d+): /.exec(stdout);
  if (!index) throw new Error(`cannot look up interface ${ifname}: ip printed ${JSON.stringify(stdout.trim())}`);
  return Number(index[1]);
}

const LINK_LINE = /^(\d+): ([^:\s]+): /;

/**
 * `ip -o link show`'s lines, "2: veth0@if3: <BROADCAST,...> mtu ...", as ifindex → name. ip appends
 * "@" and the link's name (or "ifN", "NONE") to an interface that has one: that part is not the name.
 */
export function parseLinkList(text: string): Map<number, string> {
  const names = new Map<number, string>();
  for (const line of text.split('\n')) {
    const match = LINK_LINE.exec(line);
    if (!match) continue;
    const at = match[2].lastIndexOf('@');
    names.set(Number(match[1]), at > 0 ? match[2].slice(0, at) : match[2]);
  }
  return names;
}

/** Every interface of the namespace that netnsPath enters (null: dropwhy's own), in one call to ip. */
export async function listInterfaces(netnsPath: string | null): Promise<Map<number, string>> {
  const { stdout } = await run(...ipArgv(netnsPath, ['-o', 'link', 'show']), { timeout: IP_TIMEOUT_MS, maxBuffer: 16 << 20 });
  return parseLinkList(stdout);
}

/** The interfaces of the namespace with this inode, or null when no way into it was found. */
export type ListNamespaceInterfaces = (netns: number) => Promise<Map<number, string> | null>;

interface NamespaceNames {
  names: Map<number, string>;
  loadedMs: number;
  loading: Promise<void> | null;
  /** Hits since the list's age was last looked at. */
  hits: number;
}

/** A hit reads the clock (to renew an old list) only every this many hits: the clock costs more than the lookup. */
const HITS_PER_AGE_CHECK = 1024;

/**
 * ifindex → name per network namespace, for every event: a lookup never waits. A namespace not
 * seen yet, or an ifindex its list lacks (an interface new since), starts one listing of the whole
 * namespace in the background, at most one per rescanMs; so does a list older than maxAgeMs (an
 * interface renamed), noticed within HITS_PER_AGE_CHECK hits. Until a listing is back the lookup
 * answers with what is known, else null.
 */
export class InterfaceNames {
  private readonly namespaces = new Map<number, NamespaceNames>();
  private readonly failed = new Set<number>();

  /** onError hears of the first failed listing of each namespace (later ones would repeat it every rescanMs). */
  constructor(
    private readonly list: ListNamespaceInterfaces,
    private readonly onError: (netns: number, error: unknown) => void = () => {},
    private readonly nowMs: () => number = () => performance.now(),
    private readonly rescanMs = 1000,
    private readonly maxAgeMs = 10_000,
  ) {}

  /** The name of ifindex in the namespace with this inode, null while unknown. */
  name(netns: number | null, ifindex: number): string | null {
    if (netns === null || ifindex === 0) return null;
    const known = this.namespaces.get(netns);
    if (!known) {
      void this.load(netns);
      return null;
    }
    const name = known.names.get(ifindex);
    if (name !== undefined) {
      if (++known.hits >= HITS_PER_AGE_CHECK) {
        known.hits = 0;
        if (known.loading === null && this.nowMs() - known.loadedMs >= this.maxAgeMs) void this.load(netns);
      }
      return name;
    }
    if (known.loading === null && this.nowMs() - known.loadedMs >= this.rescanMs) void this.load(netns);
    return null;
  }

  /** Lists the namespace now (unless a listing is under way) and resolves once it is known. */
  load(netns: number): Promise<void> {
    let entry = this.namespaces.get(netns);
    if (!entry) this.namespaces.set(netns, (entry = { names: new Map(), loadedMs: -Infinity, loading: null, hits: 0 }));
    if (entry.loading) return entry.loading;
    const names = entry;
    names.loading = this.list(netns)
      .then(
        (listed) => {
          if (listed !== null) names.names = listed;
        },
        (error: unknown) => {
          if (this.failed.has(netns)) return;
          this.failed.add(netns);
          this.onError(netns, error);
        },
      )
      .finally(() => {
        names.loadedMs = this.nowMs();
        names.loading = null;
      });
    return names.loading;
  }
}
