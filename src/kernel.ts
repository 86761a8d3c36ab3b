// What the running kernel and process offer: privileges, BTF, the tracepoint's
// arguments and the drop reason names.
import { existsSync, readFileSync } from 'node:fs';
import type { NativeBinding } from './binding';
import { EnvironmentError } from './errors';
import { ReasonTable } from './reasons';

export const VMLINUX_BTF = '/sys/kernel/btf/vmlinux';
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

export function hasTracingPrivileges(facts: ProcessFacts): boolean {
  const has = (cap: bigint) => ((facts.capEff >> cap) & 1n) === 1n;
  return facts.euid === 0 || (has(CAP_BPF) && has(CAP_PERFMON));
}

/** Throws the first thing that stops dropwhy from tracing, with how to get it. */
export function assertCanTrace(facts: ProcessFacts): void {
  if (!hasTracingPrivileges(facts)) {
    throw new EnvironmentError('dropwhy needs root, or CAP_BPF and CAP_PERFMON, to load its BPF program: run it with sudo');
  }
  if (!facts.btfPresent) {
    throw new EnvironmentError(
      `${VMLINUX_BTF} is missing: dropwhy needs a kernel built with CONFIG_DEBUG_INFO_BTF=y (most distribution kernels since 5.4 are)`,
    );
  }
}

export interface KernelFacts {
  reasons: ReasonTable;
  /** Arguments of the skb:kfree_skb tracepoint, from its BTF record; null when the kernel lacks it. */
  tracepointFields: string[] | null;
}

export function readKernelFacts(binding: NativeBinding): KernelFacts {
  const fields = binding.btfMembers('struct', 'trace_event_raw_kfree_skb');
  return {
    reasons: new ReasonTable(
      binding.btfMembers('enum', 'skb_drop_reason'),
      binding.btfMembers('enum', 'skb_drop_reason_subsys'),
    ),
    tracepointFields: fields ? fields.map(([name]) => name) : null,
  };
}
