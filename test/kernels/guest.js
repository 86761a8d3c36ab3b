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

// The e2e files every guest runs, test/e2e/NAME.test.ts: add a name to add a
// file (a listed name without its file fails the kernel); { name, tests } runs
// only the tests whose names match the regular expression `tests`. Chosen by
// what differs between kernels, and kept within CI's time: under TCG a dropwhy
// start takes ~2.5 s, a namespace pair ~2 s, so a file takes 5-15x the host's.
// Seconds per file in a guest, per kernel: the table in README.md (Development).
const GUEST_E2E = [
  // CO-RE reads of the IPv4 and IPv6 addresses, the in-kernel prefix filters
  'filters', //                  27 / 34 / 23 / 19, host 4.0
  // every field of an IPv4 and an IPv6 drop; the netns CO-RE read, by name,
  // inode and path; NO_SOCKET's value in this kernel's enum, or no reason
  // (and dropwhy's note) before 5.17
  'udp-closed-port', //          31 / 28 / 27 / 22, host 4.3
  // the in-kernel counting map, keyed by this kernel's reasons (none before
  // 5.17) and drop sites; not --count and --duration, the same everywhere
  // (and --duration 1 wants its drops within a second: TCG is too slow)
  { name: 'summary', tests: '^summary -o' },
  // nft and iptables-nft drops where this kernel frees them; --filter-port and
  // --filter-reason in the kernel (a usage error before 5.17)
  'netfilter-drop', //           25 / 17 / 21 / 20, host 3.3
  // doctor's lines from this kernel's BTF and kallsyms; selftest on it (not the
  // unprivileged cases: capabilities work alike from 5.8 on)
  { name: 'doctor-selftest', tests: '\\(root\\)' },
  // explain --list against this kernel's enum skb_drop_reason
  'explain', //                  7 / 5 / 5 / 5, host 0.8
  // the header parser on hand-built packets: CO-RE reads of the skb's head,
  // network header and tail, IPv6 extension headers, this kernel's verifier
  'parsing',
  // filter expressions: libpcap's classic BPF in the program's interpreter,
  // as this kernel's verifier takes it, and its verdicts on the same corpus
  'expression',
  // the socket that dropped it: rx_sk where the tracepoint has it, else
  // skb->sk; this kernel's socket, cgroup and drop-counter fields
  'socket',
  // -- CMD: a cgroup_skb egress program recording the command's flows, and
  // the socket's cgroup id as a filter in this kernel's layout of it
  'command',
  // --stack: this kernel's bpf_get_stackid from tp_btf, its stack map, and the
  // call path it gives a closed-port UDP drop, streamed and counted
  'stack',
  // -w: the packet bytes copied into a ring reservation from this kernel's
  // skb head and header offsets, as its verifier takes the bounded read
  'pcapng',
  // the ring buffer's lost path and the full per-CPU count map's overflow
  { name: 'loss', tests: '-o json' },
  // the count map keyed by namespace, as the exporter's labels, in its own
  // /metrics and in a Prometheus server scraping it
  'exporter', //                 44 / 41 (5.10 / 6.1)
];

const REPO = path.resolve(__dirname, '..', '..');
const BIN = path.join(REPO, 'bin', 'dropwhy.js');
const REPORTER = path.join(__dirname, 'e2e-reporter.js');
const RESULT_FILE = process.env.DROPWHY_RESULT_FILE || '/tmp/dropwhy-kernel-result';
/** A file that runs longer is killed (its tests have their own, shorter, timeouts). */
const FILE_TIMEOUT_MS = 600_000;
const START = Date.now();

const log = (message) => console.log(`guest +${((Date.now() - START) / 1000).toFixed(1)}s: ${message}`);
const indent = (text) => text.replace(/\n$/, '').replace(/^/gm, '  | ');
const seconds = (ms) => `${(ms / 1000).toFixed(1)}s`;

/** The files to run, [{ name, tests }]: GUEST_E2E, or every test of the files named in $DROPWHY_GUEST_E2E. */
function plan() {
  const names = (process.env.DROPWHY_GUEST_E2E || '').split(/[\s,]+/).filter(Boolean);
  const entries = names.length > 0 ? names : GUEST_E2E;
  return entries.map((entry) => (typeof entry === 'string' ? { name: entry.replace(/\.test\.[jt]s$/, '') } : entry));
}

/** Tools the e2e tests run; a guest without one would fail every test with a less clear error. */
function missingTools() {
  return ['ip', 'nft', 'iptables', 'setpriv', 'python3'].filter((tool) => spawnSync('sh', ['-c', `command -v ${tool}`], { encoding: 'utf8' }).status !== 0);
}

/** Runs one e2e file (only its tests matching `tests`, when given); resolves to { file, ok, ms, tests, detail }. */
function runFile({ name, tests }) {
  const source = path.join(REPO, 'test', 'e2e', `${name}.test.ts`);
  const built = path.join(REPO, 'dist', 'test', 'e2e', `${name}.test.js`);
  const file = `${name}.test.ts`;
  if (!fs.existsSync(source)) {
    const where = process.env.DROPWHY_GUEST_E2E ? 'DROPWHY_GUEST_E2E' : 'GUEST_E2E in test/kernels/guest.js';
    return Promise.resolve({ file, ok: false, ms: 0, tests: 0, detail: `listed in ${where}, but test/e2e/${file} does not exist` });
  }
  if (!fs.existsSync(built)) {
    return Promise.resolve({ file, ok: false, ms: 0, tests: 0, detail: `dist/test/e2e/${name}.test.js is missing: run npm run build` });
  }
  const records = path.join(os.tmpdir(), `dropwhy-e2e-${name}.jsonl`);
  fs.rmSync(records, { force: true });
  const args = [
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
  log(`node --test ${path.relative(REPO, built)}${tests ? ` (the tests matching /${tests}/)` : ''}`);
  return new Promise((resolve) => {
    const child = spawn(process.execPath, args, {
      cwd: REPO,
      stdio: ['ignore', 'inherit', 'inherit'],
      // Commands the tests run are bounded by timeouts sized for a host; under TCG, while a dozen
      // dropwhy processes read /proc/kallsyms at a first drop, a python start alone takes seconds.
      env: { ...process.env, CI: 'true', NODE_OPTIONS: '--enable-source-maps', DROPWHY_E2E_TIMEOUT_SCALE: '3' },
    });
    let killed = false;
    const timer = setTimeout(() => {
      killed = true;
      child.kill('SIGKILL');
    }, FILE_TIMEOUT_MS);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const ms = Date.now() - started;
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
      resolve({ file, ok, ms, tests: results.length, detail });
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
    console.log(`DROPWHY-E2E: ${r.file} ${r.ok ? 'PASS' : 'FAIL'} ${seconds(r.ms)}${r.ok ? ` (${r.tests} tests)` : `: ${r.detail}`}`);
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
