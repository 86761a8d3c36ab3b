// skb_drop_reason names, read from the running kernel's BTF: the numbers move
// between kernels, so there is no compiled-in table.
import { distance } from 'fastest-levenshtein';

const REASON_PREFIX = 'SKB_DROP_REASON_';
const SUBSYS_PREFIX = 'SKB_DROP_REASON_SUBSYS_';
const SUBSYS_SHIFT = 16;
// Enumerators that are markers, not reasons a drop can carry.
const NOT_REASONS = new Set(['MAX', 'SUBSYS_MASK']);

/** A reason name as the kernel spells it without the enum's prefix: NO_SOCKET for no_socket or SKB_DROP_REASON_NO_SOCKET. */
export function bareReasonName(name: string): string {
  const upper = name.trim().toUpperCase();
  return upper.startsWith(REASON_PREFIX) ? upper.slice(REASON_PREFIX.length) : upper;
}

/**
 * The names closest to a mistyped one, closest first: those that contain the typed text (NO_SOCK,
 * netfilter) before the others, then by fewest edits, the longest shared prefix, the kernel's order.
 */
export function closestNames(name: string, names: readonly string[], count = 3): string[] {
  const typed = bareReasonName(name);
  return names
    .map((candidate, order) => ({
      candidate,
      order,
      contains: candidate.includes(typed) ? 0 : 1,
      edits: distance(typed, candidate),
      prefix: sharedPrefixLength(typed, candidate),
    }))
    .sort((a, b) => a.contains - b.contains || a.edits - b.edits || b.prefix - a.prefix || a.order - b.order)
    .slice(0, count)
    .map((scored) => scored.candidate);
}

function sharedPrefixLength(a: string, b: string): number {
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  return i;
}

export type EnumEntries = ReadonlyArray<readonly [string, number]>;

export interface DecodedReason {
  name: string;
  code: number;
  subsystem: string;
}

export class ReasonTable {
  private readonly byCode = new Map<number, string>();
  private readonly byName = new Map<string, number>();
  private readonly subsystems = new Map<number, string>();
  private readonly decoded = new Map<number, DecodedReason>();

  /** reasons/subsystems: the kernel's enum skb_drop_reason / skb_drop_reason_subsys, null when absent. */
  constructor(reasons: EnumEntries | null, subsystems: EnumEntries | null) {
    for (const [fullName, value] of reasons ?? []) {
      const name = fullName.startsWith(REASON_PREFIX) ? fullName.slice(REASON_PREFIX.length) : fullName;
      if (NOT_REASONS.has(name)) continue;
      this.byCode.set(value, name);
      this.byName.set(name, value);
    }
    for (const [fullName, value] of subsystems ?? []) {
      const name = fullName.startsWith(SUBSYS_PREFIX) ? fullName.slice(SUBSYS_PREFIX.length) : fullName;
      if (name !== 'NUM') this.subsystems.set(value, name);
    }
  }

  /** True when the running kernel reports drop reasons at all. */
  get known(): boolean {
    return this.byCode.size > 0;
  }

  get names(): string[] {
    return [...this.byName.keys()];
  }

  codeOf(name: string): number | undefined {
    return this.byName.get(bareReasonName(name));
  }

  /** Names a raw reason: core reasons by the kernel's name, others as SUBSYS:0xN, unknown ones as UNKNOWN_N. */
  decode(code: number): DecodedReason {
    let decoded = this.decoded.get(code);
    if (!decoded) this.decoded.set(code, (decoded = this.name(code)));
    return decoded;
  }

  private name(code: number): DecodedReason {
    const subsystemId = code >>> SUBSYS_SHIFT;
    // Kernels before the subsystem enum (6.1 and older) have only the core reasons.
    const subsystem = this.subsystems.get(subsystemId) ?? (subsystemId === 0 ? 'CORE' : `SUBSYS_${subsystemId}`);
    if (subsystemId === 0) {
      return { name: this.byCode.get(code) ?? `UNKNOWN_${code}`, code, subsystem };
    }
    return { name: `${subsystem}:0x${(code & 0xffff).toString(16)}`, code, subsystem };
  }
}
