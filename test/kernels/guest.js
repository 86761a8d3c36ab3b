'use strict';
// The in-guest test of the kernel matrix (test/kernels/run.sh). Runs inside a
// qemu guest whose root is the host's root over 9p and whose copy of the
// checkout came in the initramfs, so the very same node, addon and dist/ are
// used: the kernel-facing e2e tests (GUEST_E2E below), each file by
// `node --test` with CI=true (nothing skips), one after another.
//
// On the console, for run.sh:
//   DROPWHY-E2E-PLAN: a.test.ts b.test.ts ...
//   DROPWHY-E2E: a.test.ts PASS 41.2s (7 tests)
//   DROPWHY-E2E: b.test.ts FAIL 12.0s: 1 of 3 failed: "test name": first line of the assertion (test/e2e/b.test.ts:40)
// and "PASS" or "FAIL: reason" in $DROPWHY_RESULT_FILE, which /init prints as
// the DROPWHY-KERNEL-RESULT line. Each file's own output (node:test's spec
// reporter) goes to the console too, so the log shows the failing assertion.
const { spawn, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

// The e2e files every guest runs, test/e2e/NAME.test.ts (test/DIR/ with dir): add a name to add a
// file (a listed name without its file fails the kernel); { name, tests } runs
// only the tests whose names match the regular expression `tests`. Chosen by
// what differs between kernels: every section of the BPF program (its load by
// this kernel's verifier, its CO-RE reads) and every path that depends on the
// kernel's facts (no reason before 5.17, no rx_sk before 6.11). What is the same
// on every kernel (user-space logic: options, output formats, the exporter's
// HTTP side, signals) the host's own `npm test` proves. docs/testing.md says
// which file proves which section, and each file's time in a guest.
const GUEST_E2E = [
  // the filters in the kernel, every kind traced over the parsing corpus, two
  // summarised (the others are the host's: the same filter code runs before the
  // count); --filter-reason refused before 5.17
  { name: 'filters', tests: '^every filter kind' },
  // every field of an IPv4 and an IPv6 drop; the netns CO-RE read; NO_SOCKET's
  // value in this kernel's enum, or no reason (and dropwhy's note) before 5.17
  // (not the text output: its layout, and the netns given as a path, are user space)
  { name: 'udp-closed-port', tests: '^UDP to a closed port \\(IPv[46]\\)' },
  // the in-kernel counting map, keyed by this kernel's reasons (none before
  // 5.17) and drop sites, and the counters beside it (not the nft and TCP rows,
  // which the same key gives and netfilter-drop and parsing locate in each
  // kernel, nor the text layout; not --count and --duration, the same everywhere)
  { name: 'summary', tests: '^summary -o json: (5 UDP|SO_RCVBUF)' },
  // nft and iptables-nft drops where this kernel frees them; --filter-port and
  // --filter-reason in the kernel (a usage error before 5.17)
  'netfilter-drop',
  // doctor's checks from this kernel's BTF and kallsyms; selftest on it (not
  // the same checks as text; not the unprivileged cases: capabilities work
  // alike from 5.8 on)
  { name: 'doctor-selftest', tests: '^(doctor -o json|selftest) \\(root\\)' },
  // explain --list against this kernel's enum skb_drop_reason
  'explain',
  // the header parser on hand-built packets: CO-RE reads of the skb's head,
  // network header and tail, IPv6 extension headers, this kernel's verifier
  'parsing',
  // filter expressions: libpcap's classic BPF in the program's interpreter, as
  // this kernel's verifier takes it (the expressions whose programs hold every
  // kind of instruction; the host runs them all), and its verdicts on the corpus
  // (not 'udp port 53' against the flags: two proven filters, compared)
  { name: 'expression', tests: '^a few dozen expressions' },
  // the socket that dropped it: rx_sk where the tracepoint has it, else
  // skb->sk; this kernel's socket, cgroup and drop-counter fields
  'socket',
  // -- CMD: a cgroup_skb egress program recording the command's flows, and
  // the socket's cgroup id as a filter in this kernel's layout of it (not
  // through sudo: the same program, setpriv's part is user space)
  { name: 'command', tests: '^-- CMD: ' },
  // --stack: this kernel's bpf_get_stackid from tp_btf, its stack map, and the
  // call path it gives a closed-port UDP drop, streamed and counted (not the
  // text layout of the frames)
  { name: 'stack', tests: '^(trace --stack:|summary --stack)' },
  // -w: the packet bytes copied into a ring reservation from this kernel's
  // skb head and header offsets, as its verifier takes the bounded read (not
  // -w -, the same file on stdout)
  { name: 'pcapng', tests: '^-w FILE' },
  // the ring buffer's lost path and the full per-CPU count map's overflow
  { name: 'loss', tests: '-o json' },
  // the count map keyed by namespace, as the exporter's labels (not the real
  // Prometheus server scraping them: the same /metrics)
  { name: 'exporter', tests: '^exporter: exact counts' },
  // the ledger's findings behind host-wide settings (a softnet backlog at
  // netdev_max_backlog, a full conntrack table at nf_conntrack_max): changed
  // only in a guest, so the file is in test/guest-only/, not in npm test
  { name: 'ledger-host-wide', dir: 'guest-only' },
];

const REPO = path.resolve(__dirname, '..', '..');
const BIN = path.join(REPO, 'bin', 'dropwhy.js');
const REPORTER = path.join(__dirname, 'e2e-reporter.js');
const RESULT_FILE = process.env.DROPWHY_RESULT_FILE || '/tmp/dropwhy-kernel-result';
/**
 * How much longer than on a host the tests' bounds on waits are (DROPWHY_E2E_TIMEOUT_SCALE): under TCG
 * a process starts 10-20 times slower than on the host, a busy host slows it again, and the bounds only
 * bound failures (a test waits for what it waits for, and is done when it comes).
 */
const TIMEOUT_SCALE = 5;
/** A file that runs longer is killed (its tests have their own timeouts, most of them shorter). */
const FILE_TIMEOUT_MS = 900_000;
const START = Date.now();

const log = (message) => console.log(`guest +${((Date.now() - START) / 1000).toFixed(1)}s: ${message}`);
const indent = (text) => text.replace(/\n$/, '').replace(/^/gm, '  | ');
const seconds = (ms) => `${(ms / 1000).toFixed(1)}s`;

/** The guest's CPU time so far, busy and in all, from /proc/stat (in USER_HZ ticks, summed over its CPUs). */
function cpuTicks() {
  const fields = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1, 9).map(Number);
  const total = fields.reduce((sum, n) => sum + n, 0);
  return { busy: total - fields[3] - fields[4], total }; // idle and iowait are not busy
}

/** The files to run, [{ name, tests, dir }]: GUEST_E2E, or every test of the files named in $DROPWHY_GUEST_E2E (DIR/NAME outside test/e2e/). */
function plan() {
  const names = (process.env.DROPWHY_GUEST_E2E || '').split(/[\s,]+/).filter(Boolean);
  const entries = names.length > 0 ? names : GUEST_E2E;
  return entries.map((entry) => {
    if (typeof entry !== 'string') return entry;
    const [dir, name] = entry.includes('/') ? entry.split('/', 2) : ['e2e', entry];
    return { name: name.replace(/\.test\.[jt]s$/, ''), dir };
  });
}

/** Tools the e2e tests run; a guest without one would fail every test with a less clear error. */
function missingTools() {
  return ['ip', 'nft', 'iptables', 'setpriv', 'python3'].filter((tool) => spawnSync('sh', ['-c', `command -v ${tool}`], { encoding: 'utf8' }).status !== 0);
}

/** Runs one e2e file (only its tests matching `tests`, when given); resolves to { file, ok, ms, tests, detail }. */
function runFile({ name, tests, dir = 'e2e' }) {
  const source = path.join(REPO, 'test', dir, `${name}.test.ts`);
  const built = path.join(REPO, 'dist', 'test', dir, `${name}.test.js`);
  const file = `${name}.test.ts`;
  if (!fs.existsSync(source)) {
    const where = process.env.DROPWHY_GUEST_E2E ? 'DROPWHY_GUEST_E2E' : 'GUEST_E2E in test/kernels/guest.js';
    return Promise.resolve({ file, ok: false, ms: 0, tests: 0, detail: `listed in ${where}, but test/${dir}/${file} does not exist` });
  }
  if (!fs.existsSync(built)) {
    return Promise.resolve({ file, ok: false, ms: 0, tests: 0, detail: `dist/test/${dir}/${name}.test.js is missing: run npm run build` });
  }
  const records = path.join(os.tmpdir(), `dropwhy-e2e-${name}.jsonl`);
  fs.rmSync(records, { force: true });
  const args = [
    // Source maps for the tests' own stacks; not for the dropwhy processes they start (not in
    // NODE_OPTIONS): reading the maps cost each of them a sixth of its start under TCG.
    '--enable-source-maps',
    '--test',
    '--test-concurrency=1',
    ...(tests ? [`--test-name-pattern=${tests}`] : []),
    '--test-reporter=spec',
    '--test-reporter-destination=stdout',
    `--test-reporter=${REPORTER}`,
    `--test-reporter-destination=${records}`,
    built,
  ];
  const started = Date.now();
  const cpuBefore = cpuTicks();
  log(`node --test ${path.relative(REPO, built)}${tests ? ` (the tests matching /${tests}/)` : ''}`);
  return new Promise((resolve) => {
    const child = spawn(process.execPath, args, {
      cwd: REPO,
      stdio: ['ignore', 'inherit', 'inherit'],
      // DROPWHY_E2E_GUEST: the tests run what can differ between kernels (test/e2e/harness.ts).
      env: {
        ...process.env,
        CI: 'true',
        DROPWHY_E2E_GUEST: '1',
        DROPWHY_E2E_TIMEOUT_SCALE: String(TIMEOUT_SCALE),
      },
    });
    let killed = false;
    const timer = setTimeout(() => {
      killed = true;
      child.kill('SIGKILL');
    }, FILE_TIMEOUT_MS);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const ms = Date.now() - started;
      const cpuAfter = cpuTicks();
      // How busy the guest's CPUs were: near 100% a file is bound by the emulated CPU, lower by waits.
      const cpu = Math.round((100 * (cpuAfter.busy - cpuBefore.busy)) / Math.max(1, cpuAfter.total - cpuBefore.total));
      const results = (fs.existsSync(records) ? fs.readFileSync(records, 'utf8').split('\n').filter(Boolean) : [])
        .map((line) => JSON.parse(line))
        .filter((r) => !r.unselected);
      const failed = results.filter((r) => !r.ok || r.skip);
      const ok = code === 0 && !killed && results.length > 0 && failed.length === 0;
      let detail = '';
      if (failed.length > 0) {
        const first = failed[0];
        const why = first.ok ? `skipped (${first.skip})` : `${first.message}${first.at ? ` (${first.at})` : ''}`;
        detail = `${failed.length} of ${results.length} failed: "${first.name}": ${why}`;
      } else if (killed) {
        detail = `killed after ${seconds(FILE_TIMEOUT_MS)}`;
      } else if (!ok) {
        detail = results.length === 0 ? `no test ran (node --test exited ${code ?? signal})` : `node --test exited ${code ?? signal}`;
      }
      resolve({ file, ok, ms, cpu, tests: results.length, detail });
    });
  });
}

/** The libbpf/verifier lines of a --log-level debug run: why the BPF program did not load. */
function loadFailureDetails() {
  log('dropwhy did not attach: running it with --log-level debug for the libbpf/verifier log');
  const run = spawnSync(process.execPath, [BIN, '-o', 'json', '--count', '1', '--duration', '5', '--log-level', 'debug'], {
    cwd: REPO,
    encoding: 'utf8',
    timeout: 120_000,
  });
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
    const lines = msg
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l && !/^processed \d+ insns/.test(l));
    const end = lines.findIndex((l) => l.includes('-- END PROG LOAD LOG --'));
    const last = (end >= 0 ? lines.slice(0, end) : lines).pop();
    details.push(`verifier: ${last}${end >= 0 ? '' : ' (log cut short here)'}`);
  }
  const failures = messages.filter((m) => !m.includes('\n') && /fail|error|invalid|not supported|unknown func|doesn't have|unsupported|-E[A-Z]+|errno/i.test(m));
  details.push(...failures.slice(-4).map((m) => m.trim()));
  return details.join(' | ');
}

async function main() {
  log(`kernel ${os.release()} (${os.cpus().length} CPUs, ${Math.round(os.totalmem() / 2 ** 20)} MiB)`);
  const missing = missingTools();
  if (missing.length > 0) return `FAIL: the guest lacks ${missing.join(', ')} (PATH=${process.env.PATH})`;
  const ip = spawnSync('ip', ['link', 'set', 'lo', 'up'], { encoding: 'utf8' });
  if (ip.status !== 0) return `FAIL: ip link set lo up failed: ${(ip.stderr || ip.error || '').toString().trim()}`;

  const names = plan();
  console.log(`DROPWHY-E2E-PLAN: ${names.map((n) => `${n.name}.test.ts`).join(' ')}`);
  const results = [];
  for (const entry of names) {
    const r = await runFile(entry);
    results.push(r);
    console.log(`DROPWHY-E2E: ${r.file} ${r.ok ? 'PASS' : 'FAIL'} ${seconds(r.ms)}${r.ok ? ` (${r.tests} tests, CPU ${r.cpu}%)` : `: ${r.detail}`}`);
  }
  const failed = results.filter((r) => !r.ok);
  if (failed.length === 0) return 'PASS';
  let result = `FAIL: ${failed.length} of ${results.length} e2e files failed: ${failed.map((r) => r.file).join(', ')}`;
  if (failed.some((r) => /before becoming ready|did not write its ready file/.test(r.detail))) {
    const details = loadFailureDetails();
    if (details) result += ` [debug: ${details}]`;
  }
  return result;
}

function finish(result) {
  fs.writeFileSync(RESULT_FILE, `${result.replace(/\s*\n\s*/g, ' ')}\n`);
  log(`result: ${result}`);
}

main().then(finish, (err) => {
  finish(`FAIL: guest test crashed: ${err.stack || err}`);
  process.exitCode = 1;
});
