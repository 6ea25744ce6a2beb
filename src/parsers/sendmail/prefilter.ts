/**
 * Byte-level checks of a Sendmail line's message, made before it is decoded. Most lines of a
 * busy Sendmail log are deliveries (`to=`), which carry no SMTP AUTH fact, so the reader
 * skips them without building a string.
 */

const COLON = 0x3a;
const SPACE = 0x20;

const TO = Buffer.from('to=');

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

function startsWith(bytes: Buffer, at: number, end: number, prefix: Buffer): boolean {
  if (end - at < prefix.length) return false;
  for (let i = 0; i < prefix.length; i++) if (bytes[at + i] !== prefix[i]) return false;
  return true;
}

function isAlphanumeric(code: number): boolean {
  return (code >= 48 && code <= 57) || (code >= 65 && code <= 90) || (code >= 97 && code <= 122);
}
