// Property: no argv crashes the CLI. Random command lines, built from the real option table,
// random values and garbage, run in-process against the fake binding: each ends with exit 0,
// or with exit 2 and one line (plus the --help hint); never a stack trace or a multi-line error.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { EXPORTER_OPTIONS, FILTER_OPTIONS, PRINT_OPTIONS, SESSION_OPTIONS, STREAM_OPTIONS, SUMMARY_OPTIONS } from '../../src/commands/options';
import { cliHarness, FakeCommand, runNoTrace } from './helpers';

const HINT = "Try 'dropwhy --help' for the accepted options.";

/** --listen is left out of the free-form flags: a random host name would be looked up (see LISTEN_VALUES). */
const VALUE_FLAGS = Object.keys({ ...FILTER_OPTIONS, ...SESSION_OPTIONS, ...PRINT_OPTIONS, ...STREAM_OPTIONS, ...SUMMARY_OPTIONS, ...EXPORTER_OPTIONS })
  .filter((name) => name !== 'listen')
  .map((name) => `--${name}`);
const BARE_FLAGS = ['-o', '-w', '-h', '--help', '--version', '--no-socket', '--no-hints', '--no-stack', '--list', '--stack', '--nft-trace', '--socket'];
const SUBCOMMANDS = ['summary', 'exporter', 'explain', 'doctor', 'selftest', 'trace'];
/** Only loopback, port 0 or unparsable: a fuzzed exporter must not listen on a real port or resolve names. */
const LISTEN_VALUES = ['127.0.0.1:0', '[::1]:0', '127.0.0.1:65536', '127.0.0.1', ':', '[::1]0', '127.0.0.1:-1', ''];
const INTERESTING_VALUES = [
  '',
  '0',
  '1',
  '-1',
  '1.5',
  '1e3',
  '0x10',
  '65535',
  '65536',
  '99999999999999999999',
  String(Number.MAX_SAFE_INTEGER),
  '4K',
  '8M',
  '1G',
  '2G',
  'NaN',
  'Infinity',
  ' ',
  '--',
  '-',
  'tcp',
  'UDP',
  'icmp6',
  'NO_SOCKET',
  'NO_SOCKET,NETFILTER_DROP',
  ',',
  'json',
  'text',
  'debug',
  '10.0.0.0/8',
  'fd00::1/128',
  '::1/129',
  '/proc/self/ns/net',
  '4026531840',
  'eth0',
  'lo',
  'udp port 53',
  'tcp[13] & 2 != 0',
  'ip6 protochain 6',
  'port 99999',
  'not',
  '(',
  'é',
  '\u0000',
  '☃',
  '\n',
];

const randomText = fc.oneof(fc.string({ maxLength: 12 }), fc.string({ unit: 'grapheme', maxLength: 6 }), fc.string({ unit: 'binary', maxLength: 6 }));
const value = fc.oneof(fc.constantFrom(...INTERESTING_VALUES), fc.integer({ min: -(2 ** 40), max: 2 ** 40 }).map(String), fc.double().map(String), randomText);
const argvItem = fc.oneof(
  { weight: 5, arbitrary: fc.tuple(fc.constantFrom(...VALUE_FLAGS), value).map(([flag, v]) => [flag, v]) },
  { weight: 2, arbitrary: fc.tuple(fc.constantFrom(...VALUE_FLAGS), value).map(([flag, v]) => [`${flag}=${v}`]) },
  { weight: 1, arbitrary: fc.constantFrom(...LISTEN_VALUES).map((v) => ['--listen', v]) },
  { weight: 2, arbitrary: fc.constantFrom(...VALUE_FLAGS, ...BARE_FLAGS).map((flag) => [flag]) },
  { weight: 2, arbitrary: fc.constantFrom(...SUBCOMMANDS).map((word) => [word]) },
  { weight: 1, arbitrary: fc.constant(['--', 'dig', '@10.0.0.2']) },
  { weight: 2, arbitrary: value.map((v) => [v]) },
);
/** Words that may set a path option (-w, --write, --ready-file), also as part of a group of short flags (-hw). */
const mayTakePath = (word: string) => word === '--write' || word === '--ready-file' || /^-[^-]/.test(word);
/** A path with a '/' could name a file outside the temporary working directory the runs write into. */
const pathWithSlash = (argv: string[]) =>
  argv.some((word, i) => (mayTakePath(word) && argv[i + 1]?.includes('/')) || (/^(-[^-]|--write=|--ready-file=)/.test(word) && word.includes('/')));
/** A subcommand (or none) first, as people type them, then the items. */
const argvArbitrary = fc
  .tuple(fc.option(fc.constantFrom(...SUBCOMMANDS)), fc.array(argvItem, { maxLength: 6 }))
  .map(([command, items]) => [...(command === null ? [] : [command]), ...items.flat()])
  .filter((argv) => !pathWithSlash(argv));

const RUN_LIMIT_MS = 5000;
const OWN_NETNS = 4026531840;
/** A machine where tracing works: its own namespace and one named one, each with lo and eth0. */
const MACHINE = {
  inodes: { '/proc/self/ns/net': OWN_NETNS, '/run/netns/tcp': 4026532500 },
  interfaces: { [`${OWN_NETNS}/lo`]: 1, [`${OWN_NETNS}/eth0`]: 2, '4026532500/lo': 1 },
};

/** Runs argv; a tracer that opens is stopped at once (runNoTrace), so no command runs for ever. */
async function runOnce(argv: string[]): Promise<void> {
  const h = cliHarness({ ...MACHINE, command: new FakeCommand() });
  let timer: NodeJS.Timeout | undefined;
  const limit = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`still running after ${RUN_LIMIT_MS} ms; stderr: ${JSON.stringify(h.err)}`)), RUN_LIMIT_MS);
  });
  let code: number;
  try {
    code = await Promise.race([runNoTrace(argv, h), limit]);
  } finally {
    clearTimeout(timer);
    h.stop();
  }
  const said = JSON.stringify(h.err);
  for (const line of h.err) {
    assert.ok(!line.includes('\n'), `a multi-line stderr write: ${said}`);
    assert.ok(!/^\s+at /m.test(line) && !line.includes('    at '), `a stack trace: ${said}`);
  }
  assert.ok(code === 0 || code === 2, `exit ${code}: ${said}`);
  // explain's own errors say what to run instead of --help.
  if (code === 2 && h.err[0]?.startsWith('dropwhy: explain: ')) {
    assert.equal(h.err.length, 1, `explain's error: one line: ${said}`);
  } else if (code === 2) {
    assert.equal(h.err.length, 2, `exit 2: not one error line and the hint: ${said}`);
    assert.equal(h.err[1], HINT, `exit 2 without the hint: ${said}`);
    assert.match(h.err[0], /^dropwhy: \S/, `exit 2: ${said}`);
  }
}

test('random argv: exit 0, or exit 2 with one line and the hint; never a stack trace', { timeout: 60_000 }, async () => {
  const cwd = process.cwd();
  const scratch = mkdtempSync(join(tmpdir(), 'dropwhy-cli-properties-'));
  process.chdir(scratch);
  try {
    await fc.assert(fc.asyncProperty(argvArbitrary, runOnce), { numRuns: 150, includeErrorInReport: true });
  } finally {
    process.chdir(cwd);
    rmSync(scratch, { recursive: true, force: true });
  }
});
