// Throwaway network namespace pairs joined by a veth pair, for selftest,
// the benchmarks and the end-to-end tests. Addresses live only inside them:
// 198.18.N.0/24 (RFC 2544 benchmarking range) and fd00:dd:N::/64.
import { execFile } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface NetnsPair {
  nsA: string;
  nsB: string;
  ifA: string;
  ifB: string;
  v4A: string;
  v4B: string;
  v6A: string;
  v6B: string;
}

export async function ip(args: string[]): Promise<string> {
  const { stdout } = await run('ip', args, { timeout: 10_000 });
  return stdout;
}

/** Runs a program inside a namespace and returns its stdout; rejects with its stderr on failure. */
export async function inNetns(ns: string, command: string, args: string[], timeoutMs = 30_000): Promise<string> {
  try {
    const { stdout } = await run('ip', ['netns', 'exec', ns, command, ...args], { timeout: timeoutMs, maxBuffer: 64 << 20 });
    return stdout;
  } catch (error) {
    const { stderr, message } = error as { stderr?: string; message: string };
    throw new Error(`${command} in ${ns} failed: ${(stderr || message).trim()}`);
  }
}

/** Creates namespaces <prefix>-a and <prefix>-b joined by veth, addressed in subnet n (1-254). */
export async function createNetnsPair(prefix: string, n: number): Promise<NetnsPair> {
  const pair: NetnsPair = {
    nsA: `${prefix}-a`,
    nsB: `${prefix}-b`,
    ifA: `${prefix.slice(-10)}a`.replace(/[^A-Za-z0-9]/g, ''),
    ifB: `${prefix.slice(-10)}b`.replace(/[^A-Za-z0-9]/g, ''),
    v4A: `198.18.${n}.1`,
    v4B: `198.18.${n}.2`,
    v6A: `fd00:dd:${n.toString(16)}::1`,
    v6B: `fd00:dd:${n.toString(16)}::2`,
  };
  try {
    await ip(['netns', 'add', pair.nsA]);
    await ip(['netns', 'add', pair.nsB]);
    await ip(['link', 'add', pair.ifA, 'netns', pair.nsA, 'type', 'veth', 'peer', 'name', pair.ifB, 'netns', pair.nsB]);
    for (const [ns, dev, v4, v6] of [
      [pair.nsA, pair.ifA, pair.v4A, pair.v6A],
      [pair.nsB, pair.ifB, pair.v4B, pair.v6B],
    ]) {
      await ip(['-n', ns, 'addr', 'add', `${v4}/24`, 'dev', dev]);
      await ip(['-n', ns, 'addr', 'add', `${v6}/64`, 'dev', dev, 'nodad']);
      await ip(['-n', ns, 'link', 'set', 'lo', 'up']);
      await ip(['-n', ns, 'link', 'set', dev, 'up']);
    }
    return pair;
  } catch (error) {
    await deleteNetnsPair(pair);
    throw error;
  }
}

export async function deleteNetnsPair(pair: Pick<NetnsPair, 'nsA' | 'nsB'>): Promise<void> {
  for (const ns of [pair.nsA, pair.nsB]) await ip(['netns', 'del', ns]).catch(() => {});
}

/** Runs fn with a fresh pair and removes the pair afterwards, also when fn fails. */
export async function withNetnsPair<T>(prefix: string, n: number, fn: (pair: NetnsPair) => Promise<T>): Promise<T> {
  const pair = await createNetnsPair(prefix, n);
  try {
    return await fn(pair);
  } finally {
    await deleteNetnsPair(pair);
  }
}

/** Names of existing namespaces that start with prefix (to clean up after a killed run). */
export function namespacesWithPrefix(prefix: string): string[] {
  try {
    return readdirSync('/run/netns').filter((name) => name.startsWith(prefix));
  } catch {
    return [];
  }
}
