/**
 * The arrival line `<=` that Exim writes when it has accepted a message into its queue, read
 * from Exim 4.96 (GnuTLS) and from real lines of OpenSSL builds and older versions:
 *
 *   <= sender H=name (helo) [ip]:port I=[local]:port P=esmtpsa X=TLS1.3:cipher:256 CV=no
 *      A=plain_server:user S=473 id=... T="subject" from <raw sender> for rcpt1 rcpt2
 *
 * Fields between P= and S= vary with the version and `log_selector` (`L.`, `K`, `PRDR`, DN=,
 * SNI=), and `(=` instead of `<=` marks a message accepted under `control = fakereject`.
 */
import { addressEnd } from '../address.js';
import { malformed, SKIPPED, UNSUPPORTED, type Malformed } from '../result.js';
import {
  parseAuthField,
  parseTlsField,
  readFields,
  type EximFields,
  type FullHost,
  type SessionTls,
} from './fields.js';

export interface Arrival {
  /** Envelope sender; empty for the null sender `<>`. */
  senderAddress: string;
  host: FullHost;
  /** `esmtpsa`, `esmtpa`, `utf8esmtpsa`, ... */
  protocol: string;
  authenticator: string;
  account: string;
  tls: SessionTls;
  size: number;
  /**
   * The envelope recipients of `log_selector = +received_recipients`; null when the line has
   * no complete `for` list.
   */
  recipients: string[] | null;
}

/**
 * Exim's log buffer has 8192 bytes and the `for` list stops where it is full. A line longer
 * than this may have lost recipients (an address is at most a few hundred bytes).
 */
const COMPLETE_LINE_LIMIT = 8192 - 512;

/**
 * Protocols of an SMTP session that authenticated: `esmtpa`, and `esmtpsa` over TLS, each
 * possibly prefixed `utf8` (SMTPUTF8) or `local-` (`exim -bs`).
 */
export function isAuthenticatedProtocol(protocol: string): boolean {
  return protocol.endsWith('esmtpa') || protocol.endsWith('esmtpsa');
}

/**
 * The TLS state of an authenticated arrival. `X=` is logged by default (`tls_cipher`); without
 * it the protocol still shows TLS (`esmtpsa`) or none (`esmtpa`).
 */
function arrivalTls(fields: EximFields, protocol: string): SessionTls {
  const x = fields.values.get('X');
  if (x !== undefined) return parseTlsField(x);
  if (protocol.endsWith('sa'))
    return { tlsProtocol: 'unknown', tlsEvidence: 'starttls', tlsCipher: null };
  return { tlsProtocol: 'none', tlsEvidence: 'no-line', tlsCipher: null };
}

/**
 * Read an arrival line from `start`, the index after `<= ` or `(= `. Arrivals without SMTP
 * AUTH are SKIPPED. An authenticator without `server_set_id` logs no login (`A=name`), which
 * is UNSUPPORTED: the report needs the account.
 */
export function parseArrival(
  text: string,
  start: number,
): Arrival | Malformed | typeof SKIPPED | typeof UNSUPPORTED {
  // Most arrivals on a busy server come without AUTH; they have no A= at all.
  if (text.indexOf(' A=', start) < 0) return SKIPPED;

  // A quoted local part may contain spaces and text that looks like fields.
  const senderEnd = addressEnd(text, start, ' ');
  if (senderEnd < 0) return malformed('arrival without fields after the sender');
  const sender = text.substring(start, senderEnd);
  const fields = readFields(text, senderEnd + 1);

  const protocol = fields.values.get('P') ?? '';
  const auth = fields.values.get('A');
  if (!isAuthenticatedProtocol(protocol) || auth === undefined) return SKIPPED;

  const login = parseAuthField(auth);
  if (login.id === null || login.id === '') return UNSUPPORTED;
  if (fields.host === null) {
    // `exim -bs` with AUTH (P=local-esmtpa) has no remote host.
    return protocol.startsWith('local-') ? UNSUPPORTED : malformed('arrival without H=[ip]');
  }

  const complete = text.length <= COMPLETE_LINE_LIMIT;
  return {
    senderAddress: sender === '<>' ? '' : sender,
    host: fields.host,
    protocol,
    authenticator: login.authenticator,
    account: login.id,
    tls: arrivalTls(fields, protocol),
    size: Number(fields.values.get('S') ?? 0) || 0,
    recipients: complete ? fields.recipients : null,
  };
}
