import { field, malformed, SKIPPED, type Malformed } from '../result.js';
import { queueIdEnd } from './client.js';

/**
 * qmgr(8) lines. `from=<S>, size=N, nrcpt=K (queue active)` is written each time a message
 * enters the active queue: once when it is accepted, and again on every delivery retry.
 * `removed` is written when the queue file is deleted.
 */
export type QmgrRecord =
  | { type: 'queued'; queueId: string; senderAddress: string; size: number; recipients: number }
  | { type: 'removed'; queueId: string };

export type QmgrResult = QmgrRecord | Malformed | typeof SKIPPED;

export function parseQmgr(text: string, bytes: Buffer, start: number, end: number): QmgrResult {
  const idEnd = queueIdEnd(text, start, end);
  if (idEnd < 0) return SKIPPED;
  const payload = idEnd + 2;

  if (text.startsWith('from=<', payload)) return parseQueued(text, bytes, start, idEnd, end);
  if (text.startsWith('removed', payload)) {
    return { type: 'removed', queueId: bytes.toString('latin1', start, idEnd) };
  }
  return SKIPPED;
}

function parseQueued(
  text: string,
  bytes: Buffer,
  start: number,
  idEnd: number,
  end: number,
): QmgrResult {
  const senderStart = idEnd + 8;
  const sizeAt = text.indexOf('>, size=', senderStart);
  // `from=<S>, status=expired, returned to sender` has no size: it is not an arrival.
  if (sizeAt < 0 || sizeAt >= end) return SKIPPED;

  const nrcptAt = text.indexOf(', nrcpt=', sizeAt);
  if (nrcptAt < 0 || nrcptAt >= end) return malformed('qmgr from= line without nrcpt=');

  const size = readNumber(text, sizeAt + 8);
  const recipients = readNumber(text, nrcptAt + 8);
  if (Number.isNaN(size) || Number.isNaN(recipients))
    return malformed('qmgr size= or nrcpt= is not a number');

  return {
    type: 'queued',
    queueId: bytes.toString('latin1', start, idEnd),
    senderAddress: field(bytes, senderStart, sizeAt),
    size,
    recipients,
  };
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
