/**
 * The exact counts that a correct reader of the generated log reports, collected from the lines
 * as they are written, so that the truth matches the file even where the line limit cut plans.
 */
import { Entry } from './schedule.js';

export const TLS_PROTOCOLS = ['TLSv1', 'TLSv1.1', 'TLSv1.2', 'TLSv1.3', 'none', 'unknown'] as const;

/** Messages and recipients per UTC day, account, mechanism, sender, client and TLS version. */
export interface MessageRow {
  day: string;
  account: string;
  saslMechanism: string;
  senderAddress: string;
  clientIp: string;
  tlsProtocol: string;
  messages: number;
  recipients: number;
}

export interface FailureRow {
  attemptedUsername: string | null;
  clientIp: string;
  failures: number;
}

export interface Truth {
  generator: {
    version: number;
    seed: string;
    lines: number;
    start: string;
    /** Year of the classic time stamps, which carry none; pass it to `ingest --year`. */
    year: number;
    server: string;
    spanDays: number;
  };
  log: { lines: number; bytes: number; firstLine: string; lastLine: string; sessions: number };
  totals: {
    messages: number;
    recipients: number;
    failures: number;
    accounts: number;
    days: number;
    messagesByTls: Record<string, number>;
    failuresWithUsername: number;
  };
  messages: MessageRow[];
  failures: FailureRow[];
}

const SEPARATOR = '\u0000';
const DAY_MS = 86_400_000;

export class TruthBuilder {
  private readonly messages = new Map<string, MessageRow>();
  private readonly failures = new Map<string, FailureRow>();
  private dayNumber = -1;
  private dayText = '';

  record(entry: Entry): void {
    const tally = entry.tally;
    if (tally === null) return;

    if (tally.kind === 'failure') {
      const key = `${tally.attemptedUsername ?? ''}${SEPARATOR}${tally.attemptedUsername === null ? 0 : 1}${SEPARATOR}${tally.clientIp}`;
      const row = this.failures.get(key);
      if (row !== undefined) row.failures++;
      else
        this.failures.set(key, {
          attemptedUsername: tally.attemptedUsername,
          clientIp: tally.clientIp,
          failures: 1,
        });
      return;
    }

    const day = this.dayOf(entry.time);
    const key = [
      day,
      tally.account,
      tally.saslMechanism,
      tally.senderAddress,
      tally.clientIp,
      tally.tlsProtocol,
    ].join(SEPARATOR);
    const row = this.messages.get(key);
    if (row !== undefined) {
      row.messages++;
      row.recipients += tally.recipients;
      return;
    }
    this.messages.set(key, {
      day,
      account: tally.account,
      saslMechanism: tally.saslMechanism,
      senderAddress: tally.senderAddress,
      clientIp: tally.clientIp,
      tlsProtocol: tally.tlsProtocol,
      messages: 1,
      recipients: tally.recipients,
    });
  }

  build(generator: Truth['generator'], log: Truth['log']): Truth {
    const messages = sortByKey([...this.messages.values()], messageKey);
    const failures = sortByKey([...this.failures.values()], failureKey);
    const messagesByTls = Object.fromEntries(TLS_PROTOCOLS.map((protocol) => [protocol, 0]));
    let recipients = 0;
    let total = 0;
    for (const row of messages) {
      messagesByTls[row.tlsProtocol] += row.messages;
      recipients += row.recipients;
      total += row.messages;
    }

    return {
      generator,
      log,
      totals: {
        messages: total,
        recipients,
        failures: failures.reduce((sum, row) => sum + row.failures, 0),
        accounts: new Set(messages.map((row) => row.account)).size,
        days: new Set(messages.map((row) => row.day)).size,
        messagesByTls,
        failuresWithUsername: failures
          .filter((row) => row.attemptedUsername !== null)
          .reduce((sum, row) => sum + row.failures, 0),
      },
      messages,
      failures,
    };
  }

  private dayOf(timeMs: number): string {
    const dayNumber = Math.floor(timeMs / DAY_MS);
    if (dayNumber !== this.dayNumber) {
      this.dayNumber = dayNumber;
      this.dayText = new Date(dayNumber * DAY_MS).toISOString().slice(0, 10);
    }
    return this.dayText;
  }
}

/** Key of a message row, shared by the generator and the benchmark's comparison. */
export function messageKey(row: Omit<MessageRow, 'messages' | 'recipients'>): string {
  return JSON.stringify([
    row.day,
    row.account,
    row.saslMechanism,
    row.senderAddress,
    row.clientIp,
    row.tlsProtocol,
  ]);
}

export function failureKey(row: Omit<FailureRow, 'failures'>): string {
  return JSON.stringify([row.attemptedUsername, row.clientIp]);
}

function compareStrings(a: string, b: string): number {
  if (a < b) return -1;
  return a > b ? 1 : 0;
}

function sortByKey<T>(rows: T[], keyOf: (row: T) => string): T[] {
  const keyed = rows.map((row) => ({ key: keyOf(row), row }));
  keyed.sort((a, b) => compareStrings(a.key, b.key));
  return keyed.map(({ row }) => row);
}
