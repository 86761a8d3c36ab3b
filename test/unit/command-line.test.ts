// The command line as a new user meets it: words that are not commands, help, mistyped commands and
// flags, and flags that must never be dropped silently.
import { EventEmitter } from 'node:events';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseCommandLine, run } from '../../src/cli';
import { closestWord, commandWords } from '../../src/commands/command-line';
import { mayBeginExpression } from '../../src/events/expression';
import { resolveFilter } from '../../src/commands/resolve';
import { EnvironmentError } from '../../src/errors';
import { EarlySignals, STOP_SIGNALS } from '../../src/signals';
import { plural } from '../../src/plural';
import { explain } from '../../src/knowledge/advice';
import { hintLine, renderExplanation } from '../../src/output/explain';
import { liveTable } from '../../src/output/summary';
import { NetworkNamespaces, OWN_NETNS_PATH } from '../../src/kernel/netns';
import { cliHarness, encodeBatch, loadReasonTable, reasonCode, runNoTrace, runUntilOpened, waitFor, type EventSpec } from './helpers';

const TIMEOUT = { timeout: 10_000 };
/** A UDP datagram to a closed port in the host's namespace, as the kernel reports it. */
function noSocketDrop(pid: number, overrides: EventSpec = {}): EventSpec {
  return {
    reason: reasonCode('NO_SOCKET'),
    netns: 4026531840,
    saddr: '10.0.0.1',
    daddr: '10.0.0.2',
    l4Proto: 'udp',
    sport: 40000,
    dport: 53,
    len: 60,
    comm: 'dig',
    pid,
    ...overrides,
  };
}

const TRY_HELP = "Try 'dropwhy --help' for the accepted options.";

test("help as the first word prints the help, as --help does; help COMMAND prints that command's", TIMEOUT, async () => {
  for (const [argv, usage] of [
    [['help'], 'dropwhy [command] [options] [EXPRESSION]'],
    [['help', 'summary'], 'dropwhy summary [expression..]'],
    [['summary', 'help'], 'dropwhy summary [expression..]'],
  ] as const) {
    const h = cliHarness();
    assert.equal(await runNoTrace([...argv], h), 0, argv.join(' '));
    assert.ok(h.stdout().startsWith(usage), `${argv.join(' ')}: ${h.stdout().slice(0, 80)}`);
    assert.deepEqual(h.err, []);
    assert.equal(h.bindingCalls, 0, `${argv.join(' ')} must not trace`);
  }
});

test('a last word "help" after an expression prints the help: no trace runs with the other flags dropped', TIMEOUT, async () => {
  const h = cliHarness();
  assert.equal(await runNoTrace(['host', 'help', '-o', 'json', '--count', '1'], h), 0);
  assert.match(h.stdout(), /^dropwhy \[command\]/);
  assert.equal(h.bindingCalls, 0);
});

test('a mistyped command: exit 2, "unknown command" with the closest, nothing traced', TIMEOUT, async () => {
  for (const [argv, message] of [
    [['sumary'], 'dropwhy: unknown command "sumary" (did you mean summary?)'],
    [['-o', 'json', 'doctr'], 'dropwhy: unknown command "doctr" (did you mean doctor?)'],
    [['explian', 'NO_SOCKET'], 'dropwhy: unknown command "explian" (did you mean explain?)'],
    [['hlep'], 'dropwhy: unknown command "hlep" (did you mean help?)'],
    [
      ['frobnicate'],
      'dropwhy: unknown command "frobnicate" (the commands: summary, diagnose, exporter, explain, doctor, selftest, completion; an expression begins with a keyword such as host, port or udp)',
    ],
  ] as const) {
    const h = cliHarness();
    assert.equal(await runNoTrace([...argv], h), 2, argv.join(' '));
    assert.deepEqual(h.err, [message, TRY_HELP]);
    assert.equal(h.bindingCalls, 0);
  }
});

test('an expression still begins the default command: keywords, parentheses, negation, byte offsets', TIMEOUT, async () => {
  for (const argv of [['udp', 'port', '53'], ['not', 'host', '10.0.0.1'], ['(udp)'], ['!tcp'], ['tcp[tcpflags]', '&', 'tcp-syn', '!=', '0'], ['icmp6']]) {
    const { command, raw } = await parseCommandLine(argv);
    assert.equal(command, 'trace');
    assert.deepEqual(raw.expression, argv);
  }
});

test('a repeatable flag takes one value: the words after it are the expression, not more reasons', TIMEOUT, async () => {
  const { raw } = await parseCommandLine(['--filter-reason', 'NO_SOCKET', 'udp', 'port', '53']);
  assert.deepEqual(raw['filter-reason'], ['NO_SOCKET']);
  assert.deepEqual(raw.expression, ['udp', 'port', '53']);
});

test('a mistyped flag: the option of that command it most likely meant', TIMEOUT, async () => {
  for (const [argv, message] of [
    [['--filter-por', '53'], 'dropwhy: Unknown argument: filter-por (did you mean --filter-port?)'],
    [['summary', '--intervall', '2'], 'dropwhy: Unknown argument: intervall (did you mean --interval?)'],
    [['--bogus'], 'dropwhy: Unknown argument: bogus'],
  ] as const) {
    const h = cliHarness();
    assert.equal(await runNoTrace([...argv], h), 2);
    assert.deepEqual(h.err, [message, TRY_HELP]);
  }
});

test('closestWord: within two edits, a prefix, or nothing; short words are not guessed', () => {
  assert.equal(closestWord('sumary', commandWords()), 'summary');
  assert.equal(closestWord('SUMMARY', commandWords()), 'summary');
  assert.equal(closestWord('expo', commandWords()), 'exporter');
  assert.equal(closestWord('zzzzzz', commandWords()), null);
  assert.equal(closestWord('do', commandWords()), null);
});

test('mayBeginExpression: libpcap keywords and non-words may; a plain unknown word may not', () => {
  for (const word of ['host', 'UDP', 'not', 'ip6', 'tcp[13]', '(', '!', '10.0.0.1', 'eth0']) assert.ok(mayBeginExpression(word), word);
  for (const word of ['sumary', 'help', 'foo']) assert.ok(!mayBeginExpression(word), word);
});

test('--count: the closing lines say it stopped there and how many matched after; the counter verdict counts them', TIMEOUT, async () => {
  const h = cliHarness({
    binding: {
      counters: { seen: 5, matched: 5, lost: 0 },
      onOpen: (binding) => binding.push(encodeBatch([1, 2, 3, 4, 5].map((pid) => noSocketDrop(pid)))),
    },
    counterSnapshots: [new Map([['Udp NoPorts', 10]]), new Map([['Udp NoPorts', 15]])],
  });
  assert.equal(await run(['--count', '2', '--filter-netns', '4026531840', '-o', 'json'], h.io), 0);
  assert.equal(h.records().length, 2);
  assert.deepEqual(h.err, [
    'dropwhy: 5 drops seen, 5 matched, 0 lost',
    'dropwhy: stopped at --count 2; 3 more matching drops came before the tracer was detached: counted, not printed',
    'dropwhy: Udp NoPorts +5 vs 5 NO_SOCKET traced: agree',
  ]);
});

test('colour: on a terminal unless NO_COLOR; --color always and never override both', TIMEOUT, async () => {
  const ESC = '\x1b[';
  for (const [argv, tty, env, coloured] of [
    [[], true, {}, true],
    [[], true, { NO_COLOR: '1' }, false],
    [[], true, { NO_COLOR: '' }, true],
    [[], false, {}, false],
    [['--color', 'always'], false, { NO_COLOR: '1' }, true],
    [['--color', 'never'], true, {}, false],
  ] as const) {
    const h = cliHarness({ stdoutIsTty: tty, env, binding: { onOpen: (binding) => binding.push(encodeBatch([noSocketDrop(1)])) } });
    assert.equal(await run(['--count', '1', '--no-hints', ...argv], h.io), 0);
    assert.equal(h.stdout().includes(ESC), coloured, `${argv.join(' ')} tty=${tty} env=${JSON.stringify(env)}: ${JSON.stringify(h.stdout())}`);
  }
});

test('--color other than auto, always or never: exit 2, the flag named', TIMEOUT, async () => {
  const h = cliHarness();
  assert.equal(await runNoTrace(['--color', 'yes'], h), 2);
  assert.equal(h.err[0], 'dropwhy: --color: expected auto, always, never, got "yes"');
});

test('a single-valued flag given twice with different values: exit 2, never a silent choice; filters get their expression', TIMEOUT, async () => {
  for (const [argv, message] of [
    [
      ['--filter-port', '53', '--filter-port', '9999'],
      "dropwhy: --filter-port: takes one value, got 2 (53, 9999); for drops matching any of them, an expression: 'port 53 or port 9999'",
    ],
    [
      ['--filter-src-ip', '10.0.0.0/8', '--filter-src-ip', 'fd00::1'],
      "dropwhy: --filter-src-ip: takes one value, got 2 (10.0.0.0/8, fd00::1); for drops matching any of them, an expression: 'src net 10.0.0.0/8 or src host fd00::1'",
    ],
    [['-o', 'json', '--output', 'text'], 'dropwhy: --output: takes one value, got 2 (json, text)'],
    [['summary', '--interval', '1', '--interval', '2'], 'dropwhy: --interval: takes one value, got 2 (1, 2)'],
  ] as const) {
    const h = cliHarness();
    assert.equal(await runNoTrace([...argv], h), 2, argv.join(' '));
    assert.deepEqual(h.err, [message, TRY_HELP]);
    assert.equal(h.bindingCalls, 0);
  }
  // The same value twice is no choice; a repeatable flag repeats.
  const { raw } = await parseCommandLine(['--filter-port', '53', '--filter-port', '53', '--filter-reason', 'NO_SOCKET', '--filter-reason', 'UDP_CSUM']);
  assert.deepEqual(raw['filter-reason'], ['NO_SOCKET', 'UDP_CSUM']);
});

test('--filter-netns: a path that cannot be read says why (exit 3), not that it is no namespace', TIMEOUT, async () => {
  const denied = Object.assign(new Error("EACCES: permission denied, stat '/proc/1/ns/net'"), { code: 'EACCES' });
  const filter = { reasonNames: [], excludedReasonNames: [], netns: '/proc/1/ns/net' };
  assert.throws(
    () =>
      resolveFilter(filter, loadReasonTable(), () => {
        throw denied;
      }),
    (error: unknown) => error instanceof EnvironmentError && error.message === '--filter-netns: cannot read /proc/1/ns/net: permission denied (EACCES)',
  );
  // A path that is missing, or no namespace file, is still "not one"; the real lookup tells them from the rest.
  const namespaces = new NetworkNamespaces();
  assert.equal(namespaces.inodeOf('/nonexistent/ns/net'), null);
  assert.equal(namespaces.inodeOf('/etc/hostname'), null);
  assert.equal(typeof namespaces.inodeOf(OWN_NETNS_PATH), 'number');
});

test('--filter-netns INODE that names no namespace now: traced, with a warning that nothing matches until one appears', TIMEOUT, async (t) => {
  for (const [inode, warned] of [
    ['12345', true],
    ['4026531840', false],
  ] as const) {
    const h = cliHarness({ netnsPaths: { 4026531840: '/proc/1/ns/net' } });
    t.after(() => h.stop());
    const { done } = await runUntilOpened(['--filter-netns', inode], h);
    h.stop();
    assert.equal(await done, 0);
    const warning = h.logs.map((line) => JSON.parse(line) as { msg: string }).find((record) => record.msg.startsWith('--filter-netns'));
    assert.equal(
      warning?.msg,
      warned ? '--filter-netns 12345: no process or /run/netns entry is in a network namespace with this inode now; nothing matches until one is' : undefined,
    );
  }
});

test('a counter higher than the drops traced under a filter: the closing lines say the filter explains it', TIMEOUT, async () => {
  const h = cliHarness({
    binding: { counters: { seen: 5, matched: 2, lost: 0 }, onOpen: (binding) => binding.push(encodeBatch([noSocketDrop(1), noSocketDrop(2)])) },
    counterSnapshots: [new Map([['Udp NoPorts', 10]]), new Map([['Udp NoPorts', 15]])],
  });
  assert.equal(await run(['--count', '2', '--filter-netns', '4026531840', '--filter-port', '53', 'udp', '-o', 'json'], h.io), 0);
  assert.deepEqual(h.err.slice(-2), [
    'dropwhy: Udp NoPorts +5 vs 2 NO_SOCKET traced: differ by 3 (the counter is higher)',
    'dropwhy: (the counters count every drop of the namespace, the traced drops are those --filter-port and the expression let through: a higher counter is expected)',
  ]);
});

test('a stop signal before the command listened: a tracing command ends cleanly at once (exit 0, closing line), others as the signal would', TIMEOUT, async () => {
  for (const argv of [[], ['summary'], ['exporter', '--listen', '127.0.0.1:0']]) {
    const h = cliHarness({ earlySignal: 'SIGINT' });
    assert.equal(await run(argv, h.io), 0, argv.join(' '));
    assert.equal(h.binding.opened.length, 0, 'nothing loaded');
    assert.ok(h.err.includes('dropwhy: 0 drops seen, 0 matched, 0 lost'), h.err.join('\n'));
    assert.equal(h.signals.listenerCount('SIGINT'), 0);
  }
  const h = cliHarness({ earlySignal: 'SIGTERM' });
  assert.equal(await run(['explain', 'NO_SOCKET'], h.io), 143);
  assert.deepEqual(h.out, []);
});

test('EarlySignals: holds the first stop signal until taken, then no longer listens', () => {
  const emitter = new EventEmitter();
  const early = new EarlySignals(emitter);
  emitter.emit('SIGHUP', 'SIGHUP');
  emitter.emit('SIGINT', 'SIGINT');
  assert.equal(early.take(), 'SIGHUP');
  for (const signal of STOP_SIGNALS) assert.equal(emitter.listenerCount(signal), 0);
  assert.equal(new EarlySignals(new EventEmitter()).take(), null);
});

test('plural: one drop, any other number of drops', () => {
  assert.equal(plural(1, 'drop'), '1 drop');
  assert.equal(plural(0, 'drop'), '0 drops');
  assert.equal(plural(2, 'event was', 'events were'), '2 events were');
  assert.equal(plural(1, 'event was', 'events were'), '1 event was');
});

test('not root: one line that does not say dropwhy twice', TIMEOUT, async () => {
  const h = cliHarness({ facts: { euid: 1000, capEff: 0n } });
  assert.equal(await runNoTrace([], h), 3);
  assert.deepEqual(h.err, ['dropwhy: loading the BPF program needs root, or CAP_BPF and CAP_PERFMON: run dropwhy with sudo']);
});

test('advice by location: QUEUE_PURGE at sk_stream_kill_queues is a socket closing, not a qdisc; NETFILTER_DROP names --nft-trace', () => {
  const closing = explain('QUEUE_PURGE', 'sk_stream_kill_queues+0x5a');
  assert.equal(closing.atFunction, 'sk_stream_kill_queues');
  assert.match(closing.advice.summary, /TCP socket was closed/);
  assert.ok(!closing.advice.checks.some((check) => check.includes('tc qdisc')), closing.advice.checks.join('\n'));
  assert.match(hintLine('QUEUE_PURGE', 'sk_stream_kill_queues+0x5a'), /hint: QUEUE_PURGE: A TCP socket was closed/);
  const elsewhere = explain('QUEUE_PURGE', 'dev_deactivate_many+0x10');
  assert.equal(elsewhere.atFunction, null);
  assert.equal(elsewhere.advice.summary, explain('QUEUE_PURGE').advice.summary);
  assert.match(renderExplanation('QUEUE_PURGE', null), /^At sk_stream_kill_queues: A TCP socket was closed/m);
  assert.match(explain('NETFILTER_DROP').advice.checks[0], /dropwhy --nft-trace/);
});

test('explain wraps to the terminal when it is narrower than 100 columns; its own errors have no --help hint', TIMEOUT, async () => {
  for (const [columns, width] of [
    [undefined, 100],
    [60, 60],
    [200, 100],
  ] as const) {
    const h = cliHarness({ columns, stdoutIsTty: columns !== undefined });
    assert.equal(await runNoTrace(['explain', 'SOCKET_RCVBUFF'], h), 0);
    const lines = h.stdout().split('\n');
    const longest = Math.max(...lines.map((line) => line.length));
    assert.ok(longest <= width && longest > width - 15, `columns ${columns}: the longest line has ${longest}`);
  }
  const h = cliHarness();
  assert.equal(await runNoTrace(['explain', 'NO_SOCK'], h), 2);
  assert.equal(h.err.length, 1, h.err.join('\n'));
  assert.match(h.err[0], /^dropwhy: explain: this kernel has no drop reason named NO_SOCK; the closest: NO_SOCKET/);
});

test('--help labels numeric options [number], and they still reach check() as the text given', TIMEOUT, async () => {
  for (const [argv, flags] of [
    [['--help'], ['--count', '--duration', '--filter-port', '--snaplen']],
    [
      ['summary', '--help'],
      ['--interval', '--max-keys'],
    ],
    [['exporter', '--help'], ['--idle-timeout']],
  ] as const) {
    const h = cliHarness();
    assert.equal(await runNoTrace([...argv], h), 0);
    const lines = h.stdout().split('\n');
    for (const flag of flags) {
      const at = lines.findIndex((line) => line.trimStart().startsWith(`${flag} `));
      assert.ok(at >= 0, `${flag} in ${argv.join(' ')}`);
      // A long description puts the labels on the line under it.
      assert.match(lines[at] + lines[at + 1], /\[number\]/, lines[at]);
    }
  }
  const { raw } = await parseCommandLine(['--count', '010', '--filter-port', '0x35']);
  assert.equal(raw.count, '010');
  assert.equal(raw['filter-port'], '0x35');
});

test("-ojson is -o json and -wFILE is -w FILE, as getopt reads them; after -- the words are the command's", TIMEOUT, async () => {
  const { raw } = await parseCommandLine(['-ojson', '-wdrops.pcapng', 'udp', '--', 'dig', '-ojson']);
  assert.equal(raw.output, 'json');
  assert.equal(raw.write, 'drops.pcapng');
  assert.deepEqual(raw.expression, ['udp']);
  assert.deepEqual(raw.command, ['dig', '-ojson']);
  assert.equal((await parseCommandLine(['-w-'])).raw.write, '-');
  assert.equal((await parseCommandLine(['doctor', '-ojson'])).raw.output, 'json');
});

test('liveTable: the elapsed time is whole intervals, the rate over the real length; lines cut to the width', () => {
  const row = {
    reason: 'SOCKET_RCVBUFF',
    reasonCode: 1,
    subsystem: null,
    proto: 'udp',
    family: 4 as const,
    location: 'udp_queue_rcv_one_skb+0x437',
    address: '0xffffffff8209d647',
    count: 30,
    total: 90,
    paths: null,
  };
  const text = liveTable([row], 6, 1.5, 90, 50);
  const lines = text.slice('\x1b[H\x1b[2J'.length).split('\n');
  assert.equal(lines[0], 'dropwhy summary: 6s, 90 drops matched   (Ctrl-C …');
  assert.equal(lines[3], '       20         90  SOCKET_RCVBUFF         udp…');
  assert.ok(liveTable([row], 6, 1.5, 90).includes('udp_queue_rcv_one_skb+0x437'), 'not cut without a width');
});

test('on a terminal, one stderr line once attached says what is traced and how to stop; not when stderr is a file', TIMEOUT, async (t) => {
  for (const [argv, line] of [
    [['--filter-port', '53', 'udp'], "dropwhy: tracing drops on skb:kfree_skb (filters --filter-port 53 'udp'); Ctrl-C to stop"],
    [['summary'], 'dropwhy: counting drops on skb:kfree_skb (no filter); Ctrl-C to stop'],
    [['-w', '/dev/null', '--filter-dst-ip', '10.0.0.0/8'], 'dropwhy: tracing drops on skb:kfree_skb (filters --filter-dst-ip 10.0.0.0/8); Ctrl-C to stop'],
  ] as const) {
    for (const stderrIsTty of [true, false]) {
      const h = cliHarness({ stderrIsTty });
      t.after(() => h.stop());
      const { done } = await runUntilOpened([...argv, '--log-level', 'info'], h);
      await waitFor(() => h.logs.some((l) => l.includes('attached to skb:kfree_skb')), 'attached');
      h.stop();
      assert.equal(await done, 0);
      assert.deepEqual(
        h.err.filter((l) => l.includes('on skb:kfree_skb')),
        stderrIsTty ? [line] : [],
        argv.join(' '),
      );
    }
  }
});
