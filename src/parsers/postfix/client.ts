/**
 * Postfix writes a remote host as `name[address]`, with `unknown` as the name when reverse
 * DNS fails or `smtpd_peername_lookup = no`. IPv6 addresses appear bare inside the brackets.
 */
export interface HostAddress {
  name: string;
  ip: string;
  /** Index just after the closing bracket. */
  end: number;
}

/**
 * One line of a block: `text` is the line alone (a cheap slice of the block text), and the
 * byte at index i of `text` is `bytes[base + i]`. Parsers search only `text`, so a search
 * that finds nothing stops at the end of the line.
 */
export interface Line {
  text: string;
  bytes: Buffer;
  base: number;
}

/**
 * The field `line.text[start, end)` as a string. ASCII text is taken as a substring, which
 * costs a few nanoseconds where decoding the bytes costs a native call; text with other
 * bytes is decoded as UTF-8 so that non-ASCII names survive.
 */
export function decode(line: Line, start: number, end: number): string {
  const { bytes, base } = line;
  for (let i = base + start; i < base + end; i++) {
    if (bytes[i] >= 0x80) return bytes.toString('utf8', base + start, base + end);
  }
  return line.text.substring(start, end);
}

/**
 * A copy of a string that does not keep its source alive. A substring can point into the
 * 4 MiB block it came from; state that outlives the block (a held message waiting days for
 * its qmgr line) must not pin those blocks in memory.
 */
export function detach(value: string): string {
  // V8 shares the parent for slices of 13 characters or more; shorter ones are copies.
  return value.length < 13 ? value : (' ' + value).slice(1);
}

/** Read `name[address]` starting at `start`; null when there is no bracketed address. */
export function readHostAddress(
  line: Line,
  start: number,
  limit = line.text.length,
): HostAddress | null {
  const open = line.text.indexOf('[', start);
  if (open < 0 || open >= limit) return null;
  const close = line.text.indexOf(']', open + 1);
  if (close < 0 || close >= limit) return null;

  // Postfix prints host names in ASCII (IDNs as punycode) and escapes anything else.
  return {
    name: line.text.substring(start, open),
    ip: line.text.substring(open + 1, close),
    end: close + 1,
  };
}

/** Index of `: ` after a queue id at `start`, or -1 when the text there is no queue id. */
export function queueIdEnd(text: string, start = 0): number {
  let i = start;
  while (i < text.length && isAlphanumeric(text.charCodeAt(i))) i++;
  // Short ids are at least 6 hex digits; long ids (enable_long_queue_ids) are longer.
  if (i - start < 6 || text.charCodeAt(i) !== 58 || text.charCodeAt(i + 1) !== 32) return -1;
  return i;
}

/** queueIdEnd for the bytes of a line that ends at `end`. */
export function queueIdEndInBytes(bytes: Buffer, start: number, end: number): number {
  let i = start;
  while (i < end && isAlphanumeric(bytes[i])) i++;
  if (i - start < 6 || i + 1 >= end || bytes[i] !== 58 || bytes[i + 1] !== 32) return -1;
  return i;
}

function isAlphanumeric(c: number): boolean {
  return (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122);
}

/** Check whether `pattern` is at bytes[at] and ends before `limit`. */
export function bytesAt(bytes: Buffer, at: number, limit: number, pattern: Uint8Array): boolean {
  if (at + pattern.length > limit) return false;
  for (let i = 0; i < pattern.length; i++) {
    if (bytes[at + i] !== pattern[i]) return false;
  }
  return true;
}

/**
 * Index of `value` in bytes[start, end), or -1. Buffer.indexOf searches with memchr, which
 * beats a loop over more than a few bytes; past `end` it stops at the next line's match.
 */
export function findByte(bytes: Buffer, value: number, start: number, end: number): number {
  const at = bytes.indexOf(value, start);
  return at < end ? at : -1;
}

/** Index of `pattern` in bytes[start, end), or -1. */
export function indexOfBytes(
  bytes: Buffer,
  pattern: Uint8Array,
  start: number,
  end: number,
): number {
  const first = pattern[0];
  for (let i = start; i + pattern.length <= end; i++) {
    if (bytes[i] === first && bytesAt(bytes, i, end, pattern)) return i;
  }
  return -1;
}
