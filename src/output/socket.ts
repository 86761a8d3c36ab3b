// The socket a drop happened at, as dropwhy shows it: who holds it and where
// (resolved from /proc and the cgroup2 mount), its one JSON shape, its names in text.
import { formatAddress } from '../events/address';
import type { DropSocket } from '../events/decode';
import type { CgroupInfo } from '../kernel/cgroups';
import type { SocketOwner } from '../kernel/socket-owners';
import type { Container } from '../kernel/container';
import type { SocketResolver } from './format';

/** What user space found for a socket: the process holding it, its cgroup (and container). */
export interface ResolvedSocket {
  owner: SocketOwner | null;
  cgroup: CgroupInfo | null;
}

export function resolveSocket(socket: DropSocket, sockets: SocketResolver): ResolvedSocket {
  return {
    owner: socket.inode === null ? null : sockets.owner(socket.inode),
    cgroup: socket.cgroupId === null ? null : sockets.cgroup(socket.cgroupId),
  };
}

/** A value of the JSON "socket" object: a number, a string, the container object, or null. */
export type SocketValue = number | string | Container | null;

const fitsDouble = (cookie: bigint) => cookie <= BigInt(Number.MAX_SAFE_INTEGER);

/**
 * The JSON "socket" object, field by field in the order of docs/json-schema.md: the one
 * definition of its shape, for tracing's byte writer and summary's objects alike.
 */
export const SOCKET_FIELDS = [
  { name: 'inode', value: (socket: DropSocket) => socket.inode },
  // A 64-bit cookie: a number while a double holds it exactly, else a string.
  { name: 'cookie', value: ({ cookie }: DropSocket) => (cookie === null ? null : fitsDouble(cookie) ? Number(cookie) : cookie.toString()) },
  { name: 'uid', value: (socket: DropSocket) => socket.uid },
  { name: 'local', value: (socket: DropSocket) => localEndpoint(socket) },
  { name: 'pid', value: (_: DropSocket, { owner }: ResolvedSocket) => owner?.pid ?? null },
  { name: 'comm', value: (_: DropSocket, { owner }: ResolvedSocket) => owner?.comm ?? null },
  { name: 'cgroup', value: (_: DropSocket, { cgroup }: ResolvedSocket) => cgroup?.path ?? null },
  { name: 'container', value: (_: DropSocket, { cgroup }: ResolvedSocket) => cgroup?.container ?? null },
  { name: 'rcvbuf', value: (socket: DropSocket) => socket.rcvbuf },
  { name: 'queued', value: (socket: DropSocket) => socket.queued },
  { name: 'drops', value: (socket: DropSocket) => socket.drops },
] as const satisfies ReadonlyArray<{ name: string; value: (socket: DropSocket, resolved: ResolvedSocket) => SocketValue }>;

export type SocketRecord = Record<(typeof SOCKET_FIELDS)[number]['name'], SocketValue>;

/** The JSON "socket" object for summary's totals, which are built as objects (tracing writes SOCKET_FIELDS as bytes). */
export function socketRecord(socket: DropSocket, resolved: ResolvedSocket): SocketRecord {
  const record: Partial<SocketRecord> = {};
  for (const field of SOCKET_FIELDS) record[field.name] = field.value(socket, resolved);
  return record as SocketRecord;
}

/** The socket's local address and port, as `ss` prints them; null for a socket that is not inet. */
export function localEndpoint(socket: DropSocket): string | null {
  if (socket.family === null || socket.localAddr === null) return null;
  const address = formatAddress(socket.localAddr, socket.family);
  return socket.family === 6 ? `[${address}]:${socket.localPort}` : `${address}:${socket.localPort}`;
}

/** `dnsmasq[812] 10.94.0.2:53 rcvbuf 212992`: who holds the socket, where, and its buffer. */
export function socketName(socket: DropSocket, resolved: ResolvedSocket): string {
  const local = localEndpoint(socket);
  return `${socketHolder(socket, resolved)}${local === null ? '' : ` ${local}`} rcvbuf ${socket.rcvbuf}`;
}

/** `dnsmasq[812]`: the process holding the socket; `uid 0` when none was found. */
export function socketHolder(socket: DropSocket, { owner }: ResolvedSocket): string {
  return owner === null ? `uid ${socket.uid}` : `${owner.comm}[${owner.pid}]`;
}

/** ` container 0123456789ab` (the id's first 12 digits, as docker shows it), or nothing. */
export function containerText({ cgroup }: ResolvedSocket): string {
  const id = cgroup?.container?.id;
  return id ? ` container ${id.slice(0, 12)}` : '';
}
