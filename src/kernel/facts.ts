// What the running kernel and process offer: privileges, BTF, the tracepoint's
// arguments and the drop reason names.
import { existsSync, readFileSync } from 'node:fs';
import type { NativeBinding } from './binding';
import { EnvironmentError } from '../errors';
import { ReasonTable } from '../events/reasons';

export const VMLINUX_BTF = '/sys/kernel/btf/vmlinux';
const CAP_SYS_ADMIN = 21n;
const CAP_PERFMON = 38n;
const CAP_BPF = 39n;

export interface ProcessFacts {
  euid: number;
  capEff: bigint; // effective capability set, from /proc/self/status
  btfPresent: boolean;
}

export function readProcessFacts(): ProcessFacts {
  const status = readFileSync('/proc/self/status', 'utf8');
  const capEff = /^CapEff:\s*([0-9a-f]+)$/m.exec(status);
  return {
    euid: process.geteuid?.() ?? -1,
    capEff: capEff ? BigInt(`0x${capEff[1]}`) : 0n,
    btfPresent: existsSync(VMLINUX_BTF),
  };
}

/**
 * The kernel checks capabilities, not the uid: CAP_BPF and CAP_PERFMON (5.8+), or CAP_SYS_ADMIN, which
 * stands for both (and is all there is before 5.8). A root process can lack them (a container, setpriv).
 */
export function hasTracingPrivileges(facts: ProcessFacts): boolean {
  const has = (cap: bigint) => ((facts.capEff >> cap) & 1n) === 1n;
  return has(CAP_SYS_ADMIN) || (has(CAP_BPF) && has(CAP_PERFMON));
}

/** What to do without the privileges: a user needs sudo, a root process its capabilities back. */
export function privilegesFix(facts: ProcessFacts): string {
  return facts.euid === 0
    ? 'give this root process CAP_BPF and CAP_PERFMON back (a container: --cap-add BPF --cap-add PERFMON)'
    : 'run as root (sudo dropwhy), or grant CAP_BPF and CAP_PERFMON';
}

/** Throws the first thing that stops dropwhy from tracing, with how to get it (printed after `dropwhy: `, so not naming dropwhy first). */
export function assertCanTrace(facts: ProcessFacts): void {
  if (!hasTracingPrivileges(facts)) {
    throw new EnvironmentError(
      facts.euid === 0
        ? `loading the BPF program needs CAP_BPF and CAP_PERFMON, which this root process lacks: ${privilegesFix(facts)}`
        : 'loading the BPF program needs root, or CAP_BPF and CAP_PERFMON: run dropwhy with sudo',
    );
  }
  if (!facts.btfPresent) {
    throw new EnvironmentError(`${VMLINUX_BTF} is missing: the BPF program needs a kernel built with CONFIG_DEBUG_INFO_BTF=y (most distribution kernels since 5.4 are)`);
  }
}

export interface KernelFacts {
  reasons: ReasonTable;
  /** Arguments of the skb:kfree_skb tracepoint, from its BTF record; null when the kernel lacks it. */
  tracepointFields: string[] | null;
  /** The tracepoint reports a drop reason (Linux 5.17+): events and counts carry one. */
  hasReason: boolean;
}

/** Whether a tracepoint with these arguments reports a drop reason (Linux 5.17+). */
export function reportsReason(tracepointFields: readonly string[] | null | undefined): boolean {
  return tracepointFields?.includes('reason') ?? false;
}

export function readKernelFacts(binding: NativeBinding): KernelFacts {
  const fields = binding.btfMembers('struct', 'trace_event_raw_kfree_skb');
  const tracepointFields = fields ? fields.map(([name]) => name) : null;
  return {
    reasons: new ReasonTable(binding.btfMembers('enum', 'skb_drop_reason'), binding.btfMembers('enum', 'skb_drop_reason_subsys')),
    tracepointFields,
    hasReason: reportsReason(tracepointFields),
  };
}
