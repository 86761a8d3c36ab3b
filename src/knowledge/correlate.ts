// Puts the kernel's own counters beside the drops dropwhy traced: for each
// counter the kernel bumps at the same drop site, do the two numbers agree?
import { linkedCounters } from './advice';
import { DEVICE_COUNTER_RULES, isGlobalCounter, PARTIAL_COUNTERS } from './counter-links';
import type { Family } from '../events/address';
import type { CounterDelta, HostState } from '../kernel/counters';

export interface TracedCount {
  reason: string;
  proto: string | null;
  family: Family | null;
  count: number;
  /** Where the kernel freed them, "func+0x1a" (null: not symbolized); absent: not known. */
  location?: string | null;
  /** The device they were on (null: none or not known). */
  device?: string | null;
}

/** A counter a traced group feeds: one of the snapshot's, or the sum of several (members) when the drop's device is not known. */
interface Linked {
  counter: string;
  members: string[];
}

/**
 * The device counters beside the group's reason at its location: of its device, or summed over the
 * devices that have them when the device is not known (summary counts no device per drop).
 */
function deviceLinks(group: TracedCount, host: HostState | null): Linked[] {
  const rules = DEVICE_COUNTER_RULES[group.reason];
  const at = group.location?.split('+')[0];
  if (!rules || !at || !host) return [];
  const links: Linked[] = [];
  for (const rule of rules.filter((r) => r.at.includes(at))) {
    if (rule.counter === 'qdisc') {
      const roots = host.qdiscs.filter((q) => q.root && (group.device ? q.dev === group.device : true)).map((q) => q.counter);
      if (group.device) links.push(...roots.map((counter) => ({ counter, members: [counter] })));
      else if (roots.length > 0) links.push({ counter: 'qdisc (every root) drops', members: roots });
    } else if (group.device) {
      const counter = `dev ${group.device} ${rule.counter}`;
      links.push({ counter, members: [counter] });
    } else {
      const devices = host.devices.filter((d) => rule.kinds === null || (d.kind !== null && rule.kinds.includes(d.kind)));
      const kinds = rule.kinds === null ? 'every' : `every ${rule.kinds.join('/')}`;
      if (devices.length > 0) links.push({ counter: `dev (${kinds}) ${rule.counter}`, members: devices.map((d) => `dev ${d.name} ${rule.counter}`) });
    }
  }
  return links;
}

export interface CounterCheck {
  counter: string;
  delta: number; // how much the kernel's counter moved
  traced: number; // drops traced with a reason that feeds it
  reasons: string[];
}

/**
 * Each counter the traced drops feed, with how much it moved and how many were traced. host: the
 * namespace's devices and qdiscs, for the device counters (none without it).
 */
export function correlate(traced: TracedCount[], deltas: CounterDelta[], host: HostState | null = null): CounterCheck[] {
  const byCounter = new Map<string, CounterCheck>();
  const moved = new Map(deltas.map((d) => [d.name, d.delta]));
  for (const group of traced) {
    const links = [...linkedCounters(group.reason, group.proto, group.family).map((counter) => ({ counter, members: [counter] })), ...deviceLinks(group, host)];
    for (const { counter, members } of links) {
      let check = byCounter.get(counter);
      if (!check) {
        const delta = members.reduce((sum, member) => sum + (moved.get(member) ?? 0), 0);
        byCounter.set(counter, (check = { counter, delta, traced: 0, reasons: [] }));
      }
      check.traced += group.count;
      if (!check.reasons.includes(group.reason)) check.reasons.push(group.reason);
    }
  }
  return [...byCounter.values()].filter((check) => check.delta !== 0 || !PARTIAL_COUNTERS.has(check.counter));
}

/**
 * Matched drops whose reason nobody learned: events lost because the ring
 * buffer was full (tracing), drops the full count map did not count (summary).
 * Any of them may be drops a counter counted.
 */
export interface Unseen {
  count: number;
  noun: 'lost' | 'uncounted';
}

/**
 * How many of the unseen drops the check takes to be the counter's: its whole
 * excess over the traced drops when the unseen ones can explain it, else 0.
 */
export function unseenCounted(check: CounterCheck, unseen: number): number {
  const excess = check.delta - check.traced;
  return excess > 0 && excess <= unseen ? excess : 0;
}

/** `agree` (also when the unseen drops explain the counter's excess) or `differ by N (...)`: JSON's verdict. */
export function verdict(check: CounterCheck, unseen = 0): string {
  const difference = check.delta - check.traced;
  if (difference === 0 || unseenCounted(check, unseen) > 0) return 'agree';
  return `differ by ${Math.abs(difference)} (${difference > 0 ? 'the counter is higher' : 'more were traced'})`;
}

/** The verdict for humans: says how many of the unseen drops its agreement counts. */
function verdictText(check: CounterCheck, unseen: Unseen): string {
  const counted = unseenCounted(check, unseen.count);
  if (counted === 0) return verdict(check);
  return `agree, counting ${counted === unseen.count ? '' : `${counted} of `}${unseen.count} ${unseen.noun}`;
}

/** Counters that count trouble (drops, errors, overflows), not traffic. */
const TROUBLE =
  /Err|Drop|Discard|NoPorts|Overflow|Fail|NoRoute|Csum|Prune|Collapse|Unknown|Truncated|Timeout|dropped|errors|fifo|drops?$|_failed|discards|table_fulls|nohandler|flow_limit|miss|no_?buf/;

/** softnet's per-CPU lines: the detail of "softnet dropped", named by its finding. */
const PER_CPU = /^softnet cpu\d+ /;

/** A counter as the closing lines name it: the whole host's are marked. */
export function counterLabel(name: string): string {
  return isGlobalCounter(name) ? `${name} (global)` : name;
}

/**
 * Lines for humans: each linked counter with its verdict, then the other trouble counters that moved
 * (those a finding explains are left to it). wholeHost: drops were traced in every namespace, but the
 * counters are of one; unseen: the run's lost or uncounted drops; filters: the flags (and the
 * expression) that traced only some drops; explained: the counters a finding explains.
 */
export function formatCorrelation(
  checks: CounterCheck[],
  deltas: CounterDelta[],
  wholeHost: boolean,
  unseen: Unseen,
  filters: string[] = [],
  explained: ReadonlySet<string> = new Set(),
): string[] {
  const lines = checks.map((c) => `${counterLabel(c.counter)} ${signed(c.delta)} vs ${c.traced} ${c.reasons.join('+')} traced: ${verdictText(c, unseen)}`);
  if (wholeHost && checks.some((c) => verdict(c, unseen.count) !== 'agree')) {
    lines.push("(the counters are dropwhy's own network namespace's, the drops were traced in all: use --filter-netns for an exact comparison)");
  }
  // A counter counts every such drop of the namespace; the filters let only some be traced.
  if (filters.length > 0 && checks.some((c) => verdict(c, unseen.count) !== 'agree' && c.delta > c.traced)) {
    lines.push(`(the counters count every drop of the namespace, the traced drops are those ${listed(filters)} let through: a higher counter is expected)`);
  }
  const linked = new Set(checks.map((c) => c.counter));
  const others = deltas.filter((d) => !linked.has(d.name) && !explained.has(d.name) && !PER_CPU.test(d.name) && TROUBLE.test(d.name));
  if (others.length > 0) lines.push(`other counters: ${others.map((d) => `${counterLabel(d.name)} ${signed(d.delta)}`).join(', ')}`);
  return lines;
}

/** `a`, `a and b`, `a, b and c`. */
function listed(items: string[]): string {
  return items.length === 1 ? items[0] : `${items.slice(0, -1).join(', ')} and ${items.at(-1)}`;
}

export function signed(n: number): string {
  return n >= 0 ? `+${n}` : String(n);
}
