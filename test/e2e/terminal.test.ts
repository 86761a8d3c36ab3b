// dropwhy on a real terminal: tmux, 80 columns by 40 rows, on a server of the test's own. A trace of
// real IPv4 and IPv6 drops with sockets (a full receive queue) and without (a closed port) prints no
// line wider than the terminal, under its header, each address whole; the live summary, drawn on the
// alternate screen, leaves none of its frames in the scrollback, only the totals.
import { execFileSync } from 'node:child_process';
import { test, type TestContext } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { CLI_PATH, kernelFacts, rcvbufFlood, requireRealKernel, run, scaled, sendUdp, sleep, withNetnsPair } from './harness';

const WIDTH = 80;
const HEIGHT = 40;
const RECEIVER = 'dw-receiver';
const RCVBUF_PORT = 5570;
const CLOSED_PORT = 5571;
/** Datagrams per flood: enough to overflow the smallest receive queue, few enough for quick lines. */
const FLOOD = 60;

interface Terminal {
  /** Waits until the command in the pane has exited; its exit status. */
  exited(): Promise<number>;
  /** Types these keys (tmux names: C-c). */
  keys(...keys: string[]): Promise<void>;
  /** Every line the pane shows and its scrollback holds, wrapped lines joined back into one. */
  lines(): Promise<string[]>;
}

const quote = (word: string) => `'${word.replace(/'/g, `'\\''`)}'`;

/** Runs argv (dropwhy's) in a detached tmux pane WIDTH × HEIGHT on a server of this test's own, killed afterwards. */
async function withTerminal<T>(argv: string[], fn: (terminal: Terminal) => Promise<T>): Promise<T> {
  const server = `dropwhy-e2e-${process.pid}`;
  const tmux = async (...args: string[]) => (await run('tmux', ['-L', server, '-f', '/dev/null', ...args])).stdout;
  // The shell writes dropwhy's exit status to a file: tmux 3.3 may leave a pane's process unreaped, its status unknown.
  const statusFile = path.join(os.tmpdir(), `dropwhy-e2e-terminal-${process.pid}.status`);
  fs.rmSync(statusFile, { force: true });
  const command = `${[process.execPath, CLI_PATH, ...argv].map(quote).join(' ')}; echo $? > ${quote(statusFile)}`;
  // The pane stays after the command exits, for its text; a long history keeps every line.
  await tmux(
    'start-server',
    ';',
    'set-option',
    '-g',
    'history-limit',
    '50000',
    ';',
    'set-option',
    '-g',
    'remain-on-exit',
    'on',
    ';',
    'new-session',
    '-d',
    '-x',
    String(WIDTH),
    '-y',
    String(HEIGHT),
    command,
  );
  try {
    return await fn({
      exited: async () => {
        const deadline = Date.now() + scaled(15_000);
        while (!fs.existsSync(statusFile) || fs.readFileSync(statusFile, 'utf8') === '') {
          if (Date.now() > deadline) throw new Error(`dropwhy did not exit; the pane:\n${await tmux('capture-pane', '-p')}`);
          await sleep(100);
        }
        await sleep(100); // the pane has the last of the output
        return Number(fs.readFileSync(statusFile, 'utf8'));
      },
      keys: async (...keys) => void (await tmux('send-keys', ...keys)),
      lines: async () => (await tmux('capture-pane', '-p', '-J', '-S', '-', '-E', '-')).split('\n').map((line) => line.trimEnd()),
    });
  } finally {
    await run('tmux', ['-L', server, 'kill-server'], { allowFail: true });
    fs.rmSync(statusFile, { force: true });
  }
}

/** tmux is there (scripts/setup.sh installs it); else the test says why it is skipped. */
function requireTmux(t: TestContext): boolean {
  try {
    execFileSync('tmux', ['-V'], { stdio: 'ignore' });
    return true;
  } catch {
    t.skip('tmux is not installed (scripts/setup.sh installs it)');
    return false;
  }
}

/** Waits for the ready file dropwhy writes once attached. */
async function attached(file: string, terminal: Terminal): Promise<void> {
  const deadline = Date.now() + scaled(15_000);
  while (!fs.existsSync(file)) {
    if (Date.now() > deadline) throw new Error(`dropwhy did not attach; the pane:\n${(await terminal.lines()).join('\n')}`);
    await sleep(50);
  }
}

test('trace on an 80-column terminal: IPv4 and IPv6 drops with sockets, no line wider than the terminal', { timeout: scaled(60_000) }, async (t) => {
  if (!requireRealKernel(t) || !requireTmux(t)) return;
  const ready = path.join(os.tmpdir(), `dropwhy-e2e-terminal-${process.pid}.ready`);
  await withNetnsPair(async (p) => {
    const argv = ['--filter-netns', p.nsB, '--filter-proto', 'udp', '--ready-file', ready];
    await withTerminal(argv, async (terminal) => {
      await attached(ready, terminal);
      const v4 = await rcvbufFlood(p.nsB, p.v4B, RCVBUF_PORT, FLOOD, p.nsA, { name: RECEIVER });
      // dropwhy looks for the owners of new sockets once a second (kernel/socket-owners.ts): the second receiver's is found after that.
      await sleep(1100);
      const v6 = await rcvbufFlood(p.nsB, p.v6B, RCVBUF_PORT, FLOOD, p.nsA, { name: RECEIVER });
      await sendUdp(p.nsA, p.v4B, CLOSED_PORT, 2);
      await sendUdp(p.nsA, p.v6B, CLOSED_PORT, 2);
      assert.ok(v4.dropped > 0 && v6.dropped > 0, `the floods overflowed: ${JSON.stringify({ v4, v6 })}`);
      await sleep(500);
      await terminal.keys('C-c');
      assert.equal(await terminal.exited(), 0);
      const lines = await terminal.lines();
      const screen = lines.join('\n');
      for (const line of lines) assert.ok(line.length <= WIDTH, `a line of ${line.length} columns:\n${line}\nin:\n${screen}`);
      assert.ok(lines.includes('TIME         REASON           LOCATION                DETAILS'), `the header:\n${screen}`);
      assert.equal(lines.filter((line) => line.startsWith('TIME ')).length, 1, `one header:\n${screen}`);
      // The flows, each address whole; the receiver's socket under the drops at its full queue.
      for (const flow of [`> ${p.v4B}:${RCVBUF_PORT}`, `> ${p.v4B}:${CLOSED_PORT}`, `> [${p.v6B}]:${RCVBUF_PORT}`, `> [${p.v6B}]:${CLOSED_PORT}`]) {
        assert.ok(
          lines.some((line) => line.includes(flow)),
          `${flow}:\n${screen}`,
        );
      }
      const { hasReason, tracepointFields } = kernelFacts();
      if (hasReason)
        for (const reason of ['SOCKET_RCVBUFF', 'NO_SOCKET'])
          assert.ok(
            lines.some((line) => line.includes(` ${reason} `)),
            `${reason}:\n${screen}`,
          );
      if (tracepointFields.includes('rx_sk')) {
        for (const [flood, local] of [
          [v4, `${p.v4B}:${RCVBUF_PORT}`],
          [v6, `[${p.v6B}]:${RCVBUF_PORT}`],
        ] as const) {
          const socket = `    sock ${RECEIVER}[${flood.receiverPid}] ${local} rcvbuf ${flood.rcvbuf} queued `;
          assert.equal(lines.filter((line) => line.startsWith(socket)).length, flood.dropped, `${socket}…:\n${screen}`);
        }
      }
      // A closed port has no socket: the task the drop interrupted is named as such.
      assert.ok(
        lines.some((line) => /\(interrupted \S+\[\d+\]\)$/.test(line)),
        `the interrupted task:\n${screen}`,
      );
      assert.ok(
        lines.some((line) => new RegExp(` if ${p.ifB} len \\d+$`).test(line)),
        `the interface by its name:\n${screen}`,
      );
    });
  });
  fs.rmSync(ready, { force: true });
});

test('summary on an 80-column terminal: the live table leaves nothing in the scrollback, the totals stay', { timeout: scaled(60_000) }, async (t) => {
  if (!requireRealKernel(t) || !requireTmux(t)) return;
  const ready = path.join(os.tmpdir(), `dropwhy-e2e-terminal-summary-${process.pid}.ready`);
  await withNetnsPair(async (p) => {
    const argv = ['summary', '--interval', '0.2', '--filter-netns', p.nsB, '--filter-port', String(CLOSED_PORT), '--ready-file', ready];
    await withTerminal(argv, async (terminal) => {
      await attached(ready, terminal);
      await sendUdp(p.nsA, p.v4B, CLOSED_PORT, 5);
      await sleep(1000); // a few frames of the live table
      await terminal.keys('C-c');
      assert.equal(await terminal.exited(), 0);
      const lines = await terminal.lines();
      const screen = lines.join('\n');
      assert.ok(!lines.some((line) => line.startsWith('dropwhy summary: ') || line.includes('RATE/s')), `a frame of the live table stayed:\n${screen}`);
      assert.ok(
        lines.some((line) => /^=== total over [\d.]+s: 5 drops ===$/.test(line)),
        `the totals:\n${screen}`,
      );
      for (const line of lines) assert.ok(line.length <= WIDTH, `a line of ${line.length} columns:\n${line}\nin:\n${screen}`);
    });
  });
  fs.rmSync(ready, { force: true });
});
