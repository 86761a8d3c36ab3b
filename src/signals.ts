// The signals that end dropwhy as Ctrl-C does (SIGHUP: the terminal went away): a tracing command
// stops cleanly on them, and whatever dropwhy created for a while (namespaces, a tracer) is removed.
export const STOP_SIGNALS: readonly NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];
