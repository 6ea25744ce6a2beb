/**
 * Byte-level checks of a Sendmail line's message, made before it is decoded. Most lines of a
 * busy Sendmail log are deliveries (`to=`) and inbound mail (`from=` without a login), which
 * carry no SMTP AUTH fact, so the reader skips them without building a string.
 */

import { bytesAt } from '../postfix/client.js';

const COLON = 0x3a;
const SPACE = 0x20;

const TO = Buffer.from('to=');
const FROM = Buffer.from('from=');
const SIZE = Buffer.from(', size=');
const BRACKETED_SIZE = Buffer.from('>, size=');
const LESS_THAN = 0x3c;
const QUOTE_MARK = Buffer.from('"');
const NRCPTS = Buffer.from(', nrcpts=');
const PROTO = Buffer.from(', proto=');
const DAEMON = Buffer.from(', daemon=');
const RELAY = Buffer.from(', relay=');
const COMMA_SPACE = Buffer.from(', ');
const LETTER_A = 0x41;

/** Return the index after `QUEUEID: ` (12 to 24 letters and digits), or -1 when none starts the message. */
export function afterQueueId(bytes: Buffer, start: number, end: number): number {
  let at = start;
  while (at < end && at - start <= 24 && isAlphanumeric(bytes[at])) at++;
  const idLength = at - start;
  if (idLength < 12 || idLength > 24) return -1;
  if (bytes[at] !== COLON || bytes[at + 1] !== SPACE) return -1;
  return at + 2;
}

/** Check for `to=` at `at`: a delivery, or the recipients of an aborted transaction. */
export function isDeliveryAt(bytes: Buffer, at: number, end: number): boolean {
  return bytesAt(bytes, at, end, TO);
}

/**
 * Check for a `from=` line at `at` that the parser skips because its `proto=` shows no login
 * (ESMTP, ESMTPS). The fields are found as parseSendmail finds them: `proto=` from the end,
 * because `msgid=` contains text the client chose. A line that the parser would find malformed
 * (no number after `size=` or `nrcpts=`) is not skipped here, so that it is still counted.
 */
export function isFromWithoutLoginAt(bytes: Buffer, at: number, end: number): boolean {
  if (!bytesAt(bytes, at, end, FROM)) return false;

  // The sender is `<address>` or a bare address, which ends at `>, size=` or `, size=`.
  const bracketed = bytes[at + FROM.length] === LESS_THAN;
  const sizeField = indexOfBytes(bytes, bracketed ? BRACKETED_SIZE : SIZE, at, end);
  if (sizeField < 0) return false;
  // A quoted local part may contain `>, size=`: such a line goes to the parser, which reads quotes.
  if (indexOfBytes(bytes, QUOTE_MARK, at, sizeField) >= 0) return false;
  const number = sizeField + (bracketed ? BRACKETED_SIZE.length : SIZE.length);
  const nrcpts = indexOfBytes(bytes, NRCPTS, sizeField, end);
  if (nrcpts < 0 || !isDigit(bytes[number]) || !isDigit(bytes[nrcpts + NRCPTS.length])) {
    return false;
  }

  const relay = lastIndexOfBytes(bytes, RELAY, at, end);
  const fieldsEnd = relay < 0 ? end : relay;
  const daemon = lastIndexOfBytes(bytes, DAEMON, at, fieldsEnd);
  const proto = lastIndexOfBytes(bytes, PROTO, at, daemon < 0 ? fieldsEnd : daemon);
  if (proto < nrcpts) return false;

  const valueStart = proto + PROTO.length;
  const next = indexOfBytes(bytes, COMMA_SPACE, valueStart, end);
  const valueEnd = next < 0 ? end : next;
  return valueEnd > valueStart && bytes[valueEnd - 1] !== LETTER_A;
}

/** Index of the first `pattern` that lies wholly in bytes[from, end), or -1. */
function indexOfBytes(bytes: Buffer, pattern: Buffer, from: number, end: number): number {
  const first = pattern[0];
  for (let i = from; i <= end - pattern.length; i++) {
    if (bytes[i] === first && bytesAt(bytes, i, end, pattern)) return i;
  }
  return -1;
}

/** Index of the last `pattern` that lies wholly in bytes[from, end), or -1. */
function lastIndexOfBytes(bytes: Buffer, pattern: Buffer, from: number, end: number): number {
  const first = pattern[0];
  for (let i = end - pattern.length; i >= from; i--) {
    if (bytes[i] === first && bytesAt(bytes, i, end, pattern)) return i;
  }
  return -1;
}

function isDigit(code: number): boolean {
  return code >= 48 && code <= 57;
}

function isAlphanumeric(code: number): boolean {
  return (code >= 48 && code <= 57) || (code >= 65 && code <= 90) || (code >= 97 && code <= 122);
}
