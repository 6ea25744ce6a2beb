/**
 * Dovecot's own log file (`log_path` and `info_log_path`), written without syslog: each
 * line is the `log_timestamp` prefix and then the same text as in syslog, such as
 * `Dec 04 15:13:44 auth: Info: ...` (Dovecot's default `%b %d %H:%M:%S `) or
 * `2026-12-04 15:13:44 submission-login: Info: ...` (`log_timestamp = "%Y-%m-%d %H:%M:%S "`).
 */
import type { FormatSniffer } from '../../formats/correlator.js';
import { newHeader, TimestampParser, type TimestampOptions } from '../syslog.js';
import { ZoneConverter } from '../../time.js';

/** `Dec 04 15:13:44 ` or `Dec  4 15:13:44 `, with optional fractional seconds. */
const CLASSIC = /^[A-Z][a-z]{2} [ 0-9]?[0-9] \d{2}:\d{2}:\d{2}(?:\.\d{1,9})? /;
/** `2026-12-04 15:13:44 `: local time without a zone. */
const DATE_TIME = /^(\d{4})-(\d{2})-(\d{2}) (\d{2}):(\d{2}):(\d{2})(\.\d{1,9})? /;
/** `2026-12-04T15:13:44.123+01:00 `: RFC 3339 with its own offset. */
const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:Z|[+-]\d{2}:?\d{2}) /;

/** A process name and level as Dovecot writes them to its own log file. */
const DOVECOT_PREFIX =
  /^[a-z][a-z0-9-]*(?:\([^)]*\))?(?:<[^<>]*>)*: (?:Info|Warning|Error|Fatal|Panic|Debug): /;

export interface LogFileLine {
  /** Milliseconds since the epoch, UTC, or NaN when the time stamp is not a real time. */
  time: number;
  /** The text after the time stamp. */
  message: string;
}

/** Splits `log_path` lines into time and text. */
export class DovecotLogFileReader {
  private readonly classic: TimestampParser;
  private readonly zone: ZoneConverter;

  constructor(options: TimestampOptions) {
    this.classic = new TimestampParser(options);
    this.zone = new ZoneConverter(options.timeZone);
  }

  /** Splits a line into time and text. Returns null when it does not start with a time stamp. */
  read(text: string): LogFileLine | null {
    const classic = CLASSIC.exec(text) ?? RFC3339.exec(text);
    if (classic) {
      return { time: this.syslogTime(classic[0]), message: text.slice(classic[0].length) };
    }

    const local = DATE_TIME.exec(text);
    if (!local) return null;
    return { time: this.localTime(local), message: text.slice(local[0].length) };
  }

  /** Reads a syslog-style time stamp, `prefix` with its trailing space, as syslog.ts does. */
  private syslogTime(prefix: string): number {
    const header = newHeader();
    header.lineEnd = prefix.length;
    header.hostStart = prefix.length;
    header.rfc3339 = prefix.charAt(10) === 'T';
    // The fast path reads fixed columns: `Dec 04 15:13:44 ` is 16 characters.
    header.classicVariant = !header.rfc3339 && prefix.length !== 16;
    return this.classic.parse(Buffer.from(prefix, 'latin1'), header);
  }

  private localTime(match: RegExpExecArray): number {
    const [, year, month, day, hour, minute, second, fraction] = match;
    const wall = this.zone.toUtc(+year, +month - 1, +day, +hour, +minute, +second);
    return wall + (fraction ? Math.floor(Number(fraction) * 1000) : 0);
  }
}

/**
 * True when most of the first lines are Dovecot `log_path` lines: a time stamp, a process
 * name and a level (`auth: Info: `), which syslog lines (`host dovecot: ...`) never have.
 */
export const looksLikeDovecotLog: FormatSniffer = (firstLines) => {
  const reader = new DovecotLogFileReader({ timeZone: 'UTC', referenceMs: Date.now() });
  const lines = firstLines.filter((line) => line.trim() !== '');
  const matching = lines.filter((line) => {
    const parsed = reader.read(line);
    return parsed !== null && DOVECOT_PREFIX.test(parsed.message);
  }).length;
  return matching > 0 && matching * 2 >= lines.length;
};
