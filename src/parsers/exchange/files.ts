/**
 * Finding and recognising Exchange SMTP Receive protocol logs. Exchange writes them to
 * folders such as `TransportRoles\Logs\FrontEnd\ProtocolLog\SmtpReceive`, one file per hour
 * per server (`RECV2026120415-1.LOG`), and starts a file with the next number when one
 * reaches its size limit within the hour.
 */
import { readdir } from 'node:fs/promises';
import path from 'node:path';

import type { FormatSniffer } from '../../formats/correlator.js';
import { DEFAULT_FIELD_INDEX, parseRow, type ExchangeRow } from './protocol-log.js';

const RECEIVE_LOG = /^RECV(\d*)(?:-(\d+))?\.LOG$/i;

/**
 * Lists the `RECV*.LOG` files of a folder, oldest first: by the hour in the name, then by the
 * number after it, so that `-10` follows `-9`.
 */
export async function listReceiveLogs(folder: string): Promise<string[]> {
  const entries = await readdir(folder, { withFileTypes: true });
  const names = entries
    .filter((entry) => entry.isFile() && RECEIVE_LOG.test(entry.name))
    .map((entry) => entry.name);
  return names.sort(compareReceiveLogNames).map((name) => path.join(folder, name));
}

export function compareReceiveLogNames(a: string, b: string): number {
  const left = RECEIVE_LOG.exec(a);
  const right = RECEIVE_LOG.exec(b);
  if (!left || !right) return a.localeCompare(b);
  if (left[1] !== right[1]) return left[1] < right[1] ? -1 : 1;
  return Number(left[2] ?? 0) - Number(right[2] ?? 0);
}

/**
 * True for an SMTP Receive protocol log: its `#Log-type` header says so, or, in a file
 * without the header, most rows are protocol-log rows and the server's replies (3-digit
 * codes) are `>` rows. A Send log has them in `<` rows.
 */
export const looksLikeExchangeSmtpReceive: FormatSniffer = (firstLines) => {
  const logType = firstLines.find((line) => line.startsWith('#Log-type:'));
  if (logType !== undefined) return /SMTP Receive Protocol Log/i.test(logType);

  const lines = firstLines.filter((line) => line.trim() !== '' && !line.startsWith('#'));
  const rows = lines
    .map((line) => parseRow(line, DEFAULT_FIELD_INDEX))
    .filter((row): row is ExchangeRow => !('malformed' in row));
  if (rows.length === 0 || rows.length * 2 < lines.length) return false;

  const isReply = (row: ExchangeRow) => /^\d{3}(?: |-|$)/.test(row.data);
  const repliesSent = rows.filter((row) => row.event === '>' && isReply(row)).length;
  const repliesReceived = rows.filter((row) => row.event === '<' && isReply(row)).length;
  return repliesReceived === 0 && (repliesSent > 0 || rows.some((row) => row.event === '+'));
};
