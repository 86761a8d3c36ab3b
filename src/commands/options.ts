// The command-line options: one table per command that yargs reads (with each default, defined once,
// there), and pure check functions that turn the raw values into validated options or a UsageError.
// Every value is read as a string (type 'string'), so that check() owns all validation; `number: true`
// only labels a numeric one [number] in --help and the man page (yargs keeps a string option's text).
// Nothing here reads the machine: resolve.ts makes the filter into this machine's.
import type { Options, PositionalOptions } from 'yargs';
import { formatAddress, parseAddressPrefix, type AddressPrefix } from '../events/address';
import { UsageError } from '../errors';
import { LOG_FORMATS, type LogFormat } from '../log';
import { PROTOCOLS, type ProtocolName } from '../events/filter';
import { FEATURE, MAX_REASONS, MAX_SNAPLEN, recordSize } from '../events/layout';
import type { PodSettings } from '../kernel/pods';

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

export const FILTER_OPTIONS = {
  'filter-proto': { type: 'string', describe: 'Only drops of this L4 protocol: tcp, udp, icmp, icmp6 (any case)', group: 'Filters:' },
  'filter-port': { type: 'string', number: true, describe: 'Only drops with this source or destination port (TCP/UDP)', group: 'Filters:' },
  'filter-src-ip': { type: 'string', describe: 'Only drops from ADDR[/LEN] (IPv4 or IPv6)', group: 'Filters:' },
  'filter-dst-ip': { type: 'string', describe: 'Only drops to ADDR[/LEN] (IPv4 or IPv6)', group: 'Filters:' },
  'filter-netns': {
    type: 'string',
    describe: 'Only drops in this network namespace: INODE, /proc/PID/ns/net, /run/netns/NAME or NAME',
    group: 'Filters:',
  },
  'filter-ifname': {
    type: 'string',
    describe: "Only drops on this interface, in the namespace of --filter-netns (else in dropwhy's own, which it then implies)",
    group: 'Filters:',
  },
  'filter-reason': {
    type: 'string',
    array: true,
    describe: 'Only drops with this reason, as the kernel names it without SKB_DROP_REASON_ (repeatable, or NAME,NAME)',
    group: 'Filters:',
  },
  'exclude-reason': {
    type: 'string',
    array: true,
    describe: 'Leave out drops with this reason (repeatable, or NAME,NAME); wins over --filter-reason',
    group: 'Filters:',
  },
} as const satisfies Record<string, Options>;

/** Every tracing command takes a tcpdump filter expression after its options. */
export const EXPRESSION_POSITIONAL = {
  type: 'string',
  array: true,
  describe: 'A tcpdump filter expression (pcap-filter(7)) on the packet from its IP header, e.g. "udp port 53"; ANDed with --filter-*',
} as const satisfies PositionalOptions;

/** Every tracing command: trace, summary, exporter. */
export const SESSION_OPTIONS = {
  duration: { type: 'string', number: true, describe: 'Stop after SECONDS' },
  'ready-file': { type: 'string', describe: 'Write this file once the tracer is attached; removed on exit (for scripts and CI)' },
  'log-level': { type: 'string', default: 'warn', describe: `Log level on stderr: ${LOG_LEVELS.join(', ')}` },
  'log-format': { type: 'string', default: 'text', describe: `Log lines on stderr: text (dropwhy: ...) or json (pino's NDJSON)` },
  kubernetes: {
    type: 'boolean',
    describe:
      'Name the pod of each drop from the kubelet\'s records on this node (JSON "pod"; the exporter\'s namespace and pod labels); by default on where --pod-logs exists or KUBERNETES_SERVICE_HOST is set',
    group: 'Kubernetes:',
  },
  'pod-logs': {
    type: 'string',
    default: '/var/log/pods',
    describe: "The kubelet's pod log directory, one NAMESPACE_POD_UID directory per pod: pod UIDs are named from it",
    group: 'Kubernetes:',
  },
} as const satisfies Record<string, Options>;

/** The commands that print drops: trace and summary. */
export const PRINT_OPTIONS = {
  output: { alias: 'o', type: 'string', describe: 'Output format: text (the default; none with -w) or json (NDJSON)' },
  count: { type: 'string', number: true, describe: 'Stop after N matching drops' },
  hints: { type: 'boolean', default: true, describe: 'A one-line hint after the first drop of each reason (text output)' },
  socket: {
    type: 'boolean',
    default: true,
    describe: 'Name the socket each drop happened at, its owner and cgroup (summary: the top sockets per reason); --no-socket skips the reads',
  },
  stack: {
    type: 'boolean',
    default: false,
    describe: "Record each drop's kernel stack and print its frames (summary: the call paths under each row, most drops first)",
  },
  color: { type: 'string', default: 'auto', describe: 'Colour the text: auto (on a terminal, unless NO_COLOR is set), always or never' },
} as const satisfies Record<string, Options>;

const NFT_TRACE_OPTION = {
  type: 'boolean',
  default: false,
  describe: 'Name the nftables rule behind each NETFILTER_DROP (adds a table dropwhy_trace_PID to the traced namespace while it runs)',
} as const satisfies Options;

/** -w's bytes of each packet, unless --snaplen says otherwise. */
export const DEFAULT_SNAPLEN = 256;

/** Only tracing streams events through the ring buffer. */
export const STREAM_OPTIONS = {
  'ring-size': { type: 'string', default: '8M', describe: 'BPF ring buffer size: a power of two, e.g. 4M, 16M' },
  'nft-trace': NFT_TRACE_OPTION,
  write: { alias: 'w', type: 'string', describe: 'Write the dropped packets to this pcapng file (- for stdout, then nothing else goes there)' },
  snaplen: { type: 'string', number: true, describe: `With -w: bytes of each packet written, 1 to ${MAX_SNAPLEN} (default ${DEFAULT_SNAPLEN})` },
} as const satisfies Record<string, Options>;

export const DEFAULT_RING_BYTES = ringBytes(STREAM_OPTIONS['ring-size'].default);

const MAX_KEYS_OPTION = {
  type: 'string',
  number: true,
  default: '4096',
  describe: 'Distinct (reason, location, namespace, protocol) keys counted in the kernel',
} as const satisfies Options;

export const SUMMARY_OPTIONS = {
  interval: { type: 'string', number: true, default: '1', describe: 'Print the counts every SECONDS' },
  'max-keys': MAX_KEYS_OPTION,
  'nft-trace': { ...NFT_TRACE_OPTION, describe: 'Count NETFILTER_DROP per nftables rule in the totals (adds a table dropwhy_trace_PID while it runs)' },
} as const satisfies Record<string, Options>;

/** Not in Prometheus' list of default port allocations (9100-9999 is taken). */
export const DEFAULT_EXPORTER_PORT = 10025;

export const EXPORTER_OPTIONS = {
  listen: {
    type: 'string',
    default: `127.0.0.1:${DEFAULT_EXPORTER_PORT}`,
    describe: 'Serve /metrics on HOST:PORT ([V6]:PORT; :PORT for every address)',
  },
  'max-keys': MAX_KEYS_OPTION,
  'idle-timeout': {
    type: 'string',
    number: true,
    default: '600',
    describe: 'A series with no new drops for SECONDS leaves /metrics and frees its kernel keys (its count is kept)',
  },
} as const satisfies Record<string, Options>;

export const DIAGNOSE_OPTIONS = {
  duration: { type: 'string', default: '10', describe: 'Count drops for SECONDS, then report' },
  output: { alias: 'o', type: 'string', default: 'text', describe: 'Output format: text or json (one object)' },
  'max-keys': MAX_KEYS_OPTION,
} as const satisfies Record<string, Options>;

export const EXPLAIN_POSITIONAL = { type: 'string', describe: 'A reason name, e.g. SOCKET_RCVBUFF' } as const satisfies PositionalOptions;

export const EXPLAIN_OPTIONS = {
  list: { type: 'boolean', describe: "List this kernel's drop reasons" },
} as const satisfies Record<string, Options>;

export const DOCTOR_OPTIONS = {
  output: { alias: 'o', type: 'string', default: 'text', describe: 'text or json' },
} as const satisfies Record<string, Options>;

/** The raw values yargs hands over (every value a string, so check() owns all validation). */
export interface RawArgs {
  'filter-proto'?: string;
  'filter-port'?: string;
  'filter-src-ip'?: string;
  'filter-dst-ip'?: string;
  'filter-netns'?: string;
  'filter-ifname'?: string;
  'filter-reason'?: string[];
  'exclude-reason'?: string[];
  /** The positional words of a filter expression, joined with spaces as tcpdump does. */
  expression?: string[];
  /** The words after `--`: a command to run and trace. */
  command?: string[];
  output?: string;
  count?: string;
  duration?: string;
  'ready-file'?: string;
  'ring-size'?: string;
  'log-level'?: string;
  'log-format'?: string;
  kubernetes?: boolean;
  'pod-logs'?: string;
  hints?: boolean;
  'nft-trace'?: boolean;
  socket?: boolean;
  stack?: boolean;
  write?: string;
  snaplen?: string;
  color?: string;
}

export interface RawSummaryArgs extends Omit<RawArgs, 'ring-size' | 'write' | 'snaplen'> {
  interval?: string;
  'max-keys'?: string;
}

export interface RawExporterArgs extends Omit<RawArgs, 'ring-size' | 'output' | 'count' | 'hints' | 'nft-trace' | 'socket' | 'stack' | 'write' | 'snaplen' | 'color'> {
  listen?: string;
  'max-keys'?: string;
  'idle-timeout'?: string;
}

/** A filter as the user wrote it; the netns, interface and reason names still need the machine to resolve. */
export interface FilterSpec {
  proto?: ProtocolName;
  port?: number;
  srcAddr?: AddressPrefix;
  dstAddr?: AddressPrefix;
  netns?: string;
  ifname?: string;
  reasonNames: string[];
  excludedReasonNames: string[];
  /** A tcpdump filter expression, compiled once the addon is loaded. */
  expression?: string;
}

/** -w: where the pcapng file goes and how much of each packet. */
export interface PcapOptions {
  /** A file path, or '-' for stdout. */
  path: string;
  snaplen: number;
}

export interface TraceOptions {
  filter: FilterSpec;
  /** null: no lines on stdout (-w without -o). */
  output: 'text' | 'json' | null;
  pcap: PcapOptions | null;
  count: number | null;
  durationMs: number | null;
  readyFile: string | null;
  ringBytes: number;
  logLevel: (typeof LOG_LEVELS)[number];
  logFormat: LogFormat;
  /** --kubernetes and --pod-logs: whether and how each drop's pod is named. */
  pods: PodSettings;
  hints: boolean;
  nftTrace: boolean;
  /** Read the socket of each drop (struct drop_socket) and resolve its owner. */
  socket: boolean;
  /** -- CMD: run this command and trace only its drops; null: trace every drop. */
  command: string[] | null;
  /** Record each drop's kernel stack (stream: per event; summary: per call path under each row). */
  stack: boolean;
  color: ColorChoice;
}

export interface SummaryOptions extends Omit<TraceOptions, 'ringBytes' | 'pcap' | 'output'> {
  output: 'text' | 'json';
  intervalMs: number;
  maxKeys: number;
}

export interface ListenAddress {
  /** null: every address. */
  host: string | null;
  port: number;
}

export interface ExporterOptions extends Pick<TraceOptions, 'filter' | 'durationMs' | 'readyFile' | 'logLevel' | 'logFormat' | 'pods'> {
  listen: ListenAddress;
  maxKeys: number;
  idleMs: number;
}

/** The one form of a bad flag value: `--flag: expected ACCEPTED, got "VALUE"`. */
export function flagError(flag: string, accepted: string, got: unknown): never {
  throw new UsageError(`--${flag}: expected ${accepted}, got ${JSON.stringify(got)}`);
}

/** yargs hands a repeated single-valued flag over as an array; repeats of different values were refused (rejectRepeats), so all are one. */
function single(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[value.length - 1] : value;
}

/** Node runs a timer longer than 2^31-1 ms (24.8 days) at once: stay below it. */
const MAX_SECONDS = 2_000_000;

function seconds(flag: string, text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const value = /^\d+(\.\d+)?$/.test(text) ? Number(text) : NaN;
  if (!(value > 0 && value <= MAX_SECONDS)) flagError(flag, `a positive number of seconds up to ${MAX_SECONDS}`, text);
  return value * 1000;
}

function positiveInteger(flag: string, text: string | undefined, max: number, accepted: string): number | undefined {
  if (text === undefined) return undefined;
  if (!/^\d+$/.test(text) || Number(text) < 1 || Number(text) > max) flagError(flag, accepted, text);
  return Number(text);
}

function address(flag: string, text: string | undefined): AddressPrefix | undefined {
  if (text === undefined) return undefined;
  return parseAddressPrefix(text) ?? flagError(flag, 'an IPv4 or IPv6 address with an optional /LEN, e.g. 10.0.0.0/8 or fd00::1', text);
}

function ringBytes(text: string): number {
  const match = /^(\d+)([KkMmGg]?)$/.exec(text);
  const scale = { '': 1, k: 1 << 10, m: 1 << 20, g: 1 << 30 };
  const bytes = match ? Number(match[1]) * scale[match[2].toLowerCase() as keyof typeof scale] : NaN;
  // The kernel wants a power-of-two multiple of the page size.
  if (!(bytes >= 4096 && bytes <= 1 << 30 && (bytes & (bytes - 1)) === 0)) {
    flagError('ring-size', 'a power of two from 4K to 1G, e.g. 8M', text);
  }
  return bytes;
}

/** --filter-reason and --exclude-reason: repeatable, each value a NAME or a NAME,NAME list. */
function reasonNames(flag: 'filter-reason' | 'exclude-reason', values: string[] | undefined): string[] {
  if (values?.length === 0) flagError(flag, 'a drop reason name such as NO_SOCKET', '');
  const names = (values ?? []).flatMap((r) => r.split(',')).map((r) => r.trim());
  for (const name of names) {
    if (!/^[A-Za-z0-9_]+$/.test(name)) flagError(flag, 'a drop reason name such as NO_SOCKET', name);
  }
  if (names.length > MAX_REASONS) flagError(flag, `at most ${MAX_REASONS} reasons`, names.length);
  return names;
}

/** What the kernel accepts as an interface name (dev_valid_name): 1-15 bytes, no '/', ':' or space, not . or .. */
function interfaceName(text: string | undefined): string | undefined {
  if (text === undefined) return undefined;
  const valid = /^[^/:\s]{1,15}$/.test(text) && Buffer.byteLength(text) <= 15 && text !== '.' && text !== '..';
  return valid ? text : flagError('filter-ifname', 'an interface name such as eth0 (at most 15 bytes, no "/", ":" or spaces)', text);
}

/** The expression's words as one string, as tcpdump joins them; none (or only spaces) is no expression. */
function expressionText(words: string[] | undefined): string | undefined {
  const text = (words ?? []).join(' ').trim();
  return text === '' ? undefined : text;
}

function checkFilter(raw: RawArgs): FilterSpec {
  const proto = single(raw['filter-proto'])?.toLowerCase();
  if (proto !== undefined && !Object.hasOwn(PROTOCOLS, proto)) flagError('filter-proto', Object.keys(PROTOCOLS).join(', '), single(raw['filter-proto']));
  const netns = single(raw['filter-netns']);
  if (netns !== undefined && netns.trim() === '') flagError('filter-netns', 'INODE, /proc/PID/ns/net, /run/netns/NAME or NAME', netns);
  return {
    proto: proto as ProtocolName | undefined,
    port: positiveInteger('filter-port', single(raw['filter-port']), 65535, 'a port number from 1 to 65535'),
    srcAddr: address('filter-src-ip', single(raw['filter-src-ip'])),
    dstAddr: address('filter-dst-ip', single(raw['filter-dst-ip'])),
    netns,
    ifname: interfaceName(single(raw['filter-ifname'])),
    reasonNames: reasonNames('filter-reason', raw['filter-reason']),
    excludedReasonNames: reasonNames('exclude-reason', raw['exclude-reason']),
    expression: expressionText(raw.expression),
  };
}

/** The filter and the options every tracing command shares. */
function checkSession(raw: RawArgs): Pick<TraceOptions, 'filter' | 'durationMs' | 'readyFile' | 'logLevel' | 'logFormat' | 'pods'> {
  const filter = checkFilter(raw);
  const logLevel = single(raw['log-level']) ?? SESSION_OPTIONS['log-level'].default;
  if (!(LOG_LEVELS as readonly string[]).includes(logLevel)) flagError('log-level', LOG_LEVELS.join(', '), logLevel);
  const logFormat = single(raw['log-format']) ?? SESSION_OPTIONS['log-format'].default;
  if (!(LOG_FORMATS as readonly string[]).includes(logFormat)) flagError('log-format', LOG_FORMATS.join(' or '), logFormat);
  const readyFile = single(raw['ready-file']);
  if (readyFile === '') flagError('ready-file', 'a file path', readyFile);
  const podLogs = single(raw['pod-logs']) ?? SESSION_OPTIONS['pod-logs'].default;
  if (podLogs === '') flagError('pod-logs', 'a directory path', podLogs);
  return {
    filter,
    durationMs: seconds('duration', single(raw.duration)) ?? null,
    readyFile: readyFile ?? null,
    logLevel: logLevel as TraceOptions['logLevel'],
    logFormat: logFormat as LogFormat,
    pods: { kubernetes: raw.kubernetes ?? null, logDirectory: podLogs },
  };
}

export function check(raw: RawArgs): TraceOptions {
  const session = checkSession(raw);
  const output = single(raw.output);
  if (output !== undefined && output !== 'text' && output !== 'json') flagError('output', 'text or json', output);
  const pcap = pcapOptions(raw);
  if (pcap?.path === '-' && output !== undefined) throw new UsageError('-w -: stdout carries only the pcapng file; write it to a file to have -o too');
  const ring = ringBytes(single(raw['ring-size']) ?? STREAM_OPTIONS['ring-size'].default);
  // A record that does not fit the ring could never be reserved: every drop would be lost. (8: the ring's header per record)
  if (pcap && (recordSize(FEATURE.PACKET, pcap.snaplen) + 8) * 4 > ring) {
    throw new UsageError(`--snaplen ${pcap.snaplen}: a --ring-size of ${ring} bytes holds fewer than 4 such records; raise --ring-size or lower --snaplen`);
  }
  return {
    ...session,
    output: output ?? (pcap ? null : 'text'),
    pcap,
    count: positiveInteger('count', single(raw.count), Number.MAX_SAFE_INTEGER, 'a positive whole number') ?? null,
    ringBytes: ring,
    hints: raw.hints !== false,
    nftTrace: raw['nft-trace'] === true,
    socket: raw.socket !== false,
    command: commandWords(raw.command),
    stack: raw.stack === true,
    color: colorChoice(raw.color),
  };
}

export const COLOR_CHOICES = ['auto', 'always', 'never'] as const;
export type ColorChoice = (typeof COLOR_CHOICES)[number];

function colorChoice(text: string | string[] | undefined): ColorChoice {
  const choice = single(text) ?? PRINT_OPTIONS.color.default;
  return (COLOR_CHOICES as readonly string[]).includes(choice) ? (choice as ColorChoice) : flagError('color', COLOR_CHOICES.join(', '), choice);
}

/** Whether to colour: --color always or never, else on a terminal unless NO_COLOR is set to something (no-color.org). */
export function useColor(choice: ColorChoice, env: NodeJS.ProcessEnv, terminal: boolean): boolean {
  if (choice !== 'auto') return choice === 'always';
  return terminal && !env.NO_COLOR;
}

function pcapOptions(raw: RawArgs): PcapOptions | null {
  const path = single(raw.write);
  const snaplen = positiveInteger('snaplen', single(raw.snaplen), MAX_SNAPLEN, `a whole number of bytes from 1 to ${MAX_SNAPLEN}`);
  if (path === undefined) {
    if (snaplen !== undefined) throw new UsageError('--snaplen: only with -w FILE');
    return null;
  }
  if (path === '') flagError('write', 'a file path, or - for stdout', path);
  return { path, snaplen: snaplen ?? DEFAULT_SNAPLEN };
}

/** The words after `--`, if there was a `--`; it must be followed by a command. */
function commandWords(words: string[] | undefined): string[] | null {
  if (words === undefined) return null;
  if (words.length === 0 || words[0] === '') throw new UsageError('--: expected a command to run after it, e.g. -- dig @10.0.0.2 example.com');
  return words;
}

export function checkSummary(raw: RawSummaryArgs): SummaryOptions {
  const { ringBytes: _unused, pcap: _none, output, ...common } = check(raw);
  return {
    ...common,
    output: output ?? 'text',
    intervalMs: seconds('interval', single(raw.interval) ?? SUMMARY_OPTIONS.interval.default)!,
    maxKeys: maxKeys(raw['max-keys']),
  };
}

function maxKeys(text: string | undefined): number {
  return positiveInteger('max-keys', single(text) ?? MAX_KEYS_OPTION.default, 1 << 20, 'a whole number from 1 to 1048576')!;
}

export function checkExporter(raw: RawExporterArgs): ExporterOptions {
  if (raw.command !== undefined) throw new UsageError('-- COMMAND: the exporter serves every drop; trace one command with dropwhy or dropwhy summary');
  return {
    ...checkSession(raw),
    listen: listenAddress(single(raw.listen) ?? EXPORTER_OPTIONS.listen.default),
    maxKeys: maxKeys(raw['max-keys']),
    idleMs: seconds('idle-timeout', single(raw['idle-timeout']) ?? EXPORTER_OPTIONS['idle-timeout'].default)!,
  };
}

/** HOST:PORT, [V6]:PORT or :PORT (every address), as Prometheus exporters take --web.listen-address. */
export function listenAddress(text: string): ListenAddress {
  const accepted = 'HOST:PORT, [IPV6]:PORT or :PORT, e.g. 0.0.0.0:10025';
  const match = /^(?:\[([0-9A-Fa-f:.]+)\]|([A-Za-z0-9.-]*)):(\d{1,5})$/.exec(text);
  const port = match ? Number(match[3]) : NaN;
  // Port 0 lets the kernel choose (the chosen one is printed): for tests and scripts.
  if (!match || !(port >= 0 && port <= 65535)) flagError('listen', accepted, text);
  const host = match[1] ?? match[2];
  return { host: host === '' ? null : host, port };
}

export interface DiagnoseOptions extends Pick<TraceOptions, 'filter' | 'readyFile' | 'logLevel' | 'logFormat' | 'pods'> {
  durationMs: number;
  output: 'text' | 'json';
  maxKeys: number;
}

export function checkDiagnose(raw: RawSummaryArgs): DiagnoseOptions {
  if (raw.command !== undefined) throw new UsageError('-- COMMAND: diagnose reads the counters of a whole namespace; trace one command with dropwhy or dropwhy summary');
  const session = checkSession({ ...raw, duration: single(raw.duration) ?? DIAGNOSE_OPTIONS.duration.default });
  const output = single(raw.output) ?? DIAGNOSE_OPTIONS.output.default;
  if (output !== 'text' && output !== 'json') flagError('output', 'text or json', output);
  return {
    filter: session.filter,
    readyFile: session.readyFile,
    logLevel: session.logLevel,
    logFormat: session.logFormat,
    pods: session.pods,
    durationMs: session.durationMs!,
    output,
    maxKeys: maxKeys(raw['max-keys']),
  };
}

export interface ExplainOptions {
  /** List the kernel's reasons instead of explaining one. */
  list: boolean;
  /** The reason to explain, as typed (checked against the kernel's names by the command); null with --list. */
  reason: string | null;
}

const REASON_EXPECTED = 'explain: expected a reason name such as SOCKET_RCVBUFF';

export function checkExplain(raw: { reason?: string; list?: boolean }): ExplainOptions {
  if (raw.list) return { list: true, reason: null };
  // explain's errors say what to run instead: no --help hint.
  if (!raw.reason) throw new UsageError(`${REASON_EXPECTED}, or --list`, false);
  if (!/^[A-Za-z0-9_:]+$/.test(raw.reason)) throw new UsageError(`${REASON_EXPECTED}, got ${JSON.stringify(raw.reason)}`, false);
  return { list: false, reason: raw.reason };
}

export interface DoctorOptions {
  output: 'text' | 'json';
}

export function checkDoctor(raw: { output?: string }): DoctorOptions {
  const output = raw.output ?? DOCTOR_OPTIONS.output.default;
  if (output !== 'text' && output !== 'json') flagError('output', 'text or json', output);
  return { output };
}

/** The filter as the user gave it, for people: `--filter-port 53`, `'udp'` for the expression. */
export function filterText(filter: FilterSpec): string[] {
  const address = (prefix: AddressPrefix | undefined) => prefix && `${formatAddress(prefix.bytes, prefix.family)}/${prefix.prefixLength}`;
  const given: Array<[unknown, string]> = [
    [filter.proto, '--filter-proto'],
    [filter.port, '--filter-port'],
    [address(filter.srcAddr), '--filter-src-ip'],
    [address(filter.dstAddr), '--filter-dst-ip'],
    [filter.netns, '--filter-netns'],
    [filter.ifname, '--filter-ifname'],
    [filter.reasonNames.join(',') || undefined, '--filter-reason'],
    [filter.excludedReasonNames.join(',') || undefined, '--exclude-reason'],
  ];
  const flags = given.filter(([value]) => value !== undefined).map(([value, flag]) => `${flag} ${value}`);
  return filter.expression === undefined ? flags : [...flags, `'${filter.expression}'`];
}

/** The filters that trace only some of a namespace's drops, as the user gave them: `--filter-port`, `the expression`. */
export function narrowingFilters(filter: FilterSpec): string[] {
  const given: Array<[unknown, string]> = [
    [filter.proto, '--filter-proto'],
    [filter.port, '--filter-port'],
    [filter.srcAddr, '--filter-src-ip'],
    [filter.dstAddr, '--filter-dst-ip'],
    [filter.ifname, '--filter-ifname'],
    [filter.reasonNames.length > 0 || undefined, '--filter-reason'],
    [filter.excludedReasonNames.length > 0 || undefined, '--exclude-reason'],
    [filter.expression, 'the expression'],
  ];
  return given.filter(([value]) => value !== undefined).map(([, name]) => name);
}
