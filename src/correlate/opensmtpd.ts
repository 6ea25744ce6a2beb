import type { AuthFailure, SubmittedMessage, TlsEvidence, TlsProtocol } from '../events.js';
import type {
  CorrelatorOptions,
  EmitEvent,
  LineOutcome,
  SyslogCorrelator,
  SyslogLine,
} from '../formats/correlator.js';
import { detach } from '../parsers/postfix/client.js';
import { parseOpenSmtpd, type OpenSmtpdRecord } from '../parsers/opensmtpd/smtp.js';
import { isMalformed, SKIPPED, UNSUPPORTED } from '../parsers/result.js';

/** The syslog tag of OpenSMTPD. Postfix's daemon is `postfix/smtpd`, a different program. */
export const OPENSMTPD_PROGRAM = 'smtpd';

/** An SMTP session, keyed by OpenSMTPD's 16-digit session id. */
interface Session {
  id: string;
  /** Log time of the newest line of this session. */
  lastSeen: number;
  /** True when the `connected` line was read, so a missing `tls` line means no TLS. */
  connectedSeen: boolean;
  clientIp: string;
  clientName: string;
  tls: { protocol: TlsProtocol; cipher: string } | null;
  account: string | null;
  /** A permfail whose mechanism comes on the next line, the `failed-command` 535 reply. */
  pendingFailure: AuthFailure | null;
  /** A message whose sender and recipients come on the `envelope` lines after it. */
  pendingMessage: PendingMessage | null;
}

interface PendingMessage {
  message: SubmittedMessage;
  /** `nrcpt=`: one envelope line follows per accepted RCPT command. */
  envelopes: number;
  envelopesSeen: number;
  recipients: string[];
}

/** Serialised correlator state, saved with each checkpoint. */
export interface OpenSmtpdState {
  version: 1;
  servers: Array<{ server: string; sessions: Session[] }>;
}

export interface OpenSmtpdCounters {
  messages: number;
  failures: number;
  /** `result=tempfail`: the credentials table could not be read; not a failed login. */
  authBackendErrors: number;
  evictedSessions: number;
}

/**
 * OpenSMTPD closes an idle session after 5 minutes (SMTPD_SESSION_TIMEOUT); a session without
 * a line for an hour has ended without its `disconnected` line.
 */
const SESSION_TTL_MS = 3_600_000;

/** libtls and OpenSSL protocol names as OpenSMTPD logs them. */
const TLS_VERSIONS: Readonly<Record<string, TlsProtocol>> = {
  TLSv1: 'TLSv1',
  'TLSv1.0': 'TLSv1',
  'TLSv1.1': 'TLSv1.1',
  'TLSv1.2': 'TLSv1.2',
  'TLSv1.3': 'TLSv1.3',
};

/**
 * Turns OpenSMTPD 6.4+ session lines into SubmittedMessage and AuthFailure events. A message
 * counts at its `smtp message` line, which OpenSMTPD writes once the queue has committed it,
 * in a session with `authentication ... result=ok`; its sender and unique recipients come
 * from the `smtp envelope` lines that follow.
 */
export class OpenSmtpdCorrelator implements SyslogCorrelator {
  readonly format = 'opensmtpd' as const;
  readonly counters: OpenSmtpdCounters = {
    messages: 0,
    failures: 0,
    authBackendErrors: 0,
    evictedSessions: 0,
  };

  private readonly emit: EmitEvent;
  private servers = new Map<string, Map<string, Session>>();
  private lastEviction = 0;

  constructor(options: CorrelatorOptions) {
    this.emit = options.emit;
  }

  accepts(program: string): boolean {
    return program === OPENSMTPD_PROGRAM;
  }

  line(line: SyslogLine): LineOutcome {
    const record = parseOpenSmtpd(line.message);
    if (record === SKIPPED) return 'skipped';
    if (record === UNSUPPORTED) return 'unsupported';
    if (isMalformed(record)) return record;

    this.evictStale(line.time);
    return this.apply(record, line);
  }

  private apply(record: OpenSmtpdRecord, line: SyslogLine): LineOutcome {
    const sessions = this.serverSessions(line.server);
    if (record.type === 'connected') return this.connected(sessions, record, line);

    const session = this.session(sessions, record.session, line.time);
    if (record.type !== 'envelope' && record.type !== 'auth-reply') this.flushMessage(session);
    if (record.type !== 'auth-reply') this.flushFailure(session);

    switch (record.type) {
      case 'tls':
        session.tls = { protocol: tlsProtocol(record), cipher: detach(record.cipher) };
        return 'used';
      case 'authentication':
        return this.authentication(session, record, line);
      case 'auth-reply':
        return this.authReply(session, record.mechanism);
      case 'message':
        return this.message(session, record, line);
      case 'envelope':
        return this.envelope(session, record);
      case 'disconnected':
        sessions.delete(record.session);
        return 'used';
    }
  }

  private connected(
    sessions: Map<string, Session>,
    record: Extract<OpenSmtpdRecord, { type: 'connected' }>,
    line: SyslogLine,
  ): LineOutcome {
    const previous = sessions.get(record.session);
    if (previous) this.finish(previous);

    const session = newSession(record.session, line.time);
    session.connectedSeen = true;
    session.clientIp = detach(record.address);
    session.clientName = detach(record.host);
    sessions.set(record.session, session);
    return 'used';
  }

  private authentication(
    session: Session,
    record: Extract<OpenSmtpdRecord, { type: 'authentication' }>,
    line: SyslogLine,
  ): LineOutcome {
    if (record.result === 'ok') {
      session.account = detach(record.user);
      return 'used';
    }
    if (record.result === 'tempfail') {
      this.counters.authBackendErrors++;
      return 'used';
    }

    const tls = sessionTls(session);
    session.pendingFailure = {
      kind: 'failure',
      time: line.time,
      server: line.server,
      service: line.program,
      attemptedUsername: detach(record.user),
      saslMethod: 'unknown',
      clientIp: session.clientIp,
      clientName: session.clientName,
      tlsProtocol: tls.protocol,
      tlsEvidence: tls.evidence,
      reason: detach(record.result),
    };
    return 'used';
  }

  private authReply(session: Session, mechanism: 'PLAIN' | 'LOGIN'): LineOutcome {
    if (!session.pendingFailure) return 'skipped';
    session.pendingFailure.saslMethod = mechanism;
    this.flushFailure(session);
    return 'used';
  }

  private message(
    session: Session,
    record: Extract<OpenSmtpdRecord, { type: 'message' }>,
    line: SyslogLine,
  ): LineOutcome {
    // Without a login this is relayed or locally submitted mail, not SMTP AUTH.
    if (session.account === null) return 'skipped';

    const tls = sessionTls(session);
    const message: SubmittedMessage = {
      kind: 'message',
      time: line.time,
      server: line.server,
      service: line.program,
      queueId: detach(record.msgid),
      account: session.account,
      // NOTE: OpenSMTPD logs no mechanism for a successful login, only for a failed one.
      saslMethod: 'unknown',
      senderAddress: '',
      clientIp: session.clientIp,
      clientName: session.clientName,
      helo: null,
      tlsProtocol: tls.protocol,
      tlsEvidence: tls.evidence,
      tlsCipher: session.tls?.cipher || null,
      recipients: record.recipients,
      size: record.size,
    };
    session.pendingMessage = {
      message,
      envelopes: record.recipients,
      envelopesSeen: 0,
      recipients: [],
    };
    if (record.recipients === 0) this.flushMessage(session);
    return 'used';
  }

  private envelope(
    session: Session,
    record: Extract<OpenSmtpdRecord, { type: 'envelope' }>,
  ): LineOutcome {
    const pending = session.pendingMessage;
    if (!pending) return 'skipped';

    if (pending.envelopesSeen === 0) pending.message.senderAddress = detach(record.senderAddress);
    pending.envelopesSeen++;
    if (!pending.recipients.includes(record.recipient)) {
      pending.recipients.push(detach(record.recipient));
    }
    if (pending.envelopesSeen >= pending.envelopes) this.flushMessage(session);
    return 'used';
  }

  /**
   * Emit a message once its envelope lines are read. Each RCPT command gets an envelope,
   * so a repeated recipient appears twice and counts once. When the log lost the envelope
   * lines, `nrcpt=` is taken as the recipients and the sender stays unknown.
   */
  private flushMessage(session: Session): void {
    const pending = session.pendingMessage;
    if (!pending) return;
    session.pendingMessage = null;

    if (pending.envelopesSeen > 0) pending.message.recipients = pending.recipients.length;
    this.counters.messages++;
    this.emit(pending.message);
  }

  private flushFailure(session: Session): void {
    const failure = session.pendingFailure;
    if (!failure) return;
    session.pendingFailure = null;
    this.counters.failures++;
    this.emit(failure);
  }

  private finish(session: Session): void {
    this.flushMessage(session);
    this.flushFailure(session);
  }

  private serverSessions(server: string): Map<string, Session> {
    let sessions = this.servers.get(server);
    if (!sessions) {
      sessions = new Map();
      this.servers.set(server, sessions);
    }
    return sessions;
  }

  /** Find the session with this id, or start one whose `connected` line is not in the log. */
  private session(sessions: Map<string, Session>, id: string, time: number): Session {
    let session = sessions.get(id);
    if (!session) {
      session = newSession(detach(id), time);
      sessions.set(session.id, session);
    }
    session.lastSeen = time;
    return session;
  }

  /** Finish sessions idle for longer than the TTL, at most once a minute of log time. */
  private evictStale(now: number): void {
    if (now - this.lastEviction < 60_000) return;
    this.lastEviction = now;

    for (const sessions of this.servers.values()) {
      for (const [id, session] of sessions) {
        if (now - session.lastSeen <= SESSION_TTL_MS) continue;
        this.finish(session);
        sessions.delete(id);
        this.counters.evictedSessions++;
      }
    }
  }

  snapshot(): OpenSmtpdState {
    const servers = [...this.servers].map(([server, sessions]) => ({
      server,
      sessions: [...sessions.values()],
    }));
    return { version: 1, servers };
  }

  restore(saved: unknown): void {
    this.servers = new Map();
    if (
      typeof saved !== 'object' ||
      saved === null ||
      !Array.isArray((saved as OpenSmtpdState).servers)
    ) {
      throw new Error('invalid OpenSMTPD correlator state: expected { version, servers: [] }');
    }
    // State written by another version is dropped: at worst a session that straddles that
    // upgrade is missed.
    if ((saved as OpenSmtpdState).version !== 1) return;

    for (const entry of (saved as OpenSmtpdState).servers) {
      this.servers.set(
        entry.server,
        new Map(entry.sessions.map((session) => [session.id, session])),
      );
    }
  }
}

function newSession(id: string, time: number): Session {
  return {
    id,
    lastSeen: time,
    connectedSeen: false,
    clientIp: '',
    clientName: '',
    tls: null,
    account: null,
    pendingFailure: null,
    pendingMessage: null,
  };
}

/**
 * The older `version=` form logged the version that defined the cipher. Only TLS 1.2 and
 * 1.3 ciphers pin the version negotiated; older ciphers are used by every version.
 */
function tlsProtocol(record: Extract<OpenSmtpdRecord, { type: 'tls' }>): TlsProtocol {
  const protocol = TLS_VERSIONS[record.version] ?? 'unknown';
  if (!record.cipherVersion) return protocol;
  return protocol === 'TLSv1.2' || protocol === 'TLSv1.3' ? protocol : 'unknown';
}

/** OpenSMTPD always logs a TLS handshake, so a session seen from its start without one had none. */
function sessionTls(session: Session): { protocol: TlsProtocol; evidence: TlsEvidence } {
  if (session.tls) return { protocol: session.tls.protocol, evidence: 'line' };
  if (session.connectedSeen) return { protocol: 'none', evidence: 'no-line' };
  return { protocol: 'unknown', evidence: 'not-seen' };
}
