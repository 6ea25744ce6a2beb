import { BlockList, isIP } from 'node:net';

import { invalidOption } from '../errors.js';

export const DEFAULT_LISTEN = '127.0.0.1:8025';

export interface ListenAddress {
  host: string;
  port: number;
}

const LOOPBACK = new BlockList();
LOOPBACK.addSubnet('127.0.0.0', 8, 'ipv4');
LOOPBACK.addAddress('::1', 'ipv6');

/** Parse `HOST:PORT`, with an IPv6 host in brackets (`[::1]:8025`); port 0 picks a free port. */
export function parseListen(value: string, option = '--listen'): ListenAddress {
  const match = /^\[([^\]]+)\]:(\d{1,5})$/.exec(value) ?? /^([^:[\]]+):(\d{1,5})$/.exec(value);
  const port = match ? Number(match[2]) : NaN;
  if (!match || port > 65535) {
    throw invalidOption(
      option,
      value,
      'expected HOST:PORT such as 127.0.0.1:8025 or [::1]:8025, with a port from 0 to 65535',
    );
  }
  return { host: match[1], port };
}

/** Check whether a host is loopback: 127.0.0.0/8, ::1 or the name localhost. Other names are not resolved. */
export function isLoopbackHost(host: string): boolean {
  if (host.toLowerCase() === 'localhost') return true;
  const family = isIP(host);
  if (family === 4) return LOOPBACK.check(host, 'ipv4');
  if (family === 6) return LOOPBACK.check(host, 'ipv6');
  return false;
}

/**
 * Reject listening beyond this machine without a token, because the report names every
 * account and client IP of the mail server.
 */
export function checkListenAllowed(
  listen: ListenAddress,
  token: string | undefined,
  option = '--listen',
): void {
  if (token !== undefined || isLoopbackHost(listen.host)) return;
  throw invalidOption(
    option,
    formatListen(listen),
    'it is not a loopback address and no access token is configured; set SMTP_AUTH_REPORT_TOKEN ' +
      '(or pass --token) to a random secret of at least 16 characters, or listen on 127.0.0.1',
  );
}

export function formatListen(listen: ListenAddress): string {
  return isIP(listen.host) === 6
    ? `[${listen.host}]:${listen.port}`
    : `${listen.host}:${listen.port}`;
}

/** Format the URL a browser opens for a listening address. */
export function serverUrl(listen: ListenAddress): string {
  return `http://${formatListen(listen)}/`;
}
