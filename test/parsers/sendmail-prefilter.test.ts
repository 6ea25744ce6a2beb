import { readFileSync } from 'node:fs';

import { describe, expect, it } from 'vitest';

import { SKIPPED } from '../../src/parsers/result.js';
import {
  afterQueueId,
  isDeliveryAt,
  isFromWithoutLoginAt,
} from '../../src/parsers/sendmail/prefilter.js';
import { parseSendmail } from '../../src/parsers/sendmail/sm-mta.js';

function deliveryAfterQueueId(message: string): boolean {
  const bytes = Buffer.from(message);
  const at = afterQueueId(bytes, 0, bytes.length);
  return at >= 0 && isDeliveryAt(bytes, at, bytes.length);
}

describe('Sendmail byte prefilter', () => {
  it('finds to= after the queue id', () => {
    const bytes = Buffer.from('6B4J7dFW003698: to=<a@example.org>, stat=Sent');
    const at = afterQueueId(bytes, 0, bytes.length);

    expect(at).toBe(16);
    expect(isDeliveryAt(bytes, at, bytes.length)).toBe(true);
  });

  it.each([
    ['a line without a queue id', 'to=<a@example.org>, stat=Sent'],
    ['a queue id that is too short', '6B4J7dFW: to=<a@example.org>'],
    ['a queue id that is too long', `${'a'.repeat(25)}: to=<a@example.org>`],
    ['a from= line', '6B4J7dFW003698: from=<a@example.org>, size=1'],
    ['a cut line', '6B4J7dFW003698: to'],
  ])('passes %s on', (_name, message) => {
    expect(deliveryAfterQueueId(message)).toBe(false);
  });
});

/** Run the from= check on a whole message, as the reader does after the queue id. */
function skipsFrom(message: string): boolean {
  const bytes = Buffer.from(message);
  const at = afterQueueId(bytes, 0, bytes.length);
  return at >= 0 && isFromWithoutLoginAt(bytes, at, bytes.length);
}

const QUEUE_ID = '6B4J7dFW003698';

describe('Sendmail from= prefilter', () => {
  it.each([
    [
      'inbound ESMTPS',
      'from=<a@example.org>, size=1, class=0, nrcpts=1, msgid=<m@x>, proto=ESMTPS, daemon=MTA, relay=[192.0.2.1]',
    ],
    [
      'inbound ESMTP',
      'from=<a@example.org>, size=1, class=0, nrcpts=1, msgid=<m@x>, proto=ESMTP, daemon=MTA, relay=[192.0.2.1]',
    ],
    [
      'a bare sender',
      'from=a@example.org, size=1, class=0, nrcpts=1, proto=SMTP, relay=[192.0.2.1]',
    ],
    [
      'no daemon=',
      'from=<a@example.org>, size=1, class=0, nrcpts=1, proto=ESMTPS, relay=[192.0.2.1]',
    ],
    ['no relay=', 'from=<a@example.org>, size=1, class=0, nrcpts=1, proto=ESMTP'],
  ])('skips %s', (_name, text) => {
    expect(parseSendmail(`${QUEUE_ID}: ${text}`)).toBe(SKIPPED);
    expect(skipsFrom(`${QUEUE_ID}: ${text}`)).toBe(true);
  });

  it.each([
    [
      'a login with TLS',
      'from=<a@example.org>, size=1, class=0, nrcpts=1, msgid=<m@x>, proto=ESMTPSA, daemon=MSA, relay=[192.0.2.1]',
    ],
    [
      'a login without TLS',
      'from=<a@example.org>, size=1, class=0, nrcpts=1, proto=ESMTPA, relay=[192.0.2.1]',
    ],
    [
      'a msgid that imitates proto=',
      'from=<a@example.org>, size=1, class=0, nrcpts=1, msgid=<m, proto=ESMTP, x>, proto=ESMTPSA, daemon=MSA, relay=[192.0.2.1]',
    ],
    [
      'an ident that imitates proto=',
      'from=<a@example.org>, size=1, class=0, nrcpts=1, proto=ESMTPSA, relay=u, proto=ESMTP@host [192.0.2.1]',
    ],
    [
      'a sender that imitates size=',
      'from=<x, size=1>, size=, class=0, nrcpts=1, proto=ESMTP, relay=[192.0.2.1]',
    ],
    [
      'no proto=',
      'from=<a@example.org>, size=1, class=0, nrcpts=1, msgid=<m@x>, relay=root@localhost',
    ],
    [
      'no number in size=',
      'from=<a@example.org>, size=, class=0, nrcpts=1, proto=ESMTP, relay=[192.0.2.1]',
    ],
    [
      'no number in nrcpts=',
      'from=<a@example.org>, size=1, class=0, nrcpts=, proto=ESMTP, relay=[192.0.2.1]',
    ],
    [
      'a quoted sender that imitates the fields',
      'from=<"x>, size=1, class=0, nrcpts=1, proto=ESMTP, y"@example.org>, size=5, class=0, nrcpts=5, proto=ESMTPSA, relay=[192.0.2.1]',
    ],
    [
      'an empty proto=',
      'from=<a@example.org>, size=1, class=0, nrcpts=1, proto=, relay=[192.0.2.1]',
    ],
    ['a to= line', 'to=<a@example.org>, delay=00:00:01, mailer=esmtp, stat=Sent'],
  ])('passes %s on', (_name, text) => {
    expect(skipsFrom(`${QUEUE_ID}: ${text}`)).toBe(false);
  });

  it('skips only lines that the parser skips, in the Sendmail fixtures', () => {
    const files = ['lab-8.17.log', 'variants.log'];
    const messages = files.flatMap((name) =>
      readFileSync(new URL(`../fixtures/sendmail/${name}`, import.meta.url), 'utf8')
        .split('\n')
        .map((line) => line.slice(line.indexOf(']: ') + 3))
        .filter((message) => message.includes('from=')),
    );
    expect(messages.length).toBeGreaterThan(20);
    const skipped = messages.filter((message) => skipsFrom(message));
    expect(skipped.length).toBe(2);
    for (const message of skipped) expect(parseSendmail(message), message).toBe(SKIPPED);
  });
});
