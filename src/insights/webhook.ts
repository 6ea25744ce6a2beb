import { invalidOption } from '../errors.js';

/** The pino methods the sender logs with; a pino logger fits. */
export interface WebhookLogger {
  info(fields: object, message: string): void;
  warn(fields: object, message: string): void;
  error(fields: object, message: string): void;
}

export interface WebhookOptions {
  /** Payloads waiting beyond this are dropped, so a dead receiver cannot eat the memory. */
  maxQueue?: number;
  /** Attempts per payload, the first included. */
  maxAttempts?: number;
  /** Wait before the second attempt; it doubles with each further attempt. */
  initialDelayMs?: number;
  maxDelayMs?: number;
  /** Time allowed for one request, connection included. */
  timeoutMs?: number;
  logger?: WebhookLogger;
}

/**
 * Defaults: 6 attempts over about a minute of backoff (1, 2, 4, 8, 16 s), up to 1000
 * payloads waiting, 10 s per request.
 */
const DEFAULTS = {
  maxQueue: 1000,
  maxAttempts: 6,
  initialDelayMs: 1000,
  maxDelayMs: 60_000,
  timeoutMs: 10_000,
};

/** Drops are logged for the first one and then every this many, so a flood stays readable. */
const DROP_LOG_EVERY = 100;

type Outcome = { ok: true } | { ok: false; retry: boolean; status?: number; error?: string };

const silent: WebhookLogger = { info() {}, warn() {}, error() {} };

/**
 * Sends JSON payloads to a webhook with an HTTP POST each, one at a time in the order given.
 * `send` returns at once, so an ingest or a report never waits for the receiver. A failed
 * attempt (network error, time-out, 408, 429 or 5xx) is retried with exponential backoff
 * and jitter, and a `Retry-After` header is honoured up to the maximum delay. Other 4xx
 * answers are not retried: the request itself is wrong. Every failure is logged with the
 * receiver's origin only, because webhook URLs often carry a secret in the path.
 */
export class WebhookSender {
  readonly stats = { sent: 0, failed: 0, dropped: 0 };
  private readonly options: Required<Omit<WebhookOptions, 'logger'>>;
  private readonly log: WebhookLogger;
  private readonly origin: string;
  private readonly queue: unknown[] = [];
  private draining: Promise<void> | null = null;
  private closed = false;
  private abandoned = false;
  private readonly abandon = new AbortController();
  private wakeUp: (() => void) | null = null;

  constructor(
    private readonly url: string,
    options: WebhookOptions = {},
  ) {
    this.origin = checkWebhookUrl(url).origin;
    const { logger, ...rest } = options;
    this.options = { ...DEFAULTS, ...definedOnly(rest) };
    this.log = logger ?? silent;
  }

  /** Queue a payload and return at once. */
  send(payload: unknown): void {
    if (this.closed || this.queue.length >= this.options.maxQueue) {
      this.drop(this.closed ? 'closed' : 'queue full');
      return;
    }
    this.queue.push(payload);
    this.draining ??= this.drain().finally(() => {
      this.draining = null;
    });
  }

  /** Wait until every queued payload was delivered or given up. */
  async flush(): Promise<void> {
    while (this.draining) await this.draining;
  }

  /**
   * Stop accepting payloads and wait for the queue, for at most `deadlineMs`. What is still
   * queued or being retried then is given up and counted as failed.
   */
  async close(deadlineMs = Infinity): Promise<void> {
    this.closed = true;
    if (!this.draining) return;

    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<void>((resolve) => {
      if (Number.isFinite(deadlineMs)) timer = setTimeout(resolve, deadlineMs);
    });
    await Promise.race([this.flush(), deadline]);
    clearTimeout(timer);
    if (!this.draining) return;

    this.abandoned = true;
    this.abandon.abort();
    this.wakeUp?.();
    await this.flush();
  }

  private async drain(): Promise<void> {
    while (this.queue.length > 0) {
      const payload = this.queue.shift();
      if (this.abandoned) {
        this.stats.failed++;
        continue;
      }
      await this.deliver(JSON.stringify(payload));
    }
  }

  private async deliver(body: string): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      const outcome = await this.post(body);
      if (outcome.ok) {
        this.stats.sent++;
        return;
      }

      const fields = { webhook: this.origin, attempt, status: outcome.status, err: outcome.error };
      if (!outcome.retry || attempt >= this.options.maxAttempts || this.abandoned) {
        this.stats.failed++;
        this.log.error(fields, 'webhook delivery failed, payload dropped');
        return;
      }
      const delayMs = this.backoff(attempt, outcome);
      this.log.warn({ ...fields, delayMs }, 'webhook delivery failed, retrying');
      await this.sleep(delayMs);
    }
  }

  private async post(body: string): Promise<Outcome & { retryAfterMs?: number }> {
    try {
      const response = await fetch(this.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'user-agent': 'smtp-auth-report' },
        body,
        redirect: 'error',
        signal: AbortSignal.any([this.abandon.signal, AbortSignal.timeout(this.options.timeoutMs)]),
      });
      await response.body?.cancel();
      if (response.ok) return { ok: true };

      const status = response.status;
      const retry = status >= 500 || status === 408 || status === 429;
      return { ok: false, retry, status, retryAfterMs: retryAfter(response) };
    } catch (err) {
      return { ok: false, retry: true, error: (err as Error).message };
    }
  }

  /** Exponential backoff with jitter (50% to 100% of the step), or the receiver's Retry-After. */
  private backoff(attempt: number, outcome: { retryAfterMs?: number }): number {
    const { initialDelayMs, maxDelayMs } = this.options;
    if (outcome.retryAfterMs !== undefined) return Math.min(outcome.retryAfterMs, maxDelayMs);

    const step = Math.min(maxDelayMs, initialDelayMs * 2 ** (attempt - 1));
    return Math.round(step * (0.5 + Math.random() / 2));
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.wakeUp = done;
    });
  }

  private drop(reason: string): void {
    this.stats.dropped++;
    if (this.stats.dropped === 1 || this.stats.dropped % DROP_LOG_EVERY === 0) {
      this.log.warn(
        { webhook: this.origin, reason, dropped: this.stats.dropped },
        'webhook payload dropped',
      );
    }
  }
}

/** Check a webhook URL: http or https, nothing else. */
export function checkWebhookUrl(url: string): URL {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw invalidOption('--alert-webhook', url, 'not a URL; use http://HOST/PATH or https://...');
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw invalidOption('--alert-webhook', url, 'only http and https URLs are supported');
  }
  return parsed;
}

/** Read Retry-After in seconds as milliseconds. An HTTP date there is ignored, so the usual backoff applies. */
function retryAfter(response: Response): number | undefined {
  const header = response.headers.get('retry-after');
  if (header === null || !/^\d+$/.test(header.trim())) return undefined;
  return Number(header.trim()) * 1000;
}

function definedOnly<T extends object>(object: T): Partial<T> {
  return Object.fromEntries(Object.entries(object).filter(([, v]) => v !== undefined)) as T;
}
