import type { TlsProtocol } from '../../events.js';
import { malformed, SKIPPED, type Malformed } from '../result.js';
import { decode, queueIdEnd, readHostAddress, type Line } from './client.js';

/** Records from smtpd(8) lines that matter for SMTP AUTH. */
export type SmtpdRecord =
  | { type: 'connect'; clientName: string; clientIp: string }
  | { type: 'disconnect'; starttls: number }
  | { type: 'tls'; tlsProtocol: TlsProtocol; cipher: string }
  | {
      type: 'client';
      queueId: string;
      clientName: string;
      clientIp: string;
      saslMethod: string;
      saslUsername: string;
    }
  | {
      type: 'auth-failure';
      clientName: string;
      clientIp: string;
      saslMethod: string;
      attemptedUsername: string | null;
      reason: string;
    }
  | { type: 'auth-backend-error' };

export type SmtpdResult = SmtpdRecord | Malformed | typeof SKIPPED;

const TLS_ESTABLISHED = 'TLS connection established from ';
const SASL_USERNAME = ', sasl_username=';
const SASL_METHOD = ', sasl_method=';

/** OpenSSL's protocol names as Postfix logs them; `TLSv1` is TLS 1.0. */
const TLS_VERSIONS: Record<string, TlsProtocol> = {
  TLSv1: 'TLSv1',
  'TLSv1.1': 'TLSv1.1',
  'TLSv1.2': 'TLSv1.2',
  'TLSv1.3': 'TLSv1.3',
};

/**
 * Failure reasons that mean the SASL back end was unreachable, not that a password was
 * wrong: counting them as failed logins would make an outage look like an attack.
 */
const BACKEND_ERRORS = ['Connection lost to authentication server'];

/** Kinds of smtpd lines, recognised from their first characters without reading fields. */
export const SmtpdKind = {
  OTHER: 0,
  CONNECT: 1,
  DISCONNECT: 2,
  TLS: 3,
  CLIENT: 4,
  WARNING: 5,
} as const;
export type SmtpdKind = (typeof SmtpdKind)[keyof typeof SmtpdKind];

/**
 * The kind of the smtpd payload `text[start, end)`. Every check is anchored at a position,
 * so nothing is searched beyond the line.
 */
export function classifySmtpd(text: string, start: number, end: number): SmtpdKind {
  switch (text.charCodeAt(start)) {
    case 99: // c
      return text.startsWith('connect from ', start) ? SmtpdKind.CONNECT : SmtpdKind.OTHER;
    case 100: // d
      return text.startsWith('disconnect from ', start) ? SmtpdKind.DISCONNECT : SmtpdKind.OTHER;
    case 119: // w
      return text.startsWith('warning: ', start) ? SmtpdKind.WARNING : SmtpdKind.OTHER;
    case 78: // N: NOQUEUE reject lines carry no SMTP AUTH fact
    case 108: // l: lost connection, timeout
      return SmtpdKind.OTHER;
  }
  if (tlsLineStart(text, start, end) >= 0) return SmtpdKind.TLS;

  const idEnd = queueIdEnd(text, start);
  if (idEnd > 0 && idEnd < end && text.startsWith('client=', idEnd + 2)) return SmtpdKind.CLIENT;
  return SmtpdKind.OTHER;
}

/** Parse an smtpd payload: `line.text` is the text after `smtpd[pid]: `. */
export function parseSmtpd(line: Line): SmtpdResult {
  const { text } = line;
  switch (classifySmtpd(text, 0, text.length)) {
    case SmtpdKind.CONNECT:
      return parseConnect(line);
    case SmtpdKind.DISCONNECT:
      return { type: 'disconnect', starttls: starttlsCount(text, 0, text.length) };
    case SmtpdKind.TLS:
      return parseTls(line);
    case SmtpdKind.CLIENT:
      return parseClient(line);
    case SmtpdKind.WARNING:
      return parseWarning(line);
    default:
      return SKIPPED;
  }
}

/** Index of `TLS connection established from`, after an optional trust prefix; else -1. */
function tlsLineStart(text: string, start: number, end: number): number {
  if (text.startsWith(TLS_ESTABLISHED, start)) return start;
  // The trust prefix is one word of at most 9 letters (Anonymous, Untrusted, ...).
  for (let i = start + 1; i < end && i <= start + 10; i++) {
    if (text.charCodeAt(i) !== 32) continue;
    return text.startsWith(TLS_ESTABLISHED, i + 1) ? i + 1 : -1;
  }
  return -1;
}

function parseConnect(line: Line): SmtpdResult {
  const host = readHostAddress(line, 13);
  if (!host) return malformed('connect line without name[address]');
  return { type: 'connect', clientName: host.name, clientIp: host.ip };
}

/**
 * The successful STARTTLS count from a disconnect line's command counters (Postfix 3.0 and
 * later), which proves TLS without its version; 0 when there are none.
 */
export function starttlsCount(text: string, start: number, end: number): number {
  const at = text.indexOf(' starttls=', start);
  if (at < 0 || at >= end) return 0;
  return text.charCodeAt(at + 10) - 48;
}

/**
 * `Anonymous TLS connection established from name[ip]: TLSv1.3 with cipher X (256/256 bits)`.
 * The trust prefix (Anonymous, Untrusted, Trusted, Verified) is absent before Postfix 2.5.
 */
export function parseTls(line: Line): Extract<SmtpdRecord, { type: 'tls' }> | Malformed {
  const { text } = line;
  const at = tlsLineStart(text, 0, text.length);
  if (at < 0) return malformed('not a TLS line');
  const host = readHostAddress(line, at + TLS_ESTABLISHED.length);
  if (!host || !text.startsWith(': ', host.end)) return malformed('TLS line without name[address]');

  const protocolStart = host.end + 2;
  const protocolEnd = text.indexOf(' ', protocolStart);
  if (protocolEnd < 0) return malformed('TLS line without a protocol');
  const raw = text.substring(protocolStart, protocolEnd);

  let cipher = '';
  if (text.startsWith(' with cipher ', protocolEnd)) {
    const cipherStart = protocolEnd + 13;
    const cipherEnd = text.indexOf(' ', cipherStart);
    cipher = decode(line, cipherStart, cipherEnd < 0 ? text.length : cipherEnd);
  }
  // SSLv3 and anything newer than TLS 1.3 are kept as unknown rather than guessed.
  return { type: 'tls', tlsProtocol: TLS_VERSIONS[raw] ?? 'unknown', cipher };
}

/**
 * `QUEUEID: client=name[ip], sasl_method=PLAIN, sasl_username=user[, sasl_sender=...]`.
 * A `client=` line without a login is skipped before any field is read.
 */
export function parseClient(line: Line): SmtpdResult {
  const { text } = line;
  const idEnd = queueIdEnd(text);
  const methodAt = text.indexOf(SASL_METHOD, idEnd);
  if (methodAt < 0) return SKIPPED;

  const host = readHostAddress(line, idEnd + 9, methodAt);
  if (!host) return malformed('client= line without name[address]');

  const methodStart = methodAt + SASL_METHOD.length;
  const methodEnd = text.indexOf(',', methodStart);
  const userAt = text.indexOf(SASL_USERNAME, methodStart);
  if (userAt < 0) return malformed('client= line with sasl_method but no sasl_username');

  const userStart = userAt + SASL_USERNAME.length;
  const senderAt = text.indexOf(', sasl_sender=', userStart);
  return {
    type: 'client',
    queueId: text.substring(0, idEnd),
    clientName: host.name,
    clientIp: host.ip,
    saslMethod: text.substring(methodStart, methodEnd < 0 ? text.length : methodEnd),
    saslUsername: decode(line, userStart, senderAt < 0 ? text.length : senderAt),
  };
}

/**
 * `warning: name[ip]: SASL LOGIN authentication failed: REASON`. Newer Postfix (3.7 on
 * Debian 12 does) appends the attempted name as `, sasl_username=NAME`. The mechanism is
 * sometimes lower or mixed case (`SASL login`, `SASL Plain`). Warnings without a client
 * address (Cyrus saslauthd's `SASL authentication failure: ...`) repeat a failure logged
 * with one.
 */
export function parseWarning(line: Line): SmtpdResult {
  const { text } = line;
  const failedAt = text.indexOf(' authentication failed');
  if (failedAt < 0) return SKIPPED;

  const host = readHostAddress(line, 9, failedAt);
  if (!host || !text.startsWith(': SASL ', host.end)) return SKIPPED;

  const saslMethod = decode(line, host.end + 7, failedAt);
  let reasonStart = Math.min(failedAt + 22, text.length);
  if (text.charCodeAt(reasonStart) === 58) reasonStart += 1;
  if (text.charCodeAt(reasonStart) === 32) reasonStart += 1;

  // The name is attacker-controlled and may itself contain the marker: split at the first.
  const userAt = text.indexOf(SASL_USERNAME, reasonStart);
  const reason = decode(line, reasonStart, userAt < 0 ? text.length : userAt);
  if (BACKEND_ERRORS.includes(reason)) return { type: 'auth-backend-error' };

  return {
    type: 'auth-failure',
    clientName: host.name,
    clientIp: host.ip,
    saslMethod,
    attemptedUsername: userAt < 0 ? null : decode(line, userAt + SASL_USERNAME.length, text.length),
    reason,
  };
}
