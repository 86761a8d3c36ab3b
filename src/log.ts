// Logs go to stderr through pino; stdout carries only data.
import pino, { type Logger } from 'pino';

export type { Logger };

export function createLogger(level: string): Logger {
  return pino({ name: 'dropwhy', level }, pino.destination({ dest: 2, sync: true }));
}
