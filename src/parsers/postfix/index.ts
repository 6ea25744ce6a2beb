import type { SyslogHeader } from '../syslog.js';

/** The Postfix daemons whose lines hold SMTP AUTH facts. */
export type PostfixDaemon = 'smtpd' | 'qmgr' | 'other';

/**
 * The daemon of a Postfix syslog tag, or null when the tag is not Postfix's. Tags are
 * `syslog_name/daemon[pid]`, and syslog_name varies: `postfix`, `postfix/submission`,
 * `postfix-secondary` (a second instance), `postfix/smtps`.
 */
export function postfixDaemon(text: string, h: SyslogHeader): PostfixDaemon | null {
  if (!text.startsWith('postfix', h.tagStart)) return null;

  const slash = text.lastIndexOf('/', h.tagNameEnd);
  if (slash < h.tagStart) return null;

  const nameStart = slash + 1;
  const length = h.tagNameEnd - nameStart;
  if (length === 5 && text.startsWith('smtpd', nameStart)) return 'smtpd';
  if (length === 4 && text.startsWith('qmgr', nameStart)) return 'qmgr';
  return 'other';
}
