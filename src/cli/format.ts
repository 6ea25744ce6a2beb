/** Output helpers: aligned text tables, CSV and JSON, all written to standard output. */

import { printable } from '../text.js';

export type Cell = string | number | null | undefined | string[];

/**
 * A CSV cell. Values come from log lines an attacker controls (a failed login logs
 * whatever name was typed), so a cell that a spreadsheet would run as a formula, one
 * starting with `=`, `+`, `-` or `@` (or a tab or carriage return), gets a leading `'`.
 */
export function csvCell(value: Cell): string {
  if (value === null || value === undefined) return '';
  if (typeof value === 'number') return String(value);
  let text = Array.isArray(value) ? value.join(' ') : value;
  if (/^[=+\-@\t\r]/.test(text)) text = `'${text}`;
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

export function csvLine(values: Cell[]): string {
  return values.map(csvCell).join(',') + '\n';
}

/** An aligned table; numbers are right-aligned. */
export function textTable(headers: string[], rows: Cell[][]): string {
  const cells = rows.map((row) => row.map(textCell));
  const widths = headers.map((h, i) => Math.max(h.length, ...cells.map((row) => row[i].length)));
  const numeric = headers.map(
    (_, i) => rows.length > 0 && rows.every((row) => typeof row[i] === 'number'),
  );

  const render = (row: string[]) =>
    row
      .map((cell, i) => (numeric[i] ? cell.padStart(widths[i]) : cell.padEnd(widths[i])))
      .join('  ')
      .trimEnd();
  const rule = widths.map((w) => '-'.repeat(w)).join('  ');
  return [render(headers), rule, ...cells.map(render)].join('\n') + '\n';
}

function textCell(value: Cell): string {
  if (value === null || value === undefined) return '-';
  if (Array.isArray(value)) return value.join(', ');
  return printable(String(value));
}
