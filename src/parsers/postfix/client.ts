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

/** Read `name[address]` starting at `start`; null when there is no bracketed address. */
export function readHostAddress(
  text: string,
  bytes: Buffer,
  start: number,
  limit: number,
): HostAddress | null {
  const open = text.indexOf('[', start);
  if (open < 0 || open >= limit) return null;
  const close = text.indexOf(']', open + 1);
  if (close < 0 || close >= limit) return null;

  return {
    name: bytes.toString('latin1', start, open),
    ip: bytes.toString('latin1', open + 1, close),
    end: close + 1,
  };
}

/** Index of `: ` after a queue id at `start`, or -1 when the text there is no queue id. */
export function queueIdEnd(text: string, start: number, limit: number): number {
  let i = start;
  while (i < limit) {
    const c = text.charCodeAt(i);
    const alnum = (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122);
    if (!alnum) break;
    i++;
  }
  // Short ids are at least 6 hex digits; long ids (enable_long_queue_ids) are longer.
  if (i - start < 6 || text.charCodeAt(i) !== 58 || text.charCodeAt(i + 1) !== 32) return -1;
  return i;
}
