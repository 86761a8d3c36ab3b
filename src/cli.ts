// The dropwhy command line: parse, run the command, map the outcome to an exit code.
import { isatty } from 'node:tty';
import yargs, { type Argv } from 'yargs';
import { loadNativeBinding, type NativeBinding } from './kernel/binding';
import { describe, exitCodeFor, EXIT, UsageError } from './errors';
import { Kallsyms } from './kernel/kallsyms';
import { assertCanTrace, readKernelFacts, readProcessFacts, type ProcessFacts } from './kernel/facts';
import { createLogger, type Logger } from './log';
import type { CommandIo } from './commands/session';
import { StopRequest } from './commands/stop';
import type { HostSnapshot } from './kernel/counters';
import { NetworkNamespaces, type InterfaceIndex, type StatInode } from './kernel/netns';
import {
  check,
  checkDiagnose,
  checkDoctor,
  checkExplain,
  checkExporter,
  checkSummary,
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
  type RawArgs,
  type RawExporterArgs,
  type RawSummaryArgs,
} from './commands/options';
import { VERSION } from './version';
import { fdWriter, type Chunk } from './output/writer';
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
  symbols(): Symbolizer;
  sockets(): SocketResolver;
  /** Names the interfaces of events, warning through logger when a namespace cannot be listed. */
  interfaces(logger: Logger): InterfaceNames;
  /** The pods of drops where Kubernetes is asked for or detected (else null), warning through logger of what cannot be read. */
  pods(settings: PodSettings, logger: Logger): Pods | null;
  statInode: StatInode;
  interfaceIndex: InterfaceIndex;
  /** Emits the stop signals (STOP_SIGNALS): the process itself, an emitter in tests. */
  signals: NodeJS.EventEmitter;
  stdoutIsTty: boolean;
  createLogger(level: string): Logger;
  /** The kernel's counters of the namespace with this inode (null: dropwhy's own). */
  readCounters(netns: number | null, withState?: boolean): Promise<HostSnapshot>;
  /** Runs the selftest, printing through write; resolves true on PASS. reasonsReported: the kernel's tracepoint has a reason. */
  selftest(write: (line: string) => void, reasonsReported: boolean): Promise<boolean>;
  /** -- CMD: the command, in a cgroup of its own, ready to start. */
  traceCommand(argv: string[]): TracedCommand;
}

const EXAMPLES: Array<[string, string]> = [
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
};

const withSessionOptions = <T>(cli: Argv<T>) => cli.positional('expression', EXPRESSION_POSITIONAL).options(FILTER_OPTIONS).options(SESSION_OPTIONS);

function parser(argv: string[]) {
  const cli = yargs(argv)
    .scriptName('dropwhy')
    .usage('$0 [command] [options] [EXPRESSION] [-- COMMAND ARGS...]\n\nWhy did Linux drop my packet? Traces skb:kfree_skb and explains every drop.')
    .command('$0 [expression..]', 'Print every matching drop as it happens (the default)', (y) => withSessionOptions(y).options(PRINT_OPTIONS).options(STREAM_OPTIONS))
    .command('summary [expression..]', 'Count drops per reason and location in the kernel; print the counts every interval', (y) =>
      withSessionOptions(y).options(PRINT_OPTIONS).options(SUMMARY_OPTIONS),
    )
    .command('diagnose [expression..]', 'Count every drop the host keeps a counter of for a while, then one report: causes ranked, settings, fixes', (y) =>
      withSessionOptions(y).options(DIAGNOSE_OPTIONS),
    )
    .command('exporter [expression..]', 'Serve Prometheus metrics of the drops, counted in the kernel and read at scrape time', (y) =>
      withSessionOptions(y).options(EXPORTER_OPTIONS),
    )
    .command('explain [reason]', 'What a drop reason means, which counters show it and what to check', (y) =>
      y.positional('reason', EXPLAIN_POSITIONAL).options(EXPLAIN_OPTIONS),
    )
    .command('doctor', 'Check whether dropwhy can run here, and what to do if not', (y) => y.options(DOCTOR_OPTIONS))
    .command('selftest', 'Make known drops in throwaway namespaces and check dropwhy sees exactly them')
    .parserConfiguration({ 'camel-case-expansion': false })
    .strict()
    .exitProcess(false)
    .fail((message, error) => {
      throw error ?? new UsageError(message);
    })
    .help()
    .alias('help', 'h')
    .version(VERSION)
    .wrap(isatty(1) ? Math.min(110, process.stdout.columns) : 100)
    .epilogue('Exit status: 0 done, 1 failure, 2 invalid option, 3 missing privileges, BTF, tracepoint or library.\n' + 'JSON fields are described in docs/json-schema.md.');
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
 */
export async function parseCommandLine(argv: string[]): Promise<CommandLine> {
  const dashes = argv.indexOf('--');
  const options = dashes < 0 ? argv : argv.slice(0, dashes);
  let output = '';
  const raw = (await parser(options).parse(options, {}, (_error, _argv, text) => {
    output = text;
  })) as ParsedArgs;
  if (dashes >= 0) raw.command = argv.slice(dashes + 1);
  return { command: String(raw._[0] ?? 'trace'), raw, helpOrVersion: raw.help || raw.version ? output : null };
}

/** Runs the CLI and returns its exit status. */
export async function run(argv: string[], io: CliIo): Promise<number> {
  try {
    const { command, raw, helpOrVersion } = await parseCommandLine(argv);
    if (helpOrVersion !== null) {
      io.writeOut(helpOrVersion + '\n');
      return EXIT.ok;
    }
    if (command === 'explain') return await explainCommand(raw, io);
    if (command === 'doctor') return await doctorCommand(raw, io);
    if (command === 'selftest') {
      assertCanTrace(io.processFacts());
      // A missing addon or libbpf is this one line, not a failure inside the test.
      const { hasReason } = readKernelFacts(io.binding());
      return (await io.selftest((line) => io.writeOut(line + '\n'), hasReason)) ? EXIT.ok : EXIT.failure;
    }
    return (await tracingCommand(command, raw, io)) ?? EXIT.ok;
  } catch (error) {
    const code = exitCodeFor(error);
    io.writeErr(`dropwhy: ${describe(error)}`);
    if (code === EXIT.usage) io.writeErr("Try 'dropwhy --help' for the accepted options.");
    return code;
  }
}

/**
 * trace, summary and exporter. Stop signals are listened for from the start: one that
 * comes before the program is attached ends the command as cleanly as one
 * while tracing, with nothing loaded and 0 drops seen.
 */
async function tracingCommand(command: string, raw: ParsedArgs, io: CliIo): Promise<number | null> {
  const stop = new StopRequest(io.signals);
  try {
    if (command === 'summary') {
      const options = checkSummary(raw);
      const { runSummary } = await COMMANDS.summary();
      return await runSummary(options, commandIo(io, options.logLevel, stop));
    } else if (command === 'diagnose') {
      const options = checkDiagnose(raw);
      const { runDiagnose } = await COMMANDS.diagnose();
      await runDiagnose(options, commandIo(io, options.logLevel, stop));
      return null;
    } else if (command === 'exporter') {
      const options = checkExporter(raw);
      const { runExporter } = await COMMANDS.exporter();
      await runExporter(options, commandIo(io, options.logLevel, stop));
      return null;
    } else {
      const options = check(raw);
      const { runTrace } = await COMMANDS.trace();
      return await runTrace(options, commandIo(io, options.logLevel, stop));
    }
  } finally {
    stop.close();
  }
}

/** What tracing commands get, once the machine is known to allow tracing. */
function commandIo(io: CliIo, logLevel: string, stop: StopRequest): CommandIo {
  const logger = io.createLogger(logLevel);
  assertCanTrace(io.processFacts());
  return {
    binding: io.binding(),
    writeOut: io.writeOut,
    writeErr: io.writeErr,
    logger,
    symbols: io.symbols,
    sockets: io.sockets,
    interfaces: io.interfaces,
    pods: io.pods,
    statInode: io.statInode,
    interfaceIndex: io.interfaceIndex,
    stop,
    color: io.stdoutIsTty,
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
  const { missingReason, renderExplanation, renderReasonList } = await COMMANDS.explain();
  // The kernel's names make the answer exact, but explain works without them (no addon, no BTF).
  let kernelNames: string[] | null = null;
  try {
    const { reasons } = readKernelFacts(io.binding());
    kernelNames = reasons.known ? reasons.names : null;
  } catch {
    kernelNames = null;
  }
  if (options.reason === null) {
    io.writeOut(renderReasonList(kernelNames));
    return EXIT.ok;
  }
  const missing = missingReason(options.reason, kernelNames);
  if (missing) {
    throw new UsageError(`explain: this kernel has no drop reason named ${missing.name}; the closest: ${missing.closest.join(', ')} (dropwhy explain --list shows them all)`);
  }
  io.writeOut(renderExplanation(options.reason, kernelNames));
  return EXIT.ok;
}

export function realIo(): CliIo {
  const writeErr = fdWriter(2);
  const namespaces = new NetworkNamespaces();
  return {
    binding: () => loadNativeBinding(),
    processFacts: readProcessFacts,
    writeOut: fdWriter(1),
    writeErr: (line) => writeErr(line + '\n'),
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
    signals: process,
    stdoutIsTty: isatty(1),
    createLogger,
    readCounters: (netns, withState) => namespaces.counters(netns, withState),
    selftest: async (write, reasonsReported) => (await COMMANDS.selftest()).runSelftest(write, reasonsReported),
    traceCommand: (argv) => cgroupCommand(argv, findCgroup2Mount(), invokingUser(process.env, process.geteuid?.() ?? -1)),
  };
}

export function main(argv: string[]): void {
  run(argv, realIo()).then(
    (code) => (process.exitCode = code),
    (error) => {
      // Only a bug in dropwhy itself reaches here.
      process.stderr.write(`dropwhy: internal error: ${describe(error)}\n`);
      process.exitCode = EXIT.failure;
    },
  );
}
