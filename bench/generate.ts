/**
 * Writes a deterministic, realistic Postfix syslog file of exactly N lines and, beside it,
 * `BASE.truth.json` with the counts a correct report of that file contains.
 *
 *   node --import tsx bench/generate.ts --lines N --out FILE [--seed S] [--days D] [--gzip]
 */
import { once } from 'node:events';
import { createReadStream, createWriteStream } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { createGzip } from 'node:zlib';
import { Population, SERVER_HOSTNAME } from './generator/population.js';
import { ClassicTimestamp } from './generator/postfix-text.js';
import { Random } from './generator/random.js';
import { MailServer } from './generator/simulation.js';
import { Truth, TruthBuilder } from './generator/truth.js';

/** Bump when a change to the generator changes its output, so cached logs are rebuilt. */
export const GENERATOR_VERSION = 3;

/** Monday 2 November 2026, 00:00 UTC. Spans of up to 30 days stay inside one year. */
export const START_MS = Date.UTC(2026, 10, 2);

const ACCOUNT_COUNT = 3000;
const CALIBRATION_LINES = 200_000;
const FLUSH_CHARS = 1 << 20;

export interface GenerateOptions {
  lines: number;
  out: string;
  seed: string;
  /** Wanted span in days; by default 8 to 30 days, growing with the line count. */
  days?: number;
  gzip?: boolean;
}

/** Returns the default span: about 333,000 lines a day, at least 8 and at most 30 days. */
export function defaultSpanDays(lines: number): number {
  return Math.min(30, Math.max(8, Math.round(lines / 333_000)));
}

/** Writes the log to `options.out` and the truth beside it; returns the truth. */
export async function generateLog(options: GenerateOptions): Promise<Truth> {
  const spanDays = options.days ?? defaultSpanDays(options.lines);
  const rateScale = calibrateRateScale(options.seed, options.lines, spanDays);
  const server = new MailServer(new Random(options.seed), createPopulation(options.seed), {
    startMs: START_MS,
    lineLimit: options.lines,
    rateScale,
    spanDays,
  });

  const file = createWriteStream(options.out);
  const gzip = options.gzip ? createGzip() : null;
  const sink: Writable = gzip ?? file;
  const piped = gzip === null ? null : pipeline(gzip, file);
  const truth = new TruthBuilder();
  const timestamp = new ClassicTimestamp();
  const prefixHost = ` ${SERVER_HOSTNAME} `;
  let chunk = '';
  let bytes = 0;
  let firstTime = NaN;
  let lastTime = NaN;

  server.start();
  for (let entry = server.nextEntry(); entry !== null; entry = server.nextEntry()) {
    // Every generated line is ASCII, so its length in UTF-16 units is its length in bytes.
    chunk += timestamp.format(entry.time) + prefixHost + entry.text + '\n';
    truth.record(entry);
    if (Number.isNaN(firstTime)) firstTime = entry.time;
    lastTime = entry.time;

    if (chunk.length >= FLUSH_CHARS) {
      bytes += chunk.length;
      if (!sink.write(chunk)) await once(sink, 'drain');
      chunk = '';
    }
  }
  bytes += chunk.length;
  sink.end(chunk);
  await (piped ?? once(file, 'finish'));

  const result = truth.build(
    {
      version: GENERATOR_VERSION,
      seed: options.seed,
      lines: options.lines,
      start: new Date(START_MS).toISOString(),
      year: new Date(START_MS).getUTCFullYear(),
      server: SERVER_HOSTNAME,
      spanDays,
    },
    {
      lines: server.emittedLines,
      bytes,
      firstLine: new Date(firstTime).toISOString(),
      lastLine: new Date(lastTime).toISOString(),
      sessions: server.sessions,
    },
  );
  await writeFile(truthPathOf(options.out), JSON.stringify(result, null, 1) + '\n');
  return result;
}

/** `mail.log` and `mail.log.gz` both get `mail.truth.json`. */
export function truthPathOf(logPath: string): string {
  return logPath.replace(/\.gz$/, '').replace(/\.log$/, '') + '.truth.json';
}

/** Compresses a file with Node's zlib, streamed. */
export async function gzipFile(source: string, target: string): Promise<void> {
  await pipeline(createReadStream(source), createGzip(), createWriteStream(target));
}

function createPopulation(seed: string): Population {
  return new Population(new Random(`${seed}:population`), ACCOUNT_COUNT);
}

/**
 * Finds the arrival-rate multiplier that makes `lines` lines span about `spanDays` days. A
 * sample run, scaled down so that it too covers the whole span with its office hours and
 * weekends, measures how many lines one unit of rate yields per second. A second sample at the
 * first estimate corrects a bad initial guess. anvil's statistics come every ten minutes
 * whatever the rate, so they are left out of that measure.
 */
function calibrateRateScale(seed: string, lines: number, spanDays: number): number {
  const spanSeconds = spanDays * 86_400;
  const sampleLines = Math.min(lines, CALIBRATION_LINES);
  const guessLinesPerSecond = 10;
  let scale = lines / spanSeconds / guessLinesPerSecond;
  for (let pass = 0; pass < 2; pass++) {
    const sampleScale = (scale * sampleLines) / lines;
    const { seconds, periodicLines } = runSample(seed, sampleLines, sampleScale, spanDays);
    const linesPerSecondPerScale = (sampleLines - periodicLines) / seconds / sampleScale;
    const periodicLinesInSpan = (periodicLines / seconds) * spanSeconds;
    scale = Math.max(lines - periodicLinesInSpan, lines / 2) / spanSeconds / linesPerSecondPerScale;
  }
  return scale;
}

function runSample(
  seed: string,
  lines: number,
  rateScale: number,
  spanDays: number,
): { seconds: number; periodicLines: number } {
  const sample = new MailServer(new Random(`${seed}:calibration`), createPopulation(seed), {
    startMs: START_MS,
    lineLimit: lines,
    rateScale,
    spanDays,
  });

  sample.start();
  let last = START_MS;
  let periodicLines = 0;
  for (let entry = sample.nextEntry(); entry !== null; entry = sample.nextEntry()) {
    last = entry.time;
    if (entry.text?.startsWith('postfix/anvil[')) periodicLines++;
  }
  return { seconds: (last - START_MS) / 1000, periodicLines };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      lines: { type: 'string' },
      out: { type: 'string' },
      seed: { type: 'string', default: 'smtp-auth-report' },
      days: { type: 'string' },
      gzip: { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(USAGE);
    return;
  }

  const lines = Number(values.lines);
  if (!Number.isInteger(lines) || lines < 1)
    throw new UsageError(`--lines must be a positive integer, got ${values.lines ?? 'nothing'}`);
  if (values.out === undefined) throw new UsageError('--out FILE is missing');
  const days = values.days === undefined ? undefined : Number(values.days);
  if (days !== undefined && !(Number.isInteger(days) && days >= 1 && days <= 300)) {
    throw new UsageError(`--days must be an integer from 1 to 300, got ${values.days}`);
  }

  const started = performance.now();
  const truth = await generateLog({
    lines,
    out: values.out,
    seed: values.seed,
    days,
    gzip: values.gzip,
  });
  const seconds = (performance.now() - started) / 1000;
  process.stderr.write(
    `wrote ${truth.log.lines} lines (${(truth.log.bytes / 1e6).toFixed(1)} MB uncompressed) to ${values.out} in ${seconds.toFixed(1)} s\n` +
      `span ${truth.log.firstLine} to ${truth.log.lastLine}; ${truth.totals.messages} authenticated messages, ` +
      `${truth.totals.recipients} recipients, ${truth.totals.failures} failed logins, ${truth.totals.accounts} accounts\n` +
      `truth: ${truthPathOf(values.out)}\n`,
  );
}

const USAGE = `Usage: node --import tsx bench/generate.ts --lines N --out FILE [--seed S] [--days D] [--gzip]

  --lines N   number of log lines to write (exactly N)
  --out FILE  log file to write; the truth goes to FILE without .log/.gz plus .truth.json
  --seed S    seed of the pseudo-random generator (default: smtp-auth-report)
  --days D    span of the log in days (default: N / 333,000, at least 8 and at most 30)
  --gzip      compress FILE with gzip
`;

class UsageError extends Error {}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  main().catch((error: unknown) => {
    process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
    if (error instanceof UsageError) process.stderr.write(USAGE);
    process.exitCode = error instanceof UsageError ? 2 : 1;
  });
}
