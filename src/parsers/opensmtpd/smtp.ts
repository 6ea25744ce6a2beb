import { malformed, SKIPPED, UNSUPPORTED, type Malformed } from '../result.js';

/**
 * The `smtp` session lines of OpenSMTPD 6.4 and later, each `SESSIONID smtp EVENT fields`,
 * where the session id is 16 hex digits (smtp_session.c):
 *
 * - `connected address=192.0.2.1 host=mail.example.org` (IPv6 addresses in brackets)
 * - `tls ciphers=TLSv1.3:TLS_AES_256_GCM_SHA384:256`
 * - `authentication user=USER result=ok|permfail|tempfail`
 * - `failed-command command="AUTH LOGIN (password)" result="535 Authentication failed"`
 * - `message msgid=78e5c402 size=1118 nrcpt=1 proto=ESMTP`
 * - `envelope evpid=78e5c402920bcc4f from=<a@example.com> to=<b@example.org>`
 * - `disconnected reason=quit`
 */
export type OpenSmtpdRecord =
  | { type: 'connected'; session: string; address: string; host: string }
  | {
      type: 'tls';
      session: string;
      version: string;
      cipher: string;
      /**
       * True for the older `version=` form, which logged SSL_get_cipher_version(): the TLS
       * version that defined the cipher, not the version negotiated.
       */
      cipherVersion: boolean;
    }
  | { type: 'authentication'; session: string; user: string; result: string }
  /** The 535 reply to a failed login, which names the mechanism the client used. */
  | { type: 'auth-reply'; session: string; mechanism: 'PLAIN' | 'LOGIN' }
  | { type: 'message'; session: string; msgid: string; size: number; recipients: number }
  | { type: 'envelope'; session: string; senderAddress: string; recipient: string }
  | { type: 'disconnected'; session: string };

export type OpenSmtpdResult = OpenSmtpdRecord | Malformed | typeof SKIPPED | typeof UNSUPPORTED;

const SESSION_LINE = /^([0-9a-f]{16}) smtp ([a-z-]+)(?: (.*))?$/;

/** Parse the message of an `smtpd[pid]:` syslog line. */
export function parseOpenSmtpd(message: string): OpenSmtpdResult {
  const match = SESSION_LINE.exec(message);
  if (!match) return isOlderFormat(message) ? UNSUPPORTED : SKIPPED;

  const [, session, event, fields = ''] = match;
  switch (event) {
    case 'connected':
      return parseConnected(session, fields);
    case 'tls':
      return parseTls(session, fields);
    case 'authentication':
      return parseAuthentication(session, fields);
    case 'failed-command':
      return parseFailedCommand(session, fields);
    case 'message':
      return parseMessage(session, fields);
    case 'envelope':
      return parseEnvelope(session, fields);
    case 'disconnected':
      return { type: 'disconnected', session };
    default:
      return SKIPPED;
  }
}

/**
 * OpenSMTPD before 6.4 wrote `smtp-in: ...` lines (before 6.0) and `smtp event=... ` lines
 * (6.0 to 6.3). They are counted as unsupported so that the ingest summary shows them.
 */
function isOlderFormat(message: string): boolean {
  return message.startsWith('smtp-in: ') || /^(?:[0-9a-f]{16} )?smtp event=/.test(message);
}

function parseConnected(session: string, fields: string): OpenSmtpdResult {
  const address = field(fields, 'address');
  if (address === null) return malformed('smtp connected line without address=');
  // ss_to_text() writes IPv6 addresses in brackets and IPv4 addresses without.
  const bare = address.startsWith('[') && address.endsWith(']') ? address.slice(1, -1) : address;
  const host = field(fields, 'host') ?? '';
  return { type: 'connected', session, address: bare, host: host === '<unknown>' ? '' : host };
}

/**
 * `ciphers=VERSION:CIPHER:BITS` from libtls, or `ciphers=version=V, cipher=C, bits=N` from
 * builds whose ssl_to_text() used that older form.
 */
function parseTls(session: string, fields: string): OpenSmtpdResult {
  if (!fields.startsWith('ciphers=')) return malformed('smtp tls line without ciphers=');
  const value = fields.substring('ciphers='.length);

  if (value.startsWith('version=')) {
    const version = value.substring(8, indexOrEnd(value, ', ', 8));
    const cipherAt = value.indexOf('cipher=');
    const cipher =
      cipherAt < 0 ? '' : value.substring(cipherAt + 7, indexOrEnd(value, ', ', cipherAt));
    return { type: 'tls', session, version, cipher, cipherVersion: true };
  }

  const [version, cipher = ''] = value.split(':');
  return { type: 'tls', session, version, cipher, cipherVersion: false };
}

function parseAuthentication(session: string, fields: string): OpenSmtpdResult {
  const resultAt = fields.lastIndexOf(' result=');
  if (!fields.startsWith('user=') || resultAt < 0) {
    return malformed('smtp authentication line without user= or result=');
  }
  return {
    type: 'authentication',
    session,
    user: unvis(fields.substring('user='.length, resultAt)),
    result: fields.substring(resultAt + ' result='.length),
  };
}

function parseFailedCommand(session: string, fields: string): OpenSmtpdResult {
  if (fields.startsWith('command="AUTH PLAIN'))
    return { type: 'auth-reply', session, mechanism: 'PLAIN' };
  if (fields.startsWith('command="AUTH LOGIN'))
    return { type: 'auth-reply', session, mechanism: 'LOGIN' };
  return SKIPPED;
}

function parseMessage(session: string, fields: string): OpenSmtpdResult {
  const msgid = field(fields, 'msgid');
  const size = Number(field(fields, 'size') ?? NaN);
  const recipients = Number(field(fields, 'nrcpt') ?? NaN);
  if (msgid === null || !Number.isInteger(size) || !Number.isInteger(recipients)) {
    return malformed('smtp message line without msgid=, size= or nrcpt=');
  }
  return { type: 'message', session, msgid, size, recipients };
}

/** `evpid=ID from=<S> to=<R>`; the null sender is `from=<>`. */
function parseEnvelope(session: string, fields: string): OpenSmtpdResult {
  const fromAt = fields.indexOf(' from=<');
  const toAt = fields.lastIndexOf('> to=<');
  if (fromAt < 0 || toAt < fromAt || !fields.endsWith('>')) {
    return malformed('smtp envelope line without from=<...> to=<...>');
  }
  return {
    type: 'envelope',
    session,
    senderAddress: fields.substring(fromAt + ' from=<'.length, toAt),
    recipient: fields.substring(toAt + '> to=<'.length, fields.length - 1),
  };
}

/** Return the value of `name=` in space-separated fields, or null when it is absent. */
function field(fields: string, name: string): string | null {
  const prefix = `${name}=`;
  let at = 0;
  if (!fields.startsWith(prefix)) {
    at = fields.indexOf(` ${prefix}`) + 1;
    if (at === 0) return null;
  }
  const start = at + prefix.length;
  return fields.substring(start, indexOrEnd(fields, ' ', start));
}

function indexOrEnd(text: string, search: string, from: number): number {
  const at = text.indexOf(search, from);
  return at < 0 ? text.length : at;
}

/**
 * Undo strnvis(3) with VIS_WHITE | VIS_SAFE, which OpenSMTPD applies to the login name:
 * white space and other unsafe bytes become octal `\ooo`, and a backslash becomes `\\`.
 */
function unvis(text: string): string {
  if (!text.includes('\\')) return text;
  return text.replace(/\\(\\|[0-7]{3})/g, (_, code: string) =>
    code === '\\' ? '\\' : String.fromCharCode(parseInt(code, 8)),
  );
}
