import { afterEach, describe, expect, it } from 'vitest';

import {
  InsightsMonitor,
  type OpenSignalsAlert,
  type SignalAlert,
} from '../../src/insights/monitor.js';
import { makeSignal, type Severity, type Signal } from '../../src/insights/signal.js';
import { WebhookSender } from '../../src/insights/webhook.js';
import { startReceiver } from './receiver.js';

function spike(account: string, severity: Severity): Signal {
  return makeSignal({
    signal: 'volume-spike',
    severity,
    account,
    clientIp: null,
    firstSeen: '2026-11-28T10:00:00.000Z',
    lastSeen: '2026-11-28T10:09:59.000Z',
    evidence: {},
    explanation: `${account} sent many messages.`,
  });
}

describe('insights monitor', () => {
  const closers: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const close of closers.splice(0)) await close();
  });

  async function setUp(options: { alertExisting?: boolean } = {}) {
    const receiver = await startReceiver([200]);
    closers.push(receiver.close);
    const sender = new WebhookSender(receiver.url, { initialDelayMs: 10 });
    let current: Signal[] = [];
    let computations = 0;
    const monitor = new InsightsMonitor({
      compute: async () => {
        computations++;
        return current;
      },
      sender,
      minSeverity: 'medium',
      debounceMs: 20,
      ...options,
    });
    const alerts = () => receiver.received.map((r) => r.body as SignalAlert);
    return {
      monitor,
      sender,
      alerts,
      set: (signals: Signal[]) => (current = signals),
      computations: () => computations,
    };
  }

  it('sends new and escalated signals once', async () => {
    const { monitor, sender, alerts, set } = await setUp();
    set([spike('alerts@example.com', 'medium')]);
    await monitor.check();
    await sender.flush();
    expect(alerts()).toEqual([]);

    set([spike('alerts@example.com', 'medium'), spike('billing@example.net', 'high')]);
    await monitor.check();
    set([spike('alerts@example.com', 'high'), spike('billing@example.net', 'high')]);
    await monitor.check();
    await monitor.check();
    await sender.flush();

    expect(alerts().map((a) => [a.event, a.signal.account, a.signal.severity])).toEqual([
      ['new', 'billing@example.net', 'high'],
      ['escalated', 'alerts@example.com', 'high'],
    ]);
  });

  it('sends what is open at start in one request', async () => {
    const { monitor, sender, alerts, set } = await setUp({ alertExisting: true });
    set([
      spike('alerts@example.com', 'medium'),
      spike('billing@example.net', 'high'),
      spike('printer@example.org', 'low'),
    ]);
    await monitor.check();
    await sender.flush();

    const bodies = alerts() as unknown as OpenSignalsAlert[];
    expect(bodies).toHaveLength(1);
    expect(bodies[0].event).toBe('open-signals');
    expect(bodies[0].signals.map((s) => s.account)).toEqual([
      'alerts@example.com',
      'billing@example.net',
    ]);

    set([spike('alerts@example.com', 'medium'), spike('scanner@example.org', 'medium')]);
    await monitor.check();
    await sender.flush();
    expect(
      alerts()
        .slice(1)
        .map((a) => [a.event, a.signal.account]),
    ).toEqual([['new', 'scanner@example.org']]);
  });

  it('skips reviewed signals', async () => {
    const { monitor, sender, alerts, set } = await setUp({ alertExisting: true });
    const reviewed = {
      note: 'known',
      reviewedAt: '2026-12-01T00:00:00.000Z',
      reviewedThrough: null,
    };
    set([{ ...spike('alerts@example.com', 'high'), reviewed }]);
    await monitor.check();
    await sender.flush();
    expect(alerts()).toEqual([]);
  });

  it('computes once for a run of ingested batches', async () => {
    const { monitor, computations } = await setUp();
    for (let i = 0; i < 5; i++) monitor.ingested();
    expect(computations()).toBe(0);

    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(computations()).toBe(1);
    await monitor.stop();
  });
});
