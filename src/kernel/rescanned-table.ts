// A table that a slow scan fills (a directory listing, a walk of /proc), looked up for every drop without
// waiting: what the pods of Kubernetes are read through (pod-logs.ts, netns-pods.ts).

/** Lookups between looks at the clock (to renew an old scan): the clock costs more than the lookup. */
const LOOKUPS_PER_AGE_CHECK = 256;

/**
 * Key → value; a lookup never waits. A key the last scan lacks starts one scan in the background, at
 * most one per rescanMs; so does a scan older than maxAgeMs (for keys that can come to mean something
 * else), noticed within LOOKUPS_PER_AGE_CHECK lookups. Each scan replaces the last, so keys that are
 * gone leave with it. Until a scan is back the lookup answers with what is known, else null.
 */
export class RescannedTable<K, V> {
  private table = new Map<K, V>();
  private scannedMs = -Infinity;
  private scanning: Promise<void> | null = null;
  private lookups = 0;
  private failed = false;

  /** onError hears of the first failed scan (later ones would repeat it every rescanMs). */
  constructor(
    private readonly scan: () => Promise<Map<K, V>>,
    private readonly onError: (error: unknown) => void,
    private readonly nowMs: () => number,
    private readonly rescanMs: number,
    private readonly maxAgeMs = Number.POSITIVE_INFINITY,
  ) {}

  /** The value of this key; null for none, or while unknown. */
  protected lookup(key: K): V | null {
    const known = this.table.get(key);
    if (this.maxAgeMs !== Number.POSITIVE_INFINITY && ++this.lookups >= LOOKUPS_PER_AGE_CHECK) {
      this.lookups = 0;
      if (this.scanning === null && this.nowMs() - this.scannedMs >= this.maxAgeMs) void this.load();
    }
    if (known !== undefined) return known;
    if (this.scanning === null && this.nowMs() - this.scannedMs >= this.rescanMs) void this.load();
    return null;
  }

  /** Whether a scan newer than rescanMs is known, or the last one saw each of these keys and is not older than maxAgeMs. */
  settled(keys: Iterable<K>): boolean {
    const age = this.nowMs() - this.scannedMs;
    if (age < this.rescanMs) return true;
    if (age >= this.maxAgeMs) return false;
    for (const key of keys) if (!this.table.has(key)) return false;
    return true;
  }

  /** Scans now (unless a scan is under way) and resolves once it is known. */
  load(): Promise<void> {
    this.scanning ??= this.scan()
      .then(
        (table) => {
          this.table = table;
        },
        (error: unknown) => {
          if (this.failed) return;
          this.failed = true;
          this.onError(error);
        },
      )
      .finally(() => {
        this.scannedMs = this.nowMs();
        this.scanning = null;
      });
    return this.scanning;
  }
}
