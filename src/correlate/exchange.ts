/**
 * Turns Exchange SmtpReceive protocol log rows into SubmittedMessage and AuthFailure
 * events. A session is the rows of one session id on one connector, from `+` to `-`. Its
 * rows may span hourly files, so the state is carried in the checkpoint.
 *
 * - A login is an AUTH command answered `235`; the account is the `*` row with context
 *   `authenticated` (`CONTOSO\user` or a UPN).
 * - A message counts on the `250 2.6.0 ... Queued mail for delivery` reply, one per
 *   transaction, with the unique recipients whose RCPT got a 2xx reply.
 * - A failed login is an AUTH answered `535`, or one marked by an `Inbound AUTH LOGIN
 *   failed because of ...` row (logged more than once per attempt) that got no reply. The
 *   name comes from a `User Name:` row where there is one.
 * - TLS comes from the `TLS protocol SP_PROT_..._SERVER negotiation succeeded` row.
 * - Sessions between Exchange servers (X-EXPS authentication, XPROXY from a front end) are
 *   no client's: the front end's session counts, with the client's address and TLS.
 */
import type { AuthFailure, SubmittedMessage, TlsEvidence, TlsProtocol } from '../events.js';
import type {
  CorrelatorOptions,
  EmitEvent,
  FileCorrelator,
  LineOutcome,
} from '../formats/correlator.js';
import {
  DEFAULT_FIELD_INDEX,
  endpointAddress,
  parseFieldsHeader,
  parseRow,
  type ExchangeRow,
  type FieldIndex,
} from '../parsers/exchange/protocol-log.js';
import {
  isQueuedForDelivery,
  parseAuthFailedRow,
  parseCommand,
  parseReply,
  parseTlsRow,
  parseUserNameRow,
  queuedInternalId,
  type Command,
  type Reply,
} from '../parsers/exchange/smtp.js';

/** Exchange closes an idle client session within minutes, so a day covers a missing `-` row. */
const SESSION_TTL_MS = 24 * 3_600_000;

/** A line that starts with an SMTP command rather than base64 credentials. */
const SMTP_VERB =
  /^(?:EHLO|HELO|MAIL|RCPT|DATA|BDAT|RSET|QUIT|NOOP|STARTTLS|AUTH|X-EXPS|XPROXY\w*)(?: |$)/i;

/** A command waiting for its reply, with the address of a RCPT. */
type Pending = { verb: Command['verb']; recipient?: string; last?: boolean };

interface AuthAttempt {
  mechanism: string;
  time: number;
  failed: boolean;
  reason: string | null;
  user: string | null;
}

interface Transaction {
  sender: string;
  recipients: string[];
  receivingId: string | null;
}

interface Session {
  key: string;
  connectorId: string;
  sessionId: string;
  start: number;
  /** The `+` row was seen, so the whole session is in the log. */
  fromStart: boolean;
  clientIp: string;
  helo: string | null;
  starttls: boolean;
  tlsProtocol: TlsProtocol | null;
  tlsCipher: string | null;
  interServer: boolean;
  /** Commands waiting for their reply, oldest first (PIPELINING sends several at once). */
  pending: Pending[];
  attempt: AuthAttempt | null;
  /** The `authenticated` row's name, waiting for the 235 reply. */
  authenticatedName: string | null;
  account: string | null;
  saslMethod: string | null;
  transaction: Transaction | null;
  messages: number;
}

/** Serialised correlator state, saved with each checkpoint. */
export interface ExchangeState {
  version: 1;
  fieldIndex: FieldIndex;
  sessions: Session[];
}

export interface ExchangeCounters {
  messages: number;
  failures: number;
  evictedSessions: number;
  /** Messages of sessions between Exchange servers, not counted. */
  interServerMessages: number;
}

export class ExchangeCorrelator implements FileCorrelator {
  readonly format = 'exchange';
  private sessions = new Map<string, Session>();
  private fieldIndex: FieldIndex = DEFAULT_FIELD_INDEX;
  private newestTime = 0;
  private readonly emit: EmitEvent;
  private readonly serverName: string;
  readonly counters: ExchangeCounters = {
    messages: 0,
    failures: 0,
    evictedSessions: 0,
    interServerMessages: 0,
  };

  constructor(options: CorrelatorOptions) {
    this.emit = options.emit;
    this.serverName = options.serverName;
  }

  line(raw: string): LineOutcome {
    // Exchange writes CRLF line ends.
    const text = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (text.startsWith('#')) return this.header(text);
    if (text.trim() === '') return 'skipped';

    const row = parseRow(text, this.fieldIndex);
    if ('malformed' in row) return row;
    this.evictStale(row.time);
    return this.apply(row);
  }

  private header(text: string): LineOutcome {
    if (!text.startsWith('#Fields:')) return 'skipped';
    const index = parseFieldsHeader(text.slice(8));
    if (!index) return { malformed: 'a #Fields header without the SMTP protocol log columns' };
    this.fieldIndex = index;
    return 'skipped';
  }

  private apply(row: ExchangeRow): LineOutcome {
    if (row.event === '+') {
      this.closeSession(this.keyOf(row));
      this.sessions.set(this.keyOf(row), newSession(row, this.keyOf(row), true));
      return 'used';
    }

    const session = this.session(row);
    switch (row.event) {
      case '-':
        this.closeSession(session.key);
        return 'used';
      case '<':
        return this.command(session, row);
      case '>':
        return this.reply(session, row);
      default:
        return this.information(session, row);
    }
  }

  private command(session: Session, row: ExchangeRow): LineOutcome {
    if (session.pending[0]?.verb === 'AUTH') {
      // Lines a client sends inside an AUTH exchange are its credentials, not commands. A
      // command after it means the AUTH reply is missing from the log.
      if (!SMTP_VERB.test(row.data)) return 'skipped';
      session.pending.shift();
    }
    this.finishAttempt(session);

    const command = parseCommand(row.data);
    switch (command.verb) {
      case 'AUTH':
        session.attempt = newAttempt(command.mechanism, row.time);
        if (command.interServer) session.interServer = true;
        break;
      case 'XPROXY':
        // NOTE: the XPROXY commands of a front end to its mailbox server come from Exchange
        // documentation, not from a log read here.
        session.interServer = true;
        break;
      case 'EHLO':
        session.helo = command.helo;
        break;
      case 'MAIL':
        session.transaction = { sender: command.sender, recipients: [], receivingId: null };
        break;
      case 'RSET':
        session.transaction = null;
        break;
    }

    session.pending.push({
      verb: command.verb,
      recipient: command.verb === 'RCPT' ? command.recipient : undefined,
      last: command.verb === 'BDAT' ? command.last : undefined,
    });
    return 'used';
  }

  private reply(session: Session, row: ExchangeRow): LineOutcome {
    const reply = parseReply(row.data);
    if (!reply) return 'unsupported';
    // 334 (AUTH challenge) and 354 (send the data) are not final replies.
    if (reply.code < 200 || (reply.code >= 300 && reply.code < 400)) return 'skipped';

    if (isQueuedForDelivery(reply)) {
      this.popUntil(session, (verb) => verb === 'DATA' || verb === 'BDAT');
      this.queued(session, row, reply);
      return 'used';
    }

    const command = session.pending.shift();
    if (command) return this.replyTo(session, command, reply, row.time);

    // Exchange sends 535 only in reply to AUTH, whose row may be in a file that was not read.
    if (reply.code !== 535) return 'skipped';
    session.attempt ??= newAttempt('unknown', row.time);
    return this.authReply(session, reply, row.time);
  }

  private replyTo(session: Session, command: Pending, reply: Reply, time: number): LineOutcome {
    const accepted = reply.code >= 200 && reply.code < 300;
    switch (command.verb) {
      case 'AUTH':
        return this.authReply(session, reply, time);
      case 'STARTTLS':
        if (accepted) session.starttls = true;
        return 'used';
      case 'MAIL':
        if (!accepted) session.transaction = null;
        return 'used';
      case 'RCPT':
        if (accepted && session.transaction && command.recipient !== undefined) {
          session.transaction.recipients.push(command.recipient);
        }
        return 'used';
      default:
        return 'skipped';
    }
  }

  private authReply(session: Session, reply: Reply, time: number): LineOutcome {
    const attempt = session.attempt;
    if (!attempt) return 'skipped';

    if (reply.code === 235) {
      session.account = session.authenticatedName;
      session.saslMethod = attempt.mechanism;
      session.attempt = null;
      return 'used';
    }
    if (reply.code === 535) {
      // Exchange logs the `Inbound AUTH ... failed` and `User Name:` rows before the reply.
      attempt.failed = true;
      attempt.time = time;
      attempt.reason ??= reply.text;
      this.finishAttempt(session);
      return 'used';
    }
    // 454 (temporary failure) and 504 (mechanism not available) are no wrong password.
    session.attempt = null;
    return 'skipped';
  }

  private information(session: Session, row: ExchangeRow): LineOutcome {
    const context = row.context;
    if (context === 'authenticated') {
      session.authenticatedName = row.data;
      return 'used';
    }
    if (context === 'receiving message') {
      if (session.transaction) session.transaction.receivingId = row.data;
      return 'skipped';
    }

    const tls = parseTlsRow(context);
    if (tls) {
      session.tlsProtocol = tls.tlsProtocol;
      session.tlsCipher = tls.cipher;
      return 'used';
    }
    return this.authInformation(session, row);
  }

  private authInformation(session: Session, row: ExchangeRow): LineOutcome {
    const attempt = session.attempt;
    const reason = parseAuthFailedRow(row.context);
    if (reason !== null) {
      if (!attempt) return 'skipped';
      attempt.failed = true;
      attempt.reason = reason;
      return 'used';
    }

    const user = parseUserNameRow(row.context);
    if (user !== null && attempt) {
      attempt.user = user;
      return 'used';
    }
    return 'skipped';
  }

  private queued(session: Session, row: ExchangeRow, reply: Reply): void {
    const transaction = session.transaction;
    session.transaction = null;
    if (!transaction || session.account === null) return;
    if (session.interServer) {
      this.counters.interServerMessages++;
      return;
    }

    session.messages++;
    const tls = this.sessionTls(session);
    const message: SubmittedMessage = {
      kind: 'message',
      time: row.time,
      server: this.serverOf(session.connectorId),
      service: connectorName(session.connectorId),
      queueId:
        queuedInternalId(reply) ??
        transaction.receivingId ??
        `${session.sessionId}:${session.messages}`,
      account: session.account,
      saslMethod: session.saslMethod ?? 'unknown',
      senderAddress: transaction.sender,
      clientIp: session.clientIp,
      clientName: '',
      helo: session.helo,
      tlsProtocol: tls.tlsProtocol,
      tlsEvidence: tls.tlsEvidence,
      tlsCipher: session.tlsCipher,
      recipients: new Set(transaction.recipients.map((r) => r.toLowerCase())).size,
      size: 0,
    };
    this.counters.messages++;
    this.emit(message);
  }

  /** Emit the session's failed AUTH attempt, if any, once no more rows can belong to it. */
  private finishAttempt(session: Session): void {
    const attempt = session.attempt;
    if (!attempt || !attempt.failed) return;
    session.attempt = null;
    if (session.interServer) return;

    const tls = this.sessionTls(session);
    const failure: AuthFailure = {
      kind: 'failure',
      time: attempt.time,
      server: this.serverOf(session.connectorId),
      service: connectorName(session.connectorId),
      attemptedUsername: attempt.user,
      saslMethod: attempt.mechanism,
      clientIp: session.clientIp,
      clientName: '',
      tlsProtocol: tls.tlsProtocol,
      tlsEvidence: tls.tlsEvidence,
      reason: attempt.reason ?? 'unknown',
    };
    this.counters.failures++;
    this.emit(failure);
  }

  /**
   * The TLS row gives the version. STARTTLS without that row (Exchange 2010) proves TLS
   * without the version. A session seen from its `+` row without either had no TLS, and the
   * TLS state of one that began before the log is unknown.
   */
  private sessionTls(session: Session): { tlsProtocol: TlsProtocol; tlsEvidence: TlsEvidence } {
    if (session.tlsProtocol !== null)
      return { tlsProtocol: session.tlsProtocol, tlsEvidence: 'line' };
    if (session.starttls) return { tlsProtocol: 'unknown', tlsEvidence: 'starttls' };
    if (session.fromStart) return { tlsProtocol: 'none', tlsEvidence: 'no-line' };
    return { tlsProtocol: 'unknown', tlsEvidence: 'not-seen' };
  }

  private popUntil(session: Session, match: (verb: Command['verb']) => boolean): void {
    const at = session.pending.findIndex((command) => match(command.verb));
    session.pending.splice(0, at + 1);
  }

  private session(row: ExchangeRow): Session {
    const key = this.keyOf(row);
    let session = this.sessions.get(key);
    if (!session) {
      session = newSession(row, key, false);
      this.sessions.set(key, session);
    }
    return session;
  }

  private closeSession(key: string): void {
    const session = this.sessions.get(key);
    if (!session) return;
    this.finishAttempt(session);
    this.sessions.delete(key);
  }

  private keyOf(row: ExchangeRow): string {
    return `${row.connectorId}\n${row.sessionId}`;
  }

  /** Returns EX01 for `EX01\Client Frontend EX01`, and the `--server-name` for other ids. */
  private serverOf(connectorId: string): string {
    const slash = connectorId.indexOf('\\');
    return slash > 0 ? connectorId.slice(0, slash) : this.serverName;
  }

  /** Drop sessions without a `-` row, at most once a minute of log time. */
  private evictStale(now: number): void {
    if (now - this.newestTime < 60_000) return;
    this.newestTime = now;

    for (const [key, session] of this.sessions) {
      if (now - session.start < SESSION_TTL_MS) continue;
      this.closeSession(key);
      this.counters.evictedSessions++;
    }
  }

  snapshot(): ExchangeState {
    return { version: 1, fieldIndex: this.fieldIndex, sessions: [...this.sessions.values()] };
  }

  restore(saved: unknown): void {
    if (!isExchangeState(saved)) {
      throw new Error('invalid Exchange correlator state; delete the checkpoint to read again');
    }
    this.fieldIndex = saved.fieldIndex;
    this.sessions = new Map(saved.sessions.map((session) => [session.key, session]));
  }
}

function newAttempt(mechanism: string, time: number): AuthAttempt {
  return { mechanism, time, failed: false, reason: null, user: null };
}

function newSession(row: ExchangeRow, key: string, fromStart: boolean): Session {
  return {
    key,
    connectorId: row.connectorId,
    sessionId: row.sessionId,
    start: row.time,
    fromStart,
    clientIp: endpointAddress(row.remoteEndpoint),
    helo: null,
    starttls: false,
    tlsProtocol: null,
    tlsCipher: null,
    interServer: false,
    pending: [],
    attempt: null,
    authenticatedName: null,
    account: null,
    saslMethod: null,
    transaction: null,
    messages: 0,
  };
}

/** `Client Frontend EX01` from `EX01\Client Frontend EX01`. */
function connectorName(connectorId: string): string {
  const slash = connectorId.indexOf('\\');
  return slash < 0 ? connectorId : connectorId.slice(slash + 1);
}

function isExchangeState(value: unknown): value is ExchangeState {
  if (typeof value !== 'object' || value === null) return false;
  const state = value as Partial<ExchangeState>;
  return (
    state.version === 1 && Array.isArray(state.sessions) && typeof state.fieldIndex === 'object'
  );
}
