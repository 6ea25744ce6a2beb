/**
 * Byte-level checks of a Sendmail line's message, made before it is decoded. Most lines of a
 * busy Sendmail log are deliveries (`to=`) and inbound mail (`from=` with `proto=ESMTP`), which
 * carry no SMTP AUTH fact; these checks let the reader skip them without building a string.
 * They read the fields the way parseSendmail does, so a line they pass on gets the same
 * outcome as before.
 */

const COLON = 0x3a;
const SPACE = 0x20;
const ZERO = 0x30;
const NINE = 0x39;
const UPPER_A = 0x41;

const TO = Buffer.from('to=');
const FROM = Buffer.from('from=');
const LESS_THAN = 0x3c;
const SIZE = Buffer.from(', size=');
const BRACKETED_SIZE = Buffer.from('>, size=');
const SIZE_KEY = Buffer.from('size=');
const SESSION_END = Buffer.from(' did not issue MAIL/EXPN/VRFY/ETRN during connection to ');
const NRCPTS = Buffer.from(', nrcpts=');
const RELAY = Buffer.from(', relay=');
const DAEMON = Buffer.from(', daemon=');
const PROTO = Buffer.from(', proto=');
const FIELD_END = Buffer.from(', ');

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
  return startsWith(bytes, at, end, TO);
}

/**
 * Check for a well-formed `from=` line at `at` whose `proto=` does not end in A (RFC 3848: no
 * login), which parseSendmail skips. A line with a missing or broken field is left to the
 * parser, which reports it.
 */
export function isInboundFromAt(bytes: Buffer, at: number, end: number): boolean {
  if (!startsWith(bytes, at, end, FROM)) return false;

  // The parser's other readings of such a line: the end of a session, or a broken size=.
  if (indexIn(bytes, SESSION_END, at, end) >= 0) return false;
  const sizeAt =
    bytes[at + FROM.length] === LESS_THAN
      ? indexIn(bytes, BRACKETED_SIZE, at, end)
      : indexIn(bytes, SIZE, at, end);
  const nrcptsAt = indexIn(bytes, NRCPTS, sizeAt < 0 ? end : sizeAt, end);
  if (sizeAt < 0 || nrcptsAt < 0) return false;
  const sizeValue = bytes.indexOf(SIZE_KEY, sizeAt) + SIZE_KEY.length;
  if (!isDigit(bytes[sizeValue]) || !isDigit(bytes[nrcptsAt + NRCPTS.length])) {
    return false;
  }

  // Later fields are read from the end, because msgid= holds text the client chose.
  const relayAt = lastIndexIn(bytes, RELAY, at, end);
  const fieldsEnd = relayAt < 0 ? end : relayAt;
  const daemonAt = lastIndexIn(bytes, DAEMON, at, fieldsEnd);
  const protoAt = lastIndexIn(bytes, PROTO, at, daemonAt < 0 ? fieldsEnd : daemonAt);
  if (protoAt < nrcptsAt) return false;

  const valueStart = protoAt + PROTO.length;
  const valueEnd = indexIn(bytes, FIELD_END, valueStart, end);
  const last = (valueEnd < 0 ? end : valueEnd) - 1;
  return last < valueStart || bytes[last] !== UPPER_A;
}

function startsWith(bytes: Buffer, at: number, end: number, prefix: Buffer): boolean {
  if (end - at < prefix.length) return false;
  for (let i = 0; i < prefix.length; i++) if (bytes[at + i] !== prefix[i]) return false;
  return true;
}

/** Return the first index of `needle` in bytes[from, end), or -1. */
function indexIn(bytes: Buffer, needle: Buffer, from: number, end: number): number {
  const found = bytes.indexOf(needle, from);
  return found < 0 || found + needle.length > end ? -1 : found;
}

/** Return the last index of `needle` in bytes[from, end) that ends by `end`, or -1. */
function lastIndexIn(bytes: Buffer, needle: Buffer, from: number, end: number): number {
  const latest = end - needle.length;
  if (latest < from) return -1;
  const found = bytes.lastIndexOf(needle, latest);
  return found < from ? -1 : found;
}

function isDigit(code: number | undefined): boolean {
  return code !== undefined && code >= ZERO && code <= NINE;
}

function isAlphanumeric(code: number): boolean {
  return (code >= 48 && code <= 57) || (code >= 65 && code <= 90) || (code >= 97 && code <= 122);
}
