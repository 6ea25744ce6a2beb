/**
 * The choice of reader for each line. Postfix has its own fast path. The readers here take the
 * lines of the other formats: syslog lines by their program name, and whole files by
 * format detection on their first lines (or `--log-format`).
 */
import { DovecotCorrelator, DovecotLogFileCorrelator } from '../correlate/dovecot.js';
import { ExchangeCorrelator } from '../correlate/exchange.js';
import { EximCorrelator } from '../correlate/exim.js';
import { OpenSmtpdCorrelator } from '../correlate/opensmtpd.js';
import { SendmailCorrelator } from '../correlate/sendmail.js';
import { looksLikeDovecotLog } from '../parsers/dovecot/log-file.js';
import { looksLikeExchangeSmtpReceive } from '../parsers/exchange/files.js';
import { looksLikeEximMainLog } from '../parsers/exim/header.js';
import type {
  CorrelatorOptions,
  FileCorrelator,
  FormatSniffer,
  LogFormat,
  SyslogCorrelator,
} from './correlator.js';

/** Options of the readers of whole files; `year` and `referenceMs` date yearless stamps. */
export interface FileReaderOptions extends CorrelatorOptions {
  year?: number;
  referenceMs?: number;
}

/** A file correlator that may hold messages until the end of its input. */
export type FileReader = FileCorrelator & { finish?(): void };

export interface FileFormat {
  format: LogFormat;
  sniff: FormatSniffer;
  create(options: FileReaderOptions): FileReader;
}

/** Formats with files of their own, in the order detection tries them. */
export const FILE_FORMATS: readonly FileFormat[] = [
  { format: 'exim', sniff: looksLikeEximMainLog, create: (o) => new EximCorrelator(o) },
  {
    format: 'exchange',
    sniff: looksLikeExchangeSmtpReceive,
    create: (o) => new ExchangeCorrelator(o),
  },
  { format: 'dovecot', sniff: looksLikeDovecotLog, create: (o) => new DovecotLogFileCorrelator(o) },
];

/** Syslog-borne formats other than Postfix. */
export const SYSLOG_FORMATS = ['sendmail', 'opensmtpd', 'dovecot'] as const satisfies LogFormat[];

/** Detect the format of a file from its first lines; null for syslog files. */
export function detectFileFormat(firstLines: string[]): FileFormat | null {
  return FILE_FORMATS.find((entry) => entry.sniff(firstLines)) ?? null;
}

export function fileFormatNamed(format: LogFormat): FileFormat | null {
  return FILE_FORMATS.find((entry) => entry.format === format) ?? null;
}

/**
 * The syslog readers of one ingest run. The program name of a line picks its reader once,
 * and the choice is cached, because a log has few distinct programs.
 */
export class SyslogReaders {
  private readonly readers: SyslogCorrelator[];
  private readonly byProgram = new Map<string, SyslogCorrelator | null>();

  constructor(options: CorrelatorOptions, only?: LogFormat) {
    const all: SyslogCorrelator[] = [
      new SendmailCorrelator(options),
      new OpenSmtpdCorrelator(options),
      new DovecotCorrelator(options),
    ];
    this.readers = only === undefined ? all : all.filter((reader) => reader.format === only);
  }

  /** Find the reader of lines from `program`; null when no format reads them. */
  readerFor(program: string): SyslogCorrelator | null {
    let reader = this.byProgram.get(program);
    if (reader === undefined) {
      reader = this.readers.find((candidate) => candidate.accepts(program)) ?? null;
      this.byProgram.set(program, reader);
    }
    return reader;
  }

  /** Take the state of every reader, keyed by format. */
  snapshot(): Record<string, unknown> {
    const states: Record<string, unknown> = {};
    for (const reader of this.readers) states[reader.format] = reader.snapshot();
    return states;
  }

  restore(states: Record<string, unknown>): void {
    for (const reader of this.readers) {
      if (states[reader.format] !== undefined) reader.restore(states[reader.format]);
    }
  }
}
