/**
 * Lines an SMTP session writes without a message id: failed AUTH commands, the summary of a
 * session that sent no message, and the end of a connection. Exim 4.96 writes them as:
 *
 *   plain_server authenticator failed for (helo) [ip]:port I=[local]:port: 535 Incorrect authentication data (set_id=user)
 *   no MAIL in SMTP connection from (helo) [ip]:port I=[local]:port D=0.008s A=plain_server:user X=TLS1.2:... C=EHLO,STARTTLS,EHLO,AUTH,QUIT
 *   SMTP connection from (helo) [ip]:port I=[local]:port closed by QUIT
 *
 * The host part varies: a DNS name before the HELO, no HELO, `U=ident` (test suite and
 * `rfc1413_hosts`), no port.
 */
import { malformed, type Malformed } from '../result.js';
import {
  parseAuthField,
  parseTlsField,
  readFields,
  readFullHost,
  type FullHost,
  type SessionTls,
} from './fields.js';

/** The meaning of the reply to a failed AUTH command. */
export type AuthOutcome =
  /** 535: the server checked the credentials and rejected them. A failed login. */
  | 'rejected'
  /** 4xx: the server could not check them (a back end or expansion failed). */
  | 'temporary-error'
  /** Other 5xx: the client cancelled (`*`) or sent what no mechanism accepts. */
  | 'aborted';

export interface AuthFailureLine {
  authenticator: string;
  host: FullHost;
  outcome: AuthOutcome;
  /** The reply as logged, without `(set_id=...)`: `535 Incorrect authentication data`. */
  reason: string;
  /** The name the client tried, where the authenticator's server_set_id gave one. */
  attemptedUsername: string | null;
}

const FAILED_FOR = ' authenticator failed for ';
const SET_ID = ' (set_id=';

/** Skip ` I=[local]:port` and ` U=ident` after a host; returns the index of `: ` or -1. */
function replyStart(text: string, index: number): number {
  let position = index;
  if (text.startsWith(' I=[', position)) {
    const close = text.indexOf(']', position);
    if (close < 0) return -1;
    position = close + 1;
    const port = /^:\d+/.exec(text.substring(position, position + 7));
    if (port) position += port[0].length;
  }
  if (text.startsWith(' U=', position)) position = text.indexOf(': ', position);
  return text.startsWith(': ', position) ? position : -1;
}

/**
 * Split `(set_id=user)` off a reply. The reply may go on after it (`435 ... (set_id=u): why`,
 * or `: 1 Time(s)` in some older logs), so the id ends at a `)` followed by `:` or the end.
 */
function splitSetId(reply: string): { reason: string; id: string | null } {
  const open = reply.indexOf(SET_ID);
  if (open < 0) return { reason: reply, id: null };

  const idStart = open + SET_ID.length;
  let close = reply.indexOf(')', idStart);
  while (close >= 0 && close + 1 < reply.length && reply[close + 1] !== ':') {
    close = reply.indexOf(')', close + 1);
  }
  if (close < 0) return { reason: reply, id: null };
  return { reason: reply.substring(0, open), id: reply.substring(idStart, close) };
}

function outcomeOf(reply: string): AuthOutcome {
  if (reply.startsWith('535')) return 'rejected';
  if (reply.startsWith('4')) return 'temporary-error';
  return 'aborted';
}

/** Index of ` authenticator failed for ` when the body starts with `NAME` and it; else -1. */
export function authFailureAt(text: string, start: number): number {
  const at = text.indexOf(FAILED_FOR, start);
  if (at <= start) return -1;
  // The authenticator's name is one word.
  return text.indexOf(' ', start) === at ? at : -1;
}

/** Read `NAME authenticator failed for HOST: REPLY`, where `at` is the index of FAILED_FOR. */
export function parseAuthFailure(
  text: string,
  start: number,
  at: number,
): AuthFailureLine | Malformed {
  const host = readFullHost(text, at + FAILED_FOR.length);
  if (host === null) return malformed('authenticator failure without [ip]');
  const colon = replyStart(text, host.end);
  if (colon < 0) return malformed('authenticator failure without a reply after the host');

  const reply = text.substring(colon + 2);
  const { reason, id } = splitSetId(reply);
  return {
    authenticator: text.substring(start, at),
    host,
    outcome: outcomeOf(reply),
    reason,
    attemptedUsername: id === '' ? null : id,
  };
}

/** The `no MAIL in SMTP connection` line of `log_selector = +smtp_no_mail`. */
export interface NoMailLine {
  host: FullHost;
  /** The login of a session that authenticated; null when it did not. */
  account: string | null;
  tls: SessionTls;
}

const NO_MAIL = /^no MAIL in (?:TFO\*? )?SMTP connection from /;

export function isNoMail(text: string, start: number): boolean {
  return text.startsWith('no MAIL in ', start);
}

/**
 * Read a `no MAIL` line. Without `X=` the session had no TLS unless its command list shows
 * STARTTLS (TLS without a logged version, as with `log_selector = -tls_cipher`).
 */
export function parseNoMail(text: string, start: number): NoMailLine | Malformed {
  const match = NO_MAIL.exec(text.substring(start, start + 60));
  if (!match) return malformed('no MAIL line without "SMTP connection from"');
  const host = readFullHost(text, start + match[0].length);
  if (host === null) return malformed('no MAIL line without [ip]');

  const fields = readFields(text, host.end);
  const auth = fields.values.get('A');
  const login = auth === undefined ? null : parseAuthField(auth);
  return { host, account: login?.id ?? null, tls: noMailTls(fields.values) };
}

function noMailTls(values: Map<string, string>): SessionTls {
  const x = values.get('X');
  if (x !== undefined) return parseTlsField(x);
  const commands = (values.get('C') ?? '').split(',');
  if (commands.includes('STARTTLS')) {
    return { tlsProtocol: 'unknown', tlsEvidence: 'starttls', tlsCipher: null };
  }
  return { tlsProtocol: 'none', tlsEvidence: 'no-line', tlsCipher: null };
}

/**
 * Lines that end an SMTP session: `SMTP connection from HOST closed by QUIT` (or `lost`,
 * `closed by DROP in ACL`), `SMTP call from HOST dropped: ...`. Exim writes the `no MAIL`
 * line after them, from the same process. The daemon's `SMTP connection from HOST (TCP/IP
 * connection count = N)` starts a session and is not one of them.
 */
export function sessionEndHost(text: string, start: number): FullHost | null {
  let prefix: string;
  if (text.startsWith('SMTP connection from ', start)) prefix = 'SMTP connection from ';
  else if (text.startsWith('SMTP call from ', start)) prefix = 'SMTP call from ';
  else return null;

  const host = readFullHost(text, start + prefix.length);
  if (host === null || text.includes('(TCP/IP connection count', host.end)) return null;
  return host;
}
