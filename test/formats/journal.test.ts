import { mkdirSync, mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { rename, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { text } from 'node:stream/consumers';

import { describe, expect, it } from 'vitest';

import {
  DEFAULT_JOURNAL_MATCHES,
  removeSpools,
  spoolFolder,
  spoolJournal,
} from '../../src/cli/journal.js';
import {
  JournalJsonToSyslog,
  looksLikeJournalJson,
  syslogLineOf,
} from '../../src/formats/journal.js';
import { journalToolsMissing, writeJournal } from './journal-helpers.js';

describe('syslogLineOf', () => {
  it('writes an RFC 3339 syslog line', () => {
    const line = syslogLineOf({
      __REALTIME_TIMESTAMP: '1796400000123456',
      _HOSTNAME: 'mail',
      SYSLOG_IDENTIFIER: 'postfix/submission/smtpd',
      _PID: '123',
      MESSAGE: 'connect from unknown[192.0.2.1]',
    });
    expect(line?.toString()).toBe(
      '2026-12-04T16:00:00.123456Z mail postfix/submission/smtpd[123]: connect from unknown[192.0.2.1]\n',
    );
  });

  it('keeps the bytes of a binary message', () => {
    const line = syslogLineOf({
      __REALTIME_TIMESTAMP: '1796400000000000',
      _HOSTNAME: 'mail',
      SYSLOG_IDENTIFIER: 'dovecot',
      MESSAGE: [0x75, 0xe9, 0x0a, 0x78],
    });
    expect(line).toEqual(
      Buffer.from('2026-12-04T16:00:00.000000Z mail dovecot: u\xe9 x\n', 'latin1'),
    );
  });

  it('prefers SYSLOG_PID and falls back to _COMM', () => {
    const line = syslogLineOf({
      __REALTIME_TIMESTAMP: '1796400000000000',
      _HOSTNAME: 'mail',
      _COMM: 'exim4',
      SYSLOG_PID: '7',
      _PID: '8',
      MESSAGE: 'x',
    });
    expect(line?.toString()).toBe('2026-12-04T16:00:00.000000Z mail exim4[7]: x\n');
  });

  it('skips entries without time or message', () => {
    expect(syslogLineOf({ _HOSTNAME: 'mail', MESSAGE: 'x' })).toBeNull();
    expect(syslogLineOf({ __REALTIME_TIMESTAMP: 'soon', MESSAGE: 'x' })).toBeNull();
    expect(syslogLineOf({ __REALTIME_TIMESTAMP: '1796400000000000', MESSAGE: null })).toBeNull();
  });
});

describe('JournalJsonToSyslog', () => {
  it('converts entries and passes other lines through', async () => {
    const input = [
      JSON.stringify({
        __CURSOR: 's=1;i=1',
        __REALTIME_TIMESTAMP: '1796400000000000',
        _HOSTNAME: 'mail',
        SYSLOG_IDENTIFIER: 'postfix/qmgr',
        _PID: '9',
        MESSAGE: 'ABC: removed',
      }),
      'not json',
      JSON.stringify({ __CURSOR: 's=1;i=2', __REALTIME_TIMESTAMP: '1796400001000000' }),
      '',
    ].join('\n');
    const converter = new JournalJsonToSyslog();
    // Split inside the first entry, as a pipe may.
    const output = await text(
      Readable.from([Buffer.from(input.slice(0, 30)), Buffer.from(input.slice(30))]).pipe(
        converter,
      ),
    );

    expect(output).toBe(
      '2026-12-04T16:00:00.000000Z mail postfix/qmgr[9]: ABC: removed\nnot json\n',
    );
    expect(converter.entries).toBe(2);
    expect(converter.lastCursor).toBe('s=1;i=2');
  });

  it('recognises journal JSON', () => {
    expect(looksLikeJournalJson(Buffer.from('{"__CURSOR":"s","__REALTIME_TIMESTAMP":"1"}'))).toBe(
      true,
    );
    expect(looksLikeJournalJson(Buffer.from('Dec  4 16:00:00 mail postfix/qmgr[1]: x'))).toBe(
      false,
    );
  });
});

const missing = journalToolsMissing();

describe.skipIf(missing !== null)('spoolJournal with a real journal', () => {
  const lines = [
    '2026-12-04T16:00:00Z mail postfix/submission/smtpd[10]: connect from unknown[192.0.2.1]',
    '2026-12-04T16:00:01Z mail postfix/submission/smtpd[10]: disconnect from unknown[192.0.2.1]',
  ];

  function setUp(): { folder: string; storePath: string; journals: string } {
    const folder = mkdtempSync(path.join(tmpdir(), 'journal-'));
    const journals = path.join(folder, 'journals');
    mkdirSync(journals);
    return { folder, storePath: path.join(folder, 'store.duckdb'), journals };
  }

  it('spools mail entries once and resumes after the cursor', async () => {
    const { storePath, journals } = setUp();
    writeJournal(journals, 'first', lines);
    writeJournal(journals, 'kernel', ['2026-12-04T16:00:02Z mail kernel[1]: not mail'], 0);
    const options = { storePath, matches: DEFAULT_JOURNAL_MATCHES, directory: journals };

    const first = await spoolJournal(options);
    expect(first).toHaveLength(1);
    // The test journal adds the entry's position in microseconds, to keep entries apart.
    expect(readFileSync(first[0], 'utf8')).toBe(
      '2026-12-04T16:00:00.000000Z mail postfix/submission/smtpd[10]: connect from unknown[192.0.2.1]\n' +
        '2026-12-04T16:00:01.000001Z mail postfix/submission/smtpd[10]: disconnect from unknown[192.0.2.1]\n',
    );

    await removeSpools(first);
    expect(await spoolJournal(options)).toEqual([]);

    const later = '2026-12-04T16:05:00Z mail postfix/qmgr[11]: ABC: removed';
    writeJournal(journals, 'second', [later]);
    const second = await spoolJournal(options);
    expect(second).toHaveLength(1);
    expect(readFileSync(second[0], 'utf8')).toBe(
      '2026-12-04T16:05:00.000000Z mail postfix/qmgr[11]: ABC: removed\n',
    );
  });

  it('finishes a spool file whose cursor was saved', async () => {
    const { storePath, journals } = setUp();
    writeJournal(journals, 'first', lines);
    const options = { storePath, matches: DEFAULT_JOURNAL_MATCHES, directory: journals };
    const [spool] = await spoolJournal(options);

    // As if the run stopped after saving the cursor, before renaming the spool file.
    await rename(spool, `${spool}.tmp`);
    await writeFile(path.join(spoolFolder(storePath), 'journal-0-orphan.log.tmp'), 'partial\n');

    const waiting = await spoolJournal(options);
    expect(waiting).toEqual([spool]);
    expect(readdirSync(spoolFolder(storePath)).sort()).toEqual([
      'cursor.json',
      path.basename(spool),
    ]);
  });

  it('names journalctl in its error', async () => {
    const { storePath, folder } = setUp();
    const options = { storePath, matches: ['NOT A MATCH'], directory: folder };
    await expect(spoolJournal(options)).rejects.toThrow(
      /journalctl failed: journalctl exited with status 1/,
    );
  });
});
