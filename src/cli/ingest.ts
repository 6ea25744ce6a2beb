import { Ingest, type FileSummary } from '../ingest/pipeline.js';
import { resolveSources } from '../sources/files.js';
import { openStore } from '../server/server-file.js';
import { parseStoreUrl } from '../store/url.js';
import type { Settings } from '../config.js';
import { textTable } from './format.js';
import { ProgressBar } from './progress.js';

export interface IngestFlags {
  year?: number;
  serverName?: string;
  format: 'text' | 'json';
}

export interface IngestResult {
  files: FileSummary[];
  /** Servers whose log shows no TLS line: their TLS versions are unknown. */
  serversWithoutTlsLogging: string[];
  authBackendErrors: number;
}

/** Read the given logs into the store and print one summary per file. */
export async function runIngest(
  settings: Settings,
  files: string[],
  flags: IngestFlags,
): Promise<IngestResult> {
  const sources = await resolveSources(files);
  const store = await openStore(parseStoreUrl(settings.store).path);
  const progress = new ProgressBar();

  try {
    const ingest = new Ingest(store, {
      timeZone: settings.timeZone,
      year: flags.year,
      serverName: flags.serverName,
      batchBytes: batchBytesFromEnvironment(),
      onProgress: (source, bytes) => progress.update(source, bytes),
    });
    const summaries = await ingest.run(sources);
    progress.clear();

    const servers = await store.all('SELECT DISTINCT server FROM submitted_messages');
    const withoutTls = servers
      .map((r) => String(r.server))
      .filter((server) => !ingest.serversWithTlsLogging.has(server));
    const result = {
      files: summaries,
      serversWithoutTlsLogging: withoutTls,
      authBackendErrors: ingest.authBackendErrors,
    };
    printIngestResult(result, flags.format);
    return result;
  } finally {
    progress.clear();
    store.close();
  }
}

/** Commit interval, for tests that interrupt an ingest between two commits. */
function batchBytesFromEnvironment(): number | undefined {
  const value = process.env.SMTP_AUTH_REPORT_BATCH_BYTES;
  return value && /^\d+$/.test(value) ? Number(value) : undefined;
}

function printIngestResult(result: IngestResult, format: 'text' | 'json'): void {
  if (format === 'json') {
    process.stdout.write(JSON.stringify(result, null, 2) + '\n');
    return;
  }

  const rows = result.files.map((f) => [
    f.path,
    f.alreadyRead ? 'already read' : f.format,
    f.linesRead,
    f.messages,
    f.failures,
    f.unsupported,
    f.malformed,
    (f.durationMs / 1000).toFixed(2),
    f.linesPerSecond,
  ]);
  const headers = [
    'file',
    'format',
    'lines',
    'messages',
    'failed logins',
    'unsupported',
    'malformed',
    'seconds',
    'lines/s',
  ];
  process.stderr.write(textTable(headers, rows));

  for (const file of result.files) {
    if (file.resumedAtLine > 0 && !file.alreadyRead) {
      process.stderr.write(`${file.path}: resumed after line ${file.resumedAtLine}\n`);
    }
    for (const problem of file.problems) {
      process.stderr.write(`${file.path}:${problem.line}: ${problem.reason}: ${problem.text}\n`);
    }
  }
  for (const server of result.serversWithoutTlsLogging) {
    process.stderr.write(
      `warning: the log of ${server} has no TLS lines, so TLS versions are reported as unknown; ` +
        'set smtpd_tls_loglevel = 1 in its Postfix main.cf\n',
    );
  }
  if (result.authBackendErrors > 0) {
    process.stderr.write(
      `note: ${result.authBackendErrors} SASL failures were lost connections to the authentication server, not failed logins\n`,
    );
  }
}
