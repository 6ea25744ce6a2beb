const NEWLINE = 10;
const PLUS = 43;
const MIN_BYTES = 4096;

/**
 * One column of a part: its values as UTF-8 with a newline between two values. ASCII
 * characters are copied one by one, which for the short values of a log costs less than
 * collecting strings in an array, joining them and encoding the result.
 */
export class ColumnWriter {
  private bytes: Buffer;
  private length = 0;
  private count = 0;

  constructor(expectedBytes = MIN_BYTES) {
    this.bytes = Buffer.allocUnsafe(Math.max(MIN_BYTES, expectedBytes));
  }

  /** Append a string that is never null. */
  text(value: string): void {
    this.reserve(value.length * 3);
    this.length = this.copy(value, this.separate());
  }

  /** Append a string or null: a value after a `+`, null as nothing (see ColumnKind). */
  nullable(value: string | null): void {
    this.reserve(value === null ? 0 : value.length * 3 + 1);
    const at = this.separate();
    if (value === null) {
      this.length = at;
      return;
    }
    this.bytes[at] = PLUS;
    this.length = this.copy(value, at + 1);
  }

  /** Append a whole number in decimal. */
  integer(value: number): void {
    if (!Number.isSafeInteger(value) || value < 0) return this.text(String(value));

    this.reserve(16);
    const at = this.separate();
    let digits = 1;
    for (let rest = value; rest >= 10; rest = Math.floor(rest / 10)) digits++;

    let rest = value;
    for (let i = at + digits - 1; i >= at; i--) {
      this.bytes[i] = 48 + (rest % 10);
      rest = Math.floor(rest / 10);
    }
    this.length = at + digits;
  }

  /** Return the bytes written. The writer is done after this. */
  take(): Buffer {
    return this.bytes.subarray(0, this.length);
  }

  /** Write the newline before every value but the first; returns where the value goes. */
  private separate(): number {
    if (this.count++ === 0) return this.length;
    this.bytes[this.length] = NEWLINE;
    return this.length + 1;
  }

  /** Copy `value` to `at` and return the end: byte by byte while it is ASCII. */
  private copy(value: string, at: number): number {
    const bytes = this.bytes;
    for (let i = 0; i < value.length; i++) {
      const code = value.charCodeAt(i);
      if (code >= 0x80) return at + bytes.write(value, at, 'utf8');
      bytes[at + i] = code;
    }
    return at + value.length;
  }

  /** Make room for a separator and `bytes` more bytes. */
  private reserve(bytes: number): void {
    const needed = this.length + 1 + bytes;
    if (needed <= this.bytes.length) return;
    const larger = Buffer.allocUnsafe(Math.max(needed, this.bytes.length * 2));
    this.bytes.copy(larger, 0, 0, this.length);
    this.bytes = larger;
  }
}
