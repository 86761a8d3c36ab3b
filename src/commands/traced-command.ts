// dropwhy -- CMD: the one command traced, run in a cgroup v2 of its own so that
// the BPF program knows its sockets (a socket keeps the cgroup it was created
// in) and records the flows it sends at that cgroup's egress. It runs as the
// user who ran sudo, and its exit status becomes dropwhy's.
import { spawn } from 'node:child_process';
import { accessSync, constants as fsConstants, mkdirSync, readdirSync, rmdirSync, statSync } from 'node:fs';
import { constants } from 'node:os';
import { join } from 'node:path';
import { CommandNotFoundError, UsageError } from '../errors';
import { processExists } from '../kernel/netns-pair';

/** What a tracing session needs of the traced command; tests pass their own. */
export interface TracedCommand {
  /** The command's words, for the closing line. */
  readonly argv: readonly string[];
  /** Its cgroup: the directory (the addon attaches there) and its id (the BPF program's filter). */
  readonly cgroup: { path: string; id: number };
  /** Runs the command; resolves with how it ended. */
  start(): Promise<CommandExit>;
  /** Passes a signal on to the command while it runs. */
  signal(signal: NodeJS.Signals): void;
  /** Removes the cgroup, once the command has ended; a warning when it could not be removed. */
  close(): string | null;
}

/** How the command ended: its exit status as a shell gives it (128+N when killed by signal N), and that signal. */
export interface CommandExit {
  status: number;
  signal: NodeJS.Signals | null;
}

/** `dig exited with status 9`, `sleep was killed by SIGTERM`. */
export function exitText(name: string, exit: CommandExit): string {
  return exit.signal === null ? `${name} exited with status ${exit.status}` : `${name} was killed by ${exit.signal}`;
}

export interface CommandUser {
  uid: number;
  gid: number;
}

/** The user who ran `sudo dropwhy`: the command runs as them, as it would have without sudo. null: as dropwhy's user. */
export function invokingUser(env: NodeJS.ProcessEnv, euid: number): CommandUser | null {
  if (euid !== 0 || env.SUDO_UID === undefined) return null;
  const id = (text: string | undefined) => (text !== undefined && /^\d+$/.test(text) ? Number(text) : null);
  const uid = id(env.SUDO_UID);
  const gid = id(env.SUDO_GID);
  if (uid === null || gid === null) throw new UsageError(`-- COMMAND: SUDO_UID and SUDO_GID must be numbers, got ${JSON.stringify([env.SUDO_UID, env.SUDO_GID])}`);
  return uid === 0 ? null : { uid, gid };
}

/**
 * The program and arguments that run the command: a shell joins the cgroup and
 * execs (through setpriv, which becomes the user, with their groups and a fresh
 * environment, as sudo -u gives) the command, which is so in the cgroup before
 * its first instruction. 125 when joining fails, as timeout(1) and env(1) use it.
 */
export function launchArgv(cgroupPath: string, user: CommandUser | null, command: readonly string[]): [string, string[]] {
  const becomeUser = user === null ? [] : ['setpriv', `--reuid=${user.uid}`, `--regid=${user.gid}`, '--init-groups', '--reset-env', '--'];
  const script = 'echo $$ > "$1/cgroup.procs" || exit 125; shift; exec "$@"';
  return ['/bin/sh', ['-c', script, 'dropwhy', cgroupPath, ...becomeUser, ...command]];
}

/** A shell's exit status for how a process ended: its code, or 128 + the signal's number. */
export function exitStatus(code: number | null, signal: NodeJS.Signals | null): number {
  if (code !== null) return code;
  return 128 + (signal ? (constants.signals[signal] ?? 0) : 0);
}

/** The PATH setpriv --reset-env gives a regular user (setpriv(1)): where the command is looked up when run as one. */
const USER_PATH = '/usr/local/bin:/bin:/usr/bin';

/**
 * Where the command's program is, looked up as exec would (a name with a slash as it is, else in each
 * PATH directory); a CommandNotFoundError (exit 127, or 126 when found but not executable), as a shell
 * says it, before anything is loaded.
 */
export function findProgram(name: string, path: string, executable: (file: string) => boolean = isExecutableFile): string {
  const candidates = name.includes('/') ? [name] : path.split(':').map((dir) => `${dir === '' ? '.' : dir}/${name}`);
  const found = candidates.find(executable);
  if (found !== undefined) return found;
  const exists = candidates.some((file) => isFile(file));
  throw new CommandNotFoundError(name, exists ? 'permission denied' : name.includes('/') ? 'no such file or directory' : 'command not found', exists ? 126 : 127);
}

function isFile(file: string): boolean {
  try {
    return statSync(file).isFile();
  } catch {
    return false;
  }
}

function isExecutableFile(file: string): boolean {
  try {
    accessSync(file, fsConstants.X_OK);
    return isFile(file);
  } catch {
    return false;
  }
}

const CGROUP_PREFIX = 'dropwhy-';

/**
 * Removes the empty cgroups of dropwhy runs that were killed before they could remove their own. One that
 * still holds processes (a command that outlived its dropwhy) stays: rmdir refuses it.
 */
export function removeStaleCgroups(mount: string, running: (pid: number) => boolean = processExists): string[] {
  const removed: string[] = [];
  for (const name of readdirSync(mount)) {
    const pid = name.startsWith(CGROUP_PREFIX) ? Number(name.slice(CGROUP_PREFIX.length)) : NaN;
    if (!Number.isInteger(pid) || pid <= 0 || running(pid)) continue;
    try {
      rmdirSync(join(mount, name));
      removed.push(name);
    } catch {
      // still in use
    }
  }
  return removed;
}

/** The real one: a cgroup dropwhy-PID at the top of the cgroup2 mount, the command spawned into it. */
export function cgroupCommand(argv: readonly string[], mount: string | null, user: CommandUser | null, searchPath = process.env.PATH ?? ''): TracedCommand {
  findProgram(argv[0], user === null ? searchPath : USER_PATH);
  if (mount === null) throw new Error('-- COMMAND needs the cgroup2 filesystem, which is not mounted here (mount -t cgroup2 none /sys/fs/cgroup)');
  removeStaleCgroups(mount);
  const path = join(mount, `${CGROUP_PREFIX}${process.pid}`);
  try {
    mkdirSync(path);
  } catch (error) {
    throw new Error(`cannot create a cgroup for the command: ${(error as Error).message}`);
  }
  const cgroup = { path, id: statSync(path).ino };
  let child: ReturnType<typeof spawn> | null = null;
  let ended = false;
  return {
    argv,
    cgroup,
    start() {
      const [file, args] = launchArgv(path, user, argv);
      return new Promise((resolve, reject) => {
        child = spawn(file, args, { stdio: 'inherit' });
        child.once('error', (error) => {
          ended = true;
          reject(new Error(`cannot run ${argv[0]}: ${error.message}`));
        });
        child.once('exit', (code, signal) => {
          ended = true;
          resolve({ status: exitStatus(code, signal), signal: code === null ? signal : null });
        });
      });
    },
    signal(signal) {
      if (child && !ended) child.kill(signal);
    },
    close() {
      try {
        rmdirSync(path);
        return null;
      } catch (error) {
        const { code } = error as NodeJS.ErrnoException;
        if (code === 'ENOENT') return null;
        const why = code === 'EBUSY' ? 'processes the command started still run in it' : (error as Error).message;
        return `cannot remove the command's cgroup ${path}: ${why}`;
      }
    },
  };
}
