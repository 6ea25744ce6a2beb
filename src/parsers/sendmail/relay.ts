/**
 * The `relay=` value of Sendmail lines, which names the SMTP client:
 * `relay=host.example.org [192.0.2.1]`, `relay=[192.0.2.1]` without reverse DNS,
 * `relay=[IPv6:2001:db8::1]`, `relay=user@host.example.org [192.0.2.1]` with an ident reply,
 * and `(may be forged)` after the address when forward and reverse DNS disagree. Local
 * submissions have no address: `relay=root@localhost`.
 */
export interface Relay {
  /** Host name as logged, without the ident user; empty when only the address is known. */
  name: string;
  /** The address inside the brackets, without the `IPv6:` prefix; empty when none. */
  ip: string;
}

const IPV6_PREFIX = 'IPv6:';

/** Parse the text after `relay=` up to the end of the field. */
export function parseRelay(value: string): Relay {
  const trimmed = value.trim();
  const open = trimmed.lastIndexOf('[');
  const close = open < 0 ? -1 : trimmed.indexOf(']', open);
  if (open < 0 || close < 0) return { name: stripIdent(trimmed), ip: '' };

  let ip = trimmed.substring(open + 1, close);
  if (ip.startsWith(IPV6_PREFIX)) ip = ip.substring(IPV6_PREFIX.length);
  return { name: stripIdent(trimmed.substring(0, open).trim()), ip };
}

/** Sendmail puts an RFC 1413 ident reply in front of the host: `user@host`. */
function stripIdent(name: string): string {
  const at = name.lastIndexOf('@');
  return at < 0 ? name : name.substring(at + 1);
}
