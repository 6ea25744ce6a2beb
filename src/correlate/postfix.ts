import type {
  AuthFailure,
  ReportEvent,
  SubmittedMessage,
  TlsEvidence,
  TlsProtocol,
} from '../events.js';
import type { QmgrRecord } from '../parsers/postfix/qmgr.js';
import { parseTls, starttlsCount, type SmtpdRecord } from '../parsers/postfix/smtpd.js';
import { isMalformed } from '../parsers/result.js';

/**
 * An smtpd session: from `connect from` to `disconnect from` on one process. One smtpd
 * process serves many connections in turn, so state starts afresh at each `connect from`.
 * Within a server a pid belongs to one process at a time, so the pid is the key. A closed
 * session stays in its map and is reused by the process's next connection: a busy log has
 * a connection every few lines, and a new object and map entry for each kept the garbage
 * collector busy.
 */
interface Session {
  pid: number;
  /** False after `disconnect from`, until the next `connect from` of the process. */
  open: boolean;
  start: number;
  /** The version in the session's TLS line; null before a TLS line. */
  tlsProtocol: TlsProtocol | null;
  /** The cipher in the TLS line; null when that line could not be read. */
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

/** Correlator state of one mail server, because queue ids and pids are unique per server. */
interface ServerState {
  sessions: Map<number, Session>;
  /** Keyed by queue id, in the order the `client=` lines came. */
  pending: Map<string, PendingMessage>;
  /** Pending queue ids counted by a hash, to reject most qmgr lines from their bytes. */
  pendingHashes: Uint32Array;
  /** The log shows TLS lines, so a session without one had no TLS. */
  tlsLogging: boolean;
}

/** The time and service of a line that starts a session, logs in or fails to. */
export interface LineContext {
  server: string;
  pid: number;
  /** `postfix/submission/smtpd`. */
  service: string;
  time: number;
}

/** State older than this (in log time) is evicted, so a damaged log cannot grow memory. */
const SESSION_TTL_MS = 24 * 3_600_000;
/** A closed session kept for its process's next connection goes after an hour unused. */
const CLOSED_SESSION_TTL_MS = 3_600_000;
/** Sessions are looked at every ten minutes of log time: the map contains every recent pid. */
const SESSION_SWEEP_MS = 10 * 60_000;
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
export type PostfixState = PostfixStateV4 | PostfixStateV3;

interface PostfixStateV4 {
  version: 4;
  servers: Array<SavedServer<Omit<Session, 'open' | 'waiting'> & { waiting: string[] }>>;
}

/** The state of version 3 kept the TLS line itself; it is still read after an upgrade. */
interface PostfixStateV3 {
  version: 3;
  servers: Array<
    SavedServer<{ pid: number; start: number; tlsLine: string | null; waiting: string[] }>
  >;
}

interface SavedServer<S> {
  server: string;
  tlsLogging: boolean;
  sessions: S[];
  pending: PendingMessage[];
}

/**
 * Turns Postfix smtpd and qmgr lines into SubmittedMessage and AuthFailure events,
 * following the counting rules: a message counts when qmgr first queues a queue id whose
 * smtpd `client=` line carries `sasl_username`; its TLS version is the one of the smtpd
 * session that accepted it.
 */
export class PostfixCorrelator {
  private servers = new Map<string, ServerState>();
  private lastServer = '';
  private lastState: ServerState | undefined;
  private newestTime = 0;
  private sessionsSwept = 0;
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

  connect(server: string, pid: number, time: number): void {
    const state = this.serverState(server);
    const session = state.sessions.get(pid);
    if (session === undefined) {
      state.sessions.set(pid, newSession(pid, time));
      return;
    }

    // A session that never logged its disconnect ends here.
    if (session.open) this.finishSession(state, session, 0);
    session.open = true;
    session.start = time;
    session.tlsProtocol = null;
    session.tlsCipher = null;
  }

  /**
   * Record a `TLS connection established from` line: its version and cipher, or `unknown`
   * and null when the line could not be read.
   */
  tls(server: string, pid: number, protocol: TlsProtocol, cipher: string | null): void {
    const state = this.serverState(server);
    state.tlsLogging = true;
    const session = openSession(state, pid);
    if (!session) return;
    session.tlsProtocol = protocol;
    session.tlsCipher = cipher;
  }

  /**
   * End a session. The disconnect payload bytes[start, end) is read for its STARTTLS
   * counter only when a message waits for it.
   */
  disconnect(server: string, pid: number, bytes: Buffer, start: number, end: number): void {
    const state = this.serverState(server);
    const session = openSession(state, pid);
    if (!session) return;
    session.open = false;
    if (session.waiting.length > 0) {
      this.finishSession(state, session, starttlsCount(bytes, start, end));
    }
  }

  client(record: Extract<SmtpdRecord, { type: 'client' }>, line: LineContext): void {
    const state = this.serverState(line.server);
    const session = openSession(state, line.pid);
    const tls = this.sessionTls(state, session);
    const message: SubmittedMessage = {
      kind: 'message',
      time: line.time,
      server: line.server,
      service: line.service,
      queueId: record.queueId,
      account: record.saslUsername,
      saslMethod: record.saslMethod,
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

    const awaitingSession =
      session !== undefined && tls.evidence === 'no-line' && !state.tlsLogging;
    // A queue id seen again before its qmgr line was reused after a lost message.
    this.removePending(state, record.queueId);
    this.addPending(state, { message, queued: false, awaitingSession });
    if (awaitingSession) session.waiting.push(state.pending.get(record.queueId)!);
    this.evictStale(line.time);
  }

  failure(record: Extract<SmtpdRecord, { type: 'auth-failure' }>, line: LineContext): void {
    const state = this.serverState(line.server);
    const tls = this.sessionTls(state, openSession(state, line.pid));
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

  backendError(): void {
    this.counters.authBackendErrors++;
  }

  /**
   * False when no queue id waiting on this server has the hash of the queue id at
   * bytes[start]: then the qmgr line cannot matter and is not read further.
   */
  mayBePending(server: string, bytes: Buffer, start: number, end: number): boolean {
    const state = this.serverState(server);
    if (state.pending.size === 0) return false;
    return state.pendingHashes[queueIdHashOfBytes(bytes, start, end)] > 0;
  }

  qmgr(record: QmgrRecord, server: string): void {
    const state = this.serverState(server);
    const entry = state.pending.get(record.queueId);
    if (!entry) return;

    if (record.type === 'removed') {
      // Deleted before qmgr queued it (postsuper -d on a held message): no message.
      if (!entry.queued) this.removePending(state, record.queueId);
      return;
    }
    if (entry.queued) return;

    entry.message.senderAddress = record.senderAddress;
    entry.message.recipients = record.recipients;
    entry.message.size = record.size;
    entry.queued = true;
    if (entry.awaitingSession) return;

    // Later from= lines for this queue id are delivery retries, so the entry goes now.
    this.removePending(state, record.queueId);
    this.emitMessage(entry.message);
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

  private addPending(state: ServerState, entry: PendingMessage): void {
    const queueId = entry.message.queueId;
    state.pending.set(queueId, entry);
    state.pendingHashes[queueIdHash(queueId)]++;
  }

  private removePending(state: ServerState, queueId: string): void {
    if (state.pending.delete(queueId)) state.pendingHashes[queueIdHash(queueId)]--;
  }

  /** Settle the TLS state of messages that waited for the end of their session. */
  private finishSession(state: ServerState, session: Session, starttls: number): void {
    for (const entry of session.waiting) {
      entry.awaitingSession = false;
      entry.message.tlsEvidence = starttls > 0 ? 'starttls' : 'no-line';
      entry.message.tlsProtocol = this.noTlsLine(state, starttls > 0);
      if (!entry.queued) continue;
      this.removePending(state, entry.message.queueId);
      this.emitMessage(entry.message);
    }
    if (session.waiting.length > 0) session.waiting = [];
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
    if (session.tlsProtocol === null) {
      return { protocol: this.noTlsLine(state, false), evidence: 'no-line', cipher: null };
    }
    return { protocol: session.tlsProtocol, evidence: 'line', cipher: session.tlsCipher };
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
    const sweepSessions = now - this.sessionsSwept >= SESSION_SWEEP_MS;
    if (sweepSessions) this.sessionsSwept = now;

    for (const state of this.servers.values()) {
      if (sweepSessions) this.evictSessions(state, now);
      for (const [queueId, entry] of state.pending) {
        // Map order is insertion order, so the first young entry ends the scan.
        if (now - entry.message.time < QUEUE_TTL_MS) break;
        this.removePending(state, queueId);
        this.counters.evictedMessages++;
      }
    }
  }

  private evictSessions(state: ServerState, now: number): void {
    for (const [pid, session] of state.sessions) {
      const age = now - session.start;
      if (age < (session.open ? SESSION_TTL_MS : CLOSED_SESSION_TTL_MS)) continue;
      state.sessions.delete(pid);
      if (!session.open) continue;
      this.finishSession(state, session, 0);
      this.counters.evictedSessions++;
    }
  }

  snapshot(): PostfixState {
    const servers = [...this.servers].map(([server, state]) => ({
      server,
      tlsLogging: state.tlsLogging,
      sessions: [...state.sessions.values()]
        .filter((session) => session.open)
        .map((session) => ({
          pid: session.pid,
          start: session.start,
          tlsProtocol: session.tlsProtocol,
          tlsCipher: session.tlsCipher,
          waiting: session.waiting.map((entry) => entry.message.queueId),
        })),
      pending: [...state.pending.values()],
    }));
    return { version: 4, servers };
  }

  restore(saved: PostfixState): void {
    this.servers = new Map();
    this.lastState = undefined;
    this.lastServer = '';
    // State written by an older version is dropped: at worst a message split across that
    // upgrade is missed.
    if (saved.version !== 3 && saved.version !== 4) return;

    for (const entry of saved.servers) {
      const state = newServerState(entry.tlsLogging);
      for (const p of entry.pending) this.addPending(state, p);
      for (const session of entry.sessions) {
        const waiting = session.waiting.flatMap((id) => state.pending.get(id) ?? []);
        const tls = 'tlsLine' in session ? tlsOfLine(session.tlsLine) : session;
        state.sessions.set(session.pid, {
          pid: session.pid,
          open: true,
          start: session.start,
          tlsProtocol: tls.tlsProtocol,
          tlsCipher: tls.tlsCipher,
          waiting,
        });
      }
      this.servers.set(entry.server, state);
    }
  }
}

/** The TLS facts of a TLS line payload saved by version 3. */
function tlsOfLine(line: string | null): Pick<Session, 'tlsProtocol' | 'tlsCipher'> {
  if (line === null) return { tlsProtocol: null, tlsCipher: null };
  const tls = parseTls({ text: line, bytes: Buffer.from(line, 'latin1'), base: 0 });
  if (isMalformed(tls)) return { tlsProtocol: 'unknown', tlsCipher: null };
  return { tlsProtocol: tls.tlsProtocol, tlsCipher: tls.cipher };
}

function newSession(pid: number, start: number): Session {
  return { pid, open: true, start, tlsProtocol: null, tlsCipher: null, waiting: [] };
}

/** Return the session of a pid while it is open; undefined once it has ended. */
function openSession(state: ServerState, pid: number): Session | undefined {
  const session = state.sessions.get(pid);
  return session?.open ? session : undefined;
}

function newServerState(tlsLogging: boolean): ServerState {
  return {
    sessions: new Map(),
    pending: new Map(),
    pendingHashes: new Uint32Array(1 << HASH_BITS),
    tlsLogging,
  };
}

/**
 * Bits of the queue id hash. Thousands of queue ids can wait at once, because RSET leaves a
 * `client=` line that no qmgr line ever completes, and it waits a week. With 2^19 slots,
 * fewer than 1 % of other qmgr lines get past the hash even then.
 */
const HASH_BITS = 19;
const FNV_OFFSET = 0x811c9dc5;
const FNV_PRIME = 0x01000193;

/** FNV-1a of a queue id, cut to HASH_BITS. Queue ids are ASCII letters and digits. */
function queueIdHash(queueId: string): number {
  let hash = FNV_OFFSET;
  for (let i = 0; i < queueId.length; i++)
    hash = Math.imul(hash ^ queueId.charCodeAt(i), FNV_PRIME);
  return hash >>> (32 - HASH_BITS);
}

/**
 * Compute queueIdHash of the letters and digits at bytes[start], which the qmgr parser reads
 * as the queue id.
 */
function queueIdHashOfBytes(bytes: Buffer, start: number, end: number): number {
  let hash = FNV_OFFSET;
  for (let i = start; i < end; i++) {
    const c = bytes[i];
    const alphanumeric = (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122);
    if (!alphanumeric) break;
    hash = Math.imul(hash ^ c, FNV_PRIME);
  }
  return hash >>> (32 - HASH_BITS);
}
