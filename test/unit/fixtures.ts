// Recorded fixtures from a real run on Linux 6.18 (scripts/record-fixtures.js).
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { Kallsyms } from '../../src/kernel/kallsyms';
import { ReasonTable, type EnumEntries } from '../../src/events/reasons';

export const FIXTURES = resolve(__dirname, '../../../test/fixtures');

export function fixtureBytes(name: string): Buffer {
  return readFileSync(resolve(FIXTURES, name));
}

export function fixtureJson<T>(name: string): T {
  return JSON.parse(readFileSync(resolve(FIXTURES, name), 'utf8')) as T;
}

export function recordedReasons(): ReasonTable {
  const { reasons, subsystems } = fixtureJson<{ reasons: EnumEntries; subsystems: EnumEntries }>('kernel-reasons.json');
  return new ReasonTable(reasons, subsystems);
}

export function recordedKallsyms(): Kallsyms {
  return new Kallsyms(readFileSync(resolve(FIXTURES, 'kallsyms-excerpt.txt'), 'latin1'));
}

export interface RecordedDrops {
  netns: number;
  sent: Array<{ what: string; sport?: number; dport: number }>;
}
