/**
 * Values in ClickHouse SQL. ClickHouse 18.16 (Debian 12's package) has no query parameters,
 * so every value that reaches a query's text goes through sqlValue. A server with query
 * parameters (ClickHouse 19.15 and later) would need a change here and nowhere else: the
 * `sql` tag would collect the values as parameters and write `{pN:Type}` in their place.
 */

/** A value that sqlValue can write: arrays may nest, and Date means an instant in UTC. */
export type SqlValue = string | number | bigint | boolean | null | Date | readonly SqlValue[];

/** A piece of SQL text that is already safe: the result of the `sql` tag or sqlIdentifier. */
export class SqlText {
  constructor(readonly text: string) {}

  toString(): string {
    return this.text;
  }
}

/**
 * Characters that a ClickHouse string literal needs escaped, with their escapes. Quote and
 * backslash end or change a literal. NUL, line breaks and tabs are legal inside quotes, but
 * escaped they keep each statement on one line in the server's query log.
 */
const STRING_ESCAPES: Record<string, string> = {
  '\\': '\\\\',
  "'": "\\'",
  '\0': '\\0',
  '\n': '\\n',
  '\r': '\\r',
  '\t': '\\t',
  '\b': '\\b',
  '\f': '\\f',
};

/** Any character in STRING_ESCAPES. */
const NEEDS_ESCAPE = /[\\'\0\n\r\t\b\f]/g;

/** A UTF-16 surrogate without its partner, which has no UTF-8 encoding. */
const LONE_SURROGATE = /\p{Cs}/u;

/** A ClickHouse identifier that needs no quoting, such as a database or table name. */
const PLAIN_IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * Writes one value as a ClickHouse SQL literal: strings quoted and escaped, numbers in
 * decimal, Date as `toDateTime(seconds, 'UTC')`, arrays as `[...]`, null as NULL.
 *
 * Throws a RangeError for a value that has no exact literal. Such values are a number that
 * is not finite, an invalid Date, and a Date with milliseconds (DateTime counts whole
 * seconds). A string with a lone UTF-16 surrogate is one too: UTF-8 cannot encode it, so the
 * server would store U+FFFD.
 */
export function sqlValue(value: SqlValue): string {
  if (value === null) return 'NULL';

  switch (typeof value) {
    case 'string':
      return stringLiteral(value);
    case 'number':
      return numberLiteral(value);
    case 'bigint':
      return value.toString();
    case 'boolean':
      return value ? '1' : '0';
  }

  if (value instanceof Date) return dateLiteral(value);
  return `[${value.map((item) => sqlValue(item)).join(', ')}]`;
}

/**
 * Builds SQL text from a template literal: each `${value}` goes through sqlValue, except
 * SqlText (another `sql` result, or sqlIdentifier), which is inserted as it is.
 */
export function sql(strings: TemplateStringsArray, ...values: (SqlValue | SqlText)[]): SqlText {
  let text = strings[0];
  for (let i = 0; i < values.length; i++) {
    const value = values[i];
    text += value instanceof SqlText ? value.text : sqlValue(value);
    text += strings[i + 1];
  }
  return new SqlText(text);
}

/**
 * Writes `(v1, v2, ...)` for the right side of IN, each value through sqlValue. ClickHouse
 * 18.16 has no empty tuple, so an empty list throws: a caller skips the condition instead.
 */
export function sqlTuple(values: readonly SqlValue[]): SqlText {
  if (values.length === 0) throw new RangeError('IN needs at least one value');
  return new SqlText(`(${values.map((value) => sqlValue(value)).join(', ')})`);
}

/**
 * Writes a database or table name. Only plain names are accepted, so that a name never
 * needs quoting; the store URL checks the database name with isPlainIdentifier first.
 */
export function sqlIdentifier(name: string): SqlText {
  if (!isPlainIdentifier(name)) {
    throw new RangeError(`invalid ClickHouse identifier ${JSON.stringify(name)}`);
  }
  return new SqlText(name);
}

export function isPlainIdentifier(name: string): boolean {
  return PLAIN_IDENTIFIER.test(name);
}

function stringLiteral(value: string): string {
  if (LONE_SURROGATE.test(value)) {
    throw new RangeError(`string has a lone UTF-16 surrogate: ${JSON.stringify(value)}`);
  }
  return `'${value.replace(NEEDS_ESCAPE, (char) => STRING_ESCAPES[char])}'`;
}

function numberLiteral(value: number): string {
  if (!Number.isFinite(value)) throw new RangeError(`number ${value} has no SQL literal`);

  // A negative literal in parentheses, so that `x-${value}` never reads as `x--1`, a comment.
  const text = Object.is(value, -0) ? '0' : String(value);
  return value < 0 ? `(${text})` : text;
}

function dateLiteral(value: Date): string {
  const ms = value.getTime();
  if (Number.isNaN(ms)) throw new RangeError('invalid Date has no SQL literal');
  if (ms % 1000 !== 0) {
    throw new RangeError(
      `${value.toISOString()} has milliseconds, which DateTime cannot hold; pass whole seconds`,
    );
  }
  return `toDateTime(${numberLiteral(ms / 1000)}, 'UTC')`;
}
