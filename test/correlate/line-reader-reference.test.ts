import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { generateLog } from '../../bench/generate.js';
import { PostfixCorrelator, type LineContext } from '../../src/correlate/postfix.js';
import type { ReportEvent, TlsProtocol } from '../../src/events.js';
import { LineReader } from '../../src/ingest/lines.js';
import { newHeader, TimestampParser } from '../../src/parsers/syslog.js';
import { tempDir } from '../helpers/ingest.js';

/**
 * The line reader rejects most lines from a few bytes (the program tag, the first bytes of
 * the smtpd payload, a hash of the qmgr queue id) before it decodes anything. This file
 * checks those shortcuts against a reference that decodes every line and reads it with
 * plain regular expressions: both must hand the correlator the same lines, so both must
 * produce the same events.
 */

const FIXTURES = new URL('../fixtures/postfix/', import.meta.url).pathname;
const OPTIONS = { timeZone: 'UTC', year: 2026, referenceMs: Date.UTC(2027, 0, 1) };

const HEADER =
  /^(?<time>[A-Z][a-z]{2} {1,2}\d{1,2} \d{2}:\d{2}:\d{2}(?:\.\d+)?|\d{4}-\d{2}-\d{2}T\S+) (?<host>\S+) (?<tag>postfix[^:\s]*\/(?<daemon>smtpd|qmgr))\[(?<pid>\d+)\]: (?<payload>.*)$/;
const CONNECT = /^connect from /;
const DISCONNECT = /^disconnect from /;
const TLS =
  /^(?:[A-Za-z]{1,9} )?TLS connection established from [^[]*\[[^\]]*\]: (?<protocol>\S+) (?:with cipher (?<cipher>[^ ]*))?/;
const CLIENT =
  /^(?<queueId>[0-9A-Za-z]{6,}): client=(?<name>[^[]*)\[(?<ip>[^\]]*)\], sasl_method=(?<method>[^,]*), sasl_username=(?<user>.*?)(?:, sasl_sender=.*)?$/;
const WARNING =
  /^warning: (?<name>[^[]*)\[(?<ip>[^\]]*)\]: SASL (?<method>.*?) authentication failed:? ?(?<reason>.*?)(?:, sasl_username=(?<user>.*))?$/;
const QUEUED =
  /^(?<queueId>[0-9A-Za-z]{6,}): from=<(?<sender>.*)>, size=(?<size>\d+), nrcpt=(?<nrcpt>\d+)/;
const REMOVED = /^(?<queueId>[0-9A-Za-z]{6,}): removed$/;

const VERSIONS: Record<string, TlsProtocol> = {
  TLSv1: 'TLSv1',
  'TLSv1.1': 'TLSv1.1',
  'TLSv1.2': 'TLSv1.2',
  'TLSv1.3': 'TLSv1.3',
};

/** Events of a log read by the reference: every line decoded, every field by regex. */
function referenceEvents(log: Buffer): ReportEvent[] {
  const events: ReportEvent[] = [];
  const correlator = new PostfixCorrelator((event) => events.push(event));
  const timestamps = new TimestampParser(OPTIONS);

  for (const text of log.toString('utf8').split('\n')) {
    const line = text.endsWith('\r') ? text.slice(0, -1) : text;
    const match = HEADER.exec(line);
    if (!match?.groups) continue;

    const { time, host, tag, daemon, pid, payload } = match.groups;
    // Read only where a fact needs it: with --year, the order of the months read decides
    // when the year advances.
    const context = {
      server: host,
      pid: Number(pid),
      service: tag,
      get time() {
        return timeOf(timestamps, time);
      },
    };
    if (daemon === 'smtpd') readSmtpd(correlator, context, payload);
    else readQmgr(correlator, host, payload);
  }
  return events;
}

function timeOf(timestamps: TimestampParser, time: string): number {
  const h = newHeader();
  h.hostStart = time.length + 1;
  h.rfc3339 = time.charAt(10) === 'T';
  h.classicVariant = !h.rfc3339 && time.length !== 15;
  return timestamps.parse(Buffer.from(time + ' '), h);
}

function readSmtpd(correlator: PostfixCorrelator, context: LineContext, payload: string): void {
  const { server, pid } = context;
  if (CONNECT.test(payload)) return correlator.connect(server, pid, context.time);
  const line = (): LineContext => ({ server, pid, service: context.service, time: context.time });
  if (DISCONNECT.test(payload)) {
    const bytes = Buffer.from(payload, 'latin1');
    return correlator.disconnect(server, pid, bytes, 0, bytes.length);
  }

  const tls = TLS.exec(payload)?.groups;
  if (tls) {
    return correlator.tls(server, pid, VERSIONS[tls.protocol] ?? 'unknown', tls.cipher ?? '');
  }

  const client = CLIENT.exec(payload)?.groups;
  if (client) {
    const record = {
      type: 'client' as const,
      queueId: client.queueId,
      clientName: client.name,
      clientIp: client.ip,
      saslMethod: client.method,
      saslUsername: client.user,
    };
    return correlator.client(record, line());
  }

  const warning = WARNING.exec(payload)?.groups;
  if (!warning) return;
  if (warning.reason === 'Connection lost to authentication server') {
    return correlator.backendError();
  }
  const failure = {
    type: 'auth-failure' as const,
    clientName: warning.name,
    clientIp: warning.ip,
    saslMethod: warning.method,
    attemptedUsername: warning.user ?? null,
    reason: warning.reason,
  };
  correlator.failure(failure, line());
}

function readQmgr(correlator: PostfixCorrelator, server: string, payload: string): void {
  const queued = QUEUED.exec(payload)?.groups;
  if (queued) {
    const record = {
      type: 'queued' as const,
      queueId: queued.queueId,
      senderAddress: queued.sender,
      size: Number(queued.size),
      recipients: Number(queued.nrcpt),
    };
    return correlator.qmgr(record, server);
  }

  const removed = REMOVED.exec(payload)?.groups;
  if (removed) correlator.qmgr({ type: 'removed', queueId: removed.queueId }, server);
}

/** Events of the same log read by the line reader, in blocks as files are read. */
function readerEvents(log: Buffer): ReportEvent[] {
  const events: ReportEvent[] = [];
  const correlator = new PostfixCorrelator((event) => events.push(event));
  const reader = new LineReader(correlator, new TimestampParser(OPTIONS), undefined, 0);
  reader.readBlock({ bytes: log, offset: 0, complete: true });
  return events;
}

describe('line reader against a reference', () => {
  const { dir, cleanup } = tempDir();
  let generated: Buffer;

  beforeAll(async () => {
    const file = path.join(dir, 'generated.log');
    await generateLog({ lines: 40_000, out: file, seed: 'line-reader-reference', days: 1 });
    generated = readFileSync(file);
  });
  afterAll(() => cleanup());

  it.each(readdirSync(FIXTURES).filter((name) => name.endsWith('.log')))(
    'fixture %s gives the same events',
    (name) => {
      const log = readFileSync(path.join(FIXTURES, name));
      const expected = referenceEvents(log);
      expect(expected.length).toBeGreaterThan(0);
      expect(readerEvents(log)).toEqual(expected);
    },
  );

  it('a generated day of traffic gives the same events', () => {
    const expected = referenceEvents(generated);
    expect(expected.filter((event) => event.kind === 'message').length).toBeGreaterThan(500);
    expect(expected.filter((event) => event.kind === 'failure').length).toBeGreaterThan(100);
    expect(readerEvents(generated)).toEqual(expected);
  });

  it('the generated log with CRLF line ends gives the same events', () => {
    const crlf = Buffer.from(generated.toString('latin1').replace(/\n/g, '\r\n'), 'latin1');
    expect(readerEvents(crlf)).toEqual(referenceEvents(generated));
  });
});
