/**
 * `ingest --journal`: reads the mail entries of the systemd journal by running `journalctl`.
 *
 * The entries are first written, as syslog lines, to a spool file beside the store, and the
 * spool file is then ingested like any log file, with its checkpoint. The journal cursor of
 * the last spooled entry is saved before the spool file gets its final name, so every entry
 * lands in exactly one spool file. An interrupted run leaves a spool file that the next run
 * finishes from its checkpoint, and `journalctl --after-cursor` starts after it.
 */
import { spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { mkdir, open, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';

import { AppError } from '../errors.js';
import { JournalJsonToSyslog } from '../formats/journal.js';

/** Mail-facility entries: Postfix, Exim, Sendmail, OpenSMTPD and Dovecot all log there. */
export const DEFAULT_JOURNAL_MATCHES = ['SYSLOG_FACILITY=2'];

export interface JournalOptions {
  /** The DuckDB file; the spool folder is `<store>.journal` beside it. */
  storePath: string;
  /** journalctl matches such as `SYSLOG_FACILITY=2` or `_SYSTEMD_UNIT=postfix@-.service`. */
  matches: string[];
  /** Read journal files from this folder (`journalctl --directory`), for example a copy. */
  directory?: string;
}

interface CursorFile {
  cursor: string;
  /** The spool file that ends at this cursor. */
  spool: string;
}

const CURSOR_FILE = 'cursor.json';

/** Return the folder with the spool files and the saved cursor of a store. */
export function spoolFolder(storePath: string): string {
  return `${storePath}.journal`;
}

/**
 * Write the journal entries after the saved cursor to a new spool file. Returns every spool
 * file waiting to be ingested, oldest first, including those an interrupted run left.
 */
export async function spoolJournal(options: JournalOptions): Promise<string[]> {
  const folder = spoolFolder(options.storePath);
  await mkdir(folder, { recursive: true });
  const saved = await recoverSpool(folder);

  const name = `journal-${new Date().toISOString().replace(/[:.]/g, '-')}.log`;
  const spool = path.join(folder, name);
  const converter = new JournalJsonToSyslog();
  await runJournalctl(journalctlArguments(options, saved?.cursor), converter, `${spool}.tmp`);

  if (converter.lastCursor === null) {
    await rm(`${spool}.tmp`, { force: true });
  } else {
    await syncFile(`${spool}.tmp`);
    await saveCursor(folder, { cursor: converter.lastCursor, spool: name });
    await rename(`${spool}.tmp`, spool);
  }
  return waitingSpools(folder);
}

/** Remove spool files whose every line is in the store. */
export async function removeSpools(spools: string[]): Promise<void> {
  for (const spool of spools) await rm(spool, { force: true });
}

export function journalctlArguments(options: JournalOptions, cursor?: string): string[] {
  const args = ['--output=json', '--no-pager', '--quiet'];
  if (cursor) args.push(`--after-cursor=${cursor}`);
  if (options.directory) args.push(`--directory=${options.directory}`);
  args.push(...options.matches);
  return args;
}

/**
 * Finish what an interrupted run left: a spool file whose cursor was saved gets its final
 * name, and a spool file whose cursor was not saved is removed, because the next
 * `journalctl --after-cursor` reads its entries again.
 */
async function recoverSpool(folder: string): Promise<CursorFile | null> {
  const saved = await readCursor(folder);
  for (const file of await readdir(folder)) {
    if (!file.endsWith('.log.tmp')) continue;

    const tmp = path.join(folder, file);
    if (saved && file === `${saved.spool}.tmp`) await rename(tmp, path.join(folder, saved.spool));
    else await rm(tmp, { force: true });
  }
  return saved;
}

async function readCursor(folder: string): Promise<CursorFile | null> {
  let text: string;
  try {
    text = await readFile(path.join(folder, CURSOR_FILE), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }

  const value = JSON.parse(text) as Partial<CursorFile>;
  if (typeof value.cursor !== 'string' || typeof value.spool !== 'string') {
    throw new AppError('JOURNAL_FAILED', {
      detail: `${path.join(folder, CURSOR_FILE)} is damaged; remove it to read the whole journal again`,
    });
  }
  return { cursor: value.cursor, spool: value.spool };
}

/** Replace the cursor file in one step, so a crash leaves the old cursor or the new one. */
async function saveCursor(folder: string, cursor: CursorFile): Promise<void> {
  const file = path.join(folder, CURSOR_FILE);
  await writeFile(`${file}.tmp`, JSON.stringify(cursor) + '\n');
  await syncFile(`${file}.tmp`);
  await rename(`${file}.tmp`, file);
}

async function syncFile(file: string): Promise<void> {
  const handle = await open(file, 'r+');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

async function waitingSpools(folder: string): Promise<string[]> {
  const files = (await readdir(folder)).filter((file) => /^journal-.*\.log$/.test(file));
  return files.sort().map((file) => path.join(folder, file));
}

/** Run journalctl and write its converted output to `target`. */
async function runJournalctl(
  args: string[],
  converter: JournalJsonToSyslog,
  target: string,
): Promise<void> {
  const program = 'journalctl';
  const child = spawn(program, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const stderr: Buffer[] = [];
  child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));

  const exited = new Promise<number>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code) => resolve(code ?? 1));
  });

  try {
    await pipeline(child.stdout, converter, createWriteStream(target));
    const code = await exited;
    if (code !== 0) {
      const message = Buffer.concat(stderr).toString('utf8').trim().split('\n')[0];
      throw new AppError('JOURNAL_FAILED', {
        detail: `${program} exited with status ${code}: ${message || 'no message'}`,
      });
    }
  } catch (err) {
    await rm(target, { force: true });
    if (err instanceof AppError) throw err;
    throw new AppError('JOURNAL_FAILED', { detail: (err as Error).message });
  }
}
