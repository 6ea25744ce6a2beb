/**
 * A simulated Postfix server (postscreen, smtpd on ports 25, 587 and 465, cleanup, qmgr and the
 * delivery agents, with Dovecot beside it) that plans each session or delivery attempt when it
 * starts and queues its lines in a `Schedule`. The planners live in port25.ts, smtp-auth.ts and
 * delivery.ts.
 */
import { planPickup, type Recipient } from './delivery.js';
import { Account, Population, SERVER_IP } from './population.js';
import { planInbound, planLostConnection, planRejected } from './port25.js';
import { ClassicTimestamp } from './postfix-text.js';
import { Random } from './random.js';
import {
  DAY,
  Entry,
  MINUTE,
  PidAllocator,
  ProcessPool,
  QueueIds,
  SECOND,
  Schedule,
} from './schedule.js';
import { BRUTE_FORCE_NAMES, planSubmission, startCampaign } from './smtp-auth.js';

export interface SimulationOptions {
  startMs: number;
  /** Exact number of lines to write. */
  lineLimit: number;
  /** Multiplies every arrival rate; chosen so that the log spans the wanted number of days. */
  rateScale: number;
  /** Expected span, used only to place the one `postfix reload` in the log. */
  spanDays: number;
}

const EXTERNAL_LOCAL_PARTS =
  'info orders j.smith contact hello m.jones team a.lee service billing k.brown news'.split(' ');

export class MailServer {
  readonly schedule = new Schedule();
  emittedLines = 0;
  sessions = 0;
  closed = false;

  readonly pids = new PidAllocator(1800);
  private readonly pools = new Map<string, ProcessPool>();
  readonly queueIds: QueueIds;
  private readonly masterPid: number;
  readonly postscreenPid: number;
  readonly pickupPid: number;
  qmgrPid: number;
  private anvilPid: number;
  lastPort25Client = '203.0.113.9';
  lastSubmissionClient = '198.51.100.7';
  private lastTime = 0;
  private readonly anvilTimestamp = new ClassicTimestamp();

  constructor(
    readonly random: Random,
    readonly population: Population,
    private readonly options: SimulationOptions,
  ) {
    this.queueIds = new QueueIds(random.int(1, 0x7fffffff));
    this.masterPid = this.pids.allocate();
    this.qmgrPid = this.pids.allocate();
    this.postscreenPid = this.pids.allocate();
    this.pickupPid = this.pids.allocate();
    this.anvilPid = this.pids.allocate();
  }

  /** Starts the arrival processes. Rates are per second before `rateScale`. */
  start(): void {
    const start = this.options.startMs;
    this.arrivals(start, 0.3, inboundWeight, (t) => planInbound(this, t));
    this.arrivals(start, 0.3, flatWeight, (t) => planRejected(this, t));
    this.arrivals(start, 0.07, flatWeight, (t) => planLostConnection(this, t));
    this.arrivals(start, 0.3, officeWeight, (t) => planSubmission(this, t));
    this.arrivals(start, 0.0012, flatWeight, (t) => startCampaign(this, t));
    this.arrivals(start, 0.015, flatWeight, (t) => planPickup(this, t));
    this.arrivals(start, 0.12, officeWeight, (t) => this.planImap(t));
    this.schedule.at(start + 10 * MINUTE, () => this.logAnvilStatistics(start + 10 * MINUTE));
    this.schedule.at(start + this.options.spanDays * 0.4 * DAY, () =>
      this.reload(start + this.options.spanDays * 0.4 * DAY),
    );
  }

  /**
   * Returns the next line in time order, running due actions on the way. After the planned
   * lines run out it pads with single IMAP login lines to exactly `lineLimit`, then returns null.
   */
  nextEntry(): Entry | null {
    for (;;) {
      const entry = this.schedule.pop();
      if (entry === undefined) break;
      if (entry.action !== null) {
        entry.action();
        continue;
      }
      this.lastTime = entry.time;
      this.emittedLines++;
      return entry;
    }

    if (this.emittedLines >= this.options.lineLimit) return null;
    this.lastTime += this.random.int(200, 4000);
    this.emittedLines++;
    const text = this.imapLoginText(this.population.accountPicker.pick(this.random));
    return { time: this.lastTime, seq: 0, text, tally: null, action: null };
  }

  /** Poisson arrivals thinned by a weight in [0, 1] that follows office hours or the week. */
  private arrivals(
    from: number,
    ratePerSecond: number,
    weight: (time: number) => number,
    plan: (time: number) => void,
  ): void {
    const meanGapMs = SECOND / (ratePerSecond * this.options.rateScale);
    const next = (time: number): void => {
      if (this.closed) return;
      const at = time + Math.max(1, Math.round(this.random.exponential(meanGapMs)));
      this.schedule.at(at, () => {
        if (this.closed) return;
        if (this.random.next() < weight(at)) plan(at);
        next(at);
      });
    };
    next(from);
  }

  /** Queues the staged plan if it fits in the line limit; stops all arrivals once nearly full. */
  commit(): boolean {
    const capacity = this.options.lineLimit - this.emittedLines - this.schedule.pendingLines;
    if (this.schedule.stagedLines > capacity) {
      this.schedule.discard();
      if (capacity < 64) this.closed = true;
      return false;
    }
    this.schedule.commit();
    this.sessions++;
    return true;
  }

  pool(program: string): ProcessPool {
    let pool = this.pools.get(program);
    if (pool === undefined) {
      pool = new ProcessPool(this.pids);
      this.pools.set(program, pool);
    }
    return pool;
  }

  stage(time: number, text: string): void {
    this.schedule.stage(time, text);
  }

  // Background lines ------------------------------------------------------------------------

  private planImap(start: number): void {
    if (this.random.chance(0.12)) {
      const attacker = this.random.pick(this.population.attackers);
      const attempts = this.random.int(1, 3);
      this.stage(
        start,
        `dovecot: imap-login: Disconnected: Connection closed (auth failed, ${attempts} attempts in ${attempts * 2 + 1} secs): user=<${this.random.pick(BRUTE_FORCE_NAMES)}>, method=PLAIN, rip=${attacker.clientIp}, lip=${SERVER_IP}, TLS, session=<${this.random.hex(16)}>`,
      );
      this.commit();
      return;
    }

    const account = this.population.accountPicker.pick(this.random);
    this.stage(start, this.imapLoginText(account));
    const end = start + this.random.int(2 * SECOND, 20 * MINUTE);
    this.stage(
      end,
      `dovecot: imap(${account.login})<${this.random.int(20000, 60000)}><${this.random.hex(16)}>: Logged out in=${this.random.int(50, 5000)} out=${this.random.int(500, 900000)} deleted=0 expunged=0 trashed=0 hdr_count=0 hdr_bytes=0 body_count=0 body_bytes=0`,
    );
    this.commit();
  }

  private imapLoginText(account: Account): string {
    const device = account.devicePicker.pick(this.random);
    return `dovecot: imap-login: Login: user=<${account.login}>, method=PLAIN, rip=${device.clientIp}, lip=${SERVER_IP}, mpid=${this.random.int(20000, 60000)}, TLS, session=<${this.random.hex(16)}>`;
  }

  /** anvil's statistics every `anvil_status_update_time` (600 s) while clients connect. */
  private logAnvilStatistics(t: number): void {
    if (this.closed) return;
    const stamp = this.anvilTimestamp.format(t - this.random.int(1, 590) * SECOND);
    const program = `postfix/anvil[${this.anvilPid}]`;
    this.stage(
      t,
      `${program}: statistics: max connection rate ${this.random.int(1, 12)}/60s for (smtp:${this.lastPort25Client}) at ${stamp}`,
    );
    this.stage(
      t,
      `${program}: statistics: max connection count ${this.random.int(1, 4)} for (submission:${this.lastSubmissionClient}) at ${stamp}`,
    );
    this.stage(t, `${program}: statistics: max cache size ${this.random.int(1, 30)} at ${stamp}`);
    this.commit();
    if (this.random.chance(0.05)) this.anvilPid = this.pids.allocate();
    this.schedule.at(t + 10 * MINUTE, () => this.logAnvilStatistics(t + 10 * MINUTE));
  }

  /** `postfix reload`: master logs it and qmgr restarts with a new pid. */
  private reload(t: number): void {
    if (this.closed) return;
    this.stage(
      t,
      `postfix/postfix-script[${this.pids.allocate()}]: refreshing the Postfix mail system`,
    );
    this.stage(
      t,
      `postfix/master[${this.masterPid}]: reload -- version 3.7.11, configuration /etc/postfix`,
    );
    this.commit();
    this.qmgrPid = this.pids.allocate();
  }

  // Addresses -------------------------------------------------------------------------------

  hostedRecipients(count: number): Recipient[] {
    const recipients = new Map<string, Recipient>();
    while (recipients.size < count) {
      const address = this.random.pick(this.population.mailboxes).address;
      recipients.set(address, { address, external: null });
    }
    return [...recipients.values()];
  }

  submissionRecipients(count: number, sender: Account): Recipient[] {
    const recipients = new Map<string, Recipient>();
    while (recipients.size < count) {
      const recipient = this.random.chance(0.3)
        ? { address: this.random.pick(this.population.mailboxes).address, external: null }
        : this.externalRecipient();
      if (recipient.address !== sender.address) recipients.set(recipient.address, recipient);
    }
    return [...recipients.values()];
  }

  externalRecipient(): Recipient {
    const domain = this.random.pick(this.population.externalDomains);
    return {
      address: `${this.externalLocalPart()}@${domain.name}`,
      external: { domain: domain.name, mxName: domain.mxName, mxIp: domain.mxIp },
    };
  }

  externalLocalPart(): string {
    return this.random.pick(EXTERNAL_LOCAL_PARTS);
  }
}

/** Office hours in UTC on weekdays; 30 % of that at weekends. */
function officeWeight(timeMs: number): number {
  const date = new Date(timeMs);
  const hour = date.getUTCHours();
  const weekday = date.getUTCDay();
  let hourly = 0.12;
  if (hour >= 7 && hour < 18) hourly = 1;
  else if (hour >= 18 && hour < 23) hourly = 0.45;
  return weekday === 0 || weekday === 6 ? hourly * 0.3 : hourly;
}

function inboundWeight(timeMs: number): number {
  const date = new Date(timeMs);
  const hour = date.getUTCHours();
  const weekday = date.getUTCDay();
  const hourly = hour >= 7 && hour < 19 ? 1 : 0.55;
  return weekday === 0 || weekday === 6 ? hourly * 0.8 : hourly;
}

function flatWeight(): number {
  return 1;
}
