// dropwhy doctor: will dropwhy work on this machine, and if not, what to do.
// diagnose() is pure; gatherFacts() reads the machine.
import { closeSync, existsSync, openSync, readSync } from 'node:fs';
import { constants, release } from 'node:os';
import type { NativeBinding } from '../kernel/binding';
import { AddonError, rebuildCommand } from '../kernel/addon-loader';
import { describe } from '../errors';
import { findStaleTraceTables, type StaleTable } from '../nft/table';
import { hasTracingPrivileges, privilegesFix, readKernelFacts, reportsReason, VMLINUX_BTF, type ProcessFacts } from '../kernel/facts';
import { readSeccompMode, SECCOMP_FIX, SECCOMP_REFUSES_BPF, type SeccompMode } from '../kernel/seccomp';

export interface DoctorFacts {
  kernel: string;
  process: ProcessFacts;
  addon: LoadedAddonFacts | MissingLibraryFacts | FailedAddonFacts;
  /** Arguments of the tracepoint's BTF record; null: no such record; undefined: could not look. */
  tracepointFields?: string[] | null;
  reasonNames?: number;
  /**
   * Whether the kernel created a BPF ring buffer: true; false: it has none (EINVAL, before 5.8); the errno
   * name it refused bpf() with ('EPERM'); null: not probed (no privileges); undefined: no addon to probe with.
   */
  ringbuf?: boolean | string | null;
  /** The process's seccomp mode (/proc/self/status); null: the kernel has no seccomp. */
  seccomp?: SeccompMode | null;
  tracefs: boolean;
  kallsyms: 'symbols' | 'hidden' | 'unreadable';
  /** Tables left by killed --nft-trace runs; null: nft could not list them; undefined: not looked. */
  staleNftTables?: StaleTable[] | null;
}

interface LoadedAddonFacts {
  path: string;
  libbpfVersion: string;
}

/** The addon file is there, a shared library it needs is not. */
interface MissingLibraryFacts {
  path: string;
  library: string;
  error: string;
  fix: string;
}

/** No addon file, or one that does not load for another reason. */
interface FailedAddonFacts {
  error: string;
  fix: string;
}

export interface Check {
  name: string;
  ok: boolean;
  /** dropwhy cannot trace without it. */
  required: boolean;
  detail: string;
  /** What to do when not ok. */
  fix?: string;
}

/** `inet dropwhy_trace_7 (netns blue)` */
function tableName({ table, netns }: StaleTable): string {
  return `inet ${table}${netns === null ? '' : ` (netns ${netns})`}`;
}

/** The command that removes a stale table, in its namespace. */
function deleteTableCommand({ table, netns }: StaleTable): string {
  return `${netns === null ? '' : `ip netns exec ${netns} `}nft delete table inet ${table}`;
}

export function diagnose(facts: DoctorFacts): Check[] {
  const checks: Check[] = [];
  const { process: proc } = facts;
  const privileged = hasTracingPrivileges(proc);
  checks.push({
    name: 'privileges',
    ok: privileged,
    required: true,
    detail: privileged ? (proc.euid === 0 ? 'root' : 'CAP_BPF and CAP_PERFMON') : `${proc.euid === 0 ? 'root' : `uid ${proc.euid}`} without CAP_BPF and CAP_PERFMON`,
    fix: privilegesFix(proc),
  });
  // A seccomp filter matters when it refuses bpf(), which the ring buffer probe finds out.
  const refusedBySeccomp = facts.seccomp === 'filter' && facts.ringbuf === 'EPERM';
  if (facts.seccomp === 'filter' && facts.ringbuf !== undefined && facts.ringbuf !== null) {
    checks.push({
      name: 'seccomp',
      ok: !refusedBySeccomp,
      required: true,
      detail: refusedBySeccomp ? SECCOMP_REFUSES_BPF : 'a seccomp filter is on, and it allows bpf()',
      fix: SECCOMP_FIX,
    });
  }
  checks.push({
    name: 'kernel BTF',
    ok: proc.btfPresent,
    required: true,
    detail: proc.btfPresent ? VMLINUX_BTF : `${VMLINUX_BTF} is missing`,
    fix: 'use a kernel built with CONFIG_DEBUG_INFO_BTF=y (the default of Debian, Ubuntu, RHEL and Fedora kernels)',
  });
  checks.push(...addonChecks(facts.addon));
  if (facts.tracepointFields !== undefined) {
    const fields = facts.tracepointFields;
    const args = fields ? ['skbaddr', 'location', 'reason', 'rx_sk'].filter((f) => fields.includes(f)) : [];
    checks.push({
      name: 'tracepoint',
      ok: fields !== null,
      required: true,
      detail: fields === null ? 'skb:kfree_skb is not in the kernel BTF' : `skb:kfree_skb with ${args.join(', ')}`,
      fix: 'the kernel lacks the skb:kfree_skb tracepoint (CONFIG_TRACEPOINTS) or its BTF record',
    });
    if (fields) {
      const hasReason = reportsReason(fields);
      checks.push({
        name: 'drop reasons',
        ok: hasReason && (facts.reasonNames ?? 0) > 0,
        required: false,
        detail: hasReason ? `${facts.reasonNames} names in enum skb_drop_reason` : 'this kernel reports no drop reason (before 5.17): "reason" will be null',
        fix: 'drop reasons need Linux 5.17 or newer',
      });
    }
  }
  if (facts.ringbuf !== undefined) checks.push(ringbufCheck(facts.ringbuf, refusedBySeccomp, proc));
  checks.push({
    name: 'locations',
    ok: facts.kallsyms === 'symbols',
    required: false,
    detail:
      facts.kallsyms === 'symbols'
        ? '/proc/kallsyms readable: locations print as symbol+0xoff'
        : facts.kallsyms === 'hidden'
          ? '/proc/kallsyms addresses are hidden: locations print as raw addresses'
          : '/proc/kallsyms unreadable: locations print as raw addresses',
    // kernel.kptr_restrict 1 shows addresses to CAP_SYSLOG only: root may lack it (a container).
    fix: proc.euid === 0 ? 'give this root process CAP_SYSLOG, or lower kernel.kptr_restrict' : 'run as root, or lower kernel.kptr_restrict',
  });
  if (facts.staleNftTables) {
    const stale = facts.staleNftTables;
    checks.push({
      name: 'nft trace',
      ok: stale.length === 0,
      required: false,
      detail: stale.length === 0 ? 'no table left by a killed --nft-trace run' : `left by a killed --nft-trace run: ${stale.map(tableName).join(', ')}`,
      fix: `the next dropwhy --nft-trace in that namespace removes it, or: ${stale.map(deleteTableCommand).join('; ')}`,
    });
  }
  checks.push({
    name: 'tracefs',
    ok: true,
    required: false,
    detail: facts.tracefs ? 'mounted (not needed: dropwhy attaches as tp_btf)' : 'not mounted (not needed: dropwhy attaches as tp_btf)',
  });
  return checks;
}

/** The ring buffer probe: a kernel without ring buffers is not one that refused to make one. */
function ringbufCheck(ringbuf: boolean | string | null, refusedBySeccomp: boolean, proc: ProcessFacts): Check {
  const name = 'ring buffer';
  if (ringbuf === true) return { name, ok: true, required: false, detail: 'BPF ring buffers supported' };
  if (ringbuf === false) return { name, ok: false, required: true, detail: 'BPF ring buffers not supported', fix: 'BPF ring buffers need Linux 5.8 or newer' };
  if (ringbuf === null) return { name, ok: false, required: false, detail: 'could not probe (needs the privileges above)', fix: `to probe, ${privilegesFix(proc)}` };
  const detail = `could not probe: bpf() failed with ${ringbuf}`;
  // The seccomp check above is what is missing, with its fix.
  if (refusedBySeccomp) return { name, ok: false, required: false, detail, fix: 'the seccomp filter above refused it' };
  if (ringbuf === 'EPERM') {
    return {
      name,
      ok: false,
      required: true,
      detail: `${detail} although this process holds CAP_BPF and CAP_PERFMON`,
      fix: "capabilities in a user namespace other than the host's do not count for bpf() (Kubernetes: keep hostUsers true), and an LSM (SELinux, AppArmor) may refuse it: see its log",
    };
  }
  return { name, ok: false, required: false, detail, fix: "run dropwhy with --log-level debug: libbpf's log says more" };
}

/** The addon file, then the shared libraries it needs: a missing libbpf is not a missing addon. */
function addonChecks(addon: DoctorFacts['addon']): Check[] {
  if ('libbpfVersion' in addon) {
    return [
      { name: 'native addon', ok: true, required: true, detail: addon.path },
      { name: 'libraries', ok: true, required: true, detail: `libbpf ${addon.libbpfVersion}` },
    ];
  }
  if (!('library' in addon)) return [{ name: 'native addon', ok: false, required: true, detail: addon.error, fix: addon.fix }];
  return [
    { name: 'native addon', ok: true, required: true, detail: addon.path },
    { name: 'libraries', ok: false, required: true, detail: addon.error, fix: addon.fix },
  ];
}

export function canTrace(checks: Check[]): boolean {
  return checks.every((c) => c.ok || !c.required);
}

export function renderChecks(checks: Check[], kernel: string): string {
  const lines = [`dropwhy doctor: Linux ${kernel}`];
  for (const c of checks) {
    const status = c.ok ? 'ok' : c.required ? 'MISSING' : 'limited';
    lines.push(`${status.padEnd(8)} ${c.name.padEnd(13)} ${c.detail}${c.ok || !c.fix ? '' : `\n${''.padEnd(23)}→ ${c.fix}`}`);
  }
  lines.push(canTrace(checks) ? 'dropwhy can run here.' : 'dropwhy cannot run here until the MISSING items are fixed.');
  return lines.join('\n') + '\n';
}

export function renderChecksJson(checks: Check[], kernel: string): string {
  return JSON.stringify({ kernel, can_run: canTrace(checks), checks }) + '\n';
}

export function gatherFacts(processFacts: ProcessFacts, loadBinding: () => NativeBinding): DoctorFacts {
  const machine = {
    kernel: release(),
    process: processFacts,
    tracefs: existsSync('/sys/kernel/tracing/events') || existsSync('/sys/kernel/debug/tracing/events'),
    kallsyms: kallsymsState(),
    staleNftTables: findStaleTraceTables(),
    seccomp: readSeccompMode(),
  };
  let binding: NativeBinding;
  try {
    binding = loadBinding();
  } catch (error) {
    return { ...machine, addon: failedAddonFacts(error) };
  }
  const facts: DoctorFacts = { ...machine, addon: { path: binding.addonPath, libbpfVersion: binding.libbpfVersion } };
  if (processFacts.btfPresent) {
    try {
      const kernel = readKernelFacts(binding);
      facts.tracepointFields = kernel.tracepointFields;
      facts.reasonNames = kernel.reasons.names.length;
    } catch {
      facts.tracepointFields = null; // BTF present but unreadable: reported as no tracepoint record
    }
  }
  facts.ringbuf = hasTracingPrivileges(processFacts) ? ringbufFact(binding.probeRingbuf()) : null;
  return facts;
}

/** The probe's errno as doctor reads it: EINVAL is a kernel without ring buffers; others are named. */
export function ringbufFact(errno: number): boolean | string {
  if (errno === 0 || errno === constants.errno.EINVAL) return errno === 0;
  return Object.entries(constants.errno).find(([, value]) => value === errno)?.[0] ?? `errno ${errno}`;
}

function failedAddonFacts(error: unknown): MissingLibraryFacts | FailedAddonFacts {
  if (!(error instanceof AddonError)) return { error: describe(error), fix: rebuildCommand() };
  if (error.library !== null && error.path !== null) return { error: error.problem, fix: error.fix, path: error.path, library: error.library };
  return { error: error.problem, fix: error.fix };
}

/**
 * Whether kallsyms text shows real addresses, judged by its first code symbol:
 * x86-64 lists its per-CPU symbols first, at 0, even when addresses are shown.
 */
export function kallsymsShows(text: string): 'symbols' | 'hidden' | undefined {
  const code = /^([0-9a-f]+) [tTwW] /m.exec(text);
  if (!code) return undefined;
  return /^0+$/.test(code[1]) ? 'hidden' : 'symbols';
}

/** Whether /proc/kallsyms shows this process addresses, read up to its first code symbol (within 1 MiB). */
export function kallsymsState(): DoctorFacts['kallsyms'] {
  let fd: number;
  try {
    fd = openSync('/proc/kallsyms', 'r');
  } catch {
    return 'unreadable';
  }
  try {
    const buffer = Buffer.alloc(1 << 20);
    let length = 0;
    for (;;) {
      const read = readSync(fd, buffer, length, Math.min(65536, buffer.length - length), null);
      length += read;
      const state = kallsymsShows(buffer.toString('latin1', 0, length));
      if (state) return state;
      if (read === 0 || length === buffer.length) return 'hidden'; // no code symbol: none to name locations with
    }
  } catch {
    return 'unreadable';
  } finally {
    closeSync(fd);
  }
}
