// The settings behind the drops, read live and read only (dropwhy never changes them): each sysctl
// as its dotted name, read in the traced namespace (/proc/sys/net shows the namespace of the
// process reading it).

/** The sysctls the ledger reads, by dotted name. */
export const SYSCTLS = [
  'net.core.rmem_max',
  'net.core.rmem_default',
  'net.core.wmem_max',
  'net.core.wmem_default',
  'net.core.somaxconn',
  'net.core.netdev_max_backlog',
  'net.core.rps_sock_flow_entries',
  'net.ipv4.udp_mem',
  'net.ipv4.udp_rmem_min',
  'net.ipv4.tcp_mem',
  'net.ipv4.tcp_rmem',
  'net.ipv4.tcp_max_syn_backlog',
  'net.ipv4.tcp_abort_on_overflow',
  'net.ipv4.ip_forward',
  'net.ipv4.conf.all.rp_filter',
  'net.ipv4.conf.default.rp_filter',
  'net.ipv4.neigh.default.unres_qlen',
  'net.ipv4.neigh.default.unres_qlen_bytes',
  'net.ipv4.neigh.default.gc_thresh3',
  'net.ipv6.neigh.default.unres_qlen_bytes',
  'net.ipv6.conf.all.forwarding',
  'net.netfilter.nf_conntrack_count',
  'net.netfilter.nf_conntrack_max',
] as const;

/** The file of a sysctl: "net.core.rmem_max" → "/proc/sys/net/core/rmem_max". */
export function sysctlPath(name: string): string {
  return `/proc/sys/${name.replaceAll('.', '/')}`;
}

const PROC_SYS = '/proc/sys/';

/** `grep -H .`'s "PATH:VALUE" lines by dotted name; a sysctl this kernel lacks prints nothing and is left out. Tabs (udp_mem's) become spaces. */
export function parseSysctls(text: string, into: Map<string, string>): Map<string, string> {
  for (const line of text.split('\n')) {
    const colon = line.indexOf(':');
    if (!line.startsWith(PROC_SYS) || colon < 0) continue;
    const value = line
      .slice(colon + 1)
      .trim()
      .replace(/\s+/g, ' ');
    if (value !== '') into.set(line.slice(PROC_SYS.length, colon).replaceAll('/', '.'), value);
  }
  return into;
}
