import type { AuthFailure, SubmittedMessage, TlsEvidence, TlsProtocol } from '../events.js';
import type {
  CorrelatorOptions,
  EmitEvent,
  LineOutcome,
  SyslogCorrelator,
  SyslogLine,
} from '../formats/correlator.js';
import { detach } from '../parsers/postfix/client.js';
import { isMalformed, SKIPPED } from '../parsers/result.js';
import type { Relay } from '../parsers/sendmail/relay.js';
import { afterQueueId, isDeliveryAt, isFromWithoutLoginAt } from '../parsers/sendmail/prefilter.js';
import {
  checkStarttls,
  parseSendmail,
  parseStarttls,
  starttlsText,
  type SendmailRecord,
} from '../parsers/sendmail/sm-mta.js';

/**
 * Syslog tags of the Sendmail daemon. Debian and FreeBSD tag it `sm-mta`, Red Hat `sendmail`;
 * FreeBSD also writes the process title `sm-acceptingconnections`. `sm-msp-queue` is the
 * queue runner of locally submitted mail: it never serves SMTP AUTH, so its lines are skipped.
 */
export const SENDMAIL_PROGRAMS: ReadonlySet<string> = new Set([
  'sendmail',
  'sm-mta',
  'sm-acceptingconnections',
  'sm-msp-queue',
]);

/**
 * One SMTP connection. Sendmail forks a process per connection, so the pid is the key. At
 * LogLevel 9 no line marks the start of a connection, so state that an earlier process with
 * the same pid left is recognised by its age and by the `proto=` of the `from=` line.
 */
interface Session {
  pid: number;
  /** Log time of the newest line of this session. */
  lastSeen: number;
  relay: Relay | null;
  tls: { version: string; cipher: string } | null;
  /**
   * A STARTTLS=server line not parsed yet. It gives `tls` and `relay` when the session is
   * first used (see settle): most connections never log in, and parsing their line is wasted.
   */
  starttls: string | null;
  auth: { account: string; mechanism: string } | null;
  /** The last queue id whose transaction this process logged as not accepted. */
  abortedQueueId: string | null;
}

/**
 * Sessions by pid, with a bit per pid beside the map: the prefilter looks up a pid on every
 * `to=` line, and the bit costs a fraction of a lookup in a map of thousands of sessions.
 * Linux pids stay below 2^22 (PID_MAX_LIMIT); a larger pid is looked up in the map.
 */
class PidSessions extends Map<number, Session> {
  private readonly bits = new Uint32Array(PID_BITS / 32);

  override set(pid: number, session: Session): this {
    if (pid < PID_BITS) this.bits[pid >>> 5] |= 1 << (pid & 31);
    return super.set(pid, session);
  }

  override delete(pid: number): boolean {
    if (pid < PID_BITS) this.bits[pid >>> 5] &= ~(1 << (pid & 31));
    return super.delete(pid);
  }

  hasPid(pid: number): boolean {
    if (pid >= PID_BITS) return this.has(pid);
    return (this.bits[pid >>> 5] & (1 << (pid & 31))) !== 0;
  }
}

const PID_BITS = 1 << 22;

interface ServerState {
  sessions: PidSessions;
  /** The log shows STARTTLS=server lines, so a session without one had no TLS. */
  tlsLogging: boolean;
}

/** Serialised correlator state, saved with each checkpoint, with every STARTTLS line parsed. */
export interface SendmailState {
  version: 1;
  servers: Array<{ server: string; tlsLogging: boolean; sessions: SavedSession[] }>;
}

type SavedSession = Omit<Session, 'starttls'>;

export interface SendmailCounters {
  messages: number;
  failures: number;
  /** `from=` lines of authenticated sessions whose AUTH=server line is not in the log. */
  messagesWithoutLogin: number;
  evictedSessions: number;
}

/**
 * Sendmail's Timeout.command is 1 hour by default, so a live connection is not idle for
 * longer. Twice that separates a reused pid from the connection that held it before.
 */
const SESSION_TTL_MS = 2 * 3_600_000;

/** OpenSSL's SSL_get_version names; Sendmail before 8.14 logged the cipher's version instead. */
const TLS_VERSIONS: Readonly<Record<string, TlsProtocol>> = {
  TLSv1: 'TLSv1',
  'TLSv1.1': 'TLSv1.1',
  'TLSv1.2': 'TLSv1.2',
  'TLSv1.3': 'TLSv1.3',
};

/**
 * Turns Sendmail daemon lines into SubmittedMessage and AuthFailure events. A message counts
 * at the `from=` line of a queue id whose connection logged `AUTH=server`, with the TLS
 * version of that connection's `STARTTLS=server` line.
 */
export class SendmailCorrelator implements SyslogCorrelator {
  readonly format = 'sendmail' as const;
  readonly counters: SendmailCounters = {
    messages: 0,
    failures: 0,
    messagesWithoutLogin: 0,
    evictedSessions: 0,
  };

  private readonly emit: EmitEvent;
  private servers = new Map<string, ServerState>();
  /** The values of `servers`, for the prefilter that runs on most lines. */
  private serverStates: ServerState[] = [];
  private lastEviction = 0;

  constructor(options: CorrelatorOptions) {
    this.emit = options.emit;
  }

  accepts(program: string): boolean {
    return SENDMAIL_PROGRAMS.has(program);
  }

  /**
   * Skip a `to=` line of a pid without a session, and a `from=` line without a login, before
   * it is decoded. A `to=` line matters only when the connection's own process logs it for a
   * message it did not accept (see aborted), and delivery processes and inbound mail write
   * most lines of a busy Sendmail log.
   */
  mayMatter(bytes: Buffer, start: number, end: number, pid: number): boolean {
    const at = afterQueueId(bytes, start, end);
    if (at < 0) return true;
    if (isDeliveryAt(bytes, at, end)) return this.hasSession(pid);
    return !isFromWithoutLoginAt(bytes, at, end);
  }

  private hasSession(pid: number): boolean {
    const states = this.serverStates;
    for (let i = 0; i < states.length; i++) if (states[i].sessions.hasPid(pid)) return true;
    return false;
  }

  line(line: SyslogLine): LineOutcome {
    if (line.program === 'sm-msp-queue') return 'skipped';

    const starttls = starttlsText(line.message);
    if (starttls !== null) return this.starttls(starttls, line);

    const record = parseSendmail(line.message);
    if (record === SKIPPED) return 'skipped';
    if (isMalformed(record)) return record;

    this.evictStale(line.time);
    return this.apply(record, line);
  }

  private apply(record: SendmailRecord, line: SyslogLine): LineOutcome {
    const state = this.serverState(line.server);
    switch (record.type) {
      case 'starttls':
        // starttlsText found these lines before they were parsed.
        return 'skipped';
      case 'auth':
        return this.auth(state, record, line);
      case 'auth-failure':
        return this.failure(state, record, line);
      case 'from':
        return this.from(state, record, line);
      case 'aborted':
        return this.aborted(state, record.queueId, line);
      case 'session-end':
        state.sessions.delete(line.pid);
        return 'used';
    }
  }

  /** Keep a STARTTLS=server line's text in its session, for settle to parse when needed. */
  private starttls(text: string, line: SyslogLine): LineOutcome {
    const problem = checkStarttls(text);
    if (problem === SKIPPED) return 'skipped';
    if (problem !== null) return problem;

    this.evictStale(line.time);
    const state = this.serverState(line.server);
    state.tlsLogging = true;
    // A connection negotiates TLS once, so a second handshake on this pid is a new process.
    const hasTls = (known: Session) => known.tls !== null || known.starttls !== null;
    const session = this.freshSession(state, line, hasTls);
    session.starttls = text;
    return 'used';
  }

  /** Parse the STARTTLS=server line that a session keeps, into its TLS state and relay. */
  private settle(session: Session): void {
    if (session.starttls === null) return;
    const record = parseStarttls(session.starttls);
    session.starttls = null;
    if (record === SKIPPED || isMalformed(record) || record.type !== 'starttls') return;

    session.tls = { version: detach(record.version), cipher: detach(record.cipher) };
    session.relay = detachRelay(record.relay);
  }

  private auth(
    state: ServerState,
    record: Extract<SendmailRecord, { type: 'auth' }>,
    line: SyslogLine,
  ): LineOutcome {
    // Sendmail replies 503 to a second AUTH in one connection, so this is a new process.
    // NOTE: that new process loses a STARTTLS line it logged before this AUTH line.
    const session = this.freshSession(state, line, (known) => known.auth !== null);
    this.settle(session);
    session.auth = { account: detach(record.authid), mechanism: detach(record.mechanism) };
    session.relay = detachRelay(record.relay);
    return 'used';
  }

  private failure(
    state: ServerState,
    record: Extract<SendmailRecord, { type: 'auth-failure' }>,
    line: SyslogLine,
  ): LineOutcome {
    const session = this.liveSession(state, line);
    if (session) this.settle(session);
    const tls = sessionTls(state, session);
    const relay = record.relay ?? session?.relay ?? null;
    const failure: AuthFailure = {
      kind: 'failure',
      time: line.time,
      server: line.server,
      service: line.program,
      attemptedUsername: record.user === null ? null : detach(record.user),
      saslMethod: detach(record.mechanism),
      clientIp: relay ? detach(relay.ip) : '',
      clientName: relay ? detach(relay.name) : '',
      tlsProtocol: tls.protocol,
      tlsEvidence: tls.evidence,
      reason: detach(record.reason),
    };
    this.counters.failures++;
    this.emit(failure);
    return 'used';
  }

  private from(
    state: ServerState,
    record: Extract<SendmailRecord, { type: 'from' }>,
    line: SyslogLine,
  ): LineOutcome {
    // The parser skips the lines whose protocol shows no login.
    const session = this.liveSession(state, line);
    if (!session?.auth) {
      if (record.proto !== null) this.counters.messagesWithoutLogin++;
      return 'skipped';
    }
    if (!isAccepted(record, session)) return 'skipped';
    this.settle(session);

    this.emitMessage(this.message(state, session, record, line));
    return 'used';
  }

  private message(
    state: ServerState,
    session: Session,
    record: Extract<SendmailRecord, { type: 'from' }>,
    line: SyslogLine,
  ): SubmittedMessage {
    const tls = messageTls(state, session, record.proto);
    const relay = record.relay ?? session.relay;
    return {
      kind: 'message',
      time: line.time,
      server: line.server,
      service: record.daemon === null ? line.program : `${line.program}/${record.daemon}`,
      queueId: detach(record.queueId),
      account: session.auth!.account,
      saslMethod: session.auth!.mechanism,
      senderAddress: detach(record.senderAddress),
      clientIp: relay ? detach(relay.ip) : '',
      clientName: relay ? detach(relay.name) : '',
      helo: null,
      tlsProtocol: tls.protocol,
      tlsEvidence: tls.evidence,
      tlsCipher: tls.cipher,
      recipients: record.recipients,
      size: record.size,
    };
  }

  private aborted(state: ServerState, queueId: string, line: SyslogLine): LineOutcome {
    // Delivery processes log `to=` lines too; only the connection's own process matters.
    const session = this.liveSession(state, line);
    if (!session) return 'skipped';
    session.abortedQueueId = detach(queueId);
    return 'used';
  }

  private emitMessage(message: SubmittedMessage): void {
    this.counters.messages++;
    this.emit(message);
  }

  private serverState(server: string): ServerState {
    let state = this.servers.get(server);
    if (!state) {
      state = { sessions: new PidSessions(), tlsLogging: false };
      this.servers.set(server, state);
      this.serverStates.push(state);
    }
    return state;
  }

  /** The session of this pid if it is recent enough to be the same process. */
  private liveSession(state: ServerState, line: SyslogLine): Session | undefined {
    const session = state.sessions.get(line.pid);
    if (!session) return undefined;
    if (line.time - session.lastSeen > SESSION_TTL_MS) {
      state.sessions.delete(line.pid);
      return undefined;
    }
    session.lastSeen = line.time;
    return session;
  }

  /** The live session of this pid, or a new one when there is none or `isOver` says so. */
  private freshSession(
    state: ServerState,
    line: SyslogLine,
    isOver: (session: Session) => boolean,
  ): Session {
    const known = this.liveSession(state, line);
    if (known && !isOver(known)) return known;

    const session: Session = {
      pid: line.pid,
      lastSeen: line.time,
      relay: null,
      tls: null,
      starttls: null,
      auth: null,
      abortedQueueId: null,
    };
    state.sessions.set(line.pid, session);
    return session;
  }

  /** Drop sessions idle for longer than the TTL, checked once per quarter of the TTL. */
  private evictStale(now: number): void {
    // Sendmail logs no end for most sessions, so a busy server keeps thousands here. A sweep
    // per quarter of the TTL bounds their number without walking them every minute.
    if (now - this.lastEviction < SESSION_TTL_MS / 4) return;
    this.lastEviction = now;

    for (const state of this.servers.values()) {
      for (const session of state.sessions.values()) {
        if (now - session.lastSeen <= SESSION_TTL_MS) continue;
        state.sessions.delete(session.pid);
        this.counters.evictedSessions++;
      }
    }
  }

  snapshot(): SendmailState {
    const servers = [...this.servers].map(([server, state]) => ({
      server,
      tlsLogging: state.tlsLogging,
      sessions: [...state.sessions.values()].map((session) => this.saved(session)),
    }));
    return { version: 1, servers };
  }

  private saved(session: Session): SavedSession {
    this.settle(session);
    const { starttls, ...saved } = session;
    void starttls;
    return saved;
  }

  restore(saved: unknown): void {
    this.servers = new Map();
    this.serverStates = [];
    if (!isRecord(saved) || !Array.isArray(saved.servers)) {
      throw new Error('invalid Sendmail correlator state: expected { version, servers: [] }');
    }
    // State written by another version is dropped: at worst a message whose lines straddle
    // that upgrade is missed.
    if (saved.version !== 1) return;

    for (const entry of saved.servers as SendmailState['servers']) {
      const sessions = new PidSessions();
      for (const session of entry.sessions)
        sessions.set(session.pid, { ...session, starttls: null });
      this.servers.set(entry.server, { sessions, tlsLogging: entry.tlsLogging });
    }
    this.serverStates = [...this.servers.values()];
  }
}

/**
 * A `from=` line is also written for a transaction that ended without a message: after RSET,
 * QUIT or a broken DATA phase Sendmail logs the envelope it had, with `nrcpts=` of the
 * recipients given so far but without `msgid=`, because it never read the headers.
 * NOTE: a cf file without the standard `Message-Id` header definition may leave `msgid=`
 * out of accepted messages too; proto.m4 always defines it.
 */
function isAccepted(record: Extract<SendmailRecord, { type: 'from' }>, session: Session): boolean {
  if (record.recipients === 0 || record.msgid === null) return false;
  return session.abortedQueueId !== record.queueId;
}

function sessionTls(
  state: ServerState,
  session: Session | undefined,
): { protocol: TlsProtocol; evidence: TlsEvidence; cipher: string | null } {
  if (session?.tls) {
    return {
      protocol: TLS_VERSIONS[session.tls.version] ?? 'unknown',
      evidence: 'line',
      cipher: session.tls.cipher || null,
    };
  }
  // NOTE: a connection that negotiated TLS before the log starts is taken as one without TLS.
  return { protocol: state.tlsLogging ? 'none' : 'unknown', evidence: 'no-line', cipher: null };
}

/**
 * The TLS state of a message. `proto=` says whether TLS was active (ESMTPSA) or not (ESMTPA)
 * even where no STARTTLS=server line was logged, and it outranks state that a reused pid
 * may have left.
 */
function messageTls(
  state: ServerState,
  session: Session,
  proto: string | null,
): { protocol: TlsProtocol; evidence: TlsEvidence; cipher: string | null } {
  if (proto === null) return sessionTls(state, session);

  const tlsActive = proto.endsWith('SA');
  if (!tlsActive) return { protocol: 'none', evidence: 'no-line', cipher: null };
  if (!session.tls) return { protocol: 'unknown', evidence: 'starttls', cipher: null };
  return sessionTls(state, session);
}

function detachRelay(relay: Relay): Relay {
  return { name: detach(relay.name), ip: detach(relay.ip) };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null;
}
