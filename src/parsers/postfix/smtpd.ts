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

/** Parse an smtpd payload: `line.text` is the text after `smtpd[pid]: `. */
export function parseSmtpd(line: Line): SmtpdResult {
  const { text } = line;
  switch (text.charCodeAt(0)) {
    case 99: // c
      return text.startsWith('connect from ') ? parseConnect(line) : SKIPPED;
    case 100: // d
      return text.startsWith('disconnect from ') ? parseDisconnect(text) : SKIPPED;
    case 119: // w
      return text.startsWith('warning: ') ? parseWarning(line) : SKIPPED;
    case 78: // N: NOQUEUE reject lines carry no SMTP AUTH fact
    case 108: // l: lost connection, timeout
      return SKIPPED;
  }

  const tls = tlsLineStart(text);
  if (tls >= 0) return parseTls(line, tls);

  const idEnd = queueIdEnd(text);
  if (idEnd > 0 && text.startsWith('client=', idEnd + 2)) return parseClient(line, idEnd);
  return SKIPPED;
}

/** Index of `TLS connection established from`, after an optional trust prefix; else -1. */
function tlsLineStart(text: string): number {
  if (text.startsWith(TLS_ESTABLISHED)) return 0;
  const space = text.indexOf(' ');
  if (space < 0 || space > 10) return -1;
  return text.startsWith(TLS_ESTABLISHED, space + 1) ? space + 1 : -1;
}

function parseConnect(line: Line): SmtpdResult {
  const host = readHostAddress(line, 13);
  if (!host) return malformed('connect line without name[address]');
  return { type: 'connect', clientName: host.name, clientIp: host.ip };
}

/** Postfix 3.0 and later append command counters; `starttls=1` proves TLS was used. */
function parseDisconnect(text: string): SmtpdResult {
  const at = text.indexOf(' starttls=');
  if (at < 0) return { type: 'disconnect', starttls: 0 };
  return { type: 'disconnect', starttls: text.charCodeAt(at + 10) - 48 };
}

/**
 * `Anonymous TLS connection established from name[ip]: TLSv1.3 with cipher X (256/256 bits)`.
 * The trust prefix (Anonymous, Untrusted, Trusted, Verified) is absent before Postfix 2.5.
 */
function parseTls(line: Line, at: number): SmtpdResult {
  const { text } = line;
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
function parseClient(line: Line, idEnd: number): SmtpdResult {
  const { text } = line;
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
function parseWarning(line: Line): SmtpdResult {
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
