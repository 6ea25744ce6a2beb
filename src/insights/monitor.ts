import { severityRank, type Severity, type Signal } from './signal.js';
import type { WebhookLogger, WebhookSender } from './webhook.js';

export interface MonitorOptions {
  /** Computes the open signals, for example with computeInsights over the default period. */
  compute: () => Promise<Signal[]>;
  sender: WebhookSender;
  /** Signals below this severity are never sent. */
  minSeverity: Severity;
  /** Batches arriving within this time share one computation. */
  debounceMs: number;
  /** Send the signals found by the first computation too; off, they only become known. */
  alertExisting?: boolean;
  logger?: WebhookLogger;
}

/** The body of each webhook request. */
export interface SignalAlert {
  /**
   * `new` for a signal not sent before, `escalated` when its severity rose, `open` from
   * `smtp-auth-report insights --alert-webhook`, which sends every open signal on each run.
   */
  event: 'new' | 'escalated' | 'open';
  signal: Signal;
}

/**
 * Recomputes the signals after ingests and sends the new and escalated ones to a webhook.
 * An ingest calls `ingested()` after each committed batch and goes on at once: the
 * computation runs later, at most once per `debounceMs`, and the sender queues the requests.
 * A signal is sent again only when its severity rises; the ones already sent are kept in
 * memory, so a restart sends nothing for signals open before it unless `alertExisting`.
 */
export class InsightsMonitor {
  private readonly sent = new Map<string, Severity>();
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private pending = false;
  private first = true;

  constructor(private readonly options: MonitorOptions) {}

  /** Note that new events were stored; returns at once. */
  ingested(): void {
    if (this.running) {
      this.pending = true;
      return;
    }
    this.timer ??= setTimeout(() => this.run(), this.options.debounceMs);
  }

  /** Cancel a scheduled computation and wait for one that is running. */
  async stop(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.pending = false;
    await this.running;
  }

  /** Compute now and send; for start-up and for tests. */
  async check(): Promise<void> {
    const signals = await this.options.compute();
    const minRank = severityRank(this.options.minSeverity);
    const alertNow = !this.first || this.options.alertExisting === true;
    this.first = false;

    for (const signal of signals) {
      if (signal.reviewed !== null || severityRank(signal.severity) < minRank) continue;
      const before = this.sent.get(signal.id);
      if (before !== undefined && severityRank(before) >= severityRank(signal.severity)) continue;

      this.sent.set(signal.id, signal.severity);
      const alert: SignalAlert = { event: before === undefined ? 'new' : 'escalated', signal };
      if (alertNow) this.options.sender.send(alert);
    }
  }

  private run(): void {
    this.timer = null;
    this.running = this.check()
      .catch((err: Error) => this.options.logger?.error({ err }, 'insights computation failed'))
      .finally(() => {
        this.running = null;
        if (this.pending) {
          this.pending = false;
          this.ingested();
        }
      });
  }
}
