// Whether a seccomp filter is on for this process. Container runtimes' default profiles from before
// CAP_BPF (podman 4.3's, older Docker's and containerd's) allow bpf() only with CAP_SYS_ADMIN: they refuse
// it with EPERM to a process that holds CAP_BPF and CAP_PERFMON, which the kernel itself would accept.
import { readFileSync } from 'node:fs';

/** SECCOMP_MODE_DISABLED, _STRICT and _FILTER, as /proc/PID/status numbers them. */
const MODES = ['none', 'strict', 'filter'] as const;
export type SeccompMode = (typeof MODES)[number];

/** The `Seccomp:` field of /proc/PID/status text; null where there is none (a kernel without seccomp). */
export function seccompMode(status: string): SeccompMode | null {
  const field = /^Seccomp:\s*(\d+)$/m.exec(status);
  return field ? (MODES[Number(field[1])] ?? null) : null;
}

export function readSeccompMode(): SeccompMode | null {
  try {
    return seccompMode(readFileSync('/proc/self/status', 'utf8'));
  } catch {
    return null;
  }
}

export const SECCOMP_REFUSES_BPF = 'a seccomp filter refuses bpf() although this process holds CAP_BPF and CAP_PERFMON';
export const SECCOMP_FIX =
  'run it without that filter: Kubernetes seccompProfile type Unconfined (as deploy/kubernetes/ does), docker or podman --security-opt seccomp=unconfined';
