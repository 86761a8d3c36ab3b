// The dropwhy command line: parse, run the command, map the outcome to an exit code.
import { constants } from 'node:os';
import { isatty } from 'node:tty';
import yargs from 'yargs';
import { loadNativeBinding, type NativeBinding } from './kernel/binding';
import { describe, exitCodeFor, EXIT, UsageError } from './errors';
import { Kallsyms } from './kernel/kallsyms';
import { assertCanTrace, readKernelFacts, readProcessFacts, type ProcessFacts } from './kernel/facts';
import { createLogger, type LogFormat, type Logger } from './log';
import type { CommandIo } from './commands/session';
import { StopRequest } from './commands/stop';
import type { HostSnapshot } from './kernel/counters';
import { findNetnsPath, NetworkNamespaces, type FindNetns, type InterfaceIndex, type StatInode } from './kernel/netns';
import {
  check,
  checkDiagnose,
  checkDoctor,
  checkExplain,
  checkExporter,
  checkSummary,
  useColor,
  type ColorChoice,
  type RawArgs,
  type RawExporterArgs,
  type RawSummaryArgs,
} from './commands/options';
import {
  closestWord,
  COMMAND_SPECS,
  commandWords,
  DEFAULT_COMMAND,
  EXAMPLES,
  EXIT_STATUS_TEXT,
  optionNames,
  rejectRepeats,
  splitShortValues,
  SUMMARY_LINE,
  USAGE,
  type CommandSpec,
} from './commands/command-line';
import { mayBeginExpression } from './events/expression';
import { VERSION } from './version';
import type { EarlySignals } from './signals';
import { fdWriter, type Chunk } from './output/writer';
import { fitMessage } from './output/terminal-layout';
import type { SocketResolver, Symbolizer } from './output/format';
import { SocketOwners } from './kernel/socket-owners';
import { InterfaceNames } from './kernel/interfaces';
import { CgroupPaths, findCgroup2Mount } from './kernel/cgroups';
import { nodePods, type Pods, type PodSettings } from './kernel/pods';
import { cgroupCommand, invokingUser, type TracedCommand } from './commands/traced-command';

/** Everything the CLI touches outside itself, so tests can run it without root. */
export interface CliIo {
  binding(): NativeBinding;
  processFacts(): ProcessFacts;
  writeOut(chunk: Chunk): void;
  writeErr(line: string): void;
  /** On a terminal's stderr, the one status line redrawn in place (diagnose's progress); null clears it. */
  statusLine(text: string | null): void;
  symbols(): Symbolizer;
  sockets(): SocketResolver;
  /** Names the interfaces of events, warning through logger when a namespace cannot be listed. */
  interfaces(logger: Logger): InterfaceNames;
  /** The pods of drops where Kubernetes is asked for or detected (else null), warning through logger of what cannot be read. */
  pods(settings: PodSettings, logger: Logger): Pods | null;
  statInode: StatInode;
  interfaceIndex: InterfaceIndex;
  findNetns: FindNetns;
  /** Emits the stop signals (STOP_SIGNALS): the process itself, an emitter in tests. */
  signals: NodeJS.EventEmitter;
  /** The first stop signal that came before the command listened (bin/dropwhy.js listens from the start); no longer held back after. */
  earlySignal(): NodeJS.Signals | null;
  stdoutIsTty: boolean;
  /** The terminal's width when stdout is one, else null. */
  columns: number | null;
  /** Calls listener with the terminal's new width whenever it changes (SIGWINCH); returns what stops it. */
  onResize(listener: (columns: number) => void): () => void;
  stderrIsTty: boolean;
  /** The environment (NO_COLOR). */
  env: NodeJS.ProcessEnv;
  createLogger(level: string, format: LogFormat): Logger;
  /** The kernel's counters of the namespace with this inode (null: dropwhy's own). */
  readCounters(netns: number | null, withState?: boolean): Promise<HostSnapshot>;
  /** Runs the selftest, printing through write; resolves true on PASS. reasonsReported: the kernel's tracepoint has a reason. */
  selftest(write: (line: string) => void, reasonsReported: boolean): Promise<boolean>;
  /** -- CMD: the command, in a cgroup of its own, ready to start. */
  traceCommand(argv: string[]): TracedCommand;
}

/**
 * Each command's code, loaded when that command runs: a command pays start-up only for what it uses
 * (the exporter's prom-client alone took ~50 ms of every command's exec → ready; docs/benchmarks.md).
 */
const COMMANDS = {
  trace: () => import('./commands/trace'),
  summary: () => import('./commands/summary'),
  diagnose: () => import('./commands/diagnose'),
  exporter: () => import('./commands/exporter'),
  doctor: () => import('./commands/doctor'),
  selftest: () => import('./commands/selftest'),
  explain: () => import('./output/explain'),
  completion: () => import('./commands/completion'),
};

/** The yargs command of a spec: the default one answers to no word. */
function yargsCommand(spec: CommandSpec): string {
  const word = spec.name === DEFAULT_COMMAND ? '$0' : spec.name;
  if (spec.positional === null) return word;
  return `${word} [${spec.positional.name}${spec.positional.variadic ? '..' : ''}]`;
}

function parser(argv: string[]) {
  const cli = yargs(argv)
    .scriptName('dropwhy')
    .usage(`${USAGE}\n\n${SUMMARY_LINE}`)
    .parserConfiguration({ 'camel-case-expansion': false, 'greedy-arrays': false })
    .strict()
    .exitProcess(false)
    .fail((message, error) => {
      throw error ?? new UsageError(message);
    })
    .help()
    .alias('help', 'h')
    .version(VERSION)
    .wrap(isatty(1) ? Math.min(110, process.stdout.columns) : 100)
    .epilogue(`${EXIT_STATUS_TEXT}\nJSON fields are described in docs/json-schema.md.`);
  for (const spec of COMMAND_SPECS) {
    cli.command(yargsCommand(spec), spec.describe, (y) => {
      if (spec.positional) y.positional(spec.positional.name, spec.positional.spec);
      for (const table of spec.options) y.options(table);
      return y;
    });
  }
  for (const [command, description] of EXAMPLES) cli.example(command, description);
  return cli;
}

type ParsedArgs = RawArgs & RawSummaryArgs & RawExporterArgs & { _: Array<string | number>; help?: boolean; version?: boolean; reason?: string; list?: boolean };

export interface CommandLine {
  command: string;
  raw: ParsedArgs;
  /** yargs' text for --help or --version, when asked for. */
  helpOrVersion: string | null;
}

/**
 * Parses argv as the CLI does (a UsageError for what yargs rejects); nothing is run. The words after
 * the first `--` are a command to trace, kept as they are (yargs would turn "010" into 10).
 * `dropwhy help [COMMAND]` is `dropwhy [COMMAND] --help`; a last word `help` asks for help too (yargs').
 */
export async function parseCommandLine(argv: string[]): Promise<CommandLine> {
  const dashes = argv.indexOf('--');
  let options = splitShortValues(dashes < 0 ? argv : argv.slice(0, dashes));
  if (options[0] === 'help') options = [...options.slice(1), '--help'];
  const command = options.find((word) => commandWords().includes(word)) ?? DEFAULT_COMMAND;
  let output = '';
  let raw: ParsedArgs;
  try {
    raw = (await parser(options).parse(options, {}, (_error, _argv, text) => {
      output = text;
    })) as ParsedArgs;
  } catch (error) {
    throw error instanceof UsageError ? new UsageError(withSuggestions(error.message, command)) : error;
  }
  if (dashes >= 0) raw.command = argv.slice(dashes + 1);
  // yargs wrote help or the version: nothing runs, whatever else was given.
  if (output !== '') return { command: String(raw._[0] ?? DEFAULT_COMMAND), raw, helpOrVersion: output };
  const parsed = String(raw._[0] ?? DEFAULT_COMMAND);
  if (parsed === DEFAULT_COMMAND) rejectUnknownCommand(raw.expression?.[0]);
  rejectRepeats(raw as unknown as Record<string, unknown>, parsed);
  return { command: parsed, raw, helpOrVersion: null };
}

/**
 * The default command takes any first word as the start of an expression; a plain word libpcap has no
 * keyword for cannot start one: it is taken for a mistyped command.
 */
function rejectUnknownCommand(word: string | undefined): void {
  if (word === undefined || mayBeginExpression(word)) return;
  const meant = closestWord(word, [...commandWords(), 'help']);
  const hint = meant ? `did you mean ${meant}?` : `the commands: ${commandWords().join(', ')}; an expression begins with a keyword such as host, port or udp`;
  throw new UsageError(`unknown command ${JSON.stringify(word)} (${hint})`);
}

/** yargs' `Unknown argument: filter-por`, with the option of the command that was most likely meant. */
function withSuggestions(message: string, command: string): string {
  const unknown = /^Unknown arguments?: (.*)$/.exec(message);
  if (!unknown) return message;
  const names = unknown[1].split(', ');
  const suggestions = names.flatMap((name) => {
    const meant = closestWord(name, optionNames(command));
    if (meant === null) return [];
    const flag = `${meant.length === 1 ? '-' : '--'}${meant}`;
    return [names.length === 1 ? `did you mean ${flag}?` : `${name}: did you mean ${flag}?`];
  });
  return suggestions.length === 0 ? message : `${message} (${suggestions.join('; ')})`;
}

/** Runs the CLI and returns its exit status. */
export async function run(argv: string[], io: CliIo): Promise<number> {
  try {
    const { command, raw, helpOrVersion } = await parseCommandLine(argv);
    if (helpOrVersion !== null) {
      io.writeOut(helpOrVersion + '\n');
      return EXIT.ok;
    }
    if (command === 'trace' || command === 'summary' || command === 'diagnose' || command === 'exporter') return (await tracingCommand(command, raw, io)) ?? EXIT.ok;
    // The other commands end the default way on a signal; one that came early ends them as it would have.
    const early = io.earlySignal();
    if (early !== null) return 128 + constants.signals[early];
    if (command === 'explain') return await explainCommand(raw, io);
    if (command === 'doctor') return await doctorCommand(raw, io);
    if (command === 'completion') {
      io.writeOut((await COMMANDS.completion()).completionScript());
      return EXIT.ok;
    }
    if (command === 'selftest') {
      assertCanTrace(io.processFacts());
      // A missing addon or libbpf is this one line, not a failure inside the test.
      const { hasReason } = readKernelFacts(io.binding());
      return (await io.selftest((line) => io.writeOut(line + '\n'), hasReason)) ? EXIT.ok : EXIT.failure;
    }
    throw new Error(`no code for command ${command}`);
  } catch (error) {
    const code = exitCodeFor(error);
    io.writeErr(`dropwhy: ${describe(error)}`);
    if (error instanceof UsageError && error.tryHelp) io.writeErr("Try 'dropwhy --help' for the accepted options.");
    return code;
  }
}

/**
 * trace, summary, diagnose and exporter. Stop signals are listened for from the start: one that
 * comes before the program is attached ends the command as cleanly as one
 * while tracing, with nothing loaded and 0 drops seen.
 */
async function tracingCommand(command: string, raw: ParsedArgs, io: CliIo): Promise<number | null> {
  const stop = new StopRequest(io.signals);
  if (io.earlySignal() !== null) stop.request({ kind: 'signal' });
  try {
    if (command === 'summary') {
      const options = checkSummary(raw);
      const { runSummary } = await COMMANDS.summary();
      return await runSummary(options, commandIo(io, options, stop));
    } else if (command === 'diagnose') {
      const options = checkDiagnose(raw);
      const { runDiagnose } = await COMMANDS.diagnose();
      await runDiagnose(options, commandIo(io, options, stop));
      return null;
    } else if (command === 'exporter') {
      const options = checkExporter(raw);
      const { runExporter } = await COMMANDS.exporter();
      await runExporter(options, commandIo(io, options, stop));
      return null;
    } else {
      const options = check(raw);
      const { runTrace } = await COMMANDS.trace();
      return await runTrace(options, commandIo(io, options, stop));
    }
  } finally {
    stop.close();
  }
}

/** What tracing commands get, once the machine is known to allow tracing. */
function commandIo(io: CliIo, options: { logLevel: string; logFormat: LogFormat; color?: ColorChoice }, stop: StopRequest): CommandIo {
  const logger = io.createLogger(options.logLevel, options.logFormat);
  assertCanTrace(io.processFacts());
  return {
    binding: io.binding(),
    writeOut: io.writeOut,
    writeErr: io.writeErr,
    statusLine: io.statusLine,
    logger,
    symbols: io.symbols,
    sockets: io.sockets,
    interfaces: io.interfaces,
    pods: io.pods,
    statInode: io.statInode,
    interfaceIndex: io.interfaceIndex,
    findNetns: io.findNetns,
    stop,
    terminal: io.stdoutIsTty,
    columns: io.columns,
    onResize: io.onResize,
    stderrTerminal: io.stderrIsTty,
    color: useColor(options.color ?? 'never', io.env, io.stdoutIsTty),
    readCounters: io.readCounters,
    traceCommand: io.traceCommand,
  };
}

async function doctorCommand(raw: ParsedArgs, io: CliIo): Promise<number> {
  const { output } = checkDoctor(raw);
  const { canTrace, diagnose, gatherFacts, renderChecks, renderChecksJson } = await COMMANDS.doctor();
  const facts = gatherFacts(io.processFacts(), io.binding);
  const checks = diagnose(facts);
  io.writeOut(output === 'json' ? renderChecksJson(checks, facts.kernel) : renderChecks(checks, facts.kernel));
  return canTrace(checks) ? EXIT.ok : EXIT.environment;
}

async function explainCommand(raw: ParsedArgs, io: CliIo): Promise<number> {
  const options = checkExplain(raw);
  const { missingReason, proseWidth, renderExplanation, renderReasonList } = await COMMANDS.explain();
  // The kernel's names make the answer exact, but explain works without them (no addon, no BTF).
  let kernelNames: string[] | null = null;
  try {
    const { reasons } = readKernelFacts(io.binding());
    kernelNames = reasons.known ? reasons.names : null;
  } catch {
    kernelNames = null;
  }
  if (options.reason === null) {
    io.writeOut(renderReasonList(kernelNames, io.columns));
    return EXIT.ok;
  }
  const missing = missingReason(options.reason, kernelNames);
  if (missing) {
    const closest = missing.closest.join(', ');
    throw new UsageError(`explain: this kernel has no drop reason named ${missing.name}; the closest: ${closest} (dropwhy explain --list shows them all)`, false);
  }
  io.writeOut(renderExplanation(options.reason, kernelNames, proseWidth(io.columns)));
  return EXIT.ok;
}

export function realIo(early: EarlySignals | null = null): CliIo {
  const writeErr = fdWriter(2);
  // On a terminal each line on stderr fits its width too (the trace's and summary's own lines do); a log line's JSON never is.
  const stderrWidth = () => (isatty(2) ? (process.stderr.columns ?? null) : null);
  const writeErrLine = (line: string) => writeErr(`${fitMessage(line, stderrWidth())}\n`);
  const namespaces = new NetworkNamespaces();
  return {
    binding: () => loadNativeBinding(),
    processFacts: readProcessFacts,
    writeOut: fdWriter(1),
    writeErr: writeErrLine,
    statusLine: (text) => writeErr(text === null ? '\r\x1b[K' : `\r${text.slice(0, (stderrWidth() ?? 80) - 1)}\x1b[K`),
    symbols: () => Kallsyms.load(),
    sockets: () => {
      const owners = new SocketOwners();
      const cgroups = new CgroupPaths(findCgroup2Mount());
      return { owner: (inode) => owners.owner(inode), cgroup: (id) => cgroups.cgroup(id) };
    },
    interfaces: (logger) =>
      new InterfaceNames(
        (netns) => namespaces.interfaces(netns),
        (netns, error) => logger.warn(`cannot list the interfaces of network namespace ${netns}: ${(error as Error).message}`),
      ),
    pods: (settings, logger) => nodePods(settings, process.env, (message) => logger.warn(message)),
    statInode: namespaces.inodeOf,
    interfaceIndex: namespaces.interfaceIndex,
    findNetns: findNetnsPath,
    signals: process,
    earlySignal: () => early?.take() ?? null,
    stdoutIsTty: isatty(1),
    columns: isatty(1) ? (process.stdout.columns ?? null) : null,
    onResize: (listener) => {
      if (!isatty(1)) return () => {};
      const resized = () => listener(process.stdout.columns);
      process.stdout.on('resize', resized);
      return () => void process.stdout.off('resize', resized);
    },
    stderrIsTty: isatty(2),
    env: process.env,
    createLogger: (level, format) => createLogger(level, format, format === 'text' && isatty(2) ? (line) => writeErrLine(line.trimEnd()) : undefined),
    readCounters: (netns, withState) => namespaces.counters(netns, withState),
    selftest: async (write, reasonsReported) => (await COMMANDS.selftest()).runSelftest(write, reasonsReported),
    traceCommand: (argv) => cgroupCommand(argv, findCgroup2Mount(), invokingUser(process.env, process.geteuid?.() ?? -1)),
  };
}

export function main(argv: string[], early: EarlySignals | null = null): void {
  run(argv, realIo(early)).then(
    (code) => (process.exitCode = code),
    (error) => {
      // Only a bug in dropwhy itself reaches here.
      process.stderr.write(`dropwhy: internal error: ${describe(error)}\n`);
      process.exitCode = EXIT.failure;
    },
  );
}
