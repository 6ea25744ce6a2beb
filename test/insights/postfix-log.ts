/**
 * Writes Postfix 3.7 submission logs, line for line as the lab's real Postfix writes them
 * (test/fixtures/postfix/lab-submission.log): a session per login, one or more messages per
 * session, failed logins with the attempted username.
 */

export type TlsVersion = 'TLSv1' | 'TLSv1.1' | 'TLSv1.2' | 'TLSv1.3' | 'none';

const MONTHS = 'Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec'.split(' ');

const CIPHERS: Record<Exclude<TlsVersion, 'none'>, string> = {
  TLSv1: 'ECDHE-RSA-AES256-SHA (256/256 bits)',
  'TLSv1.1': 'ECDHE-RSA-AES256-SHA (256/256 bits)',
  'TLSv1.2': 'ECDHE-RSA-AES256-GCM-SHA384 (256/256 bits)',
  'TLSv1.3':
    'TLS_AES_256_GCM_SHA384 (256/256 bits) key-exchange X25519 server-signature RSA-PSS (2048 bits) server-digest SHA256',
};

export interface Submission {
  /** `2026-11-28T10:00:00Z` or epoch milliseconds. */
  at: string | number;
  account: string;
  clientIp: string;
  /** The envelope sender; the account by default. */
  sender?: string;
  tls?: TlsVersion;
  /** Messages in the session, one second apart. */
  messages?: number;
  service?: string;
}

export interface FailedLogin {
  at: string | number;
  clientIp: string;
  username: string;
  tls?: TlsVersion;
  service?: string;
}

interface LogLine {
  time: number;
  order: number;
  text: string;
}

/** A Postfix log built session by session; `text()` returns its lines in time order. */
export class PostfixLog {
  private readonly lines: LogLine[] = [];
  private nextQueueId = 0x160641;
  private nextPid = 5300;

  constructor(private readonly host = 'mail') {}

  /** Add an authenticated session that submits `messages` messages. */
  submit(session: Submission): this {
    const service = session.service ?? 'postfix/submission/smtpd';
    const pid = this.nextPid++;
    const count = session.messages ?? 1;
    const sender = session.sender ?? session.account;
    let t = toMs(session.at);
    const smtpd = (text: string) => this.add(t, `${service}[${pid}]: ${text}`);

    smtpd(`connect from unknown[${session.clientIp}]`);
    this.tlsLine(smtpd, session.tls ?? 'TLSv1.3', session.clientIp);
    for (let i = 0; i < count; i++) {
      const id = (this.nextQueueId++).toString(16).toUpperCase().padStart(11, '0');
      smtpd(
        `${id}: client=unknown[${session.clientIp}], sasl_method=PLAIN, sasl_username=${session.account}`,
      );
      this.add(t, `postfix/cleanup[5303]: ${id}: message-id=<${id}@mail.example.org>`);
      this.add(t, `postfix/qmgr[5277]: ${id}: from=<${sender}>, size=512, nrcpt=1 (queue active)`);
      this.add(t, `postfix/qmgr[5277]: ${id}: removed`);
      if (i < count - 1) t += 1000;
    }
    const starttls = session.tls === 'none' ? '' : ' starttls=1';
    const commands = 4 + 3 * count + (starttls ? 1 : 0);
    smtpd(
      `disconnect from unknown[${session.clientIp}] ehlo=2${starttls} auth=1 mail=${count} ` +
        `rcpt=${count} data=${count} quit=1 commands=${commands}`,
    );
    return this;
  }

  /** Add a session with one failed login, as a password-guessing client makes them. */
  fail(login: FailedLogin): this {
    const service = login.service ?? 'postfix/submission/smtpd';
    const pid = this.nextPid++;
    const t = toMs(login.at);
    const smtpd = (text: string) => this.add(t, `${service}[${pid}]: ${text}`);

    smtpd(`connect from unknown[${login.clientIp}]`);
    this.tlsLine(smtpd, login.tls ?? 'TLSv1.2', login.clientIp);
    smtpd(
      `warning: unknown[${login.clientIp}]: SASL LOGIN authentication failed: ` +
        `(reason unavailable), sasl_username=${login.username}`,
    );
    const starttls = login.tls === 'none' ? '' : ' starttls=1';
    smtpd(
      `disconnect from unknown[${login.clientIp}] ehlo=2${starttls} auth=0/1 quit=1 ` +
        `commands=${starttls ? 4 : 3}/${starttls ? 5 : 4}`,
    );
    return this;
  }

  text(): string {
    const sorted = [...this.lines].sort((a, b) => a.time - b.time || a.order - b.order);
    return sorted.map((line) => line.text).join('\n') + '\n';
  }

  private tlsLine(smtpd: (text: string) => void, tls: TlsVersion, clientIp: string): void {
    if (tls === 'none') return;
    smtpd(
      `Anonymous TLS connection established from unknown[${clientIp}]: ${tls} with cipher ` +
        CIPHERS[tls],
    );
  }

  private add(time: number, text: string): void {
    this.lines.push({
      time,
      order: this.lines.length,
      text: `${syslogTime(time)} ${this.host} ${text}`,
    });
  }
}

function toMs(at: string | number): number {
  return typeof at === 'number' ? at : Date.parse(at);
}

/** `Nov 28 10:00:01`, with the day padded by a space as syslog writes it. */
function syslogTime(ms: number): string {
  const date = new Date(ms);
  const day = String(date.getUTCDate()).padStart(2, ' ');
  return `${MONTHS[date.getUTCMonth()]} ${day} ${date.toISOString().slice(11, 19)}`;
}

export interface SteadyDay {
  /** YYYY-MM-DD */
  day: string;
  account: string;
  clientIp: string;
  perDay: number;
  /** UTC hours, one session each; the messages are shared out as evenly as they go. */
  hours: number[];
  sender?: string;
  tls?: TlsVersion;
}

/** Add one day of steady traffic: a session at the start of each hour, as from a device on a timer. */
export function steadyDay(log: PostfixLog, day: SteadyDay): void {
  const { hours, perDay } = day;
  hours.forEach((hour, index) => {
    const messages = Math.floor(perDay / hours.length) + (index < perDay % hours.length ? 1 : 0);
    if (messages === 0) return;
    log.submit({
      at: `${day.day}T${String(hour).padStart(2, '0')}:00:00Z`,
      account: day.account,
      clientIp: day.clientIp,
      sender: day.sender,
      tls: day.tls,
      messages,
    });
  });
}

/** List the dates from `from` to `to`, inclusive. */
export function days(from: string, to: string): string[] {
  const out: string[] = [];
  for (let t = Date.parse(from); t <= Date.parse(to); t += 86_400_000) {
    out.push(new Date(t).toISOString().slice(0, 10));
  }
  return out;
}
