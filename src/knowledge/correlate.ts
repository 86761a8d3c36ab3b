// Puts the kernel's own counters beside the drops dropwhy traced: for each
// counter the kernel bumps at the same drop site, do the two numbers agree?
import { linkedCounters } from './advice';
import type { Family } from '../events/address';
import type { CounterDelta } from '../kernel/counters';

export interface TracedCount {
  reason: string;
  proto: string | null;
  family: Family | null;
  count: number;
}

export interface CounterCheck {
  counter: string;
  delta: number; // how much the kernel's counter moved
  traced: number; // drops traced with a reason that feeds it
  reasons: string[];
}

export function correlate(traced: TracedCount[], deltas: CounterDelta[]): CounterCheck[] {
  const byCounter = new Map<string, CounterCheck>();
  const moved = new Map(deltas.map((d) => [d.name, d.delta]));
  for (const group of traced) {
    for (const counter of linkedCounters(group.reason, group.proto, group.family)) {
      let check = byCounter.get(counter);
      if (!check) byCounter.set(counter, (check = { counter, delta: moved.get(counter) ?? 0, traced: 0, reasons: [] }));
      check.traced += group.count;
      if (!check.reasons.includes(group.reason)) check.reasons.push(group.reason);
    }
  }
  return [...byCounter.values()];
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
const TROUBLE = /Err|Drop|Discard|NoPorts|Overflow|Fail|NoRoute|Csum|Prune|Collapse|Unknown|Truncated|Timeout|dropped|errors|fifo/;

/**
 * Lines for humans: each linked counter with its verdict, then the other trouble counters that moved.
 * wholeHost: drops were traced in every namespace, but the counters are of one; unseen: the run's
 * lost or uncounted drops; filters: the flags (and the expression) that traced only some drops.
 */
export function formatCorrelation(checks: CounterCheck[], deltas: CounterDelta[], wholeHost: boolean, unseen: Unseen, filters: string[] = []): string[] {
  const lines = checks.map((c) => `${c.counter} ${signed(c.delta)} vs ${c.traced} ${c.reasons.join('+')} traced: ${verdictText(c, unseen)}`);
  if (wholeHost && checks.some((c) => verdict(c, unseen.count) !== 'agree')) {
    lines.push("(the counters are dropwhy's own network namespace's, the drops were traced in all: use --filter-netns for an exact comparison)");
  }
  // A counter counts every such drop of the namespace; the filters let only some be traced.
  if (filters.length > 0 && checks.some((c) => verdict(c, unseen.count) !== 'agree' && c.delta > c.traced)) {
    lines.push(`(the counters count every drop of the namespace, the traced drops are those ${listed(filters)} let through: a higher counter is expected)`);
  }
  const linked = new Set(checks.map((c) => c.counter));
  const others = deltas.filter((d) => !linked.has(d.name) && TROUBLE.test(d.name));
  if (others.length > 0) lines.push(`other counters: ${others.map((d) => `${d.name} ${signed(d.delta)}`).join(', ')}`);
  return lines;
}

/** `a`, `a and b`, `a, b and c`. */
function listed(items: string[]): string {
  return items.length === 1 ? items[0] : `${items.slice(0, -1).join(', ')} and ${items.at(-1)}`;
}

function signed(n: number): string {
  return n >= 0 ? `+${n}` : String(n);
}
