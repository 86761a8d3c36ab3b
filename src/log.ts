// Logs go to stderr through pino; stdout carries only data. For people (the default), each log line
// reads like dropwhy's other messages, `dropwhy: ...`; --log-format json keeps pino's NDJSON.
import pino, { type Logger } from 'pino';

export type { Logger };

export const LOG_FORMATS = ['text', 'json'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

/** pino's fields that the text line says in its own way; the others follow the message as JSON. */
const PINO_FIELDS = new Set(['level', 'time', 'pid', 'hostname', 'name', 'msg']);

/** A pino record as a person reads it: `dropwhy: msg`, with the level named when it is not a warning or a note. */
export function textLogLine(record: Record<string, unknown>): string {
  const level = pino.levels.labels[record.level as number] ?? 'log';
  const prefix = level === 'warn' || level === 'info' ? '' : `${level}: `;
  const fields = Object.fromEntries(Object.entries(record).filter(([key]) => !PINO_FIELDS.has(key)));
  const extra = Object.keys(fields).length === 0 ? '' : ` ${JSON.stringify(fields)}`;
  return `dropwhy: ${prefix}${String(record.msg ?? '')}${extra}`;
}

/** A logger at this level in this format; write gets each whole line, newline included (default: stderr). */
export function createLogger(level: string, format: LogFormat = 'text', write: (line: string) => void = stderrWriter()): Logger {
  const destination = {
    write: format === 'json' ? write : (json: string) => write(`${textLogLine(JSON.parse(json) as Record<string, unknown>)}\n`),
  };
  return pino({ name: 'dropwhy', level }, destination);
}

/** Whole lines to stderr, synchronously (a log line is never left behind by an exit). */
function stderrWriter(): (line: string) => void {
  const stderr = pino.destination({ dest: 2, sync: true });
  return (line) => void stderr.write(line);
}
