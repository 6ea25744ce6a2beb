import { PostfixCorrelator, type LineContext } from '../correlate/postfix.js';
import { bytesAt, type Line } from '../parsers/postfix/client.js';
import { postfixDaemon } from '../parsers/postfix/index.js';
import { parseQmgr } from '../parsers/postfix/qmgr.js';
import {
  classifySmtpd,
  hasSaslMethod,
  parseClient,
  parseWarning,
  SmtpdKind,
  TlsLineReader,
} from '../parsers/postfix/smtpd.js';
import type { LineOutcome, LogFormat } from '../formats/correlator.js';
import type { SyslogReaders } from '../formats/registry.js';
import { isMalformed, SKIPPED } from '../parsers/result.js';
import {
  newHeader,
  parseHeader,
  pidOf,
  TimestampParser,
  type SyslogHeader,
} from '../parsers/syslog.js';
import type { LineBlock } from '../sources/reader.js';
import { printable } from '../text.js';

/** A line that could not be read, reported with its file and line number. */
export interface LineProblem {
  line: number;
  reason: string;
  text: string;
}

/** Line counts for one file. */
export interface LineCounts {
  lines: number;
  unsupported: number;
  malformed: number;
  /** The first few malformed and unsupported lines, for the ingest summary. */
  problems: LineProblem[];
}

const MAX_PROBLEMS = 5;
const MAX_PROBLEM_TEXT = 200;
const NEWLINE = 10;
const CARRIAGE_RETURN = 13;

/**
 * Reads the lines of one file from their bytes: parses the syslog header once, hands Postfix
 * smtpd and qmgr payloads to their parsers and the records to the correlator. A busy log is
 * mostly lines that cannot matter (other daemons, sessions that never authenticate, queue
 * ids without a login), so those are recognised from a few bytes and skipped before any
 * text is decoded or any object is made.
 */
export class LineReader {
  readonly counts: LineCounts = { lines: 0, unsupported: 0, malformed: 0, problems: [] };
  /**
   * Index in the current bytes of the line being read, so that an event can be placed at the
   * line that completed it.
   */
  lineStart = 0;
  /** A Postfix line was read, for the format the ingest summary names. */
  sawPostfix = false;
  /** The other formats whose readers took lines of this file. */
  readonly otherFormats = new Set<LogFormat>();
  private readonly header: SyslogHeader = newHeader();
  private readonly context: LineContext = { server: '', pid: 0, service: '', time: 0 };
  private readonly line: Line = { text: '', bytes: Buffer.alloc(0), base: 0 };
  private bytes: Buffer = Buffer.alloc(0);
  private readonly lastHost = new RecentText('utf8');
  private readonly lastService = new RecentText('latin1');
  private readonly lastProgram = new RecentText('utf8');
  private readonly tls = new TlsLineReader();

  constructor(
    private readonly correlator: PostfixCorrelator,
    private readonly timestamps: TimestampParser,
    private readonly serverName: string | undefined,
    firstLineNumber: number,
    /** Readers of the other mail programs' lines (Sendmail, OpenSMTPD, Dovecot). */
    private readonly others: SyslogReaders | null = null,
  ) {
    this.counts.lines = firstLineNumber;
  }

  readBlock(block: LineBlock): void {
    this.readLines(block.bytes, 0, block.bytes.length);
  }

  /** Read the lines of bytes[start, end), which ends after a newline or at the block's end. */
  readLines(bytes: Buffer, start: number, end: number): void {
    this.bytes = bytes;
    let lineStart = start;
    while (lineStart < end) {
      let next = bytes.indexOf(NEWLINE, lineStart);
      if (next < 0 || next > end) next = end;
      let lineEnd = next;
      if (lineEnd > lineStart && bytes[lineEnd - 1] === CARRIAGE_RETURN) lineEnd--;

      this.counts.lines++;
      this.lineStart = lineStart;
      if (lineEnd > lineStart) this.readLine(bytes, lineStart, lineEnd);
      lineStart = next + 1;
    }
  }

  private readLine(bytes: Buffer, start: number, end: number): void {
    const h = this.header;
    if (!parseHeader(bytes, start, end, h)) {
      this.problem('malformed', 'no syslog header (timestamp, host, tag)');
      return;
    }

    const daemon = postfixDaemon(bytes, h);
    if (daemon === null) return this.readOther(bytes, h);
    this.sawPostfix = true;
    if (daemon === 'smtpd') this.readSmtpd(bytes, h);
    else if (daemon === 'qmgr') this.readQmgr(bytes, h);
  }

  private readSmtpd(bytes: Buffer, h: SyslogHeader): void {
    const kind = classifySmtpd(bytes, h.payloadStart, h.lineEnd);
    if (kind === SmtpdKind.OTHER) return;
    const pid = pidOf(bytes, h);
    if (pid < 0) return this.problem('malformed', 'smtpd line without a [pid]');
    const server = this.server(bytes, h);

    switch (kind) {
      case SmtpdKind.CONNECT: {
        const time = this.time(bytes, h);
        if (!Number.isNaN(time)) this.correlator.connect(server, pid, time);
        return;
      }
      case SmtpdKind.TLS:
        return this.readTls(bytes, h, server, pid);
      case SmtpdKind.DISCONNECT:
        this.correlator.disconnect(server, pid, bytes, h.payloadStart, h.lineEnd);
        return;
      case SmtpdKind.CLIENT:
      case SmtpdKind.WARNING:
        return this.readLogin(bytes, h, kind, pid);
    }
  }

  /** Hand a line of another program to the reader of its format, if one takes that program. */
  private readOther(bytes: Buffer, h: SyslogHeader): void {
    const program = this.lastProgram.read(bytes, h.tagStart, h.tagNameEnd);
    const reader = this.others?.readerFor(program) ?? null;
    if (reader === null) return this.problem('unsupported', 'not a line of a mail program we read');
    const pid = pidOf(bytes, h);
    if (reader.mayMatter?.(bytes, h.payloadStart, h.lineEnd, pid) === false) return;

    const time = this.time(bytes, h);
    if (Number.isNaN(time)) return;
    const outcome = reader.line({
      time,
      server: this.server(bytes, h),
      program,
      pid,
      message: bytes.toString('utf8', h.payloadStart, h.lineEnd),
    });
    this.countOther(outcome, reader.format);
  }

  private countOther(outcome: LineOutcome, format: LogFormat): void {
    if (outcome === 'used' || outcome === 'skipped') {
      this.otherFormats.add(format);
      return;
    }
    if (outcome === 'unsupported')
      this.problem('unsupported', `${format} line of a kind we do not read`);
    else this.problem('malformed', outcome.malformed);
  }

  /** A TLS line that cannot be read still shows that the session used TLS, of unknown version. */
  private readTls(bytes: Buffer, h: SyslogHeader, server: string, pid: number): void {
    const tls = this.tls;
    if (tls.read(bytes, h.payloadStart, h.lineEnd)) {
      this.correlator.tls(server, pid, tls.protocol, tls.cipher);
    } else {
      this.correlator.tls(server, pid, 'unknown', null);
    }
  }

  /** A `client=` line or a `warning:` line: the only smtpd lines whose fields are read. */
  private readLogin(bytes: Buffer, h: SyslogHeader, kind: SmtpdKind, pid: number): void {
    // Most clients send mail without logging in: their `client=` lines have no sasl_method.
    if (kind === SmtpdKind.CLIENT && !hasSaslMethod(bytes, h.payloadStart, h.lineEnd)) return;

    const record =
      kind === SmtpdKind.CLIENT ? parseClient(this.payload(h)) : parseWarning(this.payload(h));
    if (record === SKIPPED) return;
    if (isMalformed(record)) return this.problem('malformed', record.malformed);
    if (record.type === 'auth-backend-error') return this.correlator.backendError();
    if (!this.setContext(bytes, h, pid)) return;

    if (record.type === 'client') this.correlator.client(record, this.context);
    else if (record.type === 'auth-failure') this.correlator.failure(record, this.context);
  }

  /** qmgr lines matter only for queue ids that a `client=` line with a login opened. */
  private readQmgr(bytes: Buffer, h: SyslogHeader): void {
    const server = this.server(bytes, h);
    if (!this.correlator.mayBePending(server, bytes, h.payloadStart, h.lineEnd)) return;

    const record = parseQmgr(this.payload(h));
    if (record === SKIPPED) return;
    if (isMalformed(record)) return this.problem('malformed', record.malformed);
    this.correlator.qmgr(record, server);
  }

  /**
   * The payload as the one reused Line. Fields kept from it (an account, a queue id) may be
   * slices of its text, which keep one line in memory, never a block.
   */
  private payload(h: SyslogHeader): Line {
    const line = this.line;
    line.text = this.bytes.toString('latin1', h.payloadStart, h.lineEnd);
    line.bytes = this.bytes;
    line.base = h.payloadStart;
    return line;
  }

  /** Fill the line context; false (and a malformed line) when the timestamp is unreadable. */
  private setContext(bytes: Buffer, h: SyslogHeader, pid: number): boolean {
    const time = this.time(bytes, h);
    if (Number.isNaN(time)) return false;

    this.context.server = this.server(bytes, h);
    this.context.pid = pid;
    this.context.time = time;
    this.context.service = this.lastService.read(bytes, h.tagStart, h.tagNameEnd);
    return true;
  }

  private time(bytes: Buffer, h: SyslogHeader): number {
    const time = this.timestamps.parse(bytes, h);
    if (Number.isNaN(time)) this.problem('malformed', 'unreadable timestamp');
    return time;
  }

  /** Return the host field, or the name given with `--server-name`. */
  private server(bytes: Buffer, h: SyslogHeader): string {
    if (this.serverName !== undefined) return this.serverName;
    return this.lastHost.read(bytes, h.hostStart, h.hostEnd);
  }

  private problem(kind: 'malformed' | 'unsupported', reason: string): void {
    this.counts[kind]++;
    if (this.counts.problems.length >= MAX_PROBLEMS) return;
    const { lineStart, lineEnd } = this.header;
    const end = Math.min(lineEnd, lineStart + MAX_PROBLEM_TEXT);
    // The line is shown on a terminal.
    const text = printable(this.bytes.toString('utf8', lineStart, end));
    this.counts.problems.push({ line: this.counts.lines, reason: `${kind}: ${reason}`, text });
  }
}

/**
 * A field that repeats from line to line (the host, the syslog name), decoded again only
 * when its bytes change: a file rarely has more than one host and a few services.
 */
class RecentText {
  private bytes = Buffer.alloc(0);
  private text = '';

  constructor(private readonly encoding: 'utf8' | 'latin1') {}

  read(bytes: Buffer, start: number, end: number): string {
    if (end - start !== this.bytes.length || !bytesAt(bytes, start, end, this.bytes)) {
      this.bytes = Buffer.from(bytes.subarray(start, end));
      this.text = this.bytes.toString(this.encoding);
    }
    return this.text;
  }
}
