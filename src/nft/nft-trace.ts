// --nft-trace for one tracing run: sweep tables left by killed runs, add this
// run's table, read the trace, and remove the table on every way out (stop(),
// or the process exit handler when something bypassed it).
import type { DropFilter } from '../events/filter';
import type { Logger } from '../log';
import { NamespaceCommands, traceRuleset, traceTableName, type TraceMonitor } from './table';
import { TraceParser, type TraceDrop } from './trace-parse';

export interface NftTraceIo {
  writeErr(line: string): void;
  logger: Logger;
}

export class NftTrace {
  private monitor: TraceMonitor | null = null;
  private tableAdded = false;
  private readonly table = traceTableName(process.pid);
  private readonly onProcessExit = () => this.removeTableSync();

  private constructor(
    private readonly commands: NamespaceCommands,
    private readonly io: NftTraceIo,
  ) {}

  /**
   * Adds the table and starts reading the trace; onVerdict gets each drop
   * verdict, onFailure the reason if nft monitor ends by itself. Everything
   * made is removed again when starting fails.
   */
  static async start(
    filter: DropFilter,
    netnsPath: string | null,
    io: NftTraceIo,
    onVerdict: (drop: TraceDrop) => void,
    onFailure: (error: Error) => void,
  ): Promise<NftTrace> {
    const trace = new NftTrace(new NamespaceCommands(netnsPath), io);
    try {
      await trace.sweep();
      if (await trace.commands.usesIptablesLegacy()) {
        io.writeErr('dropwhy: --nft-trace: this namespace has iptables-legacy rules; their drops show no rule (only nftables and iptables-nft are traced)');
      }
      process.on('exit', trace.onProcessExit);
      trace.tableAdded = true; // before nft runs: a signal while it runs must not leave the table
      await trace.commands.nft(['-f', '-'], traceRuleset(process.pid, filter));
      const parser = new TraceParser();
      trace.monitor = await trace.commands.monitor(
        (line) => {
          const drop = parser.line(line);
          if (drop) onVerdict(drop);
        },
        (why) => onFailure(new Error(`--nft-trace: ${why}`)),
      );
      io.logger.info({ table: `inet ${trace.table}`, netns: netnsPath }, 'nftables trace started');
      return trace;
    } catch (error) {
      await trace.stop();
      throw error;
    }
  }

  /** Stops reading the trace and removes the table. */
  async stop(): Promise<void> {
    await this.monitor?.stop();
    this.monitor = null;
    if (this.tableAdded) {
      try {
        await this.commands.deleteTable(this.table);
      } catch (error) {
        // Not there (nft failed before adding it): fine; anything else is worth saying.
        if (!/No such file or directory/.test((error as Error).message)) {
          this.io.writeErr(`dropwhy: cannot remove nftables table inet ${this.table}: ${(error as Error).message}`);
        }
      }
      this.tableAdded = false;
    }
    process.off('exit', this.onProcessExit);
  }

  /** Tables of runs that were killed (SIGKILL leaves no chance to clean up). */
  private async sweep(): Promise<void> {
    for (const table of await this.commands.staleTables()) {
      await this.commands.deleteTable(table);
      this.io.writeErr(`dropwhy: removed nftables table inet ${table} left by a run that was killed`);
    }
  }

  private removeTableSync(): void {
    if (!this.tableAdded) return;
    try {
      this.commands.nftSync(['delete', 'table', 'inet', this.table]);
    } catch {
      // the next run's sweep removes it
    }
  }
}
