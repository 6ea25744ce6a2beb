import { Ingest, type FileSummary } from '../ingest/pipeline.js';
import { resolveReadableSources } from '../sources/files.js';
import { openStore } from '../server/server-file.js';
import { parseStoreUrl } from '../store/url.js';
import type { Settings } from '../config.js';
import type { LogFormat } from '../formats/correlator.js';
import { textTable } from './format.js';
import { ProgressBar } from './progress.js';

export interface IngestFlags {
  year?: number;
  serverName?: string;
  logFormat?: LogFormat;
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
  const { sources, errors } = await resolveReadableSources(files);
  if (sources.length === 0 && errors.length > 0) throw errors[0];
  // The other files are still read, and the exit status shows that one could not be.
  for (const error of errors) process.stderr.write(`smtp-auth-report: ${error.message}\n`);
  if (errors.length > 0) process.exitCode = 1;
  const store = await openStore(parseStoreUrl(settings.store).path);
  const progress = new ProgressBar();

  try {
    const ingest = new Ingest(store, {
      timeZone: settings.timeZone,
      year: flags.year,
      serverName: flags.serverName,
      logFormat: flags.logFormat,
      batchBytes: batchBytesFromEnvironment(),
      onProgress: (source, bytes) => progress.update(source, bytes),
    });
    const stopOnInterrupt = () => {
      progress.clear();
      process.stderr.write(
        'smtp-auth-report: interrupted; what was committed is kept, and the same command resumes from there\n',
      );
      process.exit(130);
    };
    process.once('SIGINT', stopOnInterrupt);
    const summaries = await ingest.run(sources);
    process.off('SIGINT', stopOnInterrupt);
    progress.clear();

    // Only Postfix needs a setting for TLS lines; its services are all named postfix...
    const servers = await store.all(
      "SELECT DISTINCT server FROM submitted_messages WHERE service LIKE 'postfix%'",
    );
    const withoutTls = servers
      .map((r) => String(r.server))
      .filter((server) => !ingest.serversWithTlsLogging.has(server));
    const result = {
      files: summaries,
      serversWithoutTlsLogging: withoutTls,
      authBackendErrors: ingest.authBackendErrors,
    };
    printIngestResult(result, flags.format);
    // Exit non-zero when a file could not be read to its end, after reading all the others.
    if (summaries.some((file) => file.error)) process.exitCode = 1;
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

function formatColumn(file: FileSummary): string {
  if (file.error) return 'failed';
  if (file.alreadyRead) return 'already read';
  return file.format;
}

function printFileNotes(file: FileSummary): void {
  const note = (text: string) => process.stderr.write(`${file.path}: ${text}\n`);
  if (file.error) note(`error: ${file.error}`);
  if (file.resumedAtLine > 0 && !file.alreadyRead) note(`resumed after line ${file.resumedAtLine}`);
  if (file.lastLineWaiting) {
    note(
      'the last line has no newline yet (the file changed in the last 5 minutes); it is read on the next run',
    );
  }
  if (file.linesRead > 0 && file.malformed + file.unsupported === file.linesRead) {
    note(
      `warning: none of its ${file.linesRead} lines could be read as ${file.format}; is it a mail log? (--log-format names the format)`,
    );
  }
  for (const problem of file.problems) {
    process.stderr.write(`${file.path}:${problem.line}: ${problem.reason}: ${problem.text}\n`);
  }
}

function printIngestResult(result: IngestResult, format: 'text' | 'json'): void {
  if (format === 'json') {
    process.stdout.write(JSON.stringify(result, null, 2) + '\n');
    return;
  }

  const rows = result.files.map((f) => [
    f.path,
    formatColumn(f),
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

  for (const file of result.files) printFileNotes(file);
  for (const server of result.serversWithoutTlsLogging) {
    process.stderr.write(
      `warning: the log of ${server} has no TLS lines, so TLS versions are reported as unknown; ` +
        'set smtpd_tls_loglevel = 1 in its Postfix main.cf\n',
    );
  }
  if (result.authBackendErrors > 0) {
    const count = result.authBackendErrors;
    process.stderr.write(
      `note: ${count} SASL ${count === 1 ? 'failure was a lost connection' : 'failures were lost connections'} ` +
        'to the authentication server, not failed logins\n',
    );
  }
}
