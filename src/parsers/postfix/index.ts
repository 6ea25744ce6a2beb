import { lastIndexOfByte, type SyslogHeader } from '../syslog.js';
import { bytesAt } from './client.js';

/** The Postfix daemons whose lines hold SMTP AUTH facts. */
export type PostfixDaemon = 'smtpd' | 'qmgr' | 'other';

const POSTFIX = Buffer.from('postfix');
const SMTPD = Buffer.from('smtpd');
const QMGR = Buffer.from('qmgr');
const SLASH = 47;

/**
 * The daemon of a Postfix syslog tag, or null when the tag is not Postfix's. Tags are
 * `syslog_name/daemon[pid]`, and syslog_name varies: `postfix`, `postfix/submission`,
 * `postfix-secondary` (a second instance), `postfix/smtps`.
 */
export function postfixDaemon(bytes: Buffer, h: SyslogHeader): PostfixDaemon | null {
  if (!bytesAt(bytes, h.tagStart, h.tagNameEnd, POSTFIX)) return null;

  const slash = lastIndexOfByte(bytes, SLASH, h.tagStart, h.tagNameEnd);
  if (slash < 0) return null;

  const nameStart = slash + 1;
  const length = h.tagNameEnd - nameStart;
  if (length === 5 && bytesAt(bytes, nameStart, h.tagNameEnd, SMTPD)) return 'smtpd';
  if (length === 4 && bytesAt(bytes, nameStart, h.tagNameEnd, QMGR)) return 'qmgr';
  return 'other';
}
