// Kernel stacks (--stack): the BPF program records each drop's kernel stack in
// a stack map and hands over its id; the frames are read from the map once per
// id, in one addon call for all new ids at a time, and symbolized with the
// kallsyms table. Without BPF_F_REUSE_STACKID an id keeps naming the stack it
// was first given to, so what is cached never goes stale.
import { formatKernelAddress, type KernelAddress } from '../events/decode';
import { STACK_DEPTH } from '../events/layout';

const STACK_BYTES = STACK_DEPTH * 8;

/**
 * The innermost frames are the tracing's own: dropwhy's BPF program
 * (bpf_prog_<tag>_on_kfree_skb) and the tracepoint's BPF glue (bpf_trace_run4 on
 * 6.x, bpf_trace_runN and __bpf_trace_kfree_skb before). They are left out, so a
 * stack starts where the kernel freed the skb. Found by the glue: once the
 * program is unloaded (summary reads the last stacks after that) its address
 * has no symbol of its own any more.
 */
const TRACEPOINT_GLUE = /^(?:bpf_trace_run\d|__bpf_trace_|__traceiter_)/;
const BPF_PROGRAM = /^bpf_prog_[0-9a-f]+_/;

/** How many innermost frames are the tracing's: with glue in the second frame, the first is the program's, named or not. */
function tracingFrames(symbols: Array<string | null>): number {
  const tracing = (i: number) => BPF_PROGRAM.test(symbols[i] ?? '') || TRACEPOINT_GLUE.test(symbols[i] ?? '');
  let end = TRACEPOINT_GLUE.test(symbols[1] ?? '') ? 1 : 0;
  while (end < symbols.length && tracing(end)) end++;
  return end;
}

/** The addon's stackFrames: STACK_DEPTH little-endian u64 addresses per id, zero after the last frame. */
export type ReadStackFrames = (ids: Int32Array) => Buffer;

export class StackTable {
  private readonly frames = new Map<number, string[] | null>();

  constructor(
    private readonly read: ReadStackFrames,
    private readonly symbols: { symbolize(address: KernelAddress): string | null },
  ) {}

  /** Reads the frames of every id not read before, in one call. */
  load(ids: Iterable<number>): void {
    const unknown = [...new Set(ids)].filter((id) => !this.frames.has(id));
    if (unknown.length === 0) return;
    const raw = this.read(Int32Array.from(unknown));
    unknown.forEach((id, i) => this.frames.set(id, this.symbolize(raw, i * STACK_BYTES)));
  }

  /** `symbol+0xoff` per frame, innermost first (an address outside kallsyms as hex); null when the map holds no such stack. */
  get(id: number): string[] | null {
    // Called per printed event: the cache first, without building a list.
    if (!this.frames.has(id)) this.load([id]);
    return this.frames.get(id) ?? null;
  }

  private symbolize(raw: Buffer, base: number): string[] | null {
    const addresses: KernelAddress[] = [];
    for (let at = base; at < base + STACK_BYTES; at += 8) {
      const address = { hi: raw.readUInt32LE(at + 4), lo: raw.readUInt32LE(at) };
      if (address.hi === 0 && address.lo === 0) break;
      addresses.push(address);
    }
    const symbols = addresses.map((address) => this.symbols.symbolize(address));
    const frames = addresses.map((address, i) => symbols[i] ?? formatKernelAddress(address)).slice(tracingFrames(symbols));
    return frames.length > 0 ? frames : null;
  }
}

/** Stacks map entries with --stack: ids are hash buckets, so room beyond the distinct stacks keeps collisions rare. */
export const STACK_ENTRIES = 16384;
/** Without --stack: the smallest map the kernel accepts. */
export const UNUSED_STACK_ENTRIES = 1;
