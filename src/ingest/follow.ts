import { open, type FileHandle } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';

import type { AppError } from '../errors.js';
import { resolveReadableSources, type LogSource } from '../sources/files.js';
import type { FileSummary } from './pipeline.js';

/** Time between two polls, as for `serve --follow`. */
export const DEFAULT_POLL_INTERVAL_MS = 2000;

/**
 * How long a rotated file is still read after it last grew. A syslog daemon writes to the old
 * file until logrotate's postrotate step makes it reopen its log, which takes a moment.
 */
const ROTATED_GRACE_MS = 30_000;

/** The logger methods the follower uses; a pino logger fits. */
export interface FollowLog {
  info(fields: object, message: string): void;
  warn(fields: object, message: string): void;
}

export interface FollowOptions {
  intervalMs?: number;
  /** Errors that end the following; others are logged and the next poll tries again. */
  isFatal?: (err: unknown) => boolean;
}

/** A file the follower keeps open, so that it can finish it after a rotation. */
interface OpenFile {
  /** The path it was followed under. */
  path: string;
  handle: FileHandle;
  device: number;
  inode: number;
  size: number;
  /** When it last grew, for rotated files. */
  grewAt: number;
}

/**
 * Reads log files as they grow and as they are rotated, for `ingest --follow`. Each poll
 * expands the file arguments again and runs one ingest when a file changed; the ingest
 * resumes each file from its checkpoint.
 *
 * A path may come to name a new file (a new inode), because logrotate renamed the old one
 * and the daemon made a new one. Then the old file is finished first, through a descriptor
 * the follower kept open, and then the new one is read. The old file is read on each poll
 * until it has not grown for ROTATED_GRACE_MS.
 *
 * NOTE: the old file is read through /proc/self/fd, which exists on Linux only, and its
 * checkpoint records that path. Lines that a `copytruncate` rotation removes before a poll
 * reads them are lost, as for any reader.
 */
export class LogFileFollower {
  private readonly current = new Map<string, OpenFile>();
  private rotated: OpenFile[] = [];
  private lastSignature = '';
  private lastMissing = '';
  private lastError = '';

  constructor(
    private readonly files: string[],
    private readonly ingest: (sources: LogSource[]) => Promise<FileSummary[]>,
    private readonly log: FollowLog,
    private readonly options: FollowOptions = {},
  ) {}

  /** Poll until the signal is aborted; the poll running then ends first. */
  async run(signal: AbortSignal): Promise<void> {
    const intervalMs = this.options.intervalMs ?? DEFAULT_POLL_INTERVAL_MS;
    try {
      while (!signal.aborted) {
        await this.pollOrReport();
        await sleep(intervalMs, undefined, { signal }).catch(() => undefined);
      }
    } finally {
      await this.closeAll();
    }
  }

  /** Ingest what the files gained; returns null when nothing changed. */
  async poll(): Promise<FileSummary[] | null> {
    const { sources, errors } = await resolveReadableSources(this.files);
    this.reportMissing(errors);
    await this.track(sources);

    const oldFiles = await this.rotatedSources(sources);
    const all = [...oldFiles.map((file) => file.source), ...sources];
    const signature = signatureOf(all);
    if (signature === this.lastSignature) return null;

    const summaries = await this.ingest(all);
    this.lastSignature = signature;
    await this.dropFinished(oldFiles, summaries);
    return summaries.map((summary) => {
      const old = oldFiles.find((file) => file.source.path === summary.path);
      return old ? { ...summary, path: `${old.file.path} (rotated)` } : summary;
    });
  }

  private async pollOrReport(): Promise<void> {
    try {
      const summaries = await this.poll();
      if (summaries) this.logSummaries(summaries);
      this.lastError = '';
    } catch (err) {
      if (this.options.isFatal?.(err)) throw err;
      // One warning per distinct error, so that a store that stays down does not flood the log.
      const message = (err as Error)?.message ?? String(err);
      if (message === this.lastError) return;
      this.lastError = message;
      this.log.warn({ err, files: this.files }, 'follow poll failed; retrying');
    }
  }

  private logSummaries(summaries: FileSummary[]): void {
    for (const file of summaries) {
      if (file.linesRead === 0 && !file.error) continue;
      this.log.info(
        {
          file: file.path,
          format: file.format,
          lines: file.linesRead,
          messages: file.messages,
          failures: file.failures,
          unsupported: file.unsupported,
          malformed: file.malformed,
          durationMs: file.durationMs,
          ...(file.error ? { error: file.error } : {}),
        },
        'ingested new log lines',
      );
    }
  }

  /** Warn once per change in the unreadable files, because a rotation removes one briefly. */
  private reportMissing(errors: AppError[]): void {
    const text = errors.map((error) => error.message).join('; ');
    if (text !== this.lastMissing && text !== '') {
      this.log.warn({ errors: errors.map((error) => error.message) }, 'log files not readable');
    }
    this.lastMissing = text;
  }

  /** Open the files seen for the first time, and set aside those whose path was rotated. */
  private async track(sources: LogSource[]): Promise<void> {
    const seen = new Set<string>();
    for (const source of sources) {
      if (source.path === '-' || source.gzip) continue;
      seen.add(source.path);
      const known = this.current.get(source.path);
      if (known && known.inode === source.inode && known.device === source.device) continue;

      if (known) this.setAside(known);
      const opened = await openSame(source);
      if (opened) this.current.set(source.path, opened);
      else this.current.delete(source.path);
    }

    for (const [path, file] of this.current) {
      if (seen.has(path)) continue;
      this.current.delete(path);
      this.setAside(file);
    }
  }

  private setAside(file: OpenFile): void {
    file.grewAt = Date.now();
    this.rotated.push(file);
    this.log.info(
      { file: file.path, inode: file.inode },
      'log file rotated; finishing the old file',
    );
  }

  /**
   * The rotated files to read in this poll, oldest first. One that the arguments name under
   * its new name (a glob such as `mail.log*`) is read under that name only.
   */
  private async rotatedSources(
    sources: LogSource[],
  ): Promise<{ file: OpenFile; source: LogSource }[]> {
    const named = new Set(sources.map((source) => `${source.device}:${source.inode}`));
    const result: { file: OpenFile; source: LogSource }[] = [];
    for (const file of [...this.rotated]) {
      if (named.has(`${file.device}:${file.inode}`)) {
        await this.close(file);
        continue;
      }
      const info = await file.handle.stat();
      if (info.size > file.size) file.grewAt = Date.now();
      file.size = info.size;
      const source: LogSource = {
        path: `/proc/self/fd/${file.handle.fd}`,
        gzip: false,
        mtimeMs: info.mtimeMs,
        size: info.size,
        device: info.dev,
        inode: info.ino,
      };
      result.push({ file, source });
    }
    return result;
  }

  /** Close the rotated files read to their end that have been quiet for the grace period. */
  private async dropFinished(
    oldFiles: { file: OpenFile; source: LogSource }[],
    summaries: FileSummary[],
  ): Promise<void> {
    for (const { file, source } of oldFiles) {
      const summary = summaries.find((entry) => entry.path === source.path);
      if (summary?.lastLineWaiting || Date.now() - file.grewAt < ROTATED_GRACE_MS) continue;
      await this.close(file);
    }
  }

  private async close(file: OpenFile): Promise<void> {
    this.rotated = this.rotated.filter((entry) => entry !== file);
    await file.handle.close();
  }

  private async closeAll(): Promise<void> {
    for (const file of [...this.rotated]) await this.close(file);
    for (const file of this.current.values()) await file.handle.close();
    this.current.clear();
  }
}

/** Open a source's path, or null when it names another file by now (rotated in between). */
async function openSame(source: LogSource): Promise<OpenFile | null> {
  let handle: FileHandle;
  try {
    handle = await open(source.path, 'r');
  } catch {
    return null;
  }
  const info = await handle.stat();
  if (info.ino !== source.inode || info.dev !== source.device) {
    await handle.close();
    return null;
  }
  return {
    path: source.path,
    handle,
    device: info.dev,
    inode: info.ino,
    size: info.size,
    grewAt: Date.now(),
  };
}

function signatureOf(sources: LogSource[]): string {
  return JSON.stringify(sources.map((s) => [s.path, s.size, s.mtimeMs, s.device, s.inode]));
}
