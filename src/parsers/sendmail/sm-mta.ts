import { addressEnd } from '../address.js';
import { malformed, SKIPPED, type Malformed } from '../result.js';
import { parseRelay, type Relay } from './relay.js';

/**
 * The Sendmail daemon lines that carry SMTP AUTH facts, as Sendmail 8.14 to 8.18 write them
 * at the default LogLevel 9. Each line is `[QUEUEID: ]text`; the queue id is absent on the
 * STARTTLS and AUTH=server lines of 8.17 and present on them in some other builds.
 *
 * - `STARTTLS=server, relay=R, version=TLSv1.3, verify=NO, cipher=C, bits=256/256`
 * - `AUTH=server, relay=R, authid=USER, mech=PLAIN, bits=0`
 * - `QUEUEID: AUTH failure (LOGIN): authentication failure (-13) SASL(-13): ..., user=U, relay=R`
 * - `QUEUEID: from=<S>, size=N, class=0, nrcpts=K, msgid=<M>, proto=ESMTPSA, daemon=MSA, relay=R`
 *
 * A `from=` line whose `proto=` shows no login (ESMTP, ESMTPS) is SKIPPED.
 */
export type SendmailRecord =
  | { type: 'starttls'; relay: Relay; version: string; cipher: string }
  | { type: 'auth'; relay: Relay; authid: string; mechanism: string }
  | {
      type: 'auth-failure';
      mechanism: string;
      /** The Cyrus SASL error text, such as `authentication failure` or `user not found`. */
      reason: string;
      /** The name the client sent; Sendmail 8.16 and later log it, older versions do not. */
      user: string | null;
      relay: Relay | null;
    }
  | {
      type: 'from';
      queueId: string;
      senderAddress: string;
      size: number;
      /** `nrcpts=`: unique accepted recipients. */
      recipients: number;
      /** Absent when the transaction ended before the message headers were read. */
      msgid: string | null;
      /** RFC 3848 protocol name: `ESMTPSA` is AUTH with TLS, `ESMTPA` AUTH without TLS. */
      proto: string | null;
      /** The `Name=` of the DaemonPortOptions that accepted the connection, such as `MSA`. */
      daemon: string | null;
      relay: Relay | null;
    }
  /** A line that shows the transaction of this queue id did not end in the queue. */
  | { type: 'aborted'; queueId: string }
  /** A line Sendmail writes as the SMTP connection ends. */
  | { type: 'session-end' };

export type SendmailResult = SendmailRecord | Malformed | typeof SKIPPED;

/** Queue ids are 8 characters of date and sequence plus the pid, so 14 or more in all. */
const QUEUE_ID = /^([0-9A-Za-z]{12,24}): /;

/** Parse the message of a Sendmail syslog line (the text after `sm-mta[pid]: `). */
export function parseSendmail(message: string): SendmailResult {
  const match = QUEUE_ID.exec(message);
  const queueId = match ? match[1] : null;
  const text = match ? message.substring(match[0].length) : message;

  // A from= line first: its msgid= is text the client chose, which may look like anything.
  if (queueId !== null && text.startsWith('from=')) return parseFrom(queueId, text);
  if (text.startsWith(STARTTLS)) return parseStarttls(text);
  if (text.startsWith('AUTH=server, ')) return parseAuth(text);
  if (text.startsWith('AUTH failure (')) return parseAuthFailure(text);
  if (isSessionEnd(text)) return { type: 'session-end' };
  if (queueId === null) return SKIPPED;

  if (isAbort(text)) return { type: 'aborted', queueId };
  return SKIPPED;
}

const STARTTLS = 'STARTTLS=server, ';

/**
 * Return the text from `STARTTLS=server, ` on when a message is such a line, else null. Most
 * connections log one, so the correlator keeps this text and parses it (parseStarttls) only
 * for a connection that logs in.
 */
export function starttlsText(message: string): string | null {
  if (message.startsWith(STARTTLS)) return message;
  const colon = message.indexOf(': ');
  if (colon < 12 || colon > 24 || !message.startsWith(STARTTLS, colon + 2)) return null;
  return QUEUE_ID.test(message) ? message.substring(colon + 2) : null;
}

/**
 * Check a STARTTLS=server line as parseStarttls would: SKIPPED for a failed handshake,
 * Malformed without `relay=`, null for a line that parses.
 */
export function checkStarttls(text: string): typeof SKIPPED | Malformed | null {
  const relayAt = text.indexOf('relay=');
  const versionAt = text.indexOf(', version=');
  // Handshake errors (`STARTTLS=server, error: accept failed=...`) have no version.
  if (versionAt < 0) return SKIPPED;
  if (relayAt < 0 || relayAt > versionAt) return malformed('STARTTLS=server line without relay=');
  return null;
}

/** `STARTTLS=server, relay=R, version=V, verify=X, cipher=C, bits=A/B` */
export function parseStarttls(text: string): SendmailResult {
  const problem = checkStarttls(text);
  if (problem !== null) return problem;

  const relayAt = text.indexOf('relay=');
  const versionAt = text.indexOf(', version=');
  const version = fieldValue(text, versionAt + ', version='.length);
  const cipherAt = text.indexOf(', cipher=', versionAt);
  const cipher = cipherAt < 0 ? '' : fieldValue(text, cipherAt + ', cipher='.length);
  return {
    type: 'starttls',
    relay: parseRelay(text.substring(relayAt + 'relay='.length, versionAt)),
    version,
    cipher,
  };
}

/** `AUTH=server, relay=R, authid=USER, mech=M, bits=N` */
function parseAuth(text: string): SendmailResult {
  const relayAt = text.indexOf('relay=');
  const authidAt = text.indexOf(', authid=');
  // The login is text the client chose, so the last `, mech=` ends it.
  const mechAt = text.lastIndexOf(', mech=');
  if (relayAt < 0 || authidAt < relayAt || mechAt < authidAt) {
    return malformed('AUTH=server line without relay=, authid= or mech=');
  }

  return {
    type: 'auth',
    relay: parseRelay(text.substring(relayAt + 'relay='.length, authidAt)),
    authid: text.substring(authidAt + ', authid='.length, mechAt),
    mechanism: fieldValue(text, mechAt + ', mech='.length),
  };
}

/**
 * `AUTH failure (MECH): ERRSTRING (CODE) DETAIL[, user=U], relay=R`. The user name is what
 * the client sent and can itself contain `, relay=`, so the last `, relay=` starts the relay.
 */
function parseAuthFailure(text: string): SendmailResult {
  const mechEnd = text.indexOf('): ', 'AUTH failure ('.length);
  if (mechEnd < 0) return malformed('AUTH failure line without a mechanism');

  const relayAt = text.lastIndexOf(', relay=');
  const detailEnd = relayAt < 0 ? text.length : relayAt;
  const userAt = text.indexOf(', user=', mechEnd);
  const user = userAt >= 0 && userAt < detailEnd ? text.substring(userAt + 7, detailEnd) : null;

  return {
    type: 'auth-failure',
    mechanism: text.substring('AUTH failure ('.length, mechEnd),
    reason: failureReason(text.substring(mechEnd + 3, userAt >= 0 ? userAt : detailEnd)),
    user,
    relay: relayAt < 0 ? null : parseRelay(withoutForgedNote(text.substring(relayAt + 8))),
  };
}

/** `authentication failure (-13) SASL(-13): ...` gives `authentication failure`. */
function failureReason(detail: string): string {
  const code = detail.search(/ \(-?\d+\)/);
  return (code < 0 ? detail : detail.substring(0, code)).trim();
}

function withoutForgedNote(relay: string): string {
  const note = relay.indexOf(' (may be forged)');
  return note < 0 ? relay : relay.substring(0, note);
}

/** `from=<S>, size=N, class=C, nrcpts=K[, msgid=M][, bodytype=B][, proto=P][, daemon=D], relay=R` */
function parseFrom(queueId: string, text: string): SendmailResult {
  const bracketed = text.startsWith('from=<');
  // The sender ends at `>, size=` (`, size=` when bare) outside its quoted local part.
  const sizeAt = addressEnd(text, bracketed ? 6 : 5, bracketed ? '>, size=' : ', size=');
  if (sizeAt < 0) return malformed('from= line without size=');
  const senderAddress = text.substring(bracketed ? 6 : 5, sizeAt);

  const nrcptsAt = text.indexOf(', nrcpts=', sizeAt);
  const size = readNumber(text, text.indexOf('size=', sizeAt) + 5);
  const recipients = nrcptsAt < 0 ? NaN : readNumber(text, nrcptsAt + ', nrcpts='.length);
  if (Number.isNaN(size) || Number.isNaN(recipients)) {
    return malformed('from= line without a number in size= or nrcpts=');
  }

  // Later fields are read from the end, because msgid= holds text the client chose.
  const relayAt = text.lastIndexOf(', relay=');
  const end = relayAt < 0 ? text.length : relayAt;
  const daemonAt = text.lastIndexOf(', daemon=', end);
  const protoAt = text.lastIndexOf(', proto=', daemonAt < 0 ? end : daemonAt);
  const proto = protoAt < nrcptsAt ? null : fieldValue(text, protoAt + ', proto='.length);
  // RFC 3848: the protocol ends in A only when the client authenticated. Inbound mail is
  // most of a busy log, so its lines stop here.
  if (proto !== null && !proto.endsWith('A')) return SKIPPED;
  const msgidAt = text.indexOf(', msgid=', nrcptsAt);

  return {
    type: 'from',
    queueId,
    senderAddress,
    size,
    recipients,
    msgid: msgidAt < 0 ? null : fieldValue(text, msgidAt + ', msgid='.length),
    proto,
    daemon: daemonAt < nrcptsAt ? null : fieldValue(text, daemonAt + ', daemon='.length),
    relay: relayAt < 0 ? null : parseRelay(text.substring(relayAt + ', relay='.length)),
  };
}

/**
 * Lines that Sendmail writes for a transaction it did not accept, before its `from=` line:
 * a broken DATA phase (`collect:`), a milter or an end-of-message ruleset rejecting or
 * discarding the message, and the `to=` lines that log the recipients of an aborted message.
 */
function isAbort(text: string): boolean {
  if (text.startsWith('collect: ') || text.startsWith('to=')) return true;
  if (text.startsWith('Milter: data, ')) {
    return text.includes('reject=') || text.includes('discard');
  }
  if (!text.startsWith('ruleset=')) return false;
  if (text.endsWith(', discard')) return true;
  const endOfMessage = text.startsWith('ruleset=check_eoh') || text.startsWith('ruleset=check_eom');
  return endOfMessage && text.includes(', reject=');
}

/**
 * `CLIENT did not issue MAIL/EXPN/VRFY/ETRN during connection to DAEMON`, where CLIENT is
 * `[ip]` or `host [ip]` with an optional ident user and `(may be forged)`. The whole line must
 * have this shape, because an address or a rejected recipient may contain the words.
 */
const NO_MAIL_SESSION =
  /^[^<=,]*\[[^\]<=,]*\](?: \(may be forged\))? did not issue MAIL\/EXPN\/VRFY\/ETRN during connection to \S+$/;

function isSessionEnd(text: string): boolean {
  return text.startsWith('lost input channel from ') || NO_MAIL_SESSION.test(text);
}

/** The value of a `key=value` field: up to the next `, ` or the end of the line. */
function fieldValue(text: string, start: number): string {
  const end = text.indexOf(', ', start);
  return text.substring(start, end < 0 ? text.length : end);
}

function readNumber(text: string, start: number): number {
  let value = 0;
  let i = start;
  for (; i < text.length; i++) {
    const digit = text.charCodeAt(i) - 48;
    if (digit < 0 || digit > 9) break;
    value = value * 10 + digit;
  }
  return i === start ? NaN : value;
}
