import type { ReportEvent } from '../events.js';
import { PostfixCorrelator, type LineContext } from '../correlate/postfix.js';
import { detach, type Line } from '../parsers/postfix/client.js';
import { postfixDaemon } from '../parsers/postfix/index.js';
import { parseQmgr } from '../parsers/postfix/qmgr.js';
import { parseSmtpd } from '../parsers/postfix/smtpd.js';
import { isMalformed, SKIPPED } from '../parsers/result.js';
import { newHeader, parseHeader, TimestampParser, type SyslogHeader } from '../parsers/syslog.js';
import type { LineBlock } from '../sources/reader.js';

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
const MAX_CACHED_TAGS = 10_000;
const MAX_PROBLEM_TEXT = 200;

/**
 * Reads the lines of one file: parses the syslog header once, hands Postfix smtpd and qmgr
 * payloads to their parsers and the records to the correlator. Lines of other Postfix
 * daemons are skipped before any field is decoded, which is most of a busy log.
 */
export class LineReader {
  readonly counts: LineCounts = { lines: 0, unsupported: 0, malformed: 0, problems: [] };
  private readonly header: SyslogHeader = newHeader();
  private readonly context: LineContext = { server: '', tag: '', service: '', time: 0 };
  private lastHost = '';
  private readonly line: Line = { text: '', bytes: Buffer.alloc(0), base: 0 };
  private readonly tags = new Map<string, { tag: string; service: string }>();

  constructor(
    private readonly correlator: PostfixCorrelator,
    private readonly timestamps: TimestampParser,
    private readonly serverName: string | undefined,
    firstLineNumber: number,
  ) {
    this.counts.lines = firstLineNumber;
  }

  readBlock(block: LineBlock): void {
    const { text } = block;
    let start = 0;
    while (start < text.length) {
      let next = text.indexOf('\n', start);
      if (next < 0) next = text.length;
      let end = next;
      if (end > start && text.charCodeAt(end - 1) === 13) end--;

      this.counts.lines++;
      if (end > start) this.readLine(block, start, end);
      start = next + 1;
    }
  }

  private readLine(block: LineBlock, start: number, end: number): void {
    const { text, bytes } = block;
    const h = this.header;
    if (!parseHeader(text, start, end, h)) {
      this.problem('malformed', 'no syslog header (timestamp, host, tag)', block, start, end);
      return;
    }

    const daemon = postfixDaemon(text, h);
    if (daemon === null) {
      this.problem('unsupported', 'not a Postfix line', block, start, end);
      return;
    }
    if (daemon === 'other') return;

    // One Line object serves every line: parsers read it and keep nothing of it.
    const line = this.line;
    line.text = text.substring(h.payloadStart, end);
    line.bytes = bytes;
    line.base = h.payloadStart;
    if (daemon === 'smtpd') this.readSmtpd(block, line);
    else this.readQmgr(block, line);
  }

  private readSmtpd(block: LineBlock, line: Line): void {
    const record = parseSmtpd(line);
    if (record === SKIPPED) return;
    if (isMalformed(record)) return this.lineProblem('malformed', record.malformed, block);

    // Only session starts, logins and failures need their time: parse it for those alone.
    const timed =
      record.type === 'connect' || record.type === 'client' || record.type === 'auth-failure';
    if (!this.setContext(block, timed)) return;
    this.setTag(block.text, this.header);
    this.correlator.smtpd(record, this.context);
  }

  /** qmgr lines matter only for queue ids that a `client=` line with a login opened. */
  private readQmgr(block: LineBlock, line: Line): void {
    if (!this.setContext(block, false)) return;
    const record = parseQmgr(line, this.correlator.pendingFilter(this.context.server));
    if (record === SKIPPED) return;
    if (isMalformed(record)) return this.lineProblem('malformed', record.malformed, block);
    this.correlator.qmgr(record, this.context.server);
  }

  /** Fill the line context; false (and a malformed line) when the timestamp is unreadable. */
  private setContext(block: LineBlock, timed: boolean): boolean {
    const { text, bytes } = block;
    const h = this.header;
    this.context.server = this.serverName ?? this.hostOf(text, bytes, h);
    if (!timed) return true;

    const time = this.timestamps.parse(text, h);
    if (Number.isNaN(time)) {
      this.lineProblem('malformed', 'unreadable timestamp', block);
      return false;
    }
    this.context.time = time;
    return true;
  }

  /**
   * Tag and service strings, cached by tag: a busy server has a few hundred smtpd pids, and
   * the cached strings are independent of the block they were read from.
   */
  private setTag(text: string, h: SyslogHeader): void {
    const key = text.substring(h.tagStart, h.tagEnd);
    let tag = this.tags.get(key);
    if (!tag) {
      if (this.tags.size >= MAX_CACHED_TAGS) this.tags.clear();
      tag = { tag: detach(key), service: detach(text.substring(h.tagStart, h.tagNameEnd)) };
      this.tags.set(tag.tag, tag);
    }
    this.context.tag = tag.tag;
    this.context.service = tag.service;
  }

  /** The host field, reusing the previous string: a file rarely has more than one host. */
  private hostOf(text: string, bytes: Buffer, h: SyslogHeader): string {
    const length = h.hostEnd - h.hostStart;
    if (length !== this.lastHost.length || !text.startsWith(this.lastHost, h.hostStart)) {
      this.lastHost = bytes.toString('utf8', h.hostStart, h.hostEnd);
    }
    return this.lastHost;
  }

  private lineProblem(kind: 'malformed' | 'unsupported', reason: string, block: LineBlock): void {
    this.problem(kind, reason, block, this.header.lineStart, this.header.lineEnd);
  }

  private problem(
    kind: 'malformed' | 'unsupported',
    reason: string,
    block: LineBlock,
    start: number,
    end: number,
  ): void {
    this.counts[kind]++;
    if (this.counts.problems.length >= MAX_PROBLEMS) return;
    const text = block.bytes.toString('utf8', start, Math.min(end, start + MAX_PROBLEM_TEXT));
    this.counts.problems.push({ line: this.counts.lines, reason: `${kind}: ${reason}`, text });
  }
}

export type EventSink = (event: ReportEvent) => void;
