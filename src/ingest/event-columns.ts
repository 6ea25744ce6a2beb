import {
  normaliseMechanism,
  senderDomainOf,
  type AuthFailure,
  type SubmittedMessage,
} from '../events.js';

/**
 * A batch of events as columns: strings are stored once in a table and referred to by
 * index, numbers sit in typed arrays. Sending this from the parse worker to the store
 * copies a few arrays instead of cloning hundreds of thousands of objects, and most fields
 * (server, service, mechanism, TLS version) repeat on every row.
 */
export interface EventColumns {
  strings: string[];
  messageCount: number;
  /** MESSAGE_STRINGS.length references per message; -1 is SQL NULL. */
  messageRefs: Int32Array;
  /** MESSAGE_NUMBERS.length numbers per message. */
  messageNumbers: Float64Array;
  failureCount: number;
  failureRefs: Int32Array;
  failureNumbers: Float64Array;
}

/** String columns of submitted_messages, in table order after `ts`. */
export const MESSAGE_STRINGS = [
  'server',
  'service',
  'queue_id',
  'account',
  'sasl_method',
  'sasl_mechanism',
  'sender_address',
  'sender_domain',
  'client_ip',
  'client_name',
  'helo',
  'tls_protocol',
  'tls_evidence',
  'tls_cipher',
] as const;
/** Number columns of submitted_messages: `ts` in milliseconds, then the counts. */
export const MESSAGE_NUMBERS = ['ts', 'recipients', 'size'] as const;

export const FAILURE_STRINGS = [
  'server',
  'service',
  'attempted_username',
  'sasl_method',
  'sasl_mechanism',
  'client_ip',
  'client_name',
  'tls_protocol',
  'tls_evidence',
  'reason',
] as const;
export const FAILURE_NUMBERS = ['ts'] as const;

/** Collects events into EventColumns; one builder per batch keeps the string table small. */
export class EventColumnsBuilder {
  private strings: string[] = [];
  private index = new Map<string, number>();
  private messageRefs: number[] = [];
  private messageNumbers: number[] = [];
  private failureRefs: number[] = [];
  private failureNumbers: number[] = [];

  get size(): number {
    return this.messageNumbers.length / MESSAGE_NUMBERS.length + this.failureNumbers.length;
  }

  addMessage(m: SubmittedMessage): void {
    const refs = this.messageRefs;
    refs.push(this.shared(m.server), this.shared(m.service), this.own(m.queueId));
    refs.push(this.own(m.account), this.shared(m.saslMethod));
    refs.push(this.shared(normaliseMechanism(m.saslMethod)), this.own(m.senderAddress));
    refs.push(this.own(senderDomainOf(m.senderAddress)), this.own(m.clientIp));
    refs.push(this.own(m.clientName), this.own(m.helo), this.shared(m.tlsProtocol));
    refs.push(this.shared(m.tlsEvidence), this.own(m.tlsCipher));
    this.messageNumbers.push(m.time, m.recipients, m.size);
  }

  addFailure(f: AuthFailure): void {
    const refs = this.failureRefs;
    refs.push(this.shared(f.server), this.shared(f.service), this.own(f.attemptedUsername));
    refs.push(this.shared(f.saslMethod), this.shared(normaliseMechanism(f.saslMethod)));
    refs.push(this.own(f.clientIp), this.own(f.clientName), this.shared(f.tlsProtocol));
    refs.push(this.shared(f.tlsEvidence), this.own(f.reason));
    this.failureNumbers.push(f.time);
  }

  /** The batch so far, and a new empty one begun. */
  take(): EventColumns {
    const columns: EventColumns = {
      strings: this.strings,
      messageCount: this.messageNumbers.length / MESSAGE_NUMBERS.length,
      messageRefs: Int32Array.from(this.messageRefs),
      messageNumbers: Float64Array.from(this.messageNumbers),
      failureCount: this.failureNumbers.length / FAILURE_NUMBERS.length,
      failureRefs: Int32Array.from(this.failureRefs),
      failureNumbers: Float64Array.from(this.failureNumbers),
    };
    this.strings = [];
    this.index = new Map();
    this.messageRefs = [];
    this.messageNumbers = [];
    this.failureRefs = [];
    this.failureNumbers = [];
    return columns;
  }

  /** A value that differs on most rows (a queue id, a sender): stored without lookup. */
  private own(value: string | null): number {
    if (value === null) return -1;
    return this.strings.push(value) - 1;
  }

  /** A value that repeats on most rows (a server, a TLS version): stored once per batch. */
  private shared(value: string | null): number {
    if (value === null) return -1;
    let ref = this.index.get(value);
    if (ref === undefined) {
      ref = this.strings.length;
      this.strings.push(value);
      this.index.set(value, ref);
    }
    return ref;
  }
}

/** The typed arrays of a batch, which postMessage can move instead of copying. */
export function transferList(columns: EventColumns): ArrayBuffer[] {
  return [
    columns.messageRefs.buffer,
    columns.messageNumbers.buffer,
    columns.failureRefs.buffer,
    columns.failureNumbers.buffer,
  ] as ArrayBuffer[];
}
