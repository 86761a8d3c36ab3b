// Pairs NETFILTER_DROP events with the nftables trace verdict that dropped
// their packet, and holds such events (in order, with what came after them)
// until it arrives or HOLD_MS pass. Trace ids are keyed hashes, not the skb
// address, so a pair is found by the packet's header fields and time:
// family, addresses, L4 protocol and ports must be equal, and the verdict must
// have reached us after the drop happened and at most MATCH_WINDOW_NS later.
// Among several such verdicts the oldest is taken (a flow's packets meet the
// rules in order); when they name different rules, the drop gets none: no rule
// is better than a wrong one.
import { formatAddress } from '../events/address';
import type { DropEvent } from '../events/decode';
import type { NftRule, TraceDrop } from './trace-parse';

/** How long a NETFILTER_DROP waits for its trace verdict before it is printed with rule null. */
export const HOLD_MS = 200;
/** How much later than the drop its verdict may reach us (nft, the pipe, a loaded machine). */
export const MATCH_WINDOW_NS = 2e9;

interface Pending {
  drop: TraceDrop;
  arrivedNs: number;
}

/** The verdicts seen, not yet given to a drop; oldest first. */
export class VerdictPool {
  private pending: Pending[] = [];

  add(drop: TraceDrop, arrivedNs: number): void {
    if (drop.packet !== null) this.pending.push({ drop, arrivedNs });
  }

  /** The rule that dropped event's packet: null when ambiguous, undefined when none (yet). */
  take(event: DropEvent, nowNs: number): NftRule | null | undefined {
    this.expire(nowNs);
    const candidates = this.pending.filter((p) => p.arrivedNs >= event.tsNs && p.arrivedNs - event.tsNs <= MATCH_WINDOW_NS && samePacket(p.drop, event));
    if (candidates.length === 0) return undefined;
    const [oldest] = candidates;
    this.pending.splice(this.pending.indexOf(oldest), 1);
    return candidates.every((c) => sameRule(c.drop.rule, oldest.drop.rule)) ? oldest.drop.rule : null;
  }

  get size(): number {
    return this.pending.length;
  }

  private expire(nowNs: number): void {
    // A verdict older than any drop that could still arrive for it: kept twice the window for late batches.
    const horizon = nowNs - 2 * MATCH_WINDOW_NS;
    if (this.pending.length > 0 && this.pending[0].arrivedNs < horizon) this.pending = this.pending.filter((p) => p.arrivedNs >= horizon);
  }
}

function samePacket({ packet }: TraceDrop, event: DropEvent): boolean {
  if (packet === null || event.family !== packet.family || event.saddr === null || event.daddr === null) return false;
  if (event.l4Proto !== packet.l4Proto || event.sport !== packet.sport || event.dport !== packet.dport) return false;
  return formatAddress(event.saddr, event.family) === packet.saddr && formatAddress(event.daddr, event.family) === packet.daddr;
}

function sameRule(a: NftRule, b: NftRule): boolean {
  return a.family === b.family && a.table === b.table && a.chain === b.chain && a.handle === b.handle && a.text === b.text;
}

/** A copy that outlives forEachEvent's reused object. */
function copyEvent(event: DropEvent): DropEvent {
  return {
    ...event,
    location: { ...event.location },
    skb: { ...event.skb },
    saddr: event.saddr?.slice() ?? null,
    daddr: event.daddr?.slice() ?? null,
    packet: event.packet && { ...event.packet, bytes: event.packet.bytes.slice() },
  };
}

interface Held {
  event: DropEvent;
  /** undefined: still waiting for its verdict; null: none. */
  rule: NftRule | null | undefined;
  deadlineMs: number;
}

export interface AttachClock {
  nowNs(): number;
  nowMs(): number;
  setTimer(callback: () => void, ms: number): { cancel(): void };
}

/**
 * Events in, (event, rule) out in arrival order. Events for which waits() is
 * true are held until their verdict comes or HOLD_MS pass; an event that does
 * not wait goes out at once unless one ahead of it is still held.
 */
export class RuleAttacher {
  private readonly queue: Held[] = [];
  private timer: { cancel(): void } | null = null;
  private drained: (() => void) | null = null;

  constructor(
    private readonly pool: VerdictPool,
    private readonly waits: (event: DropEvent) => boolean,
    private readonly emit: (event: DropEvent, rule: NftRule | null) => void,
    private readonly clock: AttachClock,
  ) {}

  /** The event may be a reused object: it is copied when it has to wait. */
  add(event: DropEvent): void {
    const waits = this.waits(event);
    const rule = waits ? this.pool.take(event, this.clock.nowNs()) : null;
    if (this.queue.length === 0 && rule !== undefined) {
      this.emit(event, rule);
      return;
    }
    this.queue.push({ event: copyEvent(event), rule, deadlineMs: this.clock.nowMs() + HOLD_MS });
    this.release();
  }

  /** A verdict from the trace: it may complete held events. */
  verdict(drop: TraceDrop): void {
    this.pool.add(drop, this.clock.nowNs());
    for (const held of this.queue) {
      if (held.rule === undefined) held.rule = this.pool.take(held.event, this.clock.nowNs());
    }
    this.release();
  }

  /** Resolves once nothing is held (at most HOLD_MS after the last event came). */
  drain(): Promise<void> {
    if (this.queue.length === 0) return Promise.resolve();
    return new Promise((resolve) => (this.drained = resolve));
  }

  private release(): void {
    const nowMs = this.clock.nowMs();
    while (this.queue.length > 0) {
      const head = this.queue[0];
      if (head.rule === undefined && nowMs < head.deadlineMs) break;
      this.queue.shift();
      this.emit(head.event, head.rule ?? null);
    }
    this.timer?.cancel();
    this.timer = null;
    if (this.queue.length > 0) {
      this.timer = this.clock.setTimer(() => this.release(), Math.max(1, this.queue[0].deadlineMs - nowMs));
    } else if (this.drained) {
      const drained = this.drained;
      this.drained = null;
      drained();
    }
  }
}
