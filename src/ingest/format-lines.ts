import type { FileCorrelator, LineOutcome } from '../formats/correlator.js';
import { printable } from '../text.js';
import type { LineCounts } from './lines.js';

const NEWLINE = 10;
const CARRIAGE_RETURN = 13;
const MAX_PROBLEMS = 5;
const MAX_PROBLEM_TEXT = 200;

/**
 * Reads the lines of a file in a format with its own files (the Exim main log, Exchange
 * protocol logs, Dovecot's `log_path` file) and hands each one, as text, to its correlator.
 * These logs are small beside a busy Postfix log, so every line is decoded.
 */
export class FileFormatLines {
  readonly counts: LineCounts = { lines: 0, unsupported: 0, malformed: 0, problems: [] };
  /** Index in the current bytes of the line being read (see LineReader.lineStart). */
  lineStart = 0;

  constructor(
    private readonly correlator: FileCorrelator,
    firstLineNumber: number,
  ) {
    this.counts.lines = firstLineNumber;
  }

  /** Read the lines of bytes[start, end), which ends after a newline or at the block's end. */
  readLines(bytes: Buffer, start: number, end: number): void {
    let lineStart = start;
    while (lineStart < end) {
      let next = bytes.indexOf(NEWLINE, lineStart);
      if (next < 0 || next > end) next = end;
      let lineEnd = next;
      if (lineEnd > lineStart && bytes[lineEnd - 1] === CARRIAGE_RETURN) lineEnd--;

      this.counts.lines++;
      this.lineStart = lineStart;
      if (lineEnd > lineStart) {
        const text = bytes.toString('utf8', lineStart, lineEnd);
        this.count(this.correlator.line(text), text);
      }
      lineStart = next + 1;
    }
  }

  private count(outcome: LineOutcome, text: string): void {
    if (outcome === 'used' || outcome === 'skipped') return;

    const kind = outcome === 'unsupported' ? 'unsupported' : 'malformed';
    const reason =
      outcome === 'unsupported'
        ? `${this.correlator.format} line of a kind we do not read`
        : outcome.malformed;
    this.counts[kind]++;
    if (this.counts.problems.length >= MAX_PROBLEMS) return;
    // The line is shown on a terminal.
    this.counts.problems.push({
      line: this.counts.lines,
      reason: `${kind}: ${reason}`,
      text: printable(text.slice(0, MAX_PROBLEM_TEXT)),
    });
  }
}

/** Split off the first lines of a block, for format detection. */
export function firstLines(bytes: Buffer, count = 20): string[] {
  const text = bytes.toString('utf8', 0, Math.min(bytes.length, 16 * 1024));
  return text
    .split('\n')
    .slice(0, count)
    .map((line) => line.replace(/\r$/, ''))
    .filter((line) => line.length > 0);
}
