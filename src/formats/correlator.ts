/**
 * The contract between the ingest pipeline and the readers of each log format other than
 * Postfix. Postfix has a specialised fast path in `src/ingest/lines.ts`; the other formats
 * see one line at a time through these interfaces and emit the same events.
 */
import type { ReportEvent } from '../events.js';

/** Log formats that `--log-format` accepts and the ingest summary names. */
export const LOG_FORMATS = [
  'postfix',
  'exim',
  'sendmail',
  'opensmtpd',
  'dovecot',
  'exchange',
] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

/** A syslog line after the shared header parser has split it. */
export interface SyslogLine {
  /** Milliseconds since the epoch, UTC. */
  time: number;
  /** The host field, or the name given with `--server-name`. */
  server: string;
  /** The tag without the pid, such as `sm-mta`, `smtpd` or `dovecot`. */
  program: string;
  /** The pid in brackets after the tag; -1 when the line has none. */
  pid: number;
  /** The text after `tag[pid]: `. */
  message: string;
}

/**
 * What a correlator did with a line.
 * - `used`: the line carried a fact that was read.
 * - `skipped`: a line of this format that contains no SMTP AUTH fact; not reported.
 * - `unsupported`: a line of this format in a form that is not read; counted.
 * - `{ malformed }`: a line that should hold a fact but cannot be read; counted and reported
 *   with file and line number.
 */
export type LineOutcome = 'used' | 'skipped' | 'unsupported' | { malformed: string };

/** Receives every message and failed login a correlator has finished. */
export type EmitEvent = (event: ReportEvent) => void;

/** Shared by both kinds of correlator: the state saved with each checkpoint. */
export interface CheckpointedCorrelator {
  readonly format: LogFormat;
  /** Plain JSON data that `restore` accepts, taken after a batch of lines. */
  snapshot(): unknown;
  /** Continue from a snapshot of an earlier run. Throws on a snapshot it cannot read. */
  restore(state: unknown): void;
}

/**
 * A reader of a syslog-borne format (Sendmail, OpenSMTPD, Dovecot). Lines of many programs
 * share one file, so `accepts` picks this correlator's lines by their program name.
 */
export interface SyslogCorrelator extends CheckpointedCorrelator {
  accepts(program: string): boolean;
  /**
   * Check the message bytes[start, end) before it is decoded. False skips a line that cannot
   * contain a fact (Dovecot's IMAP lines in a busy mail.log), which saves decoding it. `pid`
   * is the syslog tag's process id, -1 when it has none.
   */
  mayMatter?(bytes: Buffer, start: number, end: number, pid: number): boolean;
  line(line: SyslogLine): LineOutcome;
}

/**
 * A reader of a format with its own files and time stamps (the Exim main log, Exchange
 * protocol logs). It receives every line of the file, without the line break.
 */
export interface FileCorrelator extends CheckpointedCorrelator {
  line(text: string): LineOutcome;
}

/**
 * Whether the first lines of a file (at most a few kilobytes, without line breaks) look like
 * one format. Each format module exports one, and detection tries them in turn.
 */
export type FormatSniffer = (firstLines: string[]) => boolean;

/** Options every correlator constructor takes. */
export interface CorrelatorOptions {
  emit: EmitEvent;
  /** IANA time zone for formats whose time stamps carry no offset (Exim, Sendmail). */
  timeZone: string;
  /** Server name for formats whose lines carry none (Exim main log, Exchange). */
  serverName: string;
}
