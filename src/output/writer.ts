// Synchronous writes to a file descriptor. Blocking here is the point: when the
// reader of stdout is slow, the main thread waits, the addon's poll thread
// waits for it, the ring buffer fills and the BPF program counts what is lost.
import { writeSync } from 'node:fs';

/** The reader closed its end (`dropwhy | head -3`). */
export class OutputClosedError extends Error {}

/** Each byte's two hex digits' codes, the high one in the high byte. */
const HEX_PAIRS = Uint16Array.from({ length: 256 }, (_, i) => {
  const [high, low] = i.toString(16).padStart(2, '0');
  return (high.charCodeAt(0) << 8) | low.charCodeAt(0);
});

/** Each number below 100's two decimal digits' codes, the tens in the high byte. */
const DECIMAL_PAIRS = Uint16Array.from({ length: 100 }, (_, i) => ((0x30 + Math.floor(i / 10)) << 8) | (0x30 + (i % 10)));

/** Decimal digits of a value below 2^32, by comparisons (a loop of multiplications cost more). */
function decimalDigits(v: number): number {
  if (v < 100000) return v < 100 ? (v < 10 ? 1 : 2) : v < 1000 ? 3 : v < 10000 ? 4 : 5;
  return v < 10000000 ? (v < 1000000 ? 6 : 7) : v < 100000000 ? 8 : v < 1000000000 ? 9 : 10;
}

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
 * unixNs % 1e9 without double %, a slow call: second * 1e9 is a multiple of
 * 512 whose other factor is below 2^53, so exact, and so is the difference.
 */
export function nsInSecond(unixNs: number, second: number): number {
  const ns = unixNs - second * 1e9; // second may be off by one where the division rounded
  return ns < 0 ? ns + 1e9 : ns >= 1e9 ? ns - 1e9 : ns;
}

/**
 * Collects a batch's lines as bytes. Lines given as strings (hints, frames,
 * a terminal's lines) are encoded a few hundred at a time: one long string
 * across a whole batch would make the garbage collector copy it over and over,
 * one write per line pays the call's overhead every time. Drops' lines, JSON
 * and piped text, are written here byte by byte (raw, uint, byte) with no
 * string in between: building and flattening the line's string was most of
 * the cost of a storm.
 */
export class LineBuffer {
  private static readonly LINES_PER_WRITE = 256;
  private bytes: Buffer;
  private length = 0;
  private pending: string[] = [];

  /** Text lines' encoding: JSON lines are ASCII, so latin1 is exact and fastest for them. */
  constructor(
    private readonly encoding: 'latin1' | 'utf8',
    initialBytes = 1 << 20,
  ) {
    this.bytes = Buffer.allocUnsafe(initialBytes);
  }

  add(line: string): void {
    this.pending.push(line);
    if (this.pending.length === LineBuffer.LINES_PER_WRITE) this.encodePending();
  }

  /** Bytes as they are (a fragment built once, e.g. `,"sport":`). */
  raw(fragment: Uint8Array): void {
    const n = fragment.length;
    this.room(n);
    const bytes = this.bytes;
    const at = this.length;
    // Most fragments are a few bytes: a loop beats set()'s call for them.
    if (n > 32) bytes.set(fragment, at);
    else for (let i = 0; i < n; i++) bytes[at + i] = fragment[i];
    this.length = at + n;
  }

  /** ASCII text (a number's or a cookie's digits): latin1 is exact for it. */
  ascii(text: string): void {
    this.room(text.length);
    this.length += this.bytes.write(text, this.length, 'latin1');
  }

  /** Text as UTF-8 (a name that may not be ASCII): the bytes add() would give it in a 'utf8' buffer. */
  utf8(text: string): void {
    this.room(text.length * 3); // at most 3 bytes per UTF-16 code unit
    this.length += this.bytes.write(text, this.length, 'utf8');
  }

  byte(value: number): void {
    this.room(1);
    this.bytes[this.length++] = value;
  }

  /** A non-negative integer's decimal digits. */
  uint(value: number): void {
    if (value > 0xffffffff) {
      this.ascii(String(value));
      return;
    }
    const digits = decimalDigits(value);
    this.room(digits);
    this.digits(value, digits);
  }

  /** A 32-bit value as 8 lower-case hex digits. */
  hex32(value: number): void {
    this.room(8);
    const bytes = this.bytes;
    const at = this.length;
    for (let i = 0; i < 4; i++) {
      const pair = HEX_PAIRS[(value >>> (24 - 8 * i)) & 0xff];
      bytes[at + 2 * i] = pair >> 8;
      bytes[at + 2 * i + 1] = pair & 0xff;
    }
    this.length = at + 8;
  }

  /** `value`'s last `digits` decimal digits, zero-padded (value below 2^32). */
  padded(value: number, digits: number): void {
    this.room(digits);
    this.digits(value, digits);
  }

  /** Where the next byte goes: padTo() pads from here. */
  get position(): number {
    this.encodePending();
    return this.length;
  }

  /** Spaces until `width` bytes follow `start` (a position): padEnd for ASCII text, where bytes are characters. */
  padTo(start: number, width: number): void {
    const n = start + width - this.position;
    if (n <= 0) return;
    this.room(n);
    this.bytes.fill(0x20, this.length, this.length + n);
    this.length += n;
  }

  get empty(): boolean {
    return this.length === 0 && this.pending.length === 0;
  }

  /** The bytes so far; valid until the next add() or write. Starts over. */
  take(): Uint8Array {
    this.encodePending();
    const taken = this.bytes.subarray(0, this.length);
    this.length = 0;
    return taken;
  }

  /** Room for n more bytes, after the text lines added before them. */
  private room(n: number): void {
    if (this.pending.length !== 0) this.encodePending();
    if (this.length + n > this.bytes.length) this.grow(n);
  }

  /** Writes value's (below 2^32) last `digits` digits, room made: two digits per division. */
  private digits(value: number, digits: number): void {
    const bytes = this.bytes;
    let at = this.length + digits;
    this.length = at;
    let rest = value;
    let left = digits;
    for (; left >= 2; left -= 2) {
      const next = (rest / 100) >>> 0; // integer division, far cheaper than Math.floor of a double
      const pair = DECIMAL_PAIRS[rest - next * 100];
      bytes[--at] = pair & 0xff;
      bytes[--at] = pair >> 8;
      rest = next;
    }
    if (left === 1) bytes[--at] = 0x30 + (rest % 10);
  }

  private grow(needed: number): void {
    const grown = Buffer.allocUnsafe(Math.max(this.bytes.length * 2, this.length + needed));
    this.bytes.copy(grown, 0, 0, this.length);
    this.bytes = grown;
  }

  private encodePending(): void {
    if (this.pending.length === 0) return;
    const text = this.pending.join('\n') + '\n';
    this.pending.length = 0;
    const needed = this.encoding === 'latin1' ? text.length : Buffer.byteLength(text);
    if (this.length + needed > this.bytes.length) this.grow(needed);
    this.length += this.bytes.write(text, this.length, this.encoding);
  }
}
