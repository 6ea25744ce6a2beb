import { describe, expect, it } from 'vitest';

import { ColumnWriter } from '../../src/ingest/column-writer.js';

function written(write: (writer: ColumnWriter) => void, expectedBytes?: number): string {
  const writer = new ColumnWriter(expectedBytes);
  write(writer);
  return writer.take().toString('utf8');
}

describe('column writer', () => {
  it('puts a newline between values only', () => {
    expect(written((w) => ['a', 'bc', ''].forEach((v) => w.text(v)))).toBe('a\nbc\n');
    expect(written((w) => w.text(''))).toBe('');
    expect(written(() => {})).toBe('');
  });

  it('writes other characters as UTF-8', () => {
    const values = ['jürgen@example.org', 'ascii', '東京', 'mail 📨', 'lone \ud800 half'];
    const bytes = new ColumnWriter();
    for (const value of values) bytes.text(value);
    expect(bytes.take()).toEqual(Buffer.from(values.join('\n')));
  });

  it('keeps null apart from the empty string', () => {
    const result = written((w) => {
      w.nullable(null);
      w.nullable('');
      w.nullable('x');
      w.nullable(null);
    });
    expect(result).toBe('\n+\n+x\n');
  });

  it.each([
    [0, '0'],
    [9, '9'],
    [10, '10'],
    [1_796_000_123_456, '1796000123456'],
    [Number.MAX_SAFE_INTEGER, '9007199254740991'],
    [-5, '-5'],
    [2.5, '2.5'],
  ])('writes the number %d as %s', (value, text) => {
    expect(written((w) => w.integer(value))).toBe(text);
  });

  it('grows past its first buffer', () => {
    const values = Array.from({ length: 3000 }, (_, i) => `value-${i}-${'é'.repeat(i % 7)}`);
    const result = written((w) => values.forEach((v) => w.text(v)), 16);
    expect(result).toBe(values.join('\n'));
  });
});
