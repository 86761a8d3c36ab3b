// Synchronous writes to a file descriptor. Blocking here is the point: when the
// reader of stdout is slow, the main thread waits, the addon's poll thread
// waits for it, the ring buffer fills and the BPF program counts what is lost.
import { writeSync } from 'node:fs';

/** The reader closed its end (`dropwhy | head -3`). */
export class OutputClosedError extends Error {}

const pause = new Int32Array(new SharedArrayBuffer(4));

export type Chunk = string | Uint8Array;

export function fdWriter(fd: number): (chunk: Chunk) => void {
  return (chunk) => {
    const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    let offset = 0;
    while (offset < bytes.length) {
      try {
        offset += writeSync(fd, bytes, offset);
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code;
        if (code === 'EPIPE') throw new OutputClosedError('output closed');
        if (code !== 'EAGAIN') throw error;
        Atomics.wait(pause, 0, 0, 1); // a non-blocking pipe is full: wait for its reader
      }
    }
  };
}

/**
 * Collects a batch's lines as bytes. Lines are encoded a few hundred at a time:
 * one long string across a whole batch would make the garbage collector copy
 * it over and over, one write per line pays the call's overhead every time.
 */
export class LineBuffer {
  private static readonly LINES_PER_WRITE = 256;
  private bytes = Buffer.allocUnsafe(1 << 20);
  private length = 0;
  private pending: string[] = [];

  /** JSON lines are ASCII, so latin1 is exact and fastest for them. */
  constructor(private readonly encoding: 'latin1' | 'utf8') {}

  add(line: string): void {
    this.pending.push(line);
    if (this.pending.length === LineBuffer.LINES_PER_WRITE) this.encodePending();
  }

  get empty(): boolean {
    return this.length === 0 && this.pending.length === 0;
  }

  /** The bytes so far; valid until the next add(). Starts over. */
  take(): Uint8Array {
    this.encodePending();
    const taken = this.bytes.subarray(0, this.length);
    this.length = 0;
    return taken;
  }

  private encodePending(): void {
    if (this.pending.length === 0) return;
    const text = this.pending.join('\n') + '\n';
    this.pending.length = 0;
    const needed = this.encoding === 'latin1' ? text.length : Buffer.byteLength(text);
    if (this.length + needed > this.bytes.length) {
      const grown = Buffer.allocUnsafe(Math.max(this.bytes.length * 2, this.length + needed));
      this.bytes.copy(grown, 0, 0, this.length);
      this.bytes = grown;
    }
    this.length += this.bytes.write(text, this.length, this.encoding);
  }
}
