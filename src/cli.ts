// The dropwhy command line: parse, run the command, map the outcome to an exit code.
import { statSync } from 'node:fs';
import { isatty } from 'node:tty';
import yargs from 'yargs';
import { loadNativeBinding, type NativeBinding } from './binding';
import { describe, exitCodeFor, EXIT, UsageError } from './errors';
import { Kallsyms } from './kallsyms';
import { assertCanTrace, readProcessFacts, type ProcessFacts } from './kernel';
import { createLogger, type Logger } from './log';
import { check, FILTER_OPTIONS, RUN_OPTIONS, type RawArgs, type StatInode } from './options';
import { fdWriter } from './output';
import { runTrace } from './trace';
import type { Symbolizer } from './format';

/** Everything the CLI touches outside itself, so tests can run it without root. */
export interface CliIo {
  binding(): NativeBinding;
  processFacts(): ProcessFacts;
  writeOut(chunk: string): void;
  writeErr(line: string): void;
  symbols(): Symbolizer;
  statInode: StatInode;
  signals: NodeJS.EventEmitter;
  stdoutIsTty: boolean;
  createLogger(level: string): Logger;
}

const EXAMPLES: Array<[string, string]> = [
  ['sudo $0 --filter-proto udp --filter-port 53', 'every dropped DNS packet, with reason and kernel location'],
  ['sudo $0 --filter-dst-ip 10.0.0.0/8 -o json', 'drops towards 10/8 as NDJSON'],
  ['sudo $0 --filter-netns myns --filter-reason NETFILTER_DROP', 'firewall drops in network namespace "myns"'],
  ['sudo $0 --count 10 --duration 30', 'stop after 10 drops or 30 seconds'],
];

function parser(argv: string[]) {
  const cli = yargs(argv)
    .scriptName('dropwhy')
    .usage('$0 [options]\n\nWhy did Linux drop my packet? Traces skb:kfree_skb and prints every drop with its reason.')
    .options(FILTER_OPTIONS)
    .options(RUN_OPTIONS)
    .strict()
    .exitProcess(false)
    .fail((message, error) => {
      throw error ?? new UsageError(message);
    })
    .help()
    .alias('help', 'h')
    .version(require('../../package.json').version)
    .wrap(isatty(1) ? Math.min(110, process.stdout.columns) : 100)
    .epilogue(
      'Exit status: 0 done, 1 failure, 2 invalid option, 3 missing privileges, BTF or tracepoint.\n' +
        'JSON fields are described in docs/json-schema.md.',
    );
  for (const [command, description] of EXAMPLES) cli.example(command, description);
  return cli;
}

/** Runs the CLI and returns its exit status. */
export async function run(argv: string[], io: CliIo): Promise<number> {
  let helpOrVersion = '';
  try {
    const raw = (await parser(argv).parse(argv, {}, (_error, _argv, output) => {
      helpOrVersion = output;
    })) as RawArgs & {
      help?: boolean;
      version?: boolean;
    };
    if (raw.help || raw.version) {
      io.writeOut(helpOrVersion + '\n');
      return EXIT.ok;
    }
    const options = check(raw);
    const logger = io.createLogger(options.logLevel);
    assertCanTrace(io.processFacts());
    await runTrace(options, {
      binding: io.binding(),
      writeOut: io.writeOut,
      writeErr: io.writeErr,
      logger,
      symbols: io.symbols,
      statInode: io.statInode,
      signals: io.signals,
      color: io.stdoutIsTty,
    });
    return EXIT.ok;
  } catch (error) {
    const code = exitCodeFor(error);
    io.writeErr(`dropwhy: ${describe(error)}`);
    if (code === EXIT.usage) io.writeErr("Try 'dropwhy --help' for the accepted options.");
    return code;
  }
}

export function realIo(): CliIo {
  const writeErr = fdWriter(2);
  return {
    binding: () => loadNativeBinding(),
    processFacts: readProcessFacts,
    writeOut: fdWriter(1),
    writeErr: (line) => writeErr(line + '\n'),
    symbols: () => Kallsyms.load(),
    statInode: (path) => {
      try {
        return statSync(path).ino;
      } catch {
        return null;
      }
    },
    signals: process,
    stdoutIsTty: isatty(1),
    createLogger,
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
