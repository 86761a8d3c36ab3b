// The native addon behind a small typed interface. Tests pass their own
// implementation of NativeBinding; the real one needs root and a built addon.
import { resolve } from 'node:path';
import { EnvironmentError, TracerError } from '../errors';

export interface Counters {
  seen: number;
  matched: number;
  lost: number; // the ring buffer was full
  overflow: number; // summary mode: the count map was full
}

export interface TracerOptions {
  config: Buffer; // struct dropwhy_config
  ringBytes: number;
  countEntries: number; // size of summary mode's count map
  onBatch(batch: Buffer): void; // whole struct drop_event records
  onError(error: Error): void; // the poll thread ended with an error
  onLog(level: 'warn' | 'info' | 'debug', message: string): void; // libbpf's log
}

export interface NativeTracer {
  counters(): Counters;
  /** Count mode: packed records of src/events/layout.ts COUNT_RECORD, counts summed over CPUs. */
  dropCounts(): Buffer;
  /** Count mode: removes these packed drop_keys from the kernel's map; returns how many it held. */
  deleteDropCounts(keys: Buffer): number;
  /** Drains the ring buffer, delivers the last batch, detaches and frees everything. */
  stop(): Promise<Counters>;
}

export type BtfEntries = Array<[string, number]>;

export interface NativeBinding {
  openTracer(options: TracerOptions): NativeTracer;
  /** Whether the kernel can create BPF ring buffers; null when the probe failed (e.g. no privileges). */
  probeRingbuf(): boolean | null;
  libbpfVersion: string;
  /** Enumerators ([name, value]) or struct members ([name, bit offset]) from kernel BTF; null if absent. */
  btfMembers(kind: 'enum' | 'struct', name: string): BtfEntries | null;
}

interface RawAddon {
  Tracer: new (options: TracerOptions) => NativeTracer;
  probeRingbuf(): boolean | null;
  libbpfVersion: string;
  btfMembers(kind: 'enum' | 'struct', name: string): BtfEntries | null;
}

export const ADDON_PATH = resolve(__dirname, '../../../build/native/Release/dropwhy.node');

/** Native errors carry `stage` and `errno`; they all become TracerError. */
export function toTracerError(error: unknown): unknown {
  if (error instanceof Error && typeof (error as { stage?: unknown }).stage === 'string') {
    const { stage, errno } = error as Error & { stage: string; errno: number };
    return new TracerError(stage, errno, error.message.replace(/^[a-z]+: /, ''));
  }
  return error;
}

export function loadNativeBinding(path = ADDON_PATH): NativeBinding {
  // Loading tells whether it is there, with the process's effective credentials
  // (existsSync's access(2) uses the real uid and ignores capabilities).
  let addon: RawAddon;
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    addon = require(path) as RawAddon;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'MODULE_NOT_FOUND') {
      throw new EnvironmentError(`the native addon is not built (${path} is missing): run npm run build`);
    }
    throw error;
  }
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
    openTracer: wrap(
      (options: TracerOptions) =>
        new addon.Tracer({ ...options, onError: (error) => options.onError(toTracerError(error) as Error) }),
    ),
    btfMembers: wrap((kind: 'enum' | 'struct', name: string) => addon.btfMembers(kind, name)),
    probeRingbuf: () => addon.probeRingbuf(),
    libbpfVersion: addon.libbpfVersion,
  };
}
