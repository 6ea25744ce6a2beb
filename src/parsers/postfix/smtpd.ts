import type { TlsProtocol } from '../../events.js';
import { field, malformed, SKIPPED, type Malformed } from '../result.js';
import { queueIdEnd, readHostAddress } from './client.js';

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
      saslMethod: string | null;
      saslUsername: string | null;
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

export function parseSmtpd(text: string, bytes: Buffer, start: number, end: number): SmtpdResult {
  switch (text.charCodeAt(start)) {
    case 99: // c
      return text.startsWith('connect from ', start)
        ? parseConnect(text, bytes, start + 13, end)
        : SKIPPED;
    case 100: // d
      return text.startsWith('disconnect from ', start)
        ? parseDisconnect(text, start, end)
        : SKIPPED;
    case 119: // w
      return text.startsWith('warning: ', start)
        ? parseWarning(text, bytes, start + 9, end)
        : SKIPPED;
    case 78: // N: NOQUEUE reject lines carry no SMTP AUTH fact
    case 108: // l: lost connection, timeout
      return SKIPPED;
  }

  const tls = text.indexOf(TLS_ESTABLISHED, start);
  if (tls >= 0 && tls < end && tls - start <= 11) return parseTls(text, bytes, tls, end);

  const idEnd = queueIdEnd(text, start, end);
  if (idEnd > 0 && text.startsWith('client=', idEnd + 2)) {
    return parseClient(text, bytes, start, idEnd, end);
  }
  return SKIPPED;
}

function parseConnect(text: string, bytes: Buffer, start: number, end: number): SmtpdResult {
  const host = readHostAddress(text, bytes, start, end);
  if (!host) return malformed('connect line without name[address]');
  return { type: 'connect', clientName: host.name, clientIp: host.ip };
}

/** Postfix 3.0 and later append command counters; `starttls=1` proves TLS was used. */
function parseDisconnect(text: string, start: number, end: number): SmtpdResult {
  const at = text.indexOf(' starttls=', start);
  if (at < 0 || at >= end) return { type: 'disconnect', starttls: 0 };
  return { type: 'disconnect', starttls: text.charCodeAt(at + 10) - 48 };
}

/**
 * `Anonymous TLS connection established from name[ip]: TLSv1.3 with cipher X (256/256 bits)`.
 * The trust prefix (Anonymous, Untrusted, Trusted, Verified) is absent before Postfix 2.5.
 */
function parseTls(text: string, bytes: Buffer, at: number, end: number): SmtpdResult {
  const host = readHostAddress(text, bytes, at + TLS_ESTABLISHED.length, end);
  if (!host || !text.startsWith(': ', host.end)) return malformed('TLS line without name[address]');

  const protocolStart = host.end + 2;
  const protocolEnd = text.indexOf(' ', protocolStart);
  if (protocolEnd < 0 || protocolEnd > end) return malformed('TLS line without a protocol');
  const raw = text.substring(protocolStart, protocolEnd);

  const cipherAt = text.indexOf(' with cipher ', protocolEnd);
  let cipher = '';
  if (cipherAt === protocolEnd) {
    const cipherStart = cipherAt + 13;
    const cipherEnd = text.indexOf(' ', cipherStart);
    cipher = bytes.toString(
      'latin1',
      cipherStart,
      cipherEnd < 0 || cipherEnd > end ? end : cipherEnd,
    );
  }
  // SSLv3 and anything newer than TLS 1.3 are kept as unknown rather than guessed.
  return { type: 'tls', tlsProtocol: TLS_VERSIONS[raw] ?? 'unknown', cipher };
}

/** `QUEUEID: client=name[ip], sasl_method=PLAIN, sasl_username=user[, sasl_sender=...]` */
function parseClient(
  text: string,
  bytes: Buffer,
  start: number,
  idEnd: number,
  end: number,
): SmtpdResult {
  const host = readHostAddress(text, bytes, idEnd + 9, end);
  if (!host) return malformed('client= line without name[address]');
  const queueId = bytes.toString('latin1', start, idEnd);

  const methodAt = text.indexOf(SASL_METHOD, host.end);
  if (methodAt < 0 || methodAt >= end) {
    return {
      type: 'client',
      queueId,
      clientName: host.name,
      clientIp: host.ip,
      saslMethod: null,
      saslUsername: null,
    };
  }

  const methodStart = methodAt + SASL_METHOD.length;
  const methodEnd = text.indexOf(',', methodStart);
  const userAt = text.indexOf(SASL_USERNAME, methodStart);
  if (userAt < 0 || userAt >= end)
    return malformed('client= line with sasl_method but no sasl_username');

  const userStart = userAt + SASL_USERNAME.length;
  const senderAt = text.indexOf(', sasl_sender=', userStart);
  const userEnd = senderAt >= 0 && senderAt < end ? senderAt : end;
  return {
    type: 'client',
    queueId,
    clientName: host.name,
    clientIp: host.ip,
    saslMethod: bytes.toString(
      'latin1',
      methodStart,
      methodEnd < 0 || methodEnd > end ? end : methodEnd,
    ),
    saslUsername: field(bytes, userStart, userEnd),
  };
}

/**
 * `warning: name[ip]: SASL LOGIN authentication failed: REASON`. Newer Postfix (3.7 on
 * Debian 12 does) appends the attempted name as `, sasl_username=NAME`. The mechanism is sometimes lower or
 * mixed case (`SASL login`, `SASL Plain`). Warnings without a client address (Cyrus
 * saslauthd's `SASL authentication failure: ...`) repeat a failure logged with one.
 */
function parseWarning(text: string, bytes: Buffer, start: number, end: number): SmtpdResult {
  const failedAt = text.indexOf(' authentication failed', start);
  if (failedAt < 0 || failedAt >= end) return SKIPPED;

  const host = readHostAddress(text, bytes, start, failedAt);
  if (!host || !text.startsWith(': SASL ', host.end)) return SKIPPED;

  const saslMethod = bytes.toString('latin1', host.end + 7, failedAt);
  let reasonStart = failedAt + 22;
  if (text.charCodeAt(reasonStart) === 58) reasonStart += 1;
  if (text.charCodeAt(reasonStart) === 32) reasonStart += 1;

  const userAt = text.indexOf(SASL_USERNAME, reasonStart);
  const hasUser = userAt >= 0 && userAt < end;
  const reason = field(bytes, Math.min(reasonStart, end), hasUser ? userAt : end);
  if (BACKEND_ERRORS.includes(reason)) return { type: 'auth-backend-error' };

  return {
    type: 'auth-failure',
    clientName: host.name,
    clientIp: host.ip,
    saslMethod,
    attemptedUsername: hasUser ? field(bytes, userAt + SASL_USERNAME.length, end) : null,
    reason,
  };
}
