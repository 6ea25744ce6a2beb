import { constants } from 'node:fs';
import { access, stat } from 'node:fs/promises';
import path from 'node:path';
import { glob, isDynamicPattern } from 'tinyglobby';

import { AppError } from '../errors.js';
import { listReceiveLogs } from '../parsers/exchange/files.js';

/** A log source named on the command line: a file, or standard input (`-`). */
export interface LogSource {
  /** The path as given, or `-` for standard input. */
  path: string;
  gzip: boolean;
  /** Modification time in milliseconds; the current time for standard input. */
  mtimeMs: number;
  size: number;
  device: number;
  inode: number;
}

/**
 * Expand the file arguments into sources, glob patterns included (for when the shell did
 * not expand them), with rotated files in the order they were written: `mail.log.3.gz`,
 * `mail.log.2.gz`, `mail.log.1`, `mail.log`.
 */
export async function resolveSources(args: string[]): Promise<LogSource[]> {
  const { sources, errors } = await resolveReadableSources(args);
  if (errors.length > 0) throw errors[0];
  return sources;
}

/**
 * Expand the file arguments like resolveSources, but return the arguments that cannot be
 * read as errors beside the sources that can, so that one missing file stops no other.
 */
export async function resolveReadableSources(
  args: string[],
): Promise<{ sources: LogSource[]; errors: AppError[] }> {
  const errors: AppError[] = [];
  const paths: string[] = [];
  for (const arg of args) {
    try {
      paths.push(...(await expandArgument(arg)));
    } catch (err) {
      if (!(err instanceof AppError)) throw err;
      errors.push(err);
    }
  }

  const sources: LogSource[] = [];
  for (const file of new Set(paths)) {
    try {
      sources.push(await describeSource(file));
    } catch (err) {
      if (!(err instanceof AppError)) throw err;
      errors.push(err);
    }
  }
  return { sources: sortOldestFirst(sources), errors };
}

async function expandArgument(arg: string): Promise<string[]> {
  if (arg === '-') return ['-'];
  if (await isFolder(arg)) return receiveLogsIn(arg);
  if (isDynamicPattern(arg)) {
    const matches = await glob(arg, { onlyFiles: true, absolute: false, expandDirectories: false });
    if (matches.length === 0) {
      throw new AppError('SOURCE_NOT_FOUND', { path: arg, detail: 'the pattern matches no file' });
    }
    return matches;
  }
  return [arg];
}

async function isFolder(arg: string): Promise<boolean> {
  try {
    return (await stat(arg)).isDirectory();
  } catch {
    return false;
  }
}

/** List a folder's logs as Exchange writes them: one SmtpReceive log per hour, `RECV*.LOG`. */
async function receiveLogsIn(folder: string): Promise<string[]> {
  const files = await listReceiveLogs(folder);
  if (files.length === 0) {
    throw new AppError('SOURCE_NOT_FOUND', {
      path: folder,
      detail:
        'it is a folder without Exchange RECV*.LOG files; name the log files, or a glob such as folder/*.log',
    });
  }
  return files;
}

async function describeSource(file: string): Promise<LogSource> {
  if (file === '-') {
    return { path: '-', gzip: false, mtimeMs: Date.now(), size: 0, device: 0, inode: 0 };
  }

  try {
    const info = await stat(file);
    if (!info.isFile()) {
      throw new AppError('SOURCE_NOT_FOUND', { path: file, detail: 'it is not a regular file' });
    }
    await access(file, constants.R_OK);
    return {
      path: file,
      gzip: file.endsWith('.gz'),
      mtimeMs: info.mtimeMs,
      size: info.size,
      device: info.dev,
      inode: info.ino,
    };
  } catch (err) {
    if (err instanceof AppError) throw err;
    throw new AppError('SOURCE_NOT_FOUND', { path: file, detail: describeFileError(err) });
  }
}

/** A file system error in words, with the usual fix for mail logs. */
export function describeFileError(err: unknown): string {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return 'no such file (ENOENT)';
  if (code === 'EACCES' || code === 'EPERM') {
    return `permission denied (${code}); mail logs are usually readable by root and the adm group`;
  }
  return (err as Error).message ?? String(err);
}

/** Sort key within a rotation family: higher rotation numbers and older dates come first. */
function rotationOrder(file: string): { family: string; rank: number } {
  const name = file.replace(/\.gz$/, '');
  const numbered = /^(.*)\.(\d+)$/.exec(name);
  if (numbered) return { family: numbered[1], rank: -Number(numbered[2]) };

  // logrotate's dateext: mail.log-20261204
  const dated = /^(.*)-(\d{8})$/.exec(name);
  if (dated) return { family: dated[1], rank: Number(dated[2]) - 1e9 };

  return { family: name, rank: 0 };
}

function sortOldestFirst(sources: LogSource[]): LogSource[] {
  const families = new Map<string, { oldest: number; members: LogSource[] }>();
  for (const source of sources) {
    const { family } = rotationOrder(path.normalize(source.path));
    const entry = families.get(family) ?? { oldest: Infinity, members: [] };
    entry.oldest = Math.min(entry.oldest, source.mtimeMs);
    entry.members.push(source);
    families.set(family, entry);
  }

  const rank = (source: LogSource) => rotationOrder(path.normalize(source.path)).rank;
  return [...families.values()]
    .sort((a, b) => a.oldest - b.oldest)
    .flatMap((entry) => entry.members.sort((a, b) => rank(a) - rank(b)));
}
