'use strict';
// The in-guest test of the kernel matrix (test/kernels/run.sh). Runs inside a
// qemu guest whose root is the host's root over 9p, so the very same node,
// addon and dist/ are used. Writes "PASS" or "FAIL: reason" to
// $DROPWHY_RESULT_FILE; /init prints it as the DROPWHY-KERNEL-RESULT line.
//
// 1. dropwhy -o json --filter-proto udp --filter-port 9 --count 3 attaches;
// 2. three UDP datagrams to 127.0.0.1:9 (nothing listens) are dropped;
// 3. dropwhy exits 0 with exactly three objects: udp, dport 9; on kernels with
//    drop reasons (5.17+) reason NO_SOCKET with this kernel's own enum value
//    and location __udp4_lib_rcv+0x...; before 5.17 reason null and the
//    one-time note on stderr;
// 4. `dropwhy explain --list` lists every name of this kernel's enum
//    skb_drop_reason except the MAX and SUBSYS_MASK markers (5.17+).
const { spawn, spawnSync } = require('node:child_process');
const dgram = require('node:dgram');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const REPO = path.resolve(__dirname, '..', '..');
const BIN = path.join(REPO, 'bin', 'dropwhy.js');
const ADDON = path.join(REPO, 'build', 'native', 'Release', 'dropwhy.node');
const RESULT_FILE = process.env.DROPWHY_RESULT_FILE || '/tmp/dropwhy-kernel-result';
const READY = '/tmp/dropwhy-ready';
const PORT = 9;
const DROPS = 3;
const START = Date.now();

class Failure extends Error {}
const fail = (message) => {
  throw new Failure(message);
};
const log = (message) => console.log(`guest +${((Date.now() - START) / 1000).toFixed(1)}s: ${message}`);
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
/** dropwhy's own error: its last "dropwhy: ..." line on stderr (else the last plain line). */
const errorLine = (text) => {
  const plain = text.split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('{'));
  return [...plain].reverse().find((l) => l.startsWith('dropwhy:')) || plain.pop() || '';
};
const indent = (text) => text.replace(/\n$/, '').replace(/^/gm, '  | ');

function kernelVersion() {
  const m = /^(\d+)\.(\d+)/.exec(os.release());
  if (!m) fail(`cannot parse the kernel release ${os.release()}`);
  return [Number(m[1]), Number(m[2])];
}

/** Runs dropwhy with args until it exits (or timeoutMs), collecting its output. */
function startDropwhy(args, timeoutMs) {
  const child = spawn(process.execPath, [BIN, ...args], { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] });
  const run = { child, stdout: '', stderr: '', code: null, signal: null, exited: false };
  child.stdout.on('data', (d) => (run.stdout += d));
  child.stderr.on('data', (d) => (run.stderr += d));
  run.done = new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      Object.assign(run, { code, signal, exited: true });
      resolve(run);
    });
  });
  return run;
}

async function waitForReady(run, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (fs.existsSync(READY)) return true;
    if (run.exited) return false;
    await sleep(50);
  }
  return false;
}

function sendDrops() {
  const socket = dgram.createSocket('udp4');
  const sendOne = (i) =>
    new Promise((resolve, reject) =>
      socket.send(Buffer.from(`dropwhy kernel matrix ${i}`), PORT, '127.0.0.1', (err) => (err ? reject(err) : resolve())),
    );
  return (async () => {
    for (let i = 0; i < DROPS; i++) {
      await sendOne(i);
      await sleep(20);
    }
    socket.close();
  })();
}

/** The libbpf/verifier lines of a --log-level debug run: why the program did not load. */
function loadFailureDetails() {
  log('load failed: running it again with --log-level debug for the libbpf/verifier log');
  const run = spawnSync(
    process.execPath,
    [BIN, '-o', 'json', '--filter-proto', 'udp', '--filter-port', String(PORT), '--count', '1', '--duration', '5', '--log-level', 'debug'],
    { cwd: REPO, encoding: 'utf8', timeout: 120_000 },
  );
  console.log(`dropwhy --log-level debug (exit ${run.status}) stderr:\n${indent(run.stderr || '')}`);
  // pino NDJSON (libbpf's lines have source "libbpf") or plain text.
  const messages = (run.stderr || '').split('\n').map((line) => {
    try {
      return String(JSON.parse(line).msg ?? '');
    } catch {
      return line;
    }
  });
  const details = [];
  // The verifier says why at the end of its log (libbpf prints it as one
  // message between BEGIN/END PROG LOAD LOG markers).
  for (const msg of messages.filter((m) => m.includes('-- BEGIN PROG LOAD LOG --'))) {
    const log = msg.split('\n').map((l) => l.trim()).filter((l) => l && !/^processed \d+ insns/.test(l));
    const end = log.findIndex((l) => l.includes('-- END PROG LOAD LOG --'));
    const last = (end >= 0 ? log.slice(0, end) : log).pop();
    details.push(`verifier: ${last}${end >= 0 ? '' : ' (log cut short here)'}`);
  }
  const failures = messages.filter((m) => !m.includes('\n') &&
    /fail|error|invalid|not supported|unknown func|doesn't have|unsupported|-E[A-Z]+|errno/i.test(m));
  details.push(...failures.slice(-4).map((m) => m.trim()));
  return details.join(' | ');
}

async function main() {
  const [major, minor] = kernelVersion();
  const hasReasons = major > 5 || (major === 5 && minor >= 17);
  log(`kernel ${os.release()} (${os.cpus().length} CPUs); drop reasons expected: ${hasReasons ? 'yes' : 'no'}`);

  const ip = spawnSync('ip', ['link', 'set', 'lo', 'up'], { encoding: 'utf8' });
  if (ip.status !== 0) fail(`ip link set lo up failed: ${(ip.stderr || ip.error || '').toString().trim()}`);

  // This kernel's own enum skb_drop_reason, read from its BTF.
  let binding;
  try {
    binding = require(ADDON);
  } catch (err) {
    fail(`cannot load the addon ${ADDON}: ${err.message}`);
  }
  const reasonEnum = binding.btfMembers('enum', 'skb_drop_reason');
  if (hasReasons && !reasonEnum) fail('no enum skb_drop_reason in /sys/kernel/btf/vmlinux on a 5.17+ kernel');
  const noSocket = reasonEnum && reasonEnum.find(([name]) => name === 'SKB_DROP_REASON_NO_SOCKET');
  if (hasReasons && !noSocket) fail('enum skb_drop_reason has no SKB_DROP_REASON_NO_SOCKET');
  if (reasonEnum) log(`enum skb_drop_reason: ${reasonEnum.length} names, NO_SOCKET = ${noSocket && noSocket[1]}`);

  // 1. Load and attach.
  fs.rmSync(READY, { force: true });
  const args = ['-o', 'json', '--filter-proto', 'udp', '--filter-port', String(PORT), '--ready-file', READY,
    '--count', String(DROPS), '--duration', '30'];
  log(`dropwhy ${args.join(' ')}`);
  const run = startDropwhy(args, 90_000);
  if (!(await waitForReady(run, 60_000))) {
    if (!run.exited) {
      run.child.kill('SIGKILL');
      await run.done;
      fail(`dropwhy did not attach within 60 s; stderr: ${errorLine(run.stderr) || '(empty)'}`);
    }
    await run.done;
    console.log(`dropwhy exited ${run.code} before attaching; stderr:\n${indent(run.stderr)}`);
    const details = loadFailureDetails();
    fail(`dropwhy exited ${run.code} before attaching: ${errorLine(run.stderr) || '(no stderr)'}` +
      (details ? ` [debug: ${details}]` : ''));
  }
  log('attached');

  // 2. Three drops: UDP to a closed port on loopback.
  await sendDrops();
  log(`sent ${DROPS} datagrams to 127.0.0.1:${PORT}`);

  // 3. Check.
  await run.done;
  log(`dropwhy exited ${run.code}${run.signal ? ` (${run.signal})` : ''}`);
  console.log(`stdout:\n${indent(run.stdout)}\nstderr:\n${indent(run.stderr)}`);
  if (run.code !== 0) fail(`dropwhy exited ${run.code ?? run.signal}: ${errorLine(run.stderr) || '(no stderr)'}`);
  const lines = run.stdout.split('\n').filter((l) => l.trim());
  const events = lines.map((line, i) => {
    try {
      return JSON.parse(line);
    } catch {
      return fail(`stdout line ${i + 1} is not JSON: ${line.slice(0, 120)}`);
    }
  });
  if (events.length !== DROPS) fail(`expected ${DROPS} JSON objects, got ${events.length}`);
  events.forEach((ev, i) => {
    const where = `object ${i + 1}`;
    if (ev.proto !== 'udp') fail(`${where}: proto ${JSON.stringify(ev.proto)}, expected "udp"`);
    if (ev.dport !== PORT) fail(`${where}: dport ${JSON.stringify(ev.dport)}, expected ${PORT}`);
    if (hasReasons) {
      if (ev.reason !== 'NO_SOCKET') fail(`${where}: reason ${JSON.stringify(ev.reason)}, expected "NO_SOCKET"`);
      if (ev.reason_code !== noSocket[1]) {
        fail(`${where}: reason_code ${ev.reason_code}, expected ${noSocket[1]} (SKB_DROP_REASON_NO_SOCKET on this kernel)`);
      }
      // docs/json-schema.md: "CORE for the core reasons", also where the
      // kernel has no enum skb_drop_reason_subsys (6.1 has none).
      if (ev.subsystem !== 'CORE') fail(`${where}: subsystem ${JSON.stringify(ev.subsystem)}, expected "CORE"`);
      if (typeof ev.location !== 'string' || !ev.location.startsWith('__udp4_lib_rcv+0x')) {
        fail(`${where}: location ${JSON.stringify(ev.location)}, expected __udp4_lib_rcv+0x...`);
      }
    } else if (ev.reason !== null) {
      fail(`${where}: reason ${JSON.stringify(ev.reason)} on a kernel without drop reasons, expected null`);
    }
  });
  if (!hasReasons) {
    const notes = run.stderr.split('\n').filter((l) => l.includes('reports no drop reason')).length;
    if (notes !== 1) fail(`stderr has ${notes} lines with the note "... reports no drop reason ...", expected exactly 1`);
  }
  log(`${DROPS} drops decoded: ${events.map((ev) => `${ev.reason}@${ev.location}`).join(', ')}`);

  // 4. explain --list against this kernel's enum.
  const list = spawnSync(process.execPath, [BIN, 'explain', '--list'], { cwd: REPO, encoding: 'utf8', timeout: 60_000 });
  if (list.status !== 0) fail(`dropwhy explain --list exited ${list.status}: ${errorLine(list.stderr || '')}`);
  const listed = list.stdout.split('\n').filter((l) => l.length > 0).length;
  if (hasReasons) {
    const names = reasonEnum.filter(([name]) => !/^SKB_DROP_REASON_(MAX|SUBSYS_MASK)$/.test(name)).length;
    if (listed !== names) fail(`explain --list printed ${listed} lines; this kernel's enum has ${names} names (without MAX, SUBSYS_MASK)`);
    log(`explain --list: ${listed} lines = ${names} enum names`);
  } else {
    log(`explain --list: ${listed} lines (no enum on this kernel)`);
  }
}

function finish(result) {
  fs.writeFileSync(RESULT_FILE, `${result.replace(/\s*\n\s*/g, ' ')}\n`);
  log(`result: ${result}`);
}

main().then(
  () => finish('PASS'),
  (err) => {
    finish(err instanceof Failure ? `FAIL: ${err.message}` : `FAIL: guest test crashed: ${err.stack || err}`);
    process.exitCode = 1;
  },
);
