import type { TlsProtocol } from '../../events.js';
import { malformed, SKIPPED, type Malformed } from '../result.js';
import {
  bytesAt,
  decode,
  findByte,
  indexOfBytes,
  queueIdEnd,
  queueIdEndInBytes,
  readHostAddress,
  type Line,
} from './client.js';

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

const CONNECT_FROM = Buffer.from('connect from ');
const DISCONNECT_FROM = Buffer.from('disconnect from ');
const WARNING = Buffer.from('warning: ');
const TLS_ESTABLISHED_BYTES = Buffer.from(TLS_ESTABLISHED);
const CLIENT = Buffer.from('client=');
const STARTTLS = Buffer.from(' starttls=');
const SPACE = 32;
const OPEN_BRACKET = 91;
const CLOSE_BRACKET = 93;

/**
 * The kind of the smtpd payload bytes[start, end). Every check is anchored at a position,
 * so nothing is searched beyond the line.
 */
export function classifySmtpd(bytes: Buffer, start: number, end: number): SmtpdKind {
  switch (bytes[start]) {
    case 99: // c
      return bytesAt(bytes, start, end, CONNECT_FROM) ? SmtpdKind.CONNECT : SmtpdKind.OTHER;
    case 100: // d
      return bytesAt(bytes, start, end, DISCONNECT_FROM) ? SmtpdKind.DISCONNECT : SmtpdKind.OTHER;
    case 119: // w
      return bytesAt(bytes, start, end, WARNING) ? SmtpdKind.WARNING : SmtpdKind.OTHER;
    case 78: // N: NOQUEUE reject lines carry no SMTP AUTH fact
    case 108: // l: lost connection, timeout
      return SmtpdKind.OTHER;
  }
  if (tlsLineStart(bytes, start, end) >= 0) return SmtpdKind.TLS;

  const idEnd = queueIdEndInBytes(bytes, start, end);
  if (idEnd > 0 && bytesAt(bytes, idEnd + 2, end, CLIENT)) return SmtpdKind.CLIENT;
  return SmtpdKind.OTHER;
}

/** Parse an smtpd payload: `line.text` is the text after `smtpd[pid]: `. */
export function parseSmtpd(line: Line): SmtpdResult {
  const { text, bytes, base } = line;
  const end = base + text.length;
  switch (classifySmtpd(bytes, base, end)) {
    case SmtpdKind.CONNECT:
      return parseConnect(line);
    case SmtpdKind.DISCONNECT:
      return { type: 'disconnect', starttls: starttlsCount(bytes, base, end) };
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

/**
 * Find `TLS connection established from` at the start of the payload bytes[start, end), or
 * after a trust prefix of one word of at most 9 letters (Anonymous, Untrusted, ...). Returns
 * its index, or -1.
 */
function tlsLineStart(bytes: Buffer, start: number, end: number): number {
  if (bytesAt(bytes, start, end, TLS_ESTABLISHED_BYTES)) return start;
  for (let i = start + 1; i < end && i <= start + 10; i++) {
    if (bytes[i] !== SPACE) continue;
    return bytesAt(bytes, i + 1, end, TLS_ESTABLISHED_BYTES) ? i + 1 : -1;
  }
  return -1;
}

function parseConnect(line: Line): SmtpdResult {
  const host = readHostAddress(line, 13);
  if (!host) return malformed('connect line without name[address]');
  return { type: 'connect', clientName: host.name, clientIp: host.ip };
}

/**
 * The successful STARTTLS count from the command counters of the disconnect line
 * bytes[start, end) (Postfix 3.0 and later), which proves TLS without its version; 0 when
 * there are none.
 */
export function starttlsCount(bytes: Buffer, start: number, end: number): number {
  const at = indexOfBytes(bytes, STARTTLS, start, end);
  if (at < 0 || at + STARTTLS.length >= end) return 0;
  const digit = bytes[at + STARTTLS.length] - 48;
  return digit >= 0 && digit <= 9 ? digit : 0;
}

/**
 * `Anonymous TLS connection established from name[ip]: TLSv1.3 with cipher X (256/256 bits)`.
 * The trust prefix (Anonymous, Untrusted, Trusted, Verified) is absent before Postfix 2.5.
 */
export function parseTls(line: Line): Extract<SmtpdRecord, { type: 'tls' }> | Malformed {
  const { bytes, base, text } = line;
  if (!sharedTlsReader.read(bytes, base, base + text.length)) {
    return malformed('TLS line without name[address] or protocol');
  }
  return { type: 'tls', tlsProtocol: sharedTlsReader.protocol, cipher: sharedTlsReader.cipher };
}

const WITH_CIPHER = Buffer.from(' with cipher ');
const COLON_SPACE = Buffer.from(': ');
const TLS_VERSION_NAMES = Object.entries(TLS_VERSIONS).map(([name, protocol]) => ({
  name: Buffer.from(name),
  protocol,
}));
/** Distinct ciphers kept decoded; a server negotiates a handful. */
const MAX_CIPHERS = 32;

/**
 * Reads TLS lines from their bytes into `protocol` and `cipher`. A busy server logs one per
 * connection, and only the protocol and cipher are kept, so nothing else is decoded and each
 * cipher name is decoded once.
 */
export class TlsLineReader {
  protocol: TlsProtocol = 'unknown';
  cipher = '';
  private readonly ciphers: { bytes: Buffer; text: string }[] = [];

  /** Read the payload bytes[start, end); false when it is not a readable TLS line. */
  read(bytes: Buffer, start: number, end: number): boolean {
    const at = tlsLineStart(bytes, start, end);
    if (at < 0) return false;
    const open = findByte(bytes, OPEN_BRACKET, at + TLS_ESTABLISHED_BYTES.length, end);
    const close = open < 0 ? -1 : findByte(bytes, CLOSE_BRACKET, open + 1, end);
    if (close < 0 || !bytesAt(bytes, close + 1, end, COLON_SPACE)) return false;

    const protocolStart = close + 3;
    const protocolEnd = findByte(bytes, SPACE, protocolStart, end);
    if (protocolEnd < 0) return false;
    this.protocol = tlsVersion(bytes, protocolStart, protocolEnd);

    this.cipher = '';
    if (bytesAt(bytes, protocolEnd, end, WITH_CIPHER)) {
      const cipherStart = protocolEnd + WITH_CIPHER.length;
      const space = findByte(bytes, SPACE, cipherStart, end);
      this.cipher = this.cipherText(bytes, cipherStart, space < 0 ? end : space);
    }
    return true;
  }

  private cipherText(bytes: Buffer, start: number, end: number): string {
    for (const known of this.ciphers) {
      if (known.bytes.length === end - start && bytesAt(bytes, start, end, known.bytes)) {
        return known.text;
      }
    }

    const copy = Buffer.from(bytes.subarray(start, end));
    const text = decode({ text: copy.toString('latin1'), bytes: copy, base: 0 }, 0, copy.length);
    if (this.ciphers.length === MAX_CIPHERS) this.ciphers.shift();
    this.ciphers.push({ bytes: copy, text });
    return text;
  }
}

const sharedTlsReader = new TlsLineReader();

/** SSLv3 and anything newer than TLS 1.3 are kept as unknown rather than guessed. */
function tlsVersion(bytes: Buffer, start: number, end: number): TlsProtocol {
  for (const { name, protocol } of TLS_VERSION_NAMES) {
    if (name.length === end - start && bytesAt(bytes, start, end, name)) return protocol;
  }
  return 'unknown';
}

const SASL_METHOD_BYTES = Buffer.from(SASL_METHOD);

/** Check whether the `client=` payload bytes[start, end) has a sasl_method, as parseClient does. */
export function hasSaslMethod(bytes: Buffer, start: number, end: number): boolean {
  return indexOfBytes(bytes, SASL_METHOD_BYTES, start, end) >= 0;
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
