import { describe, expect, it } from 'vitest';

import { DovecotCorrelator } from '../../src/correlate/dovecot.js';
import { parseDovecotMessage } from '../../src/parsers/dovecot/line.js';
import { SKIPPED } from '../../src/parsers/result.js';

const correlator = new DovecotCorrelator({
  emit: () => undefined,
  timeZone: 'UTC',
  serverName: 'mx1',
});

function mayMatter(message: string): boolean {
  const bytes = Buffer.from(message);
  return correlator.mayMatter(bytes, 0, bytes.length);
}

describe('Dovecot line prefilter', () => {
  it('skips the mail processes of other protocols', () => {
    expect(mayMatter('imap(anna@example.org)<123><abc>: Logged out in=1 out=2')).toBe(false);
    expect(mayMatter('dovecot: pop3(anna)<1><x>: Disconnected')).toBe(false);
    expect(mayMatter('lmtp(anna)<1><x>: saved mail to INBOX')).toBe(false);
  });

  it('keeps submission, login and auth lines', () => {
    expect(mayMatter('submission-login: Login: user=<anna>, method=PLAIN')).toBe(true);
    expect(mayMatter('submission(anna)<1><x>: Successfully relayed message')).toBe(true);
    expect(mayMatter('imap-login: Login: user=<anna>, method=PLAIN, TLS')).toBe(true);
    expect(mayMatter('auth: passwd-file(anna,192.0.2.1,<x>): unknown user')).toBe(true);
  });

  it('skips only lines the parser skips too', () => {
    // Dovecot 2.3 forms of the lines a busy mail.log has most of.
    const lines = [
      'lmtp(otto@example.net)<40100><75d2507a>: msgid=<1936b4@example.org>: saved mail to INBOX',
      'imap(anna@example.org)<2211><Ab3kqp4>: Logged out in=312 out=1942 deleted=0 expunged=0',
      'imap(anna@example.org)<2211><Ab3kqp4>: Disconnected: Connection closed (IDLE finished 1.2 mins ago)',
      'pop3(bob@example.com)<88><cD9xZ>: Disconnected: Logged out top=0/0, retr=1/2048',
      'managesieve(anna@example.org)<9><x>: Disconnected: Logged out',
    ];
    for (const message of lines) {
      expect(mayMatter(message)).toBe(false);
      expect(parseDovecotMessage(message)).toBe(SKIPPED);
    }
  });
});
