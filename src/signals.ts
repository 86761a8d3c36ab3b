// The signals that end dropwhy as Ctrl-C does (SIGHUP: the terminal went away): a tracing command
// stops cleanly on them, and whatever dropwhy created for a while (namespaces, a tracer) is removed.
export const STOP_SIGNALS: readonly NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];

/**
 * Stop signals that come before a command listens for them (while its modules load, while the
 * arguments are parsed). The bin script listens first thing, so that such a signal stops a tracing
 * command as soon as it starts, cleanly, instead of killing the process the default way.
 */
export class EarlySignals {
  private first: NodeJS.Signals | null = null;
  private readonly listener = (signal: NodeJS.Signals) => {
    this.first ??= signal;
  };

  constructor(private readonly emitter: NodeJS.EventEmitter) {
    for (const signal of STOP_SIGNALS) emitter.on(signal, this.listener);
  }

  /** Stops listening, and returns the first signal that came, if any: call once the command's own listeners are on. */
  take(): NodeJS.Signals | null {
    for (const signal of STOP_SIGNALS) this.emitter.off(signal, this.listener);
    return this.first;
  }
}
