import { readFileSync, rmSync, writeFileSync } from 'node:fs';

import { AppError } from '../errors.js';
import { DuckDBStore } from '../store/duckdb/store.js';

/**
 * The contents of `<store path>.server.json`, written by the server that has the store open.
 * DuckDB lets only one process open the file, so other commands read this to name the server.
 */
export interface ServerFile {
  pid: number;
  url: string;
}

export function serverFilePath(storePath: string): string {
  return `${storePath}.server.json`;
}

export function writeServerFile(storePath: string, info: ServerFile): void {
  writeFileSync(serverFilePath(storePath), JSON.stringify(info) + '\n');
}

/** Remove the server file if it is still ours (a newer server may have replaced it). */
export function removeServerFile(storePath: string, pid = process.pid): void {
  if (readServerFile(storePath)?.pid === pid) rmSync(serverFilePath(storePath), { force: true });
}

/** Read the server file; null when it is missing or unreadable. */
export function readServerFile(storePath: string): ServerFile | null {
  try {
    const info = JSON.parse(readFileSync(serverFilePath(storePath), 'utf8')) as Partial<ServerFile>;
    if (typeof info.pid !== 'number' || typeof info.url !== 'string') return null;
    return { pid: info.pid, url: info.url };
  } catch {
    return null;
  }
}

/**
 * Open a store for a command. When `smtp-auth-report serve` holds it, the STORE_LOCKED error
 * names that server's URL and process id, taken from the server file, but only when DuckDB
 * reports the same process id as the lock holder, so that a stale file is not believed.
 * `memoryLimitMib` replaces the store's default DuckDB memory limit.
 */
export async function openStore(
  storePath: string,
  options: { memoryLimitMib?: number } = {},
): Promise<DuckDBStore> {
  let store: DuckDBStore;
  try {
    store = await DuckDBStore.open(storePath);
  } catch (err) {
    throw explainStoreLock(err, storePath);
  }
  if (options.memoryLimitMib !== undefined) {
    await store.all(`SET memory_limit = '${Math.trunc(options.memoryLimitMib)}MiB'`);
  }
  return store;
}

function explainStoreLock(err: unknown, storePath: string): unknown {
  if (!(err instanceof AppError) || err.code !== 'STORE_LOCKED') return err;

  const server = readServerFile(storePath);
  const lockPid = /\(PID (\d+)\)/.exec(String(err.details.detail))?.[1];
  if (!server || String(server.pid) !== lockPid) return err;

  return new AppError(
    'STORE_LOCKED',
    {
      path: storePath,
      detail: `smtp-auth-report serve at ${server.url}, PID ${server.pid}`,
    },
    { cause: err },
  );
}
