/**
 * Text of Postfix 3.x log lines after the syslog `TIMESTAMP HOST ` prefix, in the forms that
 * Postfix writes them.
 */
import { Random, weighted } from './random.js';
import type { TlsVersion } from './population.js';

/** Classic syslog time stamp (`Dec  4 16:22:19`, day padded with a space), cached per second. */
export class ClassicTimestamp {
  private static readonly MONTHS = [
    'Jan',
    'Feb',
    'Mar',
    'Apr',
    'May',
    'Jun',
    'Jul',
    'Aug',
    'Sep',
    'Oct',
    'Nov',
    'Dec',
  ];
  private second = -1;
  private text = '';

  format(timeMs: number): string {
    const second = Math.floor(timeMs / 1000);
    if (second === this.second) return this.text;

    const date = new Date(second * 1000);
    const day = date.getUTCDate();
    const month = ClassicTimestamp.MONTHS[date.getUTCMonth()];
    const clock = `${pad2(date.getUTCHours())}:${pad2(date.getUTCMinutes())}:${pad2(date.getUTCSeconds())}`;
    this.second = second;
    this.text = `${month} ${day < 10 ? ' ' : ''}${day} ${clock}`;
    return this.text;
  }
}

function pad2(value: number): string {
  return value < 10 ? `0${value}` : String(value);
}

/** Cipher details after `TLSvX with cipher `, as OpenSSL 1.1.1 and 3.x report them to Postfix. */
const CIPHERS: Record<TlsVersion, string[]> = {
  'TLSv1.3': [
    'TLS_AES_256_GCM_SHA384 (256/256 bits) key-exchange X25519 server-signature RSA-PSS (2048 bits) server-digest SHA256',
    'TLS_AES_128_GCM_SHA256 (128/128 bits) key-exchange X25519 server-signature RSA-PSS (2048 bits) server-digest SHA256',
    'TLS_CHACHA20_POLY1305_SHA256 (256/256 bits) key-exchange X25519 server-signature RSA-PSS (2048 bits) server-digest SHA256',
    'TLS_AES_256_GCM_SHA384 (256/256 bits) key-exchange X25519 server-signature ECDSA (prime256v1) server-digest SHA256',
  ],
  'TLSv1.2': [
    'ECDHE-RSA-AES256-GCM-SHA384 (256/256 bits)',
    'ECDHE-RSA-AES128-GCM-SHA256 (128/128 bits)',
    'ECDHE-RSA-CHACHA20-POLY1305 (256/256 bits)',
    'ECDHE-RSA-AES256-GCM-SHA384 (256/256 bits) key-exchange X25519 server-signature RSA-PSS (2048 bits) server-digest SHA256',
    'DHE-RSA-AES256-GCM-SHA384 (256/256 bits)',
  ],
  'TLSv1.1': ['ECDHE-RSA-AES256-SHA (256/256 bits)', 'DHE-RSA-AES128-SHA (128/128 bits)'],
  TLSv1: [
    'ECDHE-RSA-AES256-SHA (256/256 bits)',
    'DHE-RSA-AES256-SHA (256/256 bits)',
    'AES256-SHA (256/256 bits)',
  ],
};

/** Trust words of the smtp client's TLS line; `Anonymous` is rare outbound. */
const OUTBOUND_TRUST = weighted([
  ['Trusted', 45],
  ['Verified', 25],
  ['Untrusted', 22],
  ['Anonymous', 8],
] as const);

/**
 * Returns the smtpd TLS line: `Anonymous` when no client certificate was requested, `Untrusted`
 * when the client sent one that could not be verified.
 */
export function tlsFromLine(random: Random, client: string, version: TlsVersion): string {
  const trust = random.chance(0.04) ? 'Untrusted' : 'Anonymous';
  return `${trust} TLS connection established from ${client}: ${version} with cipher ${random.pick(CIPHERS[version])}`;
}

export function tlsToLine(random: Random, server: string, version: TlsVersion): string {
  const trust = OUTBOUND_TRUST.pick(random);
  return `${trust} TLS connection established to ${server}: ${version} with cipher ${random.pick(CIPHERS[version])}`;
}

/** Returns `delay=..., delays=a/b/c/d` rounded in Postfix's style, from a total in seconds. */
export function delayFields(random: Random, totalSeconds: number): string {
  const a = totalSeconds * random.next() * 0.5;
  const b = Math.min(totalSeconds - a, random.next() * 0.02);
  const c = (totalSeconds - a - b) * random.next() * 0.6;
  const d = Math.max(0, totalSeconds - a - b - c);
  return `delay=${formatDelay(totalSeconds)}, delays=${formatDelay(a)}/${formatDelay(b)}/${formatDelay(c)}/${formatDelay(d)}`;
}

function formatDelay(seconds: number): string {
  if (seconds >= 100) return String(Math.round(seconds));
  if (seconds >= 10) return seconds.toFixed(1);
  if (seconds >= 0.01) return String(Number(seconds.toFixed(2)));
  return seconds === 0 ? '0' : String(Number(seconds.toPrecision(1)));
}

/** smtpd `disconnect from` counters (Postfix 3.0 and later); a/b means a of b succeeded. */
export interface CommandCounts {
  ehlo?: number;
  helo?: number;
  starttls?: number;
  auth?: [number, number];
  mail?: [number, number];
  rcpt?: [number, number];
  data?: [number, number];
  rset?: number;
  quit?: number;
}

export function disconnectCounters(counts: CommandCounts): string {
  const parts: string[] = [];
  let ok = 0;
  let total = 0;
  const add = (name: string, value: number | [number, number] | undefined): void => {
    if (value === undefined) return;
    const [good, all] = typeof value === 'number' ? [value, value] : value;
    if (all === 0) return;
    parts.push(good === all ? `${name}=${all}` : `${name}=${good}/${all}`);
    ok += good;
    total += all;
  };

  add('ehlo', counts.ehlo);
  add('helo', counts.helo);
  add('starttls', counts.starttls);
  add('auth', counts.auth);
  add('mail', counts.mail);
  add('rcpt', counts.rcpt);
  add('data', counts.data);
  add('rset', counts.rset);
  add('quit', counts.quit);
  parts.push(ok === total ? `commands=${total}` : `commands=${ok}/${total}`);
  return parts.join(' ');
}

const BOT_HELOS = ['ylmf-pc', 'User', 'WIN-3KD8F7', 'localhost', 'EHLO', 'mail.example.com'];

export function botHelo(random: Random): string {
  return random.pick(BOT_HELOS);
}
