// What the ledger reads of the sockets: /proc/net/sockstat{,6} (sockets in use and the memory the
// protocols hold, in pages, against udp_mem / tcp_mem) and the listening TCP sockets with their
// accept queues (`ss -ltnpH`: Recv-Q is the queue, Send-Q the backlog).

/** "UDP: inuse 3 mem 12" → "sockstat UDP mem" = "12"; the memory is the whole host's, the rest the namespace's. */
export function parseSockstat(text: string, into: Map<string, string>): Map<string, string> {
  for (const line of text.split('\n')) {
    const colon = line.indexOf(':');
    if (colon < 0) continue;
    const group = line.slice(0, colon).trim();
    const words = line
      .slice(colon + 1)
      .trim()
      .split(/\s+/);
    for (let i = 0; i + 1 < words.length; i += 2) into.set(`sockstat ${group} ${words[i]}`, words[i + 1]);
  }
  return into;
}

export interface Listener {
  /** "127.0.0.1:8080", "[::]:443". */
  local: string;
  /** Connections waiting in the accept queue now. */
  queued: number;
  /** The accept queue's length: the listen() backlog, capped at net.core.somaxconn. */
  backlog: number;
  /** "python3[123]", or null when ss could not see who holds it. */
  owner: string | null;
}

/** `ss -ltnpH`: "LISTEN 2 1 127.0.0.1:8080 0.0.0.0:* users:(("python3",pid=123,fd=3))". */
export function parseListeners(text: string): Listener[] {
  const listeners: Listener[] = [];
  for (const line of text.split('\n')) {
    const fields = line.trim().split(/\s+/);
    if (fields[0] !== 'LISTEN' || fields.length < 5) continue;
    const owner = /\(\("([^"]+)",pid=(\d+)/.exec(line);
    listeners.push({ local: fields[3], queued: Number(fields[1]), backlog: Number(fields[2]), owner: owner ? `${owner[1]}[${owner[2]}]` : null });
  }
  return listeners;
}
