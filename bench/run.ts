/**
 * Ingest benchmark. It generates realistic Postfix logs with known counts (cached in bench/out/)
 * and runs the whole CLI on each as a child process, timed end to end with its peak memory.
 * Then it checks the store's reports against the truth row for row.
 *
 *   npm run bench                1M and 10M lines, plain and gzip, then the HTTP API (bench/api.ts)
 *   npm run bench -- --quick     1M lines only, no HTTP API
 *   npm run bench -- --api-only  the HTTP API only; --rebuild builds its store again
 *   npm run bench -- --formats   ingest speed of the other formats (bench/formats.ts) only
 */
import { execFile, spawn } from 'node:child_process';
import { createReadStream, existsSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs, promisify } from 'node:util';
import { DEFAULT_MESSAGES, runApiBenchmark } from './api.js';
import {
  FORMAT_GENERATOR_VERSION,
  FORMAT_NAMES,
  writeFormatLog,
  type FormatName,
  type FormatTruth,
} from './formats.js';
import { GENERATOR_VERSION, generateLog, gzipFile, truthPathOf } from './generate.js';
import { Truth, failureKey, messageKey } from './generator/truth.js';

const execFileAsync = promisify(execFile);

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const OUT_DIR = path.join(ROOT, 'bench', 'out');
const CLI = path.join(ROOT, 'bin', 'smtp-auth-report.js');
const GNU_TIME = '/usr/bin/time';
const SEED = 'smtp-auth-report';

/** Targets of the product: throughput on the 10M-line logs, peak memory on every run. */
const TARGETS = {
  plainLinesPerSecond: 2_000_000,
  gzipLinesPerSecond: 1_500_000,
  peakRssBytes: 400 * 1024 * 1024,
};

interface Case {
  name: string;
  file: string;
  gzip: boolean;
  truth: Truth;
}

interface Measurement {
  name: string;
  gzip: boolean;
  lines: number;
  fileBytes: number;
  textBytes: number;
  seconds: number;
  /** User plus system CPU time of the ingest process, from GNU time. */
  cpuSeconds: number | null;
  /** One-minute load average just before the run. Above the CPU count, others competed. */
  loadBefore: number;
  peakRssBytes: number | null;
  storeBytes: number;
  exact: boolean;
  problems: string[];
}

interface ScaleTiming {
  command: string;
  seconds: number;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      quick: { type: 'boolean', default: false },
      'api-only': { type: 'boolean', default: false },
      rebuild: { type: 'boolean', default: false },
      'api-messages': { type: 'string', default: String(DEFAULT_MESSAGES) },
      formats: { type: 'boolean', default: false },
      'format-lines': { type: 'string', default: '10000000' },
    },
  });
  checkBuilt();
  await mkdir(OUT_DIR, { recursive: true });
  printMachine();

  if (values.formats)
    return benchmarkFormats(wholeNumber('--format-lines', values['format-lines']));

  if (!values['api-only']) await benchmarkIngest(values.quick);
  if (values.quick && !values['api-only']) return;

  const messages = wholeNumber('--api-messages', values['api-messages']);
  const failures = await runApiBenchmark({ rebuild: values.rebuild, messages }, machine());
  if (failures.length > 0) {
    process.stdout.write(
      `\nAPI FAILED:\n${failures.map((failure) => `  - ${failure}`).join('\n')}\n`,
    );
    process.exitCode = 1;
  } else {
    process.stdout.write('\nAll API targets met.\n');
  }
}

/** Times ingests of the generated logs and checks their reports against the truth. */
async function benchmarkIngest(quick: boolean): Promise<void> {
  const sizes = quick ? [1_000_000] : [1_000_000, 10_000_000];
  const cases: Case[] = [];
  for (const lines of sizes) {
    const { file, truth } = await ensureLog(lines);
    cases.push({ name: path.basename(file), file, gzip: false, truth });
    if (lines === 10_000_000) {
      const gz = await ensureGzip(file);
      cases.push({ name: path.basename(gz), file: gz, gzip: true, truth });
    }
  }

  const scale = await timeScaleCommands(cases[0].file);
  const measurements: Measurement[] = [];
  for (const benchCase of cases) {
    process.stderr.write(`ingesting ${benchCase.name} ...\n`);
    measurements.push(await measureIngest(benchCase));
  }

  printTable(measurements, scale);
  const failures = checkTargets(measurements, quick);
  await writeFile(
    path.join(OUT_DIR, quick ? 'results-quick.json' : 'results.json'),
    JSON.stringify(
      { date: new Date().toISOString(), machine: machine(), measurements, scale, failures },
      null,
      2,
    ) + '\n',
  );
  if (failures.length > 0) {
    process.stdout.write(`\nFAILED:\n${failures.map((failure) => `  - ${failure}`).join('\n')}\n`);
    process.exitCode = 1;
  } else {
    const scope = quick ? ' (throughput targets apply to the 10M-line runs only)' : '';
    process.stdout.write(`\nAll counts exact and all targets met${scope}.\n`);
  }
}

function wholeNumber(option: string, text: string): number {
  const value = Number(text);
  if (!Number.isInteger(value) || value < 1000) {
    throw new Error(
      `invalid value ${text} for ${option}: expected a whole number of at least 1000`,
    );
  }
  return value;
}

function checkBuilt(): void {
  if (!existsSync(path.join(ROOT, 'dist', 'cli', 'main.js'))) {
    throw new Error(
      `${path.join(ROOT, 'dist', 'cli', 'main.js')} not found: run npm run build first`,
    );
  }
}

// Inputs ----------------------------------------------------------------------------------

/** Generates the log and its truth unless an identical one is cached. */
async function ensureLog(lines: number): Promise<{ file: string; truth: Truth }> {
  const file = path.join(OUT_DIR, `postfix-${lines / 1_000_000}m.log`);
  const truthPath = truthPathOf(file);
  const cached = await readCachedTruth(file, truthPath, lines);
  if (cached !== null) {
    process.stderr.write(`using cached ${path.relative(ROOT, file)}\n`);
    return { file, truth: cached };
  }

  process.stderr.write(`generating ${path.relative(ROOT, file)} (${lines} lines) ...\n`);
  const started = performance.now();
  const truth = await generateLog({ lines, out: file, seed: SEED });
  process.stderr.write(`  done in ${((performance.now() - started) / 1000).toFixed(1)} s\n`);
  return { file, truth };
}

async function readCachedTruth(
  file: string,
  truthPath: string,
  lines: number,
): Promise<Truth | null> {
  if (!existsSync(file) || !existsSync(truthPath)) return null;
  const truth = JSON.parse(await readFile(truthPath, 'utf8')) as Truth;
  const { generator, log } = truth;
  const same =
    generator.version === GENERATOR_VERSION && generator.seed === SEED && generator.lines === lines;
  return same && (await stat(file)).size === log.bytes ? truth : null;
}

async function ensureGzip(file: string): Promise<string> {
  const gz = `${file}.gz`;
  if (existsSync(gz) && (await stat(gz)).mtimeMs >= (await stat(file)).mtimeMs) {
    process.stderr.write(`using cached ${path.relative(ROOT, gz)}\n`);
    return gz;
  }
  process.stderr.write(`compressing ${path.relative(ROOT, gz)} ...\n`);
  await gzipFile(file, gz);
  return gz;
}

// Measurement -------------------------------------------------------------------------------

/** Runs `ingest` into a new store, then checks the store against the truth. */
async function measureIngest(benchCase: Case): Promise<Measurement> {
  const storeDir = await mkdtemp(path.join(os.tmpdir(), 'smtp-auth-bench-'));
  const store = `duckdb:${path.join(storeDir, 'bench.duckdb')}`;
  try {
    const args = [
      CLI,
      'ingest',
      '--store',
      store,
      '--timezone',
      'UTC',
      '--year',
      String(benchCase.truth.generator.year),
      benchCase.file,
    ];
    await warmPageCache(benchCase.file);
    const loadBefore = os.loadavg()[0];
    const run = await runMeasured(args, storeDir);
    if (run.exitCode !== 0) {
      throw new Error(
        `ingest of ${benchCase.file} exited with ${run.exitCode}:\n${run.stderrTail}`,
      );
    }

    const problems = await compareWithTruth(store, benchCase.truth);
    return {
      name: benchCase.name,
      gzip: benchCase.gzip,
      lines: benchCase.truth.log.lines,
      fileBytes: (await stat(benchCase.file)).size,
      textBytes: benchCase.truth.log.bytes,
      seconds: run.seconds,
      cpuSeconds: run.cpuSeconds,
      loadBefore,
      peakRssBytes: run.peakRssBytes,
      storeBytes: await storeSize(storeDir),
      exact: problems.length === 0,
      problems,
    };
  } finally {
    await rm(storeDir, { recursive: true, force: true });
  }
}

/**
 * Read a file once before it is timed, so that every run reads it from the page cache. A
 * 10M-line log read from disk instead took twice as long, in system time, on this machine,
 * and whether the cache still held it depended on what ran before.
 */
async function warmPageCache(file: string): Promise<void> {
  for await (const chunk of createReadStream(file, { highWaterMark: 4 * 1024 * 1024 })) {
    void chunk;
  }
}

interface RunResult {
  exitCode: number | null;
  seconds: number;
  cpuSeconds: number | null;
  peakRssBytes: number | null;
  stderrTail: string;
}

/**
 * Runs `node ARGS` and returns wall time from spawn to exit, so start-up counts. Peak memory
 * comes from GNU time's maximum RSS when /usr/bin/time exists, else from polling VmHWM.
 */
async function runMeasured(args: string[], scratchDir: string): Promise<RunResult> {
  const timeFile = path.join(scratchDir, 'time.txt');
  const useGnuTime = existsSync(GNU_TIME);
  const command = useGnuTime ? GNU_TIME : process.execPath;
  const commandArgs = useGnuTime ? ['-v', '-o', timeFile, process.execPath, ...args] : args;

  const started = performance.now();
  const child = spawn(command, commandArgs, { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-4000);
  });
  let polledHwm = 0;
  const poller = useGnuTime
    ? null
    : setInterval(() => (polledHwm = Math.max(polledHwm, readVmHwm(child.pid))), 20);
  const exitCode = await new Promise<number | null>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', resolve);
  });
  const seconds = (performance.now() - started) / 1000;
  if (poller !== null) clearInterval(poller);

  if (!useGnuTime) {
    return {
      exitCode,
      seconds,
      cpuSeconds: null,
      peakRssBytes: polledHwm || null,
      stderrTail: stderr,
    };
  }
  const report = await readFile(timeFile, 'utf8');
  const rssKiB = gnuTimeField(report, 'Maximum resident set size (kbytes)');
  const user = gnuTimeField(report, 'User time (seconds)');
  const system = gnuTimeField(report, 'System time (seconds)');
  return {
    exitCode,
    seconds,
    cpuSeconds: user === null || system === null ? null : user + system,
    peakRssBytes: rssKiB === null ? null : rssKiB * 1024,
    stderrTail: stderr,
  };
}

/** Returns a numeric field of `/usr/bin/time -v` output, such as `User time (seconds)`. */
function gnuTimeField(report: string, name: string): number | null {
  const line = report.split('\n').find((candidate) => candidate.trim().startsWith(`${name}:`));
  return line === undefined ? null : Number(line.slice(line.lastIndexOf(':') + 1));
}

function readVmHwm(pid: number | undefined): number {
  if (pid === undefined) return 0;
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const match = /VmHWM:\s+(\d+) kB/.exec(status);
    return match === null ? 0 : Number(match[1]) * 1024;
  } catch {
    return 0;
  }
}

async function storeSize(dir: string): Promise<number> {
  const { stdout } = await execFileAsync('du', ['-sb', dir]);
  return Number(stdout.split('\t')[0]);
}

// Comparison with the truth ----------------------------------------------------------------

interface DetailRow {
  day: string;
  account: string;
  senderAddress: string;
  senderDomain: string;
  clientIp: string;
  tlsProtocol: string;
  saslMechanism: string;
  server: string;
  messages: number;
  recipients: number;
}

interface FailureRow {
  day: string;
  attemptedUsername: string | null;
  clientIp: string;
  saslMechanism: string;
  tlsProtocol: string;
  server: string;
  failures: number;
}

/** Returns what differs between the store's reports and the truth; empty when exact. */
async function compareWithTruth(store: string, truth: Truth): Promise<string[]> {
  const details = (await report(store, 'details')) as DetailRow[];
  const failures = (await report(store, 'failures')) as FailureRow[];
  const problems: string[] = [];

  const actualMessages = new Map<string, { messages: number; recipients: number }>();
  for (const row of details) {
    const expectedDomain = row.senderAddress
      .slice(row.senderAddress.lastIndexOf('@') + 1)
      .toLowerCase();
    if (row.senderAddress !== '' && row.senderDomain !== expectedDomain) {
      problems.push(
        `details: senderDomain ${row.senderDomain} does not match senderAddress ${row.senderAddress}`,
      );
    }
    if (row.server !== truth.generator.server)
      problems.push(`details: server ${row.server}, expected ${truth.generator.server}`);
    const key = messageKey(row);
    const sum = actualMessages.get(key) ?? { messages: 0, recipients: 0 };
    sum.messages += row.messages;
    sum.recipients += row.recipients;
    actualMessages.set(key, sum);
  }
  const expectedMessages = new Map(
    truth.messages.map((row) => [
      messageKey(row),
      { messages: row.messages, recipients: row.recipients },
    ]),
  );
  compareCounts('details', expectedMessages, actualMessages, problems);

  const actualFailures = new Map<string, { failures: number }>();
  for (const row of failures) {
    const key = failureKey(row);
    const sum = actualFailures.get(key) ?? { failures: 0 };
    sum.failures += row.failures;
    actualFailures.set(key, sum);
  }
  const expectedFailures = new Map(
    truth.failures.map((row) => [failureKey(row), { failures: row.failures }]),
  );
  compareCounts('failures', expectedFailures, actualFailures, problems);
  return problems;
}

type Counts = Record<string, number>;

/** Appends up to ten differing rows of one view to `problems`, then the number that differ. */
function compareCounts(
  view: string,
  expected: Map<string, Counts>,
  actual: Map<string, Counts>,
  problems: string[],
): void {
  const before = problems.length;
  let differing = 0;
  for (const [key, want] of expected) {
    const got = actual.get(key);
    if (got !== undefined && formatCounts(got) === formatCounts(want)) continue;
    differing++;
    if (problems.length - before < 10) {
      problems.push(
        `${view}: ${key}: expected ${formatCounts(want)}, got ${got === undefined ? 'no row' : formatCounts(got)}`,
      );
    }
  }
  for (const key of actual.keys()) {
    if (expected.has(key)) continue;
    differing++;
    if (problems.length - before < 10) problems.push(`${view}: ${key}: not in the truth`);
  }
  if (differing > 10) problems.push(`${view}: ${differing} rows differ in all`);
}

function formatCounts(counts: Counts): string {
  return Object.entries(counts)
    .map(([name, value]) => `${name}=${value}`)
    .join(' ');
}

async function report(store: string, view: string): Promise<unknown[]> {
  const args = [
    CLI,
    'report',
    '--store',
    store,
    '--view',
    view,
    '--format',
    'json',
    '--timezone',
    'UTC',
    '--from',
    '1970-01-01',
    '--to',
    '2100-12-31',
  ];
  const { stdout } = await execFileAsync(process.execPath, args, {
    cwd: ROOT,
    maxBuffer: 2 ** 31 - 1,
  });
  return JSON.parse(stdout) as unknown[];
}

// Other formats -------------------------------------------------------------------------------

/** The speed that Exim and Sendmail logs must reach; the other formats are measured only. */
const FORMAT_TARGET_LINES_PER_SECOND: Partial<Record<FormatName, number>> = {
  exim: 1_000_000,
  sendmail: 1_000_000,
};

interface FormatMeasurement {
  format: FormatName;
  lines: number;
  bytes: number;
  seconds: number;
  cpuSeconds: number | null;
  peakRssBytes: number | null;
  loadBefore: number;
  problems: string[];
}

/** Writes a log of each format, ingests it, and checks the report against its truth. */
async function benchmarkFormats(lines: number): Promise<void> {
  const measurements: FormatMeasurement[] = [];
  for (const format of FORMAT_NAMES) {
    const file = path.join(OUT_DIR, 'formats', `${format}-${lines}.log`);
    const truth = await ensureFormatLog(format, lines, file);
    process.stderr.write(`ingesting ${path.relative(ROOT, file)} ...\n`);
    measurements.push(await measureFormat(file, truth));
  }

  printFormatTable(measurements);
  const failures = measurements.flatMap((m) => formatFailures(m));
  await writeFile(
    path.join(OUT_DIR, 'results-formats.json'),
    JSON.stringify(
      { date: new Date().toISOString(), machine: machine(), measurements, failures },
      null,
      2,
    ) + '\n',
  );
  if (failures.length > 0) {
    process.stdout.write(`\nFAILED:\n${failures.map((failure) => `  - ${failure}`).join('\n')}\n`);
    process.exitCode = 1;
  } else {
    process.stdout.write('\nAll counts exact and all format targets met.\n');
  }
}

/** Writes the log and its truth unless both are cached from an identical run. */
async function ensureFormatLog(
  format: FormatName,
  lines: number,
  file: string,
): Promise<FormatTruth> {
  const truthPath = `${file}.truth.json`;
  if (existsSync(file) && existsSync(truthPath)) {
    const cached = JSON.parse(await readFile(truthPath, 'utf8')) as FormatTruth;
    if (cached.version === FORMAT_GENERATOR_VERSION && (await stat(file)).size === cached.bytes) {
      process.stderr.write(`using cached ${path.relative(ROOT, file)}\n`);
      return cached;
    }
  }
  process.stderr.write(`writing ${path.relative(ROOT, file)} ...\n`);
  const truth = await writeFormatLog(format, lines, file);
  await writeFile(truthPath, JSON.stringify(truth) + '\n');
  return truth;
}

async function measureFormat(file: string, truth: FormatTruth): Promise<FormatMeasurement> {
  const storeDir = await mkdtemp(path.join(os.tmpdir(), 'smtp-auth-bench-'));
  const store = `duckdb:${path.join(storeDir, 'bench.duckdb')}`;
  try {
    const args = [CLI, 'ingest', '--store', store, '--timezone', 'UTC'];
    args.push('--year', String(truth.year), file);
    await warmPageCache(file);
    const loadBefore = os.loadavg()[0];
    const run = await runMeasured(args, storeDir);
    if (run.exitCode !== 0) {
      throw new Error(`ingest of ${file} exited with ${run.exitCode}:\n${run.stderrTail}`);
    }
    return {
      format: truth.format,
      lines: truth.lines,
      bytes: truth.bytes,
      seconds: run.seconds,
      cpuSeconds: run.cpuSeconds,
      peakRssBytes: run.peakRssBytes,
      loadBefore,
      problems: await compareFormatTruth(store, truth),
    };
  } finally {
    await rm(storeDir, { recursive: true, force: true });
  }
}

interface SummaryJson {
  messages: number;
  recipients: number;
  failures: number;
  tls: Record<string, number>;
}

/** Compares the summary and the per-account counts with the truth. */
async function compareFormatTruth(store: string, truth: FormatTruth): Promise<string[]> {
  const summary = (await report(store, 'summary')) as unknown as SummaryJson;
  const problems: string[] = [];
  for (const key of ['messages', 'recipients', 'failures'] as const) {
    if (summary[key] !== truth[key])
      problems.push(`${key}: expected ${truth[key]}, got ${summary[key]}`);
  }
  for (const [version, count] of Object.entries(summary.tls)) {
    const want = truth.tls[version] ?? 0;
    if (count !== want) problems.push(`messages over ${version}: expected ${want}, got ${count}`);
  }

  const accounts = (await report(store, 'accounts')) as {
    account: string;
    messages: number;
    recipients: number;
  }[];
  const actual = new Map(
    accounts.map((row) => [row.account, { messages: row.messages, recipients: row.recipients }]),
  );
  compareCounts('accounts', new Map(Object.entries(truth.accounts)), actual, problems);
  return problems;
}

function formatFailures(m: FormatMeasurement): string[] {
  const failures = m.problems.map((problem) => `${m.format}: ${problem}`);
  const target = FORMAT_TARGET_LINES_PER_SECOND[m.format];
  const speed = m.lines / m.seconds;
  if (target !== undefined && speed < target) {
    failures.push(
      `${m.format}: ${Math.round(speed).toLocaleString('en-US')} lines/s, target ${target.toLocaleString('en-US')}`,
    );
  }
  return failures;
}

function printFormatTable(measurements: FormatMeasurement[]): void {
  const headers = [
    'format',
    'lines',
    'MB',
    'seconds',
    'lines/s',
    'CPU s',
    'peak RSS MiB',
    'load',
    'exact',
  ];
  const rows = measurements.map((m) => [
    m.format,
    m.lines.toLocaleString('en-US'),
    (m.bytes / 1e6).toFixed(1),
    m.seconds.toFixed(2),
    Math.round(m.lines / m.seconds).toLocaleString('en-US'),
    m.cpuSeconds === null ? 'n/a' : m.cpuSeconds.toFixed(1),
    m.peakRssBytes === null ? 'n/a' : (m.peakRssBytes / 2 ** 20).toFixed(0),
    m.loadBefore.toFixed(1),
    m.problems.length === 0 ? 'yes' : 'NO',
  ]);
  process.stdout.write(resultTable(headers, rows));
  for (const m of measurements)
    for (const problem of m.problems) process.stdout.write(`${m.format}: ${problem}\n`);
}

// Scale ------------------------------------------------------------------------------------

/** Times `wc -l` and, where installed, pflogsumm on the same file for scale. */
async function timeScaleCommands(file: string): Promise<ScaleTiming[]> {
  const timings: ScaleTiming[] = [];
  timings.push({
    command: `wc -l ${path.relative(ROOT, file)}`,
    seconds: await timeCommand('wc', ['-l', file]),
  });
  if (await isInstalled('pflogsumm')) {
    timings.push({
      command: `pflogsumm ${path.relative(ROOT, file)}`,
      seconds: await timeCommand('pflogsumm', [file]),
    });
  } else {
    process.stderr.write('pflogsumm is not installed (apt-get install pflogsumm); skipping it\n');
  }
  return timings;
}

async function timeCommand(command: string, args: string[]): Promise<number> {
  const started = performance.now();
  await new Promise<void>((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'ignore', 'inherit'] });
    child.on('error', reject);
    child.on('close', (code) =>
      code === 0
        ? resolve()
        : reject(new Error(`${command} ${args.join(' ')} exited with ${code}`)),
    );
  });
  return (performance.now() - started) / 1000;
}

async function isInstalled(command: string): Promise<boolean> {
  try {
    await execFileAsync('sh', ['-c', `command -v ${command}`]);
    return true;
  } catch {
    return false;
  }
}

// Output -----------------------------------------------------------------------------------

function machine(): Record<string, string | number> {
  return {
    cpus: os.availableParallelism(),
    cpuModel: os.cpus()[0]?.model ?? 'unknown',
    memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    node: process.version,
    platform: `${os.type()} ${os.release()} ${os.arch()}`,
  };
}

function printMachine(): void {
  const info = machine();
  process.stdout.write(
    `machine: ${info.cpus} CPUs (${info.cpuModel}), ${info.memoryGiB} GiB, Node ${info.node}, ${info.platform}\n`,
  );
}

function printTable(measurements: Measurement[], scale: ScaleTiming[]): void {
  const headers = [
    'file',
    'lines',
    'MB',
    'seconds',
    'lines/s',
    'MB/s',
    'CPU s',
    'peak RSS MiB',
    'load',
    'exact',
  ];
  const rows = measurements.map((m) => [
    m.name,
    m.lines.toLocaleString('en-US'),
    (m.fileBytes / 1e6).toFixed(1),
    m.seconds.toFixed(2),
    Math.round(m.lines / m.seconds).toLocaleString('en-US'),
    (m.textBytes / 1e6 / m.seconds).toFixed(1),
    m.cpuSeconds === null ? 'n/a' : m.cpuSeconds.toFixed(1),
    m.peakRssBytes === null ? 'n/a' : (m.peakRssBytes / 2 ** 20).toFixed(0),
    m.loadBefore.toFixed(1),
    m.exact ? 'yes' : 'NO',
  ]);

  process.stdout.write(resultTable(headers, rows));
  process.stdout.write(
    'MB (10^6 bytes) is the file on disk; MB/s counts the uncompressed log text. Time includes\n' +
      'Node start-up. Peak RSS is in MiB (2^20 bytes), as GNU time reports it in KiB.\n' +
      'CPU s is user plus system time of the ingest process; load is the 1-minute load average\n' +
      `before the run (${os.availableParallelism()} CPUs: a higher load means other processes competed).\n`,
  );
  for (const timing of scale)
    process.stdout.write(`for scale: ${timing.command}: ${timing.seconds.toFixed(2)} s\n`);
  for (const m of measurements)
    for (const problem of m.problems) process.stdout.write(`${m.name}: ${problem}\n`);
}

/** Render a results table: the first column left-aligned, the numbers right-aligned. */
function resultTable(headers: string[], rows: string[][]): string {
  const widths = headers.map((header, i) =>
    Math.max(header.length, ...rows.map((row) => row[i].length)),
  );
  const line = (cells: string[]): string =>
    cells
      .map((cell, i) => (i === 0 ? cell.padEnd(widths[i]) : cell.padStart(widths[i])))
      .join('  ') + '\n';
  return '\n' + [headers, widths.map((width) => '-'.repeat(width)), ...rows].map(line).join('');
}

/** Returns the broken targets and inexact counts as sentences. */
function checkTargets(measurements: Measurement[], quick: boolean): string[] {
  const failures: string[] = [];
  for (const m of measurements) {
    if (!m.exact)
      failures.push(
        `${m.name}: the reports differ from the truth (${m.problems.length} problems listed above)`,
      );
    if (m.peakRssBytes !== null && m.peakRssBytes >= TARGETS.peakRssBytes) {
      failures.push(
        `${m.name}: peak RSS ${(m.peakRssBytes / 2 ** 20).toFixed(0)} MiB, target below ${TARGETS.peakRssBytes / 2 ** 20} MiB`,
      );
    }
    if (quick || m.lines < 10_000_000) continue;
    const target = m.gzip ? TARGETS.gzipLinesPerSecond : TARGETS.plainLinesPerSecond;
    const rate = m.lines / m.seconds;
    if (rate < target)
      failures.push(
        `${m.name}: ${Math.round(rate).toLocaleString('en-US')} lines/s, target ${target.toLocaleString('en-US')}`,
      );
  }
  return failures;
}

main().catch((error: unknown) => {
  process.stderr.write(
    `${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
  );
  process.exitCode = 1;
});
