// The kernel's own drop counters: /proc/net/snmp, snmp6, netstat and dev of a
// network namespace, as "<Group> <Name>" → value (the names nstat uses).
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { promisify } from 'node:util';

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

const FILES = ['snmp', 'snmp6', 'netstat', 'dev'] as const;
const run = promisify(execFile);

/**
 * Reads the counters of a network namespace: ours when netnsPath is null, else
 * through nsenter (/proc/net shows the namespace of the process reading it).
 */
export async function readCounters(netnsPath: string | null): Promise<CounterSnapshot> {
  if (netnsPath === null) {
    const texts = await Promise.all(FILES.map((f) => readFile(`/proc/self/net/${f}`, 'utf8').catch(() => '')));
    return parseCounterFiles(Object.fromEntries(FILES.map((f, i) => [f, texts[i]])) as unknown as CounterFiles);
  }
  const script = FILES.map((f) => `echo "==> ${f}"; cat /proc/net/${f} 2>/dev/null`).join('; ');
  const { stdout } = await run('nsenter', [`--net=${netnsPath}`, 'sh', '-c', script], { maxBuffer: 16 << 20 });
  const files: Record<string, string> = {};
  for (const part of stdout.split(/^==> /m).slice(1)) {
    const newline = part.indexOf('\n');
    files[part.slice(0, newline)] = part.slice(newline + 1);
  }
  return parseCounterFiles({ snmp: '', snmp6: '', netstat: '', dev: '', ...files });
}
