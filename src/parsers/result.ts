/**
 * What a parser returns for one line: a typed record, or one of these markers.
 * - `SKIPPED`: the program is one we read, but the line holds no SMTP AUTH fact (a delivery,
 *   a cleanup line). Not an error and not reported.
 * - `unsupported`: a line from a program or in a form this version does not read. Counted.
 * - `malformed`: a line that should hold a fact but cannot be read. Counted and reported with
 *   file and line number; never fatal.
 */
export const SKIPPED = Symbol('skipped');
export const UNSUPPORTED = Symbol('unsupported');

export interface Malformed {
  malformed: string;
}

export function malformed(reason: string): Malformed {
  return { malformed: reason };
}

export function isMalformed(value: unknown): value is Malformed {
  return typeof value === 'object' && value !== null && 'malformed' in value;
}
