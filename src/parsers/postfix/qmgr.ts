import { malformed, SKIPPED, type Malformed } from '../result.js';
import { decode, queueIdEnd, type Line } from './client.js';

/**
 * qmgr(8) lines. `from=<S>, size=N, nrcpt=K (queue active)` is written each time a message
 * enters the active queue: once when it is accepted, and again on every delivery retry.
 * `removed` is written when the queue file is deleted.
 */
export type QmgrRecord =
  | { type: 'queued'; queueId: string; senderAddress: string; size: number; recipients: number }
  | { type: 'removed'; queueId: string };

export type QmgrResult = QmgrRecord | Malformed | typeof SKIPPED;

/**
 * Parse a qmgr payload: `line.text` is the text after `qmgr[pid]: `. Lines for queue ids
 * that `wanted` rejects are skipped before any other field is read: on a busy server most
 * messages arrive without SMTP AUTH.
 */
export function parseQmgr(
  line: Line,
  wanted: (queueId: string) => boolean = () => true,
): QmgrResult {
  const { text } = line;
  const idEnd = queueIdEnd(text);
  if (idEnd < 0) return SKIPPED;
  const queueId = text.substring(0, idEnd);
  if (!wanted(queueId)) return SKIPPED;

  const payload = idEnd + 2;
  if (text.startsWith('from=<', payload)) return parseQueued(line, idEnd, queueId);
  if (text.startsWith('removed', payload)) return { type: 'removed', queueId };
  return SKIPPED;
}

function parseQueued(line: Line, idEnd: number, queueId: string): QmgrResult {
  const { text } = line;
  const senderStart = idEnd + 8;
  // The sender is the only text the client chose, and a quoted local part may contain
  // `>, size=`, so the last one ends it.
  const sizeAt = text.lastIndexOf('>, size=');
  // `from=<S>, status=expired, returned to sender` has no size: it is not an arrival.
  if (sizeAt < senderStart) return SKIPPED;

  const nrcptAt = text.indexOf(', nrcpt=', sizeAt);
  if (nrcptAt < 0) return malformed('qmgr from= line without nrcpt=');

  const size = readNumber(text, sizeAt + 8, MAX_SIZE_DIGITS);
  const recipients = readNumber(text, nrcptAt + 8, MAX_NRCPT_DIGITS);
  if (Number.isNaN(size) || Number.isNaN(recipients)) {
    return malformed('qmgr size= or nrcpt= is not a number of a sane size');
  }
  // Postfix ends the line with ` (queue active)`. Other text after nrcpt= means that the
  // size= and nrcpt= read were inside a sender, as in a crafted `status=expired` line.
  const after = digitsEnd(text, nrcptAt + 8);
  if (after < text.length && !text.startsWith(QUEUE_ACTIVE, after)) {
    return malformed('qmgr from= line with text after nrcpt= other than (queue active)');
  }

  return {
    type: 'queued',
    queueId,
    senderAddress: decode(line, senderStart, sizeAt),
    size,
    recipients,
  };
}

/**
 * Digits that size= and nrcpt= may have: the store keeps them as BIGINT and INTEGER, and a
 * longer number is a damaged line, not a message of petabytes or billions of recipients.
 */
const MAX_SIZE_DIGITS = 15;
const QUEUE_ACTIVE = ' (queue active)';
const MAX_NRCPT_DIGITS = 9;

/** Return the index after the digits that start at `start`. */
function digitsEnd(text: string, start: number): number {
  let i = start;
  while (i < text.length && text.charCodeAt(i) >= 48 && text.charCodeAt(i) <= 57) i++;
  return i;
}

/** Read the decimal number at `start`: NaN when there is none or it has more than `maxDigits`. */
function readNumber(text: string, start: number, maxDigits: number): number {
  let value = 0;
  let i = start;
  for (; i < text.length; i++) {
    const digit = text.charCodeAt(i) - 48;
    if (digit < 0 || digit > 9) break;
    value = value * 10 + digit;
  }
  return i === start || i - start > maxDigits ? NaN : value;
}
