/**
 * systemd journal input. `journalctl -o json` writes one JSON object per entry; each entry
 * is turned into the syslog line that rsyslog would have written for it, with an RFC 3339
 * time stamp, so the same line readers serve both. `journalctl -o short-iso` output is
 * already such a line and needs no conversion.
 */
import { Transform, type TransformCallback } from 'node:stream';

/** The journal fields that make up a syslog line, as `journalctl -o json` writes them. */
export interface JournalEntry {
  __REALTIME_TIMESTAMP?: string;
  __CURSOR?: string;
  _HOSTNAME?: string;
  SYSLOG_IDENTIFIER?: string;
  _COMM?: string;
  SYSLOG_PID?: string;
  _PID?: string;
  /** A string, or an array of byte values when the message is not valid UTF-8. */
  MESSAGE?: string | number[] | null;
}

/**
 * Build the syslog line for one entry: `2026-12-04T16:00:00.000000Z host tag[pid]: message`.
 * Returns null for an entry without a message or time. The message keeps its bytes: an array
 * of byte values is written back as those bytes, which the line reader decodes as it decodes
 * a log file. Line breaks inside a message become spaces, so one entry stays one line.
 */
export function syslogLineOf(entry: JournalEntry): Buffer | null {
  const time = isoMicroseconds(entry.__REALTIME_TIMESTAMP);
  const message = messageBytes(entry.MESSAGE);
  if (time === null || message === null) return null;

  const host = entry._HOSTNAME || 'localhost';
  const tag = entry.SYSLOG_IDENTIFIER || entry._COMM || 'unknown';
  const pid = entry.SYSLOG_PID || entry._PID;
  const header = `${time} ${host} ${tag}${pid ? `[${pid}]` : ''}: `;
  return Buffer.concat([Buffer.from(header, 'utf8'), message, NEWLINE]);
}

const NEWLINE = Buffer.from('\n');

/** Microseconds since the epoch (a decimal string) as RFC 3339 UTC with six decimals. */
function isoMicroseconds(value: string | undefined): string | null {
  if (!value || !/^\d{1,17}$/.test(value)) return null;

  const micros = BigInt(value);
  const millis = Number(micros / 1000n);
  const date = new Date(millis);
  if (Number.isNaN(date.getTime())) return null;
  const fraction = String(micros % 1_000_000n).padStart(6, '0');
  return `${date.toISOString().slice(0, 19)}.${fraction}Z`;
}

function messageBytes(message: JournalEntry['MESSAGE']): Buffer | null {
  let bytes: Buffer;
  if (typeof message === 'string') bytes = Buffer.from(message, 'utf8');
  else if (Array.isArray(message)) bytes = Buffer.from(message);
  else return null;

  for (let i = 0; i < bytes.length; i++) {
    if (bytes[i] === 0x0a || bytes[i] === 0x0d) bytes[i] = 0x20;
  }
  return bytes;
}

/** Check whether the first bytes of a stream look like `journalctl -o json` output. */
export function looksLikeJournalJson(firstBytes: Buffer): boolean {
  const text = firstBytes.toString('latin1').trimStart();
  return text.startsWith('{"') && text.includes('"__REALTIME_TIMESTAMP"');
}

/**
 * Turns `journalctl -o json` output into syslog lines. A line that is not a JSON object
 * passes through unchanged, so the line reader counts and reports it as malformed with its
 * line number, as it would in a log file. `lastCursor` is the `__CURSOR` of the last entry
 * read, for resuming `journalctl --after-cursor`.
 */
export class JournalJsonToSyslog extends Transform {
  lastCursor: string | null = null;
  entries = 0;
  private rest = Buffer.alloc(0);

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    const data = this.rest.length > 0 ? Buffer.concat([this.rest, chunk]) : chunk;
    let start = 0;
    let end = data.indexOf(0x0a, start);
    while (end >= 0) {
      this.convertLine(data.subarray(start, end));
      start = end + 1;
      end = data.indexOf(0x0a, start);
    }
    this.rest = Buffer.from(data.subarray(start));
    done();
  }

  override _flush(done: TransformCallback): void {
    if (this.rest.length > 0) this.convertLine(this.rest);
    done();
  }

  private convertLine(raw: Buffer): void {
    if (raw.length === 0) return;

    const entry = parseEntry(raw);
    if (entry === null) {
      this.push(Buffer.concat([raw, NEWLINE]));
      return;
    }

    this.entries++;
    if (entry.__CURSOR) this.lastCursor = entry.__CURSOR;
    const line = syslogLineOf(entry);
    if (line !== null) this.push(line);
  }
}

function parseEntry(raw: Buffer): JournalEntry | null {
  try {
    const value: unknown = JSON.parse(raw.toString('utf8'));
    return typeof value === 'object' && value !== null && !Array.isArray(value)
      ? (value as JournalEntry)
      : null;
  } catch {
    return null;
  }
}
