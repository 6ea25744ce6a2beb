/**
 * Ingest speed per log format. For Exim, Sendmail, OpenSMTPD, Dovecot and Exchange it writes a
 * log in the line shapes of the real logs in test/fixtures. The log has submissions with a
 * login, failed logins, and inbound port 25 mail that the report must skip. The exact counts
 * are kept as the lines are written, and the runner (bench/run.ts) compares the stored
 * summary and per-account counts with them.
 *
 *   npm run bench -- --formats                 10,000,000 lines of each format
 *   npm run bench -- --formats --format-lines N
 */
import { createWriteStream } from 'node:fs';
import { mkdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { once } from 'node:events';

import { Random } from './generator/random.js';

/** Raise it when the logs change, so that cached ones are written again. */
export const FORMAT_GENERATOR_VERSION = 2;

export const FORMAT_NAMES = ['exim', 'sendmail', 'opensmtpd', 'dovecot', 'exchange'] as const;
export type FormatName = (typeof FORMAT_NAMES)[number];

/** The TLS versions as the report names them, with their share of submissions. */
const TLS_MIX: readonly (readonly [TlsVersion, number])[] = [
  ['TLSv1.3', 0.5],
  ['TLSv1.2', 0.35],
  ['TLSv1.1', 0.04],
  ['TLSv1', 0.04],
  ['none', 0.07],
];
type TlsVersion = 'TLSv1.3' | 'TLSv1.2' | 'TLSv1.1' | 'TLSv1' | 'none';

/** Counts that a correct reader of the log reports. */
export interface FormatTruth {
  version: number;
  format: FormatName;
  lines: number;
  bytes: number;
  /** Year of the first line, for formats whose time stamps carry none. */
  year: number;
  messages: number;
  recipients: number;
  failures: number;
  tls: Record<string, number>;
  /** Messages and recipients per account. */
  accounts: Record<string, { messages: number; recipients: number }>;
}

/** One SMTP session of the log. */
interface Session {
  at: number;
  clientIp: string;
  helo: string;
  /** Undefined for inbound port 25 mail, which has no login. */
  account?: string;
  mechanism: 'PLAIN' | 'LOGIN';
  tls: TlsVersion;
  sender: string;
  recipients: string[];
  /** A failed login instead of a message. */
  failed: boolean;
}

const START_MS = Date.UTC(2026, 10, 2);
const SESSION_GAP_MS = 700;
const ACCOUNTS = 3000;
/**
 * Shares of the sessions: submissions with a login, failed logins, and inbound mail for the
 * rest. About one line in twenty becomes an event, as in the Postfix benchmark's log.
 */
const SHARE_SUBMISSION = 0.2;
const SHARE_FAILED = 0.05;

/** Writes one format's log of about `lines` lines and returns its truth. */
export async function writeFormatLog(
  format: FormatName,
  lines: number,
  file: string,
): Promise<FormatTruth> {
  await mkdir(path.dirname(file), { recursive: true });
  const out = createWriteStream(file);
  const writer = WRITERS[format]();
  const random = new Random(`formats-${format}`);
  const truth = emptyTruth(format);
  let chunk: string[] = [];

  for (let n = 0; truth.lines < lines; n++) {
    const session = nextSession(random, n);
    const written = writer(session, n);
    truth.lines += written.length;
    chunk.push(...written);
    countSession(truth, session);
    if (chunk.length >= 10_000) {
      if (!out.write(chunk.join('\n') + '\n')) await once(out, 'drain');
      chunk = [];
    }
  }

  if (chunk.length > 0) out.write(chunk.join('\n') + '\n');
  out.end();
  await once(out, 'close');
  truth.bytes = (await stat(file)).size;
  return truth;
}

function emptyTruth(format: FormatName): FormatTruth {
  return {
    version: FORMAT_GENERATOR_VERSION,
    format,
    lines: 0,
    bytes: 0,
    year: new Date(START_MS).getUTCFullYear(),
    messages: 0,
    recipients: 0,
    failures: 0,
    tls: {},
    accounts: {},
  };
}

function countSession(truth: FormatTruth, session: Session): void {
  if (session.account === undefined) return;
  if (session.failed) {
    truth.failures += 1;
    return;
  }

  truth.messages += 1;
  truth.recipients += session.recipients.length;
  truth.tls[session.tls] = (truth.tls[session.tls] ?? 0) + 1;
  const account = (truth.accounts[session.account] ??= { messages: 0, recipients: 0 });
  account.messages += 1;
  account.recipients += session.recipients.length;
}

function nextSession(random: Random, n: number): Session {
  const kind = random.next();
  const user = random.int(1, ACCOUNTS);
  const domain = ['example.org', 'example.com', 'example.net'][user % 3];
  const recipients = Array.from(
    { length: random.int(1, 4) },
    (_, i) => `rcpt${random.int(1, 50_000)}.${i}@${random.pick(['example.com', 'example.net'])}`,
  );
  const submission = kind < SHARE_SUBMISSION + SHARE_FAILED;
  return {
    at: START_MS + n * SESSION_GAP_MS,
    clientIp: submission ? `192.0.2.${(user % 250) + 1}` : `198.51.100.${random.int(1, 254)}`,
    helo: submission ? `client-${user}.example.org` : `mx${random.int(1, 40)}.example.net`,
    account: submission ? `user${user}@${domain}` : undefined,
    mechanism: user % 2 === 0 ? 'PLAIN' : 'LOGIN',
    tls: submission ? pickTls(random) : 'TLSv1.3',
    sender: submission ? `user${user}@${domain}` : `news${random.int(1, 900)}@example.net`,
    recipients,
    failed: kind >= SHARE_SUBMISSION && kind < SHARE_SUBMISSION + SHARE_FAILED,
  };
}

function pickTls(random: Random): TlsVersion {
  let left = random.next();
  for (const [version, share] of TLS_MIX) {
    if (left < share) return version;
    left -= share;
  }
  return 'TLSv1.3';
}

// Line writers ----------------------------------------------------------------------------------

type SessionWriter = (session: Session, n: number) => string[];

const WRITERS: Record<FormatName, () => SessionWriter> = {
  exim: () => eximSession,
  sendmail: () => sendmailSession,
  opensmtpd: () => openSmtpdSession,
  dovecot: () => dovecotSession,
  exchange: exchangeWriter,
};

/** Return the RFC 3848 protocol name of a session: ESMTPS inbound, ESMTPA or ESMTPSA with a login. */
function smtpProtocol(s: Session): string {
  if (s.account === undefined) return 'ESMTPS';
  if (s.tls === 'none') return 'ESMTPA';
  return 'ESMTPSA';
}

const pad = (value: number, width = 2) => String(value).padStart(width, '0');
const MONTHS = 'Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec'.split(' ');

/** `2026-11-02 00:00:00`, as Exim writes its local time (the benchmark reads it as UTC). */
function eximTime(ms: number): string {
  return new Date(ms).toISOString().slice(0, 19).replace('T', ' ');
}

/** `Nov  2 00:00:00`, the classic syslog time stamp. */
function syslogTime(ms: number): string {
  const d = new Date(ms);
  const day = String(d.getUTCDate()).padStart(2, ' ');
  const time = `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}`;
  return `${MONTHS[d.getUTCMonth()]} ${day} ${time}`;
}

const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

function base62(value: number, width: number): string {
  let text = '';
  for (let i = 0; i < width; i++) {
    text = BASE62[value % 62] + text;
    value = Math.floor(value / 62);
  }
  return text;
}

const EXIM_CIPHER: Record<TlsVersion, string> = {
  'TLSv1.3': 'TLS1.3:ECDHE_X25519__RSA_PSS_RSAE_SHA256__AES_256_GCM:256',
  'TLSv1.2': 'TLS1.2:ECDHE_X25519__RSA_PSS_RSAE_SHA256__AES_256_GCM:256',
  'TLSv1.1': 'TLS1.1:ECDHE_X25519__RSA_SHA1__AES_256_CBC__SHA1:256',
  TLSv1: 'TLS1.0:ECDHE_X25519__RSA_SHA1__AES_256_CBC__SHA1:256',
  none: '',
};

function eximSession(s: Session, n: number): string[] {
  const time = eximTime(s.at);
  if (s.failed) {
    return [
      `${time} dovecot_${s.mechanism.toLowerCase()} authenticator failed for (${s.helo}) ` +
        `[${s.clientIp}]:${40000 + (n % 20000)}: 535 Incorrect authentication data (set_id=${s.account})`,
    ];
  }

  const id = `${base62(Math.floor(s.at / 1000), 6)}-${base62(n % 238328, 6)}-${base62(n % 3844, 2)}`;
  const tls = s.tls === 'none' ? '' : ` X=${EXIM_CIPHER[s.tls]} CV=no`;
  const protocol = smtpProtocol(s).toLowerCase();
  const auth =
    s.account === undefined ? '' : ` A=dovecot_${s.mechanism.toLowerCase()}:${s.account}`;
  const lines = [
    `${time} ${id} <= ${s.sender} H=(${s.helo}) [${s.clientIp}] P=${protocol}${tls}${auth} ` +
      `S=${2000 + (n % 5000)} id=${n}.${id}@${s.helo}`,
  ];
  for (const recipient of s.recipients) {
    lines.push(
      s.account === undefined
        ? `${time} ${id} => ${recipient.split('@')[0]} <${recipient}> R=local_user T=mail_spool`
        : `${time} ${id} => ${recipient} R=dnslookup T=remote_smtp H=mx.example.com [203.0.113.25] ` +
            `X=TLS1.3:ECDHE_X25519__RSA_PSS_RSAE_SHA256__AES_256_GCM:256 CV=yes C="250 2.0.0 Ok"`,
    );
  }
  lines.push(`${time} ${id} Completed`);
  return lines;
}

const SENDMAIL_CIPHER: Record<TlsVersion, string> = {
  'TLSv1.3': 'version=TLSv1.3, verify=NOT, cipher=TLS_AES_256_GCM_SHA384, bits=256/256',
  'TLSv1.2': 'version=TLSv1.2, verify=NOT, cipher=ECDHE-RSA-AES256-GCM-SHA384, bits=256/256',
  'TLSv1.1': 'version=TLSv1.1, verify=NOT, cipher=ECDHE-RSA-AES256-SHA, bits=256/256',
  TLSv1: 'version=TLSv1, verify=NOT, cipher=ECDHE-RSA-AES256-SHA, bits=256/256',
  none: '',
};

function sendmailSession(s: Session, n: number): string[] {
  const time = syslogTime(s.at);
  const pid = 1000 + (n % 60000);
  const head = `${time} mx.example.org sendmail[${pid}]:`;
  const qid = `6B${base62(Math.floor(s.at / 1000) % 3844, 2)}${base62(n % 14776336, 4)}${pad(pid, 6)}`;
  const relay = s.account === undefined ? `${s.helo} [${s.clientIp}]` : `[${s.clientIp}]`;
  const lines: string[] = [];
  if (s.tls !== 'none')
    lines.push(`${head} STARTTLS=server, relay=${relay}, ${SENDMAIL_CIPHER[s.tls]}`);

  if (s.failed) {
    lines.push(
      `${head} ${qid}: AUTH failure (${s.mechanism}): authentication failure (-13) SASL(-13): ` +
        `authentication failure: Password verification failed, user=${s.account}, relay=[${s.clientIp}]`,
    );
    return lines;
  }

  const daemon = s.account === undefined ? 'MTA' : 'MSA';
  const proto = smtpProtocol(s);
  if (s.account !== undefined) {
    lines.push(
      `${head} AUTH=server, relay=${relay}, authid=${s.account}, mech=${s.mechanism}, bits=0`,
    );
  }
  lines.push(
    `${head} ${qid}: from=<${s.sender}>, size=${2000 + (n % 5000)}, class=0, ` +
      `nrcpts=${s.recipients.length}, msgid=<${n}.${qid}@${s.helo}>, proto=${proto}, ` +
      `daemon=${daemon}, relay=${relay}`,
  );
  const deliverer = `${time} mx.example.org sendmail[${pid + 1}]:`;
  for (const recipient of s.recipients) {
    lines.push(
      `${deliverer} ${qid}: to=<${recipient}>, delay=00:00:01, xdelay=00:00:01, mailer=esmtp, ` +
        `pri=${30000 + (n % 1000)}, relay=mx.example.com. [203.0.113.25], dsn=2.0.0, stat=Sent (Ok)`,
    );
  }
  return lines;
}

const OPENSMTPD_CIPHER: Record<TlsVersion, string> = {
  'TLSv1.3': 'TLSv1.3:TLS_AES_256_GCM_SHA384:256',
  'TLSv1.2': 'TLSv1.2:ECDHE-RSA-AES256-GCM-SHA384:256',
  'TLSv1.1': 'TLSv1.1:ECDHE-RSA-AES256-SHA:256',
  TLSv1: 'TLSv1:ECDHE-RSA-AES256-SHA:256',
  none: '',
};

function openSmtpdSession(s: Session, n: number): string[] {
  const time = syslogTime(s.at);
  const head = `${time} mail smtpd[4243]:`;
  const id = (n * 2654435761 + 0x1000000000).toString(16).padStart(16, '0').slice(-16);
  const lines = [`${head} ${id} smtp connected address=${s.clientIp} host=${s.helo}`];
  if (s.tls !== 'none') lines.push(`${head} ${id} smtp tls ciphers=${OPENSMTPD_CIPHER[s.tls]}`);
  if (s.account !== undefined) {
    const result = s.failed ? 'permfail' : 'ok';
    lines.push(`${head} ${id} smtp authentication user=${s.account} result=${result}`);
  }

  if (!s.failed) {
    const msgid = id.slice(0, 8);
    lines.push(
      `${head} ${id} smtp message msgid=${msgid} size=${2000 + (n % 5000)} ` +
        `nrcpt=${s.recipients.length} proto=ESMTP`,
    );
    s.recipients.forEach((recipient, i) => {
      lines.push(
        `${head} ${id} smtp envelope evpid=${msgid}${pad(i, 8)} from=<${s.sender}> to=<${recipient}>`,
      );
    });
  }
  lines.push(`${head} ${id} smtp disconnected reason=quit`);
  return lines;
}

const DOVECOT_CIPHER: Record<TlsVersion, string> = {
  'TLSv1.3': 'TLS, TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits), ',
  'TLSv1.2': 'TLS, TLSv1.2 with cipher ECDHE-RSA-AES256-GCM-SHA384 (256/256 bits), ',
  'TLSv1.1': 'TLS, TLSv1.1 with cipher ECDHE-RSA-AES256-SHA (256/256 bits), ',
  TLSv1: 'TLS, TLSv1 with cipher ECDHE-RSA-AES256-SHA (256/256 bits), ',
  none: '',
};

/**
 * Dovecot's submission service. Sessions without a login stand for the IMAP traffic that
 * fills a real Dovecot log and that the report skips.
 */
function dovecotSession(s: Session, n: number): string[] {
  const time = syslogTime(s.at);
  const head = `${time} mx1 dovecot:`;
  const session = `${base62(n, 12)}AAAC`;
  const mpid = 20000 + (n % 40000);
  if (s.account === undefined) {
    const user = `reader${n % 500}@example.org`;
    return [
      `${head} imap-login: Login: user=<${user}>, method=PLAIN, rip=${s.clientIp}, lip=192.0.2.25, ` +
        `mpid=${mpid}, TLS, session=<${session}>`,
      `${head} imap(${user})<${mpid}><${session}>: Logged out in=${n % 900} out=${n % 7000} ` +
        `deleted=0 expunged=0 trashed=0 hdr_count=0 hdr_bytes=0 body_count=0 body_bytes=0`,
    ];
  }
  if (s.failed) {
    return [
      `${head} submission-login: Disconnected (auth failed, 1 attempts in 2 secs): ` +
        `user=<${s.account}>, method=${s.mechanism}, rip=${s.clientIp}, lip=192.0.2.25, ` +
        `${DOVECOT_CIPHER[s.tls] ? 'TLS, ' : ''}session=<${session}>`,
    ];
  }

  const process = `${head} submission(${s.account})<${mpid}><${session}>:`;
  return [
    `${head} submission-login: Login: user=<${s.account}>, method=${s.mechanism}, rip=${s.clientIp}, ` +
      `lip=192.0.2.25, mpid=${mpid}, ${DOVECOT_CIPHER[s.tls]}session=<${session}>`,
    `${process} Successfully relayed message: from=<${s.sender}>, size=${2000 + (n % 5000)}, ` +
      `id=${session}${n}, nrcpt=${s.recipients.length}, reply=\`250 2.0.0 Ok: queued as ${base62(n, 10)}'`,
    `${process} Disconnected: Logged out (state=READY) in=${n % 900} out=${n % 700}`,
  ];
}

const EXCHANGE_PROTOCOL: Record<TlsVersion, string> = {
  'TLSv1.3': 'SP_PROT_TLS1_3_SERVER',
  'TLSv1.2': 'SP_PROT_TLS1_2_SERVER',
  'TLSv1.1': 'SP_PROT_TLS1_1_SERVER',
  TLSv1: 'SP_PROT_TLS1_0_SERVER',
  none: '',
};

/** Exchange's SmtpReceive protocol log: the header once, then one row per SMTP step. */
function exchangeWriter(): SessionWriter {
  let headerWritten = false;
  return (s, n) => {
    const rows: string[] = [];
    if (!headerWritten) {
      rows.push(
        '#Software: Microsoft Exchange Server',
        '#Version: 15.2.1544.4',
        '#Log-type: SMTP Receive Protocol Log',
        `#Date: ${new Date(s.at).toISOString()}`,
        '#Fields: date-time,connector-id,session-id,sequence-number,local-endpoint,remote-endpoint,event,data,context',
      );
      headerWritten = true;
    }

    const time = new Date(s.at).toISOString();
    const connector = s.account === undefined ? 'EX01\\Default EX01' : 'EX01\\Client Frontend EX01';
    const port = s.account === undefined ? 25 : 587;
    const id = `08DD14B2${n.toString(16).toUpperCase().padStart(8, '0')}`;
    let sequence = 0;
    const row = (event: string, data: string, context = '') =>
      rows.push(
        `${time},${connector},${id},${sequence++},192.0.2.25:${port},${s.clientIp}:${40000 + (n % 20000)},` +
          `${event},${data},${context}`,
      );

    row('+', '');
    row('<', `EHLO ${s.helo}`);
    row(
      '>',
      `250  EX01.example.org Hello [${s.clientIp}] SIZE 37748736 PIPELINING STARTTLS AUTH LOGIN`,
    );
    if (s.tls !== 'none') {
      row('<', 'STARTTLS');
      row('>', '220 2.0.0 SMTP server ready');
      row(
        '*',
        '',
        `"TLS protocol ${EXCHANGE_PROTOCOL[s.tls]} negotiation succeeded using bulk encryption ` +
          'algorithm CALG_AES_256 with strength 256 bits, MAC hash algorithm CALG_SHA_384 with ' +
          'strength 0 bits and key exchange algorithm CALG_ECDH_EPHEM with strength 384 bits"',
      );
    }
    if (s.account !== undefined) {
      row('<', 'AUTH LOGIN');
      if (s.failed) {
        row('*', '', `Inbound AUTH LOGIN failed because of LogonDenied`);
        row('>', '535 5.7.3 Authentication unsuccessful');
        row('-', '', 'Remote');
        return rows;
      }
      row('*', s.account, 'authenticated');
      row('>', '235 2.7.0 Authentication successful');
    }
    row('<', `MAIL FROM:<${s.sender}>`);
    row('>', `250 2.1.0 Sender OK`);
    for (const recipient of s.recipients) {
      row('<', `RCPT TO:<${recipient}>`);
      row('>', '250 2.1.5 Recipient OK');
    }
    row('<', 'BDAT 2048 LAST');
    row('>', `250 2.6.0 <${n}@${s.helo}> [InternalId=${n}] Queued mail for delivery`);
    row('-', '', 'Local');
    return rows;
  };
}
