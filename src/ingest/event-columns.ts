import {
  saslMechanismOf,
  senderDomainOf,
  type AuthFailure,
  type SubmittedMessage,
} from '../events.js';
import { ColumnWriter } from './column-writer.js';

/**
 * How a column's values are written in a batch.
 * - `text`: a string that is never null.
 * - `nullable`: a string or null; a value is written after a `+`, and null as nothing, so
 *   that the empty string and null stay apart.
 * - `integer`: a whole number in decimal.
 * - `timestamp`: milliseconds since the epoch, in decimal.
 */
export type ColumnKind = 'text' | 'nullable' | 'integer' | 'timestamp';

export interface EventColumn {
  name: string;
  kind: ColumnKind;
}

/**
 * A batch of events as columns, in parts of at most PART_EVENTS events. In a part, each
 * column is one buffer: its values joined by newlines, in UTF-8. The store hands a part to
 * DuckDB as one value per column, which DuckDB splits itself (see DuckDBStore.writeBatch),
 * instead of one native call per field. No value contains a newline, because every value
 * comes from one log line (the builder checks the others).
 */
export interface EventColumns {
  messageCount: number;
  /** Parts whose columns follow MESSAGE_COLUMNS. */
  messages: ColumnsPart[];
  failureCount: number;
  /** Parts whose columns follow FAILURE_COLUMNS. */
  failures: ColumnsPart[];
}

export interface ColumnsPart {
  count: number;
  /**
   * Buffers rather than strings, because a batch keeps its parts until it is stored. The
   * garbage collector copies strings that live that long, but a buffer's bytes lie outside
   * the JavaScript heap.
   */
  columns: Buffer[];
}

/** The columns of submitted_messages that events fill, in the order the builder writes them. */
export const MESSAGE_COLUMNS: readonly EventColumn[] = [
  { name: 'ts', kind: 'timestamp' },
  { name: 'server', kind: 'text' },
  { name: 'service', kind: 'text' },
  { name: 'queue_id', kind: 'text' },
  { name: 'account', kind: 'text' },
  { name: 'sasl_method', kind: 'text' },
  { name: 'sasl_mechanism', kind: 'text' },
  { name: 'sender_address', kind: 'text' },
  { name: 'sender_domain', kind: 'text' },
  { name: 'client_ip', kind: 'text' },
  { name: 'client_name', kind: 'text' },
  { name: 'helo', kind: 'nullable' },
  { name: 'tls_protocol', kind: 'text' },
  { name: 'tls_evidence', kind: 'text' },
  { name: 'tls_cipher', kind: 'nullable' },
  { name: 'recipients', kind: 'integer' },
  { name: 'size', kind: 'integer' },
];

/** The columns of auth_failures that events fill, in the order the builder writes them. */
export const FAILURE_COLUMNS: readonly EventColumn[] = [
  { name: 'ts', kind: 'timestamp' },
  { name: 'server', kind: 'text' },
  { name: 'service', kind: 'text' },
  { name: 'attempted_username', kind: 'nullable' },
  { name: 'sasl_method', kind: 'text' },
  { name: 'sasl_mechanism', kind: 'text' },
  { name: 'client_ip', kind: 'text' },
  { name: 'client_name', kind: 'text' },
  { name: 'tls_protocol', kind: 'text' },
  { name: 'tls_evidence', kind: 'text' },
  { name: 'reason', kind: 'text' },
];

/**
 * Events in one part. DuckDB needed much less memory for many small inserts than for a few
 * large ones, and 2048 is DuckDB's vector size, so each insert fills one vector.
 */
export const PART_EVENTS = 2048;

/** Collects events into EventColumns. */
export class EventColumnsBuilder {
  private readonly messages = new ColumnsBuilder(MESSAGE_COLUMNS);
  private readonly failures = new ColumnsBuilder(FAILURE_COLUMNS);

  get size(): number {
    return this.messages.count + this.failures.count;
  }

  addMessage(m: SubmittedMessage): void {
    const c = this.messages.writers;
    c[0].integer(m.time);
    c[1].text(line(m.server));
    c[2].text(line(m.service));
    c[3].text(m.queueId);
    c[4].text(m.account);
    c[5].text(m.saslMethod);
    c[6].text(saslMechanismOf(m));
    c[7].text(m.senderAddress);
    c[8].text(senderDomainOf(m.senderAddress));
    c[9].text(m.clientIp);
    c[10].text(m.clientName);
    c[11].nullable(m.helo);
    c[12].text(m.tlsProtocol);
    c[13].text(m.tlsEvidence);
    c[14].nullable(m.tlsCipher);
    c[15].integer(m.recipients);
    c[16].integer(m.size);
    this.messages.added();
  }

  addFailure(f: AuthFailure): void {
    const c = this.failures.writers;
    c[0].integer(f.time);
    c[1].text(line(f.server));
    c[2].text(line(f.service));
    c[3].nullable(f.attemptedUsername);
    c[4].text(f.saslMethod);
    c[5].text(saslMechanismOf(f));
    c[6].text(f.clientIp);
    c[7].text(f.clientName);
    c[8].text(f.tlsProtocol);
    c[9].text(f.tlsEvidence);
    c[10].text(f.reason);
    this.failures.added();
  }

  /** The batch so far, and a new empty one begun. */
  take(): EventColumns {
    const messageCount = this.messages.count;
    const failureCount = this.failures.count;
    return {
      messageCount,
      messages: this.messages.take(),
      failureCount,
      failures: this.failures.take(),
    };
  }
}

/** The columns of one table: writers for the current part, and the parts written so far. */
class ColumnsBuilder {
  writers: ColumnWriter[];
  count = 0;
  private partCount = 0;
  private parts: ColumnsPart[] = [];

  constructor(columns: readonly EventColumn[]) {
    this.writers = columns.map(() => new ColumnWriter());
  }

  added(): void {
    this.count++;
    this.partCount++;
    if (this.partCount >= PART_EVENTS) this.endPart();
  }

  take(): ColumnsPart[] {
    this.endPart();
    const parts = this.parts;
    this.parts = [];
    this.count = 0;
    return parts;
  }

  private endPart(): void {
    if (this.partCount === 0) return;
    const columns = this.writers.map((writer) => writer.take());
    this.parts.push({ count: this.partCount, columns });
    // A part's columns are about as long as the last part's.
    this.writers = columns.map((bytes) => new ColumnWriter(bytes.length + bytes.length / 4));
    this.partCount = 0;
  }
}

/**
 * Replace line breaks in the server or the service, the values that can come from outside
 * a log line (`--server-name`, saved state).
 */
function line(value: string): string {
  return value.includes('\n') ? value.replace(/\n/g, ' ') : value;
}
