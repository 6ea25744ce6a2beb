/**
 * Turns Dovecot lines into SubmittedMessage and AuthFailure events for its submission
 * service (Dovecot 2.3 and later), from syslog (`DovecotCorrelator`) or from Dovecot's own
 * log file (`DovecotLogFileCorrelator`).
 *
 * - A message counts on `Successfully relayed message`: the relay MTA accepted it. Account,
 *   mechanism, client IP and TLS come from the submission-login `Login:` line of the same
 *   session id. Dovecot's `nrcpt` counts accepted RCPT commands, duplicates included.
 * - Failed logins are the auth process's lines (auth_verbose = yes), one per attempt, tied
 *   by session id to the login process that received them. They count only when that is
 *   submission-login; IMAP, POP3 and ManageSieve failures are no SMTP AUTH. Without
 *   auth_verbose, the `(auth failed, N attempts ...)` line gives N failures, the last one
 *   with the user name it shows.
 * - Auth lines without a session id come from an MTA that authenticates through Dovecot's
 *   auth socket (Postfix `smtpd_sasl_type = dovecot`). That MTA logs the same attempt, so
 *   they are skipped here.
 */
import type { AuthFailure, SubmittedMessage, TlsEvidence, TlsProtocol } from '../events.js';
import type {
  CorrelatorOptions,
  EmitEvent,
  FileCorrelator,
  LineOutcome,
  SyslogCorrelator,
  SyslogLine,
} from '../formats/correlator.js';
import {
  parseDovecotMessage,
  type DovecotRecord,
  type LoginFields,
} from '../parsers/dovecot/line.js';
import { DovecotLogFileReader } from '../parsers/dovecot/log-file.js';
import { bytesAt } from '../parsers/postfix/client.js';
import { SKIPPED } from '../parsers/result.js';

/** The submission service as the report names it. */
const SERVICE = 'dovecot/submission';

/** A submission session lasts minutes, so a day covers any that a damaged log leaves open. */
const SESSION_TTL_MS = 24 * 3_600_000;
/** Login processes give up on a client long before this (Dovecot 2.3: about 3 minutes). */
const PENDING_AUTH_TTL_MS = 3_600_000;

/** A submission-login session after its `Login:` line. */
interface LoginSession {
  session: string;
  time: number;
  user: string;
  method: string;
  clientIp: string;
  tlsProtocol: TlsProtocol;
  tlsEvidence: TlsEvidence;
  tlsCipher: string | null;
  /** The login line had no TLS element, so its TLS state depends on the server's other lines. */
  noTlsElement: boolean;
}

/** One failed lookup from an auth line, waiting for the login process of its session. */
interface AuthAttempt {
  time: number;
  user: string | null;
  reason: string;
}

interface PendingAuth {
  session: string;
  time: number;
  attempts: AuthAttempt[];
}

interface ServerState {
  logins: Map<string, LoginSession>;
  pendingAuth: Map<string, PendingAuth>;
  /** Login lines here carry `%c` TLS elements, so a line without one had no TLS. */
  tlsMarkers: boolean;
}

/** Serialised correlator state, saved with each checkpoint. */
export interface DovecotState {
  version: 1;
  servers: Array<{
    server: string;
    tlsMarkers: boolean;
    logins: LoginSession[];
    pendingAuth: PendingAuth[];
  }>;
}

export interface DovecotCounters {
  messages: number;
  failures: number;
  /** Auth lines of sessions whose login process never logged, dropped after an hour. */
  evictedAuthLines: number;
  evictedSessions: number;
}

/** The correlation shared by the syslog and the log-file reader. */
class DovecotEvents {
  private servers = new Map<string, ServerState>();
  private newestTime = 0;
  readonly counters: DovecotCounters = {
    messages: 0,
    failures: 0,
    evictedAuthLines: 0,
    evictedSessions: 0,
  };

  constructor(private readonly emit: EmitEvent) {}

  handle(time: number, server: string, message: string): LineOutcome {
    const record = parseDovecotMessage(message);
    if (record === SKIPPED) return 'skipped';
    if (Number.isNaN(time)) return { malformed: 'unreadable time stamp' };

    const state = this.serverState(server);
    this.evictStale(time);
    return this.apply(record, time, server, state);
  }

  private apply(record: DovecotRecord, time: number, server: string, state: ServerState) {
    switch (record.type) {
      case 'login':
        return this.login(record, time, server, state);
      case 'login-failed':
        return this.loginFailed(record, time, server, state);
      case 'relayed':
        return this.relayed(record, time, server, state);
      case 'logout':
        state.logins.delete(record.session);
        return 'skipped';
      case 'auth-failure':
        return this.authFailure(record, time, state);
    }
  }

  private login(
    record: LoginFields,
    time: number,
    server: string,
    state: ServerState,
  ): LineOutcome {
    if (record.tls.marker) state.tlsMarkers = true;
    const pending = this.takePending(state, record.session);
    if (record.protocol !== 'submission') return 'skipped';
    if (record.session === null || record.user === null) return { malformed: 'no session or user' };

    // A name that logs in exists, so an `unknown user` line for it in the same session is a
    // miss of an earlier passdb (several passdbs), not a failed attempt.
    const failed = (pending?.attempts ?? []).filter(
      (attempt) => !(attempt.user === record.user && attempt.reason === 'unknown user'),
    );
    for (const attempt of failed) this.emitFailure(record, attempt, server, state);

    const noTlsElement = record.tls.tlsEvidence === 'no-line';
    state.logins.set(record.session, {
      session: record.session,
      time,
      user: record.user,
      method: record.method ?? 'unknown',
      clientIp: record.clientIp,
      tlsProtocol: record.tls.tlsProtocol,
      tlsEvidence: record.tls.tlsEvidence,
      tlsCipher: record.tls.tlsCipher,
      noTlsElement,
    });
    return 'used';
  }

  private loginFailed(
    record: LoginFields & { attempts: number },
    time: number,
    server: string,
    state: ServerState,
  ): LineOutcome {
    if (record.tls.marker) state.tlsMarkers = true;
    const pending = this.takePending(state, record.session);
    if (record.protocol !== 'submission') return 'skipped';

    const attempts = attemptsOf(record.attempts, pending?.attempts ?? [], record.user, time);
    for (const attempt of attempts) this.emitFailure(record, attempt, server, state);
    return 'used';
  }

  private relayed(
    record: Extract<DovecotRecord, { type: 'relayed' }>,
    time: number,
    server: string,
    state: ServerState,
  ): LineOutcome {
    const login = record.session === null ? undefined : state.logins.get(record.session);
    const tls = login ? this.settleTls(login, state) : NOT_SEEN;
    const message: SubmittedMessage = {
      kind: 'message',
      time,
      server,
      service: SERVICE,
      queueId: record.id,
      account: record.user,
      saslMethod: login?.method ?? 'unknown',
      senderAddress: record.senderAddress,
      clientIp: login?.clientIp ?? '',
      clientName: '',
      helo: null,
      tlsProtocol: tls.tlsProtocol,
      tlsEvidence: tls.tlsEvidence,
      tlsCipher: login?.tlsCipher ?? null,
      recipients: record.recipients,
      size: record.size,
    };
    this.counters.messages++;
    this.emit(message);
    return 'used';
  }

  private authFailure(
    record: Extract<DovecotRecord, { type: 'auth-failure' }>,
    time: number,
    state: ServerState,
  ): LineOutcome {
    // No session id: an MTA asked over the auth socket, and its own log counts the attempt.
    if (record.session === null) return 'skipped';

    let pending = state.pendingAuth.get(record.session);
    if (!pending) {
      pending = { session: record.session, time, attempts: [] };
      state.pendingAuth.set(record.session, pending);
    }
    pending.attempts.push({ time, user: record.user, reason: record.reason });
    return 'used';
  }

  private emitFailure(
    record: LoginFields,
    attempt: AuthAttempt,
    server: string,
    state: ServerState,
  ): void {
    const noTls = record.tls.tlsEvidence === 'no-line';
    const failure: AuthFailure = {
      kind: 'failure',
      time: attempt.time,
      server,
      service: SERVICE,
      attemptedUsername: attempt.user,
      saslMethod: record.method ?? 'unknown',
      clientIp: record.clientIp,
      clientName: '',
      tlsProtocol: noTls ? noTlsProtocol(state) : record.tls.tlsProtocol,
      tlsEvidence: record.tls.tlsEvidence,
      reason: attempt.reason,
    };
    this.counters.failures++;
    this.emit(failure);
  }

  private settleTls(login: LoginSession, state: ServerState) {
    if (!login.noTlsElement) return login;
    return { tlsProtocol: noTlsProtocol(state), tlsEvidence: login.tlsEvidence };
  }

  private takePending(state: ServerState, session: string | null): PendingAuth | undefined {
    if (session === null) return undefined;
    const pending = state.pendingAuth.get(session);
    state.pendingAuth.delete(session);
    return pending;
  }

  private serverState(server: string): ServerState {
    let state = this.servers.get(server);
    if (!state) {
      state = { logins: new Map(), pendingAuth: new Map(), tlsMarkers: false };
      this.servers.set(server, state);
    }
    return state;
  }

  /** Drop sessions that can no longer complete, at most once a minute of log time. */
  private evictStale(now: number): void {
    if (now - this.newestTime < 60_000) return;
    this.newestTime = now;

    for (const state of this.servers.values()) {
      for (const [session, login] of state.logins) {
        if (now - login.time < SESSION_TTL_MS) break;
        state.logins.delete(session);
        this.counters.evictedSessions++;
      }
      for (const [session, pending] of state.pendingAuth) {
        if (now - pending.time < PENDING_AUTH_TTL_MS) break;
        state.pendingAuth.delete(session);
        this.counters.evictedAuthLines += pending.attempts.length;
      }
    }
  }

  snapshot(): DovecotState {
    const servers = [...this.servers].map(([server, state]) => ({
      server,
      tlsMarkers: state.tlsMarkers,
      logins: [...state.logins.values()],
      pendingAuth: [...state.pendingAuth.values()],
    }));
    return { version: 1, servers };
  }

  restore(saved: unknown): void {
    if (!isDovecotState(saved)) {
      throw new Error('invalid Dovecot correlator state; delete the checkpoint to read again');
    }
    this.servers = new Map();
    for (const entry of saved.servers) {
      this.servers.set(entry.server, {
        tlsMarkers: entry.tlsMarkers,
        logins: new Map(entry.logins.map((login) => [login.session, login])),
        pendingAuth: new Map(entry.pendingAuth.map((pending) => [pending.session, pending])),
      });
    }
  }
}

const NOT_SEEN = { tlsProtocol: 'unknown', tlsEvidence: 'not-seen' } as const;

/**
 * A login line without a TLS element had no TLS when the server's other login lines show
 * `%c` elements. Otherwise login_log_format_elements may lack `%c`, and the state is unknown.
 */
function noTlsProtocol(state: ServerState): TlsProtocol {
  return state.tlsMarkers ? 'none' : 'unknown';
}

/**
 * Returns the attempts of a session that ended with `(auth failed, N attempts ...)`. Each auth line
 * is one attempt. With several passdbs one attempt logs a line per passdb, so when there are
 * more lines than attempts, repeats of the same name count once. When auth_verbose is off
 * there are no lines: the login line names only the last attempt's user.
 */
function attemptsOf(
  count: number,
  lines: AuthAttempt[],
  lastUser: string | null,
  time: number,
): AuthAttempt[] {
  if (lines.length === count) return lines;

  if (lines.length > count) {
    const collapsed = lines.filter((line, i) => i === 0 || line.user !== lines[i - 1].user);
    if (collapsed.length === count) return collapsed;
    return lines.slice(-count);
  }

  const missing = Array.from({ length: count - lines.length }, (_, i) => ({
    time,
    user: lines.length === 0 && i === count - 1 ? lastUser : null,
    reason: 'auth failed',
  }));
  return [...lines, ...missing];
}

function isDovecotState(value: unknown): value is DovecotState {
  if (typeof value !== 'object' || value === null) return false;
  const state = value as Partial<DovecotState>;
  return state.version === 1 && Array.isArray(state.servers);
}

/** Options of the Dovecot readers. `year` and `referenceMs` date the `log_path` lines. */
export interface DovecotOptions extends CorrelatorOptions {
  /** The year of the file's first line, for time stamps without one (`--year`). */
  year?: number;
  /** No line is later than this (the file's modification time). The default is now. */
  referenceMs?: number;
}

const DOVECOT_PREFIX = Buffer.from('dovecot: ');
const OTHER_MAIL_PROCESSES = ['imap(', 'pop3(', 'lmtp(', 'managesieve('].map((text) =>
  Buffer.from(text),
);

/** Dovecot lines from syslog: program `dovecot`. */
export class DovecotCorrelator implements SyslogCorrelator {
  readonly format = 'dovecot';
  private readonly events: DovecotEvents;

  constructor(options: CorrelatorOptions) {
    this.events = new DovecotEvents(options.emit);
  }

  get counters(): DovecotCounters {
    return this.events.counters;
  }

  accepts(program: string): boolean {
    return program === 'dovecot';
  }

  /** Lines of the IMAP, POP3, LMTP and ManageSieve mail processes never hold a fact. */
  mayMatter(bytes: Buffer, start: number, end: number): boolean {
    let at = start;
    if (bytesAt(bytes, at, end, DOVECOT_PREFIX)) at += DOVECOT_PREFIX.length;
    return !OTHER_MAIL_PROCESSES.some((prefix) => bytesAt(bytes, at, end, prefix));
  }

  line(line: SyslogLine): LineOutcome {
    return this.events.handle(line.time, line.server, line.message);
  }

  snapshot(): DovecotState {
    return this.events.snapshot();
  }

  restore(state: unknown): void {
    this.events.restore(state);
  }
}

/** Dovecot's own log file (`log_path`), whose lines name no server. */
export class DovecotLogFileCorrelator implements FileCorrelator {
  readonly format = 'dovecot';
  private readonly events: DovecotEvents;
  private readonly reader: DovecotLogFileReader;
  private readonly server: string;

  constructor(options: DovecotOptions) {
    this.events = new DovecotEvents(options.emit);
    this.server = options.serverName;
    this.reader = new DovecotLogFileReader({
      timeZone: options.timeZone,
      year: options.year,
      referenceMs: options.referenceMs ?? Date.now(),
    });
  }

  get counters(): DovecotCounters {
    return this.events.counters;
  }

  line(text: string): LineOutcome {
    const line = this.reader.read(text.endsWith('\r') ? text.slice(0, -1) : text);
    if (!line) return 'unsupported';
    return this.events.handle(line.time, this.server, line.message);
  }

  snapshot(): DovecotState {
    return this.events.snapshot();
  }

  restore(state: unknown): void {
    this.events.restore(state);
  }
}
