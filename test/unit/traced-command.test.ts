// dropwhy -- CMD without a kernel: the command line, the session's handling of the command (start
// once attached, signals passed on, its end ends tracing, its status is dropwhy's), and the pieces
// that run it (the launch argv, exit statuses, the invoking user, stale cgroups).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseCommandLine, run } from '../../src/cli';
import { check, checkExporter } from '../../src/commands/options';
import { cgroupCommand, exitStatus, findProgram, invokingUser, launchArgv, removeStaleCgroups } from '../../src/commands/traced-command';
import { CONFIG } from '../../src/events/layout';
import { CommandNotFoundError, UsageError } from '../../src/errors';
import { cliHarness, encodeEvent, FakeCommand, reasonCode, runNoTrace, runUntilOpened, waitFor } from './helpers';

const TIMEOUT = { timeout: 10_000 };

test('the words after -- are the command, kept as they were written', async () => {
  const { raw } = await parseCommandLine(['--filter-proto', 'udp', 'port', '53', '--', 'dig', '-p', '053', '--', '@10.0.0.2']);
  assert.deepEqual(raw.command, ['dig', '-p', '053', '--', '@10.0.0.2']);
  assert.deepEqual(raw.expression, ['port', '53']);
  assert.deepEqual(check(raw).command, ['dig', '-p', '053', '--', '@10.0.0.2']);
  assert.equal(check((await parseCommandLine(['--filter-proto', 'udp'])).raw).command, null, 'no --: no command');
});

test('-- without a command, and -- with the exporter, are usage errors', async () => {
  assert.throws(
    () => check({ command: [] }),
    (e: unknown) => e instanceof UsageError && /expected a command to run after it/.test(e.message),
  );
  assert.throws(
    () => checkExporter({ command: ['dig'] }),
    (e: unknown) => e instanceof UsageError && /exporter serves every drop/.test(e.message),
  );
  const h = cliHarness();
  assert.equal(await runNoTrace(['--'], h), 2);
  assert.equal(h.err[0], 'dropwhy: --: expected a command to run after it, e.g. -- dig @10.0.0.2 example.com');
  assert.equal(h.binding.opened.length, 0);
});

test('the command starts once the tracer is attached, in its cgroup; its end ends tracing and its status is the exit status', TIMEOUT, async () => {
  const command = new FakeCommand();
  const h = cliHarness({ command });
  const { done } = await runUntilOpened(['-o', 'json', '--', 'dig', '@10.0.0.2'], h);
  const options = h.binding.options;
  assert.equal(options.commandCgroup, command.cgroup.path, 'the addon attaches the flow recorder to the cgroup');
  assert.equal(options.config.readBigUInt64LE(CONFIG.command_cgroup), BigInt(command.cgroup.id), 'the kernel filters on the cgroup id');
  await waitFor(() => command.starts === 1, 'the command to start');
  assert.deepEqual(command.argv, ['dig', '@10.0.0.2']);
  h.binding.push(encodeEvent({ reason: reasonCode('NO_SOCKET'), saddr: '10.0.0.1', daddr: '10.0.0.2', l4Proto: 'udp', sport: 40000, dport: 53 }));
  command.exit(9);
  assert.equal(await done, 9);
  assert.equal(h.binding.stopCalls, 1, 'the tracer stopped after the command ended');
  assert.equal(h.records().length, 1, 'the event delivered before the end is printed');
  assert.equal(command.closes, 1, 'the cgroup is removed');
  assert.equal(h.err.at(-1), 'dropwhy: dig exited with status 9');
  assert.equal(h.counterReads.length, 0, "no counter comparison: the namespace's counters are every process's");
});

test('a stop signal while the command runs is passed on to it; tracing goes on until it ends', TIMEOUT, async () => {
  const command = new FakeCommand(['SIGINT']);
  const h = cliHarness({ command });
  const { done } = await runUntilOpened(['--', 'sleep', '100'], h);
  await waitFor(() => command.starts === 1, 'the command to start');
  h.signals.emit('SIGINT');
  await waitFor(() => command.signals.length === 1, 'the signal to be passed on');
  assert.deepEqual(command.signals, ['SIGINT']);
  assert.equal(h.binding.stopCalls, 0, 'still tracing: the command ignored SIGINT');
  h.signals.emit('SIGTERM');
  assert.equal(await done, 128 + 15, 'killed by SIGTERM: 143, as a shell reports it');
  assert.equal(h.binding.stopCalls, 1);
});

test('when tracing stops for another reason (--count), the command gets SIGTERM and dropwhy waits for it', TIMEOUT, async () => {
  const command = new FakeCommand();
  const h = cliHarness({ command });
  const { done } = await runUntilOpened(['--count', '1', '-o', 'json', '--', 'ping', '10.0.0.2'], h);
  await waitFor(() => command.starts === 1, 'the command to start');
  h.binding.push(encodeEvent({ reason: reasonCode('NO_SOCKET'), saddr: '10.0.0.1', daddr: '10.0.0.2', l4Proto: 'udp', sport: 40000, dport: 53 }));
  assert.equal(await done, 0, 'dropwhy ended the command as asked: the run is done, exit 0');
  assert.deepEqual(command.signals, ['SIGTERM']);
  assert.equal(command.closes, 1);
  assert.equal(h.err.at(-1), 'dropwhy: ping was killed by SIGTERM: dropwhy ended it at --count');
});

test('--duration with -- CMD: the command gets SIGTERM when it is over, and dropwhy exits 0 as for any --duration', TIMEOUT, async () => {
  const command = new FakeCommand();
  const h = cliHarness({ command });
  assert.equal(await run(['--duration', '0.2', '--', 'sleep', '30'], h.io), 0);
  assert.deepEqual(command.signals, ['SIGTERM']);
  assert.equal(h.err.at(-1), 'dropwhy: sleep was killed by SIGTERM: dropwhy ended it at --duration');
});

test('a command killed by a signal of its own reads "killed by", and its status is the shell\'s 128+N', TIMEOUT, async () => {
  const command = new FakeCommand();
  const h = cliHarness({ command });
  const { done } = await runUntilOpened(['--', 'sleep', '30'], h);
  await waitFor(() => command.starts === 1, 'the command to start');
  h.signals.emit('SIGTERM');
  assert.equal(await done, 143);
  assert.equal(h.err.at(-1), 'dropwhy: sleep was killed by SIGTERM');
});

test('a command that cannot be found: the shell\'s "command not found" under dropwhy\'s name, exit 127, before anything is loaded', TIMEOUT, async () => {
  const h = cliHarness();
  h.io.traceCommand = (argv) => cgroupCommand(argv, null, null, '/nonexistent:/also-not');
  assert.equal(await runNoTrace(['--', 'nosuchcmd'], h), 127);
  assert.deepEqual(h.err, ['dropwhy: nosuchcmd: command not found']);
  assert.equal(h.binding.opened.length, 0);
});

test('findProgram: looked up in PATH as exec does; a path as it is; found but not executable is 126', () => {
  const dir = mkdtempSync(join(tmpdir(), 'dropwhy-path-'));
  try {
    writeFileSync(join(dir, 'tool'), '#!/bin/sh\n', { mode: 0o755 });
    writeFileSync(join(dir, 'data'), '', { mode: 0o644 });
    assert.equal(findProgram('tool', `/nonexistent:${dir}`), `${dir}/tool`);
    assert.equal(findProgram(`${dir}/tool`, ''), `${dir}/tool`);
    const refused = (name: string, path: string) => {
      try {
        findProgram(name, path);
      } catch (error) {
        assert.ok(error instanceof CommandNotFoundError);
        return [error.message, error.status];
      }
      return assert.fail(`${name} was found`);
    };
    assert.deepEqual(refused('nosuchcmd', dir), ['nosuchcmd: command not found', 127]);
    assert.deepEqual(refused('data', dir), ['data: permission denied', 126]);
    assert.deepEqual(refused('./nosuch', dir), ['./nosuch: no such file or directory', 127]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a signal before the tracer is attached ends the run without starting the command', TIMEOUT, async () => {
  const command = new FakeCommand();
  const h = cliHarness({ command, binding: { onOpen: () => setImmediate(() => h.signals.emit('SIGINT')) } });
  const { done } = await runUntilOpened(['--', 'dig'], h);
  assert.equal(await done, 0);
  assert.equal(command.starts, 0);
  assert.equal(command.closes, 1, 'the cgroup is removed all the same');
});

test('-- COMMAND where it cannot run (no cgroup2 here) is one line and exit 1', TIMEOUT, async () => {
  const h = cliHarness();
  assert.equal(await runNoTrace(['--', 'dig'], h), 1);
  assert.deepEqual(h.err, ['dropwhy: -- COMMAND needs the cgroup2 filesystem, which is not mounted here']);
});

test('the launch argv joins the cgroup before exec, and becomes the sudo user through setpriv', () => {
  const [file, args] = launchArgv('/cg/dropwhy-1', { uid: 1000, gid: 1001 }, ['dig', '@10.0.0.2']);
  assert.equal(file, '/bin/sh');
  assert.deepEqual(args.slice(2), ['dropwhy', '/cg/dropwhy-1', 'setpriv', '--reuid=1000', '--regid=1001', '--init-groups', '--reset-env', '--', 'dig', '@10.0.0.2']);
  assert.deepEqual(launchArgv('/cg/x', null, ['true'])[1].slice(2), ['dropwhy', '/cg/x', 'true'], 'no user: no setpriv');
});

test('the launch script runs the command with its words intact, after writing its own pid (which the command keeps)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'dropwhy-launch-'));
  try {
    const [file, args] = launchArgv(dir, null, ['sh', '-c', 'echo "$$ $1|$2"', 'x', 'a b', '$HOME']);
    const printed = execFileSync(file, args, { encoding: 'utf8' }).trim();
    const written = execFileSync('cat', [join(dir, 'cgroup.procs')], { encoding: 'utf8' }).trim();
    assert.equal(printed, `${written} a b|$HOME`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('exit statuses are as a shell gives them', () => {
  assert.equal(exitStatus(0, null), 0);
  assert.equal(exitStatus(7, null), 7);
  assert.equal(exitStatus(null, 'SIGKILL'), 137);
  assert.equal(exitStatus(null, 'SIGINT'), 130);
});

test("the invoking user comes from sudo; root and plain runs keep dropwhy's user", () => {
  assert.deepEqual(invokingUser({ SUDO_UID: '1000', SUDO_GID: '1001' }, 0), { uid: 1000, gid: 1001 });
  assert.equal(invokingUser({ SUDO_UID: '0', SUDO_GID: '0' }, 0), null);
  assert.equal(invokingUser({}, 0), null);
  assert.equal(invokingUser({ SUDO_UID: '1000', SUDO_GID: '1000' }, 1000), null, 'not root: nothing to drop');
  assert.throws(() => invokingUser({ SUDO_UID: 'alice', SUDO_GID: '1' }, 0), UsageError);
});

test('stale cgroups of dead dropwhy runs are removed; live ones and others are kept', () => {
  const mount = mkdtempSync(join(tmpdir(), 'dropwhy-cgroups-'));
  try {
    for (const name of ['dropwhy-100', 'dropwhy-200', 'dropwhy-x', 'system.slice']) mkdirSync(join(mount, name));
    mkdirSync(join(mount, 'dropwhy-300', 'busy'), { recursive: true }); // rmdir refuses it, as the kernel refuses a cgroup with processes
    assert.deepEqual(
      removeStaleCgroups(mount, (pid) => pid === 200),
      ['dropwhy-100'],
    );
    assert.deepEqual(readdirSync(mount).sort(), ['dropwhy-200', 'dropwhy-300', 'dropwhy-x', 'system.slice']);
  } finally {
    rmSync(mount, { recursive: true, force: true });
  }
});

test('-w into a directory that does not exist with -- CMD: one line, exit 2, the command never starts and its cgroup is removed', TIMEOUT, async () => {
  const command = new FakeCommand();
  const h = cliHarness({ command });
  assert.equal(await runNoTrace(['-w', '/nonexistent-dir/drops.pcapng', '--', 'dig', '@10.0.0.2'], h), 2);
  assert.deepEqual(h.err.slice(0, 1), ['dropwhy: -w: cannot write /nonexistent-dir/drops.pcapng: no such file or directory (ENOENT)']);
  assert.equal(h.binding.opened.length, 0);
  assert.equal(command.starts, 0);
  assert.equal(command.closes, 1, 'the cgroup is removed');
});
