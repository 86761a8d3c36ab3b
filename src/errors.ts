// Every error the CLI can end with, and the one place that maps them to exit codes.
import { readSeccompMode, SECCOMP_FIX, SECCOMP_REFUSES_BPF, type SeccompMode } from './kernel/seccomp';

/** A bad flag or flag value: exit 2. The message names the flag and the accepted form. */
export class UsageError extends Error {
  /** tryHelp: whether --help would tell more (not when the message already says what to run instead). */
  constructor(
    message: string,
    readonly tryHelp = true,
  ) {
    super(message);
  }
}

/** Something the machine lacks (privileges, BTF, the tracepoint, the addon): exit 3. */
export class EnvironmentError extends Error {}

/**
 * A native failure at a stage of the tracer's life (open, load, attach, cgroup, stacks, ringbuf, poll, btf).
 * The addon creates it (src/kernel/binding.ts hands it the class), with this constructor's arguments.
 */
export class TracerError extends Error {
  constructor(
    readonly stage: string,
    readonly errno: number,
    message: string,
  ) {
    super(message);
  }
}

/** -- COMMAND names a program that cannot be run: the shell's `NAME: command not found`, and its status (127, or 126). */
export class CommandNotFoundError extends Error {
  constructor(
    readonly command: string,
    why: string,
    readonly status: 126 | 127,
  ) {
    super(`${command}: ${why}`);
  }
}

export const EXIT = { ok: 0, failure: 1, usage: 2, environment: 3 } as const;

const EPERM = 1;
const ENOENT = 2;
const ESRCH = 3;
const EACCES = 13;
const ENOTSUPP = 524;

export function exitCodeFor(error: unknown): number {
  if (error instanceof UsageError) return EXIT.usage;
  if (error instanceof EnvironmentError) return EXIT.environment;
  if (error instanceof CommandNotFoundError) return error.status;
  if (error instanceof TracerError && environmentHint(error) !== null) return EXIT.environment;
  return EXIT.failure;
}

/** A system call's failure in words, with its code: `no space left on device (ENOSPC)`. */
export function systemErrorText(error: unknown): string {
  const { code, message } = error as NodeJS.ErrnoException;
  // Node's message: `ENOSPC: no space left on device, write`.
  if (typeof code !== 'string' || !message.startsWith(`${code}: `)) return error instanceof Error ? error.message : String(error);
  return `${message.slice(code.length + 2).split(',')[0]} (${code})`;
}

/** One line for the user, never a stack trace. */
export function describe(error: unknown): string {
  return oneLine(message(error));
}

/** A control character a user's value brought in (a newline in a flag value) shown escaped, as JSON would. */
function oneLine(text: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point
  return text.replace(/[\u0000-\u001f\u007f]/g, (char) => JSON.stringify(char).slice(1, -1));
}

function message(error: unknown): string {
  if (error instanceof TracerError) {
    if (error.stage === 'load' && error.errno === EACCES) {
      return "the kernel's verifier rejected dropwhy's BPF program (run with --log-level debug for the verifier's log)";
    }
    const hint = environmentHint(error);
    return hint ?? `failed at ${error.stage}: ${error.message} (run with --log-level debug for libbpf's log)`;
  }
  if (error instanceof Error) return error.message;
  return String(error);
}

function environmentHint(error: TracerError): string | null {
  // At load, EACCES is the verifier refusing the program, not a missing privilege.
  if (error.errno === EPERM || (error.errno === EACCES && error.stage !== 'load')) {
    return permissionDenied(error.stage, error.errno === EPERM ? readSeccompMode() : null);
  }
  if ((error.stage === 'load' || error.stage === 'attach') && [ENOENT, ESRCH, ENOTSUPP].includes(error.errno)) {
    return `the kernel refused to ${error.stage} the program on skb:kfree_skb (${error.message}): ` + 'it needs BTF (CONFIG_DEBUG_INFO_BTF=y) and BPF tracing support';
  }
  return null;
}

/**
 * The privileges are checked before anything is loaded: EPERM under a seccomp filter is the filter refusing
 * bpf() (doctor says the same), anywhere else a privilege the process lacks.
 */
export function permissionDenied(stage: string, seccomp: SeccompMode | null): string {
  return seccomp === 'filter'
    ? `permission denied at ${stage}: ${SECCOMP_REFUSES_BPF}; ${SECCOMP_FIX}`
    : `permission denied at ${stage}: root, or CAP_BPF and CAP_PERFMON, is needed (try sudo)`;
}
