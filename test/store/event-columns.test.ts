import path from 'node:path';

import { afterAll, describe, expect, it } from 'vitest';

import type { AuthFailure, SubmittedMessage } from '../../src/events.js';
import { EventColumnsBuilder, PART_EVENTS } from '../../src/ingest/event-columns.js';
import { DuckDBStore } from '../../src/store/duckdb/store.js';
import { tempDir } from '../helpers/ingest.js';

function message(i: number, fields: Partial<SubmittedMessage> = {}): SubmittedMessage {
  return {
    kind: 'message',
    time: Date.UTC(2026, 11, 4, 10, 0, 0) + i * 1000 + (i % 7),
    server: 'mail',
    service: 'postfix/submission/smtpd',
    queueId: `Q${String(i).padStart(9, '0')}`,
    account: `user${i % 13}@example.org`,
    saslMethod: 'plain',
    senderAddress: `sender${i % 5}@Example.COM`,
    clientIp: `192.0.2.${i % 250}`,
    clientName: 'unknown',
    helo: null,
    tlsProtocol: 'TLSv1.3',
    tlsEvidence: 'line',
    tlsCipher: 'TLS_AES_256_GCM_SHA384',
    recipients: 1 + (i % 4),
    size: 1000 + i,
    ...fields,
  };
}

function failure(i: number, fields: Partial<AuthFailure> = {}): AuthFailure {
  return {
    kind: 'failure',
    time: Date.UTC(2026, 11, 4, 11, 0, 0) + i,
    server: 'mail',
    service: 'postfix/smtpd',
    attemptedUsername: `guess${i}`,
    saslMethod: 'LOGIN',
    clientIp: '2001:db8::7',
    clientName: 'host.example.net',
    tlsProtocol: 'none',
    tlsEvidence: 'no-line',
    reason: 'UGFzc3dvcmQ6',
    ...fields,
  };
}

describe('event batches in the store', () => {
  const { dir, cleanup } = tempDir();
  afterAll(() => cleanup());

  it('stores all fields of several parts', async () => {
    const messages = Array.from({ length: PART_EVENTS * 2 + 5 }, (_, i) => message(i));
    messages[1] = message(1, { senderAddress: '', helo: 'helo.example.org', tlsCipher: null });
    messages[2] = message(2, { account: 'jürgen@example.org', tlsCipher: '' });
    messages[3] = message(3, { size: 123_456_789_012, saslMethod: ' Cram-md5 ' });
    const failures = [
      failure(0),
      failure(1, { attemptedUsername: null }),
      failure(2, { attemptedUsername: '' }),
      failure(3, { attemptedUsername: '+plus', reason: 'authentication failure' }),
    ];

    const builder = new EventColumnsBuilder();
    for (const m of messages) builder.addMessage(m);
    for (const f of failures) builder.addFailure(f);
    const events = builder.take();
    expect(events.messages.map((part) => part.count)).toEqual([PART_EVENTS, PART_EVENTS, 5]);

    const store = await DuckDBStore.open(path.join(dir, 'fields.duckdb'));
    try {
      await store.writeBatch({ events, sourceId: 7, runId: 3 });
      const rows = await store.all(
        `SELECT epoch_ms(ts) AS time, server, service, queue_id, account, sasl_method,
                sasl_mechanism, sender_address, sender_domain, client_ip, client_name, helo,
                tls_protocol, tls_evidence, tls_cipher, recipients, size, source_id, ingest_run
         FROM submitted_messages ORDER BY queue_id`,
      );
      expect(rows).toHaveLength(messages.length);
      expect(rows[1]).toEqual({
        time: messages[1].time,
        server: 'mail',
        service: 'postfix/submission/smtpd',
        queue_id: 'Q000000001',
        account: 'user1@example.org',
        sasl_method: 'plain',
        sasl_mechanism: 'PLAIN',
        sender_address: '',
        sender_domain: '',
        client_ip: '192.0.2.1',
        client_name: 'unknown',
        helo: 'helo.example.org',
        tls_protocol: 'TLSv1.3',
        tls_evidence: 'line',
        tls_cipher: null,
        recipients: 2,
        size: 1001,
        source_id: 7,
        ingest_run: 3,
      });
      expect(rows[2]).toMatchObject({ account: 'jürgen@example.org', tls_cipher: '', helo: null });
      expect(rows[3]).toMatchObject({ size: 123_456_789_012, sasl_mechanism: 'CRAM-MD5' });
      expect(rows[4]).toMatchObject({ sender_domain: 'example.com', recipients: 1 });
      const last = messages[messages.length - 1];
      expect(rows[rows.length - 1]).toMatchObject({ queue_id: last.queueId, time: last.time });

      const stored = await store.all(
        'SELECT attempted_username, reason FROM auth_failures ORDER BY ts',
      );
      expect(stored).toEqual([
        { attempted_username: 'guess0', reason: 'UGFzc3dvcmQ6' },
        { attempted_username: null, reason: 'UGFzc3dvcmQ6' },
        { attempted_username: '', reason: 'UGFzc3dvcmQ6' },
        { attempted_username: '+plus', reason: 'authentication failure' },
      ]);
    } finally {
      store.close();
    }
  });

  it('replaces line breaks in server names', async () => {
    const builder = new EventColumnsBuilder();
    builder.addMessage(message(0, { server: 'mx\n1' }));
    builder.addMessage(message(1, { server: 'mx\n1' }));
    const store = await DuckDBStore.open(path.join(dir, 'newline.duckdb'));
    try {
      await store.writeBatch({ events: builder.take(), sourceId: 1, runId: 1 });
      const rows = await store.all('SELECT server FROM submitted_messages');
      expect(rows).toEqual([{ server: 'mx 1' }, { server: 'mx 1' }]);
    } finally {
      store.close();
    }
  });
});
