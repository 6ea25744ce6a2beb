import { readFileSync } from 'node:fs';

import { describe, expect, it } from 'vitest';

import { newHeader, parseHeader } from '../../src/parsers/syslog.js';
import { SKIPPED } from '../../src/parsers/result.js';
import {
  afterQueueId,
  isDeliveryAt,
  isInboundFromAt,
} from '../../src/parsers/sendmail/prefilter.js';
import { parseSendmail } from '../../src/parsers/sendmail/sm-mta.js';

/** Whether the prefilter skips a message as inbound mail. */
function skipsAsInbound(message: string): boolean {
  const bytes = Buffer.from(message);
  const at = afterQueueId(bytes, 0, bytes.length);
  return at >= 0 && isInboundFromAt(bytes, at, bytes.length);
}

/** The messages of the Sendmail lines in a fixture. */
function fixtureMessages(name: string): string[] {
  const text = readFileSync(new URL(`../fixtures/sendmail/${name}`, import.meta.url), 'utf8');
  const header = newHeader();
  const messages: string[] = [];
  for (const line of text.split('\n')) {
    const bytes = Buffer.from(line);
    if (!parseHeader(bytes, 0, bytes.length, header)) continue;
    messages.push(bytes.toString('utf8', header.payloadStart, header.lineEnd));
  }
  return messages;
}

const INBOUND =
  '6B4J7dFW003698: from=<news@example.net>, size=2048, class=0, nrcpts=1, ' +
  'msgid=<1@example.net>, proto=ESMTPS, daemon=MTA, relay=mx.example.net [198.51.100.7]';

describe('Sendmail byte prefilter', () => {
  it('skips a from= line of inbound mail', () => {
    expect(skipsAsInbound(INBOUND)).toBe(true);
    expect(parseSendmail(INBOUND)).toBe(SKIPPED);
  });

  it('keeps a from= line with a login', () => {
    expect(skipsAsInbound(INBOUND.replace('proto=ESMTPS', 'proto=ESMTPSA'))).toBe(false);
  });

  // The prefilter may skip a line only where the parser skips it too.
  it.each([
    ['a msgid that names another protocol', INBOUND.replace('<1@', '<x, proto=ESMTPA, y@'), true],
    ['an empty proto=', INBOUND.replace('proto=ESMTPS', 'proto='), true],
    ['a broken bracket', INBOUND.replace('<news@example.net>', '<news@example.net'), false],
    ['no nrcpts=', INBOUND.replace(', nrcpts=1', ''), false],
    ['a size that is no number', INBOUND.replace('size=2048', 'size=big'), false],
    ['no proto=', INBOUND.replace(', proto=ESMTPS', ''), false],
    [
      'a session end in the text',
      INBOUND.replace('<1@', '<x did not issue MAIL/EXPN/VRFY/ETRN during connection to y@'),
      false,
    ],
    ['a queue id that is too short', INBOUND.replace('6B4J7dFW003698', '6B4J7dFW'), false],
  ])('handles %s', (_name, message, skipped) => {
    expect(skipsAsInbound(message)).toBe(skipped);
    if (skipped) expect(parseSendmail(message)).toBe(SKIPPED);
  });

  it('skips only lines the parser skips, in every fixture', () => {
    const messages = ['lab-8.17.log', 'sendmail-auth.log', 'variants.log'].flatMap(fixtureMessages);
    const skipped = messages.filter(skipsAsInbound);

    expect(messages.length).toBeGreaterThan(100);
    expect(skipped.length).toBeGreaterThan(0);
    for (const message of skipped) expect(parseSendmail(message)).toBe(SKIPPED);
  });

  it('finds to= lines after the queue id only', () => {
    const bytes = Buffer.from('6B4J7dFW003698: to=<a@example.org>, stat=Sent');
    const at = afterQueueId(bytes, 0, bytes.length);

    expect(at).toBe(16);
    expect(isDeliveryAt(bytes, at, bytes.length)).toBe(true);
    expect(afterQueueId(Buffer.from('to=<a@example.org>'), 0, 18)).toBe(-1);
  });
});
