// The temporary nftables table that marks packets for tracing, and the
// `nft monitor trace` child that reads the trace, both in the traced
// namespace (entered with nsenter when it is not dropwhy's own).
import { execFile, execFileSync, spawn } from 'node:child_process';
import { existsSync, readFileSync, readlinkSync, readdirSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';
import { formatAddress } from '../events/address';
import { PROTOCOLS, type DropFilter } from '../events/filter';

const execFileAsync = promisify(execFile);

export const TABLE_PREFIX = 'dropwhy_trace_';
/** Before every other hook of the family (conntrack's -200, raw's -300). */
const PRIORITY = -350;
const NFT_TIMEOUT_MS = 10_000;
/** How long nft may take to subscribe to the trace group on a loaded machine. */
const SUBSCRIBE_TIMEOUT_MS = 5_000;
/** NFNLGRP_NFTRACE is group 9: bit 8 of /proc/net/netlink's Groups column. */
const NFTRACE_GROUP_BIT = 1 << 8;
const NETLINK_NETFILTER = 12;

export const traceTableName = (pid: number): string => `${TABLE_PREFIX}${pid}`;

/** The match that narrows tracing to the packets the filter can let through; '' for all. */
function filterMatches(filter: DropFilter): string[] {
  const parts: string[] = [];
  if (filter.proto !== undefined) parts.push(`meta l4proto ${PROTOCOLS[filter.proto]}`);
  for (const [direction, prefix] of [
    ['saddr', filter.srcAddr],
    ['daddr', filter.dstAddr],
  ] as const) {
    if (prefix) parts.push(`${prefix.family === 4 ? 'ip' : 'ip6'} ${direction} ${formatAddress(prefix.bytes, prefix.family)}/${prefix.prefixLength}`);
  }
  const base = parts.join(' ');
  if (filter.port === undefined) return [base];
  // th (the transport header) is read only for TCP and UDP: the port filter's protocols.
  const l4 = filter.proto === undefined ? 'meta l4proto { tcp, udp }' : '';
  return ['sport', 'dport'].map((p) => [base, l4, `th ${p} ${filter.port}`].filter(Boolean).join(' '));
}

/** The ruleset that creates the table: `nft -f -` input. */
export function traceRuleset(pid: number, filter: DropFilter): string {
  const rules = filterMatches(filter).map((m) => `    ${m ? `${m} ` : ''}meta nftrace set 1`);
  const chain = (name: string, hook: string) => [`  chain ${name} {`, `    type filter hook ${hook} priority ${PRIORITY}; policy accept;`, ...rules, '  }'];
  return [`table inet ${traceTableName(pid)} {`, ...chain('prerouting', 'prerouting'), ...chain('output', 'output'), '}', ''].join('\n');
}

/** The pids named by dropwhy tables in `nft list tables` output. */
export function traceTablePids(listTables: string): number[] {
  const pattern = new RegExp(`^table inet ${TABLE_PREFIX}(\\d+)$`, 'gm');
  return [...listTables.matchAll(pattern)].map((m) => Number(m[1]));
}

const processAlive = (pid: number) => existsSync(`/proc/${pid}`);

/** Runs nft (and friends) in one network namespace: null is dropwhy's own. */
export class NamespaceCommands {
  constructor(readonly netnsPath: string | null) {}

  private argv(command: string, args: string[]): [string, string[]] {
    return this.netnsPath === null ? [command, args] : ['nsenter', [`--net=${this.netnsPath}`, command, ...args]];
  }

  async nft(args: string[], input?: string): Promise<string> {
    const [file, argv] = this.argv('nft', args);
    return new Promise((resolve, reject) => {
      const child = execFile(file, argv, { timeout: NFT_TIMEOUT_MS }, (error, stdout, stderr) => {
        if (!error) return resolve(stdout);
        const missing = (error as NodeJS.ErrnoException).code === 'ENOENT';
        reject(new Error(missing ? `--nft-trace needs ${file} (install nftables)` : `nft ${args.join(' ')}: ${(stderr || error.message).trim()}`));
      });
      child.stdin?.on('error', () => {}); // nft that exits without reading: the exit status tells
      child.stdin?.end(input);
    });
  }

  /** For the exit handler: nothing asynchronous runs any more. */
  nftSync(args: string[]): void {
    const [file, argv] = this.argv('nft', args);
    execFileSync(file, argv, { stdio: 'ignore', timeout: NFT_TIMEOUT_MS });
  }

  /** Whether iptables-legacy holds rules here: those never show in the nftables trace. */
  async usesIptablesLegacy(): Promise<boolean> {
    for (const save of ['iptables-legacy-save', 'ip6tables-legacy-save']) {
      const [file, argv] = this.argv(save, []);
      try {
        const { stdout } = await execFileAsync(file, argv, { timeout: NFT_TIMEOUT_MS });
        if (/^-A /m.test(stdout)) return true;
      } catch {
        // not installed, or no legacy tables: nothing of it to miss
      }
    }
    return false;
  }

  /** Tables left by dropwhy runs whose process is gone. */
  async staleTables(): Promise<string[]> {
    const pids = traceTablePids(await this.nft(['list', 'tables']));
    return pids.filter((pid) => pid !== process.pid && !processAlive(pid)).map(traceTableName);
  }

  /** staleTables() for doctor, which runs synchronously; null when nft cannot list the tables here. */
  staleTablesSync(): string[] | null {
    const [file, argv] = this.argv('nft', ['list', 'tables']);
    let listing: string;
    try {
      listing = execFileSync(file, argv, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: NFT_TIMEOUT_MS });
    } catch {
      return null;
    }
    return traceTablePids(listing)
      .filter((pid) => pid !== process.pid && !processAlive(pid))
      .map(traceTableName);
  }

  async deleteTable(name: string): Promise<void> {
    await this.nft(['delete', 'table', 'inet', name]);
  }

  /** Starts `nft -a monitor trace` and resolves once it listens to the trace group. */
  async monitor(onLine: (line: string) => void, onExit: (why: string) => void): Promise<TraceMonitor> {
    const [command, args] = this.argv('nft', ['-a', 'monitor', 'trace']);
    // Killed with dropwhy even by SIGKILL: an orphaned monitor would keep the namespace alive.
    const child = spawn('setpriv', ['--pdeathsig', 'KILL', command, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    let stopping = false;
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr = (stderr + chunk).slice(-2000)));
    createInterface({ input: child.stdout! }).on('line', onLine);
    const exited = new Promise<string>((resolve) => {
      child.on('error', (error) => resolve(`cannot run setpriv (util-linux): ${error.message}`));
      child.on('close', (code, signal) => resolve(`nft monitor trace ended (${code ?? signal}) ${stderr.trim()}`.trim()));
    });
    void exited.then((why) => stopping || onExit(why));
    const monitor: TraceMonitor = {
      async stop() {
        stopping = true;
        child.kill('SIGTERM');
        const gone = await Promise.race([exited.then(() => true), sleep(2_000).then(() => false)]);
        if (!gone) child.kill('SIGKILL');
      },
    };
    const deadline = Date.now() + SUBSCRIBE_TIMEOUT_MS;
    for (;;) {
      const early = await Promise.race([exited, sleep(20).then(() => null)]);
      if (early !== null) throw new Error(`--nft-trace: ${early}`);
      if (child.pid !== undefined && subscribedToTrace(child.pid)) return monitor;
      if (Date.now() > deadline) {
        await monitor.stop();
        throw new Error(`--nft-trace: nft monitor trace did not subscribe within ${SUBSCRIBE_TIMEOUT_MS} ms`);
      }
    }
  }
}

export interface TraceMonitor {
  stop(): Promise<void>;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Tables left by killed --nft-trace runs, in dropwhy's namespace and in those
 * under /run/netns; null without nft.
 */
export function findStaleTraceTables(): StaleTable[] | null {
  const own = new NamespaceCommands(null).staleTablesSync();
  if (own === null) return null;
  let named: string[] = [];
  try {
    named = readdirSync('/run/netns');
  } catch {
    // no named namespaces
  }
  const elsewhere = named.flatMap((netns) => (new NamespaceCommands(`/run/netns/${netns}`).staleTablesSync() ?? []).map((table) => ({ table, netns })));
  return [...own.map((table) => ({ table, netns: null })), ...elsewhere];
}

/** A table a killed --nft-trace run left: its name, and the named namespace it is in (null: dropwhy's own). */
export interface StaleTable {
  table: string;
  netns: string | null;
}

/** Whether one of pid's netlink sockets has joined NFNLGRP_NFTRACE (read from its namespace's /proc/net/netlink). */
export function subscribedToTrace(pid: number): boolean {
  let inodes: Set<string>;
  let table: string;
  try {
    inodes = new Set(
      readdirSync(`/proc/${pid}/fd`)
        .map((fd) => /^socket:\[(\d+)\]$/.exec(readlinkOrEmpty(`/proc/${pid}/fd/${fd}`))?.[1])
        .filter((inode): inode is string => inode !== undefined),
    );
    table = readFileSync(`/proc/${pid}/net/netlink`, 'utf8');
  } catch {
    return false; // not started yet, or gone
  }
  return netlinkTraceSockets(table).some((inode) => inodes.has(inode));
}

/** Inodes of the NETLINK_NETFILTER sockets in /proc/net/netlink text that joined the trace group. */
export function netlinkTraceSockets(table: string): string[] {
  return table
    .split('\n')
    .slice(1)
    .map((line) => line.trim().split(/\s+/))
    .filter((f) => f.length >= 10 && Number(f[1]) === NETLINK_NETFILTER && (parseInt(f[3], 16) & NFTRACE_GROUP_BIT) !== 0)
    .map((f) => f[9]);
}

function readlinkOrEmpty(path: string): string {
  try {
    return readlinkSync(path);
  } catch {
    return '';
  }
}
