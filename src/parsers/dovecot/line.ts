/**
 * Parses the text of one Dovecot log line, after the syslog header (`dovecot: ...`) or the
 * `log_path` time stamp. Read from Dovecot 2.3.19 logs (submission, IMAP, auth with and
 * without auth_verbose) and from real 2.x lines of other setups.
 *
 * A line starts with the process that wrote it, then a level except on some syslog setups:
 *   submission-login: Info: Login: user=<u>, method=PLAIN, rip=..., lip=..., mpid=..., TLS, session=<s>
 *   submission(u)<mpid><s>: Info: Successfully relayed message: from=<a>, size=N, id=X, nrcpt=K, reply=`...'
 *   auth: Info: passwd-file(u,rip,<s>): Password mismatch
 */
import type { TlsEvidence, TlsProtocol } from '../../events.js';
import { SKIPPED } from '../result.js';

/** The TLS state that a login process wrote with `%c` and, when configured, `%k`. */
export interface LoginTls {
  tlsProtocol: TlsProtocol;
  /**
   * `line` when `%k` logged the version, `starttls` when `TLS` shows TLS without the
   * version, and `no-line` when the line has no TLS element (`secured` or nothing).
   */
  tlsEvidence: TlsEvidence;
  tlsCipher: string | null;
  /** The line has a `%c` element (`TLS`, `TLS handshaking`, `secured`), so the format logs it. */
  marker: boolean;
}

/** The fields that login processes write on their Login and Disconnected lines. */
export interface LoginFields {
  /** `imap`, `pop3`, `submission`, `managesieve`: the login process name less `-login`. */
  protocol: string;
  user: string | null;
  method: string | null;
  clientIp: string;
  session: string | null;
  tls: LoginTls;
}

export type DovecotRecord =
  | ({ type: 'login' } & LoginFields)
  | ({ type: 'login-failed'; attempts: number } & LoginFields)
  | {
      type: 'relayed';
      user: string;
      session: string | null;
      senderAddress: string;
      size: number;
      id: string;
      recipients: number;
    }
  | { type: 'logout'; session: string }
  | {
      type: 'auth-failure';
      /** The passdb or mechanism that logged it: `passwd-file`, `pam`, `sql`, `plain`. */
      source: string;
      /** Null when Dovecot logged `?`: the name was not known yet. */
      user: string | null;
      clientIp: string;
      /** Null for requests from an MTA over the auth socket, which sends no session id. */
      session: string | null;
      reason: string;
    };

export type DovecotResult = DovecotRecord | typeof SKIPPED;

const LEVELS = ['Info: ', 'Warning: ', 'Error: ', 'Fatal: ', 'Panic: ', 'Debug: '];

/** OpenSSL protocol names in `%k` (`TLSv1.2 with cipher ...`). `TLSv1` is TLS 1.0. */
const TLS_VERSIONS: Record<string, TlsProtocol> = {
  TLSv1: 'TLSv1',
  'TLSv1.1': 'TLSv1.1',
  'TLSv1.2': 'TLSv1.2',
  'TLSv1.3': 'TLSv1.3',
};

const TLS_DETAILS = /^(TLSv1(?:\.[0-3])?|SSLv[23]|DTLSv[0-9.]+) with cipher (\S+)/;
const AUTH_FAILED = / \(auth failed, (\d+) attempts?(?: in \d+ secs?)?\): /;
const MAIL_PROCESS = /^([a-z0-9-]+)\((.*)\)(?:<(\d+)>)?(?:<([^<>]*)>)?$/;
// NOTE: read from Dovecot 2.3.19 only; other versions may word this line differently.
const RELAYED =
  /^Successfully relayed message: from=<(.*)>, size=(\d+), id=([^,]*), nrcpt=(\d+), reply=`(.*)'$/;
const AUTH_WORKER_CONNECTION = /^conn \S+ \([^)]*\): auth-worker<\d+>: /;
const PASSDB_START = /^([a-z][a-z0-9_-]*)\(/;
const IP_ADDRESS = /^(?:[0-9]{1,3}(?:\.[0-9]{1,3}){3}|[0-9a-fA-F:]*:[0-9a-fA-F:.]*)$/;
const GIVEN_PASSWORD = [' (given password: ', ' (SHA1 of given password: '];

/** Parses the text of a Dovecot line. Returns SKIPPED for a line without an SMTP AUTH fact. */
export function parseDovecotMessage(message: string): DovecotResult {
  let text = message.startsWith('dovecot: ') ? message.slice(9) : message;
  const colon = text.indexOf(': ');
  if (colon <= 0) return SKIPPED;

  const process = text.slice(0, colon);
  text = text.slice(colon + 2);
  const level = LEVELS.find((prefix) => text.startsWith(prefix));
  // Warnings and errors of the auth process are back-end trouble, not failed logins.
  if (level !== undefined && level !== 'Info: ') return SKIPPED;
  if (level) text = text.slice(level.length);

  if (process.endsWith('-login')) return parseLoginProcess(process.slice(0, -6), text);
  if (isAuthProcess(process)) return parseAuthLine(text);
  return parseMailProcess(process, text);
}

function isAuthProcess(process: string): boolean {
  return process === 'auth' || process.startsWith('auth(') || process.startsWith('auth-worker');
}

function parseLoginProcess(protocol: string, text: string): DovecotResult {
  if (text.startsWith('Login: ')) {
    const fields = parseLoginFields(protocol, text.slice(7));
    return fields ? { type: 'login', ...fields } : SKIPPED;
  }

  const failed = AUTH_FAILED.exec(text);
  if (!failed) return SKIPPED;
  const fields = parseLoginFields(protocol, text.slice(failed.index + failed[0].length));
  if (!fields) return SKIPPED;
  return { type: 'login-failed', attempts: Number(failed[1]), ...fields };
}

/**
 * Reads `user=<u>, method=M, rip=IP, lip=IP, mpid=N, TLS, session=<s>` (Dovecot's default
 * login_log_format_elements, with `%k` TLS details where configured). The user name is
 * what the client typed, so fields are found from the right: the real `, rip=` is the last.
 */
function parseLoginFields(protocol: string, text: string): LoginFields | null {
  const rip = text.lastIndexOf('rip=');
  if (rip < 0 || (rip > 0 && text.slice(rip - 2, rip) !== ', ')) return null;

  const head = rip > 0 ? text.slice(0, rip - 2) : '';
  const elements = text.slice(rip).split(', ');
  const clientIp = elements[0].slice(4);
  const { user, method } = parseUserAndMethod(head);
  const session = elements.find((element) => element.startsWith('session=<'));
  return {
    protocol,
    user,
    method,
    clientIp,
    session: session ? session.slice(9, session.endsWith('>') ? -1 : undefined) : null,
    tls: parseLoginTls(elements.slice(1)),
  };
}

function parseUserAndMethod(head: string): { user: string | null; method: string | null } {
  let user: string | null = null;
  let method: string | null = null;
  let rest = head;

  const methodAt = rest.lastIndexOf('method=');
  if (methodAt === 0 || (methodAt > 0 && rest.slice(methodAt - 2, methodAt) === ', ')) {
    method = rest.slice(methodAt + 7) || null;
    rest = methodAt > 0 ? rest.slice(0, methodAt - 2) : '';
  }
  if (rest.startsWith('user=<') && rest.endsWith('>')) {
    user = rest.slice(6, -1) || null;
  }
  return { user, method };
}

function parseLoginTls(elements: string[]): LoginTls {
  let marker = false;
  let tlsUsed = false;
  for (const element of elements) {
    const details = TLS_DETAILS.exec(element);
    if (details) {
      const protocol = TLS_VERSIONS[details[1]] ?? 'unknown';
      return { tlsProtocol: protocol, tlsEvidence: 'line', tlsCipher: details[2], marker: true };
    }
    if (element === 'secured') marker = true;
    // `TLS`, `TLS: <reason>` after a finished handshake, `TLS handshaking[: <reason>]` before.
    if (element === 'TLS' || element.startsWith('TLS:') || element.startsWith('TLS handshaking')) {
      marker = true;
      tlsUsed = true;
    }
  }
  if (tlsUsed) {
    return { tlsProtocol: 'unknown', tlsEvidence: 'starttls', tlsCipher: null, marker };
  }
  return { tlsProtocol: 'none', tlsEvidence: 'no-line', tlsCipher: null, marker };
}

/**
 * Reads `passdb(user,rip[,master][,<session>]): reason`, as auth_verbose logs each failed
 * lookup. The user is what the client typed and may hold `): `, so each `): ` is tried in
 * turn until the part before it ends in a client address.
 */
function parseAuthLine(text: string): DovecotResult {
  const body = text.replace(AUTH_WORKER_CONNECTION, '');
  const start = PASSDB_START.exec(body);
  if (!start) return SKIPPED;

  const open = start[0].length;
  for (let end = body.indexOf('): ', open); end >= 0; end = body.indexOf('): ', end + 1)) {
    const identity = parseIdentity(body.slice(open, end));
    if (!identity) continue;
    return {
      type: 'auth-failure',
      source: start[1],
      ...identity,
      reason: withoutPassword(body.slice(end + 3)),
    };
  }
  return SKIPPED;
}

function parseIdentity(
  identity: string,
): { user: string | null; clientIp: string; session: string | null } | null {
  let rest = identity;
  let session: string | null = null;

  const sessionMatch = /,<([^<>]*)>$/.exec(rest);
  if (sessionMatch) {
    session = sessionMatch[1];
    rest = rest.slice(0, sessionMatch.index);
  }
  if (rest.endsWith(',master')) rest = rest.slice(0, -7);

  const comma = rest.lastIndexOf(',');
  if (comma < 0) return null;
  const clientIp = rest.slice(comma + 1);
  if (!IP_ADDRESS.test(clientIp)) return null;

  const user = rest.slice(0, comma);
  return { user: user === '?' || user === '' ? null : user, clientIp, session };
}

/** Drops the password that auth_verbose_passwords appends, so it never reaches the store. */
function withoutPassword(reason: string): string {
  let end = reason.length;
  for (const marker of GIVEN_PASSWORD) {
    const at = reason.indexOf(marker);
    if (at >= 0 && at < end) end = at;
  }
  return reason.slice(0, end);
}

function parseMailProcess(process: string, text: string): DovecotResult {
  const mail = MAIL_PROCESS.exec(process);
  if (!mail || mail[1] !== 'submission') return SKIPPED;

  const session = mail[4] ?? null;
  if (text.startsWith('Disconnected')) {
    return session === null ? SKIPPED : { type: 'logout', session };
  }

  const relayed = RELAYED.exec(text);
  if (!relayed) return SKIPPED;
  return {
    type: 'relayed',
    user: mail[2],
    session,
    senderAddress: relayed[1],
    size: Number(relayed[2]),
    id: relayed[3],
    recipients: Number(relayed[4]),
  };
}
