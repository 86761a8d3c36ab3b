// The knowledge base behind `dropwhy explain REASON` and the one-line hints:
// what the kernel was doing when it freed a packet with a given
// enum skb_drop_reason, which /proc counters it bumps at the same place, and
// what to look at next. Pure functions, no I/O: this module looks a name up
// in the hand-written entries (advice-entries.ts) and the counter links
// (counter-links.ts); names without an entry get derived-advice.ts's.
import { ADVICE_ENTRIES, SOCKET_FIXES, type AdviceEntry, type ReasonAdvice } from './advice-entries';

export type { ReasonAdvice };
import { COUNTER_RULES, DEVICE_COUNTER_RULES, type CounterName, type DeviceCounterRule, type L4 } from './counter-links';
import { genericAdvice, subsystemAdvice, unknownNumberAdvice } from './derived-advice';

export interface Explanation {
  name: string;
  /** The function whose own advice this is (AdviceEntry.atFunction), or null: the reason's. */
  atFunction: string | null;
  handWritten: boolean;
  /** Guessed from the words of a name dropwhy knows nothing of: not a subsystem's or a code's name as dropwhy prints them. */
  fromNameOnly: boolean;
  advice: ReasonAdvice;
}

const PREFIX = 'SKB_DROP_REASON_';

// ---------------------------------------------------------------------------

function unique<T>(items: Iterable<T>): T[] {
  return [...new Set(items)];
}

function countersOf(name: string, entry: AdviceEntry): CounterName[] {
  const linked = (COUNTER_RULES[name] ?? []).flatMap((rule) => rule.counters);
  const ofDevice = (DEVICE_COUNTER_RULES[name] ?? []).map(deviceCounterText);
  return unique([...linked, ...ofDevice, ...(entry.related ?? [])]);
}

/** How explain names a device's counter: "dev DEV tx_dropped of tun devices at tun_net_xmit (ip -s -s link)". */
function deviceCounterText(rule: DeviceCounterRule): string {
  const [counter, tool] = rule.counter === 'qdisc' ? ['qdisc DEV root drops', 'tc -s qdisc'] : [`dev DEV ${rule.counter}`, 'ip -s -s link'];
  return `${counter}${rule.kinds ? ` of ${rule.kinds.join('/')} devices` : ''} at ${rule.at.join('/')} (${tool})`;
}

export const ADVICE: Readonly<Record<string, ReasonAdvice>> = Object.freeze(
  Object.fromEntries(
    Object.entries(ADVICE_ENTRIES).map(([name, entry]) => [
      name,
      Object.freeze({ summary: entry.summary, meaning: entry.meaning, counters: countersOf(name, entry), checks: [...entry.checks] }),
    ]),
  ),
);

/** Bare upper-case name: "skb_drop_reason_no_socket" -> "NO_SOCKET"; subsystem codes keep their form "OPENVSWITCH:0x5". */
function normalize(name: string): string {
  const trimmed = name.trim();
  const sub = /^([A-Za-z0-9_]+):(?:0x)?([0-9a-fA-F]+)$/.exec(trimmed);
  if (sub) return `${sub[1].toUpperCase()}:0x${parseInt(sub[2], 16).toString(16)}`;
  const upper = trimmed.toUpperCase();
  return upper.startsWith(PREFIX) ? upper.slice(PREFIX.length) : upper;
}

/**
 * Advice for a bare reason name (case-insensitive, SKB_DROP_REASON_ prefix allowed); with the drop's
 * location (`sk_stream_kill_queues+0x5a`), the advice of that function when the entry has its own.
 */
export function explain(name: string, location: string | null = null): Explanation {
  const bare = normalize(name);
  const known = ADVICE[bare];
  if (known) {
    const fn = location?.split('+')[0] ?? '';
    const there = ADVICE_ENTRIES[bare].atFunction?.[fn];
    const advice = there ? { ...copy(known), summary: there.summary, checks: [...there.checks] } : copy(known);
    return { name: bare, atFunction: there ? fn : null, handWritten: true, fromNameOnly: false, advice };
  }
  const derived = { name: bare, atFunction: null, handWritten: false };
  if (bare.includes(':')) return { ...derived, fromNameOnly: false, advice: subsystemAdvice(bare) };
  const unknown = /^UNKNOWN_(\d+)$/.exec(bare);
  if (unknown) return { ...derived, fromNameOnly: false, advice: unknownNumberAdvice(Number(unknown[1])) };
  return { ...derived, fromNameOnly: true, advice: genericAdvice(bare) };
}

/** The functions whose advice differs from the reason's (for `dropwhy explain`), with their advice. */
export function functionAdvice(name: string): Array<{ fn: string; summary: string; checks: string[] }> {
  const entry = ADVICE_ENTRIES[normalize(name)];
  return Object.entries(entry?.atFunction ?? {}).map(([fn, advice]) => ({ fn, ...advice }));
}

function copy(advice: ReasonAdvice): ReasonAdvice {
  return { summary: advice.summary, meaning: advice.meaning, counters: [...advice.counters], checks: [...advice.checks] };
}

// --- the socket that dropped it ----------------------------------------------

/**
 * The advice at one socket, "dnsmasq[812] on 10.94.0.2:53: rcvbuf 212992, queued 213760; raise it with …",
 * where `where` names the socket; null for a reason not about the socket's buffer. With the settings
 * read live, a receive buffer is set against the limit that caps it, and the fix is a command.
 */
export function socketAdvice(reason: string, socket: { where: string; rcvbuf: number; queued: number }, settings: ReadonlyMap<string, string> | null = null): string | null {
  const bare = normalize(reason);
  const fix = socketFix(bare, socket.rcvbuf, settings);
  if (fix === null) return null;
  const limits =
    bare === 'SOCKET_RCVBUFF' ? ['net.core.rmem_max', 'net.core.rmem_default'].filter((name) => settings?.has(name)).map((name) => `${name} ${settings!.get(name)}`) : [];
  return `${socket.where}: rcvbuf ${socket.rcvbuf}, queued ${socket.queued}${limits.length > 0 ? ` (${limits.join(', ')})` : ''}; ${fix}`;
}

/**
 * What changes a socket's buffer for a reason about it, null for another reason; with the settings
 * read live, a receive buffer's fix is a command sized against the limit that caps it.
 */
export function socketFix(reason: string, rcvbuf: number, settings: ReadonlyMap<string, string> | null = null): string | null {
  const bare = normalize(reason);
  const fix = SOCKET_FIXES[bare];
  if (fix === undefined) return null;
  const rmemMax = Number(settings?.get('net.core.rmem_max'));
  if (bare !== 'SOCKET_RCVBUFF' || !settings?.has('net.core.rmem_max') || !Number.isFinite(rmemMax)) return fix;
  // SO_RCVBUF doubles what it is asked for (the kernel's bookkeeping) and caps the request at rmem_max.
  return rcvbuf >= 2 * rmemMax
    ? `the buffer is at its cap (twice rmem_max): sysctl -w net.core.rmem_max=${nextPowerOfTwo(rmemMax * 4)}, then ask for more with SO_RCVBUF`
    : `ask for more with SO_RCVBUF (up to ${rmemMax}, which gives ${2 * rmemMax}), or for sockets that do not ask: sysctl -w net.core.rmem_default=${nextPowerOfTwo(Math.max(rcvbuf * 2, 1))}; or read faster`;
}

function nextPowerOfTwo(n: number): number {
  return 2 ** Math.ceil(Math.log2(n));
}

// --- counters ---------------------------------------------------------------

function normalizeProto(proto: string | null): L4 | null | undefined {
  if (proto === null) return null;
  const p = proto.trim().toLowerCase();
  if (p === '') return null;
  if (p === 'tcp' || p === '6') return 'tcp';
  if (p === 'udp' || p === '17') return 'udp';
  if (p === 'icmp' || p === '1') return 'icmp';
  if (p === 'icmp6' || p === 'icmpv6' || p === 'ipv6-icmp' || p === '58') return 'icmp6';
  return undefined; // some other protocol: matches only rules that ignore the protocol
}

/** Counters the kernel bumps at the same drop site as `reason`, for that L4 protocol and family; [] when none is one to one. */
export function linkedCounters(reason: string, proto: string | null, family: 4 | 6 | null): CounterName[] {
  const rules = COUNTER_RULES[normalize(reason)];
  if (!rules) return [];
  const l4 = normalizeProto(proto);
  for (const rule of rules) {
    const protoMatches = rule.protos === 'any' || (l4 !== undefined && rule.protos.includes(l4));
    const familyMatches = rule.family === 'any' || rule.family === family;
    if (protoMatches && familyMatches) return [...rule.counters];
  }
  return [];
}
