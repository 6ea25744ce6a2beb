import { existsSync } from 'node:fs';
import { mkdir, open, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';

import { AppError } from '../../errors.js';
import type { InsertRow } from './store.js';

/** Rows for one table, inserted in one request. */
export interface TableRows {
  table: string;
  rows: InsertRow[];
}

/** One spooled batch: inserts to send in order, each safe to repeat. */
export interface SpoolEntry {
  seq: number;
  inserts: TableRows[];
}

interface SpoolFile {
  seq: number;
  file: string;
  bytes: number;
}

const ENTRY_FILE = /^batch-(\d{12})\.json$/;
const LOCK_FILE = 'lock';

/**
 * A queue of batches on disk, oldest first, that survives a crash: an entry is written to a
 * temporary file, synced, and renamed into place, so a reader sees it whole or not at all.
 * Entries are removed once ClickHouse has accepted them. One process uses a spool folder at
 * a time, which its lock file enforces.
 */
export class Spool {
  private files: SpoolFile[] = [];
  private nextSeqNumber = 1;
  private bytesHeld = 0;

  private constructor(readonly dir: string) {}

  static async open(dir: string): Promise<Spool> {
    await mkdir(dir, { recursive: true });
    await lock(dir);
    const spool = new Spool(dir);
    await spool.scan();
    return spool;
  }

  /** Bytes of the entries not yet sent. */
  get bytes(): number {
    return this.bytesHeld;
  }

  get length(): number {
    return this.files.length;
  }

  /** The sequence number of the next entry appended. */
  get nextSeq(): number {
    return this.nextSeqNumber;
  }

  /** Sequence numbers of the entries not yet sent, oldest first. */
  get pending(): number[] {
    return this.files.map((file) => file.seq);
  }

  /** Write an entry durably and return its sequence number. */
  async append(inserts: TableRows[], text?: string): Promise<number> {
    const seq = this.nextSeqNumber++;
    const body = text ?? JSON.stringify({ seq, inserts } satisfies SpoolEntry);
    const file = path.join(this.dir, `batch-${String(seq).padStart(12, '0')}.json`);
    await writeDurably(file, body);
    const bytes = Buffer.byteLength(body);
    this.files.push({ seq, file, bytes });
    this.bytesHeld += bytes;
    return seq;
  }

  /** Returns the text an entry would have, so a caller can learn its size before appending it. */
  entryText(inserts: TableRows[]): string {
    return JSON.stringify({ seq: this.nextSeqNumber, inserts } satisfies SpoolEntry);
  }

  async oldest(): Promise<SpoolEntry | null> {
    const first = this.files[0];
    if (!first) return null;
    return JSON.parse(await readFile(first.file, 'utf8')) as SpoolEntry;
  }

  /** Returns every entry not yet sent, oldest first. */
  async entries(): Promise<SpoolEntry[]> {
    const entries: SpoolEntry[] = [];
    for (const { file } of this.files) {
      entries.push(JSON.parse(await readFile(file, 'utf8')) as SpoolEntry);
    }
    return entries;
  }

  /** Remove the oldest entry, once it was sent. */
  async removeOldest(): Promise<void> {
    const first = this.files.shift();
    if (!first) return;
    await rm(first.file, { force: true });
    this.bytesHeld -= first.bytes;
  }

  async close(): Promise<void> {
    await rm(path.join(this.dir, LOCK_FILE), { force: true });
  }

  private async scan(): Promise<void> {
    const names = (await readdir(this.dir)).filter((name) => ENTRY_FILE.test(name)).sort();
    for (const name of names) {
      const file = path.join(this.dir, name);
      const seq = Number(ENTRY_FILE.exec(name)?.[1]);
      const { size } = await stat(file);
      this.files.push({ seq, file, bytes: size });
      this.bytesHeld += size;
    }
    this.nextSeqNumber = (this.files.at(-1)?.seq ?? 0) + 1;
  }
}

/** Write a file whole: a temporary file, synced, then renamed over the target. */
export async function writeDurably(file: string, text: string): Promise<void> {
  const temporary = `${file}.tmp`;
  const handle = await open(temporary, 'w');
  try {
    await handle.writeFile(text);
    await handle.sync();
  } finally {
    await handle.close();
  }
  await rename(temporary, file);
}

/**
 * Take the spool's lock file, or fail when a live process holds it. A lock left by a
 * process that died is taken over.
 */
async function lock(dir: string): Promise<void> {
  const file = path.join(dir, LOCK_FILE);
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const handle = await open(file, 'wx');
      await handle.writeFile(String(process.pid));
      await handle.close();
      return;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }

    const holder = Number(await readFile(file, 'utf8').catch(() => ''));
    if (holder > 0 && holder !== process.pid && isAlive(holder)) {
      throw new AppError('STORE_LOCKED', {
        path: dir,
        detail: `its spool is in use by process ${holder}`,
      });
    }
    if (existsSync(file)) await rm(file, { force: true });
  }
  throw new AppError('STORE_LOCKED', { path: dir, detail: 'its spool lock could not be taken' });
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
