// What the command line accepts, as data: each command's words, description and option tables, the
// examples and the exit statuses. yargs is built from it (cli.ts), and so are the man page
// (scripts/gen-man.js) and the suggestions for a mistyped command or flag: a command added here
// appears in all of them.
import type { Options, PositionalOptions } from 'yargs';
import { UsageError } from '../errors';
import { distance } from 'fastest-levenshtein';
import {
  DIAGNOSE_OPTIONS,
  DOCTOR_OPTIONS,
  EXPLAIN_OPTIONS,
  EXPLAIN_POSITIONAL,
  EXPORTER_OPTIONS,
  EXPRESSION_POSITIONAL,
  FILTER_OPTIONS,
  PRINT_OPTIONS,
  SESSION_OPTIONS,
  STREAM_OPTIONS,
  SUMMARY_OPTIONS,
} from './options';

export type OptionTable = Record<string, Options>;

export interface CommandSpec {
  /** The word that names it; the default command (trace) has none on the command line. */
  name: string;
  /** Its positional argument, as yargs reads it. */
  positional: { name: string; variadic: boolean; spec: PositionalOptions } | null;
  describe: string;
  /** Its option tables, in the order --help lists them. */
  options: OptionTable[];
}

/** The command that runs when the first word names no other. */
export const DEFAULT_COMMAND = 'trace';

const EXPRESSION = { name: 'expression', variadic: true, spec: EXPRESSION_POSITIONAL };
const SESSION_TABLES = [FILTER_OPTIONS, SESSION_OPTIONS];

export const COMMAND_SPECS: readonly CommandSpec[] = [
  {
    name: DEFAULT_COMMAND,
    positional: EXPRESSION,
    describe: 'Print every matching drop as it happens (the default)',
    options: [...SESSION_TABLES, PRINT_OPTIONS, STREAM_OPTIONS],
  },
  {
    name: 'summary',
    positional: EXPRESSION,
    describe: 'Count drops per reason and location in the kernel; print the counts every interval',
    options: [...SESSION_TABLES, PRINT_OPTIONS, SUMMARY_OPTIONS],
  },
  {
    name: 'diagnose',
    positional: EXPRESSION,
    describe: 'Count every drop the host keeps a counter of for a while, then one report: causes ranked, settings, fixes',
    options: [...SESSION_TABLES, DIAGNOSE_OPTIONS],
  },
  {
    name: 'exporter',
    positional: EXPRESSION,
    describe: 'Serve Prometheus metrics of the drops, counted in the kernel and read at scrape time',
    options: [...SESSION_TABLES, EXPORTER_OPTIONS],
  },
  {
    name: 'explain',
    positional: { name: 'reason', variadic: false, spec: EXPLAIN_POSITIONAL },
    describe: 'What a drop reason means, which counters show it and what to check',
    options: [EXPLAIN_OPTIONS],
  },
  { name: 'doctor', positional: null, describe: 'Check whether dropwhy can run here, and what to do if not', options: [DOCTOR_OPTIONS] },
  { name: 'selftest', positional: null, describe: 'Make known drops in throwaway namespaces and check dropwhy sees exactly them', options: [] },
  { name: 'completion', positional: null, describe: "Print a bash completion script: source <(dropwhy completion), or save it in bash-completion's directory", options: [] },
];

export const USAGE = '$0 [command] [options] [EXPRESSION] [-- COMMAND ARGS...]';
export const SUMMARY_LINE = 'Why did Linux drop my packet? Traces skb:kfree_skb and explains every drop.';

export const EXAMPLES: ReadonlyArray<readonly [string, string]> = [
  ['sudo $0 diagnose', 'my server loses packets: every drop the host counts for 10 s, ranked, with the setting behind it and the fix'],
  ['sudo $0 --filter-proto udp --filter-port 53', 'every dropped DNS packet, with reason and kernel location'],
  ["sudo $0 'tcp[tcpflags] & tcp-syn != 0 and net 10.0.0.0/8'", 'dropped TCP SYNs from or to 10/8 (a tcpdump expression)'],
  ['sudo $0 --filter-dst-ip 10.0.0.0/8 -o json', 'drops towards 10/8 as NDJSON'],
  ['sudo $0 --filter-netns myns --filter-reason NETFILTER_DROP', 'firewall drops in network namespace "myns"'],
  ['sudo $0 -- dig @10.0.0.2 example.com', "only the drops of dig's packets, while it runs; exits with its status"],
  ['sudo $0 summary --filter-proto udp', 'UDP drops counted per reason and location, every second'],
  ['sudo $0 exporter --listen 0.0.0.0:10025', 'Prometheus metrics of every drop on http://HOST:10025/metrics'],
  ['$0 explain SOCKET_RCVBUFF', 'what a reason means and what to do about it'],
  ['sudo $0 doctor && sudo $0 selftest', 'on a new host: will it work, and does it'],
];

export const EXIT_STATUS_TEXT =
  'Exit status: 0 done, 1 failure, 2 invalid option, 3 missing privileges, BTF, tracepoint or library; ' +
  "with -- COMMAND the command's status (127 when it cannot be found).";

/** The commands named by a word on the command line. */
export function commandWords(): string[] {
  return COMMAND_SPECS.filter((c) => c.name !== DEFAULT_COMMAND).map((c) => c.name);
}

/** Every option name a command takes, long and short (aliases), without dashes. */
export function optionNames(command: string): string[] {
  const spec = COMMAND_SPECS.find((c) => c.name === command) ?? COMMAND_SPECS[0];
  const names = ['help', 'version'];
  for (const table of spec.options) {
    for (const [name, option] of Object.entries(table) as Array<[string, Options]>) {
      names.push(name);
      if ('type' in option && option.type === 'boolean') names.push(`no-${name}`);
      if (typeof option.alias === 'string') names.push(option.alias);
    }
  }
  return names;
}

/**
 * The candidate a mistyped word most likely meant: the closest within a couple of edits (fewer for
 * short words), or one it is a prefix of; null when none is that close, or the word is too short to tell.
 */
export function closestWord(word: string, candidates: readonly string[]): string | null {
  const typed = word.toLowerCase();
  if (typed.length < 3) return null;
  const allowed = typed.length === 3 ? 1 : 2;
  let best: { candidate: string; edits: number } | null = null;
  for (const candidate of candidates) {
    const edits = candidate.startsWith(typed) ? 1 : distance(typed, candidate);
    if (edits <= allowed && (best === null || edits < best.edits)) best = { candidate, edits };
  }
  return best?.candidate ?? null;
}

/** The filters an expression can OR: each value as its words (pcap-filter(7)). */
const AS_EXPRESSION: Record<string, (value: string) => string> = {
  'filter-proto': (value) => value.toLowerCase(),
  'filter-port': (value) => `port ${value}`,
  'filter-src-ip': (value) => `src ${value.includes('/') ? 'net' : 'host'} ${value}`,
  'filter-dst-ip': (value) => `dst ${value.includes('/') ? 'net' : 'host'} ${value}`,
};

/**
 * A single-valued option given different values is an error, never a silent choice of one; for a
 * filter, the expression that matches any of them. (The same value twice is no choice.)
 */
export function rejectRepeats(raw: Record<string, unknown>, command: string): void {
  const spec = COMMAND_SPECS.find((c) => c.name === command) ?? COMMAND_SPECS[0];
  for (const table of spec.options) {
    for (const [name, option] of Object.entries(table) as Array<[string, Options]>) {
      const value = raw[name];
      if (option.array || option.type === 'boolean' || !Array.isArray(value)) continue;
      const values = [...new Set(value.map(String))];
      if (values.length < 2) continue;
      const either = AS_EXPRESSION[name];
      const hint = either ? `; for drops matching any of them, an expression: '${values.map(either).join(' or ')}'` : '';
      throw new UsageError(`--${name}: takes one value, got ${values.length} (${values.join(', ')})${hint}`);
    }
  }
}

/** The one-letter options that take a value (-o, -w), of any command. */
function shortValueOptions(): Set<string> {
  const letters = COMMAND_SPECS.flatMap((spec) =>
    spec.options.flatMap((table) =>
      Object.values(table).flatMap((option: Options) => (option.type === 'string' && typeof option.alias === 'string' && option.alias.length === 1 ? [option.alias] : [])),
    ),
  );
  return new Set(letters);
}

/** `-ojson` as `-o json` and `-wdrops.pcapng` as `-w drops.pcapng`, as getopt reads them (yargs would take -ojson for -o -j -s -o -n). */
export function splitShortValues(words: string[]): string[] {
  const letters = shortValueOptions();
  return words.flatMap((word) => (/^-[A-Za-z]./.test(word) && !word.startsWith('--') && letters.has(word[1]) ? [word.slice(0, 2), word.slice(2)] : [word]));
}
