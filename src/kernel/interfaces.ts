// Interface names → ifindexes in any network namespace. Asked over netlink by ip(8), entered with
// nsenter for another namespace: /sys/class/net shows the namespace sysfs was mounted in, not the
// one entered.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** The ifindex of ifname in the namespace that netnsPath enters (null: dropwhy's own), or null when there is none. */
export async function interfaceIndex(ifname: string, netnsPath: string | null): Promise<number | null> {
  // One line, "INDEX: NAME...": ip's JSON printed nothing in a 5.10 guest, its one-line form is the same everywhere.
  const show = ['ip', '-o', 'link', 'show', 'dev', ifname];
  const [command, ...args] = netnsPath === null ? show : ['nsenter', `--net=${netnsPath}`, ...show];
  let stdout: string;
  try {
    ({ stdout } = await run(command, args, { timeout: 10_000 }));
  } catch (error) {
    const { stderr, message } = error as { stderr?: string; message: string };
    if (/does not exist/.test(stderr ?? '')) return null;
    throw new Error(`cannot look up interface ${ifname}: ${(stderr || message).trim()}`);
  }
  const index = /^(\d+): /.exec(stdout);
  if (!index) throw new Error(`cannot look up interface ${ifname}: ip printed ${JSON.stringify(stdout.trim())}`);
  return Number(index[1]);
}
