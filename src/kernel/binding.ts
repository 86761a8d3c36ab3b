// The native addon behind a small typed interface. Tests pass their own
// implementation of NativeBinding; the real one needs root and a built addon.
import { TracerError } from '../errors';
import { type Counters, decodeCounters } from '../events/counts';
import { STRUCT_SIZES } from '../events/layout';
import { layoutMismatch, loadAddon, rebuildCommand, type AddonSearch } from './addon-loader';

export type { Counters } from '../events/counts';

export interface TracerOptions {
  config: Buffer; // struct dropwhy_config
  ringBytes: number;
  countEntries: number; // size of summary mode's count map
  /** -- CMD: the command's cgroup2 directory, whose egress the kernel watches for the command's flows; null without one. */
  commandCgroup: string | null;
  stackEntries: number; // size of the stacks map (--stack)
  onBatch(batch: Buffer): void; // whole ring records: a struct drop_event each, and with -w its packet section and bytes (layout.ts recordSize)
  onError(error: Error): void; // the poll thread ended with an error (the addon passes a TracerError at stage poll)
  onLog(level: 'warn' | 'info' | 'debug', message: string): void; // libbpf's log
}

export interface NativeTracer {
  /** The tracer's counters, summed over CPUs; after stop(), as they were when the program was detached. */
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
  /** Grows the pipe on fd to at least bytes (never shrinks it): its size after, or -errno (EBADF: fd is no pipe). */
  growPipe(fd: number, bytes: number): number;
}

/** The addon's tracer: its counters are every CPU's struct drop_counters, as the kernel holds them. */
interface RawTracer extends Omit<NativeTracer, 'counters' | 'stop'> {
  counters(): Buffer;
  stop(): Promise<Buffer>;
}

interface RawAddon {
  /** The class the addon creates its failures in, as new (stage, errno, message): given once, at load. */
  setErrorConstructor(errorClass: typeof TracerError): void;
  Tracer: new (options: TracerOptions) => RawTracer;
  probeRingbuf(): number;
  libbpfVersion: string;
  btfMembers(kind: 'enum' | 'struct', name: string): BtfEntries | null;
  compileFilter(expression: string, snaplen: number): Buffer;
  growPipe(fd: number, bytes: number): number;
  /** sizeof each struct of bpf/event.h the addon was compiled with. */
  structSizes: Record<string, number>;
}

/**
 * Loads the addon (addon-loader.ts says where from); a failed load, or an addon built from another
 * bpf/event.h than this JavaScript's layout, is an AddonError, one line, exit 3.
 */
export function loadNativeBinding(search: AddonSearch = {}): NativeBinding {
  const { addon, path } = loadAddon<RawAddon>(search);
  const mismatch = layoutMismatch(addon.structSizes, STRUCT_SIZES, path, rebuildCommand(search.root));
  if (mismatch) throw mismatch;
  // The addon creates every failure at a stage of the tracer's life (thrown, or passed to onError) as a TracerError.
  addon.setErrorConstructor(TracerError);
  return {
    addonPath: path,
    openTracer: (options) => {
      const tracer = new addon.Tracer(options);
      return {
        counters: () => decodeCounters(tracer.counters()),
        dropCounts: () => tracer.dropCounts(),
        socketCounts: () => tracer.socketCounts(),
        stackFrames: (ids) => tracer.stackFrames(ids),
        deleteDropCounts: (keys) => tracer.deleteDropCounts(keys),
        stop: async () => decodeCounters(await tracer.stop()),
      };
    },
    btfMembers: (kind, name) => addon.btfMembers(kind, name),
    probeRingbuf: () => addon.probeRingbuf(),
    compileFilter: (expression, snaplen) => addon.compileFilter(expression, snaplen),
    growPipe: (fd, bytes) => addon.growPipe(fd, bytes),
    libbpfVersion: addon.libbpfVersion,
  };
}
