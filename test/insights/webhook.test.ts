import { afterEach, describe, expect, it } from 'vitest';

import { WebhookSender, type WebhookLogger } from '../../src/insights/webhook.js';
import { startReceiver } from './receiver.js';

/** Collects log calls, so tests can check what was logged. */
function memoryLogger() {
  const lines: { level: string; fields: Record<string, unknown>; message: string }[] = [];
  const at =
    (level: string) =>
    (fields: object, message: string): void => {
      lines.push({ level, fields: fields as Record<string, unknown>, message });
    };
  const logger: WebhookLogger = { info: at('info'), warn: at('warn'), error: at('error') };
  return { logger, lines };
}

const FAST = { initialDelayMs: 10, maxDelayMs: 50, timeoutMs: 2000 };

describe('webhook sender', () => {
  const closers: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const close of closers.splice(0)) await close();
  });

  it('retries until the receiver accepts', async () => {
    const receiver = await startReceiver([503, 502, 200]);
    closers.push(receiver.close);
    const { logger, lines } = memoryLogger();
    const sender = new WebhookSender(receiver.url, { ...FAST, logger });

    sender.send({ signal: 'volume-spike', account: 'alerts@example.com' });
    await sender.flush();

    expect(receiver.received).toHaveLength(3);
    expect(receiver.received[2]).toEqual({
      method: 'POST',
      contentType: 'application/json',
      body: { signal: 'volume-spike', account: 'alerts@example.com' },
    });
    expect(sender.stats).toEqual({ sent: 1, failed: 0, dropped: 0 });
    expect(lines.map((l) => [l.level, l.message, l.fields.status])).toEqual([
      ['warn', 'webhook delivery failed, retrying', 503],
      ['warn', 'webhook delivery failed, retrying', 502],
    ]);
  });

  it('returns before the receiver answers', async () => {
    const receiver = await startReceiver([200]);
    closers.push(receiver.close);
    const sender = new WebhookSender(receiver.url, FAST);

    sender.send({ n: 1 });
    sender.send({ n: 2 });
    expect(receiver.received).toHaveLength(0);

    await sender.flush();
    expect(receiver.received.map((r) => r.body)).toEqual([{ n: 1 }, { n: 2 }]);
  });

  it('gives up after the last attempt', async () => {
    const receiver = await startReceiver([500]);
    closers.push(receiver.close);
    const { logger, lines } = memoryLogger();
    const sender = new WebhookSender(receiver.url, { ...FAST, maxAttempts: 3, logger });

    sender.send({ n: 1 });
    await sender.flush();

    expect(receiver.received).toHaveLength(3);
    expect(sender.stats).toEqual({ sent: 0, failed: 1, dropped: 0 });
    expect(lines[lines.length - 1]).toMatchObject({
      level: 'error',
      message: 'webhook delivery failed, payload dropped',
      fields: { attempt: 3, status: 500 },
    });
  });

  it('does not retry a rejected request', async () => {
    const receiver = await startReceiver([400, 200]);
    closers.push(receiver.close);
    const sender = new WebhookSender(receiver.url, FAST);

    sender.send({ n: 1 });
    await sender.flush();

    expect(receiver.received).toHaveLength(1);
    expect(sender.stats.failed).toBe(1);
  });

  it('logs the origin but never the path', async () => {
    const receiver = await startReceiver([503, 200]);
    closers.push(receiver.close);
    const { logger, lines } = memoryLogger();
    const sender = new WebhookSender(`${receiver.url}/T0KEN-SECRET`, { ...FAST, logger });

    sender.send({ n: 1 });
    await sender.flush();

    expect(lines[0].fields.webhook).toBe(new URL(receiver.url).origin);
    expect(JSON.stringify(lines)).not.toContain('T0KEN-SECRET');
  });

  it('drops payloads beyond the queue bound', async () => {
    const receiver = await startReceiver([200]);
    closers.push(receiver.close);
    const { logger, lines } = memoryLogger();
    const sender = new WebhookSender(receiver.url, { ...FAST, maxQueue: 2, logger });

    // The first is taken off the queue at once, so two more fit and the fourth is dropped.
    for (let n = 1; n <= 4; n++) sender.send({ n });
    await sender.flush();

    expect(receiver.received.map((r) => r.body)).toEqual([{ n: 1 }, { n: 2 }, { n: 3 }]);
    expect(sender.stats).toEqual({ sent: 3, failed: 0, dropped: 1 });
    expect(lines).toMatchObject([{ level: 'warn', message: 'webhook payload dropped' }]);
  });

  it('gives up what is left at the close deadline', async () => {
    const receiver = await startReceiver([503]);
    closers.push(receiver.close);
    const sender = new WebhookSender(receiver.url, {
      initialDelayMs: 60_000,
      maxDelayMs: 60_000,
      timeoutMs: 2000,
    });

    sender.send({ n: 1 });
    sender.send({ n: 2 });
    const started = Date.now();
    await sender.close(200);

    expect(Date.now() - started).toBeLessThan(5000);
    expect(sender.stats).toEqual({ sent: 0, failed: 2, dropped: 0 });
    sender.send({ n: 3 });
    expect(sender.stats.dropped).toBe(1);
  });

  it('retries when nothing listens', async () => {
    const receiver = await startReceiver([200]);
    await receiver.close();
    const sender = new WebhookSender(receiver.url, { ...FAST, maxAttempts: 2 });

    sender.send({ n: 1 });
    await sender.flush();
    expect(sender.stats).toEqual({ sent: 0, failed: 1, dropped: 0 });
  });

  it('rejects a URL that is not http or https', () => {
    expect(() => new WebhookSender('file:///etc/passwd')).toThrow(
      /only http and https URLs are supported/,
    );
    expect(() => new WebhookSender('not a url')).toThrow(/not a URL/);
  });
});
