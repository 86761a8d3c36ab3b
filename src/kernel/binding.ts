// The native addon behind a small typed interface. Tests pass their own
// implementation of NativeBinding; the real one needs root and a built addon.
import { TracerError } from '../errors';
import { loadAddon, type AddonSearch } from './addon-loader';

export interface Counters {
  seen: number;
  matched: number;
  lost: number; // the ring buffer was full
  overflow: number; // summary mode: the count map was full
  unrecordedFlows: number; // -- CMD: flows of the command the kernel's map had no room for
  stackMissed: number; // --stack: a stack the stacks map could not take (full, or a bucket collision)
  packetUnread: number; // -w: events sent without their packet's bytes
}

export interface TracerOptions {
  config: Buffer; // struct dropwhy_config
  ringBytes: number;
  countEntries: number; // size of summary mode's count map
  /** -- CMD: the command's cgroup2 directory, whose egress the kernel watches for the command's flows; null without one. */
  commandCgroup: string | null;
  stackEntries: number; // size of the stacks map (--stack)
  onBatch(batch: Buffer): void; // whole struct drop_event records
  onError(error: Error): void; // the poll thread ended with an error
  onLog(level: 'warn' | 'info' | 'debug', message: string): void; // libbpf's log
}

export interface NativeTracer {
  counters(): Counters;
  /** Count mode: packed records of src/events/layout.ts COUNT_RECORD, counts summed over CPUs. */
  dropCounts(): Buffer;
  /** Count mode with the socket feature: packed records of src/events/layout.ts SOCKET_COUNT_RECORD. */
  socketCounts(): Buffer;
  /** For each id, STACK_DEPTH (src/events/layout.ts) little-endian u64 addresses, innermost first, zero-padded; all zero for an unknown id. Also after stop(). */
  stackFrames(ids: Int32Array): Buffer;
  /** Count mode: removes these packed drop_keys from the kernel's map; returns how many it held. */
  deleteDropCounts(keys: Buffer): number;
  /** Drains the ring buffer, delivers the last batch, detaches and frees everything. */
  stop(): Promise<Counters>;
}

export type BtfEntries = Array<[string, number]>;

export interface NativeBinding {
  /** The addon file in use. */
  addonPath: string;
  openTracer(options: TracerOptions): NativeTracer;
  /**
   * Creates a BPF ring buffer and closes it: 0, or the errno the kernel refused it with (EINVAL: no ring
   * buffers, before 5.8; EPERM: missing privileges, or a seccomp filter refusing bpf()).
   */
  probeRingbuf(): number;
  libbpfVersion: string;
  /** Enumerators ([name, value]) or struct members ([name, bit offset]) from kernel BTF; null if absent. */
  btfMembers(kind: 'enum' | 'struct', name: string): BtfEntries | null;
  /** libpcap's classic BPF program for a filter expression on raw IP packets (struct sock_filter bytes); throws libpcap's message. */
  compileFilter(expression: string, snaplen: number): Buffer;
}

interface RawAddon {
  Tracer: new (options: TracerOptions) => NativeTracer;
  probeRingbuf(): number;
  libbpfVersion: string;
  btfMembers(kind: 'enum' | 'struct', name: string): BtfEntries | null;
  compileFilter(expression: string, snaplen: number): Buffer;
}

/** Native errors carry `stage` and `errno`; they all become TracerError. */
export function toTracerError(error: unknown): unknown {
  if (error instanceof Error && typeof (error as { stage?: unknown }).stage === 'string') {
    const { stage, errno } = error as Error & { stage: string; errno: number };
    return new TracerError(stage, errno, error.message.replace(/^[a-z]+: /, ''));
  }
  return error;
}

/** Loads the addon (addon-loader.ts says where from); a failed load is an AddonError, one line, exit 3. */
export function loadNativeBinding(search: AddonSearch = {}): NativeBinding {
  const { addon, path } = loadAddon<RawAddon>(search);
  const wrap =
    <A extends unknown[], R>(fn: (...args: A) => R) =>
    (...args: A): R => {
      try {
        return fn(...args);
      } catch (error) {
        throw toTracerError(error);
      }
    };
  return {
    addonPath: path,
    openTracer: wrap((options: TracerOptions) => new addon.Tracer({ ...options, onError: (error) => options.onError(toTracerError(error) as Error) })),
    btfMembers: wrap((kind: 'enum' | 'struct', name: string) => addon.btfMembers(kind, name)),
    probeRingbuf: () => addon.probeRingbuf(),
    compileFilter: (expression, snaplen) => addon.compileFilter(expression, snaplen),
    libbpfVersion: addon.libbpfVersion,
  };
}
