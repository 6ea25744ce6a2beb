/**
 * Rows of Microsoft Exchange Server SMTP protocol logs (Exchange 2007 to 2019). Each
 * transport service writes CSV files with a W3C-style header:
 *
 *   #Software: Microsoft Exchange Server
 *   #Version: 15.0.0.0
 *   #Log-type: SMTP Receive Protocol Log
 *   #Date: 2026-12-04T15:00:00.123Z
 *   #Fields: date-time,connector-id,session-id,sequence-number,local-endpoint,remote-endpoint,event,data,context
 *
 * `event` is `+` (connect), `-` (disconnect), `<` (received from the client), `>` (sent to
 * the client) or `*` (information). Fields that hold a comma or a quote are quoted, with
 * quotes doubled inside.
 */

/** Column names of the SMTP protocol logs, in the order Exchange writes them. */
export const EXCHANGE_FIELDS = [
  'date-time',
  'connector-id',
  'session-id',
  'sequence-number',
  'local-endpoint',
  'remote-endpoint',
  'event',
  'data',
  'context',
] as const;

export type ExchangeEvent = '+' | '-' | '<' | '>' | '*';

export interface ExchangeRow {
  /** Milliseconds since the epoch, UTC. */
  time: number;
  connectorId: string;
  sessionId: string;
  sequence: number;
  localEndpoint: string;
  remoteEndpoint: string;
  event: ExchangeEvent;
  data: string;
  context: string;
}

/** Column positions from a `#Fields:` header, or the default order for files without one. */
export type FieldIndex = Record<(typeof EXCHANGE_FIELDS)[number], number>;

export const DEFAULT_FIELD_INDEX: FieldIndex = Object.fromEntries(
  EXCHANGE_FIELDS.map((name, i) => [name, i]),
) as FieldIndex;

const EVENTS = new Set(['+', '-', '<', '>', '*']);
const ISO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?Z$/;

/**
 * Splits one CSV line into fields (RFC 4180 quoting, as Exchange writes it). Returns null
 * when a quoted field is not closed.
 */
export function splitCsv(line: string): string[] | null {
  const fields: string[] = [];
  let i = 0;
  for (;;) {
    if (line.charCodeAt(i) === 34) {
      const quoted = readQuoted(line, i + 1);
      if (!quoted) return null;
      fields.push(quoted.value);
      i = quoted.end;
    } else {
      const comma = line.indexOf(',', i);
      const end = comma < 0 ? line.length : comma;
      fields.push(line.slice(i, end));
      i = end;
    }
    if (i >= line.length) return fields;
    if (line.charCodeAt(i) !== 44) return null;
    i++;
  }
}

/** Reads the quoted field after the quote at `start - 1`, and returns it with the index after it. */
function readQuoted(line: string, start: number): { value: string; end: number } | null {
  let value = '';
  let i = start;
  for (;;) {
    const quote = line.indexOf('"', i);
    if (quote < 0) return null;
    value += line.slice(i, quote);
    if (line.charCodeAt(quote + 1) !== 34) return { value, end: quote + 1 };
    value += '"';
    i = quote + 2;
  }
}

/** Reads column positions from the text after `#Fields: `, or null when a column is missing. */
export function parseFieldsHeader(text: string): FieldIndex | null {
  const names = text.split(',').map((name) => name.trim().toLowerCase());
  const index: Partial<FieldIndex> = {};
  for (const field of EXCHANGE_FIELDS) {
    const at = names.indexOf(field);
    if (at < 0) return null;
    index[field] = at;
  }
  return index as FieldIndex;
}

/** Parses a CSV line into a row, or returns why it is not one. */
export function parseRow(line: string, index: FieldIndex): ExchangeRow | { malformed: string } {
  const fields = splitCsv(line);
  if (!fields) return { malformed: 'unclosed quote in CSV row' };
  if (fields.length <= Math.max(...Object.values(index))) {
    return { malformed: `${fields.length} fields, expected ${EXCHANGE_FIELDS.length}` };
  }

  const dateTime = fields[index['date-time']];
  const event = fields[index.event];
  if (!ISO_TIME.test(dateTime)) return { malformed: `invalid date-time "${dateTime}"` };
  if (!EVENTS.has(event)) return { malformed: `invalid event "${event}"` };

  return {
    time: Date.parse(dateTime),
    connectorId: fields[index['connector-id']],
    sessionId: fields[index['session-id']],
    sequence: Number(fields[index['sequence-number']]),
    localEndpoint: fields[index['local-endpoint']],
    remoteEndpoint: fields[index['remote-endpoint']],
    event: event as ExchangeEvent,
    data: fields[index.data],
    context: fields[index.context],
  };
}

/** Returns the address of an endpoint such as `192.0.2.1:25` or `[2001:db8::1]:25`. */
export function endpointAddress(endpoint: string): string {
  if (endpoint.startsWith('[')) {
    const close = endpoint.indexOf(']');
    return close < 0 ? endpoint : endpoint.slice(1, close);
  }
  const colon = endpoint.lastIndexOf(':');
  // More than one colon without brackets is a bare IPv6 address.
  if (colon < 0 || endpoint.indexOf(':') !== colon) return endpoint;
  return endpoint.slice(0, colon);
}
