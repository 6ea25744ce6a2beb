import { describe, expect, it } from 'vitest';

import { parseQmgr } from '../../src/parsers/postfix/qmgr.js';
import { isMalformed, SKIPPED } from '../../src/parsers/result.js';

function parse(payload: string) {
  const bytes = Buffer.from(payload);
  return parseQmgr({ text: bytes.toString('latin1'), bytes, base: 0 });
}

describe('postfix qmgr parser', () => {
  it.each([
    [
      '07C56160641: from=<scanner@example.org>, size=397, nrcpt=1 (queue active)',
      'scanner@example.org',
      397,
      1,
    ],
    ['4dTq2B6Ghwz9vYW: from=<>, size=2301, nrcpt=3 (queue active)', '', 2301, 3],
    [
      'BA8F630001DA: from=<"odd name"@example.org>, size=502, nrcpt=5 (queue active)',
      '"odd name"@example.org',
      502,
      5,
    ],
    [
      '4B00000A1: from=<"x>, size=1, nrcpt=0 (queue active) y"@example.org>, size=300, nrcpt=500 (queue active)',
      '"x>, size=1, nrcpt=0 (queue active) y"@example.org',
      300,
      500,
    ],
  ])('%s', (payload, senderAddress, size, recipients) => {
    expect(parse(payload)).toMatchObject({ type: 'queued', senderAddress, size, recipients });
  });

  it('reads removed lines', () => {
    expect(parse('07C56160641: removed')).toEqual({ type: 'removed', queueId: '07C56160641' });
  });

  it.each([
    '07C56160641: from=<a@example.org>, status=expired, returned to sender',
    '07C56160641: to=<b@example.org>, relay=none, delay=0, status=deferred (delivery temporarily suspended)',
    'warning: qmgr_active_corrupt: save corrupt file queue active id 07C56160641: No such file or directory',
  ])('skips %s', (payload) => {
    expect(parse(payload)).toBe(SKIPPED);
  });

  it('reports a from= line without nrcpt as malformed', () => {
    expect(isMalformed(parse('07C56160641: from=<a@example.org>, size=397 (queue active)'))).toBe(
      true,
    );
  });

  it.each([
    '07C56160641: from=<a@example.org>, size=1234567890123456, nrcpt=1 (queue active)',
    '07C56160641: from=<a@example.org>, size=1, nrcpt=1234567890 (queue active)',
  ])('reports an oversized number in %s as malformed', (payload) => {
    expect(isMalformed(parse(payload))).toBe(true);
  });

  it('reports a sender that imitates size= on an expired line as malformed', () => {
    const payload =
      '07C56160641: from=<"x>, size=1, nrcpt=1 y"@example.org>, status=expired, returned to sender';
    expect(isMalformed(parse(payload))).toBe(true);
  });

  it('reads the largest numbers the store keeps', () => {
    const result = parse(
      '07C56160641: from=<a@example.org>, size=999999999999999, nrcpt=999999999',
    );
    expect(result).toMatchObject({ size: 999_999_999_999_999, recipients: 999_999_999 });
  });
});
