// The filter as the user wrote it (options.ts) made into the filter on this machine: namespace
// paths and names become inodes, an interface name its ifindex, reason names this kernel's codes,
// and a tcpdump expression libpcap's classic BPF.
import type { NativeBinding } from '../kernel/binding';
import type { KernelFacts } from '../kernel/facts';
import { OWN_NETNS_PATH, type FindNetns, type InterfaceIndex, type StatInode } from '../kernel/netns';
import type { Logger } from '../log';
import { compileExpression } from '../events/expression';
import type { DropFilter } from '../events/filter';
import { closestNames, type ReasonTable } from '../events/reasons';
import { EnvironmentError, systemErrorText, UsageError } from '../errors';
import { flagError, type FilterSpec } from './options';

/** What resolving a filter asks of the machine. */
export interface FilterMachine {
  binding: NativeBinding;
  statInode: StatInode;
  interfaceIndex: InterfaceIndex;
  findNetns: FindNetns;
  logger: Logger;
}

/** The whole filter on this machine, for a session of this kernel. */
export async function resolveSessionFilter(spec: FilterSpec, kernel: KernelFacts, machine: FilterMachine): Promise<DropFilter> {
  const filter = await resolveInterface(spec, resolveFilter(spec, kernel.reasons, machine.statInode), machine.interfaceIndex);
  if (spec.expression !== undefined) {
    filter.program = compileExpression((expression, snaplen) => machine.binding.compileFilter(expression, snaplen), spec.expression);
  }
  // A namespace named by its inode may not exist (yet): not an error, as one may appear while tracing.
  if (spec.netns !== undefined && /^\d+$/.test(spec.netns) && (await machine.findNetns(filter.netns!)) === null) {
    machine.logger.warn(`--filter-netns ${spec.netns}: no process or /run/netns entry is in a network namespace with this inode now; nothing matches until one is`);
  }
  return filter;
}

/**
 * Resolves the parts of the filter that depend on the machine, but for the interface: netns and reason
 * names. An interface without --filter-netns is dropwhy's own namespace's, so that namespace is filtered on.
 */
export function resolveFilter(spec: FilterSpec, reasons: ReasonTable, statInode: StatInode): DropFilter {
  const filter: DropFilter = { proto: spec.proto, port: spec.port, srcAddr: spec.srcAddr, dstAddr: spec.dstAddr };
  const netns = filteredNetns(spec, statInode);
  if (netns !== undefined) filter.netns = netns;
  if (spec.reasonNames.length > 0) filter.reasons = reasonCodes('filter-reason', spec.reasonNames, reasons);
  if (spec.excludedReasonNames.length > 0) filter.excludedReasons = reasonCodes('exclude-reason', spec.excludedReasonNames, reasons);
  return filter;
}

/** The namespace the filter traces: --filter-netns, else dropwhy's own with --filter-ifname; undefined: every namespace. */
export function filteredNetns(spec: FilterSpec, statInode: StatInode): number | undefined {
  if (spec.netns !== undefined) return resolveNetns(spec.netns, statInode);
  if (spec.ifname !== undefined) return ownNetns(statInode);
  return undefined;
}

function ownNetns(statInode: StatInode): number {
  const inode = statInode(OWN_NETNS_PATH);
  if (inode === null) throw new Error(`cannot read dropwhy's own network namespace (${OWN_NETNS_PATH})`);
  return inode;
}

function reasonCodes(flag: 'filter-reason' | 'exclude-reason', names: string[], reasons: ReasonTable): number[] {
  if (!reasons.known) throw new UsageError(`--${flag}: this kernel reports no drop reasons (they arrived in Linux 5.17)`);
  return names.map((name) => {
    const code = reasons.codeOf(name);
    if (code === undefined) {
      const closest = closestNames(name, reasons.names).join(', ');
      flagError(flag, `a drop reason of this kernel (see dropwhy explain --list), e.g. ${closest}`, name);
    }
    return code;
  });
}

/** Adds the ifindex of --filter-ifname to a filter from resolveFilter (which set its namespace). */
export async function resolveInterface(spec: FilterSpec, filter: DropFilter, interfaceIndex: InterfaceIndex): Promise<DropFilter> {
  if (spec.ifname === undefined) return filter;
  const netns = filter.netns!;
  const ifindex = await interfaceIndex(spec.ifname, netns);
  if (ifindex === null) {
    const where = spec.netns === undefined ? `dropwhy's own network namespace (${netns})` : `network namespace ${spec.netns}`;
    flagError('filter-ifname', `an interface in ${where}`, spec.ifname);
  }
  return { ...filter, ifindex };
}

function resolveNetns(spec: string, statInode: StatInode): number {
  if (/^\d+$/.test(spec)) {
    const inode = Number(spec);
    if (inode > 0 && inode <= 0xffffffff) return inode;
  }
  const path = spec.startsWith('/') ? spec : `/run/netns/${spec}`;
  if ((spec.includes('/') && !spec.startsWith('/')) || spec === '.' || spec === '..') {
    flagError('filter-netns', 'INODE, /proc/PID/ns/net, /run/netns/NAME or NAME', spec);
  }
  let inode: number | null;
  try {
    inode = statInode(path);
  } catch (error) {
    throw new EnvironmentError(`--filter-netns: cannot read ${path}: ${systemErrorText(error)}`);
  }
  if (inode === null) flagError('filter-netns', `a network namespace (${path} is not one)`, spec);
  return inode;
}
