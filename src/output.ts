// Synchronous writes to a file descriptor. Blocking here is the point: when the
// reader of stdout is slow, the main thread waits, the addon's poll thread
// waits for it, the ring buffer fills and the BPF program counts what is lost.
import { writeSync } from 'node:fs';

/** The reader closed its end (`dropwhy | head -3`). */
export class OutputClosedError extends Error {}

const pause = new Int32Array(new SharedArrayBuffer(4));

export function fdWriter(fd: number): (chunk: string) => void {
  return (chunk) => {
    const bytes = Buffer.from(chunk);
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
