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
  /**
   * Send the signals found by the first computation too, as one `open-signals` request;
   * off, they only become known.
   */
  alertExisting?: boolean;
  logger?: WebhookLogger;
}

/** The body of a webhook request about one signal. */
export interface SignalAlert {
  /**
   * `new` for a signal not sent before, `escalated` when its severity rose, `open` from
   * `smtp-auth-report insights --alert-webhook`, which sends every open signal on each run.
   */
  event: 'new' | 'escalated' | 'open';
  signal: Signal;
}

/** The one request of the first computation with `alertExisting`: every open signal. */
export interface OpenSignalsAlert {
  event: 'open-signals';
  signals: Signal[];
}

/**
 * Recomputes the signals after ingests and sends the new and escalated ones to a webhook.
 * An ingest calls `ingested()` after each committed batch and goes on at once: the
 * computation runs later, at most once per `debounceMs`, and the sender queues the requests.
 * A signal is sent again only when its severity rises; the ones already sent are kept in
 * memory, so a restart sends nothing for signals open before it unless `alertExisting`, which
 * sends them all in one request, so that a receiver is not flooded at every restart.
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

  /** Compute at once, without the debounce, unless a computation is running; returns at once. */
  computeNow(): void {
    if (this.running) {
      this.pending = true;
      return;
    }
    if (this.timer) clearTimeout(this.timer);
    this.run();
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
    const alerts = this.changed(signals);
    const first = this.first;
    this.first = false;

    if (!first) {
      for (const alert of alerts) this.options.sender.send(alert);
      return;
    }
    if (this.options.alertExisting === true && alerts.length > 0) {
      const opened: OpenSignalsAlert = {
        event: 'open-signals',
        signals: alerts.map((a) => a.signal),
      };
      this.options.sender.send(opened);
    }
  }

  /** Select the open signals at or above the minimum that are new or more severe than when sent. */
  private changed(signals: Signal[]): SignalAlert[] {
    const minRank = severityRank(this.options.minSeverity);
    const alerts: SignalAlert[] = [];
    for (const signal of signals) {
      if (signal.reviewed !== null || severityRank(signal.severity) < minRank) continue;
      const before = this.sent.get(signal.id);
      if (before !== undefined && severityRank(before) >= severityRank(signal.severity)) continue;

      this.sent.set(signal.id, signal.severity);
      alerts.push({ event: before === undefined ? 'new' : 'escalated', signal });
    }
    return alerts;
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
