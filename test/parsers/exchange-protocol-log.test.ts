import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

import { afterAll, describe, expect, it } from 'vitest';

import {
  compareReceiveLogNames,
  listReceiveLogs,
  looksLikeExchangeSmtpReceive,
} from '../../src/parsers/exchange/files.js';
import {
  DEFAULT_FIELD_INDEX,
  endpointAddress,
  parseFieldsHeader,
  parseRow,
  splitCsv,
} from '../../src/parsers/exchange/protocol-log.js';
import { parseCommand, parseReply, parseTlsRow } from '../../src/parsers/exchange/smtp.js';
import { tempDir } from '../helpers/ingest.js';

function fixtureLines(name: string): string[] {
  return readFileSync(`test/fixtures/${name}`, 'utf8').split(/\r?\n/).slice(0, 30);
}

describe('exchange CSV fields', () => {
  it.each([
    { line: 'a,b,,c', fields: ['a', 'b', '', 'c'] },
    { line: 'a,', fields: ['a', ''] },
    { line: '"x, y",z', fields: ['x, y', 'z'] },
    { line: '<,"EHLO ""odd,name""",', fields: ['<', 'EHLO "odd,name"', ''] },
    { line: '"",""""', fields: ['', '"'] },
  ])('$line', ({ line, fields }) => {
    expect(splitCsv(line)).toEqual(fields);
  });

  it.each(['"open,b', '"a"b,c'])('rejects %s', (line) => {
    expect(splitCsv(line)).toBeNull();
  });
});

describe('exchange rows', () => {
  it('reads a TLS row with a quoted context', () => {
    const row = parseRow(
      '2023-01-11T16:00:01.010Z,EX01\\Default Frontend EX01,123453EC62278461,7,192.0.2.10:25,198.51.100.33:56026,*,,"TLS protocol SP_PROT_TLS1_2_SERVER negotiation succeeded using bulk encryption algorithm CALG_AES_128 with strength 128 bits, MAC hash algorithm CALG_SHA_256 with strength 0 bits and key exchange algorithm CALG_ECDH_EPHEM with strength 256 bits"',
      DEFAULT_FIELD_INDEX,
    );
    expect(row).toMatchObject({
      time: Date.UTC(2023, 0, 11, 16, 0, 1, 10),
      connectorId: 'EX01\\Default Frontend EX01',
      sessionId: '123453EC62278461',
      sequence: 7,
      localEndpoint: '192.0.2.10:25',
      remoteEndpoint: '198.51.100.33:56026',
      event: '*',
      data: '',
    });
    expect(parseTlsRow((row as { context: string }).context)).toEqual({
      tlsProtocol: 'TLSv1.2',
      cipher: 'CALG_AES_128',
    });
  });

  it.each([
    { line: '2023-01-11T16:00:01Z,c,s,1,l,r,?,d,x', reason: 'invalid event "?"' },
    {
      line: '2023-01-11 16:00:01,c,s,1,l,r,<,d,x',
      reason: 'invalid date-time "2023-01-11 16:00:01"',
    },
    { line: '2023-01-11T16:00:01Z,c,s,1', reason: '4 fields, expected 9' },
    { line: '2023-01-11T16:00:01Z,c,s,1,l,r,<,"d,x', reason: 'unclosed quote in CSV row' },
  ])('rejects $line', ({ line, reason }) => {
    expect(parseRow(line, DEFAULT_FIELD_INDEX)).toEqual({ malformed: reason });
  });

  it('maps columns from a #Fields header in another order', () => {
    const index = parseFieldsHeader(
      ' event,date-time,connector-id,session-id,sequence-number,local-endpoint,remote-endpoint,data,context',
    );
    const row = parseRow('<,2023-01-11T16:00:01Z,c,s,1,l,r,AUTH LOGIN,', index!);
    expect(row).toMatchObject({ event: '<', data: 'AUTH LOGIN', connectorId: 'c' });
  });

  it('rejects a #Fields header without the protocol log columns', () => {
    expect(parseFieldsHeader(' date-time,client-ip,event-id')).toBeNull();
  });

  it.each([
    { endpoint: '192.0.2.1:25', address: '192.0.2.1' },
    { endpoint: '[2001:db8::1]:587', address: '2001:db8::1' },
    { endpoint: '2001:db8::1', address: '2001:db8::1' },
    { endpoint: '', address: '' },
  ])('$endpoint has address $address', ({ endpoint, address }) => {
    expect(endpointAddress(endpoint)).toBe(address);
  });
});

describe('exchange SMTP rows', () => {
  it.each([
    { data: 'AUTH LOGIN', command: { verb: 'AUTH', mechanism: 'LOGIN', interServer: false } },
    {
      data: 'auth ntlm TlRMTVNTUAAB',
      command: { verb: 'AUTH', mechanism: 'NTLM', interServer: false },
    },
    {
      data: 'X-EXPS GSSAPI',
      command: { verb: 'AUTH', mechanism: 'X-EXPS GSSAPI', interServer: true },
    },
    {
      data: 'MAIL FROM:<a@example.org> SIZE=10',
      command: { verb: 'MAIL', sender: 'a@example.org' },
    },
    { data: 'MAIL FROM:<>', command: { verb: 'MAIL', sender: '' } },
    {
      data: 'RCPT TO:<b@example.net> NOTIFY=NEVER',
      command: { verb: 'RCPT', recipient: 'b@example.net' },
    },
    { data: 'BDAT 512 LAST', command: { verb: 'BDAT', last: true } },
    { data: 'BDAT 4096', command: { verb: 'BDAT', last: false } },
    { data: 'XPROXYFROM SID=08D1 IP=192.0.2.7', command: { verb: 'XPROXY' } },
    { data: 'NOOP', command: { verb: 'OTHER' } },
  ])('$data', ({ data, command }) => {
    expect(parseCommand(data)).toEqual(command);
  });

  it.each([
    {
      data: '235 2.7.0 Authentication successful',
      reply: { code: 235, text: '2.7.0 Authentication successful' },
    },
    { data: '250-PIPELINING', reply: { code: 250, text: 'PIPELINING' } },
    { data: 'Binary data', reply: null },
  ])('$data', ({ data, reply }) => {
    expect(parseReply(data)).toEqual(reply);
  });

  it.each([
    { protocol: 'SP_PROT_TLS1_0_SERVER', tls: 'TLSv1' },
    { protocol: 'SP_PROT_TLS1_SERVER', tls: 'TLSv1' },
    { protocol: 'SP_PROT_TLS1_1_SERVER', tls: 'TLSv1.1' },
    { protocol: 'SP_PROT_TLS1_3_SERVER', tls: 'TLSv1.3' },
    { protocol: 'SP_PROT_SSL3_SERVER', tls: 'unknown' },
  ])('$protocol is $tls', ({ protocol, tls }) => {
    const row = parseTlsRow(
      `TLS protocol ${protocol} negotiation succeeded using bulk encryption algorithm CALG_RC4 with strength 128 bits`,
    );
    expect(row?.tlsProtocol).toBe(tls);
  });
});

describe('exchange SmtpReceive sniffer', () => {
  it('accepts a file with the header', () => {
    expect(looksLikeExchangeSmtpReceive(fixtureLines('exchange/client-submission.log'))).toBe(true);
  });

  it('accepts a file without the header', () => {
    expect(
      looksLikeExchangeSmtpReceive(fixtureLines('exchange/crowdsec-auth-unsuccessful.log')),
    ).toBe(true);
    expect(
      looksLikeExchangeSmtpReceive(fixtureLines('exchange/client-submission.log').slice(5)),
    ).toBe(true);
  });

  it('rejects a send log', () => {
    const header = ['#Software: Microsoft Exchange Server', '#Log-type: SMTP Send Protocol Log'];
    expect(looksLikeExchangeSmtpReceive(header)).toBe(false);
    const rows = [
      '2019-11-04T06:00:35.402Z,Outbound,08D760DF231F00BC,0,192.0.2.31:37964,192.0.2.168:25,+,,',
      '2019-11-04T06:00:35.410Z,Outbound,08D760DF231F00BC,1,192.0.2.31:37964,192.0.2.168:25,<,220 mx.example.net ESMTP,',
      '2019-11-04T06:00:35.411Z,Outbound,08D760DF231F00BC,2,192.0.2.31:37964,192.0.2.168:25,>,EHLO EX01.example.org,',
    ];
    expect(looksLikeExchangeSmtpReceive(rows)).toBe(false);
  });

  it('rejects other logs', () => {
    expect(looksLikeExchangeSmtpReceive(fixtureLines('dovecot/submission-verbose.log'))).toBe(
      false,
    );
    expect(looksLikeExchangeSmtpReceive(fixtureLines('postfix/exporter-mixed.log'))).toBe(false);
    expect(looksLikeExchangeSmtpReceive([])).toBe(false);
  });
});

describe('exchange RECV files of a folder', () => {
  const { dir, cleanup } = tempDir('sar-exchange-');
  afterAll(() => cleanup());

  it('lists RECV*.LOG files oldest first', async () => {
    const names = [
      'RECV2026120416-1.LOG',
      'RECV2026120415-10.LOG',
      'RECV2026120415-2.LOG',
      'recv2026120415-1.log',
      'SEND2026120415-1.LOG',
      'RECV2026120415-1.LOG.bak',
      'notes.txt',
    ];
    for (const name of names) writeFileSync(path.join(dir, name), '');
    mkdirSync(path.join(dir, 'RECV2026120414-1.LOG'));

    const files = await listReceiveLogs(dir);
    expect(files.map((file) => path.basename(file))).toEqual([
      'recv2026120415-1.log',
      'RECV2026120415-2.LOG',
      'RECV2026120415-10.LOG',
      'RECV2026120416-1.LOG',
    ]);
  });

  it('orders daily names as Exchange 2013 writes them', () => {
    const names = ['RECV20261205-1.LOG', 'RECV20261204-3.LOG', 'RECV20261204-12.LOG'];
    expect(names.sort(compareReceiveLogNames)).toEqual([
      'RECV20261204-3.LOG',
      'RECV20261204-12.LOG',
      'RECV20261205-1.LOG',
    ]);
  });

  it('fails on a missing folder', async () => {
    await expect(listReceiveLogs(path.join(dir, 'missing'))).rejects.toThrow(/ENOENT/);
  });
});
