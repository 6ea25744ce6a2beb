/**
 * The fields of Exim log lines: the remote host as `H=` and `authenticator failed for` write it,
 * `KEY=value` fields with quoted values, the TLS field `X=` and the login field `A=`.
 */
import type { TlsEvidence, TlsProtocol } from '../../events.js';

/**
 * A remote host as Exim writes it (its `sender_fullhost`): `name (helo) [ip]:port`, where the
 * name appears only when reverse DNS gave one, the HELO only when it differs from the name,
 * and the port only with `log_selector = +incoming_port`.
 */
export interface FullHost {
  /** The host name from reverse DNS; null when the log has none. */
  name: string | null;
  helo: string | null;
  ip: string;
  port: number | null;
  /** Index just after the host. */
  end: number;
}

/** Read a host written as `name (helo) [ip]:port` from `start`; null when there is no `[ip]`. */
export function readFullHost(text: string, start: number): FullHost | null {
  let index = start;
  let name: string | null = null;
  let helo: string | null = null;

  if (text[index] !== '(' && text[index] !== '[') {
    const space = text.indexOf(' ', index);
    if (space < 0) return null;
    name = text.substring(index, space);
    index = space + 1;
  }
  if (text[index] === '(') {
    // A HELO can hold brackets itself (`([192.0.2.7])`), so the HELO ends at `) [`.
    const close = text.indexOf(') [', index);
    if (close < 0) return null;
    helo = text.substring(index + 1, close);
    index = close + 2;
  }
  if (text[index] !== '[') return null;

  const close = text.indexOf(']', index);
  if (close < 0) return null;
  const ip = text.substring(index + 1, close);
  index = close + 1;

  let port: number | null = null;
  if (text[index] === ':') {
    const digits = /^\d+/.exec(text.substring(index + 1, index + 7));
    if (digits) {
      port = Number(digits[0]);
      index += 1 + digits[0].length;
    }
  }
  return { name, helo, ip, port, end: index };
}

/** The fields after the address of an arrival line, or after the host of other lines. */
export interface EximFields {
  /** `KEY=value` fields by key, first occurrence; quoted values without quotes and escapes. */
  values: Map<string, string>;
  /** The `H=` host. */
  host: FullHost | null;
  /**
   * The recipients after `for` (`log_selector = +received_recipients`); null without them.
   * Exim writes them last, and stops when its 8 KiB log buffer is full.
   */
  recipients: string[] | null;
}

const QUOTE = 34;
const BACKSLASH = 92;
const SPACE = 32;

/** Index of the quote that closes the quoted string opened at `open`, or the line's end. */
function closingQuote(text: string, open: number): number {
  for (let i = open + 1; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code === BACKSLASH) i++;
    else if (code === QUOTE) return i;
  }
  return text.length;
}

/** Index of the space that ends the token at `start`; spaces inside quotes do not count. */
function tokenEnd(text: string, start: number): number {
  let i = start;
  while (i < text.length) {
    const code = text.charCodeAt(i);
    if (code === SPACE) break;
    if (code === QUOTE) i = closingQuote(text, i);
    i++;
  }
  return Math.min(i, text.length);
}

/**
 * Strip the quotes and escapes of a quoted value (`T="a \\"b\\""`). A value whose closing
 * quote the line's end cut off is kept as it is.
 */
function unquote(value: string): string {
  const quoted = value.length >= 2 && value.charCodeAt(0) === QUOTE && value.endsWith('"');
  if (!quoted) return value;
  return value.slice(1, -1).replace(/\\(.)/g, '$1');
}

/** Read the `KEY=value` fields, the `H=` host and the `for` list from `start` to the end. */
export function readFields(text: string, start: number): EximFields {
  const fields: EximFields = { values: new Map(), host: null, recipients: null };
  let index = start;

  while (index < text.length) {
    if (text.charCodeAt(index) === SPACE) {
      index++;
      continue;
    }
    if (fields.host === null && text.startsWith('H=', index)) {
      const host = readFullHost(text, index + 2);
      if (host) {
        fields.host = host;
        index = host.end;
        continue;
      }
    }

    const end = tokenEnd(text, index);
    const token = text.substring(index, end);
    index = end;
    if (token === 'for') {
      fields.recipients = text.substring(index).split(' ').filter(Boolean);
      break;
    }
    if (token === 'from') {
      // `+received_sender` writes ` from <sender>` before the `for` list.
      index = tokenEnd(text, index + 1);
      continue;
    }

    const equals = token.indexOf('=');
    if (equals <= 0) continue;
    const key = token.substring(0, equals);
    if (!fields.values.has(key)) fields.values.set(key, unquote(token.substring(equals + 1)));
  }
  return fields;
}

/** The TLS state of a session as a line shows it. */
export interface SessionTls {
  tlsProtocol: TlsProtocol;
  tlsEvidence: TlsEvidence;
  tlsCipher: string | null;
}

/**
 * Protocol names of `X=`: GnuTLS builds (Debian) write `TLS1.2`, OpenSSL builds write
 * `TLSv1.2`, and OpenSSL calls TLS 1.0 `TLSv1`. SSL 3 has no column in the report.
 */
const TLS_VERSIONS: Record<string, TlsProtocol> = {
  'TLS1.0': 'TLSv1',
  TLSv1: 'TLSv1',
  'TLSv1.0': 'TLSv1',
  'TLS1.1': 'TLSv1.1',
  'TLSv1.1': 'TLSv1.1',
  'TLS1.2': 'TLSv1.2',
  'TLSv1.2': 'TLSv1.2',
  'TLS1.3': 'TLSv1.3',
  'TLSv1.3': 'TLSv1.3',
};

/**
 * Read `X=version:cipher:bits`, as in `TLS1.3:ECDHE_X25519__RSA_PSS_RSAE_SHA256__AES_256_GCM:256`
 * (GnuTLS) or `TLSv1.3:TLS_AES_256_GCM_SHA384:256` (OpenSSL). A version the report has no
 * column for (SSLv3, or the test suite's masked `TLS1.x`) is `unknown`.
 */
export function parseTlsField(value: string): SessionTls {
  const parts = value.split(':');
  return {
    tlsProtocol: TLS_VERSIONS[parts[0]] ?? 'unknown',
    tlsEvidence: 'line',
    tlsCipher: parts.length > 1 && parts[1] !== '' ? parts[1] : null,
  };
}

/** The login of `A=authenticator:id`. */
export interface AuthField {
  /** The authenticator's name in the configuration, such as `plain_server`. */
  authenticator: string;
  /** The `server_set_id` of the authenticator; null when it sets none. */
  id: string | null;
}

/**
 * Read `A=authenticator:id`. With `log_selector = +smtp_mailauth` Exim appends
 * `:authenticated_sender` (an address, or `<>`), which is split off. An id that itself contains
 * a colon followed by an address is cut there too.
 */
export function parseAuthField(value: string): AuthField {
  const colon = value.indexOf(':');
  if (colon < 0) return { authenticator: value, id: null };

  const authenticator = value.substring(0, colon);
  let id = value.substring(colon + 1);
  const second = id.indexOf(':');
  if (second >= 0) {
    const rest = id.substring(second + 1);
    if (rest === '<>' || rest.includes('@')) id = id.substring(0, second);
  }
  return { authenticator, id };
}
