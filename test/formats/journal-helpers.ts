/**
 * Builds real systemd journal files from syslog lines with `systemd-journal-remote` (Debian
 * package systemd-journal-remote), so tests read them back with the real `journalctl`.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import path from 'node:path';

export const JOURNAL_REMOTE = '/lib/systemd/systemd-journal-remote';

/** Why the journal tests cannot run here, or null when they can. */
export function journalToolsMissing(): string | null {
  if (!existsSync(JOURNAL_REMOTE))
    return `${JOURNAL_REMOTE} is missing (apt-get install systemd-journal-remote)`;
  try {
    execFileSync('journalctl', ['--version'], { stdio: 'ignore' });
  } catch {
    return 'journalctl is missing (apt-get install systemd)';
  }
  return null;
}

/** The boot the entries belong to: 1 December 2026, 00:00 UTC. */
const BOOT_MICROS = 1796083200000000n;

const SYSLOG_LINE = /^(\d{4}-\d{2}-\d{2}T[\d:.]+Z) (\S+) ([^\s[]+)\[(\d+)\]: (.*)$/;

/** One journal entry in the export format for an RFC 3339 UTC syslog line. */
function exportEntry(line: string, sequence: number, facility: number): string {
  const match = SYSLOG_LINE.exec(line);
  if (!match) throw new Error(`not an RFC 3339 UTC syslog line: ${line}`);

  const [, time, host, tag, pid, message] = match;
  const micros = BigInt(Date.parse(time)) * 1000n + BigInt(sequence % 1000);
  return [
    `__REALTIME_TIMESTAMP=${micros}`,
    // Real entries of one boot have monotonic times that grow with their real times.
    `__MONOTONIC_TIMESTAMP=${micros - BOOT_MICROS}`,
    '_BOOT_ID=0123456789abcdef0123456789abcdef',
    '_MACHINE_ID=0123456789abcdef0123456789abcdef',
    `_HOSTNAME=${host}`,
    `SYSLOG_FACILITY=${facility}`,
    `SYSLOG_IDENTIFIER=${tag}`,
    `_PID=${pid}`,
    `MESSAGE=${message}`,
    '',
    '',
  ].join('\n');
}

/**
 * Write `lines` (RFC 3339 UTC syslog lines) as a journal file `name` in `folder`, with the
 * mail facility (2) unless another is given.
 */
export function writeJournal(folder: string, name: string, lines: string[], facility = 2): string {
  const exported = path.join(folder, `${name}.export`);
  writeFileSync(exported, lines.map((line, i) => exportEntry(line, i, facility)).join(''));
  const journal = path.join(folder, `${name}.journal`);
  execFileSync(JOURNAL_REMOTE, [`--output=${journal}`, exported], { stdio: 'ignore' });
  return journal;
}
