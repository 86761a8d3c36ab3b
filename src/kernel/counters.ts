// The kernel's own drop counters of a network namespace, every source in one snapshot (the ledger):
// /proc/net/snmp, snmp6 and netstat as "<Group> <Name>" → value (the names nstat uses), and the
// sources each module beside this one parses (interfaces, qdiscs, drivers, softnet, conntrack,
// neighbour tables); after a run also the settings behind the drops.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { parseEthtoolRings, parseEthtoolStats, type RingSizes } from './ethtool-stats';
import { parseLinkStats, type DeviceInfo } from './link-stats';
import { parseQdiscStats, type QdiscInfo } from './qdisc-stats';
import { parseListeners, parseSockstat, type Listener } from './sockets-stat';
import { parseSoftnetStat } from './softnet';
import { parseStatTable } from './stat-tables';
import { parseSysctls, SYSCTLS, sysctlPath } from './sysctls';

export type CounterSnapshot = Map<string, number>;

/** /proc/net/snmp and /proc/net/netstat: a header line and a value line per group. */
export function parseSnmp(text: string, into: CounterSnapshot = new Map()): CounterSnapshot {
  const lines = text.split('\n').filter((line) => line.includes(':'));
  for (let i = 0; i + 1 < lines.length; i += 2) {
    const [group, names] = splitGroup(lines[i]);
    const [valueGroup, values] = splitGroup(lines[i + 1]);
    if (group !== valueGroup) continue; // out of step: skip rather than misname
    names.forEach((name, j) => {
      const value = Number(values[j]);
      if (Number.isFinite(value)) into.set(`${group} ${name}`, value);
    });
  }
  return into;
}

function splitGroup(line: string): [string, string[]] {
  const colon = line.indexOf(':');
  return [
    line.slice(0, colon),
    line
      .slice(colon + 1)
      .trim()
      .split(/\s+/),
  ];
}

const SNMP6_GROUPS = ['UdpLite6', 'Icmp6', 'Udp6', 'Ip6'];

/** /proc/net/snmp6: "Udp6NoPorts 5" becomes "Udp6 NoPorts". */
export function parseSnmp6(text: string, into: CounterSnapshot = new Map()): CounterSnapshot {
  for (const line of text.split('\n')) {
    const [key, value] = line.trim().split(/\s+/);
    if (!key || value === undefined) continue;
    const group = SNMP6_GROUPS.find((g) => key.startsWith(g));
    into.set(group ? `${group} ${key.slice(group.length)}` : key, Number(value));
  }
  return into;
}

const DEV_FIELDS = { rx_errors: 2, rx_dropped: 3, rx_fifo: 4, tx_errors: 10, tx_dropped: 11, tx_fifo: 12 } as const;

/** /proc/net/dev: per interface drops and errors, as "dev <ifname> rx_dropped" and so on. */
export function parseNetDev(text: string, into: CounterSnapshot = new Map()): CounterSnapshot {
  for (const line of text.split('\n').slice(2)) {
    const colon = line.indexOf(':');
    if (colon < 0) continue;
    const name = line.slice(0, colon).trim();
    const fields = line
      .slice(colon + 1)
      .trim()
      .split(/\s+/)
      .map(Number);
    for (const [field, index] of Object.entries(DEV_FIELDS)) into.set(`dev ${name} ${field}`, fields[index]);
  }
  return into;
}

export interface CounterDelta {
  name: string;
  delta: number;
}

/** Counters that changed, in the order the kernel lists them. */
export function diffSnapshots(before: CounterSnapshot, after: CounterSnapshot): CounterDelta[] {
  const deltas: CounterDelta[] = [];
  for (const [name, value] of after) {
    const delta = value - (before.get(name) ?? 0);
    if (delta !== 0) deltas.push({ name, delta });
  }
  return deltas;
}

export interface CounterFiles {
  snmp: string;
  snmp6: string;
  netstat: string;
  dev: string;
}

export function parseCounterFiles(files: CounterFiles): CounterSnapshot {
  const snapshot: CounterSnapshot = new Map();
  parseSnmp(files.snmp, snapshot);
  parseSnmp(files.netstat, snapshot);
  parseSnmp6(files.snmp6, snapshot);
  parseNetDev(files.dev, snapshot);
  return snapshot;
}

/** What the ledger knows of the namespace besides its counters: read once, after the run. */
export interface HostState {
  devices: DeviceInfo[];
  qdiscs: QdiscInfo[];
  /** Ring sizes by device, for the devices whose driver has rings. */
  rings: Map<string, RingSizes>;
  /** Sysctls by dotted name and sockstat's lines ("sockstat UDP mem"), as text. */
  settings: Map<string, string>;
  listeners: Listener[];
}

export interface HostSnapshot {
  counters: CounterSnapshot;
  /** null when only the counters were read (the snapshot before a run). */
  state: HostState | null;
  /** The sources that could not be read (a tool missing, a module not loaded): left out. */
  unread: string[];
}

/** The sections of one snapshot: the file or tool each came from → its text ('' when it printed nothing). */
export type Sections = Map<string, string>;

/** The sources every snapshot reads, as section names, and the command that prints each. */
const COUNTER_SOURCES: ReadonlyArray<[string, string]> = [
  ['snmp', 'show /proc/net/snmp'],
  ['snmp6', 'show /proc/net/snmp6'],
  ['netstat', 'show /proc/net/netstat'],
  ['dev', 'show /proc/net/dev'],
  ['link', 'ip -s -s -d -j link show'],
  ['qdisc', 'tc -s -j qdisc show'],
  ['softnet_stat', 'show /proc/net/softnet_stat'],
  ['nf_conntrack', 'show /proc/net/stat/nf_conntrack'],
  // The neighbour tables are the host's: only the first namespace shows their statistics, so another
  // reads them as dropwhy's own process (its pid is the script's $1) sees them.
  ['arp_cache', 'show /proc/net/stat/arp_cache || show /proc/$1/net/stat/arp_cache'],
  ['ndisc_cache', 'show /proc/net/stat/ndisc_cache || show /proc/$1/net/stat/ndisc_cache'],
];

/** Sources read after the run only: settings, not counters. */
const STATE_SOURCES: ReadonlyArray<[string, string]> = [
  ['sockstat', 'show /proc/net/sockstat; show /proc/net/sockstat6'],
  // One grep prints every sysctl as PATH:VALUE (a sysctl file cannot be read a byte at a time, as the shell's read does).
  ['sysctl', `grep -H . ${SYSCTLS.map(sysctlPath).join(' ')} /proc/sys/net/ipv4/conf/*/rp_filter`],
  ['listeners', 'ss -ltnpH'],
];

/**
 * The sysctls the kernel keeps only for the whole host (netdev_max_backlog, udp_mem, tcp_mem …) exist
 * only in the first namespace's /proc/sys: from another, they are read in dropwhy's own.
 */
const HOST_SYSCTLS: [string, string] = ['sysctl-host', `nsenter --net=/proc/$1/ns/net grep -H . ${SYSCTLS.map(sysctlPath).join(' ')}`];

/** Per device (lo has no driver statistics, and past this many the rest are left out): ethtool's counters, and with the state its rings and rp_filter. */
const MAX_DEVICES = 64;

/**
 * One shell script that prints every source under a "==> NAME" line; one process per snapshot, entered
 * into the namespace by nsenter. Its $1 is dropwhy's pid, for what only dropwhy's namespace shows.
 */
export function snapshotScript(withState: boolean, entered = false): string {
  const sources = withState ? [...COUNTER_SOURCES, ...STATE_SOURCES, ...(entered ? [HOST_SYSCTLS] : [])] : COUNTER_SOURCES;
  const perDevice = ['echo "==> ethtool-S $n"; ethtool -S "$n"', ...(withState ? ['echo "==> ethtool-g $n"; ethtool -g "$n"'] : [])].join('; ');
  return [
    'exec 2>/dev/null',
    // A /proc/net file shown by the shell's own read and printf: a cat per file was most of a snapshot's time.
    `show() { while IFS= read -r line || [ -n "$line" ]; do printf '%s\\n' "$line"; done < "$1"; }`,
    ...sources.map(([name, command]) => `echo "==> ${name}"; ${command}`),
    'command -v ethtool >/dev/null || echo "==> ethtool"',
    `ip -o link show | while IFS=': ' read -r index n rest; do n=\${n%%@*}; [ "$n" = lo ] && continue; devices=$((devices + 1)); [ "$devices" -gt ${MAX_DEVICES} ] && break; ${perDevice}; done`,
    // A device without driver statistics makes ethtool fail: that is its section's business, not the snapshot's.
    'exit 0',
  ].join('\n');
}

/** The script's output split at its "==> NAME" lines. */
export function splitSections(stdout: string): Sections {
  const sections: Sections = new Map();
  for (const part of stdout.split(/^==> /m).slice(1)) {
    const newline = part.indexOf('\n');
    if (newline < 0) sections.set(part, '');
    else sections.set(part.slice(0, newline), part.slice(newline + 1));
  }
  return sections;
}

/** A snapshot from the script's sections: each source parsed by its module, those that printed nothing (or not what was expected) named in unread. */
export function parseSnapshot(sections: Sections, withState: boolean): HostSnapshot {
  const counters: CounterSnapshot = new Map();
  const unread: string[] = [];
  const text = (name: string) => sections.get(name) ?? '';
  const parse = <T>(name: string, parser: (text: string) => T): T | null => {
    const body = text(name);
    if (body.trim() === '') {
      unread.push(name);
      return null;
    }
    try {
      return parser(body);
    } catch {
      unread.push(name);
      return null;
    }
  };
  parse('snmp', (t) => parseSnmp(t, counters));
  parse('netstat', (t) => parseSnmp(t, counters));
  parse('snmp6', (t) => parseSnmp6(t, counters));
  // ip's stats64 when ip answered; /proc/net/dev's columns (rx_dropped with the misses in it) only when it did not.
  const devices = parse('link', (t) => parseLinkStats(t, counters));
  if (devices === null) parse('dev', (t) => parseNetDev(t, counters));
  const qdiscs = parse('qdisc', (t) => parseQdiscStats(t, counters)) ?? [];
  parse('softnet_stat', (t) => parseSoftnetStat(t, counters));
  parse('nf_conntrack', (t) => parseStatTable(t, 'conntrack', counters));
  parse('arp_cache', (t) => parseStatTable(t, 'arp_cache', counters));
  parse('ndisc_cache', (t) => parseStatTable(t, 'ndisc_cache', counters));
  if (sections.has('ethtool')) unread.push('ethtool');
  const rings = new Map<string, RingSizes>();
  const settings = new Map<string, string>();
  for (const [name, body] of sections) {
    const [source, dev] = name.split(' ');
    if (dev === undefined) continue;
    if (source === 'ethtool-S') parseEthtoolStats(body, dev, counters);
    else if (source === 'ethtool-g') {
      const sizes = parseEthtoolRings(body);
      if (sizes) rings.set(dev, sizes);
    }
  }
  if (!withState) return { counters, state: null, unread };
  parse('sysctl', (t) => parseSysctls(t, settings));
  // The namespace's own values first; the host's only for the sysctls the namespace has none of.
  for (const [name, value] of parseSysctls(text('sysctl-host'), new Map())) if (!settings.has(name)) settings.set(name, value);
  parse('sockstat', (t) => parseSockstat(t, settings));
  const listeners = parseListeners(text('listeners'));
  return { counters, state: { devices: devices ?? [], qdiscs, rings, settings, listeners }, unread };
}

const run = promisify(execFile);
const SNAPSHOT_TIMEOUT_MS = 20_000;

/**
 * Reads every counter source of a network namespace, ours when netnsPath is null, else through
 * nsenter (/proc/net, /proc/sys/net, ip and tc answer for the namespace of the process asking);
 * withState: the settings, rings and listeners too.
 */
export async function readCounters(netnsPath: string | null, withState = false): Promise<HostSnapshot> {
  const script = snapshotScript(withState, netnsPath !== null);
  const shell = ['sh', '-c', script, 'sh', String(process.pid)];
  const [file, args] = netnsPath === null ? [shell[0], shell.slice(1)] : ['nsenter', [`--net=${netnsPath}`, ...shell]];
  const { stdout } = await run(file, args, { maxBuffer: 64 << 20, timeout: SNAPSHOT_TIMEOUT_MS });
  return parseSnapshot(splitSections(stdout), withState);
}
