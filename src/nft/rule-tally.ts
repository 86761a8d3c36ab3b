// Drops per nftables rule, counted from the trace's drop verdicts: summary
// counts in the kernel and has no events to pair them with.
import type { NftRule, TraceDrop } from './trace-parse';

export interface RuleCount {
  rule: NftRule;
  count: number;
}

export class RuleTally {
  private readonly counts = new Map<string, RuleCount>();

  add({ rule }: TraceDrop): void {
    const key = JSON.stringify([rule.family, rule.table, rule.chain, rule.handle, rule.text]);
    const entry = this.counts.get(key);
    if (entry) entry.count++;
    else this.counts.set(key, { rule, count: 1 });
  }

  /** Most drops first. */
  get rows(): RuleCount[] {
    return [...this.counts.values()].sort((a, b) => b.count - a.count);
  }
}
