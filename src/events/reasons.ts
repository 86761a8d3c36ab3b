// skb_drop_reason names, read from the running kernel's BTF: the numbers move
// between kernels, so there is no compiled-in table.

const REASON_PREFIX = 'SKB_DROP_REASON_';
const SUBSYS_PREFIX = 'SKB_DROP_REASON_SUBSYS_';
const SUBSYS_SHIFT = 16;
// Enumerators that are markers, not reasons a drop can carry.
const NOT_REASONS = new Set(['MAX', 'SUBSYS_MASK']);

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
    const bare = name.toUpperCase().replace(/^SKB_DROP_REASON_/, '');
    return this.byName.get(bare);
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
