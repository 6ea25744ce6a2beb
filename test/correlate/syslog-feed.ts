import type { AuthFailure, ReportEvent, SubmittedMessage } from '../../src/events.js';
import type { LineOutcome, SyslogCorrelator } from '../../src/formats/correlator.js';
import { newHeader, parseHeader, pidOf, TimestampParser } from '../../src/parsers/syslog.js';

/** What feeding log text to a correlator produced. */
export interface FeedResult {
  events: ReportEvent[];
  messages: SubmittedMessage[];
  failures: AuthFailure[];
  /** One entry per line the correlator accepted, in order. */
  outcomes: LineOutcome[];
  /** Lines whose program the correlator did not accept, or without a syslog header. */
  ignored: number;
}

/**
 * Feeds syslog text to a correlator the way the ingest pipeline does: the shared header
 * parser splits each line, and only lines whose program the correlator accepts and whose
 * bytes its prefilter passes reach it.
 * `events` must be the array the correlator's `emit` pushes to.
 */
export function feedSyslog(
  correlator: SyslogCorrelator,
  events: ReportEvent[],
  text: string,
  options: { year?: number; timeZone?: string } = {},
): FeedResult {
  const timestamps = new TimestampParser({
    timeZone: options.timeZone ?? 'UTC',
    year: options.year ?? 2026,
    referenceMs: Date.UTC(2027, 0, 1),
  });
  const header = newHeader();
  const outcomes: LineOutcome[] = [];
  let ignored = 0;

  for (const line of text.split('\n')) {
    const bytes = Buffer.from(line, 'utf8');
    if (!parseHeader(bytes, 0, bytes.length, header)) {
      ignored++;
      continue;
    }
    const program = bytes.toString('utf8', header.tagStart, header.tagNameEnd);
    if (!correlator.accepts(program)) {
      ignored++;
      continue;
    }
    // The pipeline drops the lines that the prefilter rejects; they count as skipped here.
    const pid = pidOf(bytes, header);
    if (correlator.mayMatter?.(bytes, header.payloadStart, header.lineEnd, pid) === false) {
      outcomes.push('skipped');
      continue;
    }
    outcomes.push(
      correlator.line({
        time: timestamps.parse(bytes, header),
        server: bytes.toString('utf8', header.hostStart, header.hostEnd),
        program,
        pid,
        message: bytes.toString('utf8', header.payloadStart, header.lineEnd),
      }),
    );
  }

  return {
    events,
    messages: events.filter((event): event is SubmittedMessage => event.kind === 'message'),
    failures: events.filter((event): event is AuthFailure => event.kind === 'failure'),
    outcomes,
    ignored,
  };
}

/** Counts outcomes by kind: `used`, `skipped`, `unsupported` and `malformed`. */
export function countOutcomes(outcomes: LineOutcome[]): Record<string, number> {
  const counts: Record<string, number> = { used: 0, skipped: 0, unsupported: 0, malformed: 0 };
  for (const outcome of outcomes) {
    counts[typeof outcome === 'string' ? outcome : 'malformed'] += 1;
  }
  return counts;
}
