// Why a tracing command is ending: the first reason given (a signal, --count, --duration, the
// traced command's end, the output closing, an error), and the one listener for stop signals.
import { STOP_SIGNALS } from '../signals';

export type StopReason = { kind: 'count' | 'duration' | 'signal' | 'output-closed' | 'command-ended' } | { kind: 'error'; error: unknown };

/**
 * Why a tracing command is ending, and its one listener for stop signals.
 * Created when the command starts, before the BTF read, the counter snapshot
 * and the load, so that a signal at any of them ends it as cleanly as one
 * while tracing; close() when the command is over.
 */
export class StopRequest {
  private current: StopReason | null = null;
  private wake: () => void = () => {};
  /** Resolves once a stop was requested. */
  readonly requested = new Promise<void>((resolve) => (this.wake = resolve));
  /** While a traced command runs, stop signals are its: passed on, as sudo and timeout(1) do. */
  private forward: ((signal: NodeJS.Signals) => void) | null = null;
  private readonly listeners = STOP_SIGNALS.map((signal) => [signal, () => this.onSignal(signal)] as const);

  constructor(private readonly signals: NodeJS.EventEmitter) {
    for (const [signal, listener] of this.listeners) signals.on(signal, listener);
  }

  private onSignal(signal: NodeJS.Signals): void {
    if (this.forward) this.forward(signal);
    else this.request({ kind: 'signal' });
  }

  /** Stop signals go to `to` until it is set back to null. */
  forwardSignals(to: ((signal: NodeJS.Signals) => void) | null): void {
    this.forward = to;
  }

  /** The first reason given, or null while the command goes on. */
  get reason(): StopReason | null {
    return this.current;
  }

  request(reason: StopReason): void {
    this.current ??= reason;
    this.wake();
  }

  close(): void {
    for (const [signal, listener] of this.listeners) this.signals.off(signal, listener);
  }
}
