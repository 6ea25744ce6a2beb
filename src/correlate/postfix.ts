import type {
  AuthFailure,
  ReportEvent,
  SubmittedMessage,
  TlsEvidence,
  TlsProtocol,
} from '../events.js';
import { detach } from '../parsers/postfix/client.js';
import type { QmgrRecord } from '../parsers/postfix/qmgr.js';
import type { SmtpdRecord } from '../parsers/postfix/smtpd.js';

/**
 * An smtpd session: from `connect from` to `disconnect from` on one process. One smtpd
 * process serves many connections in turn, so the key is the syslog name with the pid
 * (`postfix/submission/smtpd[123]`) within a server, and state starts afresh at each
 * `connect from`.
 */
interface Session {
  tag: string;
  start: number;
  clientIp: string;
  tlsProtocol: TlsProtocol | null;
  tlsCipher: string | null;
  /** Messages whose TLS state waits for the disconnect counters. */
  waiting: PendingMessage[];
}

/** A `client=` line with a login, waiting for its qmgr `from=` line. */
interface PendingMessage {
  message: SubmittedMessage;
  /** True once the qmgr line has filled in sender and recipients. */
  queued: boolean;
  /** True while the TLS state depends on the session's disconnect line. */
  awaitingSession: boolean;
}

/** What the correlator holds per mail server: queue ids and pids are unique per server. */
interface ServerState {
  sessions: Map<string, Session>;
  /** Keyed by queue id, in the order the `client=` lines came. */
  pending: Map<string, PendingMessage>;
  /** The log shows TLS lines, so a session without one had no TLS. */
  tlsLogging: boolean;
  isPending: (queueId: string) => boolean;
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
  version: 2;
  servers: Array<{
    server: string;
    tlsLogging: boolean;
    sessions: Array<Omit<Session, 'waiting'> & { waiting: string[] }>;
    pending: PendingMessage[];
  }>;
}

/**
 * Turns Postfix smtpd and qmgr records into SubmittedMessage and AuthFailure events,
 * following the counting rules: a message counts when qmgr first queues a queue id whose
 * smtpd `client=` line carries `sasl_username`; its TLS version is the one of the smtpd
 * session that accepted it.
 */
export class PostfixCorrelator {
  private servers = new Map<string, ServerState>();
  private lastServer = '';
  private lastState: ServerState | undefined;
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
    return new Set([...this.servers].filter(([, state]) => state.tlsLogging).map(([name]) => name));
  }

  smtpd(record: SmtpdRecord, line: LineContext): void {
    const state = this.serverState(line.server);
    switch (record.type) {
      case 'connect':
        this.openSession(state, line, record.clientIp);
        break;
      case 'tls':
        this.recordTls(state, line, record.tlsProtocol, record.cipher);
        break;
      case 'disconnect':
        this.closeSession(state, line, record.starttls);
        break;
      case 'client':
        this.recordClient(state, record, line);
        break;
      case 'auth-failure':
        this.recordFailure(state, record, line);
        break;
      case 'auth-backend-error':
        this.counters.authBackendErrors++;
        break;
    }
  }

  qmgr(record: QmgrRecord, server: string): void {
    const state = this.serverState(server);
    const entry = state.pending.get(record.queueId);
    if (!entry) return;

    if (record.type === 'removed') {
      // Deleted before qmgr queued it (postsuper -d on a held message): no message.
      if (!entry.queued) state.pending.delete(record.queueId);
      return;
    }
    if (entry.queued) return;

    entry.message.senderAddress = record.senderAddress;
    entry.message.recipients = record.recipients;
    entry.message.size = record.size;
    entry.queued = true;
    if (entry.awaitingSession) return;

    // Later from= lines for this queue id are delivery retries, so the entry goes now.
    state.pending.delete(record.queueId);
    this.emitMessage(entry.message);
  }

  /** A test for queue ids that wait for their qmgr line on a server. */
  pendingFilter(server: string): (queueId: string) => boolean {
    return this.serverState(server).isPending;
  }

  private serverState(server: string): ServerState {
    if (server === this.lastServer && this.lastState) return this.lastState;
    let state = this.servers.get(server);
    if (!state) {
      state = newServerState(false);
      this.servers.set(server, state);
    }
    this.lastServer = server;
    this.lastState = state;
    return state;
  }

  private openSession(state: ServerState, line: LineContext, clientIp: string): void {
    const previous = state.sessions.get(line.tag);
    if (previous) this.finishSession(state, previous, 0);

    state.sessions.set(line.tag, {
      tag: line.tag,
      start: line.time,
      clientIp,
      tlsProtocol: null,
      tlsCipher: null,
      waiting: [],
    });
  }

  private recordTls(
    state: ServerState,
    line: LineContext,
    protocol: TlsProtocol,
    cipher: string,
  ): void {
    state.tlsLogging = true;
    const session = state.sessions.get(line.tag);
    if (!session) return;
    session.tlsProtocol = protocol;
    session.tlsCipher = cipher;
  }

  private closeSession(state: ServerState, line: LineContext, starttls: number): void {
    const session = state.sessions.get(line.tag);
    if (!session) return;
    state.sessions.delete(line.tag);
    this.finishSession(state, session, starttls);
  }

  /** Settle the TLS state of messages that waited for the end of their session. */
  private finishSession(state: ServerState, session: Session, starttls: number): void {
    for (const entry of session.waiting) {
      entry.awaitingSession = false;
      entry.message.tlsEvidence = starttls > 0 ? 'starttls' : 'no-line';
      entry.message.tlsProtocol = this.noTlsLine(state, starttls > 0);
      if (!entry.queued) continue;
      state.pending.delete(entry.message.queueId);
      this.emitMessage(entry.message);
    }
    session.waiting = [];
  }

  /**
   * The TLS state of a session without a TLS line: `none` only when this server is known
   * to log TLS handshakes; otherwise the log cannot tell (smtpd_tls_loglevel = 0, Postfix's
   * default), and a STARTTLS counter proves TLS without its version.
   */
  private noTlsLine(state: ServerState, starttls: boolean): TlsProtocol {
    if (starttls) return 'unknown';
    return state.tlsLogging ? 'none' : 'unknown';
  }

  private sessionTls(
    state: ServerState,
    session: Session | undefined,
  ): { protocol: TlsProtocol; evidence: TlsEvidence; cipher: string | null } {
    if (!session) return { protocol: 'unknown', evidence: 'not-seen', cipher: null };
    if (session.tlsProtocol) {
      return { protocol: session.tlsProtocol, evidence: 'line', cipher: session.tlsCipher };
    }
    return { protocol: this.noTlsLine(state, false), evidence: 'no-line', cipher: null };
  }

  private recordClient(
    state: ServerState,
    record: Extract<SmtpdRecord, { type: 'client' }>,
    line: LineContext,
  ): void {
    const session = state.sessions.get(line.tag);
    const tls = this.sessionTls(state, session);
    const message: SubmittedMessage = {
      kind: 'message',
      time: line.time,
      server: line.server,
      service: line.service,
      queueId: record.queueId,
      account: detach(record.saslUsername),
      saslMethod: record.saslMethod,
      senderAddress: '',
      clientIp: detach(record.clientIp),
      clientName: detach(record.clientName),
      helo: null,
      tlsProtocol: tls.protocol,
      tlsEvidence: tls.evidence,
      tlsCipher: tls.cipher === null ? null : detach(tls.cipher),
      recipients: 0,
      size: 0,
    };

    const awaitingSession =
      session !== undefined && tls.evidence === 'no-line' && !state.tlsLogging;
    const entry: PendingMessage = { message, queued: false, awaitingSession };
    // A queue id seen again before its qmgr line was reused after a lost message.
    state.pending.delete(record.queueId);
    state.pending.set(record.queueId, entry);
    if (awaitingSession) session.waiting.push(entry);
    this.evictStale(line.time);
  }

  private recordFailure(
    state: ServerState,
    record: Extract<SmtpdRecord, { type: 'auth-failure' }>,
    line: LineContext,
  ): void {
    const tls = this.sessionTls(state, state.sessions.get(line.tag));
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

    for (const state of this.servers.values()) {
      for (const [tag, session] of state.sessions) {
        if (now - session.start < SESSION_TTL_MS) continue;
        state.sessions.delete(tag);
        this.finishSession(state, session, 0);
        this.counters.evictedSessions++;
      }
      for (const [queueId, entry] of state.pending) {
        // Map order is insertion order, so the first young entry ends the scan.
        if (now - entry.message.time < QUEUE_TTL_MS) break;
        state.pending.delete(queueId);
        this.counters.evictedMessages++;
      }
    }
  }

  snapshot(): PostfixState {
    const servers = [...this.servers].map(([server, state]) => ({
      server,
      tlsLogging: state.tlsLogging,
      sessions: [...state.sessions.values()].map((session) => ({
        ...session,
        waiting: session.waiting.map((entry) => entry.message.queueId),
      })),
      pending: [...state.pending.values()],
    }));
    return { version: 2, servers };
  }

  restore(saved: PostfixState): void {
    this.servers = new Map();
    this.lastState = undefined;
    this.lastServer = '';
    if (saved.version !== 2) return;

    for (const entry of saved.servers) {
      const state = newServerState(entry.tlsLogging);
      for (const p of entry.pending) state.pending.set(p.message.queueId, p);
      for (const session of entry.sessions) {
        const waiting = session.waiting.flatMap((id) => state.pending.get(id) ?? []);
        state.sessions.set(session.tag, { ...session, waiting });
      }
      this.servers.set(entry.server, state);
    }
  }
}

function newServerState(tlsLogging: boolean): ServerState {
  const pending = new Map<string, PendingMessage>();
  return { sessions: new Map(), pending, tlsLogging, isPending: (id) => pending.has(id) };
}
