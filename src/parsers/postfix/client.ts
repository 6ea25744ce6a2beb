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

const NON_ASCII = /[\x80-\xff]/;

/**
 * The field `line.text[start, end)` as a string. ASCII text is taken as a substring, which
 * costs a few nanoseconds where decoding the bytes costs a native call; text with other
 * bytes is decoded as UTF-8 so that non-ASCII names survive.
 */
export function decode(line: Line, start: number, end: number): string {
  const text = line.text.substring(start, end);
  if (!NON_ASCII.test(text)) return text;
  return line.bytes.toString('utf8', line.base + start, line.base + end);
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
  while (i < text.length) {
    const c = text.charCodeAt(i);
    const alnum = (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122);
    if (!alnum) break;
    i++;
  }
  // Short ids are at least 6 hex digits; long ids (enable_long_queue_ids) are longer.
  if (i - start < 6 || text.charCodeAt(i) !== 58 || text.charCodeAt(i + 1) !== 32) return -1;
  return i;
}
