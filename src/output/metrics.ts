// What `dropwhy exporter` serves: the kernel's drop counts as Prometheus
// counters, read from the count map when Prometheus scrapes (prom-client's
// collect()), not per drop.
import { Counter, Gauge, Registry, type OpenMetricsContentType } from 'prom-client';
import { familyName } from '../events/address';
import { decodeCounts, recordKey, type DropCount } from '../events/counts';
import { formatKernelAddress } from '../events/decode';
import type { ReasonTable } from '../events/reasons';
import type { NativeTracer } from '../kernel/binding';
import type { Pods } from '../kernel/pods';
import { protocolName } from '../events/protocols';
import type { Symbolizer } from './format';

export const DROP_LABELS = ['reason', 'function', 'proto', 'family', 'netns'] as const;
/** In Kubernetes: the pod living in the drop's network namespace. */
export const POD_LABELS = ['namespace', 'pod'] as const;
type DropLabels = Record<(typeof DROP_LABELS)[number], string> & Partial<Record<(typeof POD_LABELS)[number], string>>;

/** The tracer's count-mode side: the map of counts and the program's counters. */
export type CountSource = Pick<NativeTracer, 'dropCounts' | 'deleteDropCounts' | 'counters'>;

export interface DropMetricsOptions {
  reasons: ReasonTable;
  /** false on kernels whose tracepoint reports no reason (Linux < 5.17): the reason label is empty. */
  hasReason: boolean;
  symbols: Symbolizer;
  version: string;
  kernel: string;
  /**
   * A series with no new drops for this long leaves /metrics, and its kernel
   * keys leave the count map so that namespaces and call sites that come and
   * go do not fill it. Its total is kept: if it comes back it goes on from there.
   */
  idleMs: number;
  /** In Kubernetes: the series get the namespace and pod labels. */
  pods?: Pick<Pods, 'ofNetns' | 'refresh'>;
  now?: () => number;
}

interface Series {
  labels: DropLabels;
  value: number;
  changedAt: number;
}

/** One key of the kernel's map, as last read. */
interface KernelKey {
  count: number;
  changedAt: number;
  series: Series;
}

/** The name of a drop location's function: the symbol without its +0x offset, so the label's values stay few. */
export function functionName(symbol: string | null, address: string): string {
  if (symbol === null) return address;
  const plus = symbol.indexOf('+');
  return plus < 0 ? symbol : symbol.slice(0, plus);
}

export class DropMetrics {
  /** The Prometheus text format, and the same metrics as OpenMetrics for scrapers that ask for it. */
  readonly text = new Registry();
  readonly openMetrics = new Registry<OpenMetricsContentType>();
  private source: CountSource | null = null;
  private readonly series = new Map<string, Series>();
  private readonly kernelKeys = new Map<string, KernelKey>();
  private readonly now: () => number;
  private readonly labelNames: readonly string[];
  private updating: Promise<void> = Promise.resolve();

  constructor(private readonly options: DropMetricsOptions) {
    this.now = options.now ?? Date.now;
    this.labelNames = options.pods ? [...DROP_LABELS, ...POD_LABELS] : DROP_LABELS;
    this.openMetrics.setContentType(Registry.OPENMETRICS_CONTENT_TYPE);
    // Each metric is in both; the types bind a registry to one format.
    const registers = [this.text, this.openMetrics] as Registry[];
    const metrics = this;
    new Counter({
      name: 'dropwhy_drops_total',
      help: `Packets the kernel dropped (skb:kfree_skb), by drop reason, function of the drop location, protocol, family and network namespace inode${options.pods ? ', and the namespace and name of the pod living in that namespace' : ''}`,
      labelNames: this.labelNames,
      registers,
      async collect() {
        const series = await metrics.readSeries();
        this.reset();
        for (const { labels, value } of series) this.inc(labels, value);
      },
    });
    new Counter({
      name: 'dropwhy_drops_uncounted_total',
      help: 'Matching drops not counted per label set because the kernel count map was full (raise --max-keys)',
      registers,
      collect() {
        this.reset();
        this.inc(metrics.source?.counters().overflow ?? 0);
      },
    });
    new Counter({
      name: 'dropwhy_kfree_skb_seen_total',
      help: 'Every skb:kfree_skb the BPF program ran for, before filtering',
      registers,
      collect() {
        this.reset();
        this.inc(metrics.source?.counters().seen ?? 0);
      },
    });
    new Gauge({
      name: 'dropwhy_build_info',
      help: 'dropwhy version and the kernel it runs on',
      labelNames: ['version', 'kernel'],
      registers,
    }).set({ version: options.version, kernel: options.kernel }, 1);
    processMetrics(registers);
  }

  /** Scrapes read this tracer's counts from now on. */
  attach(source: CountSource): void {
    this.source = source;
  }

  /** The registry for a scrape's Accept header: OpenMetrics when the scraper asks for it. */
  registryFor(accept: string | undefined): Registry | Registry<OpenMetricsContentType> {
    return accept?.includes('application/openmetrics-text') ? this.openMetrics : this.text;
  }

  /** Reads the kernel's counts, adds what is new to each series and frees idle keys; the series to expose. */
  private async readSeries(): Promise<Series[]> {
    // Scrapes at the same time update one after the other: each adds what is new since the last one's counts.
    const updated = this.updating.then(() => (this.source ? this.update(this.source) : undefined));
    this.updating = updated.catch(() => {});
    await updated;
    const now = this.now();
    return [...this.series.values()].filter((s) => now - s.changedAt < this.options.idleMs);
  }

  private async update(source: CountSource): Promise<void> {
    const records = source.dropCounts();
    const counts = decodeCounts(records, this.options.hasReason);
    // The pods of the namespaces that dropped, known before their series are chosen: a scrape may wait for them.
    await this.options.pods?.refresh([...new Set(counts.flatMap(({ netns }) => (netns === null ? [] : [netns])))]);
    const now = this.now();
    const idle: Uint8Array[] = [];
    counts.forEach((count, index) => {
      const keyBytes = recordKey(records, index);
      const id = Buffer.from(keyBytes.buffer, keyBytes.byteOffset, keyBytes.byteLength).toString('latin1');
      let key = this.kernelKeys.get(id);
      if (!key) this.kernelKeys.set(id, (key = { count: 0, changedAt: now, series: this.seriesFor(count) }));
      // What is new goes to the namespace's pod as it is now: one named since, or a new pod in a reused namespace inode.
      else if (this.options.pods && count.count !== key.count) key.series = this.seriesFor(count);
      if (count.count !== key.count) {
        // A count below the last one is a key the kernel created anew: all of it is new.
        key.series.value += count.count > key.count ? count.count - key.count : count.count;
        key.series.changedAt = now;
        key.count = count.count;
        key.changedAt = now;
      } else if (now - key.changedAt >= this.options.idleMs) {
        idle.push(keyBytes);
        this.kernelKeys.delete(id);
      }
    });
    if (idle.length > 0) source.deleteDropCounts(Buffer.concat(idle));
  }

  private seriesFor(count: DropCount): Series {
    const labels: DropLabels = {
      reason: count.reason === null ? '' : this.options.reasons.decode(count.reason).name,
      function: functionName(this.options.symbols.symbolize(count.location), formatKernelAddress(count.location)),
      proto: protocolName(count.l4Proto, 0) ?? '',
      family: familyName(count.family) ?? '',
      netns: count.netns === null ? '' : String(count.netns),
    };
    if (this.options.pods) {
      const pod = this.options.pods.ofNetns(count.netns);
      labels.namespace = pod?.namespace ?? '';
      labels.pod = pod?.name ?? '';
    }
    const id = this.labelNames.map((name) => labels[name as keyof DropLabels]).join('\0');
    let series = this.series.get(id);
    if (!series) this.series.set(id, (series = { labels, value: 0, changedAt: this.now() }));
    return series;
  }
}

/**
 * The process metrics every exporter has (memory, CPU, start time), so a
 * DaemonSet's own cost shows beside the drops. Not prom-client's default
 * set: its nodejs_*_total gauges fail promtool's lint.
 */
function processMetrics(registers: Registry[]): void {
  const startSeconds = Math.round(Date.now() / 1000 - process.uptime());
  new Gauge({
    name: 'process_resident_memory_bytes',
    help: 'Resident memory size in bytes',
    registers,
    collect() {
      this.set(process.memoryUsage.rss());
    },
  });
  new Counter({
    name: 'process_cpu_seconds_total',
    help: 'Total user and system CPU time spent in seconds',
    registers,
    collect() {
      const { user, system } = process.cpuUsage();
      this.reset();
      this.inc((user + system) / 1e6);
    },
  });
  new Gauge({ name: 'process_start_time_seconds', help: 'Start time of the process since the Unix epoch in seconds', registers }).set(startSeconds);
}
