import { describe, expect, it } from 'vitest';

import { afterQueueId, isDeliveryAt } from '../../src/parsers/sendmail/prefilter.js';

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
