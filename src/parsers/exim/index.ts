/**
 * Reads one line of an Exim main log into a typed record. Only the lines that carry SMTP AUTH
 * facts become records; every other Exim line is SKIPPED.
 */
import type { ZoneConverter } from '../../time.js';
import { isMalformed, malformed, SKIPPED, UNSUPPORTED, type Malformed } from '../result.js';
import { parseArrival, type Arrival } from './arrival.js';
import { deliveryFlagAt, type DeliveryFlag } from './delivery.js';
import type { FullHost } from './fields.js';
import { parseEximHeader, type EximHeader } from './header.js';
import {
  authFailureAt,
  isNoMail,
  parseAuthFailure,
  parseNoMail,
  sessionEndHost,
  type AuthFailureLine,
  type NoMailLine,
} from './session.js';

export { looksLikeEximMainLog } from './header.js';

export type EximRecord =
  | { type: 'arrival'; header: EximHeader; arrival: Arrival }
  /** The address is read only for messages that wait for it, from `addressStart`. */
  | { type: 'delivery'; header: EximHeader; flag: DeliveryFlag; addressStart: number }
  | { type: 'completed'; header: EximHeader }
  | { type: 'auth-failure'; header: EximHeader; failure: AuthFailureLine }
  | { type: 'no-mail'; header: EximHeader; noMail: NoMailLine }
  | { type: 'session-end'; header: EximHeader; host: FullHost };

export type EximLineResult = EximRecord | Malformed | typeof SKIPPED | typeof UNSUPPORTED;

/** Read a line of an Exim main log; `zone` converts time stamps without an offset. */
export function parseEximLine(text: string, zone: ZoneConverter): EximLineResult {
  if (isContinuation(text)) return SKIPPED;
  const header = parseEximHeader(text, zone);
  if (header === null) return NO_TIME_STAMP;
  return readEximRecord(text, header);
}

/** Check for an empty line, or an indented one that continues a multi-line entry (configuration errors). */
export function isContinuation(text: string): boolean {
  return text === '' || text[0] === ' ' || text[0] === '\t';
}

/** One shared result, frozen because every line without a time stamp returns it. */
export const NO_TIME_STAMP = Object.freeze(
  malformed('no Exim time stamp (YYYY-MM-DD HH:MM:SS) at the start'),
);

/** Read the body of a line whose header is read already. */
export function readEximRecord(text: string, header: EximHeader): EximLineResult {
  if (header.messageId !== null) {
    const message = messageLine(text, header);
    if (message !== SKIPPED) return message;
  }
  return sessionLine(text, header, header.bodyStart);
}

function messageLine(text: string, header: EximHeader): EximLineResult {
  const start = header.bodyStart;
  const first = text[start];

  if ((first === '<' || first === '(') && text[start + 1] === '=' && text[start + 2] === ' ') {
    const arrival = parseArrival(text, start + 3);
    if (arrival === SKIPPED || arrival === UNSUPPORTED || isMalformed(arrival)) return arrival;
    return { type: 'arrival', header, arrival };
  }

  const flag = deliveryFlagAt(text, start);
  if (flag !== null) return { type: 'delivery', header, flag, addressStart: start + 3 };

  if (text.startsWith('Completed', start)) {
    // `log_selector = +queue_time_overall` appends ` QT=...`.
    const after = text[start + 9];
    if (after === undefined || after === ' ') return { type: 'completed', header };
  }
  return SKIPPED;
}

function sessionLine(text: string, header: EximHeader, start: number): EximLineResult {
  const failedAt = authFailureAt(text, start);
  if (failedAt >= 0) {
    const failure = parseAuthFailure(text, start, failedAt);
    return isMalformed(failure) ? failure : { type: 'auth-failure', header, failure };
  }

  if (isNoMail(text, start)) {
    const noMail = parseNoMail(text, start);
    return isMalformed(noMail) ? noMail : { type: 'no-mail', header, noMail };
  }

  // Only a session key (the pid) lets the end of a session settle its failed logins.
  if (header.pid >= 0) {
    const host = sessionEndHost(text, start);
    if (host !== null) return { type: 'session-end', header, host };
  }
  return SKIPPED;
}
