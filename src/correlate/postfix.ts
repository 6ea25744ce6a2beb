import {
  type AuthFailure,
  type ReportEvent,
  type SubmittedMessage,
  type TlsEvidence,
  type TlsProtocol,
} from '../events.js';
import type { QmgrRecord } from '../parsers/postfix/qmgr.js';
import type { SmtpdRecord } from '../parsers/postfix/smtpd.js';

/**
 * An smtpd session: from `connect from` to `disconnect from` on one process. One smtpd
 * process serves many connections in turn, so the key is the server, the syslog name and
 * the pid, and state starts afresh at each `connect from`.
 */
interface Session {
  key: string;
  start: number;
  clientIp: string;
  tlsProtocol: TlsProtocol | null;
  tlsCipher: string | null;
  /** Messages whose TLS state waits for the disconnect counters. */
  waiting: PendingMessage[];
}

/** A `client=` line with a login, waiting for its qmgr `from=` line. */
interface PendingMessage {
  key: string;
  message: SubmittedMessage;
  /** True once the qmgr line has filled in sender and recipients. */
  queued: boolean;
  /** True while the TLS state depends on the session's disconnect line. */
  awaitingSession: boolean;
}

/** Context of the line being handled. */
export interface LineContext {
  server: string;
  /** `postfix/submission/smtpd[123]`: the session key within a server. */
  tag: string;
  /** `postfix/submission/smtpd`. */
  service: string;
  time: number;
}

/** State older than this (in log time) is evicted, so a damaged log cannot grow memory. */
const SESSION_TTL_MS = 24 * 3_600_000;
/** A held message counts when released; a week covers holds that admins review. */
const QUEUE_TTL_MS = 7 * 24 * 3_600_000;

export interface CorrelatorCounters {
  messages: number;
  failures: number;
  authBackendErrors: number;
  evictedSessions: number;
  evictedMessages: number;
}

/** Serialised correlator state, saved with each checkpoint. */
export interface PostfixState {
  version: 1;
  sessions: Array<Omit<Session, 'waiting'> & { waiting: string[] }>;
  pending: Array<
    Omit<PendingMessage, 'message'> & { message: SubmittedMessage; sessionKey?: string }
  >;
  tlsLoggingServers: string[];
}

/**
 * Turns Postfix smtpd and qmgr records into SubmittedMessage and AuthFailure events,
 * following the counting rules: a message counts when qmgr first queues a queue id whose
 * smtpd `client=` line carries `sasl_username`; its TLS version is the one of the smtpd
 * session that accepted it.
 */
export class PostfixCorrelator {
  private sessions = new Map<string, Session>();
  private pending = new Map<string, PendingMessage>();
  /** Servers whose log shows TLS lines, so a session without one had no TLS. */
  private tlsLoggingServers = new Set<string>();
  private newestTime = 0;
  readonly counters: CorrelatorCounters = {
    messages: 0,
    failures: 0,
    authBackendErrors: 0,
    evictedSessions: 0,
    evictedMessages: 0,
  };

  constructor(private readonly emit: (event: ReportEvent) => void) {}

  /** Servers known to log TLS handshakes (smtpd_tls_loglevel >= 1). */
  get serversWithTlsLogging(): ReadonlySet<string> {
    return this.tlsLoggingServers;
  }

  smtpd(record: SmtpdRecord, line: LineContext): void {
    switch (record.type) {
      case 'connect':
        this.openSession(line, record.clientIp);
        break;
      case 'tls':
        this.recordTls(line, record.tlsProtocol, record.cipher);
        break;
      case 'disconnect':
        this.closeSession(line, record.starttls);
        break;
      case 'client':
        if (record.saslUsername !== null) this.recordClient(record, line);
        break;
      case 'auth-failure':
        this.recordFailure(record, line);
        break;
      case 'auth-backend-error':
        this.counters.authBackendErrors++;
        break;
    }
  }

  qmgr(record: QmgrRecord, server: string): void {
    const key = queueKey(server, record.queueId);
    const entry = this.pending.get(key);
    if (!entry) return;

    if (record.type === 'removed') {
      // Deleted before qmgr queued it (postsuper -d on a held message): no message.
      if (!entry.queued) this.pending.delete(key);
      return;
    }
    if (entry.queued) return;

    entry.message.senderAddress = record.senderAddress;
    entry.message.recipients = record.recipients;
    entry.message.size = record.size;
    entry.queued = true;
    if (entry.awaitingSession) return;

    // Later from= lines for this queue id are delivery retries, so the entry goes now.
    this.pending.delete(key);
    this.emitMessage(entry.message);
  }

  private openSession(line: LineContext, clientIp: string): void {
    const key = sessionKey(line.server, line.tag);
    const previous = this.sessions.get(key);
    if (previous) this.finishSession(previous, 0);

    this.sessions.set(key, {
      key,
      start: line.time,
      clientIp,
      tlsProtocol: null,
      tlsCipher: null,
      waiting: [],
    });
  }

  private recordTls(line: LineContext, protocol: TlsProtocol, cipher: string): void {
    this.tlsLoggingServers.add(line.server);
    const session = this.sessions.get(sessionKey(line.server, line.tag));
    if (!session) return;
    session.tlsProtocol = protocol;
    session.tlsCipher = cipher;
  }

  private closeSession(line: LineContext, starttls: number): void {
    const key = sessionKey(line.server, line.tag);
    const session = this.sessions.get(key);
    if (!session) return;
    this.sessions.delete(key);
    this.finishSession(session, starttls);
  }

  /** Settle the TLS state of messages that waited for the end of their session. */
  private finishSession(session: Session, starttls: number): void {
    for (const entry of session.waiting) {
      entry.awaitingSession = false;
      entry.message.tlsEvidence = starttls > 0 ? 'starttls' : 'no-line';
      entry.message.tlsProtocol = this.noTlsLine(entry.message.server, starttls > 0);
      if (!entry.queued) continue;
      this.pending.delete(entry.key);
      this.emitMessage(entry.message);
    }
    session.waiting = [];
  }

  /**
   * The TLS state of a session without a TLS line: `none` only when this server is known
   * to log TLS handshakes; otherwise the log cannot tell (smtpd_tls_loglevel = 0, Postfix's
   * default), and a STARTTLS counter proves TLS without its version.
   */
  private noTlsLine(server: string, starttls: boolean): TlsProtocol {
    if (starttls) return 'unknown';
    return this.tlsLoggingServers.has(server) ? 'none' : 'unknown';
  }

  private recordClient(record: Extract<SmtpdRecord, { type: 'client' }>, line: LineContext): void {
    const session = this.sessions.get(sessionKey(line.server, line.tag));
    const tls = this.sessionTls(session, line.server);
    const message: SubmittedMessage = {
      kind: 'message',
      time: line.time,
      server: line.server,
      service: line.service,
      queueId: record.queueId,
      account: record.saslUsername ?? '',
      saslMethod: record.saslMethod ?? '',
      senderAddress: '',
      clientIp: record.clientIp,
      clientName: record.clientName,
      helo: null,
      tlsProtocol: tls.protocol,
      tlsEvidence: tls.evidence,
      tlsCipher: tls.cipher,
      recipients: 0,
      size: 0,
    };

    const key = queueKey(line.server, record.queueId);
    const awaitingSession =
      session !== undefined &&
      tls.evidence === 'no-line' &&
      !this.tlsLoggingServers.has(line.server);
    const entry: PendingMessage = { key, message, queued: false, awaitingSession };
    this.pending.set(key, entry);
    if (awaitingSession) session!.waiting.push(entry);
    this.evictStale(line.time);
  }

  private sessionTls(
    session: Session | undefined,
    server: string,
  ): { protocol: TlsProtocol; evidence: TlsEvidence; cipher: string | null } {
    if (!session) return { protocol: 'unknown', evidence: 'not-seen', cipher: null };
    if (session.tlsProtocol) {
      return { protocol: session.tlsProtocol, evidence: 'line', cipher: session.tlsCipher };
    }
    return { protocol: this.noTlsLine(server, false), evidence: 'no-line', cipher: null };
  }

  private recordFailure(
    record: Extract<SmtpdRecord, { type: 'auth-failure' }>,
    line: LineContext,
  ): void {
    const session = this.sessions.get(sessionKey(line.server, line.tag));
    const tls = this.sessionTls(session, line.server);
    const failure: AuthFailure = {
      kind: 'failure',
      time: line.time,
      server: line.server,
      service: line.service,
      attemptedUsername: record.attemptedUsername,
      saslMethod: record.saslMethod,
      clientIp: record.clientIp,
      clientName: record.clientName,
      tlsProtocol: tls.protocol,
      tlsEvidence: tls.evidence,
      reason: record.reason,
    };
    this.counters.failures++;
    this.emit(failure);
  }

  private emitMessage(message: SubmittedMessage): void {
    message.saslMethod = message.saslMethod || 'unknown';
    this.counters.messages++;
    this.emit(message);
  }

  /** Drop sessions and queue ids that can no longer complete, at most once a minute of log time. */
  private evictStale(now: number): void {
    if (now - this.newestTime < 60_000) return;
    this.newestTime = now;

    for (const [key, session] of this.sessions) {
      if (now - session.start < SESSION_TTL_MS) continue;
      this.sessions.delete(key);
      this.finishSession(session, 0);
      this.counters.evictedSessions++;
    }
    for (const [key, entry] of this.pending) {
      // Map order is insertion order, so the first young entry ends the scan.
      if (now - entry.message.time < QUEUE_TTL_MS) break;
      this.pending.delete(key);
      this.counters.evictedMessages++;
    }
  }

  snapshot(): PostfixState {
    const sessionOf = new Map<PendingMessage, string>();
    const sessions = [...this.sessions.values()].map((session) => {
      for (const entry of session.waiting) sessionOf.set(entry, session.key);
      return { ...session, waiting: session.waiting.map((entry) => entry.key) };
    });
    const pending = [...this.pending.values()].map((entry) => ({
      ...entry,
      sessionKey: sessionOf.get(entry),
    }));
    return { version: 1, sessions, pending, tlsLoggingServers: [...this.tlsLoggingServers] };
  }

  restore(state: PostfixState): void {
    this.tlsLoggingServers = new Set(state.tlsLoggingServers);
    this.pending = new Map();
    for (const saved of state.pending) {
      const entry: PendingMessage = {
        key: saved.key,
        message: saved.message,
        queued: saved.queued,
        awaitingSession: saved.awaitingSession,
      };
      this.pending.set(entry.key, entry);
    }

    this.sessions = new Map();
    for (const saved of state.sessions) {
      const waiting = saved.waiting.flatMap((key) => this.pending.get(key) ?? []);
      this.sessions.set(saved.key, { ...saved, waiting });
    }
  }
}

function sessionKey(server: string, tag: string): string {
  return `${server} ${tag}`;
}

function queueKey(server: string, queueId: string): string {
  return `${server} ${queueId}`;
}
