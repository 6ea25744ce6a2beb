/**
 * Turns an Exim main log into SubmittedMessage and AuthFailure events.
 *
 * When a message counts: the arrival line `<=` with `P=esmtpa` or `P=esmtpsa` is Exim's
 * acceptance into the queue. It carries the login (`A=`), the client and the TLS version of
 * the session (`X=`), so every fact but the recipients is known there. The message counts
 * once, at the arrival's time, even if its deliveries never finish.
 *
 * Recipients: with `log_selector = +received_recipients` the arrival line ends with the
 * envelope recipients, and the message is emitted at once with the unique ones. Otherwise
 * the recipients are the unique envelope recipients of the delivery lines that ended an
 * address: `=>`, `->`, `>>`, `*>` and failures `**`. A deferral `==` ends nothing, because
 * the address is logged again when it is delivered or fails. The message is emitted at its
 * `Completed` line, which Exim writes once every address has ended, so that count is exact.
 * A message whose `Completed` line does not come within a week of log time (frozen, or the
 * log stops) is emitted then with the recipients seen so far. Lines of one message split
 * across files or runs are carried over in the snapshot.
 *
 * Failed logins: `authenticator failed for` lines have no TLS field. With `log_selector = +pid`
 * the pid is the session key (Exim forks one process per connection): the failure waits for
 * a later line of its session that shows the TLS state, the session's arrival or its
 * `no MAIL` line (`+smtp_no_mail`), because TLS, once started, lasts the session. A failure
 * whose session shows none is emitted with TLS `unknown`, as is every failure of a log
 * without pids.
 */
import type { AuthFailure, SubmittedMessage } from '../events.js';
import type {
  CorrelatorOptions,
  EmitEvent,
  FileCorrelator,
  LineOutcome,
} from '../formats/correlator.js';
import type { Arrival } from '../parsers/exim/arrival.js';
import { isFinalDelivery, recipientOfDelivery } from '../parsers/exim/delivery.js';
import type { SessionTls } from '../parsers/exim/fields.js';
import { parseEximHeader, type EximHeader, type LastStamp } from '../parsers/exim/header.js';
import {
  isContinuation,
  NO_TIME_STAMP,
  readEximRecord,
  type EximRecord,
} from '../parsers/exim/index.js';
import { mechanismOfAuthenticator } from '../parsers/exim/mechanism.js';
import type { AuthFailureLine } from '../parsers/exim/session.js';
import { detach } from '../parsers/postfix/client.js';
import { isMalformed, SKIPPED, UNSUPPORTED } from '../parsers/result.js';
import { ZoneConverter } from '../time.js';

/**
 * Exim logs the authenticator's configured name (`plain_server`), which stays in `saslMethod`;
 * `saslMechanism` is the SASL mechanism it stands for (PLAIN).
 */
export interface EximSubmittedMessage extends SubmittedMessage {
  saslMechanism: string;
}

export interface EximAuthFailure extends AuthFailure {
  saslMechanism: string;
}

/** An arrival waiting for its `Completed` line. */
interface PendingMessage {
  message: EximSubmittedMessage;
  /** Lower-cased envelope recipients of the delivery lines so far. */
  recipients: Set<string>;
}

/** The failed logins of one SMTP session (one Exim process), waiting for its TLS state. */
interface Session {
  pid: number;
  clientIp: string;
  /** Time of the first failure. */
  start: number;
  /** Time of the line that ended the connection; only `no MAIL` can follow it. */
  closedAt: number | null;
  failures: EximAuthFailure[];
}

/** Cutthrough deliveries (`>>`), which Exim logs before the arrival line of their message. */
interface EarlyDelivery {
  time: number;
  recipients: string[];
}

export interface EximCounters {
  messages: number;
  failures: number;
  /** Sessions that authenticated and sent no message (`no MAIL ... A=`). */
  authOnlySessions: number;
  /** AUTH commands with a 4xx reply, because the server could not check the credentials. */
  authTemporaryErrors: number;
  /** AUTH commands the client cancelled or got wrong before a password was checked. */
  authAborted: number;
  /** Failed logins emitted with TLS unknown because no line of their session showed it. */
  failuresWithoutTls: number;
  /** Messages emitted without a `Completed` line, after a week of log time. */
  evictedMessages: number;
}

/** Serialised correlator state, saved with each checkpoint. */
export interface EximState {
  version: 1;
  newestTime: number;
  pending: Array<{ message: EximSubmittedMessage; recipients: string[] }>;
  sessions: Session[];
  early: Array<{ messageId: string } & EarlyDelivery>;
}

/**
 * The retry rule of Exim's default configuration (`F,2h,15m; G,16h,1h,1.5; F,4d,6h`) gives up
 * a deferred address after 4 days, so a week covers it and a few days of a frozen message.
 */
const MESSAGE_TTL_MS = 7 * 24 * 3_600_000;
/** A session's failures wait at most this long for a line that shows its TLS state. */
const SESSION_TTL_MS = 3_600_000;
/** Exim writes `no MAIL` right after the line that ends the connection, from the same process. */
const CLOSED_SESSION_TTL_MS = 60_000;
/** A cutthrough delivery precedes its arrival line by the time one SMTP reply takes. */
const EARLY_DELIVERY_TTL_MS = 5 * 60_000;

const SERVICE = 'exim';

export class EximCorrelator implements FileCorrelator {
  readonly format = 'exim';
  readonly counters: EximCounters = {
    messages: 0,
    failures: 0,
    authOnlySessions: 0,
    authTemporaryErrors: 0,
    authAborted: 0,
    failuresWithoutTls: 0,
    evictedMessages: 0,
  };

  private readonly emit: EmitEvent;
  private readonly zone: ZoneConverter;
  private readonly serverName: string;
  /** Keyed by message id, in arrival order. */
  private pending = new Map<string, PendingMessage>();
  /** Keyed by pid; only sessions with failed logins. */
  private sessions = new Map<number, Session>();
  private early = new Map<string, EarlyDelivery>();
  private newestTime = 0;
  private readonly lastStamp: LastStamp = { text: '', wall: 0, zoned: NaN };

  constructor(options: CorrelatorOptions) {
    this.emit = options.emit;
    this.zone = new ZoneConverter(options.timeZone);
    this.serverName = options.serverName;
  }

  line(text: string): LineOutcome {
    if (isContinuation(text)) return 'skipped';
    const header = parseEximHeader(text, this.zone, this.lastStamp);
    if (header === null) return NO_TIME_STAMP;

    // Every line moves log time on, so that waiting state settles even in a quiet log.
    this.evictStale(header.time);
    const record = readEximRecord(text, header);
    if (record === SKIPPED) return 'skipped';
    if (record === UNSUPPORTED) return 'unsupported';
    if (isMalformed(record)) return record;
    return this.apply(text, record);
  }

  /**
   * Emit what still waits: failed logins with TLS unknown, and messages without a `Completed`
   * line with the recipients seen so far. Call it only when no more lines will come (the end
   * of standard input); after it, lines of those messages and sessions count nothing more.
   */
  finish(): void {
    for (const session of this.sessions.values()) this.emitWithoutTls(session);
    this.sessions.clear();
    for (const entry of this.pending.values()) this.emitMessage(entry);
    this.pending.clear();
    this.early.clear();
  }

  private apply(text: string, record: EximRecord): LineOutcome {
    switch (record.type) {
      case 'arrival':
        return this.arrival(record.header, record.arrival);
      case 'delivery':
        return this.delivery(text, record);
      case 'completed':
        return this.completed(record.header);
      case 'auth-failure':
        return this.authFailure(record.header, record.failure);
      case 'no-mail':
        return this.noMail(record);
      case 'session-end':
        return this.sessionEnd(record);
    }
  }

  private arrival(header: EximHeader, arrival: Arrival): LineOutcome {
    const message = this.buildMessage(header, arrival);
    this.settleSession(header.pid, arrival.host.ip, arrival.tls, false);

    const messageId = message.queueId;
    const early = this.early.get(messageId);
    this.early.delete(messageId);

    if (arrival.recipients !== null) {
      message.recipients = new Set(arrival.recipients.map((r) => r.toLowerCase())).size;
      this.counters.messages++;
      this.emit(message);
      return 'used';
    }

    this.pending.set(messageId, { message, recipients: new Set(early?.recipients) });
    return 'used';
  }

  /**
   * The fields stay slices of the arrival line: a waiting message keeps one line alive, which
   * is cheaper than copying seven fields of every message.
   */
  private buildMessage(header: EximHeader, arrival: Arrival): EximSubmittedMessage {
    return {
      kind: 'message',
      time: header.time,
      server: this.serverName,
      service: SERVICE,
      queueId: header.messageId!,
      account: arrival.account,
      saslMethod: arrival.authenticator,
      saslMechanism: mechanismOfAuthenticator(arrival.authenticator),
      senderAddress: arrival.senderAddress,
      clientIp: arrival.host.ip,
      clientName: arrival.host.name ?? 'unknown',
      helo: arrival.host.helo,
      tlsProtocol: arrival.tls.tlsProtocol,
      tlsEvidence: arrival.tls.tlsEvidence,
      tlsCipher: arrival.tls.tlsCipher,
      recipients: 0,
      size: arrival.size,
    };
  }

  private delivery(text: string, record: Extract<EximRecord, { type: 'delivery' }>): LineOutcome {
    const messageId = record.header.messageId!;
    const entry = this.pending.get(messageId);

    if (!entry) {
      if (record.flag !== '>>') return 'skipped';
      const recipient = recipientOfDelivery(text, record.addressStart);
      if (recipient === null) return 'skipped';
      const early = this.early.get(messageId) ?? { time: record.header.time, recipients: [] };
      early.recipients.push(detach(recipient));
      this.early.set(detach(messageId), early);
      return 'used';
    }

    if (!isFinalDelivery(record.flag)) return 'used';
    const recipient = recipientOfDelivery(text, record.addressStart);
    if (recipient !== null) entry.recipients.add(recipient);
    return 'used';
  }

  private completed(header: EximHeader): LineOutcome {
    const entry = this.pending.get(header.messageId!);
    if (!entry) return 'skipped';
    this.pending.delete(header.messageId!);
    this.emitMessage(entry);
    return 'used';
  }

  private emitMessage(entry: PendingMessage): void {
    entry.message.recipients = entry.recipients.size;
    this.counters.messages++;
    this.emit(entry.message);
  }

  private authFailure(header: EximHeader, line: AuthFailureLine): LineOutcome {
    if (line.outcome === 'temporary-error') {
      this.counters.authTemporaryErrors++;
      return 'used';
    }
    if (line.outcome === 'aborted') {
      this.counters.authAborted++;
      return 'used';
    }

    const failure = this.buildFailure(header, line);
    if (header.pid < 0) {
      this.emitFailure(failure);
      return 'used';
    }

    let session = this.sessions.get(header.pid);
    if (session && (session.clientIp !== failure.clientIp || session.closedAt !== null)) {
      // The process ended its session and the pid now serves another one.
      this.sessions.delete(header.pid);
      this.emitWithoutTls(session);
      session = undefined;
    }
    if (!session) {
      session = {
        pid: header.pid,
        clientIp: failure.clientIp,
        start: header.time,
        closedAt: null,
        failures: [],
      };
      this.sessions.set(header.pid, session);
    }
    session.failures.push(failure);
    return 'used';
  }

  private buildFailure(header: EximHeader, line: AuthFailureLine): EximAuthFailure {
    return {
      kind: 'failure',
      time: header.time,
      server: this.serverName,
      service: SERVICE,
      attemptedUsername: line.attemptedUsername === null ? null : detach(line.attemptedUsername),
      saslMethod: detach(line.authenticator),
      saslMechanism: mechanismOfAuthenticator(line.authenticator),
      clientIp: detach(line.host.ip),
      clientName: detach(line.host.name ?? 'unknown'),
      // Until a later line of the session shows it, or for good without a pid.
      tlsProtocol: 'unknown',
      tlsEvidence: 'not-seen',
      reason: detach(line.reason),
    };
  }

  private noMail(record: Extract<EximRecord, { type: 'no-mail' }>): LineOutcome {
    const { header, noMail } = record;
    if (noMail.account !== null) this.counters.authOnlySessions++;
    const settled = this.settleSession(header.pid, noMail.host.ip, noMail.tls, true);
    return settled || noMail.account !== null ? 'used' : 'skipped';
  }

  private sessionEnd(record: Extract<EximRecord, { type: 'session-end' }>): LineOutcome {
    const session = this.sessions.get(record.header.pid);
    if (!session || session.clientIp !== record.host.ip) return 'skipped';
    session.closedAt ??= record.header.time;
    return 'used';
  }

  /**
   * Give the failed logins of the session on `pid` the TLS state a later line of it shows.
   * Only `no MAIL` (`endsSession`) may follow the line that closed the connection. Any other
   * line after it, or one from another client, belongs to a new session of a reused pid.
   */
  private settleSession(
    pid: number,
    clientIp: string,
    tls: SessionTls,
    endsSession: boolean,
  ): boolean {
    const session = this.sessions.get(pid);
    if (!session) return false;
    this.sessions.delete(pid);

    const sameSession = session.clientIp === clientIp && (session.closedAt === null || endsSession);
    if (!sameSession) {
      this.emitWithoutTls(session);
      return false;
    }
    for (const failure of session.failures) {
      failure.tlsProtocol = tls.tlsProtocol;
      failure.tlsEvidence = tls.tlsEvidence;
      this.emitFailure(failure);
    }
    return true;
  }

  private emitWithoutTls(session: Session): void {
    this.counters.failuresWithoutTls += session.failures.length;
    for (const failure of session.failures) this.emitFailure(failure);
  }

  private emitFailure(failure: EximAuthFailure): void {
    this.counters.failures++;
    this.emit(failure);
  }

  /** Drop or settle state that can no longer complete, at most once a minute of log time. */
  private evictStale(now: number): void {
    if (now - this.newestTime < 60_000) return;
    this.newestTime = now;

    for (const [pid, session] of this.sessions) {
      const closed = session.closedAt !== null && now - session.closedAt >= CLOSED_SESSION_TTL_MS;
      if (!closed && now - session.start < SESSION_TTL_MS) continue;
      this.sessions.delete(pid);
      this.emitWithoutTls(session);
    }
    for (const [messageId, entry] of this.pending) {
      // Map order is arrival order, so the first young message ends the scan.
      if (now - entry.message.time < MESSAGE_TTL_MS) break;
      this.pending.delete(messageId);
      this.counters.evictedMessages++;
      this.emitMessage(entry);
    }
    for (const [messageId, early] of this.early) {
      if (now - early.time >= EARLY_DELIVERY_TTL_MS) this.early.delete(messageId);
    }
  }

  snapshot(): EximState {
    return {
      version: 1,
      newestTime: this.newestTime,
      pending: [...this.pending.values()].map((entry) => ({
        message: { ...entry.message },
        recipients: [...entry.recipients],
      })),
      sessions: [...this.sessions.values()].map((session) => ({
        ...session,
        failures: session.failures.map((failure) => ({ ...failure })),
      })),
      early: [...this.early].map(([messageId, early]) => ({
        messageId,
        time: early.time,
        recipients: [...early.recipients],
      })),
    };
  }

  restore(state: unknown): void {
    const saved = state as Partial<EximState> | null;
    if (
      saved === null ||
      typeof saved !== 'object' ||
      saved.version !== 1 ||
      !Array.isArray(saved.pending) ||
      !Array.isArray(saved.sessions) ||
      !Array.isArray(saved.early)
    ) {
      throw new Error(
        'invalid Exim correlator state: expected version 1 with pending, sessions and early lists',
      );
    }

    this.newestTime = saved.newestTime ?? 0;
    this.pending = new Map(
      saved.pending.map((entry) => [
        entry.message.queueId,
        { message: { ...entry.message }, recipients: new Set(entry.recipients) },
      ]),
    );
    this.sessions = new Map(
      saved.sessions.map((session) => [
        session.pid,
        { ...session, failures: session.failures.map((failure) => ({ ...failure })) },
      ]),
    );
    this.early = new Map(
      saved.early.map((early) => [
        early.messageId,
        { time: early.time, recipients: [...early.recipients] },
      ]),
    );
  }
}
