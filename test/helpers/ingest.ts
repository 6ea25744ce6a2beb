import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { PostfixCorrelator } from '../../src/correlate/postfix.js';
import type { AuthFailure, ReportEvent, SubmittedMessage } from '../../src/events.js';
import { LineReader } from '../../src/ingest/lines.js';
import { TimestampParser } from '../../src/parsers/syslog.js';

/** A temporary folder removed by the returned cleanup. */
export function tempDir(prefix = 'sar-test-'): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(path.join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export function writeLog(dir: string, name: string, lines: string[] | string): string {
  const file = path.join(dir, name);
  writeFileSync(file, Array.isArray(lines) ? lines.join('\n') + '\n' : lines);
  return file;
}

/** Run log text through the line reader and correlator, without a store. */
export function correlate(text: string, options: { year?: number; timeZone?: string } = {}) {
  const events: ReportEvent[] = [];
  const correlator = new PostfixCorrelator((event) => events.push(event));
  const timestamps = new TimestampParser({
    timeZone: options.timeZone ?? 'UTC',
    year: options.year ?? 2026,
    referenceMs: Date.UTC(2027, 0, 1),
  });
  const reader = new LineReader(correlator, timestamps, undefined, 0);
  const bytes = Buffer.from(text.endsWith('\n') ? text : text + '\n');
  reader.readBlock({ bytes, offset: 0, complete: true });

  return {
    events,
    messages: events.filter((e): e is SubmittedMessage => e.kind === 'message'),
    failures: events.filter((e): e is AuthFailure => e.kind === 'failure'),
    counts: reader.counts,
    correlator,
  };
}
