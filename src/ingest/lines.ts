import { PostfixCorrelator, type LineContext } from '../correlate/postfix.js';
import { detach, type Line } from '../parsers/postfix/client.js';
import { postfixDaemon } from '../parsers/postfix/index.js';
import { parseQmgr } from '../parsers/postfix/qmgr.js';
import { classifySmtpd, parseClient, parseWarning, SmtpdKind } from '../parsers/postfix/smtpd.js';
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

/**
 * Reads the lines of one file: parses the syslog header once, hands Postfix smtpd and qmgr
 * payloads to their parsers and the records to the correlator. A busy log is mostly lines
 * that cannot matter (other daemons, sessions that never authenticate, queue ids without a
 * login), so those are recognised from a few characters and skipped before any field is
 * read or any object is made.
 */
export class LineReader {
  readonly counts: LineCounts = { lines: 0, unsupported: 0, malformed: 0, problems: [] };
  private readonly header: SyslogHeader = newHeader();
  private readonly context: LineContext = { server: '', pid: 0, service: '', time: 0 };
  private readonly line: Line = { text: '', bytes: Buffer.alloc(0), base: 0 };
  private block: LineBlock = { bytes: Buffer.alloc(0), text: '', offset: 0, complete: true };
  private lastHost = '';
  private lastService = '';

  constructor(
    private readonly correlator: PostfixCorrelator,
    private readonly timestamps: TimestampParser,
    private readonly serverName: string | undefined,
    firstLineNumber: number,
  ) {
    this.counts.lines = firstLineNumber;
  }

  readBlock(block: LineBlock): void {
    this.block = block;
    const { text } = block;
    let start = 0;
    while (start < text.length) {
      let next = text.indexOf('\n', start);
      if (next < 0) next = text.length;
      let end = next;
      if (end > start && text.charCodeAt(end - 1) === 13) end--;

      this.counts.lines++;
      if (end > start) this.readLine(text, start, end);
      start = next + 1;
    }
  }

  private readLine(text: string, start: number, end: number): void {
    const h = this.header;
    if (!parseHeader(text, start, end, h)) {
      this.problem('malformed', 'no syslog header (timestamp, host, tag)');
      return;
    }

    const daemon = postfixDaemon(text, h);
    if (daemon === null) this.problem('unsupported', 'not a Postfix line');
    else if (daemon === 'smtpd') this.readSmtpd(text, h);
    else if (daemon === 'qmgr') this.readQmgr(text, h);
  }

  private readSmtpd(text: string, h: SyslogHeader): void {
    const kind = classifySmtpd(text, h.payloadStart, h.lineEnd);
    if (kind === SmtpdKind.OTHER) return;
    const pid = pidOf(text, h);
    if (pid < 0) return this.problem('malformed', 'smtpd line without a [pid]');
    const server = this.server(text, h);

    switch (kind) {
      case SmtpdKind.CONNECT: {
        const time = this.time(text, h);
        if (!Number.isNaN(time)) this.correlator.connect(server, pid, time);
        return;
      }
      case SmtpdKind.TLS:
        this.correlator.tls(server, pid, text.substring(h.payloadStart, h.lineEnd));
        return;
      case SmtpdKind.DISCONNECT:
        this.correlator.disconnect(server, pid, text, h.payloadStart, h.lineEnd);
        return;
      case SmtpdKind.CLIENT:
      case SmtpdKind.WARNING:
        return this.readLogin(text, h, kind, pid);
    }
  }

  /** A `client=` line or a `warning:` line: the only smtpd lines whose fields are read. */
  private readLogin(text: string, h: SyslogHeader, kind: SmtpdKind, pid: number): void {
    const record =
      kind === SmtpdKind.CLIENT ? parseClient(this.payload(h)) : parseWarning(this.payload(h));
    if (record === SKIPPED) return;
    if (isMalformed(record)) return this.problem('malformed', record.malformed);
    if (record.type === 'auth-backend-error') return this.correlator.backendError();
    if (!this.setContext(text, h, pid)) return;

    if (record.type === 'client') this.correlator.client(record, this.context);
    else if (record.type === 'auth-failure') this.correlator.failure(record, this.context);
  }

  /** qmgr lines matter only for queue ids that a `client=` line with a login opened. */
  private readQmgr(text: string, h: SyslogHeader): void {
    const server = this.server(text, h);
    if (!this.correlator.mayBePending(server, text, h.payloadStart)) return;

    const record = parseQmgr(this.payload(h));
    if (record === SKIPPED) return;
    if (isMalformed(record)) return this.problem('malformed', record.malformed);
    this.correlator.qmgr(record, server);
  }

  /** The payload as the one reused Line: parsers read it and keep nothing of it. */
  private payload(h: SyslogHeader): Line {
    const line = this.line;
    line.text = this.block.text.substring(h.payloadStart, h.lineEnd);
    line.bytes = this.block.bytes;
    line.base = h.payloadStart;
    return line;
  }

  /** Fill the line context; false (and a malformed line) when the timestamp is unreadable. */
  private setContext(text: string, h: SyslogHeader, pid: number): boolean {
    const time = this.time(text, h);
    if (Number.isNaN(time)) return false;

    this.context.server = this.server(text, h);
    this.context.pid = pid;
    this.context.time = time;
    this.context.service = this.service(text, h);
    return true;
  }

  private time(text: string, h: SyslogHeader): number {
    const time = this.timestamps.parse(text, h);
    if (Number.isNaN(time)) this.problem('malformed', 'unreadable timestamp');
    return time;
  }

  /** The host field, reusing the previous string: a file rarely has more than one host. */
  private server(text: string, h: SyslogHeader): string {
    if (this.serverName !== undefined) return this.serverName;
    const length = h.hostEnd - h.hostStart;
    if (length !== this.lastHost.length || !text.startsWith(this.lastHost, h.hostStart)) {
      this.lastHost = this.block.bytes.toString('utf8', h.hostStart, h.hostEnd);
    }
    return this.lastHost;
  }

  /** The syslog name without the pid, such as `postfix/submission/smtpd`. */
  private service(text: string, h: SyslogHeader): string {
    const length = h.tagNameEnd - h.tagStart;
    if (length !== this.lastService.length || !text.startsWith(this.lastService, h.tagStart)) {
      this.lastService = detach(text.substring(h.tagStart, h.tagNameEnd));
    }
    return this.lastService;
  }

  private problem(kind: 'malformed' | 'unsupported', reason: string): void {
    this.counts[kind]++;
    if (this.counts.problems.length >= MAX_PROBLEMS) return;
    const { lineStart, lineEnd } = this.header;
    const end = Math.min(lineEnd, lineStart + MAX_PROBLEM_TEXT);
    // The line is shown on a terminal.
    const text = printable(this.block.bytes.toString('utf8', lineStart, end));
    this.counts.problems.push({ line: this.counts.lines, reason: `${kind}: ${reason}`, text });
  }
}
